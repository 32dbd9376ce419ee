"""mixsig.calib: every fit recovers a synthetic camera's known parameters, the folder pipeline
writes a hardware YAML that mixsig loads and builds unchanged, bad inputs are refused with
messages that say what was found and what is needed, and the readers round-trip exactly.

Cameras are `SyntheticCamera` (64×64 px, 12 bits, K = 5 e⁻/DN, read noise 10 e⁻ = 2 DN, full
well 18000 e⁻ = 3600 DN, dark 100 DN, DSNU 3 DN, PRNU 5%) with fixed seeds. Each tolerance
is stated next to its assertion with the standard error it is measured against (from the fit
itself, checked over seeds while writing these tests), so a tolerance is ≥ 3 standard errors
and a wrong estimator (sign, factor, convention) fails it.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

import mixsig
from mixsig.calib import (
    CalibrationError,
    CameraParams,
    Device,
    SimulatedDevice,
    SyntheticCamera,
    calibrate_folder,
    exposure_response,
    fit_crosstalk,
    fit_fixed_pattern,
    fit_gamma,
    fit_lut,
    fit_misregistration,
    fit_polynomial,
    fit_ptc,
    frames_by_level,
    load_maps,
    photon_transfer,
    read_frames,
    read_levels_csv,
    tile_maps,
    write_calibration_folder,
)
from mixsig.calib.fits import warp_bilinear
from mixsig.calib.frames import check_saturation
from mixsig.calib.synthetic import impulse_scene, smooth_pattern
from mixsig.config.hardware import (
    GammaConfig,
    MisregistrationConfig,
    PolynomialConfig,
    SoftSaturationConfig,
)
from mixsig.signal import build_chain
from mixsig.signal.distortion import Crosstalk, GainOffset, Misregistration, MonotoneLUT
from mixsig.signal.noise import ShotNoise

P = np.polynomial.polynomial


def _response(cam: SyntheticCamera, levels: np.ndarray, n_frames: int = 2):
    darks = cam.darks(16)
    return exposure_response(
        cam.series(levels, n_frames),
        dark_dn=float(darks.mean()),
        full_scale_dn=cam.params.full_scale_dn,
    )


# ----------------------------------------------------------------------------- transfer curve
@pytest.mark.parametrize("pinned", [False, True])
def test_gamma_fit_recovers_exponent(pinned):
    cam = SyntheticCamera(CameraParams(transfer=GammaConfig(gamma=0.8)), seed=1)
    p = cam.params
    levels = np.linspace(0.05, 0.85, 12) * p.full_scale_level  # below the PRNU-spread clip
    v, _ = _response(cam, levels)
    fit = fit_gamma(levels, v, full_scale_level=p.full_scale_level if pinned else None)
    # stderr of gamma ≈ 1e-3 at most (read noise and shot noise averaged over 8192 px)
    assert abs(fit.gamma - 0.8) <= 0.01, fit
    assert fit.gamma_stderr < 0.003
    assert abs(fit.full_scale_level - p.full_scale_level) <= 0.01 * p.full_scale_level
    assert fit.residual_max < 0.005
    assert fit.to_config() == GammaConfig(gamma=fit.gamma)


def test_polynomial_fit_recovers_coefficients():
    c_true = [0.0, 1.1, 0.05, -0.15]  # f(1) = 1: full scale maps to full scale
    cam = SyntheticCamera(CameraParams(transfer=PolynomialConfig(coeffs=c_true)), seed=2)
    levels = np.linspace(0.05, 0.85, 12) * cam.params.full_scale_level
    v, _ = _response(cam, levels)
    fit = fit_polynomial(levels, v, degree=3)  # full-scale level estimated from f(L) = 1
    # coefficient stderrs ≤ 0.0025 (c2); the PRNU average f(u(1+g)) shifts c2, c3 by < 0.005
    np.testing.assert_allclose(fit.coeffs, c_true, atol=0.01)
    u = np.linspace(0, 0.85, 101)
    assert np.abs(fit.predict(u) - P.polyval(u, c_true)).max() < 0.003
    assert abs(fit.full_scale_level - cam.params.full_scale_level) < 0.01
    assert fit.to_config().coeffs == pytest.approx(list(fit.coeffs))


def test_lut_fit_is_monotone_and_within_max_error():
    a = 0.3  # soft saturation f(u) = u/(1 + a·u): the LUT must follow a curve it does not know
    cam = SyntheticCamera(CameraParams(transfer=SoftSaturationConfig(a=a)), seed=3)
    levels = np.linspace(0.05, 0.85, 16) * cam.params.full_scale_level
    v, se = _response(cam, levels)
    fit = fit_lut(levels, v, response_stderr=se, full_scale_level=cam.params.full_scale_level)
    assert np.all(np.diff(fit.inputs) > 0) and np.all(np.diff(fit.values) >= 0)
    u = np.linspace(0, fit.inputs.max(), 201)
    # stated max error 0.003 of full scale: interpolation (h²/8·|f''| ≈ 2e-4), the PRNU
    # average (f''·u²·σ²/2 ≈ 5e-4) and noise; measured ≤ 0.001 over seeds
    assert np.abs(fit.predict(u) - u / (1 + a * u)).max() < 0.003
    # the config builds mixsig's MonotoneLUT, which evaluates to the same curve
    cfg = fit.to_config()
    lut = MonotoneLUT(cfg.inputs, cfg.values)
    torch.testing.assert_close(
        lut(torch.from_numpy(u)), torch.from_numpy(fit.predict(u)), rtol=1e-12, atol=1e-12
    )


def test_lut_estimates_full_scale_level_and_pools_violators():
    levels = np.array([1.0, 2.0, 3.0, 4.0])
    v = np.array([0.2, 0.45, 0.4, 0.8])  # one non-monotone pair
    fit = fit_lut(levels, v)
    assert np.all(np.diff(fit.values) >= 0)
    assert fit.values[2] == fit.values[3] == pytest.approx(0.425)
    # last segment (3, 0.425) → (4, 0.8) reaches 1 at 4 + 0.2/0.375
    assert fit.full_scale_level_extrapolated
    assert fit.full_scale_level == pytest.approx(4 + 0.2 / 0.375)
    assert fit.residual_max == pytest.approx(0.025)


# ----------------------------------------------------------------------------- fixed pattern
def test_prnu_and_dsnu_maps_recovered():
    cam = SyntheticCamera(CameraParams(), seed=4)
    fit = fit_fixed_pattern(cam.flats(0.5, 16), cam.darks(64))
    # per-pixel map noise: gain 0.0027 vs 0.05 spread, offset 0.25 DN vs 3 DN → corr ≥ 0.995
    assert np.corrcoef(fit.gain.ravel(), cam.prnu_map.ravel())[0, 1] > 0.99
    assert np.corrcoef(fit.offset_dn.ravel(), cam.dsnu_map_dn.ravel())[0, 1] > 0.99
    # stds corrected for temporal noise: within 2% of the true maps' own std (stderr ≈ 1.1%)
    assert fit.prnu_std == pytest.approx(cam.prnu_map.std(), rel=0.02)
    assert fit.dsnu_std_dn == pytest.approx(cam.dsnu_map_dn.std(), rel=0.02)
    assert fit.prnu_std == pytest.approx(0.05, rel=0.05)
    assert fit.dark_dn == pytest.approx(100.0, abs=0.3)
    cfg = fit.to_config(full_scale_dn=3600.0)
    assert cfg.per == "pixel" and cfg.offset_std == pytest.approx(fit.dsnu_std_dn / 3600.0)


def test_prnu_std_is_corrected_for_temporal_noise_with_few_flats():
    """PRNU 1% from 2 flats: the gain map carries ~0.8% temporal noise per pixel, so the raw
    map std reads ~1.25%; the corrected std must be within 6% of the truth (its standard
    error is 1.9%, the scatter over seeds 12-19 was ±2.6%)."""
    cam = SyntheticCamera(CameraParams(prnu_std=0.01), seed=12)
    fit = fit_fixed_pattern(cam.flats(0.5, 2), cam.darks(8))
    assert fit.gain.std() > 1.2 * cam.prnu_map.std()  # the uncorrected map is far off
    assert fit.prnu_std == pytest.approx(cam.prnu_map.std(), rel=0.06)


def test_fixed_pattern_maps_reproduce_camera_through_gain_offset():
    """The maps applied by mixsig's GainOffset give the camera's own dark-subtracted frame."""
    cam = SyntheticCamera(CameraParams(read_noise_e=0.0), seed=5)
    fit = fit_fixed_pattern(cam.flats(0.5, 32), cam.darks(32))
    fs = cam.params.full_scale_dn
    go = GainOffset(
        gain=torch.from_numpy(fit.gain)[None], offset=torch.from_numpy(fit.offset(fs))[None]
    )
    x = torch.full((1, 1, 64, 64), 0.3, dtype=torch.float64)  # ideal signal, fraction of fs
    y_mixsig = go(x)[0, 0].numpy() * fs
    truth = 0.3 * fs * (1 + cam.prnu_map) + cam.dsnu_map_dn - cam.dsnu_map_dn.mean()
    # per-pixel map noise at 32 frames: gain ≈ 0.002·1080 DN ≈ 2 DN rms, offset ≈ 0.1 DN
    assert np.sqrt(np.mean((y_mixsig - truth) ** 2)) < 4.0
    # ...while leaving the fixed pattern out is ~54 DN rms off
    assert np.sqrt(np.mean((0.3 * fs - truth) ** 2)) > 40.0


# ----------------------------------------------------------------------------- photon transfer
PTC_LEVELS = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 1.3, 1.6])


def test_photon_transfer_recovers_gain_read_noise_full_well():
    cam = SyntheticCamera(CameraParams(), seed=6)
    p = cam.params
    data = photon_transfer(PTC_LEVELS, cam.series(PTC_LEVELS, 4), darks=cam.darks(4))
    fit = fit_ptc(data)
    # stderrs: K ≈ 0.7%, read noise ≈ 1%, full well ≈ 0.7% (through K)
    assert fit.conversion_gain_e_per_dn == pytest.approx(p.conversion_gain_e_per_dn, rel=0.03)
    assert fit.read_noise_dn == pytest.approx(p.read_noise_dn, rel=0.05)
    assert fit.read_noise_e == pytest.approx(p.read_noise_e, rel=0.05)
    assert fit.full_well_reached
    assert fit.full_well_dn == pytest.approx(p.full_scale_dn, rel=0.05)
    assert fit.full_well_e == pytest.approx(p.full_well_e, rel=0.05)
    assert fit.conversion_gain_e_per_dn_stderr < 0.01 * p.conversion_gain_e_per_dn


def test_noise_config_mapping_reproduces_camera_noise_in_mixsig_units():
    """shot_electrons_per_unit = K·full_scale_dn and sigma_lsb = read·(2^b − 1)/full_scale:
    mixsig's noise modules then draw the camera's temporal variance, in DN."""
    cam = SyntheticCamera(CameraParams(), seed=7)
    fit = fit_ptc(photon_transfer(PTC_LEVELS, cam.series(PTC_LEVELS, 4), darks=cam.darks(4)))
    fs, bits = fit.full_well_dn, 4
    cfg = fit.to_config(full_scale_dn=fs, adc_bits=bits)
    assert cfg.shot_electrons_per_unit == pytest.approx(fit.conversion_gain_e_per_dn * fs)
    assert cfg.sigma_lsb == pytest.approx(fit.read_noise_dn * 15 / fs)
    floor = fit.to_config(full_scale_dn=fs, adc_bits=bits, read_noise_as="floor")
    assert floor.sigma_lsb == 0.0 and floor.floor_std == pytest.approx(fit.read_noise_dn / fs)
    # draw shot + read noise with mixsig at x = 0.4 of full scale, compare in DN
    shot = ShotNoise(cfg.shot_electrons_per_unit, seed=0).eval()
    x = torch.full((200_000,), 0.4, dtype=torch.float64)
    lsb = 1.0 / (2**bits - 1)
    y = (
        shot(x)
        + torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        * cfg.sigma_lsb
        * lsb
    )
    var_dn_mixsig = float(y.var()) * fs**2
    frames = cam.flats(0.4 * cam.params.full_scale_level, 2).astype(float)
    var_dn_camera = float(np.var(frames[0] - frames[1])) / 2
    # camera variance from 4096 px: stderr 2.2%; mixsig's from 2e5 draws: 0.3%
    assert var_dn_mixsig == pytest.approx(var_dn_camera, rel=0.08)


# ----------------------------------------------------------------------------- crosstalk
@pytest.mark.parametrize(
    "shift_px, scale", [((0.0, 0.0), 1.0), ((0.3, -0.7), 1.004), ((0.5, 0.5), 1.0)]
)
def test_crosstalk_strength_recovered(shift_px, scale):
    cam = SyntheticCamera(CameraParams(crosstalk_strength=0.1, shift_px=shift_px, scale=scale), 8)
    fp = fit_fixed_pattern(cam.flats(0.5, 16), cam.darks(32))
    frames = cam.capture(impulse_scene(cam.params.shape, level=0.5), 4)
    fit = fit_crosstalk(frames, dark=fp.dark_map_dn, gain=fp.gain)
    # bootstrap stderr ≈ 0.001; the sub-pixel model removes the bilinear split of the shift
    # (without it the strength reads 0.53 for the (0.3, -0.7) shift)
    assert fit.strength == pytest.approx(0.1, abs=0.01)
    assert fit.strength_stderr < 0.003
    assert fit.kernel.sum() == pytest.approx(1.0)
    assert fit.to_config().strength == pytest.approx(fit.strength)


def test_crosstalk_kernel_matches_module_convention():
    """Impulses through mixsig's Crosstalk(kernel=k) with an asymmetric k come back as k."""
    k = np.array([[0.0, 0.02, 0.0], [0.05, 0.85, 0.03], [0.01, 0.04, 0.0]])
    scene = torch.from_numpy(impulse_scene((48, 48), spacing=8, level=1.0))[None, None]
    img = Crosstalk(kernel=torch.from_numpy(k))(scene)[0, 0].numpy()
    fit = fit_crosstalk(img, radius=1, subpixel="none")
    np.testing.assert_allclose(fit.kernel, k, atol=1e-12)


# ----------------------------------------------------------------------------- misregistration
def test_misregistration_convention_of_the_module_is_recovered_exactly():
    img = smooth_pattern((64, 64), seed=1)
    rec = Misregistration((0.3, -0.7), 1.004)(torch.from_numpy(img)[None, None])[0, 0].numpy()
    # the NumPy warp implements the module's documented convention independently
    assert np.abs(warp_bilinear(img, (0.3, -0.7), 1.004) - rec).max() < 1e-12
    fit = fit_misregistration(img, rec)
    assert fit.shift_px == pytest.approx((0.3, -0.7), abs=1e-6)
    assert fit.scale == pytest.approx(1.004, abs=1e-7)
    # the config's module reproduces the recorded tile
    cfg = fit.to_config()
    assert isinstance(cfg, MisregistrationConfig)
    again = Misregistration(cfg.shift_px, cfg.scale)(torch.from_numpy(img)[None, None])
    assert np.abs(again[0, 0].numpy() - rec).max() < 1e-6


def test_misregistration_recovered_from_camera_frames():
    cam = SyntheticCamera(CameraParams(shift_px=(0.3, -0.7), scale=1.004), seed=9)
    fp = fit_fixed_pattern(cam.flats(0.5, 16), cam.darks(32))
    intended = smooth_pattern(cam.params.shape, seed=2)
    rec = cam.capture(0.8 * intended, 4).astype(float).mean(axis=0)
    rec = (rec - fp.dark_map_dn) / (1 + fp.gain)  # flat-field corrected
    fit = fit_misregistration(intended, rec)
    # covariance stderr ≈ 0.002 px and 7e-5 in scale (a lower bound: correlated residuals);
    # without the flat-field correction the shift is still within 0.02 px
    assert fit.shift_px == pytest.approx((0.3, -0.7), abs=0.05)
    assert fit.scale == pytest.approx(1.004, rel=0.005)
    raw = fit_misregistration(intended, cam.capture(0.8 * intended, 4))
    assert raw.shift_px == pytest.approx((0.3, -0.7), abs=0.05)


# ----------------------------------------------------------------------------- the folder
@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    params = CameraParams(crosstalk_strength=0.1, shift_px=(0.3, -0.7), scale=1.004)
    cam = SyntheticCamera(params, seed=11)
    truth = write_calibration_folder(cam, root / "lab")
    hw, report = calibrate_folder(
        root / "lab", root / "out" / "hw.yaml", adc_bits=4, camera_bits=12
    )
    return cam, truth, hw, report


def test_calibrate_folder_yaml_loads_unchanged_and_builds_a_chain(calibrated, tmp_path):
    _, _, hw, report = calibrated
    loaded = mixsig.load_hardware(report.yaml_path)
    assert loaded == hw
    chain = build_chain(loaded)
    kinds = [type(d).__name__ for d in chain.distortions]
    assert kinds == ["Misregistration", "Crosstalk", "GainOffset", "Gamma"]
    # the measured sensor maps need a layer that knows where its outputs fall on the sensor
    with pytest.raises(ValueError, match="OpticalConv2d"):
        chain(torch.rand(2, 3, 16, 16))
    # with maps="statistics" the chain works for any layer
    folder = report.yaml_path.parent.parent / "lab"
    hw_s, _ = calibrate_folder(
        folder,
        tmp_path / "hw_s.yaml",
        adc_bits=4,
        camera_bits=12,
        maps="statistics",
        figures=False,
    )
    assert [getattr(d, "maps", None) for d in hw_s.distortion] == [None] * 4
    chain = build_chain(mixsig.load_hardware(tmp_path / "hw_s.yaml"))
    x = torch.rand(2, 3, 16, 16)
    y = chain(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert loaded.adc.range == "fixed" and (loaded.adc.lo, loaded.adc.hi) == (0.0, 1.0)
    assert loaded.adc.bits == 4 and loaded.adc.signed is False


def test_calibrate_folder_recovers_the_camera(calibrated):
    cam, truth, hw, report = calibrated
    p = cam.params
    fits = report.fits
    assert report.full_scale_dn == pytest.approx(p.full_scale_dn, rel=0.01)
    assert fits["ptc"].conversion_gain_e_per_dn == pytest.approx(5.0, rel=0.03)
    assert fits["ptc"].read_noise_e == pytest.approx(10.0, rel=0.05)
    assert fits["transfer_gamma"].gamma == pytest.approx(1.0, abs=0.01)
    assert report.transfer_choice == "gamma"
    assert fits["crosstalk"].strength == pytest.approx(0.1, abs=0.01)
    assert fits["misregistration"].shift_px == pytest.approx((0.3, -0.7), abs=0.05)
    assert fits["misregistration"].scale == pytest.approx(1.004, rel=0.005)
    maps = load_maps(report.maps_path)
    assert np.corrcoef(maps["gain"].ravel(), truth["prnu_map"].ravel())[0, 1] > 0.99
    assert np.corrcoef(maps["offset_dn"].ravel(), truth["dsnu_map_dn"].ravel())[0, 1] > 0.99
    noise = hw.noise
    fs = report.full_scale_dn
    assert noise.shot_electrons_per_unit == pytest.approx(5.0 * fs, rel=0.03)
    assert noise.sigma_lsb == pytest.approx(2.0 * 15 / fs, rel=0.05)


def test_calibrate_folder_writes_maps_figures_and_report(calibrated):
    _, _, hw, report = calibrated
    for name in ("transfer", "ptc", "fixed_pattern", "crosstalk", "misregistration"):
        path = report.figures[name]
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = report.markdown_path.read_text()
    for key, fit in report.fits.items():
        for prm in fit.parameters():
            assert f"| {prm.name} |" in md, (key, prm.name)
    assert "±" in md and "full scale" in md
    maps = load_maps(report.maps_path)
    gain, offset = tile_maps(maps, [(0, 0), (0, 32)], (32, 32))
    assert gain.shape == offset.shape == (2, 32, 32)
    go = GainOffset(gain=torch.from_numpy(gain), offset=torch.from_numpy(offset))
    assert go(torch.zeros(1, 2, 32, 32)).shape == (1, 2, 32, 32)
    # the offset is the chain's, before its transfer curve: f(offset) = offset_dn/full scale
    # (= offset_dn/full scale for this linear camera, up to the fitted gamma ≈ 1)
    f = report.fits[f"transfer_{report.transfer_choice}"].predict
    np.testing.assert_allclose(
        f(maps["offset"]), maps["offset_dn"] / report.full_scale_dn, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(maps["offset"], maps["offset_dn"] / report.full_scale_dn, rtol=0.01)


# ----------------------------------------------------------------------------- bad inputs
def _message(exc_info) -> str:
    return str(exc_info.value).lower()


def test_mismatched_frame_shapes_are_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 8, 8), np.uint16))
    np.save(tmp_path / "b.npy", np.zeros((2, 8, 9), np.uint16))
    with pytest.raises(CalibrationError) as e:
        read_frames(tmp_path)
    msg = _message(e)
    assert "mismatched shapes" in msg and "(8, 8)" in msg and "(8, 9)" in msg and "need" in msg
    with pytest.raises(CalibrationError, match="mismatched shapes"):
        fit_fixed_pattern(np.ones((2, 8, 8)), np.zeros((2, 8, 9)))


def test_saturated_flats_are_refused(tmp_path):
    flats = np.full((4, 16, 16), 3000, np.uint16)
    flats[:, :4] = 4095  # a quarter of the pixels at the 12-bit top code
    with pytest.raises(CalibrationError) as e:
        check_saturation(flats, "flats", camera_bits=12)
    msg = _message(e)
    assert "25%" in msg and "saturated" in msg and "4095" in msg and "need at most" in msg
    (tmp_path / "lab" / "flats").mkdir(parents=True)
    (tmp_path / "lab" / "darks").mkdir()
    np.save(tmp_path / "lab" / "flats" / "f.npy", flats)
    np.save(tmp_path / "lab" / "darks" / "d.npy", np.full((4, 16, 16), 100, np.uint16))
    with pytest.raises(CalibrationError, match="saturated"):
        calibrate_folder(tmp_path / "lab", tmp_path / "hw.yaml", adc_bits=4, camera_bits=12)


def test_too_few_levels_are_refused():
    lv, v = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3])
    with pytest.raises(CalibrationError) as e:
        fit_polynomial(lv, v, degree=3)
    msg = _message(e)
    assert "degree-3" in msg and "found 3" in msg and "need at least 4" in msg
    with pytest.raises(CalibrationError, match="found 2; need at least 3"):
        fit_gamma(lv[:2], v[:2])
    cam = SyntheticCamera(CameraParams(shape=(16, 16)), seed=0)
    data = photon_transfer(PTC_LEVELS[:3], cam.series(PTC_LEVELS[:3], 2), darks=cam.darks(2))
    with pytest.raises(CalibrationError) as e:
        fit_ptc(data)
    msg = _message(e)
    assert "photon transfer" in msg and "found 4" in msg and "need at least 5" in msg


def test_wrong_tiff_bit_depth_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "eight.tif", np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(CalibrationError) as e:
        read_frames(tmp_path / "eight.tif")
    msg = _message(e)
    assert "found a 8-bit uint8 tiff" in msg and "need 16-bit uint16" in msg
    assert read_frames(tmp_path / "eight.tif", tiff_bits=None).dtype == np.uint8
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((2, 8, 8), np.float32))
    with pytest.raises(CalibrationError) as e:
        read_frames(tmp_path / "float.tif")
    assert "floating-point" in _message(e) and "need raw camera codes" in _message(e)
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((8, 8, 3), np.uint16), photometric="rgb")
    with pytest.raises(CalibrationError, match=r"colour \(RGB\) TIFF.*need greyscale"):
        read_frames(tmp_path / "rgb.tif")


def test_nan_is_refused(tmp_path):
    a = np.ones((3, 8, 8))
    a[1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", a)
    with pytest.raises(CalibrationError) as e:
        read_frames(tmp_path / "nan.npy")
    msg = _message(e)
    assert "1 nan" in msg and "need finite" in msg
    with pytest.raises(CalibrationError, match="NaN"):
        fit_gamma(np.array([1.0, 2.0, 3.0]), np.array([0.1, np.nan, 0.3]))


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


_GOOD = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
_OBJECT = np.array([{"a": 1}, None], dtype=object)


def _corrupt_member(data: bytes) -> bytes:
    """An .npz whose stored array data has one byte flipped: its CRC-32 no longer matches."""
    i = data.index(b"\x93NUMPY") + 200  # inside the first member's array data
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 65536, (32, 32), dtype=np.uint16)
    Image.fromarray(noise).save(buf, format="png")
    return buf.getvalue()


def _tiff_bytes() -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, _GOOD, photometric="minisblack")
    return buf.getvalue()


# (file name, bytes, what the message must say): every unreadable frame file is refused by name
BAD_FRAME_FILES = [
    ("objects.npy", lambda: _npy_bytes(_OBJECT), "found python objects (dtype object)"),
    ("truncated.npy", lambda: _npy_bytes(_GOOD)[:-40], "file is truncated"),
    ("header_only.npy", lambda: _npy_bytes(_GOOD)[:60], "no valid .npy header"),
    ("text.npy", lambda: b"these are not frames\n" * 4, "no valid .npy header"),
    ("empty.npy", lambda: b"", "no valid .npy header"),
    ("zip.npy", lambda: _npz_bytes(frames=_GOOD), "found a zip archive"),
    ("rank4.npy", lambda: _npy_bytes(np.zeros((1, 2, 8, 8))), "need one frame (h, w) or a stack"),
    ("rank1.npy", lambda: _npy_bytes(np.zeros(8)), "need one frame (h, w) or a stack"),
    ("text_dtype.npy", lambda: _npy_bytes(np.full((8, 8), "a")), "need a real numeric array"),
    ("complex.npy", lambda: _npy_bytes(np.ones((8, 8), complex)), "need a real numeric array"),
    ("inf.npy", lambda: _npy_bytes(np.full((8, 8), np.inf)), "need finite values"),
    ("objects.npz", lambda: _npz_bytes(frames=_OBJECT), "'frames': found python objects"),
    ("text.npz", lambda: b"these are not frames\n" * 4, "no readable .npz archive"),
    ("truncated.npz", lambda: _npz_bytes(frames=_GOOD)[:-30], "no readable .npz archive"),
    ("crc.npz", lambda: _corrupt_member(_npz_bytes(frames=_GOOD)), "'frames': found corrupt"),
    ("array.npz", lambda: _npy_bytes(_GOOD), "found a single .npy array"),
    ("truncated.tif", lambda: _tiff_bytes()[:200], "corrupt or truncated tiff"),
    ("text.tif", lambda: b"these are not frames\n" * 4, "corrupt or truncated tiff"),
    ("truncated.png", lambda: _png_bytes()[:1000], "corrupt or truncated png"),
    ("text.png", lambda: b"these are not frames\n" * 4, "corrupt or truncated png"),
]


@pytest.mark.parametrize("name, make, says", BAD_FRAME_FILES, ids=[c[0] for c in BAD_FRAME_FILES])
def test_unreadable_frame_files_are_refused_by_name(tmp_path, name, make, says):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(CalibrationError) as e:
        read_frames(path)
    msg = str(e.value)
    assert str(path) in msg and says in msg.lower(), msg
    # never numpy's advice to load the file with pickling enabled
    assert "allow_pickle" not in msg and "unsafe" not in msg.lower(), msg


def test_an_unreadable_frame_file_ends_mixsig_calibrate_with_its_name(tmp_path):
    """The command line: one line naming the file, exit status 2, no traceback."""
    from typer.testing import CliRunner

    from mixsig.cli.main import app

    cam = SyntheticCamera(CameraParams(shape=(16, 16)), seed=0)
    write_calibration_folder(cam, tmp_path / "lab", n_darks=4, n_flats=4)
    runner = CliRunner()
    for name, data in (("flats_c.npy", _npy_bytes(_OBJECT)), ("flats_c.npy", b"\x93NUMPY")):
        (tmp_path / "lab" / "flats" / name).write_bytes(data)
        args = ["calibrate", str(tmp_path / "lab"), "--out", str(tmp_path / "hw.yaml")]
        res = runner.invoke(app, [*args, "--adc-bits", "4"])
        assert res.exit_code == 2, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert "flats_c.npy" in res.output and "Traceback" not in res.output
        assert "allow_pickle" not in res.output and "unsafe" not in res.output
    with pytest.raises(CalibrationError, match=r"flats_c\.npy: found no valid \.npy header"):
        calibrate_folder(tmp_path / "lab", tmp_path / "hw.yaml", adc_bits=4)


def test_bad_levels_csv_is_refused(tmp_path):
    (tmp_path / "a.csv").write_text("exposure,file\n1,a.npy\n")
    with pytest.raises(CalibrationError, match="need a header row with a 'level' column"):
        read_levels_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("level\n0.5\nabc\n")
    with pytest.raises(CalibrationError, match=r"line 3: found level 'abc'; need a number"):
        read_levels_csv(tmp_path / "b.csv")


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(CalibrationError, match="found none of the measurement folders"):
        calibrate_folder(tmp_path, tmp_path / "hw.yaml", adc_bits=4)


# ----------------------------------------------------------------------------- readers
def test_readers_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    stack16 = rng.integers(0, 65536, (3, 12, 10), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", stack16, photometric="minisblack")
    np.testing.assert_array_equal(read_frames(tmp_path / "s.tif"), stack16)
    assert read_frames(tmp_path / "s.tif").dtype == np.uint16

    fl = rng.normal(size=(2, 5, 7))
    np.savez(tmp_path / "f.npz", frames=fl, other=np.arange(3))
    np.testing.assert_array_equal(read_frames(tmp_path / "f.npz"), fl)

    frame16 = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    Image.fromarray(frame16).save(tmp_path / "p16.png")
    back = read_frames(tmp_path / "p16.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[0], frame16)
    frame8 = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    Image.fromarray(frame8).save(tmp_path / "p8.png")
    np.testing.assert_array_equal(read_frames(tmp_path / "p8.png")[0], frame8)

    levels = [0.0, 0.1, 1 / 3, 2.5e-7, 1234.5678901234567]
    lines = ["level,file"] + [f"{lv!r},s.tif" for lv in levels]
    (tmp_path / "levels.csv").write_text("\n".join(lines) + "\n")
    table = read_levels_csv(tmp_path / "levels.csv")
    assert table.levels.tolist() == levels
    assert table.files == tuple(tmp_path / "s.tif" for _ in levels)
    lv, stacks = frames_by_level(tmp_path / "levels.csv")
    assert lv.tolist() == sorted(levels) and all(s.shape == (3, 12, 10) for s in stacks)


def test_levels_without_file_column_use_a_frames_stack(tmp_path):
    stack = np.arange(4 * 3 * 3, dtype=np.uint16).reshape(4, 3, 3)
    np.save(tmp_path / "frames.npy", stack)
    (tmp_path / "levels.csv").write_text("level\n2\n1\n2\n3\n")
    lv, stacks = frames_by_level(tmp_path / "levels.csv")
    assert lv.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(stacks[1], stack[[0, 2]])


# ----------------------------------------------------------------------------- devices
def test_simulated_device_implements_the_interface_and_hides_its_errors():
    g = torch.Generator().manual_seed(0)
    w = torch.rand(2, 1, 3, 3, generator=g, dtype=torch.float64)
    dev = SimulatedDevice(w, adc_bits=6, exposure=0.2, shift_px=(0.3, -0.2), gamma=0.9, seed=3)
    assert isinstance(dev, Device)
    x = torch.rand(4, 1, 16, 16, generator=g, dtype=torch.float64)
    y = dev.forward(x)
    assert y.shape == (4, 2, 16, 16)
    codes = y * 63
    torch.testing.assert_close(codes, codes.round(), rtol=0, atol=1e-9)
    assert y.min() >= 0 and y.max() <= 1
    assert "eps" not in dev.describe() and dev.describe()["adc_bits"] == 6
    assert dev.truth.eps.abs().max() > 0
    assert torch.equal(SimulatedDevice(w, seed=3).forward(x), SimulatedDevice(w, seed=3).forward(x))
    ideal = SimulatedDevice(
        w, adc_bits=6, exposure=0.2, rel_mismatch_std=0, abs_mismatch_std=0, read_noise_lsb=0
    )
    assert (dev.forward(x) - ideal.forward(x)).abs().mean() > 0.5 / 63  # the errors show


def test_simulated_device_from_doe_with_etch_depth_error():
    n = 32
    yy, xx = torch.meshgrid(torch.arange(n) - n // 2, torch.arange(n) - n // 2, indexing="ij")
    phase = torch.remainder(0.02 * (yy**2 + xx**2).double(), 2 * math.pi)  # a wrapped lens
    kw = dict(kernel_size=5, rel_mismatch_std=0.0, abs_mismatch_std=0.0, read_noise_lsb=0.0)
    nominal = SimulatedDevice.from_doe(phase, alpha=1.0, **kw)
    etched = SimulatedDevice.from_doe(phase, alpha=0.8, **kw)
    assert nominal.nominal_kernels.sum() == pytest.approx(1.0)
    torch.testing.assert_close(nominal._realised, nominal.nominal_kernels)
    assert (etched._realised - etched.nominal_kernels).abs().max() > 1e-3
    assert etched.truth.alpha == 0.8


def test_photon_transfer_of_a_nonlinear_camera_is_fitted_through_its_transfer_curve(tmp_path):
    """A gamma-0.6 camera: its PTC is not a straight line (the variance is f′(x)²·x/K, not
    x/K); fitted through the calibrated curve, K, read noise and full well
    come back, and the chain built from the YAML reproduces the measured variances."""
    p = CameraParams(transfer=GammaConfig(gamma=0.6), prnu_std=0.0, dsnu_std_dn=0.0)
    cam = SyntheticCamera(p, seed=4)
    write_calibration_folder(cam, tmp_path / "lab", n_darks=8, n_flats=4)
    hw, rep = calibrate_folder(
        tmp_path / "lab", tmp_path / "hw.yaml", adc_bits=8, camera_bits=12, figures=False
    )
    ptc = rep.fits["ptc"]
    assert rep.transfer_choice == "gamma" and ptc.linearised
    assert rep.fits["transfer_gamma"].gamma == pytest.approx(0.6, abs=0.01)
    assert ptc.conversion_gain_e_per_dn == pytest.approx(5.0, rel=0.05)
    assert ptc.read_noise_e == pytest.approx(10.0, rel=0.1)
    assert ptc.full_well_e == pytest.approx(18000.0, rel=0.02)
    # the straight line of a linear camera does not describe these data (measured: residual
    # rms 90 vs 2 DN², K ± 1.1 vs ± 0.05 e⁻/DN)
    straight = fit_ptc(ptc.data)
    assert straight.residual_rms > 10 * ptc.residual_rms
    assert straight.conversion_gain_e_per_dn_stderr > 5 * ptc.conversion_gain_e_per_dn_stderr
    # the fitted curve passes through the measured variances of the levels it used
    d = ptc.data
    np.testing.assert_allclose(
        ptc.predicted_variance(d.mean_dn[ptc.used]), d.variance_dn2[ptc.used], rtol=0.05
    )
    # mixsig's chain from the YAML (shot noise before the gamma) gives the camera's variance
    loaded = mixsig.load_hardware(rep.yaml_path)
    gamma_only = [d for d in loaded.distortion if d.kind == "gamma"]  # no borders, no maps
    chain = build_chain(loaded.model_copy(update={"distortion": gamma_only})).eval()
    chain.noise.sigma_lsb = 0.0  # shot noise only: compare with the PTC minus read noise
    chain.quantize_output = False
    fs = rep.full_scale_dn
    for i in np.flatnonzero(ptc.used)[2:]:
        x = float(
            np.interp(
                d.mean_dn[i] / fs,
                rep.fits["transfer_gamma"].predict(np.linspace(0, 1.5, 3001)),
                np.linspace(0, 1.5, 3001),
            )
        )
        y = chain(torch.full((100_000,), x, dtype=torch.float64)) * fs  # DN above dark
        shot = d.variance_dn2[i] - ptc.read_noise_dn**2 - 1 / 12
        assert y.var().item() == pytest.approx(shot, rel=0.08), i
