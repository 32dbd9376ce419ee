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
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mixsig._atomic import atomic_write_text
from mixsig.config.hardware import without_maps
from mixsig.data import Split, bundled_digits, bundled_mnist, load_local
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
    CheckpointError,
    load_checkpoint,
    restore_model,
    restore_optimizer,
    save_checkpoint,
)
from mixsig.train.config import DataConfig, TrainConfig

CKPT_DIR = "checkpoint"
PHASES = ("pretrain", "aware", "done")


def load_data(cfg: DataConfig, seed: int) -> Split:
    """The run's data set (bundled ones split stratified with ``seed``)."""
    if cfg.name == "bundled-mnist":
        split = bundled_mnist(cfg.test_fraction, seed)
    elif cfg.name == "bundled-digits":
        split = bundled_digits(cfg.test_fraction, seed)
    else:
        if cfg.root is None:
            raise ValueError(f"data.name={cfg.name!r} needs data.root: the folder holding it")
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
        rows = []
        if keep_until is not None and self.path.exists():
            with open(self.path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["global_step"]) <= keep_until]
        self.fh = open(self.path, "w", newline="")  # noqa: SIM115 - closed in close()
        self.writer = csv.DictWriter(self.fh, self.FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # noqa: BLE001 - TensorBoard is optional
            self.tb = None

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
        stored = ck.meta.get("config")
        if stored != self.cfg.model_dump(mode="json"):
            raise CheckpointError(
                f"{ck.path} was written by a different config; resume with the same one "
                "(or start a new --out folder)"
            )
        phase = ck.meta["phase"]
        if phase not in PHASES:
            raise CheckpointError(f"{ck.path}: unknown phase {phase!r}")
        if phase != "pretrain" and not self.optical:
            self.model = convert(self.model, self.hw)
        restore_model(self.model, ck)
        self.synthesis = ck.meta.get("synthesis")
        if phase != "pretrain" and self.kernel_space:
            self.model[0].freeze_optics()  # the realised DOE (its buffers) came with the weights
        if phase == "pretrain" and self.optical:
            set_output_quantization(self.model, False)
            set_sigma_lsb(self.model, 0.0)
        self.state = RunState(
            phase, ck.meta["epoch"], ck.meta["step_in_epoch"], ck.meta["global_step"]
        )
        if phase in ("pretrain", "aware"):
            pc = getattr(self.cfg, phase)
            self._make_optimizer(pc.lr, pc.epochs)
            restore_optimizer(self.opt, ck)
            if ck.meta.get("scheduler") is not None:
                self.sched.load_state_dict(ck.meta["scheduler"])
        restore_rng_state(self.model, ck.rng)

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
    if ck.meta.get("pretrain_key") != d.name:
        raise CheckpointError(f"{ck.path} is not the pre-training {d.name}")
    restore_model(run.model, ck)
    restore_rng_state(run.model, ck.rng)
    run.state = RunState("pretrain", run.cfg.pretrain.epochs, 0, int(ck.meta["global_step"]))
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
    """Train and evaluate one run into ``out``; with ``resume`` continue from its checkpoint.

    ``pretrained``: a cache folder of `pretrain`; a fresh run takes its phase-1 state from there
    when present (and stores it there after training phase 1 itself when absent).
    Returns the results (also written to ``<out>/results.json``).
    """
    cfg = cfg.with_resolved_hardware(config_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run = Run(cfg, out, progress, echo)
    has_ckpt = (out / CKPT_DIR / "checkpoint.json").exists()
    if resume and has_ckpt:
        run.restore()
        echo(f"resumed {out} at {run.state.phase}, step {run.state.global_step}")
    elif has_ckpt and not resume:
        raise FileExistsError(
            f"{out} already holds a run: pass --resume to continue it, or choose another --out"
        )
    else:
        run.enter_phase("pretrain")
        if pretrained is not None and _load_pretrained(run, Path(pretrained)):
            echo(f"pre-training taken from {_pretrained_dir(Path(pretrained), cfg)}")
    atomic_write_text(out / "config.json", json.dumps(cfg.model_dump(mode="json"), indent=1))
    metrics = _Metrics(out, run.state.global_step if resume and has_ckpt else None)
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
    echo(
        f"{cfg.name}: method {cfg.method.name}, {run.data.name}, "
        f"{run.hw.adc.bits}-bit ADC, test accuracy over {cfg.eval.draws} draws:"
    )
    results = run.evaluate()
    results["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    return results


def load_trained(path: str | os.PathLike) -> tuple[nn.Module, TrainConfig, Split]:
    """The deployed model of a finished (or in-progress) run, its config and its data."""
    ck = load_checkpoint(Path(path) / CKPT_DIR if (Path(path) / CKPT_DIR).is_dir() else path)
    try:
        cfg = TrainConfig.model_validate(ck.meta["config"])
    except Exception as err:  # noqa: BLE001 - a foreign sidecar
        raise CheckpointError(f"{ck.path}: its config is not a mixsig TrainConfig: {err}") from None
    # measured maps come from the state dict: the run loads even if their .npz has moved
    hw = without_maps(cfg.resolved_hardware())
    run = Run(
        cfg.model_copy(update={"hardware": hw}),
        ck.path.parent.parent,
        progress=False,
        echo=lambda s: None,
    )
    if ck.meta.get("phase") != "pretrain" and not run.optical:
        run.model = convert(run.model, run.hw)
    restore_model(run.model, ck)
    if ck.meta.get("phase") != "pretrain" and run.kernel_space:
        run.model[0].freeze_optics()  # the realised DOE is what was trained with
    run.model.eval()
    return run.model, cfg, run.data


__all__ = [
    "load_data",
    "load_trained",
    "pretrain",
    "pretrain_key",
    "reestimate_batchnorm",
    "run_training",
]
