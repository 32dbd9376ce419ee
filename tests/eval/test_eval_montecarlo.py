"""Monte-Carlo evaluation: the fast paths give what the plain forward gives.

The optical CNN's fast path (the optics once per image, the camera once per draw) keeps the
plain batched order of draws, so its predictions equal the full forward's bitwise, draw by
draw; the digital shared-prefix path draws the same statistics in another order.
"""

import pytest
import torch

import mixsig
from mixsig.eval import evaluate
from mixsig.eval import montecarlo as mc
from mixsig.models import optical_cnn
from mixsig.signal import noise_stream, set_sigma_lsb

CAMERA = {
    "dac": {"bits": 4, "range": "fixed", "lo": 0.0, "hi": 1.0},
    "weights": {"bits": None},
    "noise": {"sigma_lsb": 0.5},
    "adc": {"bits": 4, "signed": False},
}


@pytest.fixture(scope="module")
def optical():
    torch.manual_seed(0)
    model = optical_cnn(28, out_channels=4, kernel_size=5, parameterisation="doe", hardware=CAMERA)
    x = torch.rand(150, 1, 28, 28)
    mixsig.calibrate(model, [x[:100]])
    model.train()
    with torch.no_grad():
        model(x[:100])  # batch-norm statistics
        model[-1].weight.normal_(0, 10)  # predictions that vary from draw to draw
    model.eval()
    set_sigma_lsb(model, 0.5)
    return model, x


def test_the_optical_layer_computes_its_optics_once_per_image(optical, monkeypatch):
    model, x = optical
    split = mc._split_at_first_readout(model)
    assert split is not None and split[1] is model[0]
    counted = []
    original = model[0].optical_forward

    def counting(t):
        counted.append(len(t))
        return original(t)

    monkeypatch.setattr(model[0], "optical_forward", counting)
    evaluate(model, x, torch.arange(len(x)) % 10, draws=6, seed=0, batch_size=64)
    assert sum(counted) == len(x) + 1  # once per image (and one probe), not once per draw


def test_the_optical_fast_path_equals_the_full_forward_draw_by_draw(optical):
    model, x = optical
    with torch.no_grad():
        with noise_stream(model, 3):
            full = mc._predict_batched(model, x, 5, 64)
        with noise_stream(model, 3):
            fast = mc._predict_cached_prefix(*mc._split_at_first_readout(model), x, 5, 64)
    assert torch.equal(full, fast)
    assert (full[0] != full[1]).any()  # the draws differ: the comparison can fail


def test_without_room_for_the_cache_it_falls_back_to_the_same_answer(optical, monkeypatch):
    model, x = optical
    y = torch.randint(0, 10, (len(x),))
    a = evaluate(model, x, y, sigma_lsb=0.5, draws=3, seed=1, batch_size=64)
    monkeypatch.setattr(mc, "CACHE_BYTES", 1)
    b = evaluate(model, x, y, sigma_lsb=0.5, draws=3, seed=1, batch_size=64)
    assert a.accuracies == b.accuracies and a.confusion == b.confusion
