"""The reproduction report from a stored tidy table: verdict numbers, tables, figures, one page.

A synthetic table whose accuracies are built so that the verdict is known exactly: every
group's mean over seeds is ``base - drop`` (the per-seed offsets are centred), its noise-free
quantized accuracy ``base``, so a group is equivalent exactly when ``drop <= 0.005``.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixsig.eval import EQUIVALENT_DEFINITION
from mixsig.experiments.report import FIGURES, build_report, verdict

CHROMIUM = "/usr/bin/chromium"
CALIBRATION_FIGURES = 5  # the synthetic lab's fits: transfer, fixed pattern, PTC, crosstalk, shift
SEEDS = (0, 1, 2)
SIGMAS = (0.0, 0.5, 1.0, 2.0)
BASE = {2: 0.90, 3: 0.94, 4: 0.96}
# method -> bits -> sigma_train -> drop at each of SIGMAS (fraction of accuracy)
P_DROPS = {
    4: {1.0: (0, 0.001, 0.003, 0.02), 0.5: (0, 0.001, 0.012, 0.03), 0.0: (0, 0.008, 0.02, 0.05)},
    # σ_train 1.0 is equivalent at 1.0 but not at 0.5: it reaches 0 only (all smaller σ count)
    3: {1.0: (0, 0.010, 0.002, 0.03), 0.5: (0, 0.002, 0.015, 0.04), 0.0: (0, 0.012, 0.03, 0.06)},
    2: {1.0: (0, 0.02, 0.03, 0.05), 0.5: (0, 0.015, 0.02, 0.05), 0.0: (0, 0.03, 0.05, 0.08)},
}
BASELINE_DROPS = {
    "B1": (0, 0.03, 0.08, 0.2),
    "B2": (0, 0.02, 0.06, 0.15),
    "B4": (0, 0.01, 0.04, 0.1),
}
# distortion kind -> strength -> accuracy change at σ_test = σ_hw = 0.5 (undistorted: 0.95)
DISTORTIONS = {
    "gamma": {0.1: -0.002, 0.2: -0.006, 0.3: -0.015},
    "prnu": {0.02: -0.001, 0.05: -0.008},
    "crosstalk": {0.05: -0.005, 0.1: -0.02},
}
ODD_TAG = "ablation<script>alert(1)</script>"


def _centred(rng, n, scale):
    x = rng.normal(0, scale, n)
    return x - x.mean()


def _rows_of_group(
    rng,
    *,
    tag,
    method,
    bits,
    st,
    drops,
    sigmas=SIGMAS,
    base=None,
    model=None,
    distortion="none",
    strength=0.0,
):
    base = BASE[bits] if base is None else base
    nf = _centred(rng, len(SEEDS), 0.003)
    off = [_centred(rng, len(SEEDS), 0.002) for _ in sigmas]
    rows = []
    for i, seed in enumerate(SEEDS):
        nfq = base + nf[i]
        for j, (sig, drop) in enumerate(zip(sigmas, drops)):
            mean = nfq if sig == 0 else nfq - drop + off[j][i]
            rows.append(
                {
                    "key": f"{tag[:8]}-{method}-{bits}-{st}-{distortion}-{strength}-{seed}",
                    "tag": tag,
                    "name": f"{method}-{bits}b-seed{seed}",
                    "method": method,
                    "model": model or "small_cnn",
                    "data": "bundled-mnist",
                    "adc_bits": bits,
                    "sigma_train_lsb": st,
                    "sigma_hw_lsb": 0.5,
                    "distortion": distortion,
                    "distortion_strength": strength,
                    "seed": seed,
                    "sigma_test_lsb": sig,
                    "mean": mean,
                    "std": float(rng.uniform(0.002, 0.006)) if sig else 0.0,
                    "draws": 10,
                    "noise_free_quantized_accuracy": nfq,
                    "equivalent": bool(mean >= nfq - 0.005),
                    "seconds": float(rng.uniform(5, 30)),
                }
            )
    return rows


def synthetic_table() -> pd.DataFrame:
    rng = np.random.default_rng(1234)
    rows = []
    for bits in (2, 3, 4):
        for st, drops in P_DROPS[bits].items():
            rows += _rows_of_group(rng, tag="methods", method="P", bits=bits, st=st, drops=drops)
            b3 = tuple(d + 0.01 if d else 0 for d in drops)
            rows += _rows_of_group(rng, tag="methods", method="B3", bits=bits, st=st, drops=b3)
        for method, drops in BASELINE_DROPS.items():
            rows += _rows_of_group(
                rng, tag="methods", method=method, bits=bits, st=0.0, drops=drops
            )
    dsig = (0.0, 0.5, 1.0)
    rows += _rows_of_group(
        rng,
        tag="distortion",
        method="P",
        bits=4,
        st=0.5,
        base=0.95,
        drops=(0, 0.0, 0.01),
        sigmas=dsig,
    )
    for kind, by_strength in DISTORTIONS.items():
        for strength, delta in by_strength.items():
            rows += _rows_of_group(
                rng,
                tag="distortion",
                method="P",
                bits=4,
                st=0.5,
                base=0.95,
                drops=(0, -delta, 0.02),
                sigmas=dsig,
                distortion=kind,
                strength=strength,
            )
    for method, st in (("P", 0.5), ("B1", 0.0)):
        rows += _rows_of_group(
            rng,
            tag="optical",
            method=method,
            bits=4,
            st=st,
            base=0.953,
            drops=(0, 0.004, 0.017) if method == "P" else (0, 0.05, 0.2),
            sigmas=dsig,
            model="optical_cnn",
        )
    rows += _rows_of_group(
        rng, tag=ODD_TAG, method="P", bits=4, st=0.5, drops=(0, 0.01), sigmas=(0.0, 0.5)
    )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table()


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """The report folder of a calibration of the synthetic lab's camera (`mixsig calibrate`)."""
    from mixsig.calib import calibrate_folder
    from mixsig.calib.synthetic import CameraParams, SyntheticCamera, write_calibration_folder

    d = tmp_path_factory.mktemp("calib")
    write_calibration_folder(SyntheticCamera(CameraParams(), seed=0), d / "lab")
    _, rep = calibrate_folder(d / "lab", d / "hw.yaml", adc_bits=4)
    return rep.markdown_path.parent


@pytest.fixture(scope="module")
def report(table, calibration, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    csv_path = d / "results.csv"
    table.to_csv(csv_path, index=False)
    index = build_report(
        csv_path,
        d / "out",
        command="mixsig report results.csv --out out",
        calibration=calibration,
    )
    return index


# ----------------------------------------------------------------------------- verdict
def test_the_goal_is_1_lsb_on_the_bundled_digits_and_1_5_on_the_full_sets(table):
    full = table.assign(data="mnist")
    claim = verdict(full)["claim"]
    assert claim["goal_lsb"] == 1.5 and claim["measured_lsb"] == 1.0
    assert claim["meets_paper"] and not claim["meets_goal"]
    assert "(goal ≥ 1.5)" in claim["sentence"]
    assert verdict(table)["claim"]["goal_lsb"] == 1.0


def test_verdict_numbers_are_exactly_the_constructed_ones(table):
    v = verdict(table)
    assert v["definition"] == EQUIVALENT_DEFINITION
    assert v["setting"] == {"model": "small_cnn", "data": "bundled-mnist"}
    assert v["max_equivalent_sigma"] == {2: 0.0, 3: 0.5, 4: 1.0}
    assert v["max_equivalent_sigma_train"] == {2: [0.0, 0.5, 1.0], 3: [0.5], 4: [1.0]}
    assert v["fewest_bits_equivalent_at_0.5"] == 3
    claim = v["claim"]
    assert claim["measured_lsb"] == 1.0 and claim["meets_paper"] and claim["meets_goal"]
    assert "P is equivalent at 4 bits up to 1 LSB" in claim["sentence"]
    assert "(goal ≥ 1.0)" in claim["sentence"]
    # P at σ_train = σ_hw = 0.5 against B1, in percentage points
    assert v["p_sigma_train_for_b1_gap"] == {2: 0.5, 3: 0.5, 4: 0.5}
    for bits, drops in P_DROPS.items():
        expected = {s: (b - p) * 100 for s, p, b in zip(SIGMAS, drops[0.5], BASELINE_DROPS["B1"])}
        assert v["p_minus_b1_pp"][bits] == pytest.approx(expected, abs=1e-9)
    got = {(e["kind"], e["strength"]): e for e in v["distortion"]}
    assert len(got) == sum(len(x) for x in DISTORTIONS.values())
    for kind, by_strength in DISTORTIONS.items():
        for strength, delta in by_strength.items():
            e = got[kind, strength]
            assert e["sigma_test_lsb"] == 0.5 and e["adc_bits"] == 4
            assert e["undistorted_accuracy"] == pytest.approx(0.95, abs=1e-12)
            assert e["diff_pp"] == pytest.approx(delta * 100, abs=1e-9)
            assert e["within_1pp"] is (abs(delta) <= 0.01)
    assert any("up to σ_test = 1 LSB" in s for s in v["sentences"])
    # the optical CNN: P loses 0.4 pp at 0.5 LSB and 1.7 pp at 1 LSB against B1's 0.953
    (o,) = v["optical"]
    assert (o["tag"], o["data"], o["bits"], o["max_equivalent_sigma"]) == (
        "optical",
        "bundled-mnist",
        4,
        0.5,
    )
    assert o["equivalent_at"] == [0.0, 0.5] and o["sigma_train"] == [0.5]
    assert any(s.startswith("Optical CNN with P on bundled-mnist") for s in v["sentences"])


def test_verdict_takes_mappings_and_reports_none_when_never_equivalent():
    rows = [
        {
            "tag": "methods",
            "method": "P",
            "model": "lenet5",
            "data": "mnist",
            "adc_bits": 4,
            "sigma_train_lsb": 0.5,
            "sigma_hw_lsb": 0.5,
            "distortion": "",
            "seed": s,
            "distortion_strength": None,
            "sigma_test_lsb": 0.5,
            "mean": 0.90,
            "std": 0.01,
            "draws": 5,
            "noise_free_quantized_accuracy": 0.95,
        }
        for s in (0, 1)
    ]
    v = verdict(rows)
    assert v["max_equivalent_sigma"] == {4: None}
    assert v["max_equivalent_sigma_train"] == {4: []}
    assert v["fewest_bits_equivalent_at_0.5"] is None
    assert v["claim"]["measured_lsb"] is None and not v["claim"]["meets_paper"]
    assert v["p_minus_b1_pp"] == {} and v["distortion"] == []


# ----------------------------------------------------------------------------- files
def test_report_writes_every_file_and_valid_pngs(report):
    import matplotlib.image

    out = report.parent
    assert report.name == "index.html"
    for name in ("summary.csv", "summary.md", "headline.md", "verdict.json", *FIGURES):
        assert (out / name).is_file(), name
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        img = matplotlib.image.imread(out / name)
        assert img.ndim == 3 and img.shape[2] in (3, 4) and min(img.shape[:2]) > 200, name
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries
    v = json.loads((out / "verdict.json").read_text())
    assert v["max_equivalent_sigma"] == {"2": 0.0, "3": 0.5, "4": 1.0}
    assert v["fewest_bits_equivalent_at_0.5"] == 3 and v["definition"] == EQUIVALENT_DEFINITION


def test_summary_equals_a_hand_computation(report, table):
    t = table
    g = t[
        (t.tag == "methods")
        & (t.method == "P")
        & (t.adc_bits == 3)
        & (t.sigma_train_lsb == 0.5)
        & (t.sigma_test_lsb == 0.5)
    ]
    assert len(g) == 3
    with open(report.parent / "summary.csv", newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["tag"] == "methods"
            and r["method"] == "P"
            and r["adc_bits"] == "3"
            and float(r["sigma_train_lsb"]) == 0.5
            and float(r["sigma_test_lsb"]) == 0.5
        ]
    assert len(rows) == 1
    r = rows[0]
    assert float(r["mean"]) == pytest.approx(statistics.fmean(g["mean"]), abs=1e-12)
    assert float(r["std_over_seeds"]) == pytest.approx(statistics.stdev(g["mean"]), abs=1e-12)
    assert float(r["mean_std_over_draws"]) == pytest.approx(statistics.fmean(g["std"]))
    assert float(r["noise_free_quantized_accuracy"]) == pytest.approx(
        statistics.fmean(g["noise_free_quantized_accuracy"]), abs=1e-12
    )
    assert int(r["seeds"]) == 3 and int(r["draws"]) == 10
    assert r["equivalent_in_seeds"] == f"{int(g.equivalent.sum())}/3"
    assert r["equivalent"] == "True"  # drop 0.002 <= 0.5 pp
    md = (report.parent / "summary.md").read_text()
    assert EQUIVALENT_DEFINITION in md
    headline = (report.parent / "headline.md").read_text()
    assert "## 4-bit ADC" in headline and "## 3-bit ADC" not in headline
    assert "| P (σ_train 0.5 LSB) |" in headline and "| B1 |" in headline
    assert re.search(r"\| 0\.\d{3} ± 0\.\d{3} \|", headline)


def test_html_is_self_contained_and_embeds_every_figure(report, calibration):
    page = report.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*(?!["']?data:)""", page), "external reference"
    assert "<script" not in page and "<link" not in page and "@import" not in page
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="[^"]+"', page)
    pngs = sorted(report.parent.glob("*.png")) + sorted(calibration.glob("*.png"))
    assert len(pngs) == len(FIGURES) + CALIBRATION_FIGURES
    assert len(re.findall(r"<img\b", page)) == len(embedded) == len(pngs)
    assert sorted(base64.b64decode(x) for x in embedded) == sorted(p.read_bytes() for p in pngs)
    assert "mixsig report results.csv --out out" in page
    assert EQUIVALENT_DEFINITION in page
    assert "P is equivalent at 4 bits up to 1 LSB (goal ≥ 1.0)" in page
    assert "<details>" in page and "mixsig " in page.split("<footer>")[1]
    # text from the table is escaped; the unknown tag gets its own table
    assert "Tag “ablation&lt;script&gt;alert(1)&lt;/script&gt;”" in page


# ----------------------------------------------------------------------------- partial tables
def test_one_bit_depth_without_distortion_or_optical_builds_with_notes(table, tmp_path):
    t = table[(table.tag == "methods") & (table.adc_bits == 4)].drop(columns=["equivalent"])
    t.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "optical.png").write_bytes(b"stale")  # a figure of an earlier build goes away
    page = build_report(tmp_path / "t.csv", out).read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["accuracy_vs_sigma.png", "sigma_train_heatmap.png"]
    assert len(re.findall(r"<img\b", page)) == 2
    notes = re.findall(r'<p class="note">Not drawn: ([^<]*)</p>', page)
    assert len(notes) == 3
    assert any("Only one ADC bit depth (4 bits)" in n for n in notes)
    assert any("distortion sweep" in n for n in notes)
    assert any("optical" in n for n in notes)
    assert "build_report(" in page  # the default command
    v = json.loads((out / "verdict.json").read_text())
    assert v["max_equivalent_sigma"] == {"4": 1.0} and v["fewest_bits_equivalent_at_0.5"] == 4


def test_missing_column_is_named(table, tmp_path):
    path = tmp_path / "no_sigma.csv"
    table.drop(columns=["sigma_test_lsb", "draws"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no_sigma\.csv.*sigma_test_lsb, draws"):
        build_report(path, tmp_path / "out")
    with pytest.raises(ValueError, match="sigma_test_lsb"):
        verdict(table.drop(columns=["sigma_test_lsb"]))


def test_empty_unreadable_and_bad_tables_are_refused(table, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv.*empty"):
        build_report(empty, tmp_path / "out")
    header = tmp_path / "header.csv"
    table.head(0).to_csv(header, index=False)
    with pytest.raises(ValueError, match=r"header\.csv.*no rows"):
        build_report(header, tmp_path / "out")
    with pytest.raises(ValueError, match="no such results table"):
        build_report(tmp_path / "absent.csv", tmp_path / "out")
    with pytest.raises(ValueError, match="cannot read"):
        build_report(tmp_path, tmp_path / "out")  # a folder
    bad = table.head(3).astype({"mean": object})
    bad.loc[bad.index[1], "mean"] = "n/a"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"column mean .* data row 2"):
        build_report(tmp_path / "bad.csv", tmp_path / "out")
    assert not (tmp_path / "out" / "index.html").exists()


# ----------------------------------------------------------------------------- browser
def _require_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append(
            "Playwright for Python (.venv/bin/pip install playwright; `playwright install` is "
            "not needed, the system Chromium is used)"
        )
    if missing:
        msg = "the browser test needs " + " and ".join(missing)
        if os.environ.get("MIXSIG_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " — MIXSIG_REQUIRE_BROWSER=1 is set, so it may not be skipped")
        pytest.skip(msg)


@pytest.mark.browser
def test_every_figure_loads_in_headless_chromium(report):
    _require_browser()
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => "
                "({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth, alt: i.alt}))"
            )
            title = page.title()
        finally:
            browser.close()
    assert title == "mixsig reproduction"
    assert len(images) == len(FIGURES) + CALIBRATION_FIGURES
    assert all(i["ok"] and i["w"] > 200 and i["alt"] for i in images), images
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def test_the_verdict_takes_the_stricter_reference_b4_at_the_same_bits():
    """A P network whose own noise-free accuracy fell (trained with noise) is equivalent to
    itself at 1 LSB, but not to the noise-free quantized network B4 of the same bit depth: the
    verdict uses the stricter reference, the per-seed count the network's own."""
    rng = np.random.default_rng(3)
    rows = _rows_of_group(
        rng, tag="methods", method="P", bits=4, st=1.0, drops=(0, 0.001, 0.003, 0.02), base=0.93
    )
    v = verdict(rows)
    assert v["max_equivalent_sigma"] == {4: 1.0}  # no B4 in the table: its own reference
    rows += _rows_of_group(rng, tag="methods", method="B4", bits=4, st=0.0, drops=(0, 0, 0, 0))
    v = verdict(rows)
    assert v["max_equivalent_sigma"] == {4: None}  # B4 at 4 bits: 0.96 > 0.93 + 0.5 pp
    assert "B4" in v["reference"] and "B1, B2 or B4" in v["reference"]
    from mixsig.experiments.report import summarise

    s = summarise(rows)
    p1 = s[(s.method == "P") & (s.sigma_test_lsb == 1.0)].iloc[0]
    assert p1.equivalent_in_seeds != "0/3" and not p1.equivalent
    assert p1.reference_accuracy == pytest.approx(0.96, abs=1e-9)


def test_the_calibration_section_embeds_every_fit_and_a_wrong_folder_is_refused(
    report, calibration, table, tmp_path
):
    html = report.read_text()
    pngs = sorted(calibration.glob("*.png"))
    assert len(pngs) == CALIBRATION_FIGURES
    assert "<h2>Calibration</h2>" in html
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in html
    with pytest.raises(ValueError, match="report.md"):
        build_report(report.parent.parent / "results.csv", tmp_path / "o", calibration=tmp_path)
