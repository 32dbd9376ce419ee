"""Hardware configs: defaults, YAML round trip, and errors that name the field and the range."""

import pytest
from helpers import REPO

from mixsig import ConfigError, HardwareConfig, load_hardware
from mixsig.config import save_yaml, validate

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_default_is_the_documented_chain():
    hw = HardwareConfig()
    assert hw.dac.bits == 4 and hw.weights.bits == 4 and hw.adc.bits == 4
    assert hw.noise.sigma_lsb == 0.5
    assert hw.distortion == []


def test_default_yaml_equals_default_config():
    assert load_hardware(REPO / "configs" / "default.yaml") == (HardwareConfig())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_load_and_round_trip(path, tmp_path):
    hw = load_hardware(path)
    out = tmp_path / "hw.yaml"
    save_yaml(hw, out)
    assert load_hardware(out) == hw
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary behind


def test_there_are_three_example_configs():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"adc": {"bits": 17}}, "adc.bits", "less than or equal to 16"),
        ({"adc": {"bits": 0}}, "adc.bits", "greater than or equal to 1"),
        ({"dac": {"bits": 20}}, "dac.bits", "less than or equal to 16"),
        ({"noise": {"sigma_lsb": -0.1}}, "noise.sigma_lsb", "greater than or equal to 0"),
        ({"adc": {"range": "fixed", "lo": 1.0, "hi": 0.5}}, "adc", "lo must be < hi"),
        ({"adc": {"range": "fixed", "lo": 0.0}}, "adc", "needs both lo and hi"),
        ({"adc": {"bitz": 4}}, "adc.bitz", "unknown key"),
        ({"weights": {"realisation": "negative"}}, "weights.realisation", "'signed'"),
        ({"noise": {"sigma_lsb": float("nan")}}, "noise.sigma_lsb", ""),
        (
            {"distortion": [{"kind": "gamma", "gamma": -1}]},
            "distortion[0].gamma",
            "greater than or equal to 0.01",
        ),
        (
            {"distortion": [{"kind": "lut", "inputs": [0, 1, 0.5], "values": [0, 1, 2]}]},
            "distortion[0]",
            "strictly increasing",
        ),
        ({"distortion": [{"kind": "warp"}]}, "distortion[0]", "kind"),
        ({"distortion": [{"kind": "crosstalk", "strength": 1.5}]}, "distortion[0].strength", "1"),
    ],
)
def test_invalid_values_name_the_field_and_range(data, field, words):
    with pytest.raises(ConfigError) as err:
        validate(HardwareConfig, data)
    msg = str(err.value)
    assert f"  {field}" in msg, msg
    assert words in msg, msg


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("adc:\n  bits: 40\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml[\s\S]*adc\.bits"):
        load_hardware(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("adc: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_hardware(broken)
    with pytest.raises(ConfigError, match="not found"):
        load_hardware(tmp_path / "missing.yaml")


def test_yaml_never_builds_python_objects(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("adc: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_hardware(evil)


def test_assignment_is_validated_too():
    hw = HardwareConfig()
    with pytest.raises(ValueError, match="sigma_lsb"):
        hw.noise.sigma_lsb = -1.0


# -- no silent wrong answers: values that were accepted (or crashed) before ------------------


@pytest.mark.parametrize(
    "data, field",
    [
        ({"adc": {"bits": True}}, "adc.bits"),  # was a 1-bit ADC
        ({"weights": {"bits": False}}, "weights.bits"),
        ({"adc": {"bits": 4.0}}, "adc.bits"),
        ({"adc": {"bits": "4"}}, "adc.bits"),
        ({"noise": {"seed": 1e23}}, "noise.seed"),  # was 99999999999999991611392
        ({"noise": {"seed": "1e23"}}, "noise.seed"),  # YAML reads `seed: 1e23` as a string
        ({"noise": {"seed": 2**62}}, "noise.seed"),  # seed·4 + k overflows torch's seeds
        ({"noise": {"seed": -1}}, "noise.seed"),
        ({"distortion": [{"kind": "gamma", "seed": 1.5}]}, "distortion[0].seed"),
        ({"adc": {"gain": {"init": 1e39}}}, "adc.gain.init"),  # was inf in float32
        ({"adc": {"gain": {"init": 1e-300}}}, "adc.gain.init"),
        ({"noise": {"shot_electrons_per_unit": 1e39}}, "noise.shot_electrons_per_unit"),
        ({"noise": {"shot_electrons_per_unit": 1e-300}}, "noise.shot_electrons_per_unit"),
        ({"noise": {"floor_std": 1e300}}, "noise.floor_std"),
        ({"noise": {"sigma_lsb": True}}, "noise.sigma_lsb"),
        ({"adc": {"range": "fixed", "lo": 0.0, "hi": 1e39}}, "adc.hi"),
        ({"dac": {"range": "fixed", "lo": -1e7, "hi": 0.0}}, "dac.lo"),
        (
            {"distortion": [{"kind": "polynomial", "coeffs": [0, 1, 1e300]}]},
            "distortion[0].coeffs[2]",
        ),
        (
            {"distortion": [{"kind": "polynomial", "coeffs": [0, float("nan")]}]},
            "distortion[0].coeffs[1]",
        ),
        ({"distortion": [{"kind": "soft_saturation", "a": 1e300}]}, "distortion[0].a"),
        ({"distortion": [{"kind": "gamma", "gamma": 1e-300}]}, "distortion[0].gamma"),
        (
            {"distortion": [{"kind": "lut", "inputs": [0, 1e300], "values": [0, 1]}]},
            "distortion[0].inputs[1]",
        ),
        (
            {"distortion": [{"kind": "misregistration", "shift_px": [0, 1e200]}]},
            "distortion[0].shift_px[1]",
        ),
    ],
)
def test_out_of_range_and_wrongly_typed_numbers_are_refused(data, field):
    with pytest.raises(ConfigError) as err:
        validate(HardwareConfig, data)
    assert f"  {field}:" in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "adc, words",
    [
        ({"range": "fixed", "lo": 0.0, "hi": 1e-300}, "span at least"),  # step underflows
        ({"range": "fixed", "lo": 0.0, "hi": 5e-7}, "span at least"),
    ],
)
def test_a_fixed_range_too_narrow_for_float32_is_refused(adc, words):
    with pytest.raises(ConfigError, match=words):
        validate(HardwareConfig, {"adc": adc})


def test_lut_knots_too_close_for_a_finite_slope_are_refused():
    lut = {"kind": "lut", "inputs": [0.0, 1e-300, 1.0], "values": [0.0, 0.5, 1.0]}
    with pytest.raises(ConfigError, match=r"distortion\[0\][\s\S]*at least 1e-06 apart"):
        validate(HardwareConfig, {"distortion": [lut]})


def test_a_local_data_set_needs_its_root():
    from mixsig.train import TrainConfig

    for name in ("mnist", "fashion-mnist", "cifar10"):
        with pytest.raises(ConfigError, match=r"  data\.root: .*local folder"):
            validate(TrainConfig, {"data": {"name": name}})
    ok = validate(TrainConfig, {"data": {"name": "mnist", "root": "/data"}})
    assert ok.data.root == "/data"
    assert validate(TrainConfig, {"data": {"name": "bundled-mnist"}}).data.root is None


@pytest.mark.parametrize(
    "data, field",
    [
        ({"seed": 1e23}, "seed"),
        ({"seed": 2**32}, "seed"),  # numpy / scikit-learn take seeds < 2^32
        ({"pretrain": {"epochs": True, "lr": 1e-3}}, "pretrain.epochs"),
        ({"batch_size": 64.0}, "batch_size"),
        ({"eval": {"draws": True}}, "eval.draws"),
        ({"eval": {"sigma_test_lsb": [0.5, 1e300]}}, "eval.sigma_test_lsb[1]"),
        ({"method": {"sigma_train_lsb": 100.0}}, "method.sigma_train_lsb"),
        ({"model": {"optical": {"regularizer_weight": 1e300}}}, "model.optical.regularizer_weight"),
        ({"data": {"limit_train": True}}, "data.limit_train"),
    ],
)
def test_run_config_numbers_are_bounded_and_strict(data, field):
    from mixsig.train import TrainConfig

    with pytest.raises(ConfigError) as err:
        validate(TrainConfig, data)
    assert f"  {field}:" in str(err.value), str(err.value)


# -- the build-time finiteness check ---------------------------------------------------------


def _blowing_up() -> HardwareConfig:
    """Three large polynomials in a row: each in range, together beyond float32."""
    poly = {"kind": "polynomial", "coeffs": [1000.0] * 16}
    return validate(HardwareConfig, {"distortion": [poly, poly, poly]})


def test_a_chain_that_is_not_finite_is_refused_at_build_naming_the_stage():
    from mixsig.signal.build import build_chain

    with pytest.raises(ConfigError, match=r"finite values:\n  distortion\[1\] \(polynomial\)"):
        build_chain(_blowing_up())


def test_the_check_leaves_the_random_state_alone_and_passes_the_examples():
    import torch

    from mixsig.signal.build import build_chain, check_finite_chain

    state = torch.get_rng_state()
    for path in CONFIGS:
        hw = load_hardware(path)
        check_finite_chain(hw)
        check_finite_chain(hw, signed=False)
        build_chain(hw)
    assert torch.equal(torch.get_rng_state(), state)  # results drawn after a build unchanged


def test_shot_noise_too_weak_for_a_steep_curve_is_refused_naming_it():
    """1e-3 electrons per unit: at a calibrated full scale of 1e-3 the training shot noise is
    ~1e3 full scales, which u^15 raises beyond float32 (at a full scale of 1 it stays finite)."""
    from mixsig.signal.build import check_finite_chain

    hw = validate(
        HardwareConfig,
        {
            "distortion": [{"kind": "polynomial", "coeffs": [0.0, 1.0] + [0.0] * 13 + [1.0]}],
            "noise": {"shot_electrons_per_unit": 1e-3, "seed": 1},
        },
    )
    with pytest.raises(ConfigError, match=r"  distortion\[0\] \(polynomial\).*to 0\.001\)"):
        check_finite_chain(hw)


def test_the_build_check_probes_randomised_distortions_at_their_extremes_and_large_scales():
    """The slow fuzz's example: each parameter in range, but in training the gamma randomised
    to 1.75 × 9 after a 270× polynomial overflows float32 at a 1000-unit full scale."""
    from mixsig.signal.build import build_chain

    data = {
        "distortion": [
            {"kind": "polynomial", "coeffs": [270.0]},
            {"kind": "gamma", "randomize": 0.75, "seed": 54, "gamma": 9.0},
        ]
    }
    with pytest.raises(ConfigError, match=r"distortion\[1\] \(gamma\).*randomised at 1.75×"):
        build_chain(validate(HardwareConfig, data))
    data["distortion"][1]["randomize"] = 0.0  # at its nominal gamma the chain stays finite
    build_chain(validate(HardwareConfig, data))
