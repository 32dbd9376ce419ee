"""Compare training methods across seeds: `compare_methods` and its tables.

Owns the small grid that answers "how do P and the baselines B1–B4 compare on one chain":
every (method, seed) run of a base `TrainConfig` goes to its own folder (a finished run —
one with ``results.json`` — is skipped, an interrupted one resumed), then the per-run
Monte-Carlo means are aggregated over seeds: for each method and σ_test, the mean and std
over seeds of the per-seed mean accuracy, and the mean within-seed (noise) std. Written as
``summary.csv`` and ``summary.md`` (with the equivalent-accuracy definition).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from mixsig.eval import EQUIVALENT_DEFINITION
from mixsig.experiments._spread import spread
from mixsig.train import METHODS, TrainConfig, run_training


def _run_dir(out: Path, method: str, seed: int) -> Path:
    return out / f"{method}-seed{seed}"


def compare_methods(
    base: TrainConfig,
    out: str | Path,
    *,
    methods: Sequence[str] = tuple(METHODS),
    seeds: Sequence[int] = (0, 1, 2),
    progress: bool = False,
    echo: Callable[[str], None] = print,
    config_dir: Path | None = None,
) -> list[dict]:
    """Run every (method, seed) and write the summary tables into ``out``; returns the rows.
    ``methods``: names of `mixsig.train.METHODS` (default: all, in their order)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = base.with_resolved_hardware(config_dir)
    per_run: dict[tuple[str, int], dict] = {}
    for method in methods:
        for seed in seeds:
            d = _run_dir(out, method, seed)
            if (d / "results.json").exists():
                per_run[method, seed] = json.loads((d / "results.json").read_text())
                continue
            cfg = base.model_copy(
                update={
                    "name": f"{base.name}-{method}-seed{seed}",
                    "seed": seed,
                    "method": base.method.model_copy(update={"name": method}),
                }
            )
            echo(f"== {method}, seed {seed} ==")
            per_run[method, seed] = run_training(
                cfg,
                d,
                resume=(d / "checkpoint").exists(),
                progress=progress,
                echo=echo,
                config_dir=config_dir,
            )
    rows = summarise(per_run, methods, seeds)
    write_tables(rows, out, base)
    return rows


def summarise(per_run: dict, methods: Sequence[str], seeds: Sequence[int]) -> list[dict]:
    rows = []
    sigmas = [r["sigma_lsb"] for r in next(iter(per_run.values()))["results"]]
    for method in methods:
        for i, s in enumerate(sigmas):
            means = [per_run[method, seed]["results"][i]["mean"] for seed in seeds]
            noise = [per_run[method, seed]["results"][i]["std"] for seed in seeds]
            eq = [per_run[method, seed]["results"][i]["equivalent"] for seed in seeds]
            draws = per_run[method, seeds[0]]["results"][i]["draws"]
            rows.append(
                {
                    "method": method,
                    "sigma_test_lsb": s,
                    "seeds": len(seeds),
                    "draws": draws,
                    "mean": statistics.fmean(means),
                    "std_over_seeds": spread(means),
                    "mean_std_over_draws": statistics.fmean(noise),
                    "equivalent_in_seeds": f"{sum(eq)}/{len(eq)}",
                }
            )
    return rows


def write_tables(rows: list[dict], out: Path, base: TrainConfig) -> None:
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    hw = base.resolved_hardware()
    lines = [
        f"# {base.name}: methods on {base.data.name}, {hw.adc.bits}-bit ADC",
        "",
        f"Accuracy: mean over {rows[0]['seeds']} seeds of the per-seed mean over "
        f"{rows[0]['draws']} noise draws; ± std over seeds; (noise: mean std over draws).",
        f"Definition — {EQUIVALENT_DEFINITION}.",
        "",
        "| method | σ_test (LSB) | accuracy | ± seeds | noise std | equivalent (seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['sigma_test_lsb']:g} | {r['mean']:.4f} | "
            f"{r['std_over_seeds']:.4f} | {r['mean_std_over_draws']:.4f} | "
            f"{r['equivalent_in_seeds']} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
