"""What ignoring the pixelated DOE and the broadband source costs: `run_optics_realism`.

Owns the study of the optical CNN (`mixsig.models.optical_cnn`, DOE space, 16-level DOE, 8
channels of 5 × 5 kernels, 4-bit camera with 0.5 LSB of read noise, method P) on a *realistic*
device: the DOE is pixelated (square pixels, fill factor 1: `pixel_envelope`) and the source is
a Gaussian of centre 532 nm and FWHM 30 nm, sampled at 5 wavelengths, the DOE's phase scaled by
the dispersion of fused silica (`mixsig.optics.psf_model.PSFModel`). Arms, each evaluated on
the realistic device:

* **idealised** — trained on the point-sampled, monochromatic layer (the model before the
  envelope and the spectrum existed), then deployed: the same DOE phase and digital weights in
  the realistic layer (`optical_device_twin`), the camera's ADC range re-calibrated on the
  device (as a lab calibrates its camera on the real device), no retraining. Also reported:
  the same network on the idealised layer (what its designer believed), and deployed with the
  batch-norm statistics re-estimated on the device as well (a forward-only step, no gradient);
* **realistic** — the same run config with the realistic PSF model from the start;
* **physics-aware** — the idealised network trained on for ``aware_epochs`` more epochs with
  the forward on the realistic device and the backward through its idealised model
  (`mixsig.train.physics_aware`), the DOE phase included (a re-fabricated DOE, or an SLM).

The layer chooses its DOE size from its PSF model: the realistic one needs N = 132 pixels to
keep the broadband source's higher orders out of the channels, the idealised one would take
128. A lab has one DOE size, so the idealised layer is given the realistic one's: its spectrum
is the design line at weight 1 plus a line of weight 0 at the realistic source's shortest
wavelength, which sets the DOE size (`mixsig.optics.defaults.default_sampling`) and contributes
no light: the PSF is the point-sampled monochromatic one (to float round-off, tested).

Each training is a `run_training` run folder under ``out``/seed<S>/ (``idealised``,
``realistic``), and the physics-aware one a folder of its own (``physics_aware``: its
results.json and weights), so a re-run skips finished work. Data: full MNIST from ``root``
when present (``auto``), else the bundled MNIST digits.
"""

from __future__ import annotations

import copy
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from mixsig._atomic import atomic_write_bytes, atomic_write_text
from mixsig.config.optical import SpectrumConfig
from mixsig.data import DataError, Split, load_split, to_input
from mixsig.errors import MixsigError
from mixsig.eval import evaluate
from mixsig.experiments._spread import spread
from mixsig.experiments.optics_realism_figure import ARMS, LABELS, figure, markdown_table
from mixsig.optics.defaults import DEFAULT_WAVELENGTH_M
from mixsig.optics.psf_model import PSFModel
from mixsig.optics.spectrum import Spectrum
from mixsig.signal import calibrate
from mixsig.train.config import TrainConfig
from mixsig.train.deploy import reestimate_batchnorm
from mixsig.train.physics_aware import optical_device_twin, physics_aware
from mixsig.train.run_folder import RESULTS
from mixsig.train.runner import load_trained, run_training

DATA_CHOICES = ("auto", "bundled-mnist", "mnist")
#: the realistic source: a Gaussian around the design wavelength, 5 Gauss–Hermite samples
REALISTIC_SPECTRUM = {"center_m": DEFAULT_WAVELENGTH_M, "fwhm_m": 30e-9, "samples": 5}


class StudyError(MixsigError):
    """Options of the study that cannot be used; the message names the option and its range."""


def realistic_optics() -> dict:
    """The PSF fields of ``model.optical`` of the realistic device (module docstring)."""
    return {
        "pixel_envelope": True,
        "fill_factor": 1.0,
        "spectrum": dict(REALISTIC_SPECTRUM),
        "material": "fused_silica",
    }


def idealised_optics() -> dict:
    """The point-sampled monochromatic layer, on the realistic layer's DOE size: the design
    line at weight 1 and a weight-0 line at the realistic source's shortest wavelength."""
    shortest = Spectrum.gaussian(**REALISTIC_SPECTRUM).shortest_m
    return {
        "pixel_envelope": False,
        "spectrum": {"wavelengths_m": [DEFAULT_WAVELENGTH_M, shortest], "weights": [1.0, 0.0]},
    }


def device_psf() -> PSFModel:
    """The realistic device's `PSFModel`."""
    o = realistic_optics()
    spec = SpectrumConfig.model_validate(o["spectrum"])
    return PSFModel(
        pixel_envelope=o["pixel_envelope"],
        fill_factor=o["fill_factor"],
        spectrum={"center_m": spec.center_m, "fwhm_m": spec.fwhm_m, "samples": spec.samples},
        material=o["material"],
    )


def resolve_data(data: str, root: str | Path) -> str:
    """``mnist`` or ``bundled-mnist``: ``auto`` is full MNIST when it loads from ``root``."""
    if data not in DATA_CHOICES:
        raise StudyError(f"data must be one of {', '.join(DATA_CHOICES)}, got {data!r}")
    if data != "auto":
        return data
    try:
        load_split("mnist", seed=0, root=str(root), limit_train=1, limit_test=1)
    except DataError:
        return "bundled-mnist"
    return "mnist"


def run_config(
    arm: str,
    seed: int,
    *,
    data: str,
    root: str | Path,
    sigmas: Sequence[float],
    draws: int,
    limit_train: int | None = None,
    limit_test: int | None = None,
    pretrain_epochs: int = 3,
    aware_epochs: int = 2,
) -> TrainConfig:
    """The run config of ``arm`` (``idealised`` or ``realistic``): configs/runs/optical_p_4bit
    .yaml with the arm's PSF model, the data, the seed and the evaluation of the study."""
    optics = {"idealised": idealised_optics, "realistic": realistic_optics}[arm]()
    data_cfg: dict = {"name": data, "limit_train": limit_train, "limit_test": limit_test}
    if data == "bundled-mnist":
        data_cfg["test_fraction"] = 0.2
    else:
        data_cfg["root"] = str(root)
    return TrainConfig.model_validate(
        {
            "name": f"optics_realism_{arm}_s{seed}",
            "seed": seed,
            "data": data_cfg,
            "model": {
                "name": "optical_cnn",
                "optical": {
                    "parameterisation": "doe",
                    "out_channels": 8,
                    "kernel_size": 5,
                    "doe_levels": 16,
                    "regularizer_weight": 0.1,
                    **optics,
                },
            },
            "hardware": {
                "dac": {"bits": 4, "range": "fixed", "lo": 0.0, "hi": 1.0},
                "weights": {"bits": None},
                "noise": {"sigma_lsb": 0.5},
                "adc": {"bits": 4, "signed": False},
            },
            "method": {"name": "P", "sigma_train_lsb": 0.5, "noise_ramp": 0.3, "bn_batches": 20},
            "pretrain": {"epochs": pretrain_epochs, "lr": 0.01},
            "aware": {"epochs": aware_epochs, "lr": 0.003},
            "batch_size": 64,
            "eval": {"draws": draws, "sigma_test_lsb": list(sigmas)},
        }
    )


def _finished(folder: Path, sigmas: Sequence[float], draws: int) -> dict | None:
    """The results of ``folder`` when they hold this evaluation (σ_test list and draws)."""
    path = folder / RESULTS
    if not path.is_file():
        return None
    res = json.loads(path.read_text())
    rows = res.get("results", [])
    if [r["sigma_lsb"] for r in rows] != list(sigmas) or any(r["draws"] != draws for r in rows):
        return None
    return res


def train_arm(cfg: TrainConfig, folder: Path, echo: Callable[[str], None]) -> dict:
    """``cfg`` trained and evaluated into ``folder`` (skipped when done; resumed when not)."""
    done = _finished(folder, cfg.eval.sigma_test_lsb, cfg.eval.draws)
    if done is not None:
        echo(f"{folder}: done, skipped")
        return done
    return run_training(cfg, folder, resume=True, progress=False, echo=echo)


def deploy_on_device(model: nn.Module, x_train: torch.Tensor, cfg: TrainConfig) -> nn.Module:
    """``model``'s DOE phase and digital weights on the realistic device (`device_psf`), its
    camera's ADC range calibrated there on the first ``cfg.calibration_batches`` training
    batches; shares every parameter with ``model``."""
    device = optical_device_twin(model, device_psf())
    bs = cfg.batch_size
    n = min(cfg.calibration_batches, -(-len(x_train) // bs))  # no empty batch past the end
    calibrate(device, [to_input(x_train[i * bs : (i + 1) * bs], "cpu") for i in range(n)])
    return device


def _means(model: nn.Module, data: Split, sigmas: Sequence[float], draws: int, seed: int) -> list:
    """The mean accuracy over ``draws`` noise draws at each σ_test (LSB)."""
    return [
        evaluate(model, data.x_test, data.y_test, sigma_lsb=s, draws=draws, seed=seed).mean
        for s in sigmas
    ]


def _run_means(res: dict) -> list[float]:
    return [r["mean"] for r in res["results"]]


def _train_physics_aware(
    model: nn.Module, device: nn.Module, data: Split, cfg: TrainConfig, *, epochs: int, lr: float
) -> None:
    """``model`` trained for ``epochs`` with each forward on ``device`` and the backward through
    ``model`` (`physics_aware`): Adam + cosine schedule, cross-entropy plus the run's DOE
    regulariser of the model's layer, as in the run's hardware-aware phase."""
    pat = physics_aware(model, device)
    x, y, bs = data.x_train, data.y_train, cfg.batch_size
    steps = epochs * -(-len(x) // bs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    g = torch.Generator().manual_seed(cfg.seed + 2)
    torch.manual_seed(cfg.seed + 2)
    lam, optical = cfg.model.optical.regularizer_weight, model[0]
    pat.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), bs):
            idx = order[i : i + bs]
            loss = nn.functional.cross_entropy(pat(to_input(x[idx], "cpu")), y[idx])
            loss = loss + lam * optical.optical_regularizer()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    pat.eval()


def _write_results(folder: Path, rows: list[dict], weights: nn.Module | None, **info) -> dict:
    """results.json (written last: it marks the folder done) and, optionally, the weights."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    if weights is not None:
        state = {k: v.detach().contiguous().clone() for k, v in weights.state_dict().items()}
        atomic_write_bytes(folder / "weights.safetensors", save(state))
    res = {**info, "results": rows}
    atomic_write_text(folder / RESULTS, json.dumps(res, indent=1))
    return res


def _rows(model: nn.Module, data: Split, sigmas: Sequence[float], draws: int, seed: int) -> list:
    return [
        evaluate(model, data.x_test, data.y_test, sigma_lsb=s, draws=draws, seed=seed).as_dict()
        for s in sigmas
    ]


def deployed_arms(base: Path, cfg: TrainConfig, echo: Callable[[str], None]) -> dict:
    """The idealised network of ``base``/idealised on the device, ADC re-calibrated there
    (``results``), and with batch norm re-estimated there too (``results_bn``), into
    ``base``/deployed (skipped when done)."""
    sigmas, draws = cfg.eval.sigma_test_lsb, cfg.eval.draws
    folder = base / "deployed"
    done = _finished(folder, sigmas, draws)
    if done is not None:
        return done
    model, _, data = load_trained(base / "idealised")
    device = deploy_on_device(model, data.x_train, cfg)
    rows = _rows(device, data, sigmas, draws, cfg.seed)
    bn = copy.deepcopy(device)
    from mixsig.signal import set_sigma_lsb

    set_sigma_lsb(bn, cfg.resolved_hardware().noise.sigma_lsb)
    reestimate_batchnorm(bn, data.x_train, cfg.batch_size, cfg.method.bn_batches)
    rows_bn = _rows(bn, data, sigmas, draws, cfg.seed)
    echo(f"{folder}: deployed {rows[0]['mean']:.4f}, + batch norm {rows_bn[0]['mean']:.4f}")
    return _write_results(
        folder, rows, None, results_bn=rows_bn, n_train=len(data.x_train), n_test=len(data.x_test)
    )


def physics_aware_arm(
    base: Path, cfg: TrainConfig, *, epochs: int, lr: float, echo: Callable[[str], None]
) -> dict:
    """The idealised network of ``base``/idealised trained physics-aware on the device for
    ``epochs`` (`_train_physics_aware`), evaluated on the device, into ``base``/physics_aware
    (skipped when done)."""
    sigmas, draws = cfg.eval.sigma_test_lsb, cfg.eval.draws
    folder = base / "physics_aware"
    done = _finished(folder, sigmas, draws)
    if done is not None:
        echo(f"{folder}: done, skipped")
        return done
    model, _, data = load_trained(base / "idealised")
    device = deploy_on_device(model, data.x_train, cfg)
    _train_physics_aware(model, device, data, cfg, epochs=epochs, lr=lr)
    rows = _rows(device, data, sigmas, draws, cfg.seed)
    echo(f"{folder}: physics-aware on the device {rows[0]['mean']:.4f}")
    return _write_results(folder, rows, device, epochs=epochs, lr=lr)


def run_seed(seed: int, out: Path, echo: Callable[[str], None], **options) -> dict:
    """Every arm of one seed: {arm: [mean accuracy per σ_test]}, plus ``n_train``/``n_test``.
    ``options``: `run_config`'s keywords, and ``pat_epochs``, ``pat_lr``."""
    pat = {"epochs": options.pop("pat_epochs"), "lr": options.pop("pat_lr")}
    base = out / f"seed{seed}"
    cfg_i = run_config("idealised", seed, **options)
    res_i = train_arm(cfg_i, base / "idealised", echo)
    res_r = train_arm(run_config("realistic", seed, **options), base / "realistic", echo)
    dep = deployed_arms(base, cfg_i, echo)
    res_p = physics_aware_arm(base, cfg_i, echo=echo, **pat)
    return {
        "idealised_on_idealised": _run_means(res_i),
        "idealised_on_device": _run_means(dep),
        "idealised_on_device_bn": [r["mean"] for r in dep["results_bn"]],
        "realistic_on_device": _run_means(res_r),
        "physics_aware_on_device": _run_means(res_p),
        "n_train": dep["n_train"],
        "n_test": dep["n_test"],
    }


def check_options(
    seeds: Sequence[int], draws: int, sigmas: Sequence[float], pat_epochs: int
) -> None:
    """Refuse options the study cannot use, before any training (`StudyError`)."""
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise StudyError(f"seeds must be distinct integers ≥ 0, got {list(seeds)}")
    if not 1 <= draws <= 10_000:
        raise StudyError(f"draws must be in [1, 10000], got {draws}")
    if not sigmas or not all(0 <= s <= 64 for s in sigmas):
        raise StudyError(f"sigma_test values must be in [0, 64] LSB, got {list(sigmas)}")
    if not 1 <= pat_epochs <= 100:
        raise StudyError(f"physics-aware epochs must be in [1, 100], got {pat_epochs}")


def run_optics_realism(
    *,
    seeds: Sequence[int] = (0, 1, 2),
    draws: int = 20,
    sigmas: Sequence[float] = (0.0, 0.5, 1.0),
    data: str = "auto",
    root: str | Path = "data",
    out: str | Path = "runs/optics-realism",
    limit_train: int | None = None,
    limit_test: int | None = None,
    pretrain_epochs: int = 3,
    aware_epochs: int = 2,
    pat_epochs: int = 2,
    pat_lr: float = 1e-3,
    echo: Callable[[str], None] = print,
) -> dict:
    """The study (module docstring) over ``seeds``; returns and writes to ``out``
    optics_realism.json: {"data", "n_train", "n_test", "seeds", "draws", "sigma_test_lsb",
    "arms": {arm: {"mean", "std", "runs"}}} — per σ_test, the mean and std over seeds of each
    seed's mean over ``draws`` draws, and the per-seed values — and optics_realism.md (the
    table)."""
    check_options(seeds, draws, sigmas, pat_epochs)
    name = resolve_data(data, root)
    out = Path(out)
    options = {
        "data": name, "root": root, "sigmas": list(sigmas), "draws": draws,
        "limit_train": limit_train, "limit_test": limit_test, "pretrain_epochs": pretrain_epochs,
        "aware_epochs": aware_epochs, "pat_epochs": pat_epochs, "pat_lr": pat_lr,
    }  # fmt: skip
    per_seed = []
    for s in seeds:
        per_seed.append(run_seed(s, out, echo, **dict(options)))
        echo(f"seed {s}: " + ", ".join(f"{a} {per_seed[-1][a][0]:.4f}" for a in ARMS))
    result: dict = {
        "data": name,
        "n_train": per_seed[0]["n_train"],
        "n_test": per_seed[0]["n_test"],
        "seeds": list(seeds),
        "draws": draws,
        "sigma_test_lsb": list(sigmas),
        "epochs": {"pretrain": pretrain_epochs, "aware": aware_epochs, "physics_aware": pat_epochs},
        "arms": {},
    }
    for arm in ARMS:
        runs = [[r[arm][i] for r in per_seed] for i in range(len(sigmas))]
        result["arms"][arm] = {
            "mean": [statistics.fmean(v) for v in runs],
            "std": [spread(v) for v in runs],
            "runs": runs,
        }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "optics_realism.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out / "optics_realism.md", markdown_table(result))
    return result


__all__ = [
    "ARMS",
    "LABELS",
    "DATA_CHOICES",
    "StudyError",
    "deploy_on_device",
    "device_psf",
    "figure",
    "markdown_table",
    "idealised_optics",
    "realistic_optics",
    "run_config",
    "run_optics_realism",
]
