"""The energy study end to end on two tiny trained optical CNNs (2- and 4-bit cameras): the
energies against the model's formulas, the Pareto front, the all-digital reference."""

from __future__ import annotations

import json

import pytest
from helpers.optical_run import train_tiny_optical_run
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.config.energy import EnergyConfig
from mixsig.eval.energy import pareto_front, photon_energy_j

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("energy")
    runs = [train_tiny_optical_run(base / f"b{b}", camera_bits=b) for b in (2, 4)]
    out = base / "out"
    args = ["energy", *map(str, runs), "--photons", "0.5,8", "--draws", "2", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads((out / "energy.json").read_text()), out


def test_each_point_costs_what_the_model_says(study):
    result, _ = study
    cfg = EnergyConfig()
    for run in result["runs"]:
        b = run["camera_bits"]
        pixels = 2 * 8 * 28 * 28  # pseudo-negative pairs of 8 channels, read by the camera
        macs = 8 * 28 * 28 * 25
        for p in run["points"]:
            parts = p["breakdown"]
            assert parts["adc_j"] == pytest.approx(pixels * cfg.adc_fom_j_per_step * 2**b)
            # the 4-bit input DAC writes the 784 input pixels
            assert parts["dac_j"] == pytest.approx(784 * cfg.dac_fom_j_per_step * 2**4)
            assert parts["digital_j"] == pytest.approx(392 * 10 * cfg.digital_mac_j(8))
            eff = (
                cfg.detector_quantum_efficiency
                * run["window_fraction"]
                * cfg.source_wall_plug_efficiency
            )
            light = p["photons_per_mac"] * macs * photon_energy_j(532e-9) / eff
            assert parts["optical_source_j"] == pytest.approx(light)
            spent = sum(v for k, v in parts.items() if k != "total_j")
            assert p["energy_j"] == pytest.approx(spent)
        assert 0 < run["window_fraction"] <= 1
        digital = run["digital"]["breakdown"]
        assert digital["adc_j"] == 0 and digital["dac_j"] == 0
        assert digital["digital_j"] == pytest.approx((macs + 3920) * cfg.digital_mac_j(8))


def test_the_front_is_the_non_dominated_points(study):
    s = study[0]["summary"]
    pts = s["points"]
    assert len(pts) == 4 and {p["camera_bits"] for p in pts} == {2, 4}
    front = pareto_front([(p["energy_j"], p["accuracy"]) for p in pts])
    assert [p["pareto"] for p in pts] == [i in front for i in range(4)]
    assert s["front"] == [pts[i] for i in front]
    assert s["digital"]["bits"] == 8 and 0 <= s["digital"]["accuracy"] <= 1


def test_the_table_and_the_figure_are_written(study):
    _, out = study
    table = (out / "energy.md").read_text()
    assert table.count("\n") == 2 + 4 + 1 and "all-digital, 8-bit (the " in table
    assert (out / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_constants_exit_2_naming_the_field(tmp_path):
    bad = tmp_path / "energy.yaml"
    bad.write_text("adc_fom_j_per_step: -1\n")
    res = CliRunner().invoke(app, ["energy", str(tmp_path), "--constants", str(bad)])
    assert res.exit_code == 2 and "adc_fom_j_per_step" in res.output


def test_the_digital_reference_is_the_most_accurate_bit_depths_network(study):
    result, _ = study
    best = max(result["runs"], key=lambda r: r["digital"]["accuracy"])
    d = result["summary"]["digital"]
    assert d["trained_with_camera_bits"] == best["camera_bits"]
    assert d["accuracy"] == best["digital"]["accuracy"] and d["runs"] == 1
