"""Measured distortion maps named in a hardware YAML (``maps:``): reading them, resolving their
paths, and cropping a camera's sensor maps to an optical layer's tiles at the right pixels."""

import io
import zipfile

import numpy as np
import pytest
import torch
import yaml
from helpers.optics import IDEAL, sampling

from mixsig.calib import CameraParams, SyntheticCamera, write_calibration_folder
from mixsig.config import ConfigError, load_yaml, validate
from mixsig.config.hardware import HardwareConfig
from mixsig.nn import MixedConv2d, OpticalConv2d
from mixsig.signal import build_chain
from mixsig.signal.distortion import Crosstalk, GainOffset, MapFileError, read_maps
from mixsig.train.config import TrainConfig


def _hw(entries, **extra):
    return {**IDEAL, "distortion": entries, **extra}


def _write_maps(path, **arrays):
    np.savez(path, **arrays)
    return path


# ----------------------------------------------------------------------------- config
def test_maps_exclude_stds_and_the_axis_needs_maps():
    with pytest.raises(ConfigError, match=r"distortion\[0\].*either measured maps or gain_std"):
        validate(
            HardwareConfig,
            {"distortion": [{"kind": "gain_offset", "maps": "m.npz", "gain_std": 0.1}]},
        )
    with pytest.raises(ConfigError, match="per must be 'pixel'"):
        validate(
            HardwareConfig,
            {"distortion": [{"kind": "gain_offset", "maps": "m.npz", "per": "channel"}]},
        )
    with pytest.raises(ConfigError, match="sensor_axis_px .* needs maps"):
        validate(
            HardwareConfig, {"distortion": [{"kind": "gain_offset", "sensor_axis_px": [3, 4]}]}
        )
    with pytest.raises(ConfigError, match="either measured maps or strength"):
        validate(
            HardwareConfig,
            {"distortion": [{"kind": "crosstalk", "maps": "m.npz", "strength": 0.1}]},
        )


def test_relative_map_paths_are_relative_to_the_yaml_that_names_them(tmp_path, monkeypatch):
    (tmp_path / "cam").mkdir()
    (tmp_path / "runs").mkdir()
    hw = {"distortion": [{"kind": "gain_offset", "maps": "cam.maps.npz"}]}
    (tmp_path / "cam" / "hw.yaml").write_text(yaml.safe_dump(hw))
    monkeypatch.chdir(tmp_path / "runs")  # the working folder must not matter
    want = str((tmp_path / "cam" / "cam.maps.npz").resolve())
    assert load_yaml(tmp_path / "cam" / "hw.yaml").distortion[0].maps == want
    # a run config naming the hardware YAML: relative to the hardware YAML
    (tmp_path / "runs" / "run.yaml").write_text(yaml.safe_dump({"hardware": "../cam/hw.yaml"}))
    run = load_yaml(tmp_path / "runs" / "run.yaml", TrainConfig)
    assert run.resolved_hardware(tmp_path / "runs").distortion[0].maps == want
    # inline hardware in a run config: relative to the run config
    (tmp_path / "runs" / "inline.yaml").write_text(yaml.safe_dump({"hardware": hw}))
    run = load_yaml(tmp_path / "runs" / "inline.yaml", TrainConfig)
    assert run.hardware.distortion[0].maps == str((tmp_path / "runs" / "cam.maps.npz").resolve())
    # absolute paths are kept as they are
    hw_abs = {"distortion": [{"kind": "gain_offset", "maps": want}]}
    (tmp_path / "abs.yaml").write_text(yaml.safe_dump(hw_abs))
    assert load_yaml(tmp_path / "abs.yaml").distortion[0].maps == want


# ----------------------------------------------------------------------------- reading
def test_read_maps_refuses_bad_files_by_name(tmp_path):
    with pytest.raises(MapFileError, match=r"not found: .*missing\.npz .*gain, offset"):
        read_maps(tmp_path / "missing.npz", ("gain", "offset"))
    p = _write_maps(tmp_path / "only_gain.npz", gain=np.zeros((4, 4)))
    with pytest.raises(MapFileError, match=r"no array 'offset' \(found: gain; needed: gain"):
        read_maps(p, ("gain", "offset"))
    p = tmp_path / "obj.npz"
    np.savez(p, gain=np.array([{"a": 1}], dtype=object), offset=np.zeros(1))
    with pytest.raises(MapFileError, match=r"'gain': found Python objects"):  # never unpickled
        read_maps(p, ("gain", "offset"))
    p = tmp_path / "single.npy"
    np.save(p, np.zeros((4, 4)))
    with pytest.raises(MapFileError, match="single array"):
        read_maps(p, ("gain",))
    p = tmp_path / "junk.npz"
    p.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(MapFileError, match="not a readable NumPy .npz"):
        read_maps(p, ("gain",))
    p = _write_maps(tmp_path / "nan.npz", gain=np.array([[0.0, np.nan]]))
    with pytest.raises(MapFileError, match="'gain' holds NaN"):
        read_maps(p, ("gain",))
    p = _write_maps(tmp_path / "rank.npz", gain=np.zeros((2, 2, 2, 2)))
    with pytest.raises(MapFileError, match=r"'gain' must have 1 or 2 or 3 dimensions, got shape"):
        read_maps(p, ("gain",))
    p = _write_maps(tmp_path / "str.npz", gain=np.array(["a", "b"]))
    with pytest.raises(MapFileError, match="must be numeric"):
        read_maps(p, ("gain",))


def _npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _zip_bytes(**members: bytes) -> bytes:
    """An .npz written member by member (``name.npy`` → bytes), to hold broken members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(f"{name}.npy", data)
    return buf.getvalue()


def _flip_byte_in_data(data: bytes) -> bytes:
    i = data.index(b"\x93NUMPY") + 200  # inside the first member's array data: bad CRC-32
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


_MAPS = {"gain": np.zeros((8, 8)), "offset": np.zeros((8, 8))}
_OFFSET = _npy_bytes(np.zeros((8, 8)))
# (name, file bytes, what the message must say)
BAD_MAP_FILES = [
    (
        "objects",
        lambda: _npz_bytes(gain=np.array([{"a": 1}], dtype=object), offset=np.zeros(1)),
        "'gain': found Python objects (dtype object)",
    ),
    ("text", lambda: b"these are not maps\n" * 4, "not a readable NumPy .npz archive"),
    ("truncated", lambda: _npz_bytes(**_MAPS)[:-30], "not a readable NumPy .npz archive"),
    ("bad_crc", lambda: _flip_byte_in_data(_npz_bytes(**_MAPS)), "'gain': found corrupt data"),
    (
        "truncated_member",
        lambda: _zip_bytes(gain=_npy_bytes(np.zeros((64, 64)))[:300], offset=_OFFSET),
        "'gain': found 172 of the 32768 bytes of a (64, 64) float64 array",
    ),
    (
        "not_an_array",
        lambda: _zip_bytes(gain=b"x", offset=_OFFSET),
        "'gain': found no valid .npy header",
    ),
    ("strings", lambda: _npz_bytes(gain=np.array(["a"]), offset=np.zeros(1)), "must be numeric"),
]


@pytest.mark.parametrize("name, make, says", BAD_MAP_FILES, ids=[c[0] for c in BAD_MAP_FILES])
def test_map_file_errors_name_the_file_and_never_repeat_numpys_unsafe_advice(
    tmp_path, name, make, says
):
    p = tmp_path / f"{name}.npz"
    p.write_bytes(make())
    with pytest.raises(MapFileError) as e:
        read_maps(p, ("gain", "offset"))
    msg = str(e.value)
    assert str(p) in msg and says in msg, msg
    # numpy's own text for a pickled or object array advises loading it "unsafely"
    assert "allow_pickle" not in msg and "unsafe" not in msg.lower(), msg


def test_per_sample_maps_and_kernels_are_used_exactly(tmp_path):
    rng = np.random.default_rng(0)
    g, o = rng.normal(0, 0.05, (3, 6, 6)), rng.normal(0, 0.01, (3, 6, 6))
    k = np.array([[0.0, 0.05, 0.0], [0.05, 0.8, 0.05], [0.0, 0.05, 0.0]])
    p = _write_maps(tmp_path / "m.npz", gain=g, offset=o, crosstalk_kernel=k)
    hw = validate(
        HardwareConfig,
        _hw([{"kind": "crosstalk", "maps": str(p)}, {"kind": "gain_offset", "maps": str(p)}]),
    )
    xt, go = build_chain(hw).distortions
    assert isinstance(xt, Crosstalk) and isinstance(go, GainOffset)
    np.testing.assert_array_equal(xt.kernel.numpy(), k)
    np.testing.assert_array_equal(go.gain.numpy(), g)
    np.testing.assert_array_equal(go.offset.numpy(), o)
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    want = x * (1 + torch.from_numpy(g)) + torch.from_numpy(o)  # full scale 1
    torch.testing.assert_close(go(x), want, rtol=0, atol=1e-15)


def test_sensor_maps_on_a_layer_that_cannot_place_them_are_refused(tmp_path):
    p = _write_maps(tmp_path / "m.npz", gain=np.zeros((64, 64)), offset=np.zeros((64, 64)))
    layer = MixedConv2d(1, 2, 3, hardware=_hw([{"kind": "gain_offset", "maps": str(p)}]))
    with pytest.raises(
        ValueError,
        match=r"sensor maps of shape \(64, 64\).*OpticalConv2d.*"
        r"\(2, 6, 6\)",
    ):
        layer(torch.rand(1, 1, 8, 8))


# ----------------------------------------------------------------------------- optical tiles
def _optical(hw=None, **kw):
    torch.manual_seed(0)
    args = dict(
        image_size=8,
        sampling=sampling(64),
        hardware=hw or IDEAL,
        signed=False,
        parameterisation="doe",
        doe_levels=None,
        model_crosstalk=True,
        doe_init=torch.rand(64, 64, dtype=torch.float64) * 6.3,
        dtype=torch.float64,
    )
    args.update(kw)
    return OpticalConv2d(3, 3, **args)


def test_sensor_index_points_at_the_camera_pixel_each_output_reads():
    """The camera image, built here from its definition — each input pixel m imaged
    point-reflected to the camera offset (H//2, W//2) − m and spread by the PSF — read at the
    sensor pixels `sensor_index` gives, equals the layer's analog output."""
    layer = _optical()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        out = layer.optical_forward(x)[0].numpy()  # (3, 8, 8)
        psf = layer.camera_plane_psf().numpy()
    jc = psf.shape[0] // 2
    sensor, axis = (90, 100), (41, 57)
    rows, cols = layer.sensor_index(sensor, axis)
    assert rows.shape == cols.shape == (3, 8, 8)
    assert rows.min() >= 0 and rows.max() < 90 and cols.min() >= 0 and cols.max() < 100

    def camera(uy, ux):  # intensity at camera offset (uy, ux) from the axis
        total = 0.0
        for my in range(8):
            for mx in range(8):
                py, px = jc + uy - (4 - my), jc + ux - (4 - mx)
                if 0 <= py < psf.shape[0] and 0 <= px < psf.shape[1]:
                    total += x[0, 0, my, mx].item() * psf[py, px]
        return total

    for t in range(3):
        for i in range(8):
            for j in range(8):
                u = (int(rows[t, i, j]) - axis[0], int(cols[t, i, j]) - axis[1])
                assert out[t, i, j] == pytest.approx(camera(*u), rel=1e-9, abs=1e-15)
    # the default axis is the sensor's centre pixel
    r0, c0 = layer.sensor_index(sensor)
    torch.testing.assert_close(r0, rows + 45 - 41)
    torch.testing.assert_close(c0, cols + 50 - 57)


def test_sensor_maps_are_cropped_to_the_tiles_and_too_small_a_sensor_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    g, o = rng.normal(0, 0.05, (80, 80)), rng.normal(0, 0.01, (80, 80))
    p = _write_maps(tmp_path / "cam.maps.npz", gain=g, offset=o)
    hw = _hw([{"kind": "gain_offset", "maps": str(p), "sensor_axis_px": [39, 42]}])
    layer = _optical(hw)
    (go,) = layer.chain.distortions
    rows, cols = layer.sensor_index((80, 80), (39, 42))
    np.testing.assert_array_equal(go.gain.numpy(), g[rows.numpy(), cols.numpy()])
    np.testing.assert_array_equal(go.offset.numpy(), o[rows.numpy(), cols.numpy()])
    assert go.sensor_maps is None
    small = _write_maps(tmp_path / "small.npz", gain=g[:12, :12], offset=o[:12, :12])
    with pytest.raises(ValueError, match=r"sensor rows .* outside the measured 12×12 sensor"):
        _optical(_hw([{"kind": "gain_offset", "maps": str(small)}]))


# ----------------------------------------------------------------------------- the lab's path
def test_from_lab_frames_to_a_trained_optical_network_with_two_commands(tmp_path):
    """`mixsig calibrate` then `mixsig train`: the trained network's camera carries the
    measured PRNU of the very sensor pixels its tiles fall on."""
    from typer.testing import CliRunner

    from mixsig.cli.main import app

    cam = SyntheticCamera(CameraParams(shape=(160, 160), prnu_std=0.05), seed=3)
    truth = write_calibration_folder(cam, tmp_path / "lab", n_darks=8, n_flats=16)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "calibrate",
            str(tmp_path / "lab"),
            "--out",
            str(tmp_path / "cam" / "camera.yaml"),
            "--adc-bits",
            "4",
        ],
    )
    assert res.exit_code == 0, res.output
    run = {
        "name": "lab",
        "data": {"name": "bundled-mnist", "limit_train": 600, "limit_test": 200},
        "model": {"name": "optical_cnn", "optical": {"out_channels": 4, "doe_levels": 16}},
        "hardware": "../cam/camera.yaml",
        "method": {"name": "P", "sigma_train_lsb": 0.5},
        "pretrain": {"epochs": 1, "lr": 0.01},
        "aware": {"epochs": 1, "lr": 0.003},
        "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
    }
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "lab.yaml").write_text(yaml.safe_dump(run))
    res = runner.invoke(
        app, ["train", str(tmp_path / "runs" / "lab.yaml"), "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    from mixsig.train import load_trained

    model, _, _ = load_trained(tmp_path / "out")
    layer = next(m for m in model.modules() if isinstance(m, OpticalConv2d))
    go = next(d for d in layer.chain.distortions if isinstance(d, GainOffset))
    rows, cols = layer.sensor_index((160, 160))
    prnu = truth["prnu_map"][rows.numpy(), cols.numpy()]
    assert np.corrcoef(go.gain.numpy().ravel(), prnu.ravel())[0, 1] > 0.95
    # the checkpoint holds the measured maps: it loads after the .npz has gone
    (tmp_path / "cam" / "camera.maps.npz").unlink()
    again, _, _ = load_trained(tmp_path / "out")
    layer2 = next(m for m in again.modules() if isinstance(m, OpticalConv2d))
    go2 = next(d for d in layer2.chain.distortions if isinstance(d, GainOffset))
    torch.testing.assert_close(go2.gain, go.gain, rtol=0, atol=0)
    a, b = again.state_dict(), model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
