"""Noise models against their statistics (stated tolerances, fixed seeds) and reproducibility."""

import math

import pytest
import torch

from mixsig.signal import ADC, GaussianNoise, NoiseFloor, ShotNoise

N = 400_000
# For N independent N(0, σ²) draws the sample mean has std σ/√N and the sample std has std
# ≈ σ/√(2N). We accept 5 standard errors: with the fixed seeds these tests are deterministic,
# and a correct implementation would fail them with probability < 1e-6 for a random seed.
MEAN_TOL = 5 / math.sqrt(N)
STD_TOL = 5 / math.sqrt(2 * N)


def _moments(z: torch.Tensor) -> tuple[float, float]:
    z = z.double().reshape(-1)
    return float(z.mean()), float(z.std())


@pytest.mark.parametrize("source", ["exact", "pool"])
@pytest.mark.parametrize("sigma", [0.25, 0.5, 2.0])
def test_gaussian_noise_has_its_std_in_lsb(source, sigma):
    g = GaussianNoise(sigma, seed=3, source=source).train()
    z = g.draw(torch.zeros(N))
    mean, std = _moments(z)
    assert abs(mean) < MEAN_TOL * sigma
    assert abs(std - sigma) < STD_TOL * sigma


def test_pool_draws_within_one_call_are_uncorrelated_and_refresh():
    g = GaussianNoise(1.0, seed=5, source="pool").train()
    x = torch.zeros(200_000)
    z1 = g.draw(x).clone()
    # lag-1 correlation within the call ~ N(0, 1/n): |r| < 5/√n
    r = float(torch.corrcoef(torch.stack([z1[:-1], z1[1:]]))[0, 1])
    assert abs(r) < 5 / math.sqrt(z1.numel())
    z2 = g.draw(x)
    assert not torch.equal(z1, z2)


def test_pool_is_used_only_in_training():
    g = GaussianNoise(1.0, seed=1, source="pool").eval()
    g.draw(torch.zeros(10))
    assert g._pool is None  # evaluation draws every value fresh


def test_seeded_noise_is_bitwise_reproducible_and_reseedable():
    x = torch.zeros(1000)
    a = GaussianNoise(0.5, seed=11, source="exact").draw(x)
    b = GaussianNoise(0.5, seed=11, source="exact").draw(x)
    c = GaussianNoise(0.5, seed=12, source="exact").draw(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = GaussianNoise(0.5, seed=11, source="exact")
    first = g.draw(x)
    g.reseed(11)
    assert torch.equal(first, g.draw(x))


def test_zero_sigma_draws_nothing_and_negative_is_refused():
    assert GaussianNoise(0.0).draw(torch.zeros(4)) is None
    with pytest.raises(ValueError, match="sigma_lsb"):
        GaussianNoise(-0.1)
    with pytest.raises(ValueError, match="source"):
        GaussianNoise(0.5, source="fast")


def test_adc_noise_error_has_the_predicted_variance():
    # design §1: uniform quantization error has variance Δ²/12; adding Gaussian noise of σ LSB
    # makes the total error variance Δ²(1/12 + σ²) for a signal spread over many levels.
    sigma = 0.5
    adc = ADC(bits=8, lo=0.0, hi=255.0)  # Δ = 1
    g = GaussianNoise(sigma, seed=7, source="exact")
    x = torch.rand(N, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 200 + 20
    err = adc(x, g.draw(x)) - x
    var = float(err.var())
    expected = 1 / 12 + sigma**2  # = 1/3: four times the noise-free 1/12
    assert abs(var - expected) < 5 * expected * math.sqrt(2 / N) * 1.5
    assert abs(float(err.mean())) < 5 * math.sqrt(expected / N)


def test_shot_noise_is_poisson_in_eval_and_gaussian_mu_mu_in_training():
    k = 20.0  # electrons per unit
    x = torch.full((N,), 2.5, dtype=torch.float64)  # μ = 50 electrons
    shot = ShotNoise(k, seed=4)
    for mode in ("eval", "train"):
        getattr(shot, mode)()
        e = shot(x) * k  # electrons
        mean, std = _moments(e)
        assert abs(mean - 50.0) < 5 * math.sqrt(50.0 / N)
        assert abs(std - math.sqrt(50.0)) < 5 * math.sqrt(50.0) / math.sqrt(2 * N) * 1.5
    shot.eval()
    e = shot(x) * k
    assert torch.equal(e, torch.round(e))  # whole electrons in evaluation


def test_shot_noise_gradient_is_finite_at_zero_and_reparameterised():
    shot = ShotNoise(10.0, seed=0).train()
    x = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64, requires_grad=True)
    shot(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    shot.eval()
    x2 = torch.tensor([1.0, 2.0], requires_grad=True)
    shot(x2).sum().backward()
    torch.testing.assert_close(x2.grad, torch.ones(2))  # Poisson: straight-through


def test_noise_floor_statistics_and_errors():
    f = NoiseFloor(0.03, seed=9)
    mean, std = _moments(f(torch.zeros(N)))
    assert abs(mean) < MEAN_TOL * 0.03 and abs(std - 0.03) < STD_TOL * 0.03
    with pytest.raises(ValueError, match="floor std"):
        NoiseFloor(-1.0)
    with pytest.raises(ValueError, match="electrons_per_unit"):
        ShotNoise(0.0)
    with pytest.raises(ValueError, match="seed"):
        NoiseFloor(0.1, seed=1.5)


def test_gaussian_noise_gradient_is_identity():
    g = GaussianNoise(0.5, seed=0, source="exact")
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda t: g.reseed(0) or g(t, 0.1), (x,))


def test_set_sigma_lsb_reaches_every_layer():
    from torch import nn

    import mixsig
    from mixsig.signal import set_sigma_lsb

    model = mixsig.convert(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)))
    set_sigma_lsb(model, 1.25)
    sig = [m.sigma_lsb for m in model.modules() if isinstance(m, GaussianNoise)]
    assert sig == [1.25, 1.25]
    with pytest.raises(ValueError, match="no GaussianNoise"):
        set_sigma_lsb(nn.Linear(2, 2), 0.5)


def test_parallel_fill_is_gaussian_reproducible_and_independent_of_threads():
    from mixsig.signal.noise import _PARALLEL_MIN, randn

    n = _PARALLEL_MIN + 12345  # several seeded blocks, the last one partial
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = randn((n,), generator=torch.Generator().manual_seed(1))
        torch.set_num_threads(1)
        b = randn((n,), generator=torch.Generator().manual_seed(1))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(a, b)
    mean, std = _moments(a)
    assert abs(mean) < 5 / math.sqrt(n) and abs(std - 1) < 5 / math.sqrt(2 * n)
    # neighbouring blocks are not copies of each other
    blk = 1 << 18
    r = float(torch.corrcoef(torch.stack([a[:blk], a[blk : 2 * blk]]))[0, 1])
    assert abs(r) < 5 / math.sqrt(blk)
