"""Physics-aware training: the forward pass is the device's, the gradient the model's, and the
device runs the model's current weights."""

import pytest
import torch
from torch import nn

import mixsig
from mixsig.signal import set_sigma_lsb
from mixsig.train.physics_aware import PhysicsAware, device_twin, physics_aware

DEVICE = mixsig.HardwareConfig.model_validate(
    {
        "noise": {"sigma_lsb": 0.0},
        "weights": {"mismatch_rel_std": 0.2},
        "distortion": [{"kind": "gamma", "gamma": 0.6}],
    }
)


def _model():
    torch.manual_seed(0)
    m = mixsig.convert(
        nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)),
        mixsig.HardwareConfig.model_validate({"noise": {"sigma_lsb": 0.0}}),
    )
    x = torch.rand(32, 6)
    mixsig.calibrate(m, [x])
    return m, x


def test_device_twin_shares_weights_and_ranges_but_not_the_chain():
    m, x = _model()
    dev = device_twin(m, DEVICE)
    assert dev[0].weight is m[0].weight and dev[0].bias is m[0].bias
    assert dev[1] is m[1]  # digital layers are the same modules
    assert dev[0].chain is not m[0].chain and dev[0].mismatch is not None
    assert float(dev[0].chain.adc.step) == float(m[0].chain.adc.step)
    assert not torch.allclose(dev(x), m(x))  # the device differs...
    with torch.no_grad():
        m[0].weight.mul_(0.5)  # ...and follows the model's weights as they change
    assert torch.equal(dev[0].weight, m[0].weight)
    assert isinstance(m[0], mixsig.MixedLinear)  # the model itself is untouched


def test_forward_is_the_device_and_gradient_is_the_model():
    m, x = _model()
    dev = device_twin(m, DEVICE)
    pat = physics_aware(m, dev)
    assert isinstance(pat[0], PhysicsAware) and isinstance(m[0], mixsig.MixedLinear)
    torch.testing.assert_close(pat(x), dev(x))
    w = torch.randn(3)
    (pat(x) @ w).sum().backward()
    assert float(m[0].weight.grad.abs().sum()) > 0


def test_last_layer_gradient_uses_the_device_activations():
    # with an ideal (linear, 16-bit) model chain the last layer's weight gradient of
    # L = Σ (y·w) is w ⊗ Σ_batch h, and physics-aware training must use the *device's*
    # hidden activations h, not the model's
    ideal = mixsig.HardwareConfig.model_validate(
        {
            "dac": None,
            "weights": {"bits": None},
            "noise": {"sigma_lsb": 0.0},
            "adc": {"bits": 16, "signed": True, "range": "fixed", "lo": -40.0, "hi": 40.0},
        }
    )
    torch.manual_seed(1)
    m = mixsig.convert(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), ideal)
    x = torch.rand(16, 6)
    dev = device_twin(m, DEVICE.model_copy(update={"adc": ideal.adc, "dac": None}))
    pat = physics_aware(m, dev)
    w = torch.randn(3)
    (pat(x) @ w).sum().backward()
    with torch.no_grad():
        h_dev = dev[1](dev[0](x)).sum(0)
        h_model = m[1](m[0](x)).sum(0)
    torch.testing.assert_close(m[2].weight.grad, torch.outer(w, h_dev), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(torch.outer(w, h_dev), torch.outer(w, h_model), atol=1e-3)


def test_noise_switch_reaches_the_device_too():
    m, _ = _model()
    dev = device_twin(m, DEVICE)
    set_sigma_lsb(dev, 0.7)
    assert dev[0].chain.noise.sigma_lsb == 0.7 and m[0].chain.noise.sigma_lsb == 0.0


def test_mismatch_experiment_calibrations_differ_only_where_documented():
    from mixsig.config import HardwareConfig
    from mixsig.experiments import mismatch as mm

    dev, cal = (HardwareConfig.model_validate(c) for c in mm._configs("exact", 1.0))
    assert [d.kind for d in dev.distortion] == [d.kind for d in cal.distortion]
    assert dev.distortion[0].gamma == cal.distortion[0].gamma == 0.7  # exact curve
    assert dev.distortion[1].seed != cal.distortion[1].seed  # only the pattern draw differs
    dev_r, cal_r = (HardwareConfig.model_validate(c) for c in mm._configs("realistic", 1.0))
    assert [d.kind for d in dev_r.distortion] == ["crosstalk", "gamma", "gain_offset"]
    assert dev_r.distortion[0].strength == 0.1 and dev_r.distortion[1].gamma == 0.7
    assert [d.kind for d in cal_r.distortion] == ["gamma", "gain_offset"]  # crosstalk missed
    assert cal_r.distortion[0].gamma == 0.75  # a 7 % fit error
    dev_m, cal_m = (HardwareConfig.model_validate(c) for c in mm._configs("measured", 1.0))
    assert dev_m == dev_r and cal_m.distortion[0].gamma == 0.75
    assert cal_m.distortion[1].seed == dev_m.distortion[2].seed  # the device's own PRNU map
    # severity scales the errors known only statistically, and the missed crosstalk
    dev_3, cal_3 = (HardwareConfig.model_validate(c) for c in mm._configs("realistic", 3.0))
    assert dev_3.distortion[0].strength == pytest.approx(0.3)
    assert dev_3.distortion[2].gain_std == cal_3.distortion[1].gain_std == pytest.approx(0.15)
    assert dev_3.weights.mismatch_rel_std == cal_3.weights.mismatch_rel_std == pytest.approx(0.3)
    with pytest.raises(ValueError, match="severity must be in"):
        mm.run_severity([1.0, 9.0], seeds=(0,))
    with pytest.raises(ValueError, match="calibration must be one of"):
        mm.run_mismatch_experiment(calibration="perfect")


def test_severity_sweep_aggregates_seeds_and_writes_figure_and_json(monkeypatch, tmp_path):
    import json

    from mixsig.experiments import mismatch as mm

    def fake(*, seed, draws, calibration, severity, echo):
        return {k: 0.9 - 0.01 * i * severity + 0.01 * seed for i, k in enumerate(mm.RESULT_KEYS)}

    monkeypatch.setattr(mm, "run_mismatch_experiment", fake)
    out = tmp_path / "sev.png"
    res = mm.run_severity([1.0, 2.0], seeds=(0, 2), out=out, echo=lambda s: None)
    pat = res["physics_aware_on_device"]
    assert [pytest.approx(r) for r in ([0.87, 0.89], [0.84, 0.86])] == pat["runs"]
    assert pat["mean"] == pytest.approx([0.88, 0.85])
    assert pat["std"] == pytest.approx([0.02 / 2**0.5] * 2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(out.with_suffix(".json").read_text())["severity"] == [1.0, 2.0]


def test_robustness_aggregates_seeds_and_writes_the_figure(monkeypatch, tmp_path):
    from mixsig.experiments import robustness as rb

    fake = {
        0: {"fixed": [0.9, 0.8], "rand": [0.7, 0.6]},
        1: {"fixed": [0.8, 0.6], "rand": [0.7, 0.8]},
    }
    monkeypatch.setattr(rb, "_one_seed", lambda errors, randomize, seed, draws: fake[seed])
    out = tmp_path / "fig.png"
    table = rb.run_robustness(errors=(-0.1, 0.1), seeds=(0, 1), out=out, echo=lambda s: None)
    means, stds = table["fixed"]
    assert means == pytest.approx([0.85, 0.7]) and stds == pytest.approx([0.0707107, 0.1414214])
    assert table["rand"][0] == pytest.approx([0.7, 0.7])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_device_twin_of_a_tiled_layer_shares_every_tiles_range():
    import torch
    from torch import nn

    import mixsig
    from mixsig.config.hardware import HardwareConfig
    from mixsig.signal.chain import chains
    from mixsig.train.physics_aware import device_twin

    torch.manual_seed(0)
    hw = HardwareConfig.model_validate({"array": {"rows": 8}, "noise": {"sigma_lsb": 0.0}})
    model = mixsig.convert(nn.Sequential(nn.Linear(20, 4)), hw)
    mixsig.calibrate(model, [torch.rand(64, 20)])
    measured = hw.model_copy(
        update={
            "distortion": HardwareConfig.model_validate(
                {"distortion": [{"kind": "gamma", "gamma": 0.9}]}
            ).distortion
        }
    )
    twin = device_twin(model, measured)
    ours, theirs = chains(model), chains(twin)
    assert len(ours) == len(theirs) == 3  # 20 inputs on 8 rows
    for a, b in zip(ours, theirs):
        assert torch.equal(a.adc.step, b.adc.step) and torch.equal(a.adc.lo, b.adc.lo)


def _optical_model():
    """A small optical CNN front (point-sampled DOE, noise-free camera), calibrated."""
    from mixsig.nn import OpticalConv2d

    torch.manual_seed(0)
    hw = {"noise": {"sigma_lsb": 0.0}, "adc": {"bits": 8, "signed": False}}
    layer = OpticalConv2d(
        2, 3, image_size=8, parameterisation="doe", doe_init="random_phase", hardware=hw,
        pixel_envelope=False,
    )  # fmt: skip
    model = nn.Sequential(layer, nn.Flatten(), nn.Linear(2 * 8 * 8, 3))
    x = torch.rand(16, 1, 8, 8)
    mixsig.calibrate(model, [x])
    return model, x


def test_optical_device_twin_computes_its_psf_model_on_the_models_doe():
    from mixsig.nn import OpticalConv2d
    from mixsig.optics.psf_model import PSFModel
    from mixsig.train.physics_aware import optical_device_twin

    model, x = _optical_model()
    pixelated = PSFModel(pixel_envelope=True)
    dev = optical_device_twin(model, pixelated)
    layer, twin = model[0], dev[0]
    assert twin.phase_rad is layer.phase_rad and twin.bias is layer.bias
    assert dev[2] is model[2] and twin.chain is not layer.chain
    assert twin.psf_model == pixelated and not layer.psf_model.pixel_envelope
    fresh = OpticalConv2d(
        2, 3, image_size=8, parameterisation="doe", doe_init=layer.phase_rad.detach(),
        sampling=layer.sampling,
    )  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(twin.psf(), fresh.psf(), rtol=0, atol=1e-7)
        assert not torch.allclose(twin.psf(), layer.psf(), atol=1e-4)
        layer.phase_rad.add_(0.3)  # the device follows the model's DOE as it changes
        fresh.phase_rad.add_(0.3)
        torch.testing.assert_close(twin.psf(), fresh.psf(), rtol=0, atol=1e-7)


def test_physics_aware_optical_forward_is_the_device_and_gradient_the_models():
    from mixsig.optics.psf_model import PSFModel
    from mixsig.train.physics_aware import optical_device_twin

    model, x = _optical_model()
    dev = optical_device_twin(model, PSFModel(pixel_envelope=True))
    pat = physics_aware(model, dev)
    assert isinstance(pat[0], PhysicsAware) and pat[0].layer is model[0]
    model.eval()
    pat.eval()
    torch.testing.assert_close(pat(x), dev(x))
    assert not torch.allclose(pat(x), model(x))
    # L = Σ r·y is linear in the optical output y, so its gradient through the substituted
    # device output is exactly the model's own: d/dφ Σ r·y_model
    r = torch.randn(16, 2, 8, 8)
    (pat[0](x) * r).sum().backward()
    g_pat = model[0].phase_rad.grad.clone()
    model[0].phase_rad.grad = None
    (model[0](x) * r).sum().backward()
    torch.testing.assert_close(g_pat, model[0].phase_rad.grad)
    assert float(g_pat.abs().sum()) > 0
