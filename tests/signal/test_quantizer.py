"""The ADC/DAC against their exact definition, their gradients, ranges and bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixsig import ADC, DAC
from mixsig.signal import RangeObserver, UniformQuantizer, calibrate, fake_quant, lsq_quant


def reference(x: np.ndarray, bits: int, lo: float, hi: float) -> np.ndarray:
    """The definition: 2^b levels over [lo, hi], Δ = (hi − lo)/(2^b − 1), nearest level."""
    L = 2**bits
    d = (hi - lo) / (L - 1)
    return lo + d * np.round(np.clip((x - lo) / d, 0, L - 1))


@settings(max_examples=200, deadline=None)
@given(
    bits=st.integers(1, 16),
    lo=st.floats(-100, 100, allow_nan=False),
    width=st.floats(1e-3, 200, allow_nan=False),
    seed=st.integers(0, 2**31 - 1),
)
def test_adc_equals_definition_for_every_bit_depth(bits, lo, width, seed):
    hi = lo + width
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo - 0.5 * width, hi + 0.5 * width, size=257)
    adc = ADC(bits=bits, lo=lo, hi=hi).double()
    y = adc(torch.from_numpy(x)).numpy()
    ref = reference(x, bits, lo, hi)
    # values exactly half-way between two levels may round either way in float arithmetic:
    # everything else must agree to rounding error, and every output must be a level
    d = width / (2**bits - 1)
    frac = np.abs(((np.clip(x, lo, hi) - lo) / d) % 1.0 - 0.5)
    ok = frac > 1e-6
    np.testing.assert_allclose(y[ok], ref[ok], rtol=0, atol=1e-9 * max(1.0, abs(lo), abs(hi)))
    codes = (y - lo) / d
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-6)
    assert codes.min() >= -1e-6 and codes.max() <= 2**bits - 1 + 1e-6
    assert len(np.unique(np.round(codes))) <= 2**bits


def test_levels_and_lsb_are_as_documented():
    adc = ADC(bits=3, lo=0.0, hi=7.0)
    assert adc.levels == 8 and float(adc.lsb) == pytest.approx(1.0)
    x = torch.linspace(-2, 9, 1001)
    assert sorted(set(adc(x).tolist())) == [float(k) for k in range(8)]


def test_gradient_is_one_inside_and_zero_where_clipped():
    adc = ADC(bits=4, lo=-1.0, hi=2.0)
    x = torch.tensor([-3.0, -1.5, -0.99, 0.0, 0.37, 1.99, 2.01, 5.0], requires_grad=True)
    adc(x).sum().backward()
    expected = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(x.grad, expected)


def test_noise_is_added_before_clipping_and_rounding():
    # a value at a level plus 0.6 LSB of noise lands one level up; noise that pushes past
    # hi clips (and kills the gradient), exactly as the ADC sees the noisy signal
    x = torch.tensor([0.5, 1.0], requires_grad=True)
    y = fake_quant(x, 0.0, 0.5, 3, noise_lsb=torch.tensor([0.6, 0.6]))
    torch.testing.assert_close(y, torch.tensor([1.0, 1.0]))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 0.0]))


def test_signed_calibrated_range_is_twos_complement_with_exact_zero():
    q = ADC(bits=3, signed=True, range="calibrated", calibration="max")
    calibrate(q, [torch.tensor([-0.3, 0.0, 0.6])])
    # Δ = 0.6/(2^2 − 1) = 0.2; codes −4..3 → levels −0.8..0.6
    assert float(q.lsb) == pytest.approx(0.2)
    assert float(q.lo) == pytest.approx(-0.8) and float(q.hi) == pytest.approx(0.6)
    assert float(q(torch.tensor([0.0]))) == 0.0
    torch.testing.assert_close(q(torch.tensor([-5.0, 5.0])), torch.tensor([-0.8, 0.6]))


def test_unsigned_calibration_percentile_and_max():
    x = torch.arange(1, 10001, dtype=torch.float32)  # 1..10000
    q = ADC(bits=4, range="calibrated", calibration="percentile", percentile=99.0)
    calibrate(q, [x, 2 * x])
    # 99th percentile: 9900 and 19800, averaged over the two batches
    assert float(q.hi) == pytest.approx((9900 + 19800) / 2, rel=1e-6)
    m = ADC(bits=4, range="calibrated", calibration="max")
    calibrate(m, [x, 0.5 * x])
    assert float(m.hi) == pytest.approx(10000.0) and float(m.lo) == 0.0


def test_uncalibrated_use_and_empty_calibration_are_refused():
    q = ADC(bits=4, range="calibrated")
    with pytest.raises(RuntimeError, match="not calibrated"):
        q(torch.ones(3))
    with pytest.raises(ValueError, match="at least one batch"):
        calibrate(q, [])


def test_nan_in_calibration_batch_is_refused():
    q = DAC(bits=4, range="calibrated")
    with pytest.raises(ValueError, match="NaN/Inf"):
        calibrate(q, [torch.tensor([0.1, float("nan"), 0.3])])
    assert not q.observing  # the failed calibration left no half-open state behind


def test_negative_signal_in_unsigned_calibration_warns():
    q = ADC(bits=4, signed=False, range="calibrated")
    with pytest.warns(UserWarning, match="negative"):
        calibrate(q, [torch.linspace(-1, 1, 101)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bits=0), "bits must be an integer in 1..16"),
        (dict(bits=17), "bits must be an integer in 1..16"),
        (dict(bits=2.5), "bits must be an integer in 1..16"),
        (dict(lo=1.0, hi=1.0), "lo must be < hi"),
        (dict(lo=2.0, hi=1.0), "lo must be < hi"),
        (dict(lo=0.0, hi=float("nan")), "finite"),
        (dict(range="auto"), "range must be one of"),
        (dict(range="calibrated", lo=0.0), "only allowed with range='fixed'"),
    ],
)
def test_bad_arguments_are_refused_with_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ADC(**kwargs)


def test_observer_arguments_are_checked():
    with pytest.raises(ValueError, match="percentile"):
        RangeObserver("percentile", 40.0)
    with pytest.raises(ValueError, match="calibration"):
        RangeObserver("mean")


def test_lsq_step_gradient_matches_its_formula():
    bits, signed = 3, True
    q = ADC(bits=bits, signed=signed, range="learned", calibration="max")
    x_cal = torch.linspace(-1, 1, 64).reshape(4, 16)
    calibrate(q, [x_cal])
    step = float(q.step.detach())
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    x.requires_grad_(True)
    q(x).sum().backward()
    qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    v = x.detach() / step
    per = torch.where(v <= -qn, -qn, torch.where(v >= qp, qp, torch.round(v) - v))
    g = 1.0 / math.sqrt(16 * qp)  # N = values per sample = 16
    torch.testing.assert_close(q.step.grad, per.sum() * g, rtol=1e-5, atol=1e-6)
    inside = ((v > -qn) & (v < qp)).float()
    torch.testing.assert_close(x.grad, inside)


def test_lsq_forward_equals_fixed_quantizer_at_same_step():
    x = torch.linspace(-3, 3, 601)
    step = torch.tensor(0.25)
    y = lsq_quant(x, step, -8, 7)
    ref = ADC(bits=4, lo=-8 * 0.25, hi=7 * 0.25)(x)
    torch.testing.assert_close(y, ref)


def test_gradcheck_through_quantizer_in_float64():
    # the STE makes the quantizer's analytic gradient 1 inside the range; compare it with
    # the derivative of the identity (which the STE claims) by gradcheck on the surrogate
    q = UniformQuantizer(bits=8, lo=-1.0, hi=1.0).double()
    x = (torch.rand(20, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    (jac,) = torch.autograd.functional.jacobian(lambda t: q(t), (x,))
    torch.testing.assert_close(jac, torch.eye(20, dtype=torch.float64))
    step = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    xs = torch.rand(3, 5, dtype=torch.float64) * 1.2 - 0.6
    # the step gradient of LSQ is the exact derivative of Δ·round(x/Δ) with round frozen
    ana = torch.autograd.grad(lsq_quant(xs, step, -8, 7).sum(), step)[0]
    v = xs / 0.1
    expected = (torch.round(v) - v).sum() / math.sqrt(5 * 7)
    torch.testing.assert_close(ana, expected)


def test_state_dict_round_trip_keeps_calibrated_range():
    q = ADC(bits=5, range="calibrated", calibration="max")
    calibrate(q, [torch.rand(100) * 3])
    q2 = ADC(bits=5, range="calibrated", calibration="max")
    q2.load_state_dict(q.state_dict())
    x = torch.rand(50) * 4
    torch.testing.assert_close(q2(x), q(x))


def test_mse_calibration_finds_the_analytic_optimum_for_a_uniform_signal():
    # x ~ U(0, 1), 4-bit unsigned, extent a, Δ = a/15: rounding error Δ²/12 on the fraction a
    # inside, clipping error (1 − a)³/3 above: E = a³/2700 + (1 − a)³/3, minimal where
    # a²/900 = (1 − a)², i.e. a = 30/31. Tolerance: grid step and sampling error of 2^17 draws.
    x = torch.rand(1 << 17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q = ADC(bits=4, range="calibrated", calibration="mse")
    calibrate(q, [x])
    assert float(q.hi) == pytest.approx(30 / 31, abs=0.004)


def test_mse_calibration_widens_the_range_when_the_adc_is_noisier():
    # the Gaussian noise costs σ²Δ², so more noise favours more clipping (a smaller Δ)
    x = torch.randn(1 << 16, generator=torch.Generator().manual_seed(1))
    extents = []
    for sigma in (0.0, 0.5, 2.0):
        q = ADC(bits=3, signed=True, range="calibrated", calibration="mse")
        q.observer.noise_lsb = sigma
        calibrate(q, [x])
        extents.append(float(q.hi))
    assert extents[0] > extents[1] > extents[2]
    # and it beats the max rule in squared error at 0.5 LSB
    q_max = ADC(bits=3, signed=True, range="calibrated", calibration="max")
    calibrate(q_max, [x])
    q_mse = ADC(bits=3, signed=True, range="calibrated", calibration="mse")
    q_mse.observer.noise_lsb = 0.0
    calibrate(q_mse, [x])
    assert float(((q_mse(x) - x) ** 2).mean()) < float(((q_max(x) - x) ** 2).mean())


def test_gradient_at_the_range_ends_follows_hardtanh():
    # the convention at exactly lo or hi (a set of measure zero) is hardtanh's: 0
    adc = ADC(bits=2, lo=0.0, hi=3.0)
    x = torch.tensor([0.0, 1e-4, 3.0 - 1e-4, 3.0], requires_grad=True)
    adc(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))
