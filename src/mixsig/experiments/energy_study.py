"""Accuracy against energy per inference: the optical CNN across camera bits and exposure,
next to the same network computed all-digitally at 8 bits (`run_energy_study`).

Owns the study that joins the photon curve (`mixsig.experiments.photons.photon_curve`: the
accuracy at each number of detected photons per MAC) with the energy model
(`mixsig.eval.energy`): for each trained optical run (one per camera bit depth, or seeds of
one) and each exposure, the energy of one inference — the camera's conversions (Walden FOM ·
2^b), the input modulator, the digital back end at 8 bits and the light source (detected
photons · h·c/λ / (quantum efficiency · the fraction of the light on the camera plane that
reaches the read windows · wall-plug efficiency)) — and its Monte-Carlo accuracy. The
all-digital reference is each run's own network (its trained kernels) with every MAC digital
at 8 bits: its accuracy is that of the network read out noise-free through an 8-bit camera
(`set_adc_bits`, no read noise, no shot noise; batch-norm statistics re-estimated for that
readout, as a network trained with noise needs), its energy `all_digital` of the same count.
The Pareto front is taken over every (energy, accuracy) point of every run.

Points of one camera bit depth and exposure are averaged over runs (seeds) when several runs
share the bit depth; the std over them is reported. The all-digital reference shown is the most
accurate of the camera bit depths' networks computed all-digitally (each run's is in its
``digital`` entry).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from mixsig.config.energy import EnergyConfig
from mixsig.data.images import to_input
from mixsig.eval import evaluate
from mixsig.eval.energy import (
    all_digital,
    count_operations,
    detected_photons,
    energy_per_inference,
    pareto_front,
)
from mixsig.eval.photons import optical_layer
from mixsig.experiments._spread import spread
from mixsig.experiments.photons import PHOTONS, photon_curve
from mixsig.nn.optical import OpticalConv2d
from mixsig.signal import set_adc_bits, set_sigma_lsb
from mixsig.train.deploy import reestimate_batchnorm
from mixsig.train.runner import load_trained

#: the bit depth of the all-digital reference
DIGITAL_BITS = 8
#: its batch-norm re-estimation: batches of training images
BN_BATCH, BN_BATCHES = 256, 20


def window_fraction(layer: OpticalConv2d) -> float:
    """The fraction of the light on the camera plane that falls in the read windows."""
    with torch.no_grad():
        energy, total = layer.window_energy()
    return float(energy.sum() / total)


def _digital_reference(model, split, ops, cfg: EnergyConfig) -> dict:
    """The network's accuracy read out noise-free at 8 bits, its batch-norm statistics
    re-estimated for that readout (a forward-only step), and its all-digital energy."""
    twin = copy.deepcopy(model)
    set_adc_bits(twin, DIGITAL_BITS)
    set_sigma_lsb(twin, 0.0)
    reestimate_batchnorm(twin, split.x_train, BN_BATCH, BN_BATCHES)
    r = evaluate(twin, split.x_test, split.y_test, sigma_lsb=0.0, draws=1)
    e = energy_per_inference(all_digital(ops, DIGITAL_BITS), cfg, digital_bits=DIGITAL_BITS)
    return {"accuracy": r.mean, "energy_j": e.total_j, "breakdown": e.as_dict()}


def study_run(
    path: str | Path,
    photons: Sequence[float],
    cfg: EnergyConfig,
    *,
    draws: int,
    data_root: str | Path | None = None,
    echo: Callable[[str], None] = lambda s: None,
) -> dict:
    """One trained optical run: its photon curve, each point's energy, the digital reference."""
    model, tcfg, split = load_trained(path, data_root=data_root)
    layer = optical_layer(model)
    bits = int(layer.chain.adc.bits)
    echo(f"{path}: {tcfg.data.name}, seed {tcfg.seed}, {bits}-bit camera")
    ops = count_operations(model, to_input(split.x_test[:1]))
    eta = window_fraction(layer)
    curve = photon_curve(model, split, photons, draws=draws, seed=tcfg.seed, echo=echo)
    for p in curve["points"]:
        n = detected_photons(ops, p["photons_per_mac"])
        e = energy_per_inference(
            ops, cfg, digital_bits=DIGITAL_BITS, photons_per_inference=n, optical_efficiency=eta
        )
        p.update(energy_j=e.total_j, breakdown=e.as_dict())
    return {
        "run": str(path),
        "data": tcfg.data.name,
        "seed": tcfg.seed,
        "camera_bits": bits,
        "window_fraction": eta,
        "ops": [o.__dict__ for o in ops],
        "digital": _digital_reference(model, split, ops, cfg),
        **curve,
    }


def _digital_of(camera_bits: int, group: list[dict]) -> dict:
    acc = [r["digital"]["accuracy"] for r in group]
    return {
        "bits": DIGITAL_BITS,
        "accuracy": statistics.fmean(acc),
        "std": spread(acc),
        "energy_j": statistics.fmean(r["digital"]["energy_j"] for r in group),
        "runs": len(group),
        "trained_with_camera_bits": camera_bits,
    }


def summarise(runs: Sequence[dict]) -> dict:
    """The points averaged over runs of one camera bit depth, the Pareto front over them, and
    the all-digital reference: of the networks of each camera bit depth computed all-digitally,
    the most accurate (mean over its runs)."""
    by_bits: dict[int, list[dict]] = {}
    for r in runs:
        by_bits.setdefault(r["camera_bits"], []).append(r)
    points = []
    for bits, group in sorted(by_bits.items()):
        for i, p in enumerate(group[0]["points"]):
            acc = [g["points"][i]["mean"] for g in group]
            energy = statistics.fmean(g["points"][i]["energy_j"] for g in group)
            points.append(
                {"camera_bits": bits, "photons_per_mac": p["photons_per_mac"],
                 "accuracy": statistics.fmean(acc), "std": spread(acc), "energy_j": energy,
                 "runs": len(group)}
            )  # fmt: skip
    front = pareto_front([(p["energy_j"], p["accuracy"]) for p in points])
    for i, p in enumerate(points):
        p["pareto"] = i in front
    digital = max(
        (_digital_of(bits, group) for bits, group in sorted(by_bits.items())),
        key=lambda d: d["accuracy"],
    )
    return {"points": points, "front": [points[i] for i in front], "digital": digital}


def run_energy_study(
    runs: Sequence[str | Path],
    photons: Sequence[float] = PHOTONS,
    *,
    draws: int = 10,
    constants: EnergyConfig | None = None,
    data_root: str | Path | None = None,
    echo: Callable[[str], None] = lambda s: None,
) -> dict:
    """`study_run` of each trained optical run folder and their `summarise`."""
    if not runs:
        raise ValueError("name at least one trained optical run folder")
    cfg = constants if constants is not None else EnergyConfig()
    results = [
        study_run(p, photons, cfg, draws=draws, data_root=data_root, echo=echo) for p in runs
    ]
    return {"constants": cfg.model_dump(), "runs": results, "summary": summarise(results)}


__all__ = ["DIGITAL_BITS", "run_energy_study", "study_run", "summarise", "window_fraction"]
