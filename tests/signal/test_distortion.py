"""mixsig.signal.distortion: formulas, gradients, statistics, state, randomisation, errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from mixsig.signal.distortion import (
    Crosstalk,
    Distortion,
    GainOffset,
    Gamma,
    KernelMismatch,
    Misregistration,
    MonotoneLUT,
    Polynomial,
    SoftSaturation,
)

F64 = torch.float64


def _rand(*shape: int, seed: int = 0, dtype=F64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------- transfer curves
@pytest.mark.parametrize("gamma", [0.45, 1.0, 2.2])
@pytest.mark.parametrize("fs", [1.0, 3.5])
def test_gamma_matches_formula_including_negative_inputs(gamma, fs):
    x = _rand(4, 50) * fs  # signed, magnitudes around full scale
    m = Gamma(gamma, full_scale=fs)
    u = x / fs
    expected = fs * torch.sign(u) * u.abs() ** gamma
    assert_close(m(x), expected, rtol=1e-12, atol=1e-12)
    # odd symmetry
    assert_close(m(-x), -m(x), rtol=0, atol=0)


def test_gamma_full_scale_set_by_fill():
    m = Gamma(0.5)
    m.full_scale.fill_(4.0)
    x = torch.tensor([1.0, 4.0, -9.0], dtype=F64)
    assert_close(m(x), torch.tensor([2.0, 4.0, -6.0], dtype=F64))


def test_gamma_gradient_finite_at_zero_and_exact_forward_near_zero():
    m = Gamma(0.5)
    x = torch.tensor([0.0, 1e-9, -1e-9, 0.25], dtype=F64, requires_grad=True)
    y = m(x)
    # forward is exact even below grad_eps
    assert_close(y.detach(), torch.sign(x.detach()) * x.detach().abs() ** 0.5, rtol=0, atol=0)
    y.sum().backward()
    grad = x.grad
    assert torch.isfinite(grad).all()
    cap = 0.5 * 1e-6 ** (0.5 - 1.0)  # gamma · grad_eps^(gamma-1)
    assert_close(grad[:3], torch.full((3,), cap, dtype=F64))
    assert_close(grad[3], torch.tensor(0.5 * 0.25**-0.5, dtype=F64))
    # gamma = 1: identity, derivative exactly 1 also at 0
    x1 = torch.zeros(3, dtype=F64, requires_grad=True)
    Gamma(1.0)(x1).sum().backward()
    assert_close(x1.grad, torch.ones(3, dtype=F64))


def test_polynomial_matches_formula():
    coeffs = (0.01, 0.95, -0.08, 0.02)
    fs = 2.0
    x = _rand(3, 40, seed=1) * fs
    u = x / fs
    expected = fs * sum(c * u**k for k, c in enumerate(coeffs))
    assert_close(Polynomial(coeffs, full_scale=fs)(x), expected)
    # identity and constant polynomials
    assert_close(Polynomial((0.0, 1.0))(x), x)
    assert_close(Polynomial((0.3,), full_scale=fs)(x), torch.full_like(x, 0.6))


def test_soft_saturation_matches_formula_and_is_odd():
    a, fs = 0.7, 2.5
    x = _rand(3, 40, seed=2) * fs
    u = x / fs
    y = SoftSaturation(a, full_scale=fs)(x)
    assert_close(y, fs * u / (1 + a * u.abs()))
    assert_close(SoftSaturation(a, full_scale=fs)(-x), -y)
    assert_close(SoftSaturation(0.0)(x), x)


def _lut_reference(u: np.ndarray, xk: np.ndarray, yk: np.ndarray) -> np.ndarray:
    """Independent reference: np.interp inside, end-segment lines outside."""
    out = np.interp(u, xk, yk)
    lo, hi = u < xk[0], u > xk[-1]
    s0 = (yk[1] - yk[0]) / (xk[1] - xk[0])
    s1 = (yk[-1] - yk[-2]) / (xk[-1] - xk[-2])
    out[lo] = yk[0] + s0 * (u[lo] - xk[0])
    out[hi] = yk[-1] + s1 * (u[hi] - xk[-1])
    return out


def test_monotone_lut_interpolates_and_extrapolates():
    xk = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
    yk = np.array([0.05, 0.2, 0.6, 0.6, 0.8])  # includes a flat segment
    fs = 3.0
    m = MonotoneLUT(xk, yk, full_scale=fs)
    u = np.linspace(-0.5, 1.5, 201)
    x = torch.tensor(u * fs, dtype=F64)
    expected = fs * _lut_reference(u, xk, yk)
    assert_close(m(x), torch.tensor(expected, dtype=F64))
    # exact at the knots
    assert_close(m(torch.tensor(xk * fs, dtype=F64)), torch.tensor(yk * fs, dtype=F64))
    # gradient is the local slope
    xs = torch.tensor([-0.3, 0.1, 0.3, 0.7, 0.95, 1.4], dtype=F64) * fs
    xs.requires_grad_(True)
    m(xs).sum().backward()
    slopes = torch.tensor([0.75, 0.75, 4 / 3, 0.0, 2.0, 2.0], dtype=F64)
    assert_close(xs.grad, slopes)


def test_monotone_lut_identity_and_multidim_input():
    m = MonotoneLUT.identity(5)
    x = _rand(2, 3, 4, 5, seed=3)
    assert_close(m(x), x)
    assert m.inputs.numel() == 5


# ----------------------------------------------------------------------------- gradcheck
def _gradcheck_cases():
    x_img = (
        torch.rand(2, 2, 5, 6, generator=torch.Generator().manual_seed(4), dtype=F64) * 0.8 + 0.1
    )
    x_vec = torch.rand(3, 7, generator=torch.Generator().manual_seed(5), dtype=F64) * 0.8 + 0.1
    # LUT knots at 0, .25, .5, .75, 1: pick inputs that avoid them
    x_lut = torch.tensor([0.1, 0.3, 0.6, 0.8, 1.2, -0.2], dtype=F64)
    return [
        ("gamma<1", Gamma(0.6, full_scale=1.3), torch.cat([x_vec, -x_vec])),
        ("gamma>1", Gamma(2.2), torch.cat([x_vec, -x_vec])),
        ("polynomial", Polynomial((0.02, 0.9, -0.1, 0.05), full_scale=2.0), x_vec),
        ("softsat", SoftSaturation(0.5), torch.cat([x_vec, -x_vec])),
        ("lut", MonotoneLUT(torch.linspace(0, 1, 5), [0.0, 0.3, 0.5, 0.6, 1.0]), x_lut),
        ("gain_offset_pixel", GainOffset(0.1, 0.05, seed=1), x_img),
        ("gain_offset_channel", GainOffset(0.1, 0.05, per="channel", seed=1), x_img),
        ("gain_offset_vec", GainOffset(0.1, 0.05, seed=1), x_vec),
        ("crosstalk2d", Crosstalk(0.2), x_img),
        ("crosstalk1d", Crosstalk(0.2), x_vec),
        ("crosstalk_kernel", Crosstalk(kernel=torch.rand(3, 5, dtype=F64)), x_img),
        ("misregistration", Misregistration((0.3, -0.45), 1.05), x_img),
        ("kernel_mismatch", KernelMismatch(0.1, 0.02, seed=2), x_img),
    ]


@pytest.mark.parametrize(
    "name,module,x", _gradcheck_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_gradcheck(name, module, x):
    module(x)  # materialise lazily drawn maps before gradcheck
    assert torch.autograd.gradcheck(module, (x.clone().requires_grad_(True),))


# ----------------------------------------------------------------------------- GainOffset
def _check_normal_stats(t: torch.Tensor, std: float) -> None:
    # Tolerance: 5σ of the estimators for n samples of N(0, std²):
    # sd(mean) = std/√n, sd(sample std) ≈ std/√(2n).
    n = t.numel()
    assert abs(t.mean().item()) < 5 * std / math.sqrt(n)
    assert abs(t.std().item() - std) < 5 * std / math.sqrt(2 * n)


def test_gain_offset_per_pixel_statistics_and_reproducibility():
    # 2**20 pixels: the 5σ tolerance on the std is 0.35% (a 1% error in the std is caught)
    x = torch.zeros(1, 4, 512, 512, dtype=F64)
    m = GainOffset(0.05, 0.02, seed=11)
    m(x)
    assert m.gain.shape == (4, 512, 512) and m.offset.shape == (4, 512, 512)
    _check_normal_stats(m.gain, 0.05)
    _check_normal_stats(m.offset, 0.02)
    m2 = GainOffset(0.05, 0.02, seed=11)
    m2(x)
    assert torch.equal(m.gain, m2.gain) and torch.equal(m.offset, m2.offset)
    m3 = GainOffset(0.05, 0.02, seed=12)
    m3(x)
    assert not torch.equal(m.gain, m3.gain)


def test_gain_offset_per_channel_statistics_and_broadcast():
    c = 4096
    x = _rand(3, c, 2, 2, seed=6)
    m = GainOffset(0.1, 0.03, per="channel", seed=3)
    y = m(x)
    assert m.gain.shape == (c,)
    _check_normal_stats(m.gain, 0.1)
    _check_normal_stats(m.offset, 0.03)
    expected = x * (1 + m.gain.view(-1, 1, 1)) + m.offset.view(-1, 1, 1)
    assert_close(y, expected)
    # the same maps broadcast over (N, C) inputs
    x2 = _rand(5, c, seed=7)
    assert_close(m(x2), x2 * (1 + m.gain) + m.offset)


def test_gain_offset_explicit_maps_used_exactly_with_full_scale():
    g = _rand(3, 4, 5, seed=8) * 0.1
    o = _rand(3, 4, 5, seed=9) * 0.01
    m = GainOffset(gain=g, offset=o, full_scale=2.0)
    x = _rand(2, 3, 4, 5, seed=10)
    assert_close(m(x), x * (1 + g) + o * 2.0, rtol=0, atol=0)
    # only a gain given: offset drawn (zeros for offset_std=0)
    m2 = GainOffset(gain=g)
    assert_close(m2(x), x * (1 + g))
    assert torch.equal(m2.offset, torch.zeros_like(g))


def test_gain_offset_set_overwrites_maps():
    m = GainOffset(0.1, seed=0)
    x = torch.ones(2, 6, dtype=F64)
    m(x)
    m.set_(gain=torch.full((6,), 0.5), offset=torch.full((6,), -0.25))
    assert_close(m(x), torch.full((2, 6), 1.25, dtype=F64))
    with pytest.raises(ValueError, match="gain shape"):
        m.set_(gain=torch.zeros(7))


def test_gain_offset_state_dict_round_trip_into_fresh_lazy_instance():
    x = _rand(2, 3, 8, 8, seed=11)
    m = GainOffset(0.1, 0.05, seed=5)
    fresh = GainOffset(0.1, 0.05, seed=6)
    assert "gain" not in fresh.state_dict()  # not materialised yet
    y = m(x)
    sd = m.state_dict()
    assert {"gain", "offset", "full_scale"} <= set(sd)
    fresh.load_state_dict(sd)
    assert torch.equal(fresh.gain, m.gain)
    assert_close(fresh(x), y, rtol=0, atol=0)
    # an unmaterialised state_dict loads into an unmaterialised module
    GainOffset(0.1).load_state_dict(GainOffset(0.1).state_dict())


def test_gain_offset_shape_change_is_refused():
    m = GainOffset(0.1, seed=0)
    m(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(3, 5, 4\).*\(3, 4, 4\)"):
        m(torch.zeros(2, 3, 5, 4))
    with pytest.raises(ValueError, match=r"\(N, F\) or \(N, C, H, W\)"):
        m(torch.zeros(2, 3, 4))


# ----------------------------------------------------------------------------- Crosstalk
def test_crosstalk_default_kernel_conserves_energy_and_impulse_response():
    s = 0.3
    m = Crosstalk(s)
    k = m.kernel_for(2)
    assert_close(k.sum(), torch.tensor(1.0, dtype=F64))
    assert_close(k, torch.tensor([[0, s / 4, 0], [s / 4, 1 - s, s / 4], [0, s / 4, 0]], dtype=F64))
    x = torch.zeros(1, 2, 9, 9, dtype=F64)
    x[0, 0, 4, 4] = 2.0
    y = m(x)
    assert_close(y.sum(), x.sum())
    assert_close(y[0, 0, 3:6, 3:6], 2.0 * k)
    assert torch.equal(y[0, 1], torch.zeros(9, 9, dtype=F64))  # channels do not mix
    # energy conservation on an interior random patch
    x2 = torch.zeros(2, 3, 10, 10, dtype=F64)
    x2[..., 2:8, 2:8] = torch.rand(2, 3, 6, 6, dtype=F64)
    assert_close(m(x2).sum(dim=(-1, -2)), x2.sum(dim=(-1, -2)))


def test_crosstalk_custom_kernel_is_the_impulse_response_and_a_convolution():
    k = torch.arange(15, dtype=F64).reshape(3, 5) / 100.0  # asymmetric
    m = Crosstalk(kernel=k)
    x = torch.zeros(1, 1, 9, 11, dtype=F64)
    x[0, 0, 4, 5] = 1.0
    y = m(x)
    assert_close(y[0, 0, 3:6, 3:8], k)
    assert_close(y.sum(), k.sum())
    # random image against an explicit sum of shifted copies (zero padding)
    img = _rand(2, 3, 7, 8, seed=12)
    pad = F.pad(img, (2, 2, 1, 1))
    ref = torch.zeros_like(img)
    for a in range(-1, 2):
        for b in range(-2, 3):
            ref += k[a + 1, b + 2] * pad[..., 1 - a : 1 - a + 7, 2 - b : 2 - b + 8]
    assert_close(m(img), ref)


def test_crosstalk_1d_for_linear_outputs():
    s = 0.2
    m = Crosstalk(s)
    x = torch.zeros(2, 9, dtype=F64)
    x[1, 4] = 1.0
    y = m(x)
    assert_close(y[1, 3:6], torch.tensor([s / 2, 1 - s, s / 2], dtype=F64))
    assert_close(y.sum(), x.sum())
    assert y.shape == x.shape
    k1 = torch.tensor([0.1, 0.7, 0.15, 0.05, 0.0], dtype=F64)
    y1 = Crosstalk(kernel=k1)(x)
    assert_close(y1[1, 2:7], k1)
    with pytest.raises(ValueError, match="1-D kernel"):
        Crosstalk(kernel=k1)(torch.zeros(1, 1, 5, 5, dtype=F64))
    with pytest.raises(ValueError, match="2-D kernel"):
        Crosstalk(kernel=torch.ones(3, 3))(x)
    with pytest.raises(ValueError, match=r"\(N, F\) or \(N, C, H, W\)"):
        m(torch.zeros(2, 3, 4))


def test_crosstalk_set_switches_between_strength_and_kernel():
    m = Crosstalk(0.1)
    m.set_(kernel=torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]))
    assert "kernel" in m.state_dict()
    m2 = Crosstalk(0.1)
    m2.load_state_dict(m.state_dict())  # kernel buffer adopted by a default-kernel instance
    x = _rand(1, 1, 5, 5, seed=13)
    assert_close(m2(x), m(x))
    m.set_(strength=0.4)
    assert m.kernel is None
    assert_close(m.kernel_for(1), torch.tensor([0.2, 0.6, 0.2], dtype=F64))


# ----------------------------------------------------------------------------- Misregistration
def _zero_filled_roll(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    h, w = x.shape[-2:]
    if dy > 0:
        out[..., :dy, :] = 0
    elif dy < 0:
        out[..., h + dy :, :] = 0
    if dx > 0:
        out[..., :, :dx] = 0
    elif dx < 0:
        out[..., :, w + dx :] = 0
    return out


@pytest.mark.parametrize("dy,dx", [(0, 1), (2, -1), (-1, 0), (-3, 2)])
def test_misregistration_integer_shift_is_zero_filled_roll(dy, dx):
    x = _rand(2, 3, 8, 12, seed=14)  # non-square, to catch axis mix-ups
    y = Misregistration((float(dy), float(dx)))(x)
    assert_close(y, _zero_filled_roll(x, dy, dx), rtol=0, atol=1e-12)


def _ramp(h: int, w: int, a: float, b: float, c: float) -> torch.Tensor:
    """The linear ramp a·i + b·j + c over pixel indices (i rows, j columns), shape (h, w)."""
    i = torch.arange(h, dtype=F64).view(-1, 1)
    j = torch.arange(w, dtype=F64).view(1, -1)
    return a * i + b * j + c


def test_misregistration_subpixel_shift_of_linear_ramp():
    h, w, a, b, c = 10, 14, 0.3, -0.7, 2.0
    dy, dx = 0.3, -0.65
    x = _ramp(h, w, a, b, c).expand(2, 3, h, w).contiguous()
    y = Misregistration((dy, dx))(x)
    i = torch.arange(h, dtype=F64).view(-1, 1)
    j = torch.arange(w, dtype=F64).view(1, -1)
    expected = a * (i - dy) + b * (j - dx) + c  # content moved by (dy, dx)
    assert_close(y[..., 2:-2, 2:-2], expected[2:-2, 2:-2].expand(2, 3, -1, -1))


def test_misregistration_magnifies_about_the_centre():
    h, w, a, b, c = 12, 16, 0.3, -0.7, 2.0
    s, dy, dx = 1.1, 0.4, -0.2
    x = _ramp(h, w, a, b, c).expand(1, 2, h, w).contiguous()
    y = Misregistration((dy, dx), s)(x)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    i = torch.arange(h, dtype=F64).view(-1, 1)
    j = torch.arange(w, dtype=F64).view(1, -1)
    qi = (i - cy - dy) / s + cy
    qj = (j - cx - dx) / s + cx
    expected = a * qi + b * qj + c
    assert_close(y[..., 2:-2, 2:-2], expected[2:-2, 2:-2].expand(1, 2, -1, -1))
    # a single bright point at q lands at s·(q − c) + c + shift (here exactly on a pixel)
    x = torch.zeros(1, 1, 13, 13, dtype=F64)
    x[0, 0, 2, 10] = 1.0  # q = (2, 10), c = (6, 6): q − c = (−4, 4)
    y = Misregistration((0.0, 0.0), 1.25)(x)  # p = (6 − 5, 6 + 5) = (1, 11)
    assert y[0, 0].argmax().item() == 1 * 13 + 11


def test_misregistration_identity_and_rank_check():
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(15))
    y = Misregistration()(x)
    assert y.dtype == torch.float32
    assert_close(y, x, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Misregistration()(torch.zeros(3, 4))


def test_misregistration_set_changes_shift():
    m = Misregistration()
    m.set_(shift_px=(0.0, 1.0), scale=1.0)
    x = _rand(1, 1, 5, 6, seed=16)
    assert_close(m(x), _zero_filled_roll(x, 0, 1), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- KernelMismatch
def test_kernel_mismatch_fixed_statistics_and_reproducible():
    w = _rand(64, 16, 2, 2, seed=17)  # 4096 weights
    m = KernelMismatch(0.05, 0.01, seed=21)
    w1 = m(w)
    assert torch.equal(m(w), w1)  # fixed across calls
    _check_normal_stats(m.eps, 0.05)
    w_max = w.abs().max()
    assert_close(m.weight_scale, w_max)
    _check_normal_stats(m.delta, 0.01 * w_max.item())
    assert_close(w1, w * (1 + m.eps) + m.delta, rtol=0, atol=0)
    # delta stays fixed when the weight changes (max|W| recorded at the first call)
    assert_close(m(2 * w), 2 * w * (1 + m.eps) + m.delta)
    m_same = KernelMismatch(0.05, 0.01, seed=21)
    assert torch.equal(m_same(w), w1)  # bitwise reproducible
    m_other = KernelMismatch(0.05, 0.01, seed=22)
    assert not torch.equal(m_other(w), w1)


def test_kernel_mismatch_state_dict_and_shape_check():
    w = _rand(8, 5, seed=18)
    m = KernelMismatch(0.1, 0.02, seed=3)
    y = m(w)
    fresh = KernelMismatch(0.1, 0.02, seed=4)
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh(w), y)
    assert torch.equal(fresh.weight_scale, m.weight_scale)
    with pytest.raises(ValueError, match=r"\(8, 6\).*\(8, 5\)"):
        m(torch.zeros(8, 6, dtype=F64))
    with pytest.raises(ValueError, match="at least one dimension"):
        KernelMismatch()(torch.tensor(1.0))
    # explicit calibration
    e, d = torch.full((8, 5), 0.1), torch.full((8, 5), 0.01)
    assert_close(KernelMismatch(eps=e, delta=d)(w), w * 1.1 + 0.01)


# ----------------------------------------------------------------------------- randomisation
def _nominal_and_randomised(cls, args, kwargs, x):
    nominal = cls(*args, seed=1, **kwargs)
    rnd = cls(*args, randomize=0.1, seed=7, **kwargs)
    if isinstance(nominal, (GainOffset, KernelMismatch)):  # same device maps in both
        nominal(x)
        rnd.load_state_dict(nominal.state_dict())
    return nominal, rnd


_RANDOMISED = [
    (Gamma, (0.6,), {}),
    (Polynomial, ((0.01, 0.9, -0.1),), {}),
    (SoftSaturation, (0.4,), {}),
    (MonotoneLUT, ([0.0, 0.5, 1.0], [0.0, 0.7, 0.9]), {}),
    (GainOffset, (0.1, 0.02), {}),
    (Crosstalk, (0.3,), {}),
    (Misregistration, ((0.3, -0.2), 1.05), {}),
    (KernelMismatch, (0.1, 0.02), {}),
]


@pytest.mark.parametrize("cls,args,kwargs", _RANDOMISED, ids=lambda v: getattr(v, "__name__", ""))
def test_randomisation_eval_is_nominal_training_varies(cls, args, kwargs):
    x = torch.rand(2, 2, 6, 7, generator=torch.Generator().manual_seed(19), dtype=F64) + 0.1
    nominal, rnd = _nominal_and_randomised(cls, args, kwargs, x)
    rnd.eval()
    assert torch.equal(rnd(x), nominal(x))
    rnd.train()
    y1, y2 = rnd(x), rnd(x)
    assert not torch.equal(y1, y2)
    assert not torch.equal(y1, nominal(x))
    # randomisation off (randomize=0) in training mode is also exactly nominal
    nominal.train()
    assert torch.equal(nominal(x), nominal(x))


def test_gamma_randomised_within_bounds_and_reproducible():
    gamma, r = 0.8, 0.1
    x = torch.tensor([0.5], dtype=F64)

    def drawn(m, n=300):
        return torch.stack([torch.log(m(x)) / math.log(0.5) for _ in range(n)]).flatten()

    g = drawn(Gamma(gamma, randomize=r, seed=3))
    assert (g >= gamma * (1 - r) - 1e-12).all() and (g <= gamma * (1 + r) + 1e-12).all()
    assert g.std() > 0
    # 300 uniform draws: they span most of the ±10% interval
    assert g.min() < gamma * (1 - 0.8 * r) and g.max() > gamma * (1 + 0.8 * r)
    assert torch.equal(drawn(Gamma(gamma, randomize=r, seed=3)), g)
    assert not torch.equal(drawn(Gamma(gamma, randomize=r, seed=4)), g)
    # seed=None uses the global RNG
    torch.manual_seed(123)
    g1 = drawn(Gamma(gamma, randomize=r), 5)
    torch.manual_seed(123)
    assert torch.equal(drawn(Gamma(gamma, randomize=r), 5), g1)


def test_polynomial_and_lut_randomise_the_deviation_from_identity():
    x = torch.tensor([1.0], dtype=F64)
    p = Polynomial((0.0, 1.0, 0.2), randomize=0.1, seed=0)
    f = torch.stack([(p(x) - 1.0) / 0.2 for _ in range(100)])
    assert (f >= 0.9 - 1e-12).all() and (f <= 1.1 + 1e-12).all() and f.std() > 0
    ident = Polynomial((0.0, 1.0), randomize=0.5, seed=0)
    z = _rand(20, seed=20)
    assert_close(ident(z), z)
    assert_close(MonotoneLUT.identity(4, randomize=0.5, seed=0)(z), z)
    # a flat (saturating) LUT segment stays non-decreasing under randomisation
    lut = MonotoneLUT([0.0, 0.5, 1.0], [0.0, 0.8, 0.8], randomize=0.5, seed=1)
    u = torch.linspace(-0.2, 1.2, 57, dtype=F64)
    for _ in range(20):
        assert (torch.diff(lut(u)) >= 0).all()


def test_gain_offset_randomisation_scales_whole_map_by_one_draw():
    g = torch.linspace(-0.2, 0.2, 10, dtype=F64) + 0.01
    m = GainOffset(gain=g, offset=torch.zeros(10), randomize=0.1, seed=2)
    x = torch.ones(1, 10, dtype=F64)
    factors = []
    for _ in range(50):
        f = (m(x)[0] - 1.0) / g
        assert_close(f, f[0].expand(10))  # one factor for the whole map
        factors.append(f[0].item())
    factors = torch.tensor(factors)
    assert (factors >= 0.9 - 1e-12).all() and (factors <= 1.1 + 1e-12).all()
    assert factors.std() > 0


def test_crosstalk_randomisation_keeps_kernel_sum():
    x = torch.zeros(1, 1, 7, 7, dtype=F64)
    x[0, 0, 3, 3] = 1.0
    for m in (
        Crosstalk(0.3, randomize=0.2, seed=0),
        Crosstalk(kernel=torch.rand(3, 3, dtype=F64), randomize=0.2, seed=0),
    ):
        ref = m.kernel_for(2).sum()
        centres = set()
        for _ in range(10):
            y = m(x)
            assert_close(y.sum(), ref)
            centres.add(round(y[0, 0, 3, 3].item(), 12))
        assert len(centres) > 1


# ----------------------------------------------------------------------------- module plumbing
def test_buffers_in_state_dict_dtype_follows_input_and_deepcopy():
    modules = [
        Gamma(0.5),
        Polynomial((0, 1, 0.1)),
        SoftSaturation(0.2),
        MonotoneLUT.identity(3),
        Crosstalk(0.1),
        Misregistration((0.2, 0.1)),
        GainOffset(0.1, seed=0),
        KernelMismatch(0.1, seed=0),
    ]
    x = torch.rand(2, 3, 5, 5) + 0.05
    for m in modules:
        assert isinstance(m, Distortion)
        assert "full_scale" in m.state_dict()
        assert not list(m.parameters())
        assert m(x).dtype == torch.float32
        m.float()
        assert m.full_scale.dtype == torch.float32
        assert torch.equal(copy.deepcopy(m)(x), m(x))


def test_polynomial_and_lut_state_dict_adopts_stored_size():
    p = Polynomial((0.0, 1.0, 0.1, -0.02))
    q = Polynomial()
    q.load_state_dict(p.state_dict())
    x = _rand(10, seed=21)
    assert_close(q(x), p(x))
    lut = MonotoneLUT([0.0, 0.3, 1.0], [0.0, 0.5, 0.9])
    fresh = MonotoneLUT.identity(2)
    fresh.load_state_dict(lut.state_dict())
    assert_close(fresh(x), lut(x))
    p.set_((0.0, 2.0))
    assert_close(p(x), 2 * x)
    lut.set_([0.0, 1.0], [0.0, 0.5])
    assert_close(lut(x), 0.5 * x)


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_randomize_out_of_range(bad):
    for cls in (Gamma, SoftSaturation, Crosstalk, GainOffset, KernelMismatch, Misregistration):
        with pytest.raises(ValueError, match=r"randomize must be .*\[0, 1\)"):
            cls(randomize=bad)


@pytest.mark.parametrize(
    "factory,match",
    [
        (lambda: Gamma(seed="abc"), "seed must be an int"),
        (lambda: Gamma(seed=1.5), "seed must be an int"),
        (lambda: Gamma(full_scale=0.0), "full_scale must be > 0"),
        (lambda: Gamma(0.0), "gamma must be > 0, got 0.0"),
        (lambda: Gamma(-1.0), "gamma must be > 0, got -1.0"),
        (lambda: Gamma(float("inf")), "gamma must be a finite"),
        (lambda: Gamma(1.0, grad_eps=0.0), "grad_eps must be in"),
        (lambda: Gamma(1.0).set_(-2.0), "gamma must be > 0"),
        (lambda: Polynomial([]), "coeffs must hold at least one"),
        (lambda: Polynomial([[0.0, 1.0]]), "coeffs must have 1 dimension"),
        (lambda: Polynomial([0.0, float("nan")]), "coeffs must contain only finite"),
        (lambda: SoftSaturation(-0.1), "a must be >= 0, got -0.1"),
        (
            lambda: MonotoneLUT([0.0, 0.5, 0.5], [0.0, 0.1, 0.2]),
            r"inputs must be strictly increasing, but inputs\[2\]=0.5 <= inputs\[1\]=0.5",
        ),
        (
            lambda: MonotoneLUT([0.0, 0.1, 0.2, 0.3], [0.0, 0.3, 0.4, 0.2]),
            r"values must be non-decreasing, but values\[3\]=0.2 < values\[2\]=0.4",
        ),
        (lambda: MonotoneLUT([0.0, 1.0], [0.0, 0.5, 1.0]), "same length"),
        (lambda: MonotoneLUT([0.0], [0.0]), "at least 2 knots"),
        (lambda: MonotoneLUT.identity(1), "n must be an int >= 2"),
        (lambda: GainOffset(-0.1), "gain_std must be >= 0"),
        (lambda: GainOffset(0.0, -0.1), "offset_std must be >= 0"),
        (lambda: GainOffset(per="row"), "per must be one of"),
        (lambda: GainOffset(0.1, gain=torch.zeros(3)), "either gain_std or an explicit gain"),
        (
            lambda: GainOffset(gain=torch.zeros(3), offset=torch.zeros(4)),
            "gain and offset must have the same shape",
        ),
        (lambda: GainOffset(per="channel", gain=torch.zeros(3, 2)), "gain must have 1 dim"),
        (lambda: GainOffset(gain=torch.zeros(3, 2)), r"per-pixel gain map .*\(F,\) or \(C, H, W\)"),
        (lambda: Crosstalk(1.0), r"strength must be in \[0, 1\), got 1.0"),
        (lambda: Crosstalk(-0.1), r"strength must be in \[0, 1\)"),
        (lambda: Crosstalk(kernel=torch.ones(2, 3)), "kernel must have an odd size"),
        (lambda: Crosstalk(kernel=torch.ones(3, 3, 3)), "kernel must have 1 or 2 dim"),
        (lambda: Crosstalk(0.1, kernel=torch.ones(3, 3)), "either strength or kernel"),
        (lambda: Misregistration(scale=0.0), "scale must be > 0, got 0.0"),
        (lambda: Misregistration((0.0, 1.0, 2.0)), r"shift_px must be a pair \(dy, dx\)"),
        (lambda: KernelMismatch(-0.1), "rel_std must be >= 0"),
        (lambda: KernelMismatch(0.0, -1.0), "abs_std must be >= 0"),
        (
            lambda: KernelMismatch(eps=torch.zeros(2), delta=torch.zeros(3)),
            "eps and delta must have the same shape",
        ),
    ],
)
def test_bad_arguments_raise_value_error(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()
