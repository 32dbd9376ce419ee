"""Two fabrication realities of the DOE layer (design §3): the etch-depth / wavelength phase
scale α (`OpticalConv2d(etch_scale=...)`) and the zero order it leaks onto the optical axis,
which an axis-free tile layout (`TileLayout.build(avoid_axis=True)`, `avoid_zero_order`) keeps
out of every channel.

Float64 throughout. The grating orders are compared with a closed form to 1e-12 (they are exact
in exact arithmetic: float64 FFT round-off); the zero-order checks of the layout are 1e-12 on
outputs of order 1e-2 (the delta's own FFT round-off is ~1e-16).
"""

from __future__ import annotations

import cmath
import math

import pytest
import torch
import torch.nn.functional as F
from helpers.optics import IDEAL
from helpers.optics import count_calls as _count
from helpers.optics import pad_same as _pad_same
from helpers.optics import sampling as _sampling

from mixsig.nn.optical import OpticalConv2d
from mixsig.optics import phase_scale, quantize_phase, wrap_phase
from mixsig.optics.synthesis import TileLayout, realised_psf
from mixsig.signal import set_output_quantization

F64 = torch.float64
EXACT = 1e-12


pytestmark = pytest.mark.usefixtures("one_thread")  # the module-scoped fixture of tests/conftest.py


# == 1. the etch-depth / wavelength phase scale α ==========================================

N_GRATING, Q = 32, 2


def _grating_layer(levels: int, per_level: int, **kw) -> tuple[OpticalConv2d, torch.Tensor]:
    """A DOE-mode layer whose mask is an L-level blazed grating along x: a linear ramp of period
    P = s·L pixels, quantized by the layer to the staircase φ_n = 2π·⌊(n mod P)/s⌋/L.
    Pool 1 and ``psf_method="sum"``: the camera plane is the Fraunhofer samples themselves."""
    period = per_level * levels
    r = torch.arange(N_GRATING, dtype=F64) % period
    # the ramp sits (s − 1)/2 pixels low so that rounding to the levels is floor(r/s), no ties
    ramp = 2 * math.pi * (r - (per_level - 1) / 2) / period
    layer = OpticalConv2d(
        1, 3, image_size=4, sampling=_sampling(N_GRATING, Q), hardware=IDEAL, signed=False,
        parameterisation="doe", doe_init=ramp[None, :].expand(N_GRATING, N_GRATING).clone(),
        doe_levels=levels, psf_method="sum", dtype=F64, **kw,
    )  # fmt: skip
    staircase = torch.floor(r / per_level) * (2 * math.pi / levels)
    return layer, staircase[None, :].expand(N_GRATING, N_GRATING)


def _order_powers(plane: torch.Tensor, period: int) -> dict[int, float]:
    """Q²·h_I at the orders m = −P//2 … P − P//2 − 1 (row M//2, column M//2 + m·M/P): the
    padded DFT at every Q-th sample (per axis) is the unpadded one, whose only non-zero bins
    for a P-periodic mask (N a multiple of P, uniform along y) are these."""
    m = plane.shape[-1]
    step = m // period
    c = m // 2
    return {
        order: Q * Q * float(plane[c, c + order * step])
        for order in range(-(period // 2), period - period // 2)
    }


def _order_formula(order: int, alpha: float, levels: int, per_level: int) -> float:
    """|c_m|² with c_m = (1/P)·Σ_{n<P} exp(i·α·φ_n)·exp(−2πi·m·n/P), the DFT of one period of
    the staircase (n = j·s + r): it factors exactly into
    [(1/L)·Σ_{j<L} exp(2πi·j·(α − m)/L)] · [(1/s)·Σ_{r<s} exp(−2πi·m·r/(s·L))]."""
    big_l, s = levels, per_level
    a = sum(cmath.exp(2j * math.pi * j * (alpha - order) / big_l) for j in range(big_l)) / big_l
    b = sum(cmath.exp(-2j * math.pi * order * r / (s * big_l)) for r in range(s)) / s
    return abs(a * b) ** 2


def _sinc(x: float) -> float:
    return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)


def _dirichlet2(nu: float, levels: int) -> float:
    """[sin(πν)/(L·sin(πν/L))]² = |(1/L)·Σ_j exp(2πi·j·ν/L)|² (1 at ν = 0)."""
    if abs(math.sin(math.pi * nu / levels)) < 1e-300:
        return 1.0
    return (math.sin(math.pi * nu) / (levels * math.sin(math.pi * nu / levels))) ** 2


ALPHAS = (1.0, 0.95, 0.9, 0.8, 1.1, 0.5)


@pytest.mark.parametrize("pixel_envelope", [False, True])
@pytest.mark.parametrize("per_level", [1, 2])
@pytest.mark.parametrize("levels", [2, 4, 8])
def test_grating_orders_under_etch_scale_are_the_dft_of_one_period(
    levels, per_level, pixel_envelope
):
    """The diffraction orders of an L-level blazed grating with phase scale α, through the
    layer's optics, against the DFT of one period in closed form (exact: 1e-12); the
    pixelated DOE (fill factor 1) multiplies order m, at x = m·λf/(P·Δu), by sinc²(m/P)."""
    layer, staircase = _grating_layer(levels, per_level, pixel_envelope=pixel_envelope)
    assert torch.equal(layer.doe_phase(), staircase)  # the layer's φ_fab is the staircase
    period = per_level * levels
    for alpha in ALPHAS:
        layer.set_etch_scale(alpha)
        plane = layer.camera_plane_psf().detach()
        assert plane.shape == (Q * N_GRATING, Q * N_GRATING)
        powers = _order_powers(plane, period)
        envelope = {m: _sinc(m / period) ** 2 if pixel_envelope else 1.0 for m in powers}
        for order, power in powers.items():
            expected = _order_formula(order, alpha, levels, per_level) * envelope[order]
            assert power == pytest.approx(expected, abs=EXACT), (alpha, order)
        if pixel_envelope:  # the light the envelope moves to the higher orders of the pixels
            assert float(plane.sum()) < 1 - 1e-3
            powers = {m: p / envelope[m] for m, p in powers.items()}  # the DOE's own orders
        else:
            assert float(plane.sum()) == pytest.approx(1.0, abs=EXACT)  # a lossless phase mask
        assert sum(powers.values()) == pytest.approx(1.0, abs=EXACT)  # all light in the orders
        # zero order: |(1/L)·Σ_j exp(i·α·2πj/L)|² = [sin(πα)/(L·sin(πα/L))]² for any s
        zero = abs(sum(cmath.exp(1j * alpha * 2 * math.pi * j / levels) for j in range(levels)))
        assert powers[0] == pytest.approx((zero / levels) ** 2, abs=EXACT)
        assert powers[0] == pytest.approx(_dirichlet2(alpha, levels), abs=EXACT)
        if per_level == 1:  # one pixel per level: order ±1 (mod P) is [sin π(α−1)/(L sin …)]²
            first = powers[1] if levels > 2 else powers[-1]  # L = 2: +1 ≡ −1 (window edge)
            assert first == pytest.approx(_dirichlet2(alpha - 1, levels), abs=EXACT)
        if alpha == 1.0:  # blazed and on target: no zero order at all
            assert powers[0] < 1e-25


def test_etch_scale_enters_the_realised_mode_and_not_the_ideal_kernels():
    """Kernel mode (ideal kernels): α changes nothing. Realised mode: the PSF is that of α·φ_fab."""
    torch.manual_seed(1)
    layer = OpticalConv2d(
        2, 3, image_size=6, sampling=_sampling(16), hardware=IDEAL, signed=False, dtype=F64,
        doe_levels=8,
    )  # fmt: skip
    x = torch.rand(2, 1, 6, 6, dtype=F64)
    y1 = layer.optical_forward(x)
    layer.set_etch_scale(0.8)
    assert torch.equal(layer.optical_forward(x), y1)  # kernel mode: no DOE, no α
    step = 2 * math.pi / 8
    levels = torch.randint(0, 8, (16, 16), generator=torch.Generator().manual_seed(2))
    phase = levels.to(F64) * step  # on the levels: the layer's quantizer leaves it unchanged
    with torch.no_grad():
        layer.fitted_phase_rad.copy_(phase)
        layer.realised.fill_(True)
    assert layer.mode == "realised"
    expected = realised_psf(phase_scale(phase, 0.8), layer.sampling)
    torch.testing.assert_close(layer.camera_plane_psf(), expected, atol=1e-15, rtol=0)
    windows = layer.layout.extract(expected)
    torch.testing.assert_close(
        layer.optical_forward(x), F.conv2d(_pad_same(x, 3), windows[:, None]), atol=1e-12, rtol=0
    )
    layer.set_etch_scale(1.0)
    assert torch.equal(layer.camera_plane_psf(), realised_psf(phase, layer.sampling))


@pytest.fixture(scope="module")
def gabor_doe_layer():
    """A DOE-mode layer (4 tiles, N = 32, 16 levels) initialised from tiled Gabor kernels."""
    torch.manual_seed(3)
    return OpticalConv2d(
        2, 3, image_size=6, sampling=_sampling(32), hardware=IDEAL, parameterisation="doe",
        dtype=F64,
    )  # fmt: skip


def test_zero_order_on_the_axis_grows_with_the_etch_error(gabor_doe_layer):
    layer = gabor_doe_layer
    j = layer.sampling.camera_pixels
    axis = []
    for alpha in (1.0, 0.95, 0.9, 0.8):
        layer.set_etch_scale(alpha)
        axis.append(float(layer.camera_plane_psf().detach()[j // 2, j // 2]))
    layer.set_etch_scale(1.0)
    print("axis pixel energy at α = 1, 0.95, 0.9, 0.8:", [f"{a:.2e}" for a in axis])
    assert all(a < b for a, b in zip(axis, axis[1:])), axis
    assert axis[-1] > 20 * axis[0]  # α = 0.8: the light the orders lose piles onto the axis


def test_etch_scale_one_is_bit_for_bit_the_unscaled_optics(gabor_doe_layer):
    """α = 1 computes the PSF of exactly the phase the layer used before α existed."""
    layer = gabor_doe_layer
    x = torch.rand(3, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(4))
    reference = realised_psf(quantize_phase(layer.phase_rad, 16), layer.sampling)
    assert torch.equal(layer.camera_plane_psf(), reference)
    y1 = layer(x)
    layer.set_etch_scale(0.9)
    assert not torch.equal(layer(x), y1)
    layer.set_etch_scale(1.0)
    assert torch.equal(layer(x), y1)
    # continuous phase: α = 1 uses it as is; α ≠ 1 scales the wrapped (etched) phase
    torch.manual_seed(5)
    cont = OpticalConv2d(
        1, 3, image_size=4, sampling=_sampling(12), hardware=IDEAL, parameterisation="doe",
        doe_init="random_phase", doe_levels=None, dtype=F64,
    )  # fmt: skip
    with torch.no_grad():
        cont.phase_rad.add_(4 * math.pi - 1.0)  # far outside [0, 2π)
    phi = cont.phase_rad.detach()
    assert torch.equal(cont.camera_plane_psf(), realised_psf(phi, cont.sampling))
    cont.set_etch_scale(0.9)
    expected = realised_psf(0.9 * wrap_phase(phi), cont.sampling)
    torch.testing.assert_close(cont.camera_plane_psf(), expected, atol=1e-15, rtol=0)


def test_set_etch_scale_invalidates_the_cached_otf(monkeypatch):
    torch.manual_seed(6)
    layer = OpticalConv2d(
        1, 3, image_size=4, sampling=_sampling(12), hardware=IDEAL, parameterisation="doe",
        doe_init="random_phase", doe_levels=16, dtype=F64,
    ).freeze_optics()  # fmt: skip
    otf_calls = _count(monkeypatch, "otf")
    x = torch.rand(2, 1, 4, 4, dtype=F64)
    version = layer.phase_rad._version
    y1 = layer(x)
    assert torch.equal(layer(x), y1) and otf_calls[0] == 1  # cached
    layer.set_etch_scale(0.9)  # no parameter touched
    y2 = layer(x)
    assert otf_calls[0] == 2 and not torch.allclose(y1, y2)
    assert torch.equal(layer(x), y2) and otf_calls[0] == 2  # cached again at α = 0.9
    layer.etch_scale = 1.0  # the attribute, not only the method
    assert torch.equal(layer(x), y1) and otf_calls[0] == 3
    assert layer.phase_rad._version == version


def test_etch_scale_is_not_in_the_state_dict():
    torch.manual_seed(7)
    args = dict(
        image_size=4, sampling=_sampling(12), hardware=IDEAL, parameterisation="doe",
        doe_init="random_phase", dtype=F64,
    )  # fmt: skip
    scaled = OpticalConv2d(1, 3, etch_scale=0.9, **args)
    plain = OpticalConv2d(1, 3, **args)
    assert scaled.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(scaled.state_dict())  # strict: a checkpoint either way loads
    assert plain.etch_scale == 1.0 and scaled.etch_scale == 0.9  # a property of the device
    x = torch.rand(2, 1, 4, 4, dtype=F64)
    assert torch.equal(plain.set_etch_scale(0.9)(x), scaled(x))
    assert "etch_scale=0.9" in repr(scaled) and "etch_scale=1," in repr(OpticalConv2d(1, 3, **args))


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 2.5, float("nan"), float("inf"), True, "1"])
def test_etch_scale_refuses_values_outside_zero_to_two(bad):
    with pytest.raises(ValueError, match=r"etch_scale .*\(0, 2\]"):
        OpticalConv2d(1, 3, image_size=4, hardware=IDEAL, etch_scale=bad)
    layer = OpticalConv2d(1, 3, image_size=4, hardware=IDEAL, etch_scale=2)
    assert layer.etch_scale == 2.0 and isinstance(layer.etch_scale, float)
    with pytest.raises(ValueError, match=r"etch_scale .*\(0, 2\]"):
        layer.set_etch_scale(bad)
    assert layer.etch_scale == 2.0  # unchanged by the refusal


def test_gradcheck_through_the_etch_scale():
    """phase → α·φ_fab → PSF → image → camera surrogate (noise-free, unrounded), α = 0.9."""
    torch.manual_seed(8)
    layer = OpticalConv2d(
        1, 3, image_size=4, sampling=_sampling(8), hardware=IDEAL, parameterisation="doe",
        doe_init="random_phase", doe_levels=None, dtype=F64, etch_scale=0.9,
    )  # fmt: skip
    set_output_quantization(layer, False)
    x = torch.rand(2, 1, 4, 4, dtype=F64)

    def f(phase):
        return torch.func.functional_call(layer, {"phase_rad": phase}, (x,))

    phase = layer.phase_rad.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (phase,), eps=1e-6, atol=1e-8, rtol=1e-5)


# == 2. the axis-free tile layout ==========================================================


@pytest.mark.parametrize(
    "channels, grid",
    [(1, (1, 3)), (2, (1, 3)), (3, (3, 3)), (8, (3, 3)), (9, (3, 5)), (14, (3, 5)),
     (15, (5, 5)), (16, (5, 5)), (24, (5, 5)), (25, (5, 7))],
)  # fmt: skip
def test_axis_free_grid_leaves_the_centre_slot_on_the_axis_empty(channels, grid):
    h, w, k = 6, 5, 3
    lay = TileLayout.build(channels, k, (h, w), avoid_axis=True)
    assert lay.grid == grid and lay.avoid_axis
    rows, cols = grid
    assert rows % 2 == cols % 2 == 1 and rows * cols - 1 >= channels
    assert rows == 1 or (rows - 2) * cols - 1 < channels  # the fewest rows that hold K
    py, px = lay.pitch_px
    assert (py, px) == (h + k - 1, w + k - 1)
    # every slot but the centre one, row-major, on a pitch grid centred on the axis
    centre = rows * cols // 2
    assert lay.slots == tuple(s for s in range(rows * cols) if s != centre)[:channels]
    expected = [((s // cols - rows // 2) * py, (s % cols - cols // 2) * px) for s in lay.slots]
    assert list(lay.offsets_px) == expected
    assert (0, 0) not in lay.offsets_px
    # no channel's crop holds the axis image: each tile is ≥ P ≥ H (resp. W) off the axis
    assert all(abs(dy) >= h or abs(dx) >= w for dy, dx in lay.offsets_px)
    # no window contains offset (0, 0); the axis-centred extent holds every window
    size = lay.extent_px
    assert all(e % 2 == 1 for e in size)
    mask = lay.window_mask(size)
    assert not bool(mask[size[0] // 2, size[1] // 2])
    assert int(mask.sum()) == channels * k * k  # non-overlapping windows, all inside


@pytest.mark.parametrize("k", [3, 4])
@pytest.mark.parametrize("hw", [(6, 6), (5, 7), (4, 5)])
@pytest.mark.parametrize("channels", [1, 2, 8, 16])
def test_axis_free_extract_place_round_trip(channels, hw, k):
    """`place` then `extract` is the identity, at the tightest plane (the axis-centred extent,
    odd) and one pixel more (even); the full convolutions fit the extent too."""
    lay = TileLayout.build(channels, k, hw, avoid_axis=True)
    kernels = torch.rand(channels, k, k, dtype=F64, generator=torch.Generator().manual_seed(9))
    for extra in (0, 1):
        size = (lay.extent_px[0] + extra, lay.extent_px[1] + extra)
        plane = lay.place(kernels, size)
        assert torch.equal(lay.extract(plane), kernels)
        assert float(plane[size[0] // 2, size[1] // 2]) == 0.0
        assert float(plane.sum()) == pytest.approx(float(kernels.sum()), rel=1e-14)
    for axis in (0, 1):  # full output of tile t: d_t − below … d_t + above, all within E
        h = hw[axis]
        below, above = (h - 1 - h // 2) + (k - 1 - k // 2), h // 2 + k // 2
        d = [o[axis] for o in lay.offsets_px]
        e = lay.extent_px[axis]
        assert min(d) - below >= -(e // 2) and max(d) + above <= e - 1 - e // 2


def test_default_layout_is_unchanged():
    for channels in (1, 2, 5, 8, 16):
        lay = TileLayout.build(channels, 3, (6, 5))
        assert lay == TileLayout.build(channels, 3, (6, 5), avoid_axis=False)
        assert not lay.avoid_axis and lay.slots == tuple(range(channels))
    lay = TileLayout(5, 3, (10, 10), (12, 12), (2, 3))  # positional construction still works
    assert lay == TileLayout.build(5, 3, 10) and lay.extent_px == (24, 36)


def _zero_order_changes(layer: OpticalConv2d, x: torch.Tensor) -> torch.Tensor:
    """Max |Δ output| per channel when a zero-order delta (weight 1, as much light as all the
    kernels together) is added to the camera-plane PSF on the axis."""
    base = layer.optical_forward(x)
    j = layer.sampling.camera_pixels
    original = layer.camera_plane_psf
    delta = torch.zeros(j, j, dtype=F64)
    delta[j // 2, j // 2] = 1.0
    layer.camera_plane_psf = lambda: original() + delta  # an instance attribute shadows it
    layer.invalidate_cache()
    try:
        leaked = layer.optical_forward(x)
    finally:
        del layer.camera_plane_psf
        layer.invalidate_cache()
    return (leaked - base).abs().amax(dim=(0, 2, 3))


@pytest.mark.parametrize(
    "channels, hw, k, pitch",
    [(1, (6, 5), 3, None), (2, (6, 5), 3, None), (3, (5, 5), 3, None), (8, (6, 6), 3, None),
     (5, (6, 5), 3, (6, 5)), (8, (4, 7), 4, (4, 7))],
)  # fmt: skip
def test_zero_order_reaches_no_channel_with_the_axis_free_layout(channels, hw, k, pitch):
    """With crosstalk modelled (each channel sees PSF offsets d_t ± (H − 1)), a delta on the
    axis changes no channel of the axis-free layout — at the default pitch and at pitch H
    (crosstalk between tiles, still clear of the axis) — and, with the default layout, exactly
    the channels whose tile centre is within (H − 1, W − 1) of the axis: here at least one."""
    x = torch.rand(3, 1, *hw, dtype=F64, generator=torch.Generator().manual_seed(10))
    for avoid in (False, True):
        torch.manual_seed(11)
        layer = OpticalConv2d(
            channels, k, image_size=hw, hardware=IDEAL, signed=False, dtype=F64,
            model_crosstalk=True, tile_pitch_px=pitch, avoid_zero_order=avoid,
        )  # fmt: skip
        assert layer.layout.avoid_axis == avoid
        changes = _zero_order_changes(layer, x)
        sees_axis = [
            abs(dy) <= hw[0] - 1 and abs(dx) <= hw[1] - 1 for dy, dx in layer.layout.offsets_px
        ]
        assert any(sees_axis) != avoid
        for change, sees in zip(changes.tolist(), sees_axis):
            if sees:  # the input image lands on part of the channel: values ~U(0, 1)
                assert change > 0.1, changes
            else:
                assert change < EXACT, changes


@pytest.mark.parametrize("crosstalk", [False, True])
@pytest.mark.parametrize("signed", [False, True])
def test_axis_free_layer_is_still_a_multichannel_conv2d(signed, crosstalk):
    """Kernel mode with the axis-free layout: optical channel t = conv2d with kernel t."""
    h, w, k = 7, 6, 4
    torch.manual_seed(12)
    layer = OpticalConv2d(
        3, k, image_size=(h, w), hardware=IDEAL, signed=signed, dtype=F64,
        model_crosstalk=crosstalk, avoid_zero_order=True,
    )  # fmt: skip
    assert layer.layout.grid == (3, 3)  # 3 or 6 optical channels
    x = torch.rand(2, 1, h, w, dtype=F64, generator=torch.Generator().manual_seed(13))
    kernels = layer.optical_kernels().detach()
    expected = F.conv2d(_pad_same(x, k), kernels[:, None])
    torch.testing.assert_close(layer.optical_forward(x), expected, atol=1e-12, rtol=0)
    plane = layer.camera_plane_psf().detach()
    j = plane.shape[-1]
    assert float(plane[j // 2, j // 2]) == 0.0
    r = repr(layer)
    assert "avoid_zero_order=True" in r and "tiles=3x3" in r


def test_axis_free_layer_fits_its_default_sampling():
    """Even and odd H and k: `default_sampling` of the axis-centred extent holds every window,
    and a DOE-mode layer with real optics and an etch error runs on it."""
    for hw, k in (((6, 6), 4), ((5, 5), 3), ((6, 5), 3), ((28, 28), 5)):
        layer = OpticalConv2d(2, k, image_size=hw, hardware=IDEAL, avoid_zero_order=True)
        assert layer.layout.grid == (3, 3)  # 4 optical channels (signed pairs)
        j = layer.sampling.camera_pixels
        assert max(layer.layout.extent_px) <= j
        layer.layout.window_index((j, j))  # fits
        assert layer(torch.rand(1, 1, *hw)).shape == (1, 2, *hw)
    torch.manual_seed(14)
    layer = OpticalConv2d(
        1, 3, image_size=4, hardware=IDEAL, parameterisation="doe", doe_init="random_phase",
        avoid_zero_order=True, etch_scale=0.9, model_crosstalk=True,
    )  # fmt: skip
    assert layer(torch.rand(2, 1, 4, 4)).shape == (2, 1, 4, 4)


def test_axis_free_layout_refuses_a_grid_without_a_free_centre():
    with pytest.raises(ValueError, match="odd × odd"):
        TileLayout(5, 3, (6, 6), (8, 8), (2, 3), True)
    with pytest.raises(ValueError, match="odd × odd"):
        TileLayout(9, 3, (6, 6), (8, 8), (3, 3), True)  # 9 tiles, 8 free slots
    assert TileLayout(8, 3, (6, 6), (8, 8), (3, 3), True) == TileLayout.build(
        8, 3, 6, 8, avoid_axis=True
    )
