"""The analog chain: order of operations, full-scale link, gain with a noise floor, gradcheck."""

import math

import pytest
import torch

from mixsig import HardwareConfig
from mixsig.signal import (
    ADC,
    AnalogChain,
    AnalogGain,
    GaussianNoise,
    NoiseFloor,
    ShotNoise,
    build_chain,
    calibrate,
)
from mixsig.signal.distortion import GainOffset, Gamma


def test_order_is_gain_distortion_noise_adc_then_digital_rescale():
    adc = ADC(bits=12, lo=0.0, hi=2.0)
    chain = AnalogChain(adc, gain=AnalogGain(2.0, learned=False), distortions=[Gamma(0.5)])
    x = torch.linspace(0.0, 0.9, 50, dtype=torch.float64)
    s = 2.0 * x  # gain
    d = 2.0 * (s / 2.0) ** 0.5  # gamma relative to the ADC full scale (2.0)
    expected = adc.double()(d) / 2.0
    torch.testing.assert_close(chain.double()(x), expected)


def test_calibration_links_the_distortion_full_scale_to_the_adc():
    hw = HardwareConfig.model_validate(
        {"distortion": [{"kind": "gamma", "gamma": 0.8}], "adc": {"signed": False}}
    )
    chain = build_chain(hw)
    calibrate(chain, [torch.rand(4096) * 3.0])
    assert float(chain.distortions[0].full_scale) == pytest.approx(chain.adc.full_scale)
    assert 1.0 < chain.adc.full_scale <= 3.0


def test_calibration_sees_the_clean_signal_and_passes_it_through():
    chain = build_chain(HardwareConfig.model_validate({"noise": {"sigma_lsb": 3.0}}))
    chain.start_observing()
    x = torch.randn(100)
    assert torch.equal(chain(x), x)  # no distortion, noise or rounding while observing
    chain.finish_observing()
    assert not torch.equal(chain(x), x)


def test_fixed_floor_makes_a_learned_gain_pay():
    # a weak signal under a fixed noise floor: y = (Q(g·x + n))/g has error (n + r)/g, so the
    # loss falls as the gain rises; the gradient on log g must be negative
    torch.manual_seed(0)
    chain = AnalogChain(
        ADC(bits=4, lo=0.0, hi=1.0),
        gain=AnalogGain(1.0, learned=True),
        floor=NoiseFloor(0.05, seed=1),
    )
    x = torch.rand(10_000) * 0.2 + 0.1  # far from clipping at any gain near 1
    loss = ((chain(x) - x) ** 2).mean()
    loss.backward()
    assert chain.gain.log_gain.grad < 0


def test_gain_must_be_positive():
    with pytest.raises(ValueError, match="gain init"):
        AnalogGain(0.0)


def test_gradcheck_gain_shot_floor_and_noise_in_float64():
    x = (torch.rand(12, dtype=torch.float64) + 0.1).requires_grad_(True)
    g = AnalogGain(1.7).double()
    torch.autograd.gradcheck(g, (x,))
    shot = ShotNoise(50.0, seed=3).train()
    torch.autograd.gradcheck(lambda t: shot.reseed(3) or shot(t), (x,))
    floor = NoiseFloor(0.1, seed=2)
    torch.autograd.gradcheck(lambda t: floor.reseed(2) or floor(t), (x,))
    noise = GaussianNoise(0.5, seed=4, source="exact")
    torch.autograd.gradcheck(lambda t: noise.reseed(4) or noise(t, 0.2), (x,))
    # and the differentiable part of a whole chain: gain, PRNU/DSNU, gamma, floor
    chain = AnalogChain(
        ADC(bits=16, lo=0.0, hi=4.0),
        gain=AnalogGain(1.3),
        distortions=[GainOffset(0.05, 0.01, seed=1, per="channel"), Gamma(0.9)],
    ).double()
    xs = (torch.rand(3, 4, dtype=torch.float64) + 0.2).requires_grad_(True)
    pre = lambda t: chain.distortions[1](chain.distortions[0](chain.gain(t)))  # noqa: E731
    torch.autograd.gradcheck(pre, (xs,))


def test_built_chain_has_the_configured_noise_models():
    hw = HardwareConfig.model_validate(
        {
            "noise": {
                "sigma_lsb": 0.7,
                "shot_electrons_per_unit": 100.0,
                "floor_std": 0.01,
                "seed": 5,
            }
        }
    )
    chain = build_chain(hw)
    assert chain.noise.sigma_lsb == 0.7 and chain.shot.electrons_per_unit == 100.0
    assert chain.floor.std == 0.01
    seeds = {chain.noise.seed, chain.shot.seed, chain.floor.seed}
    assert len(seeds) == 3 and None not in seeds  # independent, reproducible streams


def test_shot_noise_comes_before_the_transfer_curve_as_in_a_camera():
    """Poisson photo-electrons, then the detector's gamma: var f(x) ≈ f′(x)²·x/k (delta
    method), as a photon transfer curve of a nonlinear camera measures it — not f(x)/k."""
    hw = HardwareConfig(
        dac=None,
        weights={"bits": None},
        distortion=[{"kind": "gamma", "gamma": 0.5}],
        noise={"sigma_lsb": 0.0, "shot_electrons_per_unit": 4000.0, "seed": 5},
        adc={"bits": 16, "signed": False, "range": "fixed", "lo": 0.0, "hi": 1.0},
    )
    chain = build_chain(hw).eval()
    chain.quantize_output = False
    x = torch.full((400_000,), 0.25, dtype=torch.float64)
    y = chain(x)
    # f'(x) = 0.5·x^(-1/2) = 1 at x = 1/4: var = x/k = 6.25e-5 (the other order: f(x)/k = 1.25e-4)
    want = 0.25 / 4000.0
    se = want * math.sqrt(2 / x.numel())
    assert abs(y.var().item() - want) < 5 * se + want * 0.01  # + the delta method's 2nd order
    assert y.mean().item() == pytest.approx(0.5, abs=1e-3)
