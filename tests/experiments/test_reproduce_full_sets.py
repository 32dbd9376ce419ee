"""`mixsig reproduce --data mnist|fashion-mnist --root DIR` from the command line, on small IDX
folders written here (nothing is downloaded): the plan is swapped for a tiny one, the runs go
end to end through the sweep into one report with a section per data set; a data folder
without the files is refused, naming them, before anything is written."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from helpers.data import IDX_NAMES, write_mnist
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.experiments import plans

runner = CliRunner()


def _tiny(data: str, root: str, seeds: int = 3, draws: int = 20) -> dict:
    """P and B1 at 4 bits, one seed, one epoch each of a few images, 2 draws at 2 points."""
    base = plans.full_set_base(data, root, draws=2)
    base["data"].update(limit_train=16, limit_test=8)
    base.update(
        name=f"tiny-{data}",
        pretrain={"epochs": 1, "lr": 0.003},
        aware={"epochs": 1, "lr": 0.002},
        batch_size=8,
        calibration_batches=1,
        eval={"draws": 2, "sigma_test_lsb": [0.0, 0.5]},
    )
    runs = [{"tag": "methods", "method.name": m} for m in ("P", "B1")]
    return {"name": base["name"], "base": base, "runs": runs, "grid": {"seed": [0]}}


@pytest.fixture
def tiny_plan(monkeypatch):
    """The tiny plan as the standard one, on one thread as a sweep's worker runs (many small
    operations on two threads of a busy machine wait on each other)."""
    monkeypatch.setitem(plans._SET_PLANS, "standard", _tiny)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_two_full_sets_run_end_to_end_into_one_report(tmp_path, tiny_plan):
    root = tmp_path / "data"
    write_mnist(root / "mnist")
    write_mnist(root / "fashion-mnist", gz=True, seed=1)  # as `mixsig data fetch` keeps it
    out = tmp_path / "out"
    args = ["reproduce", "--data", "mnist", "--data", "fashion-mnist", "--root", str(root)]
    args += ["--out", str(out), "--scheduler", "inline", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "tiny-mnist + tiny-fashion-mnist: 4 runs, 2 float pre-trainings" in res.output
    table = pd.read_csv(out / "results.csv")
    assert sorted(set(zip(table.data, table.method))) == [
        ("fashion-mnist", "B1"),
        ("fashion-mnist", "P"),
        ("mnist", "B1"),
        ("mnist", "P"),
    ]
    for key in table.key.unique():
        cfg = json.loads((out / "runs" / key / "config.json").read_text())
        assert cfg["data"]["root"] == str(root)
    v = json.loads((out / "report" / "verdict.json").read_text())
    assert set(v["data_sets"]) == {"mnist", "fashion-mnist"}
    assert "[mnist] Verdict for method P on small_cnn / mnist" in res.output
    assert (out / "report" / "mnist" / "accuracy_vs_sigma.png").is_file()
    res = runner.invoke(app, args)  # resumable: everything is found again
    assert res.exit_code == 0 and "4 skipped" in res.output, res.output


@pytest.mark.parametrize("name,folder", [("mnist", "mnist"), ("fashion-mnist", "fashion-mnist")])
def test_a_data_folder_without_the_files_exits_2_naming_them(tmp_path, name, folder):
    (tmp_path / "data" / folder).mkdir(parents=True)
    (tmp_path / "data" / folder / IDX_NAMES[0]).write_bytes(b"")  # one of four
    out = tmp_path / "out"
    args = ["reproduce", "--data", name, "--root", str(tmp_path / "data"), "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "not found under" in res.output
    assert all(f in res.output for f in IDX_NAMES) and "lacks" in res.output
    assert not out.exists()
    res = runner.invoke(app, [*args[:3], "--root", str(tmp_path / "nowhere"), "--out", str(out)])
    assert res.exit_code == 2 and "does not exist" in res.output and not out.exists()


def test_quick_is_an_alias_of_plan_quick_and_refuses_another_plan(tmp_path):
    res = runner.invoke(app, ["reproduce", "--quick", "--plan", "full", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--quick" in res.output
    res = runner.invoke(app, ["reproduce", "--data", "cifar10", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--data" in res.output
