"""Sweeps: the spec expands into keyed, validated runs; a sweep runs each once (sharing the
pre-training), skips what is finished, survives a killed Dask worker, and reports lasting
failures after writing what finished."""

import csv
import json
import os
import signal
import threading
import time

import pytest
import yaml

from mixsig.config.io import ConfigError
from mixsig.experiments.sweep import (
    TABLE_COLUMNS,
    SweepConfig,
    SweepFailed,
    expand,
    load_sweep,
    run_key,
    run_sweep,
)
from mixsig.train import pretrain_key

BASE = {
    "name": "tiny",
    "data": {
        "name": "bundled-digits",
        "test_fraction": 0.25,
        "limit_train": 300,
        "limit_test": 100,
    },
    # percentile ranges: the noise-aware MSE calibration would dominate such tiny runs
    "hardware": {"dac": {"calibration": "percentile"}, "adc": {"calibration": "percentile"}},
    "pretrain": {"epochs": 1, "lr": 0.003},
    "aware": {"epochs": 1, "lr": 0.001},
    "batch_size": 64,
    "calibration_batches": 1,
    "checkpoint_every": 2,
    "eval": {"draws": 2, "sigma_test_lsb": [0.0, 0.5]},
}


def _sweep(tmp_path, **spec):
    return expand(SweepConfig.model_validate({"name": "sw", "base": BASE, **spec}), tmp_path)


def _table(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


# -- expansion ----------------------------------------------------------------------------------


def test_expansion_product_fields_keys_and_duplicates(tmp_path):
    runs = _sweep(
        tmp_path,
        runs=[
            {"tag": "methods", "method.name": "P"},
            {"tag": "methods", "method.name": "B1"},
            {
                "tag": "dist",
                "hardware.distortion": [{"kind": "gamma", "gamma": 0.8}],
                "hardware.noise.sigma_lsb": 1.0,
                "eval.sigma_test_lsb": [0.0, 1.0],
                "labels": {"distortion": "gamma", "distortion_strength": 0.2},
            },
        ],
        grid={"seed": [0, 1], "hardware.adc.bits": [3, 4]},
    )
    assert len(runs) == 3 * 2 * 2
    assert [r.config.method.name for r in runs[:4]] == ["P"] * 4
    assert [(r.config.seed, r.config.hardware.adc.bits) for r in runs[:4]] == [
        (0, 3),
        (0, 4),
        (1, 3),
        (1, 4),
    ]
    d = runs[-1]
    assert d.tag == "dist" and d.labels == {"distortion": "gamma", "distortion_strength": 0.2}
    assert d.config.hardware.distortion[0].kind == "gamma"
    assert d.config.hardware.distortion[0].gamma == 0.8
    assert d.config.hardware.noise.sigma_lsb == 1.0 and d.config.eval.sigma_test_lsb == [0, 1]
    assert d.config.hardware.dac.calibration == "percentile"  # the rest of the base is kept
    assert len({r.key for r in runs}) == 12
    assert all(len(r.key) == 16 and r.config.name == f"sw-{r.key[:8]}" for r in runs)

    # keys: the config decides, not its name; the seed does
    cfg = runs[0].config
    assert run_key(cfg) == runs[0].key
    assert run_key(cfg.model_copy(update={"name": "other"})) == runs[0].key
    assert run_key(cfg.model_copy(update={"seed": 7})) != runs[0].key
    # the same config reached another way (default 4 bits, P) has the same key
    assert _sweep(tmp_path, grid={"seed": [0, 1]})[1].key == runs[3].key

    # identical runs collapse; the same config under another tag stays (trained once)
    same = _sweep(
        tmp_path,
        runs=[{}, {"method.name": "P"}, {"tag": "other"}, {"method": {"name": "P"}}],
    )
    assert [r.tag for r in same] == ["", "other"]
    assert same[0].key == same[1].key
    # a named run keeps its name, and the name does not change the key
    named = _sweep(tmp_path, runs=[{"name": "mine"}])
    assert named[0].config.name == "mine" and named[0].key == same[0].key


def test_expansion_resolves_the_base_file_and_its_hardware(tmp_path):
    (tmp_path / "configs" / "runs").mkdir(parents=True)
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "configs" / "hw.yaml").write_text(
        yaml.safe_dump({"noise": {"sigma_lsb": 0.25}, "adc": {"bits": 5}})
    )
    (tmp_path / "configs" / "runs" / "base.yaml").write_text(
        yaml.safe_dump({**BASE, "hardware": "../hw.yaml"})
    )
    (tmp_path / "sweeps" / "s.yaml").write_text(
        yaml.safe_dump(
            {"name": "f", "base": "../configs/runs/base.yaml", "grid": {"hardware.adc.bits": [3]}}
        )
    )
    spec, runs = load_sweep(tmp_path / "sweeps" / "s.yaml")
    assert spec.name == "f" and len(runs) == 1
    hw = runs[0].config.hardware
    assert hw.noise.sigma_lsb == 0.25 and hw.adc.bits == 3


def test_expansion_errors_name_the_key_the_run_and_the_range(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'method\.nmae'.*no field 'nmae'"):
        _sweep(tmp_path, runs=[{"method.nmae": "P"}])
    with pytest.raises(ConfigError, match="unknown key 'hardware.adc.bits.x'"):
        _sweep(tmp_path, grid={"hardware.adc.bits.x": [1]})
    with pytest.raises(ConfigError) as err:
        _sweep(tmp_path, runs=[{"tag": "ok"}, {"tag": "deep", "hardware.adc.bits": 40}])
    msg = str(err.value)
    assert "run 1 (runs[1], tag 'deep'" in msg and "'hardware.adc.bits': 40" in msg
    assert "hardware.adc.bits: Input should be less than or equal to 16 (got 40)" in msg
    with pytest.raises(ConfigError, match=r"grid\.seed is empty"):
        load_sweep_text(tmp_path, {"name": "e", "base": BASE, "grid": {"seed": []}})
    with pytest.raises(ConfigError, match="unknown key"):
        load_sweep_text(tmp_path, {"name": "e", "base": BASE, "gird": {}})


def load_sweep_text(tmp_path, spec):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_sweep(path)


# -- running ------------------------------------------------------------------------------------


def test_inline_sweep_shares_pretraining_writes_the_table_and_skips_on_rerun(tmp_path):
    runs = _sweep(
        tmp_path,
        runs=[
            {"tag": "methods", "method.name": "P"},
            {"tag": "methods", "method.name": "B1"},
            {"tag": "seeds", "seed": 1, "labels": {"origin": "seed-run"}},
        ],
    )
    out = tmp_path / "out"
    said: list[str] = []
    table = run_sweep(runs, out, scheduler="inline", progress=False, echo=said.append)
    assert table == out / "results.csv"
    assert all((out / "runs" / r.key / "results.json").exists() for r in runs)
    assert {p.name for p in (out / "pretrained").iterdir()} == {
        pretrain_key(r.config) for r in runs
    }
    assert len({pretrain_key(r.config) for r in runs}) == 2
    listing = json.loads((out / "sweep.json").read_text())
    assert [e["key"] for e in listing] == [r.key for r in runs]
    cols, rows = _table(table)
    assert cols == [*TABLE_COLUMNS, "origin"]
    assert len(rows) == 3 * 2
    assert [r["method"] for r in rows] == ["P", "P", "B1", "B1", "P", "P"]
    assert [r["sigma_test_lsb"] for r in rows[:2]] == ["0.0", "0.5"]
    assert rows[0]["distortion"] == "none" and rows[0]["sigma_hw_lsb"] == "0.5"
    assert rows[4]["seed"] == "1" and rows[4]["origin"] == "seed-run" and rows[0]["origin"] == ""
    res = json.loads((out / "runs" / runs[0].key / "results.json").read_text())
    assert float(rows[1]["mean"]) == pytest.approx(res["results"][1]["mean"])
    assert "3 done (0 resumed), 0 skipped, 0 failed" in said[-1]

    mtimes = {r.key: (out / "runs" / r.key / "results.json").stat().st_mtime_ns for r in runs}
    said.clear()
    t0 = time.perf_counter()
    run_sweep(runs, out, scheduler="inline", progress=False, echo=said.append)
    assert time.perf_counter() - t0 < 5
    assert said == [f"sweep: 0 done (0 resumed), 3 skipped, 0 failed, of 3 runs -> {table}"]
    assert mtimes == {
        r.key: (out / "runs" / r.key / "results.json").stat().st_mtime_ns for r in runs
    }
    assert len(_table(table)[1]) == 6


def test_local_cluster_with_a_killed_worker_completes_with_every_result(tmp_path):
    """A tiny sweep on a 2-worker local cluster with one worker killed completes with every
    result: the killed run is rescheduled and resumes from its checkpoint."""
    distributed = pytest.importorskip("distributed")
    # runs long enough (~40 aware steps) that the kill lands while one is in progress
    runs = _sweep(
        tmp_path,
        runs=[{"aware.epochs": 8, "checkpoint_every": 4}],
        grid={"method.name": ["P", "B3"], "seed": [0, 1]},
    )
    out = tmp_path / "out"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster, set_as_default=False)
    said: list[str] = []
    box: dict = {}

    def sweep():
        try:
            box["table"] = run_sweep(
                runs, out, scheduler=cluster.scheduler_address, progress=False, echo=said.append
            )
        except BaseException as err:  # noqa: BLE001 - re-raised by the test
            box["error"] = err

    thread = threading.Thread(target=sweep, daemon=True)
    try:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        thread.start()
        victim = None
        deadline = time.monotonic() + 90
        while victim is None:
            assert time.monotonic() < deadline, "no run got going"
            assert thread.is_alive(), box
            for r in runs:
                d = out / "runs" / r.key
                if (d / "checkpoint" / "checkpoint.json").exists() and not (
                    d / "results.json"
                ).exists():
                    for addr, keys in client.processing().items():
                        if f"run-{r.key}" in keys:
                            victim = (addr, r.key)
                            os.kill(pids[addr], signal.SIGKILL)
                            break
                if victim:
                    break
            time.sleep(0.02)
        thread.join(timeout=150)
        assert not thread.is_alive(), "the sweep did not finish"
        assert "error" not in box, box.get("error")
        cols, rows = _table(box["table"])
        assert all((out / "runs" / r.key / "results.json").exists() for r in runs)
        assert {row["key"] for row in rows} == {r.key for r in runs} and len(rows) == 4 * 2
        key = victim[1]
        assert f"run {key} resumed from its checkpoint" in said
        log = (out / "runs" / key / "sweep.log").read_text()
        assert "resuming from the checkpoint" in log and "resumed " in log
        assert "4 done (1 resumed), 0 skipped, 0 failed" in said[-1]
    finally:
        client.close()
        cluster.close()


def test_a_lasting_failure_is_named_after_the_others_are_written(tmp_path):
    pytest.importorskip("distributed")
    runs = _sweep(
        tmp_path,
        runs=[{}, {"tag": "broken", "data.name": "mnist", "data.root": "/nonexistent"}],
    )
    good, bad = runs
    out = tmp_path / "out"
    said: list[str] = []
    with pytest.raises(
        SweepFailed,
        match=rf"1 of 2 sweep runs failed[\s\S]*\[broken\] \(runs/{bad.key}\): DataError",
    ):
        run_sweep(runs, out, workers=2, retries=1, progress=False, echo=said.append)
    assert any(bad.key in line and "/nonexistent" in line for line in said)
    assert "1 done (0 resumed), 0 skipped, 1 failed" in said[-1]
    _, rows = _table(out / "results.csv")
    assert [row["key"] for row in rows] == [good.key, good.key]
    assert not (out / "runs" / bad.key / "results.json").exists()


def test_runs_of_picks_the_finished_runs_of_a_tag_and_data_set(tmp_path):
    from mixsig.errors import MixsigError
    from mixsig.experiments.sweep import runs_of

    rows = [
        "key,tag,data,sigma_test_lsb",
        "a,energy,mnist,0.0",
        "a,energy,mnist,0.5",  # one row per σ_test: one folder
        "b,optical,mnist,0.0",
        "c,energy,fashion-mnist,0.0",
        "d,energy,mnist,0.0",
    ]
    (tmp_path / "results.csv").write_text("\n".join(rows) + "\n")
    assert runs_of(tmp_path, "energy", "mnist") == [tmp_path / "runs" / k for k in "ad"]
    assert runs_of(tmp_path, "energy") == [tmp_path / "runs" / k for k in "acd"]
    with pytest.raises(MixsigError, match=r"no finished run tagged 'energy' on cifar10.*optical"):
        runs_of(tmp_path, "energy", "cifar10")
    with pytest.raises(MixsigError, match="no results table"):
        runs_of(tmp_path / "nowhere", "energy")


def test_a_sweep_sets_fields_a_config_dump_leaves_out_at_their_defaults(tmp_path):
    """model.optical.pool / hidden (and the legacy PSF fields) are left out of a dump at their
    defaults, so run keys stay; a sweep may still set them, and the keys of runs that leave
    them at their defaults are those of the base."""
    from mixsig.config.run import TrainConfig
    from mixsig.config.sweep import SweepConfig
    from mixsig.experiments.sweep import expand, run_key

    optical = {"parameterisation": "kernel", "out_channels": 2, "kernel_size": 3}
    base = {"model": {"name": "optical_cnn", "optical": optical}}
    spec = SweepConfig.model_validate(
        {
            "name": "t",
            "base": base,
            "runs": [
                {"tag": "default"},
                {"tag": "set", "model.optical.pool": 2, "model.optical.fill_factor": 0.5},
            ],
        }
    )
    default, changed = expand(spec, tmp_path)
    assert (changed.config.model.optical.pool, changed.config.model.optical.fill_factor) == (2, 0.5)
    assert default.key == run_key(TrainConfig.model_validate(base)) != changed.key
