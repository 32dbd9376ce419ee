"""Hardware configs: defaults, YAML round trip, and errors that name the field and the range."""

from pathlib import Path

import pytest

from mixsig import ConfigError, HardwareConfig, load_hardware
from mixsig.config import save_yaml, validate

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def test_default_is_the_documented_chain():
    hw = HardwareConfig()
    assert hw.dac.bits == 4 and hw.weights.bits == 4 and hw.adc.bits == 4
    assert hw.noise.sigma_lsb == 0.5
    assert hw.distortion == []


def test_default_yaml_equals_default_config():
    assert load_hardware(Path(__file__).parent.parent / "configs" / "default.yaml") == (
        HardwareConfig()
    )


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
            "greater than 0",
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
