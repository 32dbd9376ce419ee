"""Analog arrays of finite size: the split plan, and tiled layers against explicit loops over
the tiles (each tile's MAC by hand with F.linear / F.conv*d on its input slice, through its own
chain, the digital results summed), on an ideal and on a nonlinear deterministic chain."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mixsig
from mixsig import ConfigError, HardwareConfig, MixedConv1d, MixedConv2d, MixedLinear
from mixsig.config.hardware import SEED_MAX
from mixsig.eval import montecarlo as mc
from mixsig.nn.tiling import plan_tiles, tile_seed
from mixsig.signal import noise_stream, set_sigma_lsb
from mixsig.signal.chain import chains

STEP = 2.0**-10  # a power of two: the 16-bit ADC's levels are exact multiples of it
IDEAL = {  # 16 bits over ±32, no noise, float weights and inputs
    "dac": None,
    "weights": {"bits": None},
    "noise": {"sigma_lsb": 0.0},
    "adc": {"bits": 16, "signed": True, "range": "fixed", "lo": -32768 * STEP, "hi": 32767 * STEP},
}
GAMMA = 0.7
NONLINEAR = {  # 3-bit ADC whose levels are the integers −4..3, after a gamma curve; no noise
    **IDEAL,
    "distortion": [{"kind": "gamma", "gamma": GAMMA}],
    "adc": {"bits": 3, "signed": True, "range": "fixed", "lo": -4.0, "hi": 3.0},
}
NONLINEAR_DIFF = {  # the same for differential pairs: an unsigned 3-bit ADC, levels 0..7
    **NONLINEAR,
    "weights": {"bits": None, "realisation": "differential"},
    "adc": {"bits": 3, "signed": False, "range": "fixed", "lo": 0.0, "hi": 7.0},
}


def hw(base: dict, rows: int | None, **extra) -> HardwareConfig:
    return HardwareConfig.model_validate({**base, "array": {"rows": rows}, **extra})


# -- the chains, by hand ----------------------------------------------------------------------


def ideal_chain(a):
    return torch.round(torch.clamp(a / STEP, -32768, 32767)) * STEP


def nonlinear_chain(a, lo=-4.0, hi=3.0):
    fs = max(abs(lo), abs(hi))
    u = a / fs
    s = fs * (torch.sign(u) * u.abs().pow(torch.tensor(GAMMA, dtype=a.dtype)))
    return torch.round(torch.clamp(s, lo, hi))  # Δ = 1


def by_hand(mac, x, w, sizes, chain, *, dim=1, groups=1):
    """Σ_t chain(mac(x_t, w_t)): tile t holds channels [start, stop) of every group."""
    c, total, start = w.shape[1], 0, 0
    for size in sizes:
        idx = [g * c + i for g in range(groups) for i in range(start, start + size)]
        xt = x.index_select(dim, torch.tensor(idx))
        total = total + chain(mac(xt, w[:, start : start + size]))
        start += size
    return total


# -- the plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, rows, sizes",
    [
        ((7, 1024), 512, (512, 512)),
        ((7, 1000), 512, (500, 500)),
        ((7, 1025), 512, (342, 342, 341)),  # aihwkit's equal-size chunks, the larger first
        ((7, 2048), 512, (512,) * 4),
        ((7, 10), 4, (4, 3, 3)),
        ((7, 10), 10, (10,)),  # rows = inputs: one array
        ((7, 10), 9, (5, 5)),
        ((7, 10), None, (10,)),
        ((8, 64, 3, 3), 512, (32, 32)),  # 56 channels (504 rows) fit: T = ⌈64/56⌉ = 2
        ((8, 100, 3, 3), 100, (10,) * 10),  # 11 fit per array, ⌈100/11⌉ = 10 tiles of 10
        ((8, 3, 5, 5), 25, (1, 1, 1)),  # rows = ∏k: one channel per array
        ((8, 6, 7), 21, (3, 3)),  # conv1d
    ],
)
def test_the_split_follows_the_documented_rule(shape, rows, sizes):
    plan = plan_tiles(shape, rows, layer="layer")
    assert plan.channels == sizes
    assert plan.kernel == math.prod(shape[2:])


def test_every_split_is_the_fewest_whole_kernel_tiles_as_equal_as_possible():
    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        c, k, rows = (int(v) for v in torch.randint(1, 300, (3,), generator=g))
        if k > rows:
            continue
        plan = plan_tiles((1, c, k), rows, layer="layer")
        assert sum(plan.channels) == c and plan.bounds[-1][1] == c
        if c * k <= rows:
            assert plan.count == 1
            continue
        assert plan.rows_used <= rows  # every tile fits on its array, kernels whole
        assert plan.count == -(-c // (rows // k))  # and fewer could not hold c channels
        assert max(plan.channels) - min(plan.channels) <= 1
        assert list(plan.channels) == sorted(plan.channels, reverse=True)


def test_tile_seeds_are_distinct_and_in_range():
    for seed in (0, 1, 12345, SEED_MAX):
        seeds = [tile_seed(seed, t) for t in range(200)]
        assert seeds[0] == seed and len(set(seeds)) == 200
        assert all(0 <= s <= SEED_MAX for s in seeds)
    assert tile_seed(None, 3) is None


# -- tiled layers vs explicit loops -----------------------------------------------------------


@pytest.mark.parametrize("config, chain", [(IDEAL, ideal_chain), (NONLINEAR, nonlinear_chain)])
def test_linear_is_the_sum_of_its_tiles_chains(config, chain):
    torch.manual_seed(0)
    layer = MixedLinear(10, 6, hardware=hw(config, 4), dtype=torch.float64)
    assert layer.tiling.channels == (4, 3, 3) and len(layer.chains) == 3
    assert not hasattr(layer, "chain")
    x = torch.rand(5, 3, 10, dtype=torch.float64) * 2 - 1  # leading dims: separate products
    with torch.no_grad():
        layer.weight.mul_(4)
        want = by_hand(F.linear, x, layer.weight, (4, 3, 3), chain, dim=-1) + layer.bias
        got = layer(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    levels = torch.unique(got - layer.bias.detach())
    assert len(levels) > 5  # the curve and the ADC are exercised, not a constant
    torch.testing.assert_close(layer(x[0, 0]), got[0, 0], rtol=0, atol=0)  # unbatched


@pytest.mark.parametrize(
    "config, chain, groups",
    [
        (IDEAL, ideal_chain, 1),
        (NONLINEAR, nonlinear_chain, 1),
        (NONLINEAR, nonlinear_chain, 2),
        (NONLINEAR_DIFF, lambda a: nonlinear_chain(a, 0.0, 7.0), 2),
    ],
)
def test_conv2d_is_the_sum_of_its_tiles_chains(config, chain, groups):
    torch.manual_seed(1)
    layer = MixedConv2d(
        10, 4, 3, padding=1, stride=2, groups=groups, hardware=hw(config, 18), dtype=torch.float64
    )
    c = 10 // groups  # 2 channels (18 rows) per array
    sizes = {5: (2, 2, 1), 10: (2, 2, 2, 2, 2)}[c]
    assert layer.tiling.channels == sizes
    differential = config is NONLINEAR_DIFF
    x = torch.rand(2, 10, 7, 7, dtype=torch.float64)
    if not differential:
        x = 2 * x - 1
    with torch.no_grad():
        w = layer.weight * 3
        layer.weight.copy_(w)
        if differential:  # W⁺ and W⁻ of each group stacked: [W⁺ g0, W⁻ g0, W⁺ g1, W⁻ g1]
            halves = [w.relu().chunk(groups), (-w).relu().chunk(groups)]
            w = torch.cat([h[g] for g in range(groups) for h in halves])

        def conv(xt, wt):
            return F.conv2d(xt, wt, stride=2, padding=1, groups=groups)

        y = by_hand(conv, x, w, sizes, chain, groups=groups)
        if differential:
            y = torch.cat([p[:, :2] - p[:, 2:] for p in y.chunk(groups, dim=1)], dim=1)
        want = y + layer.bias.view(1, -1, 1, 1)
        got = layer(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert len(torch.unique(got)) > 5
    torch.testing.assert_close(layer(x[1]), got[1], rtol=0, atol=0)  # unbatched


def test_conv1d_is_the_sum_of_its_tiles_chains():
    torch.manual_seed(2)
    layer = MixedConv1d(6, 5, 3, padding=2, hardware=hw(NONLINEAR, 7), dtype=torch.float64)
    assert layer.tiling.channels == (2, 2, 2)
    x = torch.rand(3, 6, 11, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        layer.weight.mul_(3)

        def conv(xt, wt):
            return F.conv1d(xt, wt, padding=2)

        want = by_hand(conv, x, layer.weight, (2, 2, 2), nonlinear_chain) + layer.bias[:, None]
        got = layer(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer(x[2]), got[2], rtol=0, atol=0)  # unbatched


# -- one array: the layer as it was -----------------------------------------------------------


@pytest.mark.parametrize("rows", [None, 48, 4096])
def test_a_layer_that_fits_on_one_array_is_todays_layer(rows):
    config = {"noise": {"sigma_lsb": 0.5, "seed": 4}, "weights": {"realisation": "differential"}}
    layers = []
    for r in (None, rows):
        torch.manual_seed(3)
        layers.append(MixedConv2d(3, 4, 4, groups=1, hardware=hw(config, r)))  # 48 inputs
    plain, fitted = layers
    assert fitted.tiling.count == 1 and not hasattr(fitted, "chains")
    assert list(fitted.state_dict()) == list(plain.state_dict())
    x = torch.rand(2, 3, 6, 6)
    mixsig.calibrate(plain, [x])
    mixsig.calibrate(fitted, [x])
    for mode in ("train", "eval"):
        getattr(plain, mode)(), getattr(fitted, mode)()
        assert torch.equal(plain(x), fitted(x))
    for k, v in plain.state_dict().items():
        assert torch.equal(v, fitted.state_dict()[k]), k


def test_one_row_short_of_the_inputs_makes_two_arrays():
    assert MixedConv2d(3, 4, 4, hardware=hw(IDEAL, 47)).tiling.channels == (2, 1)


# -- noise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11, None])
@pytest.mark.parametrize("rows, tiles", [(None, 1), (4, 3)])
def test_the_noise_of_t_tiles_has_t_times_one_tiles_variance(seed, rows, tiles):
    """Zero input: the output is the tiles' noise alone, Σ_t Δ·round(σ·z_t), whose variance is
    T·Δ²(σ² + 1/12) (σ = 4 LSB: Sheppard's correction, exact to e^(−2π²σ²) ≈ 1e−137); noise
    shared between tiles (one seed for all) would give T²."""
    step, sigma = 2.0**-6, 4.0
    config = {
        **IDEAL,
        "noise": {"sigma_lsb": sigma, "seed": seed},
        "adc": {"bits": 16, "signed": True, "range": "fixed", "lo": -32768 * step,
                "hi": 32767 * step},
    }  # fmt: skip
    torch.manual_seed(5)
    layer = MixedLinear(12, 64, bias=False, hardware=hw(config, rows)).eval()
    assert layer.tiling.count == tiles
    with torch.no_grad():
        y = layer(torch.zeros(4096, 12)).double()
    n = y.numel()
    expected = tiles * step**2 * (sigma**2 + 1 / 12)
    # (n − 1)s²/σ² ~ χ²(n − 1) for Gaussian values (the sum of rounded Gaussians is Gaussian
    # to within a kurtosis of order 1e−4): s² has relative std √(2/(n − 1)) = 0.28 % here;
    # 5 of those (1.4 %) fail by chance with probability < 1e−6, and T = 3 is told from T² = 9
    # (a 200 % error) and from T = 1.
    tolerance = 5 * math.sqrt(2 / (n - 1))
    assert abs(float(y.var()) / expected - 1) < tolerance
    assert abs(float(y.mean())) < 5 * math.sqrt(expected / n)


# -- training, calibration, state -------------------------------------------------------------


def test_gradients_reach_every_weight_straight_through():
    torch.manual_seed(6)
    ref = nn.Conv2d(6, 4, 3, groups=2)
    config = {**IDEAL, "weights": {"bits": None, "realisation": "differential"}}
    layer = MixedConv2d(6, 4, 3, groups=2, hardware=hw(config, 9))  # one channel per array
    assert layer.tiling.count == 3
    layer.load_state_dict(ref.state_dict(), strict=False)
    x, r = torch.rand(3, 6, 5, 5), torch.randn(3, 4, 3, 3)
    (layer(x) * r).sum().backward()
    (ref(x) * r).sum().backward()
    torch.testing.assert_close(layer.weight.grad, ref.weight.grad)
    torch.testing.assert_close(layer.bias.grad, ref.bias.grad)
    assert bool((layer.weight.grad != 0).all())


def test_learned_ranges_of_every_tile_train():
    torch.manual_seed(7)
    config = {**IDEAL, "adc": {"bits": 4, "signed": True, "range": "learned"}}
    config["adc"]["gain"] = {"init": 1.0, "learned": True}
    layer = MixedLinear(20, 3, hardware=hw(config, 8))
    x = torch.randn(16, 20)
    mixsig.calibrate(layer, [x])
    layer(x).pow(2).sum().backward()
    assert len(chains(layer)) == 3
    for chain in chains(layer):
        assert chain.adc.step.grad is not None and float(chain.adc.step.grad) != 0.0
        assert chain.gain.log_gain.grad is not None
    assert bool((layer.weight.grad != 0).all())


def test_calibration_sets_each_tile_chain_from_its_own_results():
    torch.manual_seed(8)
    config = {**IDEAL, "adc": {"bits": 8, "signed": True, "calibration": "max"}}
    layer = MixedLinear(30, 5, bias=False, hardware=hw(config, 10))
    x = torch.randn(64, 30)
    with torch.no_grad():
        layer.weight[:, 10:20].mul_(10)  # the middle tile's results are ten times larger
    mixsig.calibrate(layer, [x[:32], x[32:]])
    steps = [float(c.adc.step) for c in layer.chains]
    for t, chain in enumerate(layer.chains):
        assert bool(chain.adc.calibrated)
        tile = slice(10 * t, 10 * t + 10)
        extent = float(F.linear(x[:, tile], layer.weight.detach()[:, tile]).abs().max())
        assert steps[t] == pytest.approx(extent / 127, rel=1e-6)
    assert steps[1] > 5 * max(steps[0], steps[2])


def test_state_dict_round_trip():
    config = {
        "weights": {"bits": 4, "realisation": "differential"},
        "distortion": [{"kind": "gain_offset", "gain_std": 0.1, "offset_std": 0.01, "seed": 1}],
        "noise": {"sigma_lsb": 0.0},
        "adc": {"range": "learned"},
    }
    torch.manual_seed(9)
    layer = MixedConv2d(8, 3, 3, hardware=hw(config, 36))
    x = torch.rand(2, 8, 6, 6)
    mixsig.calibrate(layer, [x])
    layer.eval()
    y = layer(x)
    state = layer.state_dict()
    assert {k.split(".")[1] for k in state if k.startswith("chains.")} == {"0", "1"}
    assert not any(k.startswith("chain.") for k in state)
    # each tile its own fixed pattern (the tiles' seeds differ)
    p0, p1 = (state[f"chains.{t}.distortions.0.gain"] for t in (0, 1))
    assert p0.shape == p1.shape and not torch.equal(p0, p1)
    torch.manual_seed(10)
    again = MixedConv2d(8, 3, 3, hardware=hw(config, 36))
    again.load_state_dict(state)
    again.eval()
    assert torch.equal(again(x), y)


# -- convert, bad input, Monte-Carlo ----------------------------------------------------------


def test_convert_splits_a_1024_input_linear_onto_two_512_row_arrays():
    model = nn.Sequential(nn.Flatten(), nn.Linear(1024, 10), nn.ReLU(), nn.Linear(10, 2))
    mixsig.convert(model, hw({}, 512))
    assert model[1].tiling.channels == (512, 512) and len(model[1].chains) == 2
    assert model[3].tiling.count == 1 and hasattr(model[3], "chain")


def test_rows_below_a_kernel_are_refused_with_the_numbers_before_any_change():
    model = nn.Sequential(nn.Linear(4, 4), nn.Conv2d(2, 3, 5))
    with pytest.raises(ConfigError) as err:
        mixsig.convert(model, hw({}, 20))
    msg = str(err.value)
    assert "array.rows = 20" in msg and "at least 25" in msg and "MixedConv2d" in msg
    assert "2 input channels × a 5×5 kernel = 50 inputs" in msg
    assert type(model[0]) is nn.Linear and type(model[1]) is nn.Conv2d  # nothing replaced
    with pytest.raises(ConfigError, match="at least 3"):
        MixedConv1d(4, 4, 3, groups=2, hardware=hw({}, 2))


def test_rows_below_one_are_refused_by_the_config():
    with pytest.raises(ConfigError, match=r"array\.rows"):
        mixsig.config.validate(HardwareConfig, {"array": {"rows": 0}})


def test_monte_carlo_fast_paths_see_the_tiles():
    torch.manual_seed(11)
    layer = MixedLinear(40, 6, hardware=hw({"noise": {"sigma_lsb": 1.0}}, 16))
    model = nn.Sequential(layer, nn.Linear(6, 5))
    x = torch.rand(90, 40)
    mixsig.calibrate(model, [x])
    model.eval()
    with torch.no_grad():
        model[-1].weight.normal_(0, 10)  # predictions that vary from draw to draw
        model[-1].bias.zero_()
    assert mc._split_at_first_readout(model)[1] is layer
    with torch.no_grad():
        with noise_stream(model, 3):
            full = mc._predict_batched(model, x, 4, 32)
        with noise_stream(model, 3):
            cached = mc._predict_cached_prefix(*mc._split_at_first_readout(model), x, 4, 32)
        assert torch.equal(full, cached)
        assert (full[0] != full[1]).any()  # the draws differ: the comparison can fail
        set_sigma_lsb(model, 0.0)
        plain = mc._predict_batched(model, x, 3, 32)
        shared = mc._predict_shared_prefix(*mc._split_at_first_readout(model), x, 3, 32)
    assert torch.equal(plain, shared)
