"""benchmarks/bench_optics.py runs and writes sane JSON (a smoke test: no timing assertions).

torchoptics is an optional peer (``pip install -e ".[peers]"``); CI does not install it, and
the benchmark then skips its variants with a note and reports ``speedup_vs_torchoptics: null``.
"""

import importlib.util
import json
import math
import sys

from helpers import REPO

ROOT = REPO
TO_VARIANTS = ("torchoptics_f64", "torchoptics_f32")


def _load():
    spec = importlib.util.spec_from_file_location(
        "bench_optics", ROOT / "benchmarks" / "bench_optics.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _has_torchoptics() -> bool:
    return importlib.util.find_spec("torchoptics") is not None


def _check_common(data: dict) -> None:
    assert {"speedup_vs_torchoptics", "ratio_vs_fft_bound", "peak_rss_mb"} <= set(data)
    assert data["rounds"] == 2
    r = data["ratio_vs_fft_bound"]
    assert r is not None and math.isfinite(r) and r > 0  # mixsig and the bound always run
    assert data["peak_rss_mb"] > 0
    for name in ("mixsig", "fft_bound", "optics_mixsig"):
        assert data["median_s"][name] > 0, name
    for name, t in data["median_s"].items():
        assert (t is None) == (name in data["skipped"]), name
    assert data["check"]["mixsig_f32_vs_f64_camera"] < 1e-4
    for name in ("mixsig_windows", "fft_bound_windows"):  # the windows-only mode always runs
        assert data["median_s"][name] > 0, name
    assert 0 < data["check"]["windows_light_fraction_of_box"] <= 1
    assert data["ratio_vs_fft_bound_windows"] > 0


def test_window_tiles_are_conv2d_with_each_window_and_the_box_tiles_restricted_to_it():
    """The windows-only camera: channel t = conv2d(image, window_t) ('same', window centre on
    the pixel) — and the whole-box tiles of a PSF that is zero outside the windows."""
    import torch
    import torch.nn.functional as F

    bench = _load()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, bench.IMAGE, bench.IMAGE, generator=g, dtype=torch.float64)
    psf = torch.rand(bench.GRID, bench.GRID, generator=g, dtype=torch.float64)
    w = bench.windows(psf)  # (8, k, k)
    got = bench.window_tiles(images, psf)
    r = bench.KERNEL // 2
    want = F.conv2d(images, torch.flip(w, (-2, -1))[:, None], padding=r)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    only = torch.zeros_like(psf)  # keep the windows' light only
    c = bench.GRID // 2
    for dy, dx in bench.OFFSETS:
        only[c + dy - r : c + dy + r + 1, c + dx - r : c + dx + r + 1] = psf[
            c + dy - r : c + dy + r + 1, c + dx - r : c + dx + r + 1
        ]
    box = bench.crop_center(only, (bench.BOX, bench.BOX))
    full = bench.tiles(bench.fft_convolve(images, box, mode="full"))
    torch.testing.assert_close(got, full, rtol=1e-10, atol=1e-12)


def test_bench_optics_quick_writes_its_json(tmp_path, capsys):
    out = tmp_path / "bench_optics.json"
    assert _load().main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    _check_common(data)
    s = data["speedup_vs_torchoptics"]
    if _has_torchoptics():
        assert s is not None and math.isfinite(s) and s > 0
        assert data["check"]["passed"] is True
        assert data["torchoptics"] is not None
    else:
        assert s is None and "torchoptics_f64_psf_window" not in data["check"]
        for name in TO_VARIANTS:
            assert "not installed" in data["skipped"][name]
        assert "[skipped] torchoptics_f64: torchoptics is not installed" in capsys.readouterr().out


def test_bench_optics_without_torchoptics_skips_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchoptics", None)  # import torchoptics → ImportError
    out = tmp_path / "bench_optics.json"
    assert _load().main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    _check_common(data)
    assert data["speedup_vs_torchoptics"] is None and data["torchoptics"] is None
    assert data["check"]["passed"] is not False
    assert not any(k.startswith("torchoptics") for k in data["check"]["checked"])
    for name in TO_VARIANTS:
        assert data["median_s"][name] is None
        assert "not installed" in data["skipped"][name]
    assert "[skipped] torchoptics_f64: torchoptics is not installed" in capsys.readouterr().out


def test_bench_optics_child_reports_peak_memory(capsys):
    assert _load().main(["--_child", "optics_mixsig", "--child-steps", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["peak_mb"] > 0
