"""Checkpoints that survive a kill: safetensors weights, a readable JSON sidecar, atomic writes.

Owns the on-disk format of a training run's state and its integrity checks:

* ``<dir>/state-<step>.safetensors`` — tensors only: the model's state_dict (``model.*``), the
  optimizer's per-parameter state (``optim.<i>.<name>``), and the random states of
  `mixsig.signal.collect_rng_state` (``rng.*``, generator states as uint8 tensors);
* ``<dir>/checkpoint.json`` — written last, atomically (temporary file + ``os.replace``): the
  format tag, the run's config, progress counters, optimizer hyper-parameters and scheduler
  state, the safetensors file's name, size and SHA-256, and (``converters``, for a reader;
  never read back) every ADC and DAC as the forward uses it: bits, signedness, range mode, lo,
  hi and step Δ (`mixsig.signal.converter_settings`), and (``optics``, likewise for a reader)
  each optical layer's PSF model, which its weights carry (``_extra_state``).

A reader follows ``checkpoint.json`` to a weights file whose hash it checks, so a kill at any
moment leaves either the previous complete checkpoint or the new one. Nothing is ever
unpickled; a truncated, corrupt or foreign file, a sidecar whose keys are missing or of the
wrong type (`validate_meta`), and weights holding NaN or ±Inf are refused with a
`CheckpointError` that says which file, key or tensor and what is wrong.

`survey_checkpoint_folder` sorts what a checkpoint folder holds: the sidecar, weights files,
incomplete temporary files of the atomic writer (a write killed before its rename; safe to
remove, `is_partial_write`) and anything else — which a run never deletes or overwrites.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor, nn

from mixsig._atomic import atomic_write_bytes
from mixsig.errors import MixsigError
from mixsig.optics.psf_model import psf_models
from mixsig.signal import converter_settings

FORMAT = "mixsig-checkpoint/1"
SIDECAR = "checkpoint.json"
WEIGHTS = re.compile(r"state-\d{9}\.safetensors")
# `mixsig._atomic.atomic_write_bytes` writes ``<dir>/.<name>.<8 random chars>.tmp``, then renames
TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")


class CheckpointError(MixsigError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


class _Optimizer(BaseModel):
    """The sidecar's ``optimizer``: Adam's hyper-parameters and non-tensor state ({} if none)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    param_groups: list[dict[str, Any]] | None = None
    scalars: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("scalars")
    @classmethod
    def _indices(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        bad = [k for k in v if not k.isdigit()]
        if bad:
            raise ValueError(f"keys must be parameter indices, got {bad[:3]}")
        return v


class _Sidecar(BaseModel):
    """The keys every sidecar has (`save_checkpoint`); a run's own keys are validated by it."""

    model_config = ConfigDict(strict=True, extra="allow")
    format: str
    weights: str = Field(pattern=r"^[^/\\]+\.safetensors$")
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    optimizer: _Optimizer = Field(default_factory=_Optimizer)


def validate_meta(schema: type[BaseModel], meta: dict[str, Any], path: Path) -> BaseModel:
    """``meta`` (a sidecar's contents) checked against ``schema``; a `CheckpointError` naming
    ``path`` and every missing or invalid key otherwise."""
    try:
        return schema.model_validate(meta)
    except ValidationError as err:
        raise CheckpointError(f"{path}: invalid checkpoint sidecar: {_issues(err)}") from None


def _issues(err: ValidationError) -> str:
    """'key 'epoch' is missing; key 'phase': ...' — at most five, each naming its key."""
    out = []
    for e in err.errors()[:5]:
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "missing":
            out.append(f"key {key!r} is missing")
        else:
            out.append(f"key {key!r}: {e['msg']} (got {_short(e.get('input'))})")
    return "; ".join(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    converters = converter_settings(model)
    if converters:  # for a reader: each converter as the forward uses it (not read back)
        sidecar["converters"] = converters
    optics = psf_models(model)
    if optics:  # for a reader: each optical layer's PSF model (read back from the weights)
        sidecar["optics"] = optics
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
    validate_meta(_Sidecar, meta, sidecar)
    weights = sidecar.parent / meta["weights"]
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
    _check_finite(tensors, weights)
    return Checkpoint(groups["model"], groups["optim"], groups["rng"], meta, sidecar)


def _check_finite(tensors: dict[str, Tensor], weights: Path) -> None:
    """Refuse weights or optimizer state holding NaN or ±Inf (a run that diverged, or an
    edited file): naming the first such tensor, they are never evaluated nor trained on."""
    for k, v in tensors.items():
        if not v.is_floating_point():
            continue
        bad = ~torch.isfinite(v)
        if bool(bad.any()):
            n_nan = int(torch.isnan(v).sum())
            raise CheckpointError(
                f"{weights}: tensor {k!r} {tuple(v.shape)} holds non-finite values "
                f"({n_nan} NaN, {int(bad.sum()) - n_nan} ±Inf of {v.numel()}); the run diverged "
                "or the file was altered — refusing to use it"
            )


def restore_model(model: nn.Module, ckpt: Checkpoint) -> None:
    """Load the checkpoint's weights into ``model``; a mismatch is a `CheckpointError`."""
    own = model.state_dict()
    # a key a layer lets an older checkpoint lack (`_optional_state`: the optical PSF model)
    missing = sorted(k for k in set(own) - set(ckpt.model) if not _flexible(model, k, True))
    # a flexible buffer not drawn yet (None) is not in ``own``: the checkpoint supplies it
    unexpected = sorted(k for k in set(ckpt.model) - set(own) if not _flexible(model, k))
    wrong = [
        f"{k}: {tuple(ckpt.model[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in ckpt.model
        and v is not None
        and ckpt.model[k].shape != v.shape
        and not _flexible(model, k)
        and not _flexible(model, k, True)
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


def _flexible(model: nn.Module, key: str, optional: bool = False) -> bool:
    """Buffers whose shape is taken from the checkpoint (lazily drawn distortion maps); with
    ``optional``, the state a module lets an older checkpoint lack (``_optional_state``)."""
    owner, _, name = key.rpartition(".")
    try:
        mod = model.get_submodule(owner)
    except AttributeError:
        return False
    return name in getattr(mod, "_optional_state" if optional else "_flexible_buffers", ())


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
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{ckpt.path}: optimizer state does not fit: {err}") from None


# -- what a checkpoint folder holds -----------------------------------------------------------
@dataclass
class CheckpointFolder:
    """`survey_checkpoint_folder`: a checkpoint folder's entries, sorted."""

    sidecar: Path | None = None
    weights: list[Path] = field(default_factory=list)
    partial: list[Path] = field(default_factory=list)  # killed writes: safe to remove
    foreign: list[str] = field(default_factory=list)  # "path (why)": never touched


def survey_checkpoint_folder(directory: str | os.PathLike) -> CheckpointFolder:
    """Sort ``directory``'s entries (an absent folder is empty): the sidecar, weights files
    (``state-<step>.safetensors``), incomplete temporary files of the atomic writer, and
    anything else — including a *complete* temporary file, which a run does not remove."""
    d = Path(directory)
    found = CheckpointFolder()
    if not d.exists():
        return found
    if not d.is_dir():
        found.foreign.append(f"{d} (not a folder)")
        return found
    for p in sorted(d.iterdir()):
        if p.is_symlink() or not p.is_file():
            found.foreign.append(f"{p} (not a plain file)")
        elif p.name == SIDECAR:
            found.sidecar = p
        elif WEIGHTS.fullmatch(p.name):
            found.weights.append(p)
        elif is_partial_write(p, lambda t: t == SIDECAR or WEIGHTS.fullmatch(t) is not None):
            found.partial.append(p)
        else:
            found.foreign.append(f"{p} ({_why_foreign(p)})")
    return found


def _why_foreign(p: Path) -> str:
    if TEMPORARY.fullmatch(p.name):
        return (
            "a complete temporary file never renamed into place: the run was killed between "
            "writing and renaming it; it is not part of the checkpoint — remove it to go on"
        )
    return "not a file of a mixsig checkpoint"


def is_partial_write(path: Path, target_ok: Callable[[str], bool]) -> bool:
    """Whether ``path`` is provably an incomplete temporary file of the atomic writer: its
    name is ``.<target>.<8 chars>.tmp`` with ``target_ok(target)``, it is a plain file, and
    its contents stop short — a safetensors file shorter than its own header says, or JSON
    (an object) cut before its end. Such a file was never renamed into place, so no checkpoint
    refers to it; removing it loses nothing."""
    m = TEMPORARY.fullmatch(path.name)
    if m is None or not target_ok(m["target"]) or path.is_symlink() or not path.is_file():
        return False
    if m["target"].endswith(".safetensors"):
        return _truncated_safetensors(path)
    return _truncated_json(path)


def _truncated_safetensors(path: Path) -> bool:
    """An 8-byte header length, the JSON header, the data: cut somewhere before the end."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
        if len(head) < 9:
            return True  # nothing, or not even the header's first byte, was written
        n = int.from_bytes(head[:8], "little")
        if head[8:9] != b"{" or n > 100 << 20:
            return False  # not a safetensors header
        if size < 8 + n:
            return True
        try:
            header = json.loads(head[8:] + fh.read(n - 1))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False
    if not isinstance(header, dict) or (header.get("__metadata__") or {}).get("format") != FORMAT:
        return False
    try:
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0
        )
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    return size < 8 + n + end


def _truncated_json(path: Path) -> bool:
    """Empty, or a JSON object cut before its end (what every atomic JSON write here is)."""
    text = path.read_bytes()
    if not text:
        return True
    if not text.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True
    return False
