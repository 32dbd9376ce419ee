"""The report of a table holding the methods comparison on several data sets: one section per
data set — verdict, headline and figures from that data set's rows alone — and a table of
their verdicts side by side. A synthetic table whose verdict is known exactly: every seed has
the same accuracies, so each group's mean is the number written here."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from mixsig.experiments.report import FIGURES, build_report

SIGMAS = (0.0, 0.5, 1.0)


def _rows(data, method, bits, st, accs, tag="methods", distortion="none", strength=0.0):
    return [
        {
            "tag": tag,
            "method": method,
            "model": "small_cnn",
            "data": data,
            "adc_bits": bits,
            "sigma_train_lsb": st,
            "sigma_hw_lsb": 0.5,
            "distortion": distortion,
            "distortion_strength": strength,
            "seed": seed,
            "sigma_test_lsb": sig,
            "mean": acc,
            "std": 0.0 if sig == 0 else 0.01,
            "draws": 20,
            "noise_free_quantized_accuracy": accs[0],
        }
        for seed in range(3)
        for sig, acc in zip(SIGMAS, accs)
    ]


def two_data_sets() -> pd.DataFrame:
    """mnist: P equivalent up to 1 LSB at 4 bits (reference 0.982), 0.5 LSB at 3 bits, the
    realistic camera costs 0.9 pp; fashion-mnist: P equivalent up to 0.5 LSB at 4 bits only
    (reference 0.905)."""
    rows = []
    rows += _rows("mnist", "P", 4, 0.5, (0.982, 0.981, 0.979))
    rows += _rows("mnist", "B1", 4, 0.0, (0.975, 0.950, 0.800))
    rows += _rows("mnist", "B4", 4, 0.0, (0.980, 0.970, 0.900))
    rows += _rows("mnist", "P", 3, 0.5, (0.970, 0.968, 0.950))
    rows += _rows("mnist", "B4", 3, 0.0, (0.970, 0.950, 0.850))
    rows += _rows("mnist", "P", 4, 0.5, (0.982, 0.981, 0.979), tag="distortion")
    rows += _rows("mnist", "P", 4, 0.5, (0.975, 0.972, 0.960), "distortion", "realistic", 0.2)
    rows += _rows("fashion-mnist", "P", 4, 0.5, (0.905, 0.902, 0.880))
    rows += _rows("fashion-mnist", "B1", 4, 0.0, (0.890, 0.850, 0.700))
    rows += _rows("fashion-mnist", "B4", 4, 0.0, (0.900, 0.880, 0.800))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("sections")
    two_data_sets().to_csv(d / "results.csv", index=False)
    (d / "out").mkdir()
    (d / "out" / "accuracy_vs_sigma.png").write_bytes(b"a figure of the whole table")
    return build_report(d / "results.csv", d / "out", title="both", command="mixsig report")


def test_the_verdict_is_one_per_data_set(report):
    v = json.loads((report.parent / "verdict.json").read_text())
    mnist, fashion = v["data_sets"]["mnist"], v["data_sets"]["fashion-mnist"]
    assert mnist["setting"] == {"model": "small_cnn", "data": "mnist"}
    assert mnist["max_equivalent_sigma"] == {"3": 0.5, "4": 1.0}
    assert mnist["fewest_bits_equivalent_at_0.5"] == 3
    assert mnist["p_minus_b1_pp"]["4"] == pytest.approx({"0.0": 0.7, "0.5": 3.1, "1.0": 17.9})
    (real,) = mnist["distortion"]
    assert real["kind"] == "realistic" and real["diff_pp"] == pytest.approx(-0.9)
    assert fashion["setting"] == {"model": "small_cnn", "data": "fashion-mnist"}
    assert fashion["max_equivalent_sigma"] == {"4": 0.5}
    assert fashion["fewest_bits_equivalent_at_0.5"] == 4 and fashion["distortion"] == []
    # the data sets in name order, each sentence prefixed with its data set
    sentences = v["sentences"]
    assert sentences[0] == (
        '[fashion-mnist] Verdict for method P on small_cnn / fashion-mnist (tag "methods", '
        "no distortion); accuracy = mean over seeds of the per-seed mean over noise draws."
    )
    assert (
        "[mnist] At 4 ADC bits, P is equivalent up to σ_test = 1 LSB (the largest σ_test "
        "tested), with σ_train = 0.5 LSB." in sentences
    )
    assert all(s.startswith(("[mnist] ", "[fashion-mnist] ")) for s in sentences)


def test_figures_and_headline_are_per_data_set(report):
    out = report.parent
    assert not (out / "accuracy_vs_sigma.png").exists()  # the whole table's figure went away
    drawn = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert "mnist/accuracy_vs_sigma.png" in drawn and "fashion-mnist/accuracy_vs_sigma.png" in drawn
    assert "mnist/accuracy_vs_distortion.png" in drawn
    assert "fashion-mnist/accuracy_vs_distortion.png" not in drawn  # no distortion rows there
    assert all(p.split("/")[1] in FIGURES for p in drawn)
    page = report.read_text()
    assert len(re.findall(r"<img\b", page)) == len(drawn)
    for name in ("mnist", "fashion-mnist"):
        for part in ("Verdict", "Headline", "Figures"):
            assert f"<h2>{part} — {name}</h2>" in page
    headline = (out / "headline.md").read_text()
    assert "# both — mnist: headline" in headline and "# both — fashion-mnist: headline" in headline
    assert "small_cnn on fashion-mnist" in headline
    assert "| P (σ_train 0.5 LSB) | 0.905 ± 0.000 | 0.902 ± 0.000 | 0.880 ± 0.000 |" not in headline
    assert "| P | 0.905 ± 0.000 | 0.902 ± 0.000 | 0.880 ± 0.000 |" in headline


def test_the_page_sets_the_data_sets_side_by_side(report):
    page = report.read_text()
    table = page.split("<h2>Data sets side by side</h2>")[1].split("</table>")[0]
    cells = re.findall(r"<tr>(.*?)</tr>", table)
    rows = [re.findall(r"<td>(.*?)</td>", c) for c in cells[1:]]  # after the header
    assert rows == [
        ["fashion-mnist", "0.5", "4", "+18.0", "—"],
        ["mnist", "1", "3", "+17.9", "-0.90"],
    ]
    assert page.index("Data sets side by side") < page.index("Verdict — fashion-mnist")


def test_one_data_set_with_the_methods_comparison_keeps_one_section(tmp_path):
    """Other data sets without the methods comparison (the optical CNN on a local set, say)
    leave the report as it was: one verdict, figures in the report folder."""
    t = two_data_sets()
    t = t[t.data == "mnist"].copy()
    extra = pd.DataFrame(_rows("cifar10", "P", 4, 0.5, (0.5, 0.49, 0.45), tag="optical-cifar10"))
    pd.concat([t, extra]).to_csv(tmp_path / "t.csv", index=False)
    index = build_report(tmp_path / "t.csv", tmp_path / "out")
    v = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert "data_sets" not in v and v["max_equivalent_sigma"] == {"3": 0.5, "4": 1.0}
    assert (tmp_path / "out" / "accuracy_vs_sigma.png").is_file()
    assert "<h2>Verdict</h2>" in index.read_text()
    assert "side by side" not in index.read_text()
