"""The photon study: the threshold and the summary against hand-made curves; the command end to
end on a tiny trained optical CNN (the shot noise really costs accuracy at few photons)."""

from __future__ import annotations

import json
import math

import pytest
from helpers.optical_run import train_tiny_optical_run
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.experiments.photons import fewest_equivalent, reference, summarise


def _curve(noise_free: float, unlimited: float, points: dict[float, float]) -> dict:
    return {
        "noise_free": {"mean": noise_free},
        "unlimited_light": {"mean": unlimited},
        "read_noise_lsb": 0.5,
        "points": [{"photons_per_mac": p, "mean": m} for p, m in points.items()],
    }


def test_the_threshold_is_the_fewest_photons_from_which_every_point_is_equivalent():
    # reference = max(0.97, 0.975) = 0.975; equivalent from 0.970 up
    c = _curve(0.97, 0.975, {0.5: 0.90, 1.0: 0.971, 2.0: 0.968, 4.0: 0.9701, 8.0: 0.974})
    assert reference([c]) == 0.975
    assert fewest_equivalent([c]) == 4.0  # 1.0 passes but 2.0 between it and 4.0 does not
    assert fewest_equivalent([_curve(0.97, 0.9, {1.0: 0.95, 2.0: 0.96})]) is None


def test_runs_are_averaged_before_the_threshold_and_summarised_with_their_spread():
    a = _curve(0.98, 0.97, {1.0: 0.970, 2.0: 0.978})
    b = _curve(0.96, 0.97, {1.0: 0.960, 2.0: 0.968})
    # reference max(0.97, 0.97) = 0.97; at 1 photon: mean 0.965 ≥ 0.965 → equivalent
    assert fewest_equivalent([a, b]) == 1.0
    s = summarise([a, b])
    assert s["noise_free"]["mean"] == pytest.approx(0.97)
    assert s["noise_free"]["std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert [p["photons_per_mac"] for p in s["points"]] == [1.0, 2.0]
    assert s["points"][1]["mean"] == pytest.approx(0.973) and s["points"][1]["runs"] == 2
    assert s["wang_2022_photons_per_mac"] == 3.1


@pytest.fixture(scope="module")
def tiny_optical_run(tmp_path_factory):
    return train_tiny_optical_run(tmp_path_factory.mktemp("optical") / "run")


@pytest.mark.usefixtures("one_thread")
def test_the_command_writes_the_curve_and_few_photons_cost_accuracy(tiny_optical_run, tmp_path):
    out = tmp_path / "photons"
    args = ["photons", str(tiny_optical_run), "--photons", "0.00001,1000", "--draws", "3"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "photons.json").read_text())
    run = result["runs"][0]
    assert run["macs_per_image"] == 8 * 28 * 28 * 25 and run["read_noise_lsb"] == 0.5
    # bias 8 + batch norm 16 + classifier 8·7·7·10 + 10; the optics do 97.6 % of the MACs
    assert run["network"] == {
        "optical_macs": 156_800,
        "digital_macs": 3_920,
        "optical_share_of_macs": pytest.approx(156_800 / 160_720),
        "digital_parameters": 8 + 16 + 3_930,
    }
    assert "156,800 optical MACs, 3,920 digital (97.6% optical); 3,954 digital" in res.output
    low, high = result["summary"]["points"]
    # 1e-5 photons per MAC: ~1.6 photons for 12,544 camera pixels, the image is gone
    assert low["mean"] < run["unlimited_light"]["mean"] - 0.2
    assert abs(high["mean"] - run["unlimited_light"]["mean"]) < 0.05
    assert result["command"].startswith("mixsig ") and "-core" in result["command"]  # + argv
    assert (out / "photons.md").read_text().count("\n") == 2 + 2 + 2
    assert (out / "photons.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("bad", ["0,1", "x", "1,nan"])
def test_bad_photon_grids_exit_2_naming_the_option(tiny_optical_run, bad):
    res = CliRunner().invoke(app, ["photons", str(tiny_optical_run), "--photons", bad])
    assert res.exit_code == 2 and "--photons" in res.output


def test_runs_are_named_or_taken_from_a_sweep_one_of_the_two(tmp_path):
    neither = CliRunner().invoke(app, ["photons"])
    both = CliRunner().invoke(app, ["energy", str(tmp_path), "--sweep", str(tmp_path)])
    empty = CliRunner().invoke(app, ["energy", "--sweep", str(tmp_path)])
    for res in (neither, both):
        assert res.exit_code == 2 and "one of the two" in res.output
    assert empty.exit_code == 2 and "no results table" in empty.output
