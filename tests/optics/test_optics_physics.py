"""The analytic checks of design §3 for `mixsig.optics` (float64; tolerances stated per test).

Every tolerance is derived from the discretisation (or is a few hundred ulps where the result
is exact in exact arithmetic), and each test also checks something that a wrong convention
(a one-pixel shift, a missing flip, a wrong normalisation) would violate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mixsig.optics import (
    FourierSampling,
    angular_spectrum,
    asm_transfer,
    blazed_grating,
    camera_psf,
    circular_aperture,
    fast_size,
    fft_convolve,
    fft_convolve_otf,
    four_f,
    fraunhofer_psf,
    gaussian_aperture,
    height_to_phase,
    otf,
    pad_center,
    phase_ramp,
    phase_scale,
    phase_to_height,
    pixel_integrate,
    quantize_phase,
    sinc_envelope,
    square_aperture,
    sum_pool,
    transmission,
    wrap_phase,
)

F64 = torch.float64
EXACT = 1e-12  # results that are identities in exact arithmetic: float64 FFT round-off
# Chang et al. 2018: 532 nm, f = 200 mm, 6 µm DOE pixels (window λf/Δu = 17.73 mm)
LAM, FOCAL, PITCH = 532e-9, 0.2, 6e-6


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These are tiny FFTs: with 2 OpenMP threads on a busy 2-core machine each one can wait a
    whole scheduler slice (~15 ms) for the second thread. One thread, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sampling(n: int, q: int, camera_pitch_m: float | None = None) -> FourierSampling:
    return FourierSampling(LAM, FOCAL, PITCH, n, q, camera_pitch_m)


def _random_t(n: int, seed: int, amplitude: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    phi = 2 * math.pi * torch.rand(n, n, generator=g, dtype=F64)
    amp = torch.rand(n, n, generator=g, dtype=F64) if amplitude else None
    return transmission(phi, amp)


def _dirichlet(k: torch.Tensor, width: int, m: int) -> torch.Tensor:
    """|Σ_{j<w} exp(−i2πkj/M)| / w: the normalised far field of w pixels along one axis."""
    out = torch.ones_like(k)
    nz = k != 0
    out[nz] = torch.sin(math.pi * k[nz] * width / m) / (width * torch.sin(math.pi * k[nz] / m))
    return out.abs()


def _point_reflect(x: torch.Tensor) -> torch.Tensor:
    """out[k] = x[(2·(M//2) − k) mod M] on both of the last two axes."""
    for dim in (-2, -1):
        m = x.shape[dim]
        idx = (2 * (m // 2) - torch.arange(m)) % m
        x = x.index_select(dim, idx)
    return x


# --- 1. square aperture: sinc², zeros at mλf/a ---------------------------------------------


def test_square_aperture_sinc_zeros_in_metres_and_dirichlet_profile():
    n, w, q = 64, 16, 4
    s = _sampling(n, q)
    m, c = s.fft_size, s.fft_size // 2
    psf = fraunhofer_psf(square_aperture(n, w, dtype=F64), q)
    peak = psf[c, c]
    a_m = w * s.doe_pitch_m
    for order in (1, 2, 3):
        x_m = order * LAM * FOCAL / a_m  # zero of sinc²(x·a/(λf))
        k = x_m / s.sim_pitch_m
        assert abs(k - round(k)) < 1e-9  # the chosen numbers put the zeros on the grid
        k = round(k)
        assert psf[c, c + k] < 1e-3 * peak and psf[c + k, c] < 1e-3 * peak
        assert psf[c, c - k] < 1e-3 * peak
        # the zero is *at* that sample: one sample off, sinc²(m ± 1/16) ≥ 4.3e-4 of the peak
        assert psf[c, c + k - 1] > 1e-4 * peak and psf[c, c + k + 1] > 1e-4 * peak
    # pixelated aperture: exactly the Dirichlet kernel (2-D separable), absolute normalisation
    k = torch.arange(m, dtype=F64) - c
    d = _dirichlet(k, w, m)
    expected = (w * w / n / m) ** 2 * (d[:, None] * d[None, :]) ** 2
    assert torch.allclose(psf, expected, rtol=0, atol=EXACT * float(peak))
    # continuous aperture: sinc². Without the pixel envelope the DFT of w point samples deviates
    # by the factor ((πk/M)/sin(πk/M))² ≤ 1 + (π/w)²/3 = 1.013 inside the main lobe |k| < M/w;
    # with the envelope (square DOE pixels) the pixelated aperture *is* the continuous one.
    lobe = k.abs() < m / w
    sinc2 = torch.sinc(k * w / m) ** 2
    ratio = psf[c, lobe] / peak / sinc2[lobe]
    bound = (math.pi / w) ** 2 / 3 * 1.01
    assert float((ratio - 1).max()) <= bound and float((ratio - 1).min()) >= 0
    assert float((ratio - 1).max()) > bound / 2  # the pixelation effect is really there
    env = fraunhofer_psf(square_aperture(n, w, dtype=F64), q, pixel_envelope=True)
    assert torch.allclose(env[c] / env[c, c], sinc2, rtol=0, atol=EXACT)


# --- 2. circular aperture: Airy zero at 1.2197 λf/D -----------------------------------------

AIRY_ZERO = 3.831705970207512 / math.pi  # j_{1,1}/π = 1.21967


def test_circular_aperture_airy_first_zero():
    n, diameter, q = 64, 60, 16
    s = _sampling(n, q)
    c = s.fft_size // 2
    aperture = circular_aperture(n, diameter, supersample=16, dtype=F64)
    field = fraunhofer_psf(aperture, q, coherent=True)
    # a centred symmetric aperture has a real field: its first sign change along +x is the
    # first zero of the Airy pattern (the first minimum of the radial intensity profile)
    assert float(field.imag.abs().max()) < EXACT * float(field.real.abs().max())
    profile = field.real[c, c:]
    k = int(torch.nonzero(profile < 0)[0])
    xs = np.arange(k - 2, k + 2)
    cubic = np.polyfit(xs, profile[k - 2 : k + 2].numpy(), 3)
    root = [r.real for r in np.roots(cubic) if abs(r.imag) < 1e-9 and k - 1 <= r.real <= k][0]
    d_m = diameter * s.doe_pitch_m
    zero_units = root * s.sim_pitch_m / (LAM * FOCAL / d_m)  # in λf/D
    # one sim pixel is D/M = 0.0037 λf/D; cubic interpolation is good to ~1e-6 of that, and the
    # 16×16 area-weighted disc edge shifts the zero by ~7e-5 λf/D (measured: 1.21974): 1e-3.
    assert abs(zero_units - AIRY_ZERO) < 1e-3
    # the same along y, and the intensity minimum really is ~0 there
    assert torch.allclose(field.real[c:, c], profile, rtol=0, atol=EXACT)
    intensity = field.abs() ** 2
    assert intensity[c, c + round(root)] < 1e-3 * intensity[c, c]


# --- 3. flat-mask 4f returns the inverted input; which coordinates the camera is in --------


@pytest.mark.parametrize("m", [24, 25])
def test_flat_mask_4f_point_reflects_the_input(m):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(m, m, generator=g, dtype=F64) + 1j * torch.rand(m, m, generator=g)
    image[3, 5] = 7.0  # asymmetric beyond doubt
    out = four_f(image, torch.ones(m, m, dtype=F64))
    expected = _point_reflect(image)
    assert torch.allclose(out, expected, rtol=0, atol=1e-10)
    assert out[m - 1 - 3 if m % 2 else m - 3, m - 1 - 5 if m % 2 else m - 5] == pytest.approx(7.0)
    assert not torch.allclose(out, image, atol=1e-3)


def test_incoherent_4f_camera_is_point_reflected_correlation_with_the_psf():
    """Σ over point sources of |4f(δ)|² = point_reflect(conv2d(image, weight=h_I)) (periodic)."""
    n, q = 12, 2
    m, c = n * q, n * q // 2
    t = _random_t(n, seed=2, amplitude=True)
    mask = pad_center(t, (m, m))
    g = torch.Generator().manual_seed(3)
    image = torch.rand(m, m, generator=g, dtype=F64)
    deltas = torch.eye(m * m, dtype=F64).reshape(m * m, m, m)
    camera = (image.reshape(-1, 1, 1) * four_f(deltas, mask).abs() ** 2).sum(0)
    # four_f is unitary: a centred point source gives h_c·N/M, so the intensity scales (N/M)²
    psf = fraunhofer_psf(t, q) * (n / m) ** 2
    padded = F.pad(image[None, None], (c, m - 1 - c, c, m - 1 - c), mode="circular")
    correlation = F.conv2d(padded, psf[None, None])[0, 0]
    assert torch.allclose(camera, _point_reflect(correlation), rtol=0, atol=EXACT)
    # and a point source at input offset +s lands the (unflipped) PSF centre at −s
    s = (2, 5)
    one = torch.zeros(m, m, dtype=F64)
    one[c + s[0], c + s[1]] = 1
    spot = four_f(one, mask).abs() ** 2
    assert torch.allclose(spot, torch.roll(psf, (-s[0], -s[1]), (0, 1)), rtol=0, atol=EXACT)


# --- 4. Parseval / energy conservation ------------------------------------------------------


@pytest.mark.parametrize("q", [2, 3, 4])
def test_parseval_coherent_and_incoherent(q):
    t = _random_t(32, seed=4, amplitude=True)
    eta = float((t.abs() ** 2).sum()) / 32**2
    h_c = fraunhofer_psf(t, q, coherent=True)
    assert float((h_c.abs() ** 2).sum()) == pytest.approx(eta, abs=EXACT)
    assert torch.allclose(fraunhofer_psf(t, q), h_c.abs() ** 2, rtol=0, atol=EXACT)
    phase_only = fraunhofer_psf(_random_t(32, seed=5), q)
    assert float(phase_only.sum()) == pytest.approx(1.0, abs=EXACT)
    batch = fraunhofer_psf(torch.stack([t, _random_t(32, seed=6)]), q)  # batch dims in front
    assert batch.shape == (2, 32 * q, 32 * q)
    assert torch.allclose(batch[0], fraunhofer_psf(t, q), rtol=0, atol=EXACT)


# --- 5. real, non-negative; Σ PSF = throughput ----------------------------------------------


def test_psf_and_output_real_nonnegative_and_throughput_is_open_fraction():
    n, w = 32, 11
    aperture = square_aperture(n, w, dtype=F64)
    t = aperture * _random_t(n, seed=7)
    psf = fraunhofer_psf(t, 2)
    assert not psf.is_complex() and float(psf.min()) >= 0
    assert float(psf.sum()) == pytest.approx(w * w / n**2, abs=EXACT)  # η = open fraction
    disc = circular_aperture(n, 20.5, supersample=4, dtype=F64)
    assert float(fraunhofer_psf(disc, 2).sum()) == pytest.approx(
        float((disc**2).sum()) / n**2, abs=EXACT
    )
    images = torch.rand(3, 2, 20, 17, dtype=F64)
    out = fft_convolve(images, psf, mode="full")
    assert not out.is_complex()
    # FFT round-off can put −1e-17·max on an exact zero; anything below −1e-12·max is a bug
    assert float(out.min()) >= -1e-12 * float(out.max())
    # total light: Σ out = Σ image · Σ psf (full mode keeps every product)
    assert torch.allclose(out.sum((-2, -1)), images.sum((-2, -1)) * psf.sum(), rtol=1e-12)


# --- 6. shift invariance and phase-ramp steering ---------------------------------------------


def test_fft_convolve_is_shift_invariant():
    g = torch.Generator().manual_seed(8)
    image = torch.zeros(1, 1, 24, 24, dtype=F64)
    image[..., 4:14, 3:12] = torch.rand(10, 9, generator=g, dtype=F64)
    psf = torch.rand(5, 6, generator=g, dtype=F64)
    out = fft_convolve(image, psf, mode="full")
    shifted = fft_convolve(torch.roll(image, (5, 7), (-2, -1)), psf, mode="full")
    assert torch.allclose(shifted, torch.roll(out, (5, 7), (-2, -1)), rtol=0, atol=EXACT)


@pytest.mark.parametrize("shift_px", [(0, 3), (-5, 2), (7, -11)])
def test_phase_ramp_moves_psf_by_whole_sim_pixels(shift_px):
    n, q = 32, 4
    s = _sampling(n, q)
    c = s.fft_size // 2
    aperture = circular_aperture(n, 28, dtype=F64)
    d_m = (shift_px[0] * s.sim_pitch_m, shift_px[1] * s.sim_pitch_m)
    ramp = phase_ramp(n, d_m, wavelength_m=LAM, focal_length_m=FOCAL, pitch_m=PITCH, dtype=F64)
    flat = fraunhofer_psf(aperture + 0j, q)
    moved = fraunhofer_psf(transmission(wrap_phase(ramp), aperture), q)
    # a ramp of whole sim pixels is an exact cyclic shift of the sampled PSF (d = λf∇φ/2π)
    assert torch.allclose(moved, torch.roll(flat, shift_px, (0, 1)), rtol=0, atol=EXACT)
    peak = divmod(int(moved.argmax()), s.fft_size)
    assert peak == (c + shift_px[0], c + shift_px[1])


@pytest.mark.parametrize("shift_px", [(0.3, -2.75), (1.5, 0.125)])
def test_phase_ramp_moves_centroid_by_fractional_d(shift_px):
    n, q = 32, 4
    s = _sampling(n, q)
    m, c = s.fft_size, s.fft_size // 2
    aperture = gaussian_aperture(n, n / 6, dtype=F64)
    d_m = (shift_px[0] * s.sim_pitch_m, shift_px[1] * s.sim_pitch_m)
    ramp = phase_ramp(n, d_m, wavelength_m=LAM, focal_length_m=FOCAL, pitch_m=PITCH, dtype=F64)
    psf = fraunhofer_psf(transmission(ramp, aperture), q)
    k = torch.arange(m, dtype=F64) - c
    for axis, d in ((0, shift_px[0]), (1, shift_px[1])):
        line = psf.sum(1 - axis)
        # (a) circular centroid: the phase of the first DFT harmonic of a band-limited periodic
        # intensity moves by exactly 2πd/M — exact for any d (round-off only)
        harmonic = (line * torch.exp(2j * math.pi * k / m)).sum()
        assert float(torch.angle(harmonic)) * m / (2 * math.pi) == pytest.approx(d, abs=1e-9)
        # (b) plain centroid in metres: the Gaussian-apodised PSF (σ ≈ 3.8 sim px) is compact,
        # so its truncated tails (amplitude e^-9 at the DOE edge) and the periodic wrap move
        # it by < 1e-6 px; we allow 1e-4 px
        centroid_m = float((line * k).sum() / line.sum()) * s.sim_pitch_m
        assert centroid_m == pytest.approx(d_m[axis], abs=1e-4 * s.sim_pitch_m)


# --- 7. fft_convolve == conv2d with the flipped PSF -----------------------------------------


def _same_pad(kh: int, kw: int) -> tuple[int, int, int, int]:
    """F.pad widths that make conv2d put the PSF centre (kh//2, kw//2) on the source pixel."""
    return (kw - 1 - kw // 2, kw // 2, kh - 1 - kh // 2, kh // 2)


@pytest.mark.parametrize("kh, kw", [(1, 1), (3, 3), (4, 5), (6, 2), (7, 8)])
def test_fft_convolve_equals_conv2d_with_flipped_psf(kh, kw):
    g = torch.Generator().manual_seed(9)
    b, c_in, k_out, h, w = 2, 3, 4, 13, 10
    images = torch.rand(b, c_in, h, w, generator=g, dtype=F64)
    psf = torch.rand(k_out, c_in, kh, kw, generator=g, dtype=F64)
    weight = torch.flip(psf, (-2, -1))
    # full: every (C, K) pair by broadcasting, summed over C = a multi-channel conv2d
    full = fft_convolve(images[:, None], psf, mode="full").sum(2)
    ref = F.conv2d(images, weight, padding=(kh - 1, kw - 1))
    assert full.shape == ref.shape == (b, k_out, h + kh - 1, w + kw - 1)
    assert torch.allclose(full, ref, rtol=0, atol=1e-10)
    # same: PSF centre (kh//2, kw//2) on the source pixel = asymmetric padding for even sizes
    same = fft_convolve(images[:, None], psf, mode="same").sum(2)
    padded = F.pad(images, _same_pad(kh, kw))
    assert torch.allclose(same, F.conv2d(padded, weight), rtol=0, atol=1e-10)
    # depthwise broadcasting and OTF reuse give the same numbers
    one = psf[:, 0]  # (K, kh, kw) with single-channel images → K channels
    direct = fft_convolve(images[:, :1], one)
    cached = fft_convolve_otf(images[:, :1], otf(one, (h, w)))
    assert torch.allclose(direct, cached, rtol=0, atol=0)
    assert torch.allclose(
        direct,
        F.conv2d(F.pad(images[:, :1], _same_pad(kh, kw)), torch.flip(one, (-2, -1))[:, None]),
        atol=1e-10,
    )


def test_point_source_lands_psf_centre_on_its_pixel():
    image = torch.zeros(1, 1, 9, 12, dtype=F64)
    image[..., 4, 7] = 1
    psf = torch.zeros(4, 6, dtype=F64)
    psf[2, 3] = 1  # the centre (h//2, w//2)
    out = fft_convolve(image, psf)
    assert divmod(int(out.argmax()), 12) == (4, 7)


def test_fast_size_is_five_smooth_and_minimal():
    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    for n in range(1, 400):
        f = fast_size(n)
        assert f >= n and smooth(f)
        assert all(not smooth(k) for k in range(n, f))


# --- 8. L-level grating efficiency sinc²(1/L); etch-depth error ----------------------------


def _orders(phase: torch.Tensor, q: int, period_px: int, pixel_envelope: bool = False):
    """Power fraction of orders −P/2…P/2 of an r × n grating (period P along x).

    The padded DFT at every Q-th sample equals the unpadded DFT, whose bins are the grating
    orders; that sub-grid holds η/Q² of Σ h_I, hence the factor Q².
    """
    n = phase.shape[-1]
    psf = fraunhofer_psf(transmission(phase), q, pixel_envelope=pixel_envelope)
    row, c = psf.shape[-2] // 2, psf.shape[-1] // 2
    step = q * n // period_px
    cols = c + step * torch.arange(-(period_px // 2), period_px - period_px // 2)
    return q * q * psf[row, cols], period_px // 2  # (powers, index of order 0)


@pytest.mark.parametrize("levels, expected", [(2, 0.405), (4, 0.811), (8, 0.950), (16, 0.987)])
def test_quantized_blazed_grating_first_order_efficiency(levels, expected):
    period = 256  # the continuous sawtooth, 256 pixels per period, quantized to L equal steps
    # 8 rows suffice: the grating is uniform along y (all its y light is in row M//2)
    phase = quantize_phase(blazed_grating(256, period, dtype=F64)[:8], levels)
    assert len(torch.unique(phase)) == levels
    powers, zero = _orders(phase, 2, period)
    first = float(powers[zero + 1] / powers.sum())
    theory = float(torch.sinc(torch.tensor(1 / levels, dtype=F64)) ** 2)
    assert theory == pytest.approx(expected, abs=5e-4)  # the design's rounded numbers
    # the staircase is sampled at 256 points per period: its DFT first order exceeds the
    # continuous one by 1/sinc²(1/256) − 1 = 5e-5 (the pixel envelope): compare to 1e-3 ...
    assert first == pytest.approx(theory, abs=1e-3)
    # ... and with the pixel envelope the pixelated staircase *is* the continuous one: exact
    powers_env, _ = _orders(phase, 2, period, pixel_envelope=True)
    assert float(powers_env[zero + 1]) == pytest.approx(theory, abs=EXACT)
    # one DOE pixel per level (period L): the DFT puts everything into order +1, and the
    # pixel envelope of the real pixelated element gives sinc²(1/L) again
    phase_l = wrap_phase(blazed_grating(64, levels, dtype=F64)[:8] - math.pi / levels)
    q_l = quantize_phase(phase_l, levels)
    assert torch.allclose(q_l, phase_l, atol=1e-12)
    p_l, z_l = _orders(q_l, 2, levels)
    first_l = (z_l + 1) % levels  # for L = 2 order +1 is the window edge, the same bin as −1
    assert float(p_l[first_l]) == pytest.approx(1.0, abs=EXACT)
    p_env, _ = _orders(q_l, 2, levels, pixel_envelope=True)
    assert float(p_env[first_l]) == pytest.approx(theory, abs=EXACT)


def test_etch_depth_error_moves_light_to_zero_order():
    alpha, period = 0.9, 256
    phase = phase_scale(blazed_grating(256, period, dtype=F64)[:8], alpha)
    powers, zero = _orders(phase, 2, period)
    sinc2 = lambda x: math.sin(math.pi * x) ** 2 / (math.pi * x) ** 2
    for order, continuous in ((1, sinc2(1 - alpha)), (0, sinc2(alpha))):  # 0.9675, 0.0120
        # exact for a phase sampled at P pixel centres: [sin(πν)/(P·sin(πν/P))]², ν = α − m
        nu = alpha - order
        sampled = (math.sin(math.pi * nu) / (period * math.sin(math.pi * nu / period))) ** 2
        assert float(powers[zero + order]) == pytest.approx(sampled, abs=EXACT)
        # the continuous sinc²(m − α) differs from it by ≤ (π/P)²/3 = 5e-5 relative
        assert float(powers[zero + order]) == pytest.approx(continuous, abs=1e-3)
    assert float(powers.sum()) == pytest.approx(1.0, abs=EXACT)


# --- 9. angular spectrum ---------------------------------------------------------------------

ASM_LAM, ASM_DX, ASM_N, W0 = 0.5e-6, 2e-6, 128, 20e-6
Z_R = math.pi * W0**2 / ASM_LAM  # 2.51 mm


def _gaussian_beam() -> torch.Tensor:
    x = (torch.arange(ASM_N, dtype=F64) - ASM_N // 2) * ASM_DX
    return torch.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / W0**2).to(torch.complex128)


def test_asm_zero_distance_is_identity_and_composes():
    beam = _gaussian_beam()
    assert torch.allclose(angular_spectrum(beam, ASM_DX, ASM_LAM, 0.0), beam, rtol=0, atol=EXACT)
    z1, z2 = 0.7 * Z_R, 0.9 * Z_R
    two = angular_spectrum(angular_spectrum(beam, ASM_DX, ASM_LAM, z1), ASM_DX, ASM_LAM, z2)
    one = angular_spectrum(beam, ASM_DX, ASM_LAM, z1 + z2)
    # the transfer functions multiply exactly; the only loss is cropping after z1: the beam
    # (w = 1.22·w0 = 24 µm) has amplitude exp(−(128/24)²) ≈ 4e-13 at the window edge, and its
    # spectrum (1/e at 16 mm⁻¹) ends far inside the band limit (288 mm⁻¹) → measured 3e-12
    assert float((two - one).abs().max()) < 1e-10
    assert one.dtype == torch.complex128
    assert angular_spectrum(beam.to(torch.complex64), ASM_DX, ASM_LAM, z1).dtype == (
        torch.complex64
    )


@pytest.mark.parametrize("z_over_zr", [0.5, 1.0, 2.0])
def test_asm_gaussian_beam_width_follows_w_of_z(z_over_zr):
    beam = _gaussian_beam()
    out = angular_spectrum(beam, ASM_DX, ASM_LAM, z_over_zr * Z_R)
    x = (torch.arange(ASM_N, dtype=F64) - ASM_N // 2) * ASM_DX
    intensity = out.abs() ** 2
    for axis in (0, 1):
        line = intensity.sum(axis) / intensity.sum()
        width = 2 * math.sqrt(float((line * x**2).sum()))  # I ∝ exp(−2x²/w²): w = 2σ
        # paraxial theory; the non-paraxial and sampling errors are ~3e-5 (measured): 1 %
        assert width == pytest.approx(W0 * math.sqrt(1 + z_over_zr**2), rel=0.01)
    # energy is conserved while the beam stays in the window (edge loss 2e-8 at 2 zR)
    assert float(intensity.sum() / (beam.abs() ** 2).sum()) == pytest.approx(1, abs=1e-6)


def test_asm_band_limit_and_evanescent_cut():
    """Matsushima–Shimobaba: on the 2S-wide padded grid keep |f_x|, |f_y| ≤ 1/(λ√((z/S)²+1))."""
    n, z = 64, 0.005  # S = 128 µm → f_limit = 51.2 mm⁻¹ (grid max 250 mm⁻¹)
    transfer = asm_transfer((2 * n, 2 * n), ASM_DX, ASM_LAM, z)
    f = torch.fft.fftfreq(2 * n, d=ASM_DX, dtype=F64)
    limit = 1 / (ASM_LAM * math.sqrt((z / (n * ASM_DX)) ** 2 + 1))
    inside = (f.abs()[:, None] <= limit) & (f.abs()[None, :] <= limit)
    # |f| ≤ 51.2 mm⁻¹ on the padded 3.91 mm⁻¹ grid: 13 bins each side (Δf of the unpadded
    # grid would give 25.6 mm⁻¹: 6 bins)
    assert int(inside.sum()) == 27**2
    assert torch.equal(transfer.abs() > 0.5, inside)
    assert torch.allclose(transfer[inside].abs(), torch.ones(27**2, dtype=F64), atol=EXACT)
    free = asm_transfer((2 * n, 2 * n), ASM_DX, ASM_LAM, z, band_limit=False)
    assert bool((free.abs() > 0.5).all())  # dx = 4λ: no evanescent frequencies on this grid
    # a grid finer than λ/√2 has evanescent corners: 0 for z ≠ 0, but z = 0 is the identity
    fine = asm_transfer((32, 32), 0.2e-6, ASM_LAM, 1e-6, band_limit=False)
    assert float(fine[16, 16].abs()) == 0 and float(fine[0, 0].abs()) == 1
    assert bool((asm_transfer((32, 32), 0.2e-6, ASM_LAM, 0.0) == 1).all())
    # angular_spectrum applies it: far outside the limit the propagated noise is ~empty
    g = torch.Generator().manual_seed(10)
    noise = torch.randn(n, n, generator=g, dtype=F64) + 0j
    out_spectrum = torch.fft.fft2(
        pad_center(angular_spectrum(noise, ASM_DX, ASM_LAM, z), (2 * n, 2 * n))
    ).abs()
    free_out = angular_spectrum(noise, ASM_DX, ASM_LAM, z, band_limit=False)
    free_spectrum = torch.fft.fft2(pad_center(free_out, (2 * n, 2 * n))).abs()
    far = (f.abs()[:, None] > 3 * limit) | (f.abs()[None, :] > 3 * limit)
    # cropping back to n × n re-spreads the kept band a little: < 3 % of the unlimited power
    assert float(out_spectrum[far].sum()) < 0.03 * float(free_spectrum[far].sum())


# --- 10. doubling the padding ---------------------------------------------------------------


def test_padding_doubled_changes_nothing():
    n = 16
    t = _random_t(n, seed=11)  # a speckle PSF: the broadest intensity spectrum, worst case
    p2, p4 = fraunhofer_psf(t, 2), fraunhofer_psf(t, 4)
    c2, c4 = n, 2 * n
    # (a) point samples: Q = 2 samples are every other Q = 4 sample (×4 for the density)
    idx = c4 + 2 * (torch.arange(2 * n) - c2)
    assert torch.allclose(p2, 4 * p4[idx[:, None], idx[None, :]], rtol=0, atol=EXACT)
    # (b) camera pixels (pitch = 1 or 2 sim pixels at Q = 2): exact pixel integration agrees at
    # Q = 2, 4, 8 to round-off — the intensity is band-limited and Q ≥ 2 samples it fully
    for pool in (1, 2):
        cam_pitch = pool * _sampling(n, 2).sim_pitch_m
        ref = camera_psf(t, _sampling(n, 2, cam_pitch))
        for q in (4, 8):
            s = _sampling(n, q, cam_pitch)
            assert s.pool == pool * q // 2
            out = camera_psf(t, s)
            assert torch.allclose(out, ref, rtol=0, atol=EXACT * float(ref.max()))
            assert float(out.sum()) == pytest.approx(1.0, abs=EXACT)


@pytest.mark.parametrize("q", [32])
def test_sum_pooling_converges_as_one_over_q_squared(q):
    """Sum pooling is the midpoint rule: the change when Q doubles falls 4× per doubling and is
    < 1e-3 (relative L1) only from Q ≈ 32 for a speckle PSF (0.09 at Q = 2 → 4)."""
    n = 16
    t = _random_t(n, seed=11)
    cam_pitch = _sampling(n, 2).sim_pitch_m  # Nyquist pitch of the intensity
    exact = camera_psf(t, _sampling(n, 2, cam_pitch))
    errors = []
    for qq in (4, 8, q):
        approx = camera_psf(t, _sampling(n, qq, cam_pitch), method="sum")
        errors.append(float((approx - exact).abs().sum() / exact.abs().sum()))
    assert errors[0] > 1e-2  # the midpoint error is real at small Q
    assert errors[0] / errors[1] == pytest.approx(4, rel=0.1)  # O(1/Q²)
    assert errors[-1] < 1e-3


@pytest.mark.parametrize("camera_factor", [1, 2, 3, 4])
@pytest.mark.parametrize("method", ["exact", "sum"])
def test_camera_pixel_grid_is_centred_on_the_axis(camera_factor, method):
    n, q = 20, 3
    s = _sampling(n, q, camera_factor * _sampling(n, q).sim_pitch_m)
    psf = camera_psf(square_aperture(n, 9, dtype=F64) + 0j, s, method=method)
    j = s.camera_pixels
    assert psf.shape == (j, j)
    centre = j // 2
    assert divmod(int(psf.argmax()), j) == (centre, centre)
    half = min(centre, j - 1 - centre)
    r = torch.arange(-half, half + 1) + centre
    # symmetric aperture (odd width) → PSF symmetric about the camera pixel J//2
    line = psf[centre, r]
    assert torch.allclose(line, torch.flip(line, (0,)), rtol=0, atol=EXACT)


# --- 11. gradcheck: phase → PSF → image → camera surrogate ----------------------------------


@pytest.mark.parametrize("method", ["direct", "camera"])
def test_gradcheck_phase_to_camera(method):
    n, q = 8, 2
    g = torch.Generator().manual_seed(12)
    phase = (2 * math.pi * torch.rand(n, n, generator=g, dtype=F64)).requires_grad_()
    aperture = circular_aperture(n, 7.5, supersample=4, dtype=F64)
    image = torch.rand(1, 1, 5, 6, generator=g, dtype=F64)
    s = _sampling(n, q, 2 * _sampling(n, q).sim_pitch_m)

    def forward(phi: torch.Tensor) -> torch.Tensor:
        t = transmission(phi, aperture)
        if method == "direct":
            psf = fraunhofer_psf(t, q, offset_px=s.sim_offset_px, pixel_envelope=True)
            psf = sum_pool(psf, s.pool)
        else:
            psf = camera_psf(t, s, method="exact")
        camera = fft_convolve(image, psf, mode="same")
        return F.softplus(50 * camera)  # a smooth, nonlinear camera surrogate

    assert torch.autograd.gradcheck(forward, (phase,), eps=1e-6, atol=1e-7)


def test_gradcheck_angular_spectrum_and_quantizer_ste():
    n = 8
    g = torch.Generator().manual_seed(13)
    phase = torch.rand(n, n, generator=g, dtype=F64).requires_grad_()
    f = lambda p: angular_spectrum(transmission(p), 4e-6, 0.5e-6, 1e-4).abs() ** 2
    assert torch.autograd.gradcheck(f, (phase,), eps=1e-6, atol=1e-7)
    q = quantize_phase(phase, 4)
    q.sum().backward()
    assert torch.equal(phase.grad, torch.ones_like(phase))  # straight-through


# --- 12. bad input is refused with the rule, the numbers and a fix --------------------------


def test_sampling_refuses_oversample_below_two():
    with pytest.raises(ValueError, match=r"Q = 1 < 2: the intensity PSF has twice the field"):
        FourierSampling(LAM, FOCAL, PITCH, 64, 1)


def test_sampling_refuses_doe_pitch_below_half_wavelength():
    with pytest.raises(ValueError, match=r"DOE pitch 0\.2 µm < λ/2 = 0\.266 µm.*≥ 0\.266 µm"):
        FourierSampling(LAM, FOCAL, 0.2e-6, 64, 2)


@pytest.mark.parametrize(
    "field", ["wavelength_m", "focal_length_m", "doe_pitch_m", "camera_pitch_m"]
)
@pytest.mark.parametrize("value", [0.0, -1e-3, float("nan")])
def test_sampling_refuses_non_positive_lengths(field, value):
    kwargs = dict(wavelength_m=LAM, focal_length_m=FOCAL, doe_pitch_m=PITCH, doe_pixels=64)
    kwargs[field] = value
    with pytest.raises(ValueError, match=rf"{field} = .* is not a positive length"):
        FourierSampling(**kwargs)


def test_sampling_refuses_camera_pitch_off_the_grid():
    s = _sampling(64, 2)  # Δx = λf/(2·64·6 µm) = 138.54 µm
    assert s.sim_pitch_m == pytest.approx(LAM * FOCAL / (128 * PITCH), rel=1e-15)
    with pytest.raises(
        ValueError,
        match=r"camera pitch 300 µm is not an integer multiple of the simulation pitch "
        r"Δx = λf/\(Q·N·Δu\) = 138\.542 µm \(ratio 2\.1654.*use a camera pitch of "
        r"277\.083 µm or 415\.625 µm",
    ):
        _sampling(64, 2, 300e-6)
    with pytest.raises(ValueError, match=r"ratio 0\.5.*use a camera pitch of 138\.542 µm"):
        _sampling(64, 2, s.sim_pitch_m / 2)
    # a pitch that Q = 3 makes valid is suggested
    with pytest.raises(ValueError, match=r"oversample Q = 3 \(then pool = 1\)"):
        _sampling(64, 2, s.sim_pitch_m * 2 / 3)
    ok = _sampling(64, 2, 3 * s.sim_pitch_m * (1 + 5e-7))  # within 1e-6 relative
    assert ok.pool == 3 and ok.camera_pixels == 128 // 3


def test_check_window_refuses_too_wide_kernels():
    s = _sampling(64, 2, 4 * _sampling(64, 2).sim_pitch_m)  # 32 camera pixels in the window
    assert s.window_m == pytest.approx(17.7333e-3, rel=1e-5)
    assert s.camera_pixels == 32
    assert s.check_window(32) == pytest.approx(0, abs=1e-15)
    assert s.check_window(20) == pytest.approx(12 * s.camera_pixel_m)
    with pytest.raises(
        ValueError,
        match=r"extent 40 px × 554\.167 µm = 22166\.7 µm exceeds the window λf/Δu = "
        r"17733\.3 µm by 4433\.33 µm \(25\.0%\).*DOE pitch ≤ 4\.8 µm or a focal length ≥ "
        r"250 mm",
    ):
        s.check_window(40)


def test_other_refusals():
    with pytest.raises(ValueError, match="oversample ≥ 2"):
        fraunhofer_psf(torch.ones(4, 4, dtype=F64), 1)
    with pytest.raises(ValueError, match="not multiples of factor 3"):
        sum_pool(torch.ones(8, 8), 3)
    with pytest.raises(ValueError, match="was made for"):
        fft_convolve_otf(torch.ones(1, 1, 5, 5), otf(torch.ones(3, 3), (6, 6)))
    with pytest.raises(ValueError, match="must be > 1"):
        height_to_phase(torch.ones(2), 532e-9, 1.0)
    with pytest.raises(ValueError, match="levels must be an integer ≥ 2"):
        quantize_phase(torch.ones(2), 1)


# --- DOE helpers ---------------------------------------------------------------------------


def test_height_phase_wrap_and_quantize():
    fused_silica = lambda lam: 1.4607 if abs(lam - 532e-9) < 1e-12 else 1.0 / 0.0
    h = torch.linspace(0, 2e-6, 11, dtype=F64)
    phi = height_to_phase(h, 532e-9, fused_silica)
    # one wave of path: h = λ/(n − 1) = 1.155 µm gives 2π
    assert float(height_to_phase(torch.tensor(532e-9 / 0.4607, dtype=F64), 532e-9, 1.4607)) == (
        pytest.approx(2 * math.pi, rel=1e-15)
    )
    assert torch.allclose(phase_to_height(phi, 532e-9, 1.4607), h, rtol=1e-14, atol=0)
    wrapped = wrap_phase(torch.tensor([-1e-30, -0.5, 2 * math.pi, 7.0], dtype=F64))
    assert float(wrapped.min()) >= 0 and float(wrapped.max()) < 2 * math.pi
    assert float(wrapped[1]) == pytest.approx(2 * math.pi - 0.5)
    levels = quantize_phase(torch.tensor([0.1, 1.5, 3.3, 6.2, -0.2, 2 * math.pi], dtype=F64), 4)
    assert torch.allclose(levels, torch.tensor([0, 1, 2, 0, 0, 0], dtype=F64) * math.pi / 2)
    assert not quantize_phase(torch.ones(3, requires_grad=True), 4, ste=False).requires_grad


def test_sinc_envelope_and_sum_pool():
    env = sinc_envelope((8, 6), dtype=F64)
    assert float(env[4, 3]) == 1.0
    assert float(env[0, 3]) == pytest.approx(math.sin(math.pi / 2) ** 2 / (math.pi / 2) ** 2)
    x = torch.rand(2, 12, 9, dtype=F64)
    pooled = sum_pool(x, 3)
    assert pooled.shape == (2, 4, 3)
    assert float(pooled[1, 2, 1]) == pytest.approx(float(x[1, 6:9, 3:6].sum()))
    # pixel integration of a constant: each camera pixel gets factor² × the constant
    assert torch.allclose(
        pixel_integrate(torch.ones(2, 12, 12, dtype=F64), 3), 9 * torch.ones(2, 4, 4, dtype=F64)
    )


def test_aperture_centring_convention():
    # odd widths are symmetric about n//2; even widths extend half a pixel towards lower indices
    assert torch.nonzero(square_aperture(8, 3)[4]).flatten().tolist() == [3, 4, 5]
    assert torch.nonzero(square_aperture(8, 4)[4]).flatten().tolist() == [2, 3, 4, 5]
    assert torch.nonzero(square_aperture(7, 4)[3]).flatten().tolist() == [1, 2, 3, 4]
    disc = circular_aperture(9, 5.0, supersample=3, dtype=F64)
    assert torch.equal(disc, torch.flip(disc, (0,))) and torch.equal(disc, disc.T)
    assert float(disc[4, 4]) == 1 and float(disc[0, 0]) == 0
    even = circular_aperture(10, 6.0, dtype=F64)  # centred on pixel (5, 5), not (4.5, 4.5)
    assert torch.equal(even[1:, 1:], torch.flip(even[1:, 1:], (0, 1)))
    phi = torch.rand(4, 4, dtype=F64)
    assert torch.equal(phase_scale(phi, 0.9), 0.9 * phi)


def test_check_window_accepts_an_extent_exactly_equal_to_the_window():
    from mixsig.optics import FourierSampling

    s = FourierSampling(532e-9, 0.2, 6e-6, 64, oversample=2, camera_pitch_m=None)
    whole = s.window_m / s.camera_pixel_m  # the window in camera pixels, up to rounding
    assert s.check_window(whole) >= 0.0
