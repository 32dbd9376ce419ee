"""Tests of the DOE fabrication export (`mixsig.optics.export`).

Round trips (safetensors exact, TIFF exact for L levels and within half a 16-bit code when
continuous, GDS rasterised exactly; the PSF of the re-imported mask equals the original's to
1e-12), the TIFF tags and description read with tifffile itself, the GDS layers, areas,
merging, orientation and etch convention read with gdstk itself, the PNG, every `DOEFileError`
of `import_doe`, and atomic writes.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import gdstk
import numpy as np
import pytest
import tifffile
import torch
from matplotlib.image import imread
from PIL import Image
from safetensors.torch import save_file

from mixsig.optics import (
    FourierSampling,
    fraunhofer_psf,
    height_to_phase,
    phase_to_height,
    quantize_phase,
    transmission,
)
from mixsig.optics.export import (
    DOEFileError,
    DOEMetadata,
    export_doe,
    import_doe,
    merge_rectangles,
    read_gds_levels,
)

TWO_PI = 2 * math.pi
PITCH_M = 6e-6


def _meta(levels: int | None, **kw: object) -> DOEMetadata:
    args: dict[str, object] = dict(
        wavelength_m=532e-9, pitch_m=PITCH_M, levels=levels, material_index=1.46
    )
    args.update(focal_length_m=0.2, comment="fused silica, test")
    args.update(kw)
    return DOEMetadata(**args)  # type: ignore[arg-type]


def _random_phase(n: int, levels: int | None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    phi = torch.rand(n, n, generator=g, dtype=torch.float64) * TWO_PI
    return phi if levels is None else quantize_phase(phi, levels, ste=False)


def _psf(phase: torch.Tensor) -> torch.Tensor:
    return fraunhofer_psf(transmission(phase), 2)


def _assert_same_psf(a: torch.Tensor, b: torch.Tensor) -> None:
    assert float((_psf(a) - _psf(b)).abs().max()) <= 1e-12


def _circular_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((torch.remainder(a - b + math.pi, TWO_PI) - math.pi).abs().max())


def _export(tmp_path: Path, phase: torch.Tensor, meta: DOEMetadata, **kw: object) -> dict:
    return export_doe(phase, tmp_path / "out", meta, **kw)  # type: ignore[arg-type]


# -- metadata ---------------------------------------------------------------------------------


def test_metadata_derived_quantities_and_validation() -> None:
    meta = _meta(16)
    h2pi = 532e-9 / 0.46
    assert meta.height_2pi_m == pytest.approx(h2pi, rel=1e-15)
    assert meta.max_height_m == meta.height_2pi_m
    assert meta.height_step_m == pytest.approx(h2pi / 16, rel=1e-15)
    assert meta.etch_steps == 4 and meta.counts_per_2pi == 65536
    # the 2π etch depth is the height of a 2π phase at the design wavelength
    one = height_to_phase(
        torch.tensor(meta.height_2pi_m, dtype=torch.float64), meta.wavelength_m, 1.46
    )
    assert float(one) == pytest.approx(TWO_PI, rel=1e-14)
    assert _meta(None).height_step_m is None and _meta(None).etch_steps is None
    assert _meta(3).etch_steps is None and _meta(3).counts_per_2pi == 3 * 21845
    sampling = FourierSampling(532e-9, 0.2, PITCH_M, 32)
    from_s = DOEMetadata.from_sampling(sampling, levels=4, material_index=1.46)
    assert (from_s.wavelength_m, from_s.pitch_m, from_s.focal_length_m) == (532e-9, PITCH_M, 0.2)
    with pytest.raises(ValueError, match="levels"):
        _meta(1)
    with pytest.raises(ValueError, match="material_index"):
        _meta(4, material_index=1.0)
    with pytest.raises(ValueError, match="pitch_m"):
        _meta(4, pitch_m=-1e-6)


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(("levels", "n"), [(None, 32), (16, 48), (4, 64)])
def test_safetensors_round_trip_is_exact(tmp_path: Path, levels: int | None, n: int) -> None:
    phase = _random_phase(n, levels)
    meta = _meta(levels)
    paths = _export(tmp_path, phase, meta, formats=["safetensors"])
    back, meta_back = import_doe(paths["safetensors"])
    assert back.dtype == torch.float64 and back.shape == (n, n)
    assert torch.equal(back, phase)
    assert meta_back == meta
    _assert_same_psf(back, phase)
    from safetensors import safe_open

    with safe_open(str(paths["safetensors"]), framework="pt") as f:
        raw = f.metadata()
        height = f.get_tensor("height_m")
    assert torch.equal(height, phase_to_height(phase, 532e-9, 1.46))
    assert float(height.max()) < meta.height_2pi_m
    assert all(isinstance(v, str) for v in raw.values())
    assert json.loads(raw["wavelength_m"]) == 532e-9 and json.loads(raw["levels"]) == levels


@pytest.mark.parametrize(("levels", "n"), [(16, 48), (4, 64), (2, 32)])
def test_tiff_round_trip_exact_for_levels(tmp_path: Path, levels: int, n: int) -> None:
    phase = _random_phase(n, levels, seed=1)
    paths = _export(tmp_path, phase, _meta(levels), formats=["tif"])
    for key in ("height_tif", "phase_tif"):
        back, meta_back = import_doe(paths[key])
        assert torch.equal(back, phase), key
        assert meta_back == _meta(levels)
        _assert_same_psf(back, phase)


def test_tiff_round_trip_continuous_within_half_a_code(tmp_path: Path) -> None:
    phase = _random_phase(40, None, seed=2)
    phase[0, 0] = TWO_PI - 1e-7  # within half a code of 2π: becomes code 0, same phase mod 2π
    paths = _export(tmp_path, phase, _meta(None), formats=["tif"])
    back, _ = import_doe(paths["height_tif"])
    err = _circular_error(back, phase)
    assert err <= math.pi / 65536 + 1e-12  # half of one code (≤ 2π/65535)
    assert err > 0.25 * math.pi / 65536  # it really is quantized
    assert float(back.max()) < TWO_PI and back[0, 0] == 0
    psf_err = float((_psf(back) - _psf(phase)).abs().max())
    assert psf_err < 1e-4 * float(_psf(phase).max())


@pytest.mark.parametrize("levels", [3, 5])
def test_non_power_of_two_levels_tiff_exact_and_gds_skipped(tmp_path: Path, levels: int) -> None:
    phase = _random_phase(32, levels, seed=3)
    with pytest.warns(UserWarning, match="power|2\\^k"):
        paths = _export(tmp_path, phase, _meta(levels))
    assert "gds" not in paths and not (tmp_path / "out" / "doe.gds").exists()
    assert {"safetensors", "height_tif", "phase_tif", "png", "readme"} <= set(paths)
    codes = tifffile.imread(paths["height_tif"])
    step = 65536 // levels
    assert set(np.unique(codes).tolist()) <= {k * step for k in range(levels)}
    back, _ = import_doe(paths["phase_tif"])
    assert torch.equal(back, phase)
    _assert_same_psf(back, phase)


def test_tiff_tags_and_description_read_with_tifffile(tmp_path: Path) -> None:
    phase = _random_phase(48, 16, seed=4)
    meta = _meta(16)
    paths = _export(tmp_path, phase, meta, formats=["tif"])
    k = torch.round(phase / (TWO_PI / 16)).to(torch.int64).numpy()
    for quantity in ("height", "phase"):
        with tifffile.TiffFile(paths[f"{quantity}_tif"]) as tif:
            assert len(tif.pages) == 1
            page = tif.pages[0]
            assert page.dtype == np.uint16 and page.bitspersample == 16
            assert page.shape == (48, 48) and page.samplesperpixel == 1
            data = page.asarray()
            desc = json.loads(page.description)
            assert page.tags["ResolutionUnit"].value == 3  # centimetre
            x_res = page.tags["XResolution"].value
            y_res = page.tags["YResolution"].value
        assert x_res == y_res
        assert x_res[0] / x_res[1] == pytest.approx(0.01 / PITCH_M, rel=1e-6)
        np.testing.assert_array_equal(data, k * 4096)  # level k ↔ the exact integer code
        for key in (
            "wavelength_m",
            "pitch_m",
            "levels",
            "material_index",
            "focal_length_m",
            "comment",
            "units",
            "counts_per_2pi",
            "value_per_count",
            "pixel_size_m",
            "height_2pi_m",
            "quantity",
            "format",
            "format_version",
        ):
            assert key in desc, key
        assert desc["quantity"] == quantity and desc["counts_per_2pi"] == 65536
        assert desc["pixel_size_m"] == desc["pitch_m"] == PITCH_M
        assert desc["wavelength_m"] == 532e-9 and desc["levels"] == 16
        unit = meta.height_2pi_m if quantity == "height" else TWO_PI
        assert desc["value_per_count"] == pytest.approx(unit / 65536, rel=1e-15)
        values = data.astype(np.float64) * desc["value_per_count"]
        expected = phase.numpy() if quantity == "phase" else phase_to_height(phase, 532e-9, 1.46)
        np.testing.assert_allclose(values, np.asarray(expected), rtol=1e-12, atol=0)


# -- GDS --------------------------------------------------------------------------------------


def _layer_polygons(path: Path) -> tuple[gdstk.Cell, dict[int, list[gdstk.Polygon]]]:
    lib = gdstk.read_gds(str(path), unit=1e-6)
    (cell,) = lib.top_level()
    layers: dict[int, list[gdstk.Polygon]] = {}
    for poly in cell.polygons:
        layers.setdefault(poly.layer, []).append(poly)
    return cell, layers


@pytest.mark.parametrize(("levels", "n"), [(16, 48), (4, 64)])
def test_gds_layers_areas_and_exact_levels(tmp_path: Path, levels: int, n: int) -> None:
    phase = _random_phase(n, levels, seed=5)
    paths = _export(tmp_path, phase, _meta(levels), formats=["gds"], name="mask_a")
    k_bits = levels.bit_length() - 1
    lib = gdstk.read_gds(str(paths["gds"]), unit=1e-6)
    assert lib.unit == pytest.approx(1e-6) and lib.precision == pytest.approx(1e-9)
    assert [c.name for c in lib.top_level()] == ["mask_a"]
    assert lib.layers_and_datatypes() == {(j, 0) for j in range(1, k_bits + 1)}
    assert lib.layers_and_texttypes() == {(0, 0)}
    cell, layers = _layer_polygons(paths["gds"])
    labels = {lab.text.partition("=")[0] for lab in cell.labels}
    assert {"convention", "levels", "pitch_m", "wavelength_m", "pixels", "origin"} <= labels
    k = torch.round(phase / (TWO_PI / levels)).to(torch.int64)
    etch = levels - 1 - k
    for j in range(1, k_bits + 1):
        count = int(((etch >> (j - 1)) & 1).sum())
        area_um2 = sum(p.area() for p in layers[j])
        assert area_um2 == pytest.approx(count * 36.0, rel=1e-12), j
    codes, meta = read_gds_levels(paths["gds"])
    assert torch.equal(codes, k)
    assert meta == _meta(levels)
    back, _ = import_doe(paths["gds"])
    assert torch.equal(back, phase)
    _assert_same_psf(back, phase)


def test_gds_etch_convention_reproduces_the_phase(tmp_path: Path) -> None:
    """Decode the layers with gdstk alone: top − Σ etched depths must be the design height."""
    levels, n = 8, 40
    phase = _random_phase(n, levels, seed=6)
    meta = _meta(levels)
    paths = _export(tmp_path, phase, meta, formats=["gds"])
    _, layers = _layer_polygons(paths["gds"])
    p_um = PITCH_M * 1e6
    idx = (np.arange(n) - n // 2) * p_um
    ys, xs = np.meshgrid(idx, idx, indexing="ij")
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    step_m = meta.height_2pi_m / levels
    depth = np.zeros(n * n)
    for j in range(1, 4):
        inside = np.asarray(gdstk.inside(centres, layers[j]), dtype=float)
        depth += inside * 2 ** (j - 1) * step_m  # layer j etches 2^(j−1)·h_2π/L
    height = torch.from_numpy(((levels - 1) * step_m - depth).reshape(n, n))
    rebuilt = height_to_phase(height, meta.wavelength_m, meta.material_index)
    assert _circular_error(rebuilt, phase) < 1e-12
    _assert_same_psf(rebuilt, phase)
    # the sign matters: the conjugate mask (etch code = level code) has another PSF
    assert float((_psf(-phase) - _psf(phase)).abs().max()) > 1e-3 * float(_psf(phase).max())


def test_gds_merges_pixels_into_rectangles(tmp_path: Path) -> None:
    n, levels = 64, 16
    stripes = (torch.arange(n) % 16).to(torch.float64)[None, :].expand(n, n) * (TWO_PI / 16)
    paths = _export(tmp_path, stripes.clone(), _meta(levels), formats=["gds"], name="stripes")
    _, layers = _layer_polygons(paths["gds"])
    for j in range(1, 5):  # runs of 2^(j−1) columns, each one full-height rectangle
        assert len(layers[j]) == n // 2**j, j
        assert all(len(p.points) == 4 for p in layers[j])
        for poly in layers[j]:
            (x0, y0), (x1, y1) = poly.bounding_box()
            assert (y1 - y0) == pytest.approx(n * 6.0) and (x1 - x0) == pytest.approx(
                2 ** (j - 1) * 6.0
            )
    g = torch.Generator().manual_seed(7)
    blocks = torch.randint(0, levels, (8, 8), generator=g)
    k = torch.kron(blocks, torch.ones(8, 8, dtype=torch.int64))
    paths = _export(tmp_path, k * (TWO_PI / 16), _meta(levels), formats=["gds"], name="blocks")
    _, layers = _layer_polygons(paths["gds"])
    total = sum(len(v) for v in layers.values())
    assert total <= 4 * 64 < n * n // 8  # at most one rectangle per block and layer
    codes, _ = read_gds_levels(paths["gds"])
    assert torch.equal(codes, k)


def test_merge_rectangles_covers_mask_exactly() -> None:
    rng = np.random.default_rng(8)
    mask = rng.random((37, 29)) < 0.5
    cover = np.zeros(mask.shape, dtype=np.int64)
    rects = merge_rectangles(mask)
    for r0, r1, c0, c1 in rects:
        cover[r0:r1, c0:c1] += 1
    np.testing.assert_array_equal(cover, mask.astype(np.int64))  # disjoint, exact union
    assert len(rects) < int(mask.sum())


def test_gds_origin_and_orientation(tmp_path: Path) -> None:
    """Array row r is y = (r − N//2)·p, column c is x: one etched pixel lands where it should."""
    n, levels = 32, 2
    k = torch.ones(n, n, dtype=torch.int64)
    k[3, 20] = 0  # the only etched pixel (etch code 1)
    paths = _export(tmp_path, k * math.pi, _meta(levels), formats=["gds"])
    _, layers = _layer_polygons(paths["gds"])
    (poly,) = layers[1]
    (x0, y0), (x1, y1) = poly.bounding_box()
    assert (x0, x1) == pytest.approx(((20 - 16 - 0.5) * 6.0, (20 - 16 + 0.5) * 6.0))
    assert (y0, y1) == pytest.approx(((3 - 16 - 0.5) * 6.0, (3 - 16 + 0.5) * 6.0))


@pytest.mark.parametrize("levels", [3, 12, None])
def test_gds_refused_for_non_power_of_two_levels(tmp_path: Path, levels: int | None) -> None:
    phase = _random_phase(16, levels)
    with pytest.raises(ValueError, match="2\\^k levels"):
        _export(tmp_path, phase, _meta(levels), formats=["gds", "tif"])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- PNG ----------------------------------------------------------------------------------------


def test_png_is_valid_with_expected_aspect(tmp_path: Path) -> None:
    phase = _random_phase(32, 16, seed=9)
    with_psf = _export(tmp_path, phase, _meta(16), psf=_psf(phase), formats=["png"], name="a")
    alone = _export(tmp_path, phase, _meta(16), formats=["png"], name="b")
    for path, aspect in ((with_psf["png"], 2.5), (alone["png"], 1.25)):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = imread(path)
        assert img.ndim == 3 and img.shape[1] / img.shape[0] == pytest.approx(aspect, rel=0.01)
        assert float(img[..., :3].std()) > 0.05  # not blank
        with Image.open(path) as im:
            assert json.loads(im.text["Description"])["levels"] == 16


def test_png_accepts_a_psf_without_focal_length(tmp_path: Path) -> None:
    phase = _random_phase(16, None)
    paths = _export(
        tmp_path, phase, _meta(None, focal_length_m=None), psf=_psf(phase).numpy(), formats=["png"]
    )
    assert paths["png"].stat().st_size > 1000
    with pytest.raises(ValueError, match="psf"):
        _export(tmp_path, phase, _meta(None), psf=torch.zeros(2, 3, 3), formats=["png"])


# -- export input checks ------------------------------------------------------------------------


def test_export_wraps_phase_and_refuses_off_grid_levels(tmp_path: Path) -> None:
    phase = _random_phase(16, 4)
    paths = _export(tmp_path, phase - TWO_PI, _meta(4), formats=["safetensors"])
    back, _ = import_doe(paths["safetensors"])
    assert torch.equal(back, phase)
    with pytest.raises(ValueError, match="quantize_phase"):
        _export(tmp_path, _random_phase(16, None), _meta(4), formats=["safetensors"])
    with pytest.raises(ValueError, match="square"):
        _export(tmp_path, torch.zeros(8, 9, dtype=torch.float64), _meta(4))
    with pytest.raises(ValueError, match="name"):
        _export(tmp_path, phase, _meta(4), name="../evil")
    with pytest.raises(ValueError, match="unknown formats"):
        _export(tmp_path, phase, _meta(4), formats=["jpeg"])


# -- import errors ------------------------------------------------------------------------------


def _st_metadata(tmp_path: Path) -> dict[str, str]:
    paths = _export(tmp_path, _random_phase(16, 4), _meta(4), formats=["safetensors"], name="ref")
    from safetensors import safe_open

    with safe_open(str(paths["safetensors"]), framework="pt") as f:
        return dict(f.metadata())


def _write_st(
    tmp_path: Path,
    phase: torch.Tensor,
    height: torch.Tensor | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    meta = {k: v for k, v in _st_metadata(tmp_path).items() if k not in drop}
    if height is None:
        height = phase_to_height(phase, 532e-9, 1.46)
    path = tmp_path / "bad.safetensors"
    save_file({"phase_rad": phase.contiguous(), "height_m": height.contiguous()}, path, meta)
    return path


def _tiff_desc(tmp_path: Path, levels: int | None = 4) -> dict:
    phase = _random_phase(16, levels)
    paths = _export(tmp_path, phase, _meta(levels), formats=["tif"], name="ref")
    with tifffile.TiffFile(paths["height_tif"]) as tif:
        return json.loads(tif.pages[0].description)


def _write_tif(tmp_path: Path, data: np.ndarray, desc: dict | None) -> Path:
    path = tmp_path / "bad.tif"
    text = None if desc is None else json.dumps(desc)
    tifffile.imwrite(path, data, description=text, metadata=None)
    return path


def test_import_safetensors_errors(tmp_path: Path) -> None:
    ok = _random_phase(16, 4)
    cases = [
        ((torch.zeros(16, 24, dtype=torch.float64),), {}, r"shape \(16, 24\)"),
        ((torch.zeros(2, 16, 16, dtype=torch.float64),), {}, r"2-D square"),
        ((ok,), {"drop": ("wavelength_m", "pitch_m")}, "missing the keys wavelength_m, pitch_m"),
        ((ok,), {"drop": ("format",)}, "not a mixsig DOE export"),
        ((ok.float(), ok.float()), {}, "float32, needs torch.float64"),
    ]
    for args, kw, match in cases:
        with pytest.raises(DOEFileError, match=match):
            import_doe(_write_st(tmp_path, *args, **kw))
    at_2pi = ok.clone()
    at_2pi[0, 0] = TWO_PI
    with pytest.raises(DOEFileError, match=r"phase_rad spans .* outside \[0, 2π\)"):
        import_doe(_write_st(tmp_path, at_2pi))
    with pytest.raises(DOEFileError, match=r"outside \[0, 2π\)"):
        import_doe(_write_st(tmp_path, ok - 0.1))
    high = phase_to_height(ok, 532e-9, 1.46)
    high[1, 1] = 1.5 * 532e-9 / 0.46
    with pytest.raises(DOEFileError, match="height_m spans .* outside .*h_2π"):
        import_doe(_write_st(tmp_path, ok, high))
    with pytest.raises(DOEFileError, match="disagree"):
        import_doe(_write_st(tmp_path, ok, phase_to_height(ok, 532e-9, 1.5)))
    with pytest.raises(DOEFileError, match="level grid"):
        import_doe(_write_st(tmp_path, ok + 0.01))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 7 + b"not a safetensors file")
    with pytest.raises(DOEFileError, match="not a readable safetensors"):
        import_doe(garbage)


def test_import_tiff_errors(tmp_path: Path) -> None:
    desc = _tiff_desc(tmp_path)
    codes = np.zeros((16, 16), dtype=np.uint16)
    with pytest.raises(DOEFileError, match=r"uint8 \(8-bit\), needs uint16"):
        import_doe(_write_tif(tmp_path, codes.astype(np.uint8), desc))
    with pytest.raises(DOEFileError, match=r"float32 \(32-bit\), needs uint16"):
        import_doe(_write_tif(tmp_path, codes.astype(np.float32), desc))
    with pytest.raises(DOEFileError, match=r"shape \(16, 20\)"):
        import_doe(_write_tif(tmp_path, np.zeros((16, 20), dtype=np.uint16), desc))
    with pytest.raises(DOEFileError, match=r"shape \(16, 16, 3\)"):
        import_doe(_write_tif(tmp_path, np.zeros((16, 16, 3), dtype=np.uint16), desc))
    partial = {k: v for k, v in desc.items() if k not in ("counts_per_2pi", "material_index")}
    with pytest.raises(DOEFileError, match="material_index, counts_per_2pi"):
        import_doe(_write_tif(tmp_path, codes, partial))
    with pytest.raises(DOEFileError, match="not a mixsig DOE export"):
        import_doe(_write_tif(tmp_path, codes, None))
    with pytest.raises(DOEFileError, match="value_per_count"):
        import_doe(_write_tif(tmp_path, codes, {**desc, "value_per_count": 1e-9}))
    off_grid = codes.copy()
    off_grid[2, 2] = 100
    with pytest.raises(DOEFileError, match="level grid"):
        import_doe(_write_tif(tmp_path, off_grid, desc))
    three = _tiff_desc(tmp_path, 3)  # S = 3·21845 = 65535 < 65536: code 65535 is 2π
    top = codes.copy()
    top[0, 0] = 65535
    with pytest.raises(DOEFileError, match="≥ counts_per_2pi = 65535.*h_2π"):
        import_doe(_write_tif(tmp_path, top, three))
    not_tiff = tmp_path / "x.tif"
    not_tiff.write_bytes(b"GIF89a not a tiff at all")
    with pytest.raises(DOEFileError, match="not a readable TIFF"):
        import_doe(not_tiff)


def test_import_other_errors_and_never_unpickles(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self) -> tuple:
            return (Path.touch, (marker,))

    pt = tmp_path / "doe.pt"
    pt.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(DOEFileError, match="unsupported file type '.pt'"):
        import_doe(pt)
    assert not marker.exists()
    with pytest.raises(DOEFileError, match="no such file"):
        import_doe(tmp_path / "missing.safetensors")
    lib = gdstk.Library()
    cell = lib.new_cell("foreign")
    cell.add(gdstk.rectangle((0, 0), (6, 6), layer=1))
    lib.write_gds(str(tmp_path / "foreign.gds"))
    with pytest.raises(DOEFileError, match="not a mixsig DOE export"):
        import_doe(tmp_path / "foreign.gds")


def test_gds_reader_refuses_off_grid_and_extra_layers(tmp_path: Path) -> None:
    paths = _export(tmp_path, _random_phase(16, 4), _meta(4), formats=["gds"])
    lib = gdstk.read_gds(str(paths["gds"]))
    (cell,) = lib.top_level()
    cell.add(gdstk.rectangle((100.0, 100.0), (102.0, 102.0), layer=1))  # not a whole pixel
    lib.write_gds(str(tmp_path / "off_grid.gds"))
    with pytest.raises(DOEFileError, match="layer 1 polygons cover"):
        read_gds_levels(tmp_path / "off_grid.gds")
    lib = gdstk.read_gds(str(paths["gds"]))
    (cell,) = lib.top_level()
    cell.add(gdstk.rectangle((0, 0), (6, 6), layer=3))
    lib.write_gds(str(tmp_path / "extra.gds"))
    with pytest.raises(DOEFileError, match="layer 3/0; L = 4 uses layers 1…2"):
        read_gds_levels(tmp_path / "extra.gds")


# -- atomic writes ------------------------------------------------------------------------------


def test_atomic_writes_leave_no_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phase = _random_phase(32, 16)
    paths = _export(tmp_path, phase, _meta(16), psf=_psf(phase))
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in paths.values())
    assert names == sorted(
        ["doe.safetensors", "doe_height.tif", "doe_phase.tif", "doe.png", "doe.gds"]
        + ["doe_README.txt"]
    )
    before = paths["height_tif"].read_bytes()

    def broken(path: Path, *args: object, **kw: object) -> None:
        Path(path).write_bytes(b"half a tiff")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError, match="disk full"):
        _export(tmp_path, _random_phase(32, 16, seed=1), _meta(16), formats=["tif"])
    assert paths["height_tif"].read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in out.iterdir()) == names  # and no temporary is left
    import_doe(paths["height_tif"])


def test_gds_reader_accepts_cad_merged_polygons(tmp_path: Path) -> None:
    """A layout whose layers were merged into general polygons (boolean OR) reads the same."""
    phase = _random_phase(24, 8, seed=10)
    paths = _export(tmp_path, phase, _meta(8), formats=["gds"])
    lib = gdstk.read_gds(str(paths["gds"]))
    (cell,) = lib.top_level()
    merged = []
    for j in range(1, 4):
        polys = [p for p in cell.polygons if p.layer == j]
        merged += gdstk.boolean(polys, [], "or", layer=j, datatype=0)
    assert any(len(p.points) > 4 for p in merged)  # really general polygons
    cell.remove(*cell.polygons)
    cell.add(*merged)
    lib.write_gds(str(tmp_path / "merged.gds"))
    back, _ = import_doe(tmp_path / "merged.gds")
    assert torch.equal(back, phase)
    cell.add(gdstk.rectangle((-3.0, -3.0), (3.0, 3.0), layer=1))  # one pixel, drawn twice
    cell.add(gdstk.rectangle((-3.0, -3.0), (3.0, 3.0), layer=1))
    lib.write_gds(str(tmp_path / "overlap.gds"))
    with pytest.raises(DOEFileError, match="overlapping polygons on layer 1"):
        import_doe(tmp_path / "overlap.gds")
