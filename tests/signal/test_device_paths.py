"""The chain's device-independent paths, checked on the CPU: the quantizer with lo and Δ as
tensors (what CUDA, MPS and torch.compile run) against the float fast path, the Python copy of
``calibrated``, the weight quantizer's tensor-scale path, and the random-state keys of
generators of other device types."""

import pytest
import torch

from mixsig.signal import ADC, GaussianNoise, WeightQuantizer, collect_rng_state
from mixsig.signal.fake_quant import fake_quant, fake_quant_tensor
from mixsig.signal.rng import restore_rng_state


def _compiling(monkeypatch):
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)


@pytest.mark.parametrize("lo,step,levels", [(0.0, 0.1, 16), (-0.8, 0.1, 16), (0.013, 0.037, 8)])
def test_tensor_quantizer_gives_the_float_paths_levels_and_gradient(lo, step, levels):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(20_000, generator=g) * 2.4 - 1.0).requires_grad_()
    noise = torch.randn(20_000, generator=g)
    a = fake_quant(x, lo, step, levels, noise, 0.5)
    b = fake_quant_tensor(
        x, torch.tensor(lo, dtype=torch.float64), torch.tensor(step), levels, noise, 0.5
    )
    codes = (b.detach().double() - lo) / step
    assert torch.allclose(codes, codes.round(), atol=1e-4)  # on the level grid
    assert codes.min() >= -1e-4 and codes.max() <= levels - 1 + 1e-4
    codes_a = ((a.detach().double() - lo) / step).round()
    # the same level up to float32 round-off of lo + k·Δ; the arithmetic order differs
    # ((x − lo)/Δ vs x·(1/Δ)), so only values within round-off of a decision level may round
    # to the neighbouring level
    differ = (codes_a != codes.round()).float().mean()
    assert differ < 1e-3, differ
    (ga,) = torch.autograd.grad(a.sum(), x)
    (gb,) = torch.autograd.grad(b.sum(), x)
    assert (ga != gb).float().mean() < 1e-3
    assert set(gb.unique().tolist()) <= {0.0, 1.0}


def test_adc_takes_the_tensor_path_when_compiling_and_agrees(monkeypatch):
    adc = ADC(bits=4, lo=0.0, hi=1.5)
    x = torch.rand(4096, generator=torch.Generator().manual_seed(2)) * 1.8
    eager = adc(x)
    _compiling(monkeypatch)
    assert (adc(x) != eager).float().mean() < 1e-3
    assert isinstance(adc.lsb_like(x), torch.Tensor)


def test_calibrated_flag_is_read_without_the_buffer_and_follows_load_state_dict():
    adc = ADC(bits=4, range="calibrated")
    with pytest.raises(RuntimeError, match="not calibrated"):
        adc(torch.rand(8))
    ready = ADC(bits=4, range="calibrated")
    ready.set_range(0.0, 2.0)
    adc.load_state_dict(ready.state_dict())
    assert adc._is_calibrated and torch.equal(adc(torch.ones(3)), ready(torch.ones(3)))
    adc.load_state_dict(ADC(bits=4, range="calibrated").state_dict())
    with pytest.raises(RuntimeError, match="not calibrated"):  # loaded back to uncalibrated
        adc(torch.rand(8))


def test_weight_quantizer_tensor_scale_path_is_bitwise_the_float_one(monkeypatch):
    w = torch.randn(32, 16, generator=torch.Generator().manual_seed(3), requires_grad=True)
    q = WeightQuantizer(4, "per_tensor", signed=True)
    eager = q(w)
    _compiling(monkeypatch)
    assert torch.equal(q(w), eager)


def test_noise_pool_is_a_cpu_training_device_only(monkeypatch):
    x = torch.zeros(1000)
    n = GaussianNoise(1.0, seed=5).train()
    n.draw_standard(x)
    assert n._pool is not None  # CPU training: the pool
    m = GaussianNoise(1.0, seed=5).train()
    _compiling(monkeypatch)
    m.draw_standard(x)
    assert m._pool is None  # compiled: fresh draws


class _Noisy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.noise = GaussianNoise(1.0, seed=11, source="exact")


def test_generator_of_another_device_type_is_keyed_apart_and_skipped_without_it(monkeypatch):
    model = _Noisy()
    model.noise.randn_like(torch.zeros(4))  # creates the CPU generator
    state = collect_rng_state(model)
    assert "noise.generator" in state and "noise.generator.cuda" not in state
    # a checkpoint written on a GPU: only a CUDA (Philox) state for the module
    gpu_state = {k: v for k, v in state.items() if k != "noise.generator"}
    gpu_state["noise.generator.cuda"] = torch.zeros(16, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    resumed = _Noisy()
    restore_rng_state(resumed, gpu_state)  # no CUDA here: the stream starts from its seed
    fresh = _Noisy()
    assert torch.equal(
        resumed.noise.randn_like(torch.zeros(6)), fresh.noise.randn_like(torch.zeros(6))
    )


def test_cpu_generator_state_round_trips_bit_for_bit():
    model = _Noisy()
    model.noise.randn_like(torch.zeros(5))
    state = collect_rng_state(model)
    expected = model.noise.randn_like(torch.zeros(7))
    other = _Noisy()
    restore_rng_state(other, state)
    assert torch.equal(other.noise.randn_like(torch.zeros(7)), expected)
