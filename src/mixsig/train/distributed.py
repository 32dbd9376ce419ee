"""One run on several processes: data-parallel training under ``torchrun`` (DDP).

Owns what a run does differently when ``torchrun`` starts it N times (``torchrun
--nproc-per-node N --no-python mixsig train CONFIG``, or one process per GPU of several nodes,
e.g. under SLURM): `from_environment` reads torchrun's variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins the process group — gloo on the CPU,
NCCL on CUDA —, refusing with what was given when the variables are incomplete or rank 0's
rendezvous cannot be reached within ``RENDEZVOUS_TIMEOUT_S`` (``MIXSIG_RENDEZVOUS_TIMEOUT_S``).
Then, for `mixsig.train.runner`:

* the global batch is the config's ``batch_size``, drawn in the single process's order
  (`mixsig.train.runner`'s epoch order is a function of seed, phase and epoch); rank r takes
  samples r, r + N, … of it (`shard`), and its mean loss is weighted by n_r·N/n (`shard`'s
  weight) so that DDP's average of the ranks' gradients is the gradient of the global batch's
  mean loss, exactly as one process computes it (float round-off apart). Every rank must get a
  sample of every batch: `check_batches` refuses a config where one would not;
* the model is wrapped in ``DistributedDataParallel`` for the training forward (`wrap`): it
  broadcasts rank 0's weights and buffers, so every rank starts, and stays, where rank 0 is;
  batch-norm statistics are those of each rank's share (``SyncBatchNorm`` on CUDA, see `wrap`);
* each rank draws its own noise: its global generator and every seeded noise module are offset
  by the rank (`seed_rank`; rank 0 keeps the single process's streams);
* rank 0 alone prepares and locks the run folder, writes checkpoints, metrics and results and
  evaluates (after every rank's training, `barrier`); the others read, on ``--resume``, the
  checkpoint it wrote. A resume continues rank 0's random streams exactly; the other ranks
  restart theirs from (seed, rank, step).
"""

from __future__ import annotations

import datetime
import os
import socket
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from mixsig.errors import MixsigError
from mixsig.signal.noise import _Seeded

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
RENDEZVOUS_TIMEOUT_S = 60.0
#: how long a collective (a gradient all-reduce, a barrier) may wait for the slowest rank
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)
#: seeds of rank r are offset by r times this (an odd prime: streams of ranks never coincide)
RANK_SEED_STRIDE = 1_000_033


class DistributedError(MixsigError):
    """torchrun's variables are incomplete or wrong, or the rendezvous cannot be reached."""


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _environment() -> dict[str, str] | None:
    """torchrun's variables, or None for a single process (no WORLD_SIZE, or 1)."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return None
    found = {k: os.environ.get(k) for k in ENV}
    missing = [k for k, v in found.items() if not v]
    if missing:
        given = ", ".join(f"{k}={v}" for k, v in found.items() if v)
        raise DistributedError(
            f"WORLD_SIZE > 1 asks for a data-parallel run, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set (given: {given}): start it with "
            "torchrun --nproc-per-node N --no-python mixsig train CONFIG"
        )
    return found  # type: ignore[return-value]


def from_environment(device: torch.device) -> Distributed | None:
    """Join the process group torchrun describes (None: a single process). ``device``: where
    the run computes (NCCL for CUDA, gloo otherwise)."""
    env = _environment()
    if env is None:
        return None
    try:
        rank, world, local = (int(env[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
        int(env["MASTER_PORT"])
    except ValueError:
        raise DistributedError(f"torchrun variables must be integers: {env}") from None
    if not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} is outside 0..WORLD_SIZE-1 = 0..{world - 1}")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        where = (env["MASTER_ADDR"], int(env["MASTER_PORT"]))
        if rank > 0:  # rank 0 hosts the rendezvous; the others must reach it
            _reach(where, rank, world)
        try:
            dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
        except (RuntimeError, ValueError, OSError) as err:  # DistNetworkError is a RuntimeError
            raise DistributedError(
                f"cannot join the data-parallel run at MASTER_ADDR:MASTER_PORT = "
                f"{where[0]}:{where[1]} as rank {rank} of {world} ({backend}): "
                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
            ) from None
    return Distributed(rank, world, local, backend)


def _reach(where: tuple[str, int], rank: int, world: int) -> None:
    """Wait until rank 0's rendezvous at ``where`` accepts a connection, or refuse after
    ``MIXSIG_RENDEZVOUS_TIMEOUT_S`` seconds (default `RENDEZVOUS_TIMEOUT_S`)."""
    limit = float(os.environ.get("MIXSIG_RENDEZVOUS_TIMEOUT_S", RENDEZVOUS_TIMEOUT_S))
    deadline = time.monotonic() + limit
    while True:
        try:
            with socket.create_connection(where, timeout=min(5.0, limit)):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"rank {rank} of {world} cannot reach the rendezvous at MASTER_ADDR:"
                    f"MASTER_PORT = {where[0]}:{where[1]} within {limit:g} s ({err}): is rank "
                    "0 running, and is the address reachable from here?"
                ) from None
            time.sleep(0.2)


def device_for(ctx: Distributed | None, device: torch.device) -> torch.device:
    """The device of this rank: CUDA device LOCAL_RANK when the run is on CUDA."""
    if ctx is not None and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def check_batches(ctx: Distributed | None, n: int, batch_size: int) -> None:
    """Refuse a run in which some rank would get no sample of some batch."""
    if ctx is None:
        return
    last = n % batch_size or batch_size
    smallest = min(batch_size, n, last)
    if smallest < ctx.world_size:
        raise DistributedError(
            f"{ctx.world_size} processes need at least {ctx.world_size} samples in every batch, "
            f"but {n} samples in batches of {batch_size} leave a batch of {smallest}: change "
            "batch_size (or data.limit_train) so that every batch holds at least one sample "
            "per process"
        )


def shard(ctx: Distributed | None, idx: Tensor) -> tuple[Tensor, float]:
    """(this rank's samples of the global batch ``idx``, the weight of its mean loss)."""
    if ctx is None:
        return idx, 1.0
    mine = idx[ctx.rank :: ctx.world_size]
    return mine, len(mine) * ctx.world_size / len(idx)


def global_mean(ctx: Distributed | None, weighted_loss: Tensor) -> Tensor:
    """The global batch's mean loss (for the log) from this rank's weighted mean loss."""
    if ctx is None:
        return weighted_loss.detach()
    total = weighted_loss.detach().clone()
    dist.all_reduce(total)
    return total / ctx.world_size


def wrap(ctx: Distributed | None, model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` for the training forward: itself, or wrapped in DDP (on CUDA its batch-norm
    layers synchronised across ranks; on the CPU, whose gloo backend SyncBatchNorm does not
    support, each rank normalises its own share)."""
    if ctx is None:
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def seed_rank(ctx: Distributed | None, model: nn.Module, seed: int, step: int = 0) -> None:
    """Give this rank its own noise: rank 0 keeps the single process's streams; rank r > 0
    seeds its global generator and every seeded noise module from (seed, r, step)."""
    if ctx is None or ctx.rank == 0:
        return
    base = (seed + ctx.rank * RANK_SEED_STRIDE + step * 7919) % (2**62)
    torch.manual_seed(base)
    for i, m in enumerate(m for m in model.modules() if isinstance(m, _Seeded)):
        if m.seed is not None:
            m.reseed((base + (i + 1) * RANK_SEED_STRIDE) % (2**62))


def barrier(ctx: Distributed | None) -> None:
    """Wait for every rank (nothing for a single process)."""
    if ctx is not None:
        dist.barrier()


def broadcast_flag(ctx: Distributed | None, value: bool) -> bool:
    """Rank 0's ``value``, on every rank."""
    if ctx is None:
        return value
    t = torch.tensor([1 if value else 0], dtype=torch.int64)
    if ctx.backend == "nccl":
        t = t.cuda()
    dist.broadcast(t, 0)
    return bool(t.item())


__all__ = [
    "Distributed",
    "DistributedError",
    "barrier",
    "broadcast_flag",
    "check_batches",
    "device_for",
    "from_environment",
    "global_mean",
    "seed_rank",
    "shard",
    "wrap",
]
