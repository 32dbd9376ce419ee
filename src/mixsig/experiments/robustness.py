"""Robustness to calibration error (issue: calibration and hardware in the loop, item 4).

Owns `run_robustness`: the small CNN on the bundled MNIST digits is trained hardware-aware on a
chain whose camera has a calibrated gamma of 0.7, either with that gamma fixed or randomised per
batch within ±``randomize`` (design §2), and both networks are deployed on devices whose true
gamma is off by −x … +x of the calibrated value, over several seeds. Written: a table and a
figure of accuracy vs calibration error (mean over seeds ± std over seeds). The training is
the studies' shared recipe (`mixsig.train.recipe`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from mixsig.config import HardwareConfig
from mixsig.eval import evaluate
from mixsig.experiments._errorbars import errorbar_png
from mixsig.experiments._spread import spread
from mixsig.train.physics_aware import device_twin
from mixsig.train.recipe import float_start, hardware_aware

GAMMA = 0.7


def _hw(gamma: float, randomize: float = 0.0) -> HardwareConfig:
    return HardwareConfig.model_validate(
        {
            "noise": {"sigma_lsb": 0.5},
            "distortion": [{"kind": "gamma", "gamma": gamma, "randomize": randomize, "seed": 5}],
        }
    )


def _one_seed(
    errors: Sequence[float], randomize: float, seed: int, draws: int
) -> dict[str, list[float]]:
    start = float_start(seed, epochs=4)
    data = start.data
    models = {
        name: hardware_aware(start, _hw(GAMMA, r), epochs=2)
        for name, r in (("fixed", 0.0), (f"randomised ±{randomize:.0%}", randomize))
    }
    table: dict[str, list[float]] = {name: [] for name in models}
    for e in errors:
        for name, m in models.items():
            dev = device_twin(m, _hw(GAMMA * (1 + e)))
            table[name].append(evaluate(dev, data.x_test, data.y_test, draws=draws, seed=seed).mean)
    return table


def run_robustness(
    *,
    errors: Sequence[float] = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3),
    randomize: float = 0.3,
    seeds: Sequence[int] = (0, 1, 2),
    draws: int = 10,
    out: Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, tuple[list[float], list[float]]]:
    """{training: (mean over seeds, std over seeds) per calibration error in ``errors``}."""
    per_seed = []
    for seed in seeds:
        per_seed.append(_one_seed(errors, randomize, seed, draws))
        echo(f"seed {seed} done")
    table: dict[str, tuple[list[float], list[float]]] = {}
    for name in per_seed[0]:
        cols = list(zip(*(t[name] for t in per_seed)))
        means = [statistics.fmean(c) for c in cols]
        stds = [spread(c) for c in cols]
        table[name] = (means, stds)
    for i, e in enumerate(errors):
        echo(
            f"true gamma {GAMMA * (1 + e):.3f} ({e:+.0%}): "
            + ", ".join(f"{k} {m[i]:.4f} ± {sd[i]:.4f}" for k, (m, sd) in table.items())
        )
    if out is not None:
        _figure(errors, table, out, len(seeds))
    return table


def _figure(
    errors: Sequence[float], table: dict[str, tuple[list[float], list[float]]], out: Path, n: int
) -> None:
    errorbar_png(
        [100 * e for e in errors],
        {f"trained with gamma {name}": v for name, v in table.items()},
        out,
        xlabel=f"calibration error of the camera gamma (%, calibrated {GAMMA})",
        ylabel="test accuracy on the device",
        title=f"mean ± std over {n} seed(s)",
    )
