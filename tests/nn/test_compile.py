"""``torch.compile`` runs the mixed-signal layers as one graph: no graph break in training or
evaluation (differential weights, distortions, shot and read noise), and a training noise that
changes every step does not recompile every step."""

import pytest
import torch
import torch._dynamo as dynamo
from torch._dynamo.utils import counters

import mixsig
from mixsig.config.hardware import HardwareConfig
from mixsig.models import build_model
from mixsig.signal import set_sigma_lsb

HW = {
    "weights": {"realisation": "differential"},
    "distortion": [
        {"kind": "gamma", "gamma": 0.8, "randomize": 0.1},
        {"kind": "gain_offset", "gain_std": 0.05, "seed": 3},
        {"kind": "crosstalk", "strength": 0.1},
    ],
    "noise": {"sigma_lsb": 0.5, "shot_electrons_per_unit": 1000.0},
}


def _model(hw: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    model = mixsig.convert(
        build_model("small_cnn", (1, 28, 28), 10, batchnorm=True), HardwareConfig.model_validate(hw)
    )
    x = torch.rand(8, 1, 28, 28)
    mixsig.calibrate(model, [x])
    model.train()
    model(x)  # fixed patterns are drawn on first use, in eager mode
    return model


@pytest.mark.parametrize("hw", [{}, HW], ids=["default", "differential-distorted-shot"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_no_graph_break(hw, mode):
    model = getattr(_model(hw), mode)()
    dynamo.reset()
    explanation = dynamo.explain(model)(torch.rand(8, 1, 28, 28))
    reasons = [r.reason.splitlines()[0] for r in explanation.break_reasons]
    assert explanation.graph_break_count == 0, reasons
    assert explanation.graph_count == 1


def test_a_noise_ramp_does_not_recompile_every_step():
    model = _model({})
    dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, backend="aot_eager")
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for step in range(6):
        set_sigma_lsb(model, 0.1 * (step + 1))  # the ramp of method P: a new σ every step
        loss = torch.nn.functional.cross_entropy(compiled(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert counters["stats"]["unique_graphs"] <= 2, dict(counters["stats"])
    assert torch.isfinite(loss)
