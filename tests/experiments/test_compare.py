"""Comparing methods across seeds: every run once, a re-run skips finished runs, tables agree."""

import csv

import pytest

from mixsig.experiments import compare_methods
from mixsig.train import TrainConfig

BASE = {
    "name": "cmp",
    "data": {
        "name": "bundled-digits",
        "test_fraction": 0.25,
        "limit_train": 256,
        "limit_test": 100,
    },
    "pretrain": {"epochs": 1, "lr": 0.003},
    "aware": {"epochs": 1, "lr": 0.001},
    "batch_size": 64,
    "eval": {"draws": 2, "sigma_test_lsb": [0.0, 1.0]},
}


def test_compare_methods_runs_each_once_and_aggregates(tmp_path):
    cfg = TrainConfig.model_validate(BASE)
    said: list[str] = []
    rows = compare_methods(cfg, tmp_path, methods=("P", "B1"), seeds=(0, 1), echo=said.append)
    assert len(rows) == 2 * 2  # methods × σ_test
    assert sum(line.startswith("==") for line in said) == 4
    with open(tmp_path / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["method"] for r in table] == ["P", "P", "B1", "B1"]
    md = (tmp_path / "summary.md").read_text()
    assert "within 0.5 percentage points" in md and "| B1 | 1 |" in md
    # a per-seed mean from the run's own results.json
    import json

    p0 = json.loads((tmp_path / "P-seed0" / "results.json").read_text())["results"][1]["mean"]
    p1 = json.loads((tmp_path / "P-seed1" / "results.json").read_text())["results"][1]["mean"]
    assert float(table[1]["mean"]) == pytest.approx((p0 + p1) / 2)
    said.clear()
    compare_methods(cfg, tmp_path, methods=("P", "B1"), seeds=(0, 1), echo=said.append)
    assert not said  # everything was done already
