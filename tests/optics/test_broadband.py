"""The PSF beyond the point-sampled monochromatic DOE (`mixsig.optics.broadband`,
`mixsig.optics.resample`, `mixsig.optics.psf_model`, `mixsig.optics.orders`), float64.

Closed forms: the pixel envelope of a single open DOE pixel (its far field is flat, so the
camera pixels hold the integral of sinc², in terms of the sine integral); a blazed grating's
orders at m·λf/(P·Δu) — they move with λ — with the power of the DFT of one period. Exact
identities: the resampling at λ₀ is `camera_psf`, a zero-width spectrum is the monochromatic
PSF bit for bit, the summed PSF is the weighted loop over the lines.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy.special import sici

from mixsig.optics import FourierSampling, blazed_grating, camera_psf, fraunhofer_psf
from mixsig.optics import transmission as _t
from mixsig.optics.broadband import check_layout_orders, line_psf, model_psf, window_box
from mixsig.optics.dispersion import FUSED_SILICA, dispersion_scale
from mixsig.optics.orders import check_orders, order_clearance
from mixsig.optics.psf_model import (
    POINT_SAMPLED,
    PSFModel,
    PSFModelError,
    decode_state,
    encode_state,
)
from mixsig.optics.resample import pixel_operator, resample
from mixsig.optics.spectrum import Spectrum
from mixsig.optics.tiles import TileLayout

F64 = torch.float64
LAM, FOCAL, PITCH = 532e-9, 0.2, 6e-6
EXACT = 1e-13  # relative, for identities in exact arithmetic (float64 round-off)

pytestmark = pytest.mark.usefixtures("one_thread")


def _sampling(n: int, q: int = 2, pool: int = 1) -> FourierSampling:
    sim = LAM * FOCAL / (q * n * PITCH)
    return FourierSampling(LAM, FOCAL, PITCH, n, q, None if pool == 1 else pool * sim)


def _phase(n: int, seed: int = 0) -> torch.Tensor:
    return 2 * math.pi * torch.rand(n, n, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = EXACT) -> None:
    assert float((a - b).abs().max()) <= rel * float(b.abs().max()), float((a - b).abs().max())


# -- resampling onto the design camera pixels -----------------------------------------------


@pytest.mark.parametrize("method", ["exact", "sum"])
@pytest.mark.parametrize("n, q, pool", [(16, 2, 1), (32, 2, 2), (24, 3, 3), (32, 4, 2), (16, 2, 8)])
def test_resampling_at_the_design_wavelength_is_camera_psf(n, q, pool, method):
    s = _sampling(n, q, pool)
    t = _t(_phase(n, n + q + pool))
    (y0, y1), _ = window_box(s)
    a = pixel_operator(n, q * n, pool, range(y0, y1 + 1), 1.0, method=method)
    _close(resample(fraunhofer_psf(t, q), a, a), camera_psf(t, s, method=method))


def _sinc2_integral(x0: float, x1: float) -> float:
    """∫ sinc²(x) dx from x0 to x1: F(x) = Si(2πx)/π − sin²(πx)/(π²x)."""

    def big_f(x: float) -> float:
        if x == 0:
            return 0.0
        return sici(2 * math.pi * x)[0] / math.pi - math.sin(math.pi * x) ** 2 / (math.pi**2 * x)

    return big_f(x1) - big_f(x0)


@pytest.mark.parametrize("fill", [1.0, 0.6])
@pytest.mark.parametrize("pool", [1, 2])
def test_envelope_of_one_open_pixel_is_the_integral_of_sinc_squared(fill, pool):
    """One DOE pixel open: a flat far field |h|² = 1/(M²N²) per sample, so camera pixel r holds
    it times ∫ sinc²(ff·s/M) ds over the pixel (s in samples) per axis — also beyond the
    window, where the envelope keeps falling (not periodic) while the field repeats."""
    n, q = 16, 2
    m = q * n
    t = torch.zeros(n, n, dtype=torch.complex128)
    t[n // 2, n // 2] = 1
    flat = fraunhofer_psf(t, q)
    _close(flat, torch.full_like(flat, 1 / (m * m * n * n)))
    offsets = range(-(m // pool), m // pool)  # two windows wide
    got = resample(flat, *(pixel_operator(n, m, pool, offsets, 1.0, fill_factor=fill),) * 2)
    line = [
        m
        / fill
        * _sinc2_integral(fill * (r * pool - pool / 2) / m, fill * (r * pool + pool / 2) / m)
        for r in offsets
    ]
    line = torch.tensor(line, dtype=F64)
    _close(got, line[:, None] * line[None, :] / (m * m * n * n), 1e-13)
    sampled = pixel_operator(n, m, pool, offsets, 1.0, method="sum", fill_factor=fill)
    s_pos = torch.tensor([r * pool - (pool - 1) / 2 + i for r in offsets for i in range(pool)])
    mid = (torch.sinc(fill * s_pos.to(F64) / m) ** 2).reshape(-1, pool).sum(1)  # midpoint rule
    _close(resample(flat, sampled, sampled), mid[:, None] * mid[None, :] / (m * m * n * n))


def test_window_edge_and_the_default_layouts_tile_centres():
    """sinc²(½) = 0.405 at the window edge (fill factor 1); the 16 tiles of the default layer
    (28 × 28 images, 5 × 5 kernels, N = 128, J = 128) see 0.36 at the corners, 0.91 inside."""
    assert math.sin(math.pi / 2) ** 2 / (math.pi / 2) ** 2 == pytest.approx(0.405, abs=1e-3)
    lay = TileLayout.build(16, 5, 28)
    env = [
        (math.sin(math.pi * dy / 128) / (math.pi * dy / 128)) ** 2
        * (math.sin(math.pi * dx / 128) / (math.pi * dx / 128)) ** 2
        for dy, dx in lay.offsets_px
    ]
    assert min(env) == pytest.approx(0.36, abs=5e-3) and max(env) == pytest.approx(0.91, abs=5e-3)


# -- the wavelength moves the orders; the dispersion sets their power -----------------------


def _order_power(alpha: float, period: int, order: int) -> float:
    """|c_m|² of one period of the sampled sawtooth φ_n = 2π·(n + ½)/P scaled by α."""
    c = sum(
        complex(math.cos(a), math.sin(a))
        for a in (
            alpha * 2 * math.pi * (j + 0.5) / period - 2 * math.pi * order * j / period
            for j in range(period)
        )
    )
    return abs(c / period) ** 2


@pytest.mark.parametrize("ratio", [1.0, 1.25, 0.875])
@pytest.mark.parametrize("dispersive", [False, True])
def test_a_grating_order_moves_in_proportion_to_the_wavelength(ratio, dispersive):
    """A blazed grating of period P = 8 DOE pixels (N = 64, Q = 4, M = 256): order m lies at
    x = m·λf/(P·Δu), design camera pixel m·(M/P)·λ/λ₀ — 32 at λ₀, 40 at 1.25·λ₀, 28 at
    0.875·λ₀ — and holds (λ₀/λ)²·|c_m|²/Q² (a design pixel is (λ₀/λ)² of a λ-sample's area),
    c_m the DFT of one period of α·φ; with the dispersion of fused silica α < 1 off the design
    wavelength, without it α = 1 (all the light in order 1)."""
    n, q, period = 64, 4, 8
    s = _sampling(n, q)
    lam = LAM * ratio
    alpha = dispersion_scale(FUSED_SILICA, lam, LAM) if dispersive else 1.0
    phase = blazed_grating(n, period, dtype=F64)
    plane = line_psf(phase, s, lam, alpha, fill_factor=None, method="sum")
    centre = plane.shape[-1] // 2
    pos = round(32 * ratio)
    assert int(plane[centre].argmax()) - centre == pos  # the brightest pixel: order 1
    for order in (1, 0, -1, 2):
        got = float(plane[centre, centre + order * pos])
        expected = _order_power(alpha, period, order) / (ratio * ratio * q * q)
        assert got == pytest.approx(expected, abs=1e-14)
    if dispersive and ratio != 1.0:
        assert _order_power(alpha, period, 0) > 1e-3  # the dispersion leaks light to order 0


def test_a_fractional_shift_moves_the_spot_centroid():
    """Exact pixel integration (pool 2, M = 128): order 1 of P = 8 at (M/P)·(λ/λ₀)/2 camera
    pixels, 8.8 px at λ = 1.1·λ₀ (8 at λ₀); the spot's centroid within ±4 px sits there to
    0.05 px."""
    n, q, period = 64, 2, 8
    s = _sampling(n, q, pool=2)
    for ratio, pos in ((1.0, 8.0), (1.1, 8.8)):
        plane = line_psf(blazed_grating(n, period, dtype=F64), s, ratio * LAM, fill_factor=None)
        centre = plane.shape[-1] // 2
        row = plane[centre, centre + 5 : centre + 13]  # pos ± 4
        x = torch.arange(5, 13, dtype=F64)
        assert float((row * x).sum() / row.sum()) == pytest.approx(pos, abs=0.05)


# -- the summed PSF ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["exact", "sum"])
@pytest.mark.parametrize("envelope", [True, False])
def test_the_summed_psf_is_the_weighted_loop_over_its_lines(envelope, method):
    """model_psf (all lines batched, FFT order, weights folded in) against the explicit loop of
    `line_psf` (`fraunhofer_psf` per line) with α from `dispersion_scale`; also over a box
    past the window (pixelated: the replicas)."""
    n = 32
    s = _sampling(n, 2, pool=2)
    phase = _phase(n, 3)
    spectrum = Spectrum.lines([500e-9, 532e-9, 560e-9, 600e-9], [1.0, 3.0, 2.0, 0.5])
    model = PSFModel(pixel_envelope=envelope, fill_factor=0.8, spectrum=spectrum)
    fill = 0.8 if envelope else None
    box = ((-20, 19), (-25, 3)) if envelope else None  # J = 32: rows and columns past it
    got = model_psf(phase, s, model, method=method, box=box)
    expected = sum(
        w * line_psf(phase, s, lam, dispersion_scale(FUSED_SILICA, lam, LAM),
                     fill_factor=fill, method=method, box=box)
        for lam, w in zip(spectrum.wavelengths_m, spectrum.weights)
    )  # fmt: skip
    assert got.shape == (expected.shape if envelope else (32, 32))
    _close(got, expected)


@pytest.mark.parametrize("method", ["exact", "sum"])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_a_zero_width_spectrum_is_the_monochromatic_psf_bit_for_bit(method, dtype):
    n = 32
    s = _sampling(n, 2, pool=2)
    phase = _phase(n, 4).to(dtype)
    line = Spectrum.gaussian(LAM, 0.0, 5)  # one line at λ₀
    today = camera_psf(_t(phase), s, method=method)  # the point-sampled layer before the model
    assert torch.equal(model_psf(phase, s, POINT_SAMPLED, method=method), today)
    point = PSFModel(pixel_envelope=False, spectrum=line)
    assert torch.equal(model_psf(phase, s, point, method=method), today)
    pixelated = model_psf(phase, s, PSFModel(), method=method)
    assert torch.equal(model_psf(phase, s, PSFModel(spectrum=line), method=method), pixelated)
    assert float((pixelated - today).abs().max()) > 1e-3 * float(today.max())  # not the same
    box = ((-30, 30), (-2, 40))
    assert torch.equal(
        model_psf(phase, s, PSFModel(spectrum=line), method=method, box=box),
        model_psf(phase, s, PSFModel(), method=method, box=box),
    )


def test_the_box_past_the_window_holds_the_periodic_replicas_times_the_envelope():
    """Pool 1, midpoint rule: a pixel's value is I(x)·e(x) at its centre; I repeats every
    J = M pixels, the envelope e does not. Point-sampled: zero past the window (as before)."""
    n, q = 16, 2
    s = _sampling(n, q)
    j = s.camera_pixels
    phase = _phase(n, 5)
    box = ((-j, j - 1), (-3, 3))
    plane = model_psf(phase, s, PSFModel(), method="sum", box=box)
    r = torch.arange(-j, j, dtype=F64)
    env = torch.sinc(r / j)[:, None] ** 2 * torch.sinc(torch.arange(-3, 4, dtype=F64) / j) ** 2
    point = plane / env
    _close(point[:j], point[j:])  # the replica of the window, one period up
    assert float(point[:j].min()) >= 0
    legacy = model_psf(phase, s, POINT_SAMPLED, method="sum", box=box)
    assert (
        float(legacy[: j // 2].abs().max()) == 0.0 and float(legacy[-(j // 2) :].abs().max()) == 0
    )
    assert torch.equal(
        legacy[j // 2 : j // 2 + j],
        camera_psf(_t(phase), s, method="sum")[:, j // 2 - 3 : j // 2 + 4],
    )


def test_coherent_field_envelope_and_broadband_refusal():
    n, q = 16, 2
    s = _sampling(n, q)
    m = q * n
    phase = _phase(n, 6)
    point = model_psf(phase, s, POINT_SAMPLED, coherent=True)
    assert torch.equal(point, fraunhofer_psf(_t(phase), q, coherent=True))
    k = torch.arange(m, dtype=F64) - m // 2
    env = torch.sinc(0.7 * k / m)
    field = model_psf(phase, s, PSFModel(fill_factor=0.7), coherent=True)
    _close(field, point * env[:, None] * env[None, :])
    with pytest.raises(PSFModelError, match="coherent PSF needs a monochromatic source .* 532 nm"):
        model_psf(phase, s, PSFModel(spectrum=Spectrum.lines([500e-9, 532e-9])), coherent=True)


# -- the model's settings -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.01, float("nan"), True, "1"])
def test_fill_factor_outside_zero_to_one_is_refused(bad):
    with pytest.raises(PSFModelError, match=r"fill_factor .*\(0, 1\]"):
        PSFModel(fill_factor=bad)


def test_a_model_round_trips_through_its_state_and_refuses_garbage():
    model = PSFModel(
        fill_factor=0.75,
        spectrum=Spectrum.gaussian(550e-9, 12e-9, 3),
        material={"model": "cauchy", "a": 1.45, "b_um2": 0.004, "valid_m": [4e-7, 7e-7]},
    )
    state = encode_state(model)
    assert state.dtype == torch.uint8 and state.dim() == 1
    assert decode_state(state) == model and hash(decode_state(state)) == hash(model)
    assert decode_state(encode_state(POINT_SAMPLED)) == POINT_SAMPLED
    with pytest.raises(PSFModelError, match="not JSON"):
        decode_state(torch.tensor([1, 2, 255], dtype=torch.uint8))
    with pytest.raises(PSFModelError, match="1-D uint8 tensor"):
        decode_state(torch.zeros(3))
    with pytest.raises(PSFModelError, match="format"):
        decode_state(torch.tensor(list(b'{"a": 1}'), dtype=torch.uint8))


def test_lines_check_the_material_range():
    model = PSFModel(spectrum=Spectrum.lines([150e-9, 532e-9]))
    with pytest.raises(ValueError, match=r"150 nm is outside the validity range .*0\.21–3\.71 µm"):
        model.lines(LAM)
    assert PSFModel().lines(10.6e-6) == ((10.6e-6, 1.0, 1.0),)  # monochromatic: no material


# -- the higher orders against the tile layout ----------------------------------------------


def test_at_the_design_wavelength_no_order_reaches_a_channel_of_a_layout_that_fits():
    """Every layout whose extent E fits the J camera pixels keeps every gap ≥ J − E + (k−1)//2
    ≥ 0 (pool 1, so the window period is J pixels)."""
    for channels in (1, 2, 5, 8, 16):
        for k in (1, 2, 3, 4, 5):
            for h in (4, 5, 9):
                for avoid in (False, True):
                    lay = TileLayout.build(channels, k, h, avoid_axis=avoid)
                    e = max(lay.extent_px)
                    for extra in (0, 1, 3):
                        s = _sampling((e + extra + 1) // 2)
                        gap = order_clearance(lay, s).px
                        assert gap >= s.camera_pixels - e + (k - 1) // 2 >= 0, (lay, extra)


def test_a_broadband_source_brings_an_order_into_a_channel():
    """The default layer's layout (16 tiles, 28 × 28, 5 × 5, J = 128): 2 px of clearance at λ₀;
    at 0.96·λ₀ the order (0, −1) of tile 3 (window 42.5…47.5 px, replica at −128) reaches
    channel 0 (visible −76.5…−21.5 px): (47 − 2.5 + 5 − 128)·0.96 + 76.5 = 1.14 px."""
    lay = TileLayout.build(16, 5, 28)
    s = _sampling(128, 2, pool=2)
    assert order_clearance(lay, s).px == pytest.approx(2.0, abs=1e-12)
    worst = order_clearance(lay, s, (0.96, 1.0, 1.04))
    assert -worst.px == pytest.approx((47 - 2.5 + 5 - 128) * 0.96 + 76.5, abs=1e-9)
    assert (worst.tile, worst.channel, worst.order, worst.scale) == (3, 0, (0, -1), 0.96)
    with pytest.raises(ValueError, match=r"510\.72 nm .* order \(0, -1\) of tile 3.* by 1\.14 px"):
        check_orders(lay, s, (0.96, 1.0))
    wide = PSFModel(spectrum=Spectrum.lines([0.96 * LAM, LAM]))
    with pytest.raises(ValueError, match="model_crosstalk=True with the pixel envelope"):
        check_layout_orders(lay, s, wide, crosstalk=False)
    check_layout_orders(lay, s, wide, crosstalk=True)  # the box holds the orders: modelled
    point = PSFModel(pixel_envelope=False, spectrum=wide.spectrum)
    with pytest.raises(ValueError, match="by 1.14 px"):
        check_layout_orders(lay, s, point, crosstalk=True)  # point-sampled: window only
