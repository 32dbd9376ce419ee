"""One training run from a `TrainConfig`, resumable at any step: `run_training`.

Owns the sequence of a run (the `Run` and its phase loop, `pretrain`, `run_training`,
`load_trained`); its parts live beside it: the data (`mixsig.data.load_split`) and the network
(`mixsig.models.model_from_config`) the config names, the method's definition
(`mixsig.config.methods`) and its chain in training and deployment (`mixsig.train.deploy`), the
run folder (`mixsig.train.run_folder`), the metrics log (`mixsig.train.metrics`), the
checkpoint's keys and resume checks (`mixsig.train.run_checkpoint`) and the pre-training cache
(`mixsig.train.pretrain_cache`). The sequence:

1. ``pretrain`` — the float network, Adam + cosine schedule (skipped with 0 epochs); for the
   optical CNN (its front is analog from the start) the camera is calibrated first and run
   ideal — no noise, no rounding — during this phase, and the DOE regulariser joins the loss;
2. conversion to mixed-signal layers (not for the optical CNN, whose rest stays digital) and
   range calibration (deterministic: it is redone, not stored, when a run resumes in phase 1);
   for the optical CNN in kernel space, first the DOE synthesis that realises the pre-trained
   kernels (the optics are then frozen; fit error and throughput go to the results);
3. ``aware`` — the method's hardware-aware training, as its definition says (`Method`: the ADC
   in training or not, the training noise and its ramp; methods without it, B1, skip the
   phase), then the deployment steps it asks for (batch-norm re-estimation under the noisy
   forward, ADC range re-calibration);
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

The run folder: nothing in it is lost (`mixsig.train.run_folder`). The final checkpoint (phase
``done``: training complete) is written before the evaluation starts, so a run whose
evaluation fails keeps its training, and ``resume`` then redoes only the evaluation (whose
settings, ``eval``, may have changed; so may ``data.root`` at any resume: the data folder
moved). Before anything is written, the folder is surveyed and what a resume (or a new run)
can neither use nor overwrite is refused with a `RunFolderError` listing it; while a run
writes into the folder it holds an advisory lock on it, so a second process is refused too.

Where a run computes: ``device`` (`mixsig.config.device`); the model and every batch are there,
the data set stays on the CPU as stored (`mixsig.data.to_input`). Started by torchrun on several
processes the run is data-parallel: each rank trains its share of every global batch, rank 0
writes and evaluates (`mixsig.train.distributed`).

Why this module is longer than the others (~620 lines): `Run` is one state machine whose
phases, checkpoints and evaluation share its state, and `pretrain`, `run_training` and
`load_trained` are the three ways of driving it; what does not need that state lives in the
modules named above (the data-parallel arithmetic in `mixsig.train.distributed`).
``load_data`` and ``evaluate`` are looked up here (tests replace them).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mixsig._atomic import atomic_write_text
from mixsig.config.device import resolve_device
from mixsig.config.hardware import without_maps
from mixsig.data import DataError, Split, load_split, to_input
from mixsig.eval import EQUIVALENT_DEFINITION, evaluate, is_equivalent
from mixsig.models import model_from_config
from mixsig.nn import convert, optical_regularizer, to_device
from mixsig.signal import (
    calibrate,
    collect_rng_state,
    set_output_quantization,
    set_sigma_lsb,
)
from mixsig.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    restore_model,
    restore_optimizer,
    save_checkpoint,
    validate_meta,
)
from mixsig.train.config import DataConfig, TrainConfig
from mixsig.train.deploy import (
    TEST_NOISE_BN_BATCHES,
    at_test_noise,
    deploy_on_chain,
    reestimate_batchnorm,
    set_training_chain,
)
from mixsig.train.distributed import (
    Distributed,
    barrier,
    broadcast_flag,
    check_batches,
    device_for,
    from_environment,
    global_mean,
    seed_rank,
    shard,
    wrap,
)
from mixsig.train.metrics import MetricsLog, NoMetrics
from mixsig.train.pretrain_cache import (
    has_pretrained,
    pretrain_key,
    pretrained_dir,
    restore_pretrained,
    store_pretrained,
)
from mixsig.train.run_checkpoint import (
    PHASES,
    RunMeta,
    RunState,
    check_config,
    check_progress,
    restore_rng,
    restore_scheduler,
)
from mixsig.train.run_folder import (
    CKPT_DIR,
    CONFIG,
    RESULTS,
    RunFolderError,
    exclusive,
    prepare_folder,
)
from mixsig.train.step_guard import check_learned_steps


def load_data(cfg: DataConfig, seed: int) -> Split:
    """The run's data set (bundled ones split stratified with ``seed``; `load_split`)."""
    return load_split(
        cfg.name,
        seed=seed,
        root=cfg.root,
        grayscale=cfg.grayscale,
        test_fraction=cfg.test_fraction,
        limit_train=cfg.limit_train,
        limit_test=cfg.limit_test,
    )


def _epoch_order(n: int, seed: int, phase: str, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + PHASES.index(phase) * 10_007 + epoch)
    return torch.randperm(n, generator=g)


def _sigma_at(cfg: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Training noise of the method at this step (`Method.sigma_at`: P ramps it from 0 over
    noise_ramp)."""
    return cfg.method.definition.sigma_at(
        cfg.sigma_train, cfg.method.noise_ramp, cfg.aware.epochs, epoch, step, steps_per_epoch
    )


class Run:
    """The state of one run (model, optimizer, schedule) and its phase loop."""

    def __init__(
        self,
        cfg: TrainConfig,
        out: Path,
        progress: bool,
        echo: Callable,
        ctx: Distributed | None = None,
    ) -> None:
        self.cfg, self.out, self.progress, self.echo = cfg, out, progress, echo
        self.ctx = ctx  # None: one process; else this rank of a data-parallel run
        self.main = ctx is None or ctx.is_main  # writes checkpoints, metrics, results
        self.hw = cfg.resolved_hardware()
        self.method = cfg.method.definition
        self.device = device_for(ctx, resolve_device(cfg.device))
        torch.manual_seed(cfg.seed)
        self.data = load_data(cfg.data, cfg.seed)
        check_batches(ctx, len(self.data.x_train), cfg.batch_size)
        self.optical = cfg.model.name == "optical_cnn"
        model = model_from_config(cfg.model, self.data.image_shape, self.data.num_classes, self.hw)
        self.model = to_device(model, self.device)
        self.train_model = self.model  # the training forward (wrapped in DDP on several ranks)
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
        self.train_model = wrap(self.ctx, self.model, self.device)
        seed_rank(self.ctx, self.model, self.cfg.seed, self.state.global_step)
        check_learned_steps(self.model, lr)
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
            self.model = to_device(convert(self.model, self.hw), self.device)
        x = self.data.x_train
        bs = self.cfg.batch_size
        batches = [x[i * bs : (i + 1) * bs] for i in range(self.cfg.calibration_batches)]
        calibrate(self.model, [to_input(b, self.device) for b in batches if len(b)])

    def enter_phase(self, phase: str) -> None:
        """Set up the model and optimizer at the start of ``phase`` (fresh, not resumed)."""
        self.state = RunState(phase, 0, 0, self.state.global_step)
        if phase == "aware" and self.kernel_space:
            self.synthesise_doe()  # then the camera is recalibrated to the realised PSF
        if phase == "aware" or (phase == "pretrain" and self.optical):
            self.convert_and_calibrate()
        self._ideal_camera_in_pretraining(phase)
        if phase in ("pretrain", "aware"):
            pc = getattr(self.cfg, phase)
            self._make_optimizer(pc.lr, pc.epochs)

    def _ideal_camera_in_pretraining(self, phase: str) -> None:
        """ "Float" pre-training of an optical network: an ideal camera (no noise, no rounding)."""
        if phase == "pretrain" and self.optical:
            set_output_quantization(self.model, False)
            set_sigma_lsb(self.model, 0.0)

    def configure_chain(self, sigma: float) -> None:
        """The method's training chain at training noise ``sigma`` (`set_training_chain`)."""
        set_training_chain(self.model, self.method, sigma)

    # -- checkpoints ------------------------------------------------------------------
    def save(self) -> None:
        if not self.main:  # rank 0 writes for every rank
            return
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
        meta = validate_meta(RunMeta, ck.meta, ck.path)
        check_config(meta, self.cfg, ck.path, self.echo)
        check_progress(meta, self.cfg, self.steps_per_epoch(), ck.path)
        phase = meta.phase
        self.load_weights(ck, phase)
        self.synthesis = meta.synthesis
        self._ideal_camera_in_pretraining(phase)
        self.state = RunState(phase, meta.epoch, meta.step_in_epoch, meta.global_step)
        if phase in ("pretrain", "aware"):
            pc = getattr(self.cfg, phase)
            self._make_optimizer(pc.lr, pc.epochs)
            restore_optimizer(self.opt, ck)
            restore_scheduler(self.sched, meta, ck.path)
        self._restore_rng(ck)

    def load_weights(self, ck: Checkpoint, phase: str) -> None:
        """The model as it is in ``phase``, with the weights of ``ck``: converted once
        pre-training is over (not the optical CNN, whose rest stays digital), its optics
        frozen once a kernel-space DOE was synthesised (the realised DOE, its buffers, comes
        with the weights)."""
        if phase != "pretrain" and not self.optical:
            self.model = to_device(convert(self.model, self.hw), self.device)
        restore_model(self.model, ck)
        if phase != "pretrain" and self.kernel_space:
            self.model[0].freeze_optics()

    def _restore_rng(self, ck: Checkpoint) -> None:
        restore_rng(self.model, ck)
        seed_rank(self.ctx, self.model, self.cfg.seed, self.state.global_step)

    # -- the loop ---------------------------------------------------------------------
    def train_phase(self, phase: str, metrics: MetricsLog) -> None:
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
                mine, weight = shard(self.ctx, idx)  # this rank's share of the global batch
                xb, yb = self._batch(x, y, mine)
                self.opt.zero_grad(set_to_none=True)
                loss = weight * nn.functional.cross_entropy(self.train_model(xb), yb)
                if (
                    self.optical
                    and not self.kernel_space
                    and cfg.model.optical.regularizer_weight > 0
                ):
                    reg = optical_regularizer(self.model)
                    loss = loss + cfg.model.optical.regularizer_weight * reg
                loss.backward()
                self.opt.step()
                self.sched.step()
                st.step_in_epoch += 1
                st.global_step += 1
                loss = global_mean(self.ctx, loss)
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

    def _batch(self, x: Tensor, y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
        """The samples ``idx`` of the training set (held on the CPU as stored, uint8 or float)
        as inputs on the run's device (`to_input`)."""
        return to_input(x[idx], self.device), y[idx].to(self.device, non_blocking=True)

    def finish_aware(self) -> None:
        """After hardware-aware training: deploy on the target chain (noise at the hardware's
        σ, ADC rounding on), with the method's last steps (`deploy_on_chain`: batch-norm
        re-estimated under the noisy forward, or ADC ranges re-calibrated)."""
        cfg = self.cfg
        deploy_on_chain(
            self.model,
            self.method,
            sigma_lsb=self.hw.noise.sigma_lsb,
            sigma_train_lsb=cfg.sigma_train,
            x_train=self.data.x_train,
            batch_size=cfg.batch_size,
            calibration_batches=cfg.calibration_batches,
            bn_batches=cfg.method.bn_batches,
        )

    def evaluate(self) -> dict:
        cfg = self.cfg
        d = self.data
        results = []
        for s in cfg.eval.sigma_test_lsb:
            model = self.model
            if cfg.eval.batchnorm_at_test_noise:
                batches = cfg.method.bn_batches or TEST_NOISE_BN_BATCHES
                model = at_test_noise(model, s, d.x_train, cfg.batch_size, batches, cfg.seed)
            r = evaluate(
                model, d.x_test, d.y_test, sigma_lsb=s, draws=cfg.eval.draws, seed=cfg.seed
            )
            results.append(r)
            self.echo(f"  sigma_test = {s:g} LSB: {r}")
        ref = evaluate(self.model, d.x_test, d.y_test, sigma_lsb=0.0, draws=1, seed=cfg.seed)
        return {
            "name": cfg.name,
            "method": cfg.method.name,
            "sigma_train_lsb": self.method.sigma_train_lsb(cfg.sigma_train),
            "adc_bits": self.hw.adc.bits,
            "data": d.name,
            "n_test": len(d.x_test),
            "noise_free_quantized_accuracy": ref.mean,
            "definition": EQUIVALENT_DEFINITION,
            "results": [{**r.as_dict(), "equivalent": is_equivalent(r, ref)} for r in results],
            **(self.synthesis or {}),
        }


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
    d = pretrained_dir(cache, cfg)
    if has_pretrained(cache, cfg):
        return d
    d.mkdir(parents=True, exist_ok=True)
    run = Run(cfg, d, progress, echo)
    run.enter_phase("pretrain")
    metrics = MetricsLog(d, None)
    try:
        run.train_phase("pretrain", metrics)
    finally:
        metrics.close()
    store_pretrained(run, cache)
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
    use nor overwrite is refused with a `RunFolderError` (module doc). Started by torchrun on
    several processes, it trains data-parallel (`mixsig.train.distributed`); rank 0 evaluates
    and returns the results, the other ranks return ``{}``.
    """
    cfg = cfg.with_resolved_hardware(config_dir)
    # a device this machine lacks, or a rendezvous it cannot reach, is refused before anything
    # is written; on several processes (torchrun) rank 0 owns the folder (`distributed`)
    ctx = from_environment(resolve_device(cfg.device))
    main = ctx is None or ctx.is_main
    out = Path(out)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    with exclusive(out) if main else contextlib.nullcontext():
        t0 = time.perf_counter()
        resuming = broadcast_flag(ctx, prepare_folder(out, resume, echo) if main else False)
        barrier(ctx)  # the folder is ready (incomplete writes cleared) before any rank reads
        say = echo if main else _quiet
        run = _open_run(cfg, out, progress and main, say, resuming, ctx)
        if resuming:
            run.restore()
            done = ": training complete, evaluating only" if run.state.phase == "done" else ""
            say(f"resumed {out} at {run.state.phase}, step {run.state.global_step}{done}")
        else:
            if resume:
                say(f"nothing to resume in {out}: starting the run")
            run.enter_phase("pretrain")
            if pretrained is not None and restore_pretrained(run, Path(pretrained)):
                say(f"pre-training taken from {pretrained_dir(Path(pretrained), cfg)}")
        if not main:  # trains its share; rank 0 evaluates and writes the results
            _train(run, NoMetrics(), None)
            barrier(ctx)
            return {}
        atomic_write_text(out / CONFIG, json.dumps(cfg.model_dump(mode="json"), indent=1))
        _train(run, MetricsLog(out, run.state.global_step if resuming else None), pretrained)
        barrier(ctx)  # every rank's training is over
        return _evaluate(run, out, t0)


def _quiet(line: str) -> None:
    """The echo of a rank other than 0: rank 0 speaks for the run."""


def _open_run(
    cfg: TrainConfig,
    out: Path,
    progress: bool,
    echo: Callable,
    resuming: bool,
    ctx: Distributed | None = None,
) -> Run:
    """The `Run`; a resume whose data cannot be loaded says that ``data.root`` may change."""
    try:
        return Run(cfg, out, progress, echo, ctx)
    except DataError as err:
        if not resuming:
            raise
        raise DataError(
            f"{err}. {out} holds a checkpoint of this run: if its data folder moved, set "
            "data.root in the config to the new place and resume (a resume accepts a changed "
            "data.root)"
        ) from None


def _train(run: Run, metrics: MetricsLog, pretrained: str | os.PathLike | None) -> None:
    """The phases left to ``run``, ending with the checkpoint of phase ``done`` (training
    complete), written before any evaluation."""
    cfg = run.cfg
    try:
        if run.state.phase == "pretrain":
            run.train_phase("pretrain", metrics)
            if pretrained is not None and not has_pretrained(Path(pretrained), cfg):
                store_pretrained(run, Path(pretrained))
            run.enter_phase("aware")
            metrics.flush()
            run.save()
        if run.state.phase == "aware":
            if run.method.trains_aware:
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


def load_trained(
    path: str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    device: str | None = None,
) -> tuple[nn.Module, TrainConfig, Split]:
    """The deployed model of a finished (or in-progress) run, its config and its data.

    ``data_root``: where the run's local data set (``data.root``) is now, when its folder
    moved; a run whose data cannot be loaded is refused with a `DataError` saying so.
    ``device``: where the model is put (default: the run's config, ``auto``: CUDA when
    present), whatever device it was trained on; the data stay on the CPU.
    """
    ck = load_checkpoint(Path(path) / CKPT_DIR if (Path(path) / CKPT_DIR).is_dir() else path)
    meta = validate_meta(RunMeta, ck.meta, ck.path)
    try:
        cfg = TrainConfig.model_validate(meta.config)
    except Exception as err:  # noqa: BLE001 - a foreign sidecar
        raise CheckpointError(f"{ck.path}: its config is not a mixsig TrainConfig: {err}") from None
    cfg = _with_data_root(cfg, data_root, ck.path)
    if device is not None:
        cfg = cfg.model_copy(update={"device": device})
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
    run.load_weights(ck, meta.phase)  # the realised DOE is what was trained with
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
    "CKPT_DIR",
    "CONFIG",
    "PHASES",
    "RESULTS",
    "Run",
    "RunFolderError",
    "load_data",
    "load_trained",
    "pretrain",
    "pretrain_key",
    "reestimate_batchnorm",
    "run_training",
]
