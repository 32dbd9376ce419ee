"""Calibrating a NONLINEAR camera: `calibrate_folder` end to end on gamma cameras.

mixsig's chain applies crosstalk and the fixed pattern (PRNU g, DSNU o) to the linear signal,
BEFORE the transfer curve f, so these must be fitted in the linear domain: the camera's
frames mapped through f⁻¹ of the fitted curve. Measured in DN, a gamma-γ camera's PRNU reads
γ·g (0.040 for γ = 0.8, 0.030 for 0.6) and its crosstalk strength 0.188 / 0.337, not 0.10.

The cameras are those of the linear-camera folder test in ``test_calib.py`` (64×64 px, 12 bits,
K = 5 e⁻/DN, full well 3600 DN, PRNU 5 %, DSNU 3 DN, crosstalk 0.10, shift (0.3, −0.7) px,
scale 1.004) with a gamma transfer curve, and the tolerances are the ones stated there for
the linear camera: PRNU and DSNU maps correlate > 0.99 with the truth, their stds are within 2 %
of the true maps' stds (PRNU also within 5 % of 0.05), crosstalk within 0.01 (stderr < 0.003).
Measured with this fix (seed 11): PRNU 0.0499 / 0.0499, DSNU 3.037 / 3.037 DN (truth 0.0500,
3.038 DN), crosstalk 0.0993 / 0.0996 for γ = 0.8 / 0.6; before it PRNU 0.0400 / 0.0300 and
crosstalk 0.188 / 0.337 (the DN-domain DSNU was right, but the chain's offset map, applied
before f, gave 3.9 / 15× the dark frames' DSNU).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixsig.calib import (
    CalibrationError,
    CameraParams,
    SyntheticCamera,
    calibrate_folder,
    fit_crosstalk,
    fit_fixed_pattern,
    load_maps,
    read_frames,
    write_calibration_folder,
)
from mixsig.calib.fits import inverse_transfer, linear_signal, linearise
from mixsig.calib.synthetic import impulse_scene
from mixsig.config.hardware import GammaConfig
from mixsig.signal.chain import build_distortion
from mixsig.signal.distortion import GainOffset, Gamma


def _lab(tmp_path_factory, gamma: float):
    root = tmp_path_factory.mktemp(f"gamma{gamma}")
    params = CameraParams(
        crosstalk_strength=0.1,
        shift_px=(0.3, -0.7),
        scale=1.004,
        transfer=GammaConfig(gamma=gamma),
    )
    cam = SyntheticCamera(params, seed=11)
    truth = write_calibration_folder(cam, root / "lab")
    hw, report = calibrate_folder(
        root / "lab", root / "out" / "hw.yaml", adc_bits=4, camera_bits=12, figures=False
    )
    return cam, truth, hw, report


@pytest.fixture(scope="module", params=[0.8, 0.6], ids=["gamma0.8", "gamma0.6"])
def gamma_lab(request, tmp_path_factory):
    return request.param, *_lab(tmp_path_factory, request.param)


def test_calibrate_folder_recovers_prnu_dsnu_and_crosstalk_of_a_gamma_camera(gamma_lab):
    gamma, cam, truth, hw, report = gamma_lab
    fits = report.fits
    assert report.transfer_choice == "gamma"
    assert fits["transfer_gamma"].gamma == pytest.approx(gamma, abs=0.01)
    fixed = fits["fixed_pattern"]
    maps = load_maps(report.maps_path)
    # PRNU (test_prnu_and_dsnu_maps_recovered: stderr of the std ≈ 1.1 %)
    assert np.corrcoef(maps["gain"].ravel(), truth["prnu_map"].ravel())[0, 1] > 0.99
    assert fixed.prnu_std == pytest.approx(truth["prnu_map"].std(), rel=0.02)
    assert fixed.prnu_std == pytest.approx(0.05, rel=0.05)
    # DSNU: measured on the dark frames, which the transfer curve leaves alone (f(0) = 0)
    assert np.corrcoef(maps["offset_dn"].ravel(), truth["dsnu_map_dn"].ravel())[0, 1] > 0.99
    assert fixed.dsnu_std_dn == pytest.approx(truth["dsnu_map_dn"].std(), rel=0.02)
    # crosstalk (test_crosstalk_strength_recovered: bootstrap stderr ≈ 0.001)
    xt = fits["crosstalk"]
    assert xt.strength == pytest.approx(0.1, abs=0.01)
    assert xt.strength_stderr < 0.003
    np.testing.assert_allclose(maps["crosstalk_kernel"], xt.kernel)
    # misregistration (test_calibrate_folder_recovers_the_camera)
    assert fits["misregistration"].shift_px == pytest.approx((0.3, -0.7), abs=0.05)
    assert fits["misregistration"].scale == pytest.approx(1.004, rel=0.005)
    # the noise (already fitted through the transfer curve)
    assert fits["ptc"].conversion_gain_e_per_dn == pytest.approx(5.0, rel=0.03)
    assert fixed.linearised and xt.linearised
    md = report.markdown_path.read_text()
    assert "linear domain" in md


def test_measured_maps_of_a_gamma_camera_are_in_the_chains_linear_domain(gamma_lab):
    """The maps file holds g and o as the chain applies them, before the transfer curve:
    GainOffset then the YAML's Gamma give back the camera's mean dark and flat frames that
    they were fitted to, and the camera's noise-free flat field within the map noise."""
    gamma, cam, truth, hw, report = gamma_lab
    fs = report.full_scale_dn
    maps = load_maps(report.maps_path)
    transfer = build_distortion(hw.distortion[-1])
    assert isinstance(transfer, Gamma)
    go = GainOffset(
        gain=torch.from_numpy(maps["gain"])[None], offset=torch.from_numpy(maps["offset"])[None]
    )

    def chain_dn(x: float) -> np.ndarray:
        """The chain's output at a uniform linear signal x, in DN above the dark level."""
        s = go(torch.full((1, 1, *maps["gain"].shape), x, dtype=torch.float64))
        return transfer(s)[0, 0].numpy() * fs

    fixed = report.fits["fixed_pattern"]
    dark_dn = fixed.dark_dn
    # dark frames: f(o)·fs is the measured DSNU map (o = f⁻¹(dsnu/fs), not dsnu/fs)
    np.testing.assert_allclose(chain_dn(0.0), maps["dark_map_dn"] - dark_dn, atol=1e-6)
    assert not np.allclose(maps["offset"], maps["offset_dn"] / fs, rtol=0.05)
    # flat fields: at the flats' mean linear signal the chain gives the measured mean flat
    flats = read_frames(report.yaml_path.parent.parent / "lab" / "flats").astype(float)
    x_flat = fixed.flat_signal_linear_dn / fs
    np.testing.assert_allclose(chain_dn(x_flat), flats.mean(axis=0) - dark_dn, atol=1e-6)
    # ...and the camera itself, noise-free, at linear signals x (the flats are at x = 0.5)
    for x, tol in ((0.0, 1.0), (0.5, 6.0)):
        u = x * (1 + cam.prnu_map)
        cam_dn = fs * np.sign(u) * np.abs(u) ** gamma
        cam_dn = cam_dn + truth["dsnu_map_dn"] - truth["dsnu_map_dn"].mean()
        err = chain_dn(x) - cam_dn
        err -= err.mean()  # the chain's mean level is set by the fitted curve, not by g, o
        # measured rms: 0.36 DN at x = 0 (dark-map noise), 4.4 / 3.8 DN at x = 0.5 (gain-map
        # noise of 16 flats, and the DSNU, which the camera adds after its curve and the
        # chain before it, is lost there: ≤ 3 DN). The DN-domain offset o = dsnu/fs of
        # before gave 8.8 / 44 DN at x = 0; leaving g out costs ~ 70-80 DN at x = 0.5.
        assert np.sqrt(np.mean(err**2)) < tol, x


# ----------------------------------------------------------------------------- the pieces
def _gamma(g: float):
    return lambda u: np.sign(u) * np.abs(np.asarray(u, dtype=np.float64)) ** g


def test_inverse_transfer_round_trips_and_refuses_a_curve_it_cannot_invert():
    u = np.r_[-0.3, -1e-4, 0.0, 1e-6, np.linspace(0.001, 1.2, 50)]
    lut_x, lut_y = np.array([0.0, 0.2, 0.6, 1.0]), np.array([0.0, 0.35, 0.75, 1.0])

    def lut(t):  # piecewise linear, extended linearly beyond the end knots (as MonotoneLUT)
        t = np.asarray(t, dtype=np.float64)
        k = np.clip(np.searchsorted(lut_x, t, side="right") - 1, 0, lut_x.size - 2)
        slope = np.diff(lut_y) / np.diff(lut_x)
        return lut_y[k] + slope[k] * (t - lut_x[k])

    for f in (_gamma(0.6), _gamma(1.3), lambda t: 1.1 * t + 0.05 * t**2 - 0.15 * t**3, lut):
        np.testing.assert_allclose(inverse_transfer(f(u), f), u, rtol=1e-12, atol=1e-15)
    # DN in, linear DN out, about the dark level; identity without a curve
    dn = np.array([[-5.0, 0.0], [100.0, 1800.0]])
    np.testing.assert_array_equal(linearise(dn, transfer=None, full_scale_dn=None), dn)
    np.testing.assert_allclose(
        linearise(dn, transfer=_gamma(0.5), full_scale_dn=3600.0),
        3600.0 * np.sign(dn) * (np.abs(dn) / 3600.0) ** 2,
        rtol=1e-12,
        atol=1e-12,
    )
    dark = np.array([[99.0, 101.0], [100.0, 100.0]])
    np.testing.assert_allclose(linear_signal(dn + dark, dark), dn)
    with pytest.raises(CalibrationError, match="not strictly increasing"):
        inverse_transfer(np.array([0.1, 0.9]), lambda t: t + 0.3 * np.sin(6 * np.asarray(t)))
    with pytest.raises(CalibrationError, match="does not span"):
        inverse_transfer(np.array([0.1, 2.0]), lambda t: np.tanh(np.asarray(t)))
    with pytest.raises(CalibrationError, match="full scale in DN"):
        linearise(dn, transfer=_gamma(0.5), full_scale_dn=None)


def test_fixed_pattern_and_crosstalk_fits_through_the_transfer_curve():
    """The fits themselves: in DN a gamma-0.6 camera's PRNU reads 0.6·g and its crosstalk
    0.32; through the transfer curve both come back (tolerances of test_calib.py)."""
    cam = SyntheticCamera(CameraParams(transfer=GammaConfig(gamma=0.6), crosstalk_strength=0.1), 8)
    fs = cam.params.full_scale_dn
    flats, darks = cam.flats(0.5, 16), cam.darks(32)
    raw = fit_fixed_pattern(flats, darks)
    fp = fit_fixed_pattern(flats, darks, transfer=_gamma(0.6), full_scale_dn=fs)
    assert not raw.linearised and fp.linearised
    assert raw.prnu_std == pytest.approx(0.6 * cam.prnu_map.std(), rel=0.03)
    assert fp.prnu_std == pytest.approx(cam.prnu_map.std(), rel=0.02)
    assert np.corrcoef(fp.gain.ravel(), cam.prnu_map.ravel())[0, 1] > 0.99
    # the DN-domain DSNU is the dark frames' (untouched by f: f(0) = 0); the chain's offset
    # o = f⁻¹(dsnu/fs) is much smaller for gamma < 1
    np.testing.assert_array_equal(fp.offset_dn, raw.offset_dn)
    assert fp.dsnu_std_dn == raw.dsnu_std_dn
    np.testing.assert_allclose(_gamma(0.6)(fp.offset(fs)), fp.offset_dn / fs, rtol=1e-9)
    np.testing.assert_array_equal(raw.offset(fs), raw.offset_dn / fs)
    assert fp.to_config(full_scale_dn=fs).offset_std == pytest.approx(fp.dsnu_std_linear_dn / fs)
    assert fp.dsnu_std_linear_dn < 0.05 * fp.dsnu_std_dn
    with pytest.raises(CalibrationError, match="linearised with a full scale of 3600"):
        fp.offset(4095.0)
    frames = cam.capture(impulse_scene(cam.params.shape, level=0.5), 4)
    kw = dict(dark=fp.dark_map_dn, gain=fp.gain)
    assert fit_crosstalk(frames, **kw).strength > 0.3  # measured 0.317
    xt = fit_crosstalk(frames, transfer=_gamma(0.6), full_scale_dn=fs, **kw)
    assert xt.linearised
    assert xt.strength == pytest.approx(0.1, abs=0.01)
