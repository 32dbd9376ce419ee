"""Data-parallel training under torchrun: two CPU processes (gloo) end with the weights one
process ends with on the same global batches; the shard arithmetic; bad torchrun settings are
refused with what was given."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from mixsig.train import TrainConfig, run_training
from mixsig.train.distributed import (
    Distributed,
    DistributedError,
    check_batches,
    from_environment,
    shard,
)

# deterministic training (no noise in training or deployment, no batch-norm): the only
# difference between one process and two is the order of float additions
CFG = {
    "name": "ddp",
    "seed": 3,
    "data": {"name": "bundled-digits", "test_fraction": 0.25, "limit_train": 149, "limit_test": 64},
    "model": {"name": "small_cnn", "batchnorm": False},
    "hardware": {"noise": {"sigma_lsb": 0.0}},
    "method": {"name": "P", "sigma_train_lsb": 0.0},
    "pretrain": {"epochs": 1, "lr": 0.003},
    "aware": {"epochs": 1, "lr": 0.001},
    "batch_size": 64,  # 149 samples: batches of 64, 64 and 21 (uneven shards on 2 ranks: 11 and 10)
    "checkpoint_every": 100,
    "eval": {"draws": 1, "sigma_test_lsb": [0.0]},
    "device": "cpu",
}


def _final_weights(run: os.PathLike) -> dict[str, torch.Tensor]:
    folder = os.path.join(run, "checkpoint")
    (name,) = [f for f in os.listdir(folder) if f.endswith(".safetensors")]
    return {
        k: v for k, v in load_file(os.path.join(folder, name)).items() if k.startswith("model.")
    }


def test_two_gloo_processes_end_where_one_process_ends(tmp_path):
    single = run_training(
        TrainConfig.model_validate(CFG), tmp_path / "one", progress=False, echo=lambda s: None
    )
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(json.dumps(CFG))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "mixsig.cli.main",
        "train",
        str(cfg),
        "--out",
        str(tmp_path / "two"),
        "--no-progress",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    one, two = _final_weights(tmp_path / "one"), _final_weights(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) > 4
    for k in one:
        assert torch.allclose(one[k], two[k], rtol=1e-4, atol=1e-6), k
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert results["results"][0]["mean"] == pytest.approx(single["results"][0]["mean"], abs=0.02)
    rows = (tmp_path / "two" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 6  # one header, 3 steps × 2 phases, written once (rank 0)
    again = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "training complete, evaluating only" in again.stdout
    assert _final_weights(tmp_path / "two").keys() == one.keys()


def test_shards_cover_the_global_batch_and_weights_make_its_mean():
    idx = torch.arange(22)
    parts = [shard(Distributed(r, 4, r, "gloo"), idx) for r in range(4)]
    assert sorted(torch.cat([p for p, _ in parts]).tolist()) == list(range(22))
    # DDP averages the ranks' gradients: Σ_r w_r·mean_r / N = the global mean
    losses = torch.rand(22, generator=torch.Generator().manual_seed(0))
    ranks = [w * losses[p].mean() for p, w in parts]
    assert torch.isclose(sum(ranks) / 4, losses.mean())
    assert shard(None, idx) == (idx, 1.0)


def test_a_batch_that_leaves_a_rank_empty_is_refused():
    ctx = Distributed(0, 4, 0, "gloo")
    check_batches(ctx, 150, 64)  # last batch 22 ≥ 4
    with pytest.raises(DistributedError, match="leave a batch of 2"):
        check_batches(ctx, 130, 64)
    with pytest.raises(DistributedError, match="leave a batch of 3"):
        check_batches(ctx, 300, 3)
    check_batches(None, 130, 64)


def test_incomplete_torchrun_variables_are_refused_with_what_was_given(monkeypatch):
    for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(DistributedError, match="LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"):
        from_environment(torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert from_environment(torch.device("cpu")) is None


def test_an_unreachable_rendezvous_is_refused_in_time(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {
        "WORLD_SIZE": "2",
        "RANK": "1",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "MIXSIG_RENDEZVOUS_TIMEOUT_S": "0.5",
    }.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(
        DistributedError, match=f"cannot reach the rendezvous at .*127.0.0.1:{port}"
    ):
        from_environment(torch.device("cpu"))
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(DistributedError, match="RANK=5 is outside 0..WORLD_SIZE-1"):
        from_environment(torch.device("cpu"))
