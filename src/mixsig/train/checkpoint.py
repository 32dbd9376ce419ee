"""Checkpoints that survive a kill: safetensors weights, a readable JSON sidecar, atomic writes.

Owns the on-disk format of a training run's state and its integrity checks:

* ``<dir>/state-<step>.safetensors`` — tensors only: the model's state_dict (``model.*``), the
  optimizer's per-parameter state (``optim.<i>.<name>``), and the random states of
  `mixsig.signal.collect_rng_state` (``rng.*``, generator states as uint8 tensors);
* ``<dir>/checkpoint.json`` — written last, atomically (temporary file + ``os.replace``): the
  format tag, the run's config, progress counters, optimizer hyper-parameters and scheduler
  state, the safetensors file's name, size and SHA-256.

A reader follows ``checkpoint.json`` to a weights file whose hash it checks, so a kill at any
moment leaves either the previous complete checkpoint or the new one. Nothing is ever
unpickled; a truncated, corrupt or foreign file is refused with a `CheckpointError` that says
which file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor, nn

from mixsig._atomic import atomic_write_bytes
from mixsig.errors import MixsigError

FORMAT = "mixsig-checkpoint/1"
SIDECAR = "checkpoint.json"


class CheckpointError(MixsigError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


@dataclass
class Checkpoint:
    """What `load_checkpoint` returns: tensors by group, and the sidecar's metadata."""

    model: dict[str, Tensor]
    optim: dict[str, Tensor]
    rng: dict[str, Tensor]
    meta: dict[str, Any]
    path: Path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _optimizer_tensors(opt: torch.optim.Optimizer | None) -> tuple[dict[str, Tensor], dict]:
    if opt is None:
        return {}, {}
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(
    directory: str | os.PathLike,
    model: nn.Module,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    rng: dict[str, Tensor] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of ``model`` (+ optimizer, random states, JSON metadata) atomically.

    ``meta`` must be JSON-serialisable (config, progress counters, scheduler state...).
    Returns the sidecar's path. Older weight files of the same directory are removed once the
    new sidecar is in place.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    tensors.update(opt_tensors)
    tensors.update({f"rng.{k}": v for k, v in (rng or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    step = int((meta or {}).get("global_step", 0))
    name = f"state-{step:09d}.safetensors"
    weights = d / name
    blob = save(tensors, metadata={"format": FORMAT})
    atomic_write_bytes(weights, blob)
    sidecar = {
        "format": FORMAT,
        "weights": name,
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "optimizer": opt_meta,
        **(meta or {}),
    }
    atomic_write_bytes(d / SIDECAR, json.dumps(sidecar, indent=1, sort_keys=True).encode())
    for old in d.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return d / SIDECAR


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint (its directory or its ``checkpoint.json``)."""
    p = Path(path)
    sidecar = p / SIDECAR if p.is_dir() else p
    if not sidecar.is_file():
        raise CheckpointError(f"no checkpoint at {p}: expected {SIDECAR} (and its weights) there")
    try:
        meta = json.loads(sidecar.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{sidecar} is not a mixsig checkpoint (not JSON: {err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{sidecar} is not a {FORMAT} checkpoint (format: {got!r})")
    weights = sidecar.parent / str(meta.get("weights", ""))
    if not weights.is_file():
        raise CheckpointError(f"{sidecar} refers to {weights.name}, which is missing")
    size = weights.stat().st_size
    if size != meta.get("bytes"):
        raise CheckpointError(
            f"{weights} is truncated or altered: {size} bytes, the checkpoint says "
            f"{meta.get('bytes')}"
        )
    if _sha256(weights) != meta.get("sha256"):
        raise CheckpointError(f"{weights} is corrupt: its SHA-256 does not match {sidecar}")
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights} cannot be read as safetensors: {err}") from None
    groups: dict[str, dict[str, Tensor]] = {"model": {}, "optim": {}, "rng": {}}
    for k, v in tensors.items():
        head, _, rest = k.partition(".")
        if head not in groups:
            raise CheckpointError(f"{weights} holds an unexpected tensor {k!r}")
        groups[head][rest] = v
    return Checkpoint(groups["model"], groups["optim"], groups["rng"], meta, sidecar)


def restore_model(model: nn.Module, ckpt: Checkpoint) -> None:
    """Load the checkpoint's weights into ``model``; a mismatch is a `CheckpointError`."""
    own = model.state_dict()
    missing = sorted(set(own) - set(ckpt.model))
    # a flexible buffer not drawn yet (None) is not in ``own``: the checkpoint supplies it
    unexpected = sorted(k for k in set(ckpt.model) - set(own) if not _flexible(model, k))
    wrong = [
        f"{k}: {tuple(ckpt.model[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in ckpt.model
        and v is not None
        and ckpt.model[k].shape != v.shape
        and not _flexible(model, k)
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{ckpt.path} does not fit this model: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, shape mismatch {wrong[:5]}"
        )
    try:
        model.load_state_dict(ckpt.model)
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path} does not fit this model: {err}") from None


def _flexible(model: nn.Module, key: str) -> bool:
    """Buffers whose shape is taken from the checkpoint (lazily drawn distortion maps)."""
    owner, _, name = key.rpartition(".")
    try:
        mod = model.get_submodule(owner)
    except AttributeError:
        return False
    return name in getattr(mod, "_flexible_buffers", ())


def restore_optimizer(opt: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    """Rebuild ``opt``'s state_dict from the checkpoint's tensors and hyper-parameters."""
    om = ckpt.meta.get("optimizer") or {}
    state: dict[int, dict[str, Any]] = {}
    for k, v in ckpt.optim.items():
        idx, _, name = k.partition(".")
        state.setdefault(int(idx), {})[name] = v
    for idx, scalars in (om.get("scalars") or {}).items():
        state.setdefault(int(idx), {}).update(scalars)
    try:
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"{ckpt.path}: optimizer state does not fit: {err}") from None
