"""How few photons the optical CNN needs: accuracy against detected photons per MAC.

Owns `photon_curve` (one trained network) and `run_photon_study` (several runs, e.g. seeds,
summarised as mean ± std over them). Each point is a Monte-Carlo evaluation
(`mixsig.eval.evaluate`) of the network with the shot noise of P detected photons per MAC on
its camera (`mixsig.eval.photons.set_exposure`; Poisson, quantum efficiency 1) on top of the
camera's own read noise (σ_test LSB, default the run's), then the ADC. Two references per run:
the noise-free network (σ_test = 0, no shot noise) and unlimited light (read noise only);
"equivalent" is within 0.5 pp, as everywhere in mixsig, of the better of the two (a network
trained with noise may do better with its read noise than without). The answer: the fewest
photons per MAC of the grid at which the mean accuracy over runs stays equivalent, next to the
3.1 photons per multiplication at which the optical MLP of Wang et al. (Nat. Commun. 13:123,
2022) reaches 99 % on MNIST.

The camera signal that fixes the exposure (`camera_signal`) is measured on the first
``signal_images`` training images — a property of the optics and the weights, not of the test
set.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import Tensor, nn

from mixsig.data import Split
from mixsig.data.images import to_input
from mixsig.eval import EQUIVALENT_PP, evaluate
from mixsig.eval.energy import count_operations, digital_parameters, total_macs
from mixsig.eval.photons import camera_signal, optical_layer, optical_macs, set_exposure
from mixsig.experiments._spread import spread
from mixsig.train.runner import load_trained

#: detected photons per MAC evaluated by default (log-spaced, and Wang et al.'s 3.1)
PHOTONS = (0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 3.1, 4.0, 8.0, 16.0)
#: photons per multiplication at 99 % MNIST accuracy, optical MLP, Wang et al. 2022
WANG_2022_PHOTONS_PER_MAC = 3.1


def photon_curve(
    model: nn.Module,
    split: Split,
    photons: Sequence[float] = PHOTONS,
    *,
    draws: int = 10,
    sigma_lsb: float | None = None,
    seed: int = 0,
    signal_images: int = 2000,
    echo: Callable[[str], None] = lambda s: None,
) -> dict:
    """The accuracy of ``model`` (one optical layer) on ``split``'s test set at each number of
    detected photons per MAC, with read noise ``sigma_lsb`` (None: the model's own)."""
    layer = optical_layer(model)
    signal = camera_signal(model, split.x_train[:signal_images])
    x, y = split.x_test, split.y_test

    def acc(sigma: float | None, draws_: int) -> dict:
        r = evaluate(model, x, y, sigma_lsb=sigma, draws=draws_, seed=seed)
        return {"mean": r.mean, "std": r.std, "draws": r.draws}

    own = layer.chain.noise.sigma_lsb if layer.chain.noise is not None else None
    read = sigma_lsb if sigma_lsb is not None else own
    set_exposure(model, None, signal)
    noise_free = acc(0.0 if own is not None else None, 1)
    unlimited = acc(read, draws)
    points = []
    for p in photons:
        set_exposure(model, p, signal, seed=seed)
        points.append({"photons_per_mac": float(p), **acc(read, draws)})
        echo(f"  {p:g} photons/MAC: {points[-1]['mean']:.4f} ± {points[-1]['std']:.4f}")
    set_exposure(model, None, signal)
    return {
        "camera_signal": signal,
        "macs_per_image": optical_macs(layer),
        "read_noise_lsb": read,
        "noise_free": noise_free,
        "unlimited_light": unlimited,
        "points": points,
    }


def reference(curves: Sequence[dict]) -> float:
    """The accuracy "equivalent" compares with: the better of the mean noise-free and the mean
    unlimited-light accuracy over ``curves`` (a network trained with noise can do better with
    its read noise than without: the stricter of the two)."""
    return max(
        statistics.fmean(c["noise_free"]["mean"] for c in curves),
        statistics.fmean(c["unlimited_light"]["mean"] for c in curves),
    )


def fewest_equivalent(curves: Sequence[dict]) -> float | None:
    """The fewest photons per MAC at which the mean accuracy over ``curves`` is within
    `EQUIVALENT_PP` of `reference`, and stays so at every larger number of the grid (None:
    nowhere)."""
    ref = reference(curves)
    grid = [p["photons_per_mac"] for p in curves[0]["points"]]
    ok = [
        statistics.fmean(c["points"][i]["mean"] for c in curves) >= ref - EQUIVALENT_PP / 100
        for i in range(len(grid))
    ]
    best = None
    for p, good in sorted(zip(grid, ok), reverse=True):
        if not good:
            break
        best = p
    return best


def summarise(curves: Sequence[dict]) -> dict:
    """Mean ± std over the runs at each grid point, the references, and `fewest_equivalent`."""

    def over(values: list[float]) -> dict:
        return {"mean": statistics.fmean(values), "std": spread(values), "runs": len(values)}

    grid = [p["photons_per_mac"] for p in curves[0]["points"]]
    return {
        "noise_free": over([c["noise_free"]["mean"] for c in curves]),
        "unlimited_light": over([c["unlimited_light"]["mean"] for c in curves]),
        "points": [
            {"photons_per_mac": g, **over([c["points"][i]["mean"] for c in curves])}
            for i, g in enumerate(grid)
        ],
        "reference": reference(curves),
        "fewest_equivalent_photons_per_mac": fewest_equivalent(curves),
        "wang_2022_photons_per_mac": WANG_2022_PHOTONS_PER_MAC,
    }


def network_summary(model: nn.Module, example: Tensor) -> dict:
    """What the optics and the digital back end do per image: MACs of each, the optics' share,
    the digital parameters (`mixsig.eval.energy`)."""
    ops = count_operations(model, to_input(example[:1]))
    optical, digital = total_macs(ops, "optical"), total_macs(ops, "digital")
    return {
        "optical_macs": optical,
        "digital_macs": digital,
        "optical_share_of_macs": optical / max(1, optical + digital),
        "digital_parameters": digital_parameters(model),
    }


def run_photon_study(
    runs: Sequence[str | Path],
    photons: Sequence[float] = PHOTONS,
    *,
    draws: int = 10,
    sigma_lsb: float | None = None,
    data_root: str | Path | None = None,
    echo: Callable[[str], None] = lambda s: None,
) -> dict:
    """`photon_curve` of each trained run folder of ``runs`` (their test sets, seed = the
    run's seed) and their `summarise`."""
    if not runs:
        raise ValueError("name at least one trained run folder")
    curves = []
    for path in runs:
        model, cfg, split = load_trained(path, data_root=data_root)
        echo(f"{path}: {cfg.data.name}, seed {cfg.seed}")
        network = network_summary(model, split.x_test[:1])
        curve = photon_curve(
            model, split, photons, draws=draws, sigma_lsb=sigma_lsb, seed=cfg.seed, echo=echo
        )
        curves.append(
            {"run": str(path), "data": cfg.data.name, "seed": cfg.seed, "network": network, **curve}
        )
    return {"runs": curves, "summary": summarise(curves)}


__all__ = [
    "PHOTONS",
    "WANG_2022_PHOTONS_PER_MAC",
    "fewest_equivalent",
    "network_summary",
    "photon_curve",
    "reference",
    "run_photon_study",
    "summarise",
]
