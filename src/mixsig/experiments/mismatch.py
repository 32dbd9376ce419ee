"""The mismatched-device experiment (issue: calibration and hardware in the loop).

Owns `run_mismatch_experiment`: on the bundled MNIST digits, a network trained purely in
silico on the nominal chain is deployed on a simulated device with hidden mismatches, and three
ways of coping are compared on that device:

1. **in silico** — the nominal network as it is;
2. **calibrated + retrained** — fine-tuned in silico on the chain a calibration would report:
   the device's transfer curve and the *statistics* of its fixed patterns (PRNU std, kernel
   mismatch std), but not their per-pixel / per-weight values, which a lab rarely has;
3. **physics-aware** — fine-tuned with every analog layer's forward on the device and the
   backward through the nominal model (`mixsig.train.physics_aware`).

The in-silico network follows the studies' shared recipe (`mixsig.train.recipe`); remedies 2
and 3 both continue from it for ``aware_epochs`` more epochs.

``calibration``: ``"exact"`` — the calibration reports the device's transfer curve and pattern
statistics exactly; ``"realistic"`` — what a lab's calibration more often gets: the device
also has 10 % crosstalk between neighbouring pixels that no impulse measurement was taken for,
and the fitted gamma is 0.75 where the device's is 0.7 (a 7 % fit error, e.g. from a too-short
exposure series). ``"measured"`` — as realistic, but the PRNU map itself was measured
(flat fields; `mixsig calibrate` writes it and the hardware YAML names it), so the
calibrated chain carries the device's very pixel pattern; the kernel mismatch (per weight)
is still known only by its statistics. Physics-aware training needs no calibration, so it is
the same in all three.

``severity`` s scales the device's fixed errors that the calibration knows only by their
statistics (PRNU 5 %·s, kernel mismatch 10 %·s) and, with the realistic calibration, the
missed crosstalk (10 %·s); s = 1 is the setting above. `run_severity` repeats the experiment
over several severities and seeds and draws accuracy on the device against s.

Every figure is Monte-Carlo accuracy on the device (its noise included).
"""

from __future__ import annotations

import copy
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn

from mixsig._atomic import atomic_write_text
from mixsig.config import HardwareConfig
from mixsig.eval import evaluate
from mixsig.experiments._errorbars import errorbar_png
from mixsig.experiments._spread import spread
from mixsig.train.loop import accuracy, fit
from mixsig.train.physics_aware import device_twin, physics_aware
from mixsig.train.recipe import float_start, hardware_aware

NOMINAL = {"noise": {"sigma_lsb": 0.5}}


def _chain(
    pattern_seed: int, gamma: float = 0.7, crosstalk: float = 0.0, severity: float = 1.0
) -> dict:
    """A compressive camera (gamma 0.7), 5 % PRNU and 10 % kernel mismatch (both × severity);
    the PRNU pattern is the draw of ``pattern_seed``; optionally crosstalk to the neighbouring
    pixels."""
    dist: list[dict] = []
    if crosstalk:
        dist.append({"kind": "crosstalk", "strength": crosstalk})
    dist += [
        {"kind": "gamma", "gamma": gamma},
        {"kind": "gain_offset", "gain_std": 0.05 * severity, "per": "pixel", "seed": pattern_seed},
    ]
    return {
        "noise": {"sigma_lsb": 0.5},
        "weights": {"mismatch_rel_std": 0.10 * severity},
        "distortion": dist,
    }


CALIBRATIONS = ("exact", "realistic", "measured")
RESULT_KEYS = (
    "in_silico_on_nominal_chain",
    "in_silico_on_device",
    "calibrated_retrained_on_device",
    "physics_aware_on_device",
)


def _configs(calibration: str, severity: float) -> tuple[dict, dict]:
    """(device, what the calibration reports) at ``severity`` (module docstring)."""
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {calibration!r}")
    if not 0.0 <= severity <= 5.0:
        raise ValueError(f"severity must be in [0, 5], got {severity!r}")
    if calibration == "exact":
        return _chain(11, severity=severity), _chain(99, severity=severity)
    device = _chain(11, crosstalk=min(0.1 * severity, 0.5), severity=severity)
    pattern = 11 if calibration == "measured" else 99  # the device's own PRNU map, measured
    return device, _chain(pattern, gamma=0.75, severity=severity)


def run_mismatch_experiment(
    *,
    seed: int = 0,
    float_epochs: int = 4,
    aware_epochs: int = 2,
    draws: int = 20,
    calibration: str = "exact",
    severity: float = 1.0,
    echo: Callable[[str], None] = print,
) -> dict[str, float]:
    device_cfg, calibrated_cfg = _configs(calibration, severity)
    start = float_start(seed, epochs=float_epochs)
    data, net = start.data, start.net
    echo(f"float network, digital: {accuracy(net, data.x_test, data.y_test):.4f}")

    def on_device(model: nn.Module) -> float:
        dev = device_twin(model, HardwareConfig.model_validate(device_cfg))
        return evaluate(dev, data.x_test, data.y_test, draws=draws, seed=seed).mean

    nominal = hardware_aware(start, HardwareConfig.model_validate(NOMINAL), epochs=aware_epochs)
    r_nominal = evaluate(nominal, data.x_test, data.y_test, draws=draws, seed=seed).mean

    # both remedies continue from the in-silico network with the same budget of epochs
    retrained = copy.deepcopy(nominal)
    fit(
        device_twin(retrained, HardwareConfig.model_validate(calibrated_cfg)),
        data.x_train,
        data.y_train,
        epochs=aware_epochs,
        lr=1e-3,
        seed=seed + 2,
    )

    pat_model = copy.deepcopy(nominal)
    device = device_twin(pat_model, HardwareConfig.model_validate(device_cfg))
    fit(
        physics_aware(pat_model, device),
        data.x_train,
        data.y_train,
        epochs=aware_epochs,
        lr=1e-3,
        seed=seed + 2,
    )

    out = {
        "in_silico_on_nominal_chain": r_nominal,
        "in_silico_on_device": on_device(nominal),
        "calibrated_retrained_on_device": on_device(retrained),
        "physics_aware_on_device": on_device(pat_model),
    }
    for k, v in out.items():
        echo(f"{k}: {v:.4f}")
    return out


def run_severity(
    severities: Sequence[float],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    calibration: str = "realistic",
    draws: int = 20,
    out: Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict:
    """The experiment at each severity and seed: {"severity": [...], "seeds": [...], key:
    {"mean": [...], "std": [...], "runs": [[per seed] per severity]}} for every result key;
    with ``out`` (a .png), the figure and the same numbers as JSON beside it."""
    for s in severities:
        _configs(calibration, s)  # refuse a bad value before hours of training
    runs = {k: [] for k in RESULT_KEYS}
    for s in severities:
        rows = [
            run_mismatch_experiment(
                seed=seed, draws=draws, calibration=calibration, severity=s, echo=lambda _: None
            )
            for seed in seeds
        ]
        for k in RESULT_KEYS:
            runs[k].append([r[k] for r in rows])
        echo(
            f"severity {s:g}: "
            + ", ".join(
                f"{k} {statistics.fmean(runs[k][-1]):.4f} ± {spread(runs[k][-1]):.4f}"
                for k in RESULT_KEYS[1:]
            )
        )
    result: dict = {"severity": list(severities), "seeds": list(seeds), "calibration": calibration}
    for k, per in runs.items():
        result[k] = {
            "mean": [statistics.fmean(v) for v in per],
            "std": [spread(v) for v in per],
            "runs": per,
        }
    if out is not None:
        severity_figure(result, Path(out))
        atomic_write_text(Path(out).with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    return result


def severity_figure(result: dict, out: Path) -> Path:
    """Accuracy on the device against severity (a `run_severity` result) as a PNG."""
    labels = {
        "in_silico_on_device": "trained in silico",
        "calibrated_retrained_on_device": "+ retrained on the calibrated chain",
        "physics_aware_on_device": "+ physics-aware (forward on the device)",
    }
    crosstalk = ", missed crosstalk 10 %·s" if result["calibration"] != "exact" else ""
    return errorbar_png(
        result["severity"],
        {lab: (result[k]["mean"], result[k]["std"]) for k, lab in labels.items()},
        out,
        xlabel=f"severity s\n(PRNU 5 %·s, kernel mismatch 10 %·s{crosstalk})",
        ylabel="test accuracy on the device",
        title=f"{result['calibration']} calibration; mean ± std over "
        f"{len(result['seeds'])} seed(s)",
        xticks=result["severity"],
    )
