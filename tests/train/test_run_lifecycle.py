"""The run folder loses nothing and answers nothing wrong: what a resume (or a new run) cannot
use is refused and left in place, a failed evaluation keeps the training, tampered sidecars
and non-finite weights are refused by key and tensor, a moved data folder is explained."""

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file, save
from typer.testing import CliRunner

import mixsig.train.runner as runner
from mixsig.cli.main import app
from mixsig.data import DataError
from mixsig.train import (
    CheckpointError,
    RunFolderError,
    TrainConfig,
    load_checkpoint,
    load_trained,
    run_training,
)
from mixsig.train.checkpoint import FORMAT

FAST = {
    "name": "lifecycle",
    "seed": 0,
    "data": {"name": "bundled-digits", "test_fraction": 0.25, "limit_train": 128, "limit_test": 64},
    "method": {"name": "P", "sigma_train_lsb": 0.5},
    "pretrain": {"epochs": 1, "lr": 0.003},
    "aware": {"epochs": 1, "lr": 0.001},
    "batch_size": 64,  # 2 steps an epoch: the final checkpoint is state-000000004
    "checkpoint_every": 1,
    "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
}
CFG = TrainConfig.model_validate(FAST)
WEIGHTS = "state-000000004.safetensors"


def _quiet(s: str) -> None:
    pass


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("finished") / "run"
    return out, run_training(CFG, out, progress=False, echo=_quiet)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    """A run stopped right after its checkpoint at step 3 (phase aware, epoch 0, step 1)."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    save = runner.Run.save

    def save_then_stop(self):
        save(self)
        if self.state.global_step == 3:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner.Run, "save", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            run_training(_longer(), out, progress=False, echo=_quiet)
    return out


def _longer() -> TrainConfig:
    return TrainConfig.model_validate({**FAST, "aware": {"epochs": 2, "lr": 0.001}})


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _sidecar(out: Path) -> Path:
    return out / "checkpoint" / "checkpoint.json"


def _edit_sidecar(out: Path, edit) -> Path:
    path = _sidecar(out)
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    return path


def _forbid_training(monkeypatch) -> None:
    """Any training step, phase set-up or checkpoint write fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a resume of a trained run must not train")

    for name in ("train_phase", "enter_phase", "finish_aware", "save"):
        monkeypatch.setattr(runner.Run, name, forbidden)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


# -- 1. a folder a run can neither use nor overwrite is refused and left as it is --------------
@pytest.mark.parametrize("resume", [True, False])
def test_weights_without_their_sidecar_are_refused_and_kept(finished, tmp_path, resume):
    out = _copy(finished[0], tmp_path / "run")
    _sidecar(out).unlink()
    (out / "results.json").unlink()
    before = _snapshot(out)
    with pytest.raises(RunFolderError, match=f"{WEIGHTS} \\(weights without their"):
        run_training(CFG, out, resume=resume, progress=False, echo=_quiet)
    assert _snapshot(out) == before
    assert isinstance(RunFolderError("x"), CheckpointError)


def test_cli_resume_with_weights_but_no_sidecar_exits_2(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    _sidecar(out).unlink()
    before = _snapshot(out)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST))
    res = _cli("train", str(config), "--out", str(out), "--resume", "--no-progress")
    assert res.exit_code == 2, res.output
    assert WEIGHTS in res.output and "Nothing was deleted" in res.output
    assert "Traceback" not in res.output
    assert _snapshot(out) == before


def test_results_without_a_checkpoint_are_not_overwritten(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    shutil.rmtree(out / "checkpoint")
    before = _snapshot(out)
    with pytest.raises(RunFolderError, match="results.json \\(the results of a run whose"):
        run_training(CFG, out, progress=False, echo=_quiet)
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    "name, content",
    [("config.json", "my own notes"), ("config.json", '{"lr": 1}'), ("metrics.csv", "a,b\n1,2\n")],
)
def test_a_new_run_does_not_overwrite_foreign_files(tmp_path, name, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / name).write_text(content)
    with pytest.raises(RunFolderError, match=f"{name} \\(not a mixsig"):
        run_training(CFG, out, progress=False, echo=_quiet)
    assert (out / name).read_text() == content
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_unknown_files_in_the_checkpoint_folder_are_refused(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    (out / "checkpoint" / "checkpoint.json.bak").write_text("{}")
    before = _snapshot(out)
    with pytest.raises(RunFolderError, match="checkpoint.json.bak \\(not a file of a mixsig"):
        run_training(CFG, out, resume=True, progress=False, echo=_quiet)
    assert _snapshot(out) == before


def test_incomplete_temporary_files_of_killed_writes_are_removed(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    ck = out / "checkpoint"
    blob = (ck / WEIGHTS).read_bytes()
    partial = {
        ck / ".state-000000005.safetensors.k3j5x_0a.tmp": blob[: len(blob) // 2],
        ck / ".state-000000006.safetensors.zz9zz9zz.tmp": blob[:5],
        ck / ".checkpoint.json.abcdefgh.tmp": b"",
        out / ".results.json.q1w2e3r4.tmp": b'{"name": "lifecy',
    }
    for p, data in partial.items():
        p.write_bytes(data)
    (out / ".notes.txt.abcdefgh.tmp").write_text("not ours: left alone")
    lines: list[str] = []
    run_training(CFG, out, resume=True, progress=False, echo=lines.append)
    assert not any(p.exists() for p in partial)
    assert sum("incomplete temporary file" in s for s in lines) == len(partial)
    assert (out / ".notes.txt.abcdefgh.tmp").exists()


@pytest.mark.parametrize(
    "name", [".state-000000005.safetensors.abcdefgh.tmp", ".checkpoint.json.abcdefgh.tmp"]
)
def test_a_complete_temporary_file_is_refused_not_removed(finished, tmp_path, name):
    """A complete file under a temporary name (killed between writing and renaming it) is not
    provably incomplete: it is listed and kept."""
    out = _copy(finished[0], tmp_path / "run")
    ck = out / "checkpoint"
    source = WEIGHTS if name.startswith(".state") else "checkpoint.json"
    (ck / name).write_bytes((ck / source).read_bytes())
    before = _snapshot(out)
    with pytest.raises(RunFolderError, match=re.escape(name) + " \\(a complete temporary file"):
        run_training(CFG, out, resume=True, progress=False, echo=_quiet)
    assert _snapshot(out) == before


def test_a_folder_left_before_the_first_checkpoint_is_started_again(tmp_path):
    """What a run killed before its first checkpoint leaves (its config, metrics header, an
    empty checkpoint folder with a cut write) and a caller's own log do not block it."""
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(CFG.model_dump(mode="json")))
    (out / "metrics.csv").write_text("phase,epoch,global_step,loss,lr,sigma_train_lsb\r\n")
    (out / "sweep.log").write_text("== starting\n")
    cut = out / "checkpoint" / ".state-000000001.safetensors.abcdefgh.tmp"
    cut.write_bytes(b"")
    lines: list[str] = []
    results = run_training(CFG, out, resume=True, progress=False, echo=lines.append)
    assert any(s.startswith("nothing to resume") for s in lines)
    assert not cut.exists() and (out / "sweep.log").read_text() == "== starting\n"
    assert results["results"][0]["accuracies"]


def test_a_second_process_in_the_same_folder_is_refused(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)  # another open file: flock conflicts as across processes
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunFolderError, match="in use by another mixsig process"):
            run_training(CFG, out, progress=False, echo=_quiet)
    finally:
        os.close(fd)
    assert list(out.iterdir()) == []


# -- 2. a failed evaluation keeps the training; resume only evaluates ---------------------------
def test_a_failed_evaluation_keeps_the_training_and_resume_only_evaluates(
    finished, tmp_path, monkeypatch
):
    ref_out, ref = finished
    out = tmp_path / "run"
    evaluate, calls = runner.evaluate, []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(runner, "evaluate", fails_once)
    with pytest.raises(RuntimeError, match="Poisson") as err:
        run_training(CFG, out, progress=False, echo=_quiet)
    assert any("redoes only the evaluation" in n for n in getattr(err.value, "__notes__", []))
    assert json.loads(_sidecar(out).read_text())["phase"] == "done"  # training complete
    assert not (out / "results.json").exists()
    kept = _snapshot(out / "checkpoint")
    assert kept[WEIGHTS] == (ref_out / "checkpoint" / WEIGHTS).read_bytes()

    _forbid_training(monkeypatch)
    lines: list[str] = []
    results = run_training(CFG, out, resume=True, progress=False, echo=lines.append)
    assert "training complete, evaluating only" in lines[0]
    assert _snapshot(out / "checkpoint") == kept  # weights bitwise unchanged
    assert results["results"] == ref["results"]
    assert json.loads((out / "results.json").read_text())["results"] == ref["results"]


def test_evaluation_settings_may_change_when_only_the_evaluation_is_left(
    finished, tmp_path, monkeypatch
):
    out = _copy(finished[0], tmp_path / "run")
    (out / "results.json").unlink()
    _forbid_training(monkeypatch)
    other_eval = TrainConfig.model_validate(
        {**FAST, "eval": {"draws": 3, "sigma_test_lsb": [0.5, 1]}}
    )
    lines: list[str] = []
    results = run_training(other_eval, out, resume=True, progress=False, echo=lines.append)
    assert [len(r["accuracies"]) for r in results["results"]] == [3, 3]
    assert any("evaluation settings changed" in s for s in lines)
    other_training = TrainConfig.model_validate({**FAST, "aware": {"epochs": 1, "lr": 0.01}})
    with pytest.raises(CheckpointError, match="different config \\(it differs in aware\\)"):
        run_training(other_training, out, resume=True, progress=False, echo=_quiet)


# -- 3. a tampered sidecar is refused by key ----------------------------------------------------
@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m.pop("epoch"), "key 'epoch' is missing"),
        (lambda m: m.update(epoch="0"), "key 'epoch': Input should be a valid integer"),
        (lambda m: m.update(global_step=-1), "key 'global_step'"),
        (lambda m: m.update(phase="finished"), "key 'phase'"),
        (lambda m: m.update(config=[1]), "key 'config'"),
        (lambda m: m.update(scheduler=7), "key 'scheduler'"),
        (lambda m: m.update(synthesis="fit"), "key 'synthesis'"),
        (lambda m: m.update(weights=f"../checkpoint/{WEIGHTS}"), "key 'weights'"),
        (lambda m: m.update(bytes=str(m["bytes"])), "key 'bytes'"),
        (lambda m: m.update(sha256=None), "key 'sha256'"),
        (lambda m: m["optimizer"].update(scalars={"x": {}}), "key 'optimizer.scalars'"),
    ],
)
def test_a_tampered_sidecar_is_refused_naming_the_key(finished, tmp_path, edit, words):
    out = _copy(finished[0], tmp_path / "run")
    sidecar = _edit_sidecar(out, edit)
    with pytest.raises(CheckpointError, match=re.escape(f"{sidecar}: ") + ".*" + re.escape(words)):
        run_training(CFG, out, resume=True, progress=False, echo=_quiet)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m.update(epoch=5), "key 'epoch'/'step_in_epoch' (5, 1) lie beyond"),
        (lambda m: m.update(step_in_epoch=9), "key 'epoch'/'step_in_epoch' (0, 9) lie beyond"),
        (lambda m: m.update(scheduler=None), "key 'scheduler' is null in phase 'aware'"),
        (lambda m: m["scheduler"].pop("base_lrs"), "key 'scheduler' does not fit"),
        (lambda m: m["scheduler"].update(last_epoch="2"), "last_epoch='2'"),
        (lambda m: m["optimizer"].update(param_groups=None), "optimizer state does not fit"),
    ],
)
def test_a_sidecar_mid_phase_must_hold_a_consistent_state(interrupted, tmp_path, edit, words):
    out = _copy(interrupted, tmp_path / "run")
    sidecar = _edit_sidecar(out, edit)
    with pytest.raises(CheckpointError, match=re.escape(f"{sidecar}") + ".*" + re.escape(words)):
        run_training(_longer(), out, resume=True, progress=False, echo=_quiet)


def test_cli_eval_refuses_a_tampered_sidecar(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    _edit_sidecar(out, lambda m: m.pop("phase"))
    res = _cli("eval", str(out), "--sigma-lsb", "0.5", "--draws", "2")
    assert res.exit_code == 2, res.output
    assert "key 'phase' is missing" in res.output and "Traceback" not in res.output


# -- 4. non-finite weights are refused by tensor ------------------------------------------------
def _poison(out: Path, group: str, value: float) -> str:
    """Put ``value`` into the first floating tensor of ``group``; re-hash like a real save."""
    ck = out / "checkpoint"
    tensors = load_file(ck / WEIGHTS)
    key = next(k for k, v in tensors.items() if k.startswith(group) and v.is_floating_point())
    tensors[key].view(-1)[0] = value
    blob = save(tensors, metadata={"format": FORMAT})
    (ck / WEIGHTS).write_bytes(blob)
    _edit_sidecar(out, lambda m: m.update(bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest()))
    return key


@pytest.mark.parametrize("group", ["model.", "optim."])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(finished, tmp_path, group, value):
    out = _copy(finished[0], tmp_path / "run")
    key = _poison(out, group, value)
    words = re.escape(f"tensor {key!r}") + ".*non-finite"
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(out / "checkpoint")
    with pytest.raises(CheckpointError, match=words):
        load_trained(out)
    res = _cli("eval", str(out), "--sigma-lsb", "0.5", "--draws", "2")
    assert res.exit_code == 2 and key in res.output and "Traceback" not in res.output


# -- 5. a moved data folder is explained; eval and resume can follow it ------------------------
def _idx(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _write_mnist(root: Path, n_train: int = 128, n_test: int = 64) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(
            _idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        )
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))


def test_a_moved_data_folder_is_explained_and_can_be_named(finished, tmp_path):
    data, moved, out = tmp_path / "data", tmp_path / "elsewhere", tmp_path / "run"
    _write_mnist(data)
    local = {**FAST, "data": {"name": "mnist", "root": str(data)}}
    run_training(TrainConfig.model_validate(local), out, progress=False, echo=_quiet)
    data.rename(moved)

    with pytest.raises(DataError) as err:
        load_trained(out)
    msg = str(err.value)
    assert str(out / "checkpoint" / "checkpoint.json") in msg and f"from {data}" in msg
    assert "train-images-idx3-ubyte[.gz]" in msg and f"{data / 'MNIST' / 'raw'}" in msg
    assert "--data-root" in msg and "data_root=" in msg
    res = _cli("eval", str(out), "--sigma-lsb", "0.5", "--draws", "2")
    assert res.exit_code == 2 and "Traceback" not in res.output and "--data-root" in res.output

    model, cfg, split = load_trained(out, data_root=moved)
    assert cfg.data.root == str(moved) and len(split.x_test) == 64
    with pytest.raises(DataError, match="bundled data set"):
        load_trained(finished[0], data_root=moved)

    # a resume follows the data to its new place (data.root may change, and says so)
    (out / "results.json").unlink()
    lines: list[str] = []
    local["data"]["root"] = str(moved)
    run_training(
        TrainConfig.model_validate(local), out, resume=True, progress=False, echo=lines.append
    )
    assert any(s == f"data.root changed since the checkpoint: {data} -> {moved}" for s in lines)


def test_a_resume_whose_data_folder_moved_says_data_root_may_change(tmp_path):
    data, out = tmp_path / "data", tmp_path / "run"
    _write_mnist(data)
    local = TrainConfig.model_validate({**FAST, "data": {"name": "mnist", "root": str(data)}})
    run_training(local, out, progress=False, echo=_quiet)
    shutil.rmtree(data)
    with pytest.raises(DataError, match="a resume accepts a changed data.root"):
        run_training(local, out, resume=True, progress=False, echo=_quiet)


# -- 6. checkpoints written before these checks still load; the metrics log stays exact --------
def test_checkpoints_written_before_these_checks_still_load(finished, tmp_path, monkeypatch):
    """The sidecar keys are those written since the first checkpoint format, and ``converters``
    for a reader (never read back); a sidecar without ``synthesis`` (as before the kernel-space
    optical recipe) and without ``converters`` (as before it was stated) still loads."""
    out = _copy(finished[0], tmp_path / "run")
    meta = json.loads(_sidecar(out).read_text())
    old_keys = {"bytes", "config", "data", "epoch", "format", "global_step", "optimizer"}
    old_keys |= {"phase", "scheduler", "sha256", "step_in_epoch", "synthesis", "weights"}
    assert set(meta) == old_keys | {"converters"} and meta["format"] == "mixsig-checkpoint/1"
    _edit_sidecar(out, lambda m: (m.pop("synthesis"), m.pop("converters")))
    model, cfg, _ = load_trained(out)
    assert cfg == CFG
    _forbid_training(monkeypatch)
    (out / "results.json").unlink()
    assert (
        run_training(CFG, out, resume=True, progress=False, echo=_quiet)["results"]
        == (finished[1]["results"])
    )


def test_a_metrics_row_cut_by_a_kill_is_dropped_on_resume(interrupted, tmp_path):
    out = _copy(interrupted, tmp_path / "run")
    with open(out / "metrics.csv", "a", newline="") as fh:
        fh.write("aware,0,4,2.3,0.001,0.25\r\naware,1,1")  # step 4 logged, step 1x cut by the kill
    run_training(_longer(), out, resume=True, progress=False, echo=_quiet)
    lines = (out / "metrics.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[2]) for line in lines] == list(range(1, 7))
