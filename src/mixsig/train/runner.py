"""One training run from a `TrainConfig`, resumable at any step: `run_training`.

Owns the sequence of a run and its bookkeeping:

1. ``pretrain`` — the float network, Adam + cosine schedule (skipped with 0 epochs); for the
   optical CNN (its front is analog from the start) the camera is calibrated first and run
   ideal — no noise, no rounding — during this phase, and the DOE regulariser joins the loss;
2. conversion to mixed-signal layers (not for the optical CNN, whose rest stays digital) and
   range calibration (deterministic: it is redone, not stored, when a run resumes in phase 1);
   for the optical CNN in kernel space, first the DOE synthesis that realises the pre-trained
   kernels (the optics are then frozen; fit error and throughput go to the results);
3. ``aware`` — the method's hardware-aware training (P, B2–B4; see `mixsig.train.config`):
   the training chain per method, the noise ramp, then (P) batch-norm re-estimation under the
   noisy forward, and (B1–B3, whose training never saw the ADC) ADC range re-calibration;
4. evaluation: Monte-Carlo accuracy at each ``sigma_test_lsb`` (`mixsig.eval.evaluate`).

Every ``checkpoint_every`` steps and at each phase end the full state (weights, optimizer,
scheduler, every random state, progress) goes to ``<out>/checkpoint`` (`mixsig.train.checkpoint`);
`run_training(..., resume=True)` continues from it and ends with the same weights, bit for
bit, as the uninterrupted run. The batch order of each epoch is a function of (seed, phase,
epoch), so it is recomputed rather than stored. Metrics go to ``metrics.csv`` (and TensorBoard
when it is installed); results to ``results.json``.

Runs that differ only after pre-training (method, bit depth, noise, evaluation) can share it:
`pretrain(cfg, cache)` trains phase 1 once into ``<cache>/<pretrain_key(cfg)>`` (weights and
every random state, as a checkpoint), and ``run_training(..., pretrained=cache)`` starts from
there, in the same state as if it had run phase 1 itself.

The run folder: nothing in it is lost. The final checkpoint (phase ``done``: training
complete) is written before the evaluation starts, so a run whose evaluation fails keeps its
training, and ``resume`` then redoes only the evaluation (whose settings, ``eval``, may have
changed; so may ``data.root`` at any resume: the data folder moved). Before anything is
written, the folder is surveyed: what a resume (or a new run) can neither use nor overwrite
— weights without their ``checkpoint.json``, results without a checkpoint, a foreign
``config.json`` / ``metrics.csv``, anything unknown in ``checkpoint/``, a complete temporary
file never renamed into place — is refused with a `RunFolderError` listing it, and nothing
is deleted or overwritten. Only incomplete temporary files of the atomic writer (writes killed
before their rename, `mixsig.train.checkpoint.is_partial_write`) are removed. While a run
writes into the folder it holds an advisory lock on it, so a second process is refused too.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from tqdm.auto import tqdm

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None

from mixsig._atomic import atomic_write_text
from mixsig.config.hardware import without_maps
from mixsig.data import DataError, Split, bundled_digits, bundled_mnist, load_local
from mixsig.eval import EQUIVALENT_DEFINITION, evaluate, is_equivalent
from mixsig.models import build_model, optical_cnn
from mixsig.nn import convert
from mixsig.signal import (
    calibrate,
    collect_rng_state,
    restore_rng_state,
    set_output_quantization,
    set_sigma_lsb,
)
from mixsig.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    is_partial_write,
    load_checkpoint,
    restore_model,
    restore_optimizer,
    save_checkpoint,
    survey_checkpoint_folder,
    validate_meta,
)
from mixsig.train.config import DataConfig, TrainConfig

CKPT_DIR = "checkpoint"
PHASES = ("pretrain", "aware", "done")
RESULTS = "results.json"
CONFIG = "config.json"


class RunFolderError(CheckpointError, FileExistsError):
    """A run folder this run can neither use nor overwrite; the message lists what is there.
    Nothing in it was deleted or overwritten. (A `FileExistsError` too, as it always was.)"""


class _RunMeta(BaseModel):
    """A run's keys of ``checkpoint/checkpoint.json`` (`Run.save`); checkpoints written before
    the kernel-space optical recipe have no ``synthesis``."""

    model_config = ConfigDict(strict=True, extra="allow")
    config: dict[str, Any]
    phase: Literal["pretrain", "aware", "done"]
    epoch: int = Field(ge=0)
    step_in_epoch: int = Field(ge=0)
    global_step: int = Field(ge=0)
    scheduler: dict[str, Any] | None
    data: str | None = None
    synthesis: dict[str, float] | None = None


class _PretrainedMeta(BaseModel):
    """The keys of a pre-training cache entry's ``checkpoint.json`` (`_store_pretrained`)."""

    model_config = ConfigDict(strict=True, extra="allow")
    pretrain_key: str
    global_step: int = Field(ge=0)


def load_data(cfg: DataConfig, seed: int) -> Split:
    """The run's data set (bundled ones split stratified with ``seed``)."""
    if cfg.name == "bundled-mnist":
        split = bundled_mnist(cfg.test_fraction, seed)
    elif cfg.name == "bundled-digits":
        split = bundled_digits(cfg.test_fraction, seed)
    else:
        if cfg.root is None:
            raise DataError(f"data.name={cfg.name!r} needs data.root: the folder holding it")
        split = load_local(cfg.name, cfg.root, grayscale=cfg.grayscale)
    if cfg.limit_train or cfg.limit_test:
        lt, le = cfg.limit_train, cfg.limit_test
        split = Split(
            split.x_train[:lt],
            split.y_train[:lt],
            split.x_test[:le],
            split.y_test[:le],
            split.name,
        )
    return split


@dataclass
class RunState:
    phase: str = "pretrain"
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0


def _epoch_order(n: int, seed: int, phase: str, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + PHASES.index(phase) * 10_007 + epoch)
    return torch.randperm(n, generator=g)


class _Metrics:
    """metrics.csv (truncated to the checkpoint's step on resume) and optional TensorBoard."""

    FIELDS = ["phase", "epoch", "global_step", "loss", "lr", "sigma_train_lsb"]

    def __init__(self, out: Path, keep_until: int | None) -> None:
        self.path = out / "metrics.csv"
        rows = [] if keep_until is None else self._rows_until(keep_until)
        self.fh = open(self.path, "w", newline="")  # noqa: SIM115 - closed in close()
        self.writer = csv.DictWriter(self.fh, self.FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # noqa: BLE001 - TensorBoard is optional
            self.tb = None

    def _rows_until(self, step: int) -> list[dict]:
        """The rows logged up to ``step`` (flushed before that checkpoint), in order; a last
        line cut by a kill is dropped — its step number may be cut short too."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as fh:
            lines = fh.readlines()
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines.pop()
        rows = []
        for r in csv.DictReader(lines):
            try:
                if int(r["global_step"]) > step:
                    break
            except (KeyError, TypeError, ValueError):
                raise RunFolderError(f"{self.path}: unreadable row {r}") from None
            rows.append(r)
        return rows

    @classmethod
    def is_ours(cls, path: Path) -> bool:
        """Whether ``path`` is a run's metrics log (or its header cut short, or empty: a run
        killed before its first flush)."""
        header = ",".join(cls.FIELDS)
        with open(path, newline="") as fh:
            first = fh.readline()
        line = first.rstrip("\r\n")
        return line == header or (first == line and header.startswith(line))

    def log(self, **row) -> None:
        self.writer.writerow(row)
        if self.tb is not None:
            self.tb.add_scalar(f"{row['phase']}/loss", row["loss"], row["global_step"])

    def flush(self) -> None:
        """Every row logged so far is on disk (called before each checkpoint, so a resumed
        run finds exactly the rows up to its checkpoint)."""
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


def _sigma_at(cfg: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Training noise of the method at this step (P ramps it from 0 over noise_ramp)."""
    name = cfg.method.name
    if name in ("B2", "B4", "B1"):
        return 0.0
    target = cfg.sigma_train
    ramp = cfg.method.noise_ramp * cfg.aware.epochs
    if name == "B3" or ramp == 0:
        return target
    progress = epoch + step / steps_per_epoch
    return target * min(1.0, progress / ramp)


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, x: Tensor, batch_size: int, batches: int) -> None:
    """Recompute every BN layer's running statistics with the model's current (noisy) forward:
    a cumulative average over ``batches`` batches in train mode, no gradient."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches == 0:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    model.train()
    for i in range(batches):
        lo = (i * batch_size) % max(1, len(x) - batch_size + 1)
        model(x[lo : lo + batch_size])
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.eval()


class Run:
    """The state of one run (model, optimizer, schedule) and its phase loop."""

    def __init__(self, cfg: TrainConfig, out: Path, progress: bool, echo: Callable) -> None:
        self.cfg, self.out, self.progress, self.echo = cfg, out, progress, echo
        self.hw = cfg.resolved_hardware()
        torch.manual_seed(cfg.seed)
        self.data = load_data(cfg.data, cfg.seed)
        self.optical = cfg.model.name == "optical_cnn"
        if self.optical:
            c, h, w = self.data.image_shape
            if c != 1 or h != w:
                raise ValueError(
                    f"optical_cnn needs square single-channel images (one intensity image "
                    f"enters the optics), got {c}×{h}×{w}: use grayscale data"
                )
            oc = cfg.model.optical
            self.model = optical_cnn(
                h,
                self.data.num_classes,
                out_channels=oc.out_channels,
                kernel_size=oc.kernel_size,
                parameterisation=oc.parameterisation,
                hardware=self.hw,
                doe_levels=oc.doe_levels,
            )
        else:
            self.model = build_model(
                cfg.model.name,
                self.data.image_shape,
                self.data.num_classes,
                batchnorm=cfg.model.batchnorm,
            )
        self.state = RunState()
        self.opt: torch.optim.Optimizer | None = None
        self.sched = None
        self.synthesis: dict | None = None  # the DOE fit of the kernel-space optical recipe

    @property
    def kernel_space(self) -> bool:
        """The optical CNN's kernel-space recipe (`OpticalConfig`)."""
        return self.optical and self.cfg.model.optical.parameterisation == "kernel"

    # -- phases -----------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return -(-len(self.data.x_train) // self.cfg.batch_size)

    def _make_optimizer(self, lr: float, epochs: int) -> None:
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, max(1, epochs * self.steps_per_epoch())
        )

    def synthesise_doe(self) -> None:
        """Kernel space → a fabricable DOE: fit a phase mask to the trained kernels, switch the
        layer to its realised PSF and freeze the optics (`OpticalConv2d.synthesize_doe`)."""
        result = self.model[0].synthesize_doe(seed=self.cfg.seed)
        self.synthesis = {
            "doe_fit_error": float(result.fit_error),
            "doe_throughput": float(result.throughput),
        }
        self.echo(
            f"DOE synthesised: fit error {result.fit_error:.4f}, throughput "
            f"{result.throughput:.4f}; optics frozen"
        )

    def convert_and_calibrate(self) -> None:
        if not self.optical:  # the optical front is analog already, its rest stays digital
            self.model = convert(self.model, self.hw)
        x = self.data.x_train
        bs = self.cfg.batch_size
        batches = [x[i * bs : (i + 1) * bs] for i in range(self.cfg.calibration_batches)]
        calibrate(self.model, [b for b in batches if len(b)])

    def enter_phase(self, phase: str) -> None:
        """Set up the model and optimizer at the start of ``phase`` (fresh, not resumed)."""
        self.state = RunState(phase, 0, 0, self.state.global_step)
        if phase == "aware" and self.kernel_space:
            self.synthesise_doe()  # then the camera is recalibrated to the realised PSF
        if phase == "aware" or (phase == "pretrain" and self.optical):
            self.convert_and_calibrate()
        if phase == "pretrain" and self.optical:
            # "float" pre-training of an optical network: ideal camera (no noise, no rounding)
            set_output_quantization(self.model, False)
            set_sigma_lsb(self.model, 0.0)
        if phase in ("pretrain", "aware"):
            pc = getattr(self.cfg, phase)
            self._make_optimizer(pc.lr, pc.epochs)

    def configure_chain(self, sigma: float) -> None:
        m = self.cfg.method.name
        set_output_quantization(self.model, m not in ("B2", "B3"))
        set_sigma_lsb(self.model, sigma)

    # -- checkpoints ------------------------------------------------------------------
    def save(self) -> None:
        meta = {
            "config": self.cfg.model_dump(mode="json"),
            "phase": self.state.phase,
            "epoch": self.state.epoch,
            "step_in_epoch": self.state.step_in_epoch,
            "global_step": self.state.global_step,
            "scheduler": None if self.sched is None else self.sched.state_dict(),
            "data": self.data.name,
            "synthesis": self.synthesis,
        }
        save_checkpoint(
            self.out / CKPT_DIR,
            self.model,
            optimizer=self.opt,
            rng=collect_rng_state(self.model),
            meta=meta,
        )

    def restore(self) -> None:
        ck = load_checkpoint(self.out / CKPT_DIR)
        meta = validate_meta(_RunMeta, ck.meta, ck.path)
        self._check_config(meta, ck.path)
        self._check_progress(meta, ck.path)
        phase = meta.phase
        if phase != "pretrain" and not self.optical:
            self.model = convert(self.model, self.hw)
        restore_model(self.model, ck)
        self.synthesis = meta.synthesis
        if phase != "pretrain" and self.kernel_space:
            self.model[0].freeze_optics()  # the realised DOE (its buffers) came with the weights
        if phase == "pretrain" and self.optical:
            set_output_quantization(self.model, False)
            set_sigma_lsb(self.model, 0.0)
        self.state = RunState(phase, meta.epoch, meta.step_in_epoch, meta.global_step)
        if phase in ("pretrain", "aware"):
            pc = getattr(self.cfg, phase)
            self._make_optimizer(pc.lr, pc.epochs)
            restore_optimizer(self.opt, ck)
            self._restore_scheduler(meta, ck.path)
        self._restore_rng(ck)

    def _check_config(self, meta: _RunMeta, path: Path) -> None:
        """The checkpoint's config is this one, but for what a resume may change (and says)."""
        current = self.cfg.model_dump(mode="json")
        changed = _config_changes(meta.config, current, meta.phase)
        if changed:
            raise CheckpointError(
                f"{path} was written by a different config (it differs in "
                f"{', '.join(changed)}); resume with the same one (or start a new --out folder)"
            )
        old_root, new_root = (meta.config.get("data") or {}).get("root"), current["data"]["root"]
        if old_root != new_root:
            self.echo(f"data.root changed since the checkpoint: {old_root} -> {new_root}")
        if meta.config.get("eval") != current["eval"]:
            self.echo("evaluation settings changed since the checkpoint: evaluating with these")

    def _check_progress(self, meta: _RunMeta, path: Path) -> None:
        """The checkpoint's progress lies within its phase (of this config)."""
        if meta.phase == "done":
            return
        epochs, spe = getattr(self.cfg, meta.phase).epochs, self.steps_per_epoch()
        if meta.epoch > epochs or meta.step_in_epoch > spe:
            raise CheckpointError(
                f"{path}: key 'epoch'/'step_in_epoch' ({meta.epoch}, {meta.step_in_epoch}) lie "
                f"beyond phase {meta.phase!r} of this config ({epochs} epochs of {spe} steps)"
            )

    def _restore_scheduler(self, meta: _RunMeta, path: Path) -> None:
        if meta.scheduler is None:
            raise CheckpointError(
                f"{path}: key 'scheduler' is null in phase {meta.phase!r}, which needs the "
                "learning-rate schedule's state"
            )
        fresh = self.sched.state_dict()
        wrong = [
            k
            for k in ("last_epoch", "_step_count", "base_lrs", "T_max")
            if type(meta.scheduler.get(k)) is not type(fresh[k])
        ]
        if wrong:
            raise CheckpointError(
                f"{path}: key 'scheduler' does not fit this run's schedule: "
                f"{', '.join(f'{k}={meta.scheduler.get(k)!r}' for k in wrong)}"
            )
        self.sched.load_state_dict(meta.scheduler)

    def _restore_rng(self, ck: Checkpoint) -> None:
        try:
            restore_rng_state(self.model, ck.rng)
        except (KeyError, RuntimeError, TypeError, ValueError) as err:
            raise CheckpointError(f"{ck.path}: its random states do not fit: {err!r}") from None

    # -- the loop ---------------------------------------------------------------------
    def train_phase(self, phase: str, metrics: _Metrics) -> None:
        cfg, st = self.cfg, self.state
        pc = getattr(cfg, phase)
        spe = self.steps_per_epoch()
        x, y = self.data.x_train, self.data.y_train
        bs = cfg.batch_size
        bar = tqdm(
            total=pc.epochs * spe,
            initial=st.epoch * spe + st.step_in_epoch,
            desc=phase,
            disable=not self.progress,
            leave=False,
        )
        self.model.train()
        while st.epoch < pc.epochs:
            order = _epoch_order(len(x), cfg.seed, phase, st.epoch)
            while st.step_in_epoch < spe:
                sigma = None
                if phase == "aware":
                    sigma = _sigma_at(cfg, st.epoch, st.step_in_epoch, spe)
                    self.configure_chain(sigma)
                idx = order[st.step_in_epoch * bs : (st.step_in_epoch + 1) * bs]
                self.opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(self.model(x[idx]), y[idx])
                if (
                    self.optical
                    and not self.kernel_space
                    and cfg.model.optical.regularizer_weight > 0
                ):
                    reg = self.model[0].optical_regularizer()
                    loss = loss + cfg.model.optical.regularizer_weight * reg
                loss.backward()
                self.opt.step()
                self.sched.step()
                st.step_in_epoch += 1
                st.global_step += 1
                metrics.log(
                    phase=phase,
                    epoch=st.epoch,
                    global_step=st.global_step,
                    loss=f"{loss.item():.6f}",
                    lr=f"{self.sched.get_last_lr()[0]:.6g}",
                    sigma_train_lsb="" if sigma is None else f"{sigma:.4g}",
                )
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                if st.global_step % cfg.checkpoint_every == 0:
                    metrics.flush()
                    self.save()
            st.epoch += 1
            st.step_in_epoch = 0
        bar.close()

    def finish_aware(self) -> None:
        """After hardware-aware training: deploy on the target chain (noise at the hardware's
        σ, ADC rounding on); P re-estimates batch-norm statistics under that noisy forward,
        the baselines that never trained with the ADC get their ranges re-calibrated."""
        m = self.cfg.method.name
        set_output_quantization(self.model, True)
        set_sigma_lsb(self.model, self.hw.noise.sigma_lsb)
        if m == "P":
            set_sigma_lsb(self.model, self.cfg.sigma_train)
            reestimate_batchnorm(
                self.model, self.data.x_train, self.cfg.batch_size, self.cfg.method.bn_batches
            )
            set_sigma_lsb(self.model, self.hw.noise.sigma_lsb)
        elif m in ("B1", "B2", "B3"):
            bs = self.cfg.batch_size
            x = self.data.x_train
            calibrate(
                self.model, [x[i * bs : (i + 1) * bs] for i in range(self.cfg.calibration_batches)]
            )

    def evaluate(self) -> dict:
        cfg = self.cfg
        d = self.data
        results = []
        for s in cfg.eval.sigma_test_lsb:
            r = evaluate(
                self.model, d.x_test, d.y_test, sigma_lsb=s, draws=cfg.eval.draws, seed=cfg.seed
            )
            results.append(r)
            self.echo(f"  sigma_test = {s:g} LSB: {r}")
        ref = evaluate(self.model, d.x_test, d.y_test, sigma_lsb=0.0, draws=1, seed=cfg.seed)
        return {
            "name": cfg.name,
            "method": cfg.method.name,
            "sigma_train_lsb": cfg.sigma_train if cfg.method.name in ("P", "B3") else 0.0,
            "adc_bits": self.hw.adc.bits,
            "data": d.name,
            "n_test": len(d.x_test),
            "noise_free_quantized_accuracy": ref.mean,
            "definition": EQUIVALENT_DEFINITION,
            "results": [{**r.as_dict(), "equivalent": is_equivalent(r, ref)} for r in results],
            **(self.synthesis or {}),
        }


def pretrain_key(cfg: TrainConfig) -> str:
    """16 hex digits naming everything that determines the pre-trained state of ``cfg``: data,
    model, pre-training schedule, batch size and seed (and, for the optical CNN, whose camera
    takes part in pre-training, the hardware and calibration batches)."""
    cfg = cfg.with_resolved_hardware()
    d = cfg.model_dump(mode="json")
    keep = ["data", "model", "pretrain", "batch_size", "seed"]
    if cfg.model.name == "optical_cnn":
        keep += ["hardware", "calibration_batches"]
    blob = json.dumps({k: d[k] for k in keep}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _pretrained_dir(cache: Path, cfg: TrainConfig) -> Path:
    return Path(cache) / pretrain_key(cfg)


def _load_pretrained(run: Run, cache: Path) -> bool:
    """Put ``run`` (just entered phase 1) in its state at the end of phase 1 from the cache;
    False when the cache has no entry for it."""
    d = _pretrained_dir(cache, run.cfg)
    if not (d / "checkpoint.json").exists():
        return False
    ck = load_checkpoint(d)
    meta = validate_meta(_PretrainedMeta, ck.meta, ck.path)
    if meta.pretrain_key != d.name:
        raise CheckpointError(f"{ck.path} is not the pre-training {d.name}")
    restore_model(run.model, ck)
    run._restore_rng(ck)
    run.state = RunState("pretrain", run.cfg.pretrain.epochs, 0, meta.global_step)
    return True


def _store_pretrained(run: Run, cache: Path) -> None:
    d = _pretrained_dir(cache, run.cfg)
    save_checkpoint(
        d,
        run.model,
        rng=collect_rng_state(run.model),
        meta={"pretrain_key": d.name, "global_step": run.state.global_step, "phase": "pretrained"},
    )


def pretrain(
    cfg: TrainConfig,
    cache: str | os.PathLike,
    *,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    config_dir: Path | None = None,
) -> Path:
    """Run phase 1 (float pre-training) of ``cfg`` once into ``<cache>/<pretrain_key(cfg)>``
    for every run that shares it; nothing is done when it is there already. Returns the folder."""
    cfg = cfg.with_resolved_hardware(config_dir)
    cache = Path(cache)
    d = _pretrained_dir(cache, cfg)
    if (d / "checkpoint.json").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    run = Run(cfg, d, progress, echo)
    run.enter_phase("pretrain")
    metrics = _Metrics(d, None)
    try:
        run.train_phase("pretrain", metrics)
    finally:
        metrics.close()
    _store_pretrained(run, cache)
    echo(f"pre-trained {d.name} ({cfg.data.name}, {cfg.model.name}, seed {cfg.seed})")
    return d


def run_training(
    cfg: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    config_dir: Path | None = None,
    pretrained: str | os.PathLike | None = None,
) -> dict:
    """Train and evaluate one run into ``out``; with ``resume`` continue from its checkpoint
    (a run whose training is complete is only evaluated again; with no checkpoint there, the
    run starts).

    ``pretrained``: a cache folder of `pretrain`; a fresh run takes its phase-1 state from there
    when present (and stores it there after training phase 1 itself when absent).
    Returns the results (also written to ``<out>/results.json``). A folder this run can neither
    use nor overwrite is refused with a `RunFolderError` (module doc).
    """
    cfg = cfg.with_resolved_hardware(config_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        t0 = time.perf_counter()
        resuming = _prepare_folder(out, resume, echo)
        run = _open_run(cfg, out, progress, echo, resuming)
        if resuming:
            run.restore()
            done = ": training complete, evaluating only" if run.state.phase == "done" else ""
            echo(f"resumed {out} at {run.state.phase}, step {run.state.global_step}{done}")
        else:
            if resume:
                echo(f"nothing to resume in {out}: starting the run")
            run.enter_phase("pretrain")
            if pretrained is not None and _load_pretrained(run, Path(pretrained)):
                echo(f"pre-training taken from {_pretrained_dir(Path(pretrained), cfg)}")
        atomic_write_text(out / CONFIG, json.dumps(cfg.model_dump(mode="json"), indent=1))
        _train(run, _Metrics(out, run.state.global_step if resuming else None), pretrained)
        return _evaluate(run, out, t0)


def _open_run(cfg: TrainConfig, out: Path, progress: bool, echo: Callable, resuming: bool) -> Run:
    """The `Run`; a resume whose data cannot be loaded says that ``data.root`` may change."""
    try:
        return Run(cfg, out, progress, echo)
    except DataError as err:
        if not resuming:
            raise
        raise DataError(
            f"{err}. {out} holds a checkpoint of this run: if its data folder moved, set "
            "data.root in the config to the new place and resume (a resume accepts a changed "
            "data.root)"
        ) from None


def _train(run: Run, metrics: _Metrics, pretrained: str | os.PathLike | None) -> None:
    """The phases left to ``run``, ending with the checkpoint of phase ``done`` (training
    complete), written before any evaluation."""
    cfg = run.cfg
    try:
        if run.state.phase == "pretrain":
            run.train_phase("pretrain", metrics)
            cached = None if pretrained is None else _pretrained_dir(Path(pretrained), cfg)
            if cached is not None and not (cached / "checkpoint.json").exists():
                _store_pretrained(run, Path(pretrained))
            run.enter_phase("aware")
            metrics.flush()
            run.save()
        if run.state.phase == "aware":
            if cfg.method.name != "B1":
                run.train_phase("aware", metrics)
            run.finish_aware()
            run.state = RunState("done", 0, 0, run.state.global_step)
            metrics.flush()
            run.save()
    finally:
        metrics.close()


def _evaluate(run: Run, out: Path, t0: float) -> dict:
    """Evaluate the trained ``run`` into ``<out>/results.json``; an evaluation that fails
    says that the training is kept and how to evaluate it again."""
    cfg = run.cfg
    run.echo(
        f"{cfg.name}: method {cfg.method.name}, {run.data.name}, "
        f"{run.hw.adc.bits}-bit ADC, test accuracy over {cfg.eval.draws} draws:"
    )
    try:
        results = run.evaluate()
    except Exception as err:
        err.add_note(
            f"training is complete and kept in {out / CKPT_DIR} (phase 'done'); resuming the "
            f"run (mixsig train CONFIG --out {out} --resume) redoes only the evaluation, whose "
            "settings (eval) may be changed for it"
        )
        raise
    results["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / RESULTS, json.dumps(results, indent=1))
    return results


# -- the run folder -----------------------------------------------------------------------------
@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold ``out`` while this process runs in it: an advisory lock on the folder (released
    when the process ends, even by kill -9), so a second run or resume into the same folder
    is refused instead of interleaving its checkpoints with this one's. Where locks are not
    supported (not POSIX, some network file systems) the folder is not locked."""
    if fcntl is None:
        yield
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(
                f"{out} is in use by another mixsig process (a run or resume into the same "
                "folder): wait for it to end, or choose another --out"
            ) from None
        except OSError:
            pass  # no locks on this file system
        yield
    finally:
        os.close(fd)


def _prepare_folder(out: Path, resume: bool, echo: Callable[[str], None]) -> bool:
    """Survey ``out`` before anything is written (module doc): whether to resume from its
    checkpoint; refuses (`RunFolderError`) what the run could neither use nor overwrite, and
    removes only incomplete temporary files of the atomic writer."""
    ck = survey_checkpoint_folder(out / CKPT_DIR)
    if ck.sidecar is not None and not resume:
        raise RunFolderError(
            f"{out} already holds a run: pass --resume to continue it, or choose another --out"
        )
    found = list(ck.foreign)
    if ck.sidecar is None and ck.weights:
        found += [
            f"{w} (weights without their {CKPT_DIR}/checkpoint.json, which holds the config, "
            "the progress and their SHA-256: a resume cannot use them, a new run would "
            "overwrite them)"
            for w in ck.weights
        ]
    partial, blocking = _survey_top(out, fresh=ck.sidecar is None)
    found += blocking
    if found:
        listing = "".join(f"\n  - {f}" for f in found)
        raise RunFolderError(
            f"{out} cannot be {'resumed' if resume else 'used for a new run'}; it holds what "
            f"this run can neither use nor overwrite:{listing}\nNothing was deleted or "
            "overwritten: restore what is missing or move these away, or choose another --out"
        )
    for p in ck.partial + partial:
        p.unlink(missing_ok=True)
        echo(f"removed {p}: an incomplete temporary file of a write that was killed")
    return ck.sidecar is not None


def _survey_top(out: Path, fresh: bool) -> tuple[list[Path], list[str]]:
    """(incomplete temporary files to remove, what blocks) among the files the run writes
    beside ``checkpoint/``; ``fresh``: no checkpoint, so config.json and results.json would
    be overwritten. Files the run never writes (a sweep's log, notes) are left alone."""
    partial, blocking = [], []
    for p in sorted(out.glob(".*.tmp")):
        if is_partial_write(p, lambda t: t in (CONFIG, RESULTS)):
            partial.append(p)
        elif p.name.startswith((f".{CONFIG}.", f".{RESULTS}.")):
            blocking.append(f"{p} (a temporary file never renamed into place; remove it)")
    metrics = out / "metrics.csv"
    if metrics.exists() and not (metrics.is_file() and _Metrics.is_ours(metrics)):
        blocking.append(f"{metrics} (not a mixsig metrics log; the run would overwrite it)")
    if fresh and (out / RESULTS).exists():
        blocking.append(
            f"{out / RESULTS} (the results of a run whose checkpoint is gone; a new run would "
            "overwrite them)"
        )
    if fresh and (out / CONFIG).exists() and not _is_run_config(out / CONFIG):
        blocking.append(f"{out / CONFIG} (not a mixsig run config; a new run would overwrite it)")
    return partial, blocking


def _is_run_config(path: Path) -> bool:
    """Whether ``path`` is a config.json a run wrote (a JSON object of TrainConfig's keys)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "name" in data and set(data) <= set(TrainConfig.model_fields)


def _config_changes(stored: dict, current: dict, phase: str) -> list[str]:
    """The config's top-level keys in which a resume differs from its checkpoint, leaving out
    what a resume may change: ``data.root`` (the data folder moved) and, once training is
    complete, ``eval``."""
    a, b = _resumable_view(stored, phase), _resumable_view(current, phase)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _resumable_view(cfg: dict, phase: str) -> dict:
    view = dict(cfg)
    if isinstance(view.get("data"), dict):
        view["data"] = {**view["data"], "root": None}
    if phase == "done":
        view.pop("eval", None)
    return view


def load_trained(
    path: str | os.PathLike, *, data_root: str | os.PathLike | None = None
) -> tuple[nn.Module, TrainConfig, Split]:
    """The deployed model of a finished (or in-progress) run, its config and its data.

    ``data_root``: where the run's local data set (``data.root``) is now, when its folder
    moved; a run whose data cannot be loaded is refused with a `DataError` saying so.
    """
    ck = load_checkpoint(Path(path) / CKPT_DIR if (Path(path) / CKPT_DIR).is_dir() else path)
    meta = validate_meta(_RunMeta, ck.meta, ck.path)
    try:
        cfg = TrainConfig.model_validate(meta.config)
    except Exception as err:  # noqa: BLE001 - a foreign sidecar
        raise CheckpointError(f"{ck.path}: its config is not a mixsig TrainConfig: {err}") from None
    cfg = _with_data_root(cfg, data_root, ck.path)
    # measured maps come from the state dict: the run loads even if their .npz has moved
    hw = without_maps(cfg.resolved_hardware())
    try:
        run = Run(
            cfg.model_copy(update={"hardware": hw}),
            ck.path.parent.parent,
            progress=False,
            echo=lambda s: None,
        )
    except DataError as err:
        raise DataError(
            f"{ck.path} was trained on {cfg.data.name} from {cfg.data.root}, which cannot be "
            f"loaded now: {err}. If the data folder moved, name its new place "
            "(mixsig eval --data-root DIR; load_trained(..., data_root=DIR))"
        ) from err
    if meta.phase != "pretrain" and not run.optical:
        run.model = convert(run.model, run.hw)
    restore_model(run.model, ck)
    if meta.phase != "pretrain" and run.kernel_space:
        run.model[0].freeze_optics()  # the realised DOE is what was trained with
    run.model.eval()
    return run.model, cfg, run.data


def _with_data_root(
    cfg: TrainConfig, data_root: str | os.PathLike | None, path: Path
) -> TrainConfig:
    """``cfg`` reading its local data set from ``data_root`` (when given)."""
    if data_root is None:
        return cfg
    if cfg.data.root is None:
        raise DataError(
            f"{path} was trained on the bundled data set {cfg.data.name}, which has no data "
            f"folder: a data root ({data_root}) does not apply"
        )
    data = cfg.data.model_copy(update={"root": str(Path(data_root).expanduser())})
    return cfg.model_copy(update={"data": data})


__all__ = [
    "RunFolderError",
    "load_data",
    "load_trained",
    "pretrain",
    "pretrain_key",
    "reestimate_batchnorm",
    "run_training",
]
