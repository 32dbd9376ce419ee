"""The plans of ``mixsig reproduce``: which runs answer which question, on which data set.

Owns the sweep specs (dicts of `SweepConfig`'s schema) of the reproduction, one function per
plan, each documented with its run count (3 seeds; `describe_plan` counts a configuration listed
under two tags once):

* the bundled MNIST digits (``bundled-mnist``: 4,000 train / 1,000 test) — `bundled_quick`
  (``--plan quick``, the ``make demo`` job) and `bundled_full` (``--plan standard`` and
  ``--plan full``: all of it fits 41.5 min on 2 cores);
* the full MNIST or Fashion-MNIST (``mnist``, ``fashion-mnist``: 60,000 train / the whole
  10,000-image test set, read from ``root``) — `full_set_quick`, `full_set_standard` (under
  90 minutes on 2 cores) and `full_set_full` (for a cluster).

`plan` picks one by data set and plan name and adds the optical CNN on local data sets
(`_local_runs`). Four parts, each a ``tag`` of the tidy results table: ``methods`` (P and
B1–B4 across ADC bits and σ_train), ``distortion`` (fixed distortions, the realistic camera),
``optical`` (the optical CNN) and ``optical-<name>`` (the local sets next to Chang et al.).
Runs that share their float pre-training (same seed, data and model) pre-train once.
"""

from __future__ import annotations

from mixsig.config.io import ConfigError
from mixsig.config.methods import NOISE_FREE_METHODS, NOISY_METHODS

PLANS = ("quick", "standard", "full")
#: the data sets a plan is made for: the bundled digits and the full sets read from a folder
DATA_SETS = ("bundled-mnist", "mnist", "fashion-mnist")
FULL_SETS = ("mnist", "fashion-mnist")

FULL_BITS = (2, 3, 4, 5, 6, 8)
FULL_SIGMA_TRAIN = (0.0, 0.25, 0.5, 1.0)
SIGMA_TEST = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
QUICK_SIGMA_TEST = (0.0, 0.5, 1.0, 1.5, 2.0)
#: the full sets: σ_test 0–2 LSB in steps of 0.25, σ_train of P and B3, the standard bit depths
FINE_SIGMA_TEST = tuple(0.25 * i for i in range(9))
SET_SIGMA_TRAIN = (0.0, 0.5, 1.0, 1.5)
#: the standard plan's distortion and optical runs: the verdict reads them at 0.5 LSB
TRIO_SIGMA_TEST = (0.0, 0.5, 1.0)
STANDARD_BITS = (2, 3, 4)

# distortion kind -> [(strength, hardware.distortion list)], strength = deviation from ideal
DISTORTIONS = {
    "gamma": [(1 - g, [{"kind": "gamma", "gamma": g}]) for g in (0.9, 0.8, 0.7)],
    "prnu": [(s, [{"kind": "gain_offset", "gain_std": s, "seed": 7}]) for s in (0.025, 0.05, 0.1)],
    "crosstalk": [(c, [{"kind": "crosstalk", "strength": c}]) for c in (0.05, 0.1, 0.2)],
}
REALISTIC = [
    {"kind": "gamma", "gamma": 0.8},
    {"kind": "gain_offset", "gain_std": 0.05, "seed": 7},
    {"kind": "crosstalk", "strength": 0.1},
]
_NONE = {"distortion": "none", "distortion_strength": 0.0}
_REALISTIC_LABELS = {"distortion": "realistic", "distortion_strength": 0.2}


def base_config(draws: int = 20, sigma_test: tuple[float, ...] = SIGMA_TEST) -> dict:
    """The run every entry of the plan starts from (bundled MNIST, small CNN, 4-bit chain)."""
    return {
        "name": "reproduce",
        "data": {"name": "bundled-mnist", "test_fraction": 0.2},
        "model": {"name": "small_cnn", "batchnorm": True},
        "hardware": {
            "dac": {"bits": 4},
            "weights": {"bits": 4},
            "noise": {"sigma_lsb": 0.5},
            "adc": {"bits": 4, "range": "learned"},
        },
        "method": {"name": "P", "sigma_train_lsb": 0.5, "noise_ramp": 0.3, "bn_batches": 20},
        "pretrain": {"epochs": 4, "lr": 0.003},
        "aware": {"epochs": 6, "lr": 0.002},
        "batch_size": 64,
        "checkpoint_every": 50,
        "eval": {"draws": draws, "sigma_test_lsb": list(sigma_test)},
    }


def full_set_base(data: str, root: str, draws: int = 20) -> dict:
    """The run of the full-set plans: `base_config` on ``data`` read from ``root``, σ_test
    0–2 LSB in steps of 0.25, 2 float epochs (shared) and 1 hardware-aware epoch — an epoch of
    60,000 images is 938 steps, 2.5 times the 6 bundled epochs of 63."""
    cfg = base_config(draws, FINE_SIGMA_TEST)
    cfg["data"] = {"name": data, "root": str(root)}
    cfg["pretrain"] = {"epochs": 2, "lr": 0.003}
    cfg["aware"] = {"epochs": 1, "lr": 0.002}
    cfg["checkpoint_every"] = 200
    return cfg


def _method_runs(bits: tuple[int, ...], sigma_train: tuple[float, ...]) -> list[dict]:
    runs = []
    for b in bits:
        for m in NOISE_FREE_METHODS:
            runs.append({"tag": "methods", "method.name": m, "hardware.adc.bits": b})
        for m in NOISY_METHODS:  # each at every σ_train
            for s in sigma_train:
                runs.append(
                    {
                        "tag": "methods",
                        "method.name": m,
                        "method.sigma_train_lsb": s,
                        "hardware.adc.bits": b,
                    }
                )
    return runs


def _distortion_runs(quick: bool) -> list[dict]:
    runs = [
        {"tag": "distortion", "labels": {"distortion": "none", "distortion_strength": 0.0}},
        {
            "tag": "distortion",
            "method.name": "B1",
            "labels": {"distortion": "none", "distortion_strength": 0.0},
        },
    ]
    for m in ("P", "B1"):
        runs.append(
            {
                "tag": "distortion",
                "method.name": m,
                "hardware.distortion": REALISTIC,
                "labels": {"distortion": "realistic", "distortion_strength": 0.2},
            }
        )
    if not quick:
        for kind, levels in DISTORTIONS.items():
            for strength, dist in levels:
                runs.append(
                    {
                        "tag": "distortion",
                        "hardware.distortion": dist,
                        "labels": {"distortion": kind, "distortion_strength": strength},
                    }
                )
    return runs


def _optical_runs(quick: bool) -> list[dict]:
    optical = {
        "model.name": "optical_cnn",
        "model.optical": {
            "out_channels": 8,
            "kernel_size": 5,
            "doe_levels": 16,
            "regularizer_weight": 0.1,
        },
        "hardware.dac": {"bits": 4, "range": "fixed", "lo": 0.0, "hi": 1.0},
        "hardware.weights": {"bits": None},
        "hardware.adc.signed": False,
        "pretrain.epochs": 3,
        "pretrain.lr": 0.01,
        "aware.epochs": 2,
        "aware.lr": 0.003,
    }
    if quick:  # one seed: an optical run costs ~6 digital ones
        optical["seed"] = 0
    return [{"tag": "optical", "method.name": m, **optical} for m in ("P", "B1")]


def _local_runs(local: dict[str, str]) -> list[dict]:
    """The optical CNN next to Chang et al. (Sci. Rep. 2018) on local data sets: for each
    (name → folder) of ``local`` (``mnist``, ``fashion-mnist``, ``cifar10``), tag
    ``optical-<name>``: the optical CNN trained with P and deployed float-trained (B1), and
    the digital small CNN with P on the same 4-bit chain. CIFAR-10 is greyscale (one intensity
    image enters the optics) with 9 × 9 kernels, as in Chang et al."""
    runs = []
    for name, root in local.items():
        if name not in ("mnist", "fashion-mnist", "cifar10"):
            raise ConfigError(f"local data sets are mnist, fashion-mnist and cifar10, got {name!r}")
        data = {"name": name, "root": str(root), "grayscale": name == "cifar10"}
        k = 9 if name == "cifar10" else 5
        tag = f"optical-{name}"
        for r in _optical_runs(quick=False):
            runs.append({**r, "tag": tag, "data": data, "model.optical.kernel_size": k})
        runs.append({"tag": tag, "data": data, "method.name": "P"})
    return runs


def bundled_quick(seeds: int = 3, draws: int = 20) -> dict:
    """``make demo``: the 4-bit answer on the bundled digits in under 10 minutes on 2 cores —
    P (σ_train 0.5, 1) and B1–B4 (B3 at σ_train 0.5, 1) at 4 bits; P (σ_train 0.5, 1), B1
    and B4 at 3 bits; P and B1 with the realistic distortion; the optical CNN (P, B1) with
    one seed; σ_test 0, 0.5, 1, 1.5, 2 LSB. With 3 seeds: 41 runs (47 listed: 6 appear
    under two tags and run once), 4 float pre-trainings."""
    runs = _method_runs((4,), (0.5, 1.0)) + [
        {"tag": "methods", "method.name": m, "hardware.adc.bits": 3} for m in ("B1", "B4")
    ]
    runs += [
        {"tag": "methods", "method.sigma_train_lsb": st, "hardware.adc.bits": 3}
        for st in (0.5, 1.0)
    ]
    runs += _distortion_runs(True) + _optical_runs(True)
    return {
        "name": "reproduce-quick",
        "base": base_config(draws, QUICK_SIGMA_TEST),
        "runs": runs,
        "grid": {"seed": list(range(seeds))},
    }


def bundled_full(seeds: int = 3, draws: int = 20) -> dict:
    """The full reproduction on the bundled digits (also their standard plan: 41.5 min on 2
    cores) — P and B1–B4 at 2, 3, 4, 5, 6 and 8 ADC bits, P and B3 at σ_train 0, 0.25, 0.5,
    1 LSB; gamma, PRNU and crosstalk at three strengths each and the realistic mix; the optical
    CNN (P, B1); σ_test 0, 0.25, 0.5, 0.75, 1, 1.5, 2 LSB. With 3 seeds: 237 runs (243 listed:
    6 appear under two tags and run once), 6 float pre-trainings."""
    runs = _method_runs(FULL_BITS, FULL_SIGMA_TRAIN)
    runs += _distortion_runs(False) + _optical_runs(False)
    return {
        "name": "reproduce",
        "base": base_config(draws, SIGMA_TEST),
        "runs": runs,
        "grid": {"seed": list(range(seeds))},
    }


def _few(points: tuple[float, ...] | None) -> dict:
    """The override of a run evaluated at ``points`` only (None: the base's σ_test grid)."""
    return {} if points is None else {"eval.sigma_test_lsb": list(points)}


def _set_method_runs(
    bits: tuple[int, ...],
    sigma_train: tuple[float, ...],
    baseline_sigma_train: tuple[float, ...],
    baseline_points: tuple[float, ...] | None,
) -> list[dict]:
    """P at every σ_train of ``sigma_train`` on the base's σ_test grid; B1, B2, B4 and the
    noisy baseline B3 at each of ``baseline_sigma_train``, at ``baseline_points``."""
    few = _few(baseline_points)
    runs = []
    for b in bits:
        at = {"tag": "methods", "hardware.adc.bits": b}
        runs += [{**at, "method.name": m, **few} for m in NOISE_FREE_METHODS]
        for m in (m for m in NOISY_METHODS if m != "P"):
            runs += [
                {**at, "method.name": m, "method.sigma_train_lsb": s, **few}
                for s in baseline_sigma_train
            ]
        runs += [{**at, "method.name": "P", "method.sigma_train_lsb": s} for s in sigma_train]
    return runs


def _set_distortion_runs(
    graded: bool, baseline_points: tuple[float, ...] | None, points: tuple[float, ...] | None
) -> list[dict]:
    """P (σ_train 0.5) and B1 at 4 bits without distortion — the same configurations as the
    methods comparison's (B1 at ``baseline_points``), so they train once — and with the
    realistic camera (at ``points``); ``graded``: P with each distortion of `DISTORTIONS`."""
    few = _few(points)
    runs = [
        {"tag": "distortion", "labels": _NONE},
        {"tag": "distortion", "method.name": "B1", "labels": _NONE, **_few(baseline_points)},
    ]
    runs += [
        {
            "tag": "distortion",
            "method.name": m,
            "hardware.distortion": REALISTIC,
            "labels": _REALISTIC_LABELS,
            **few,
        }
        for m in ("P", "B1")
    ]
    if graded:
        for kind, levels in DISTORTIONS.items():
            for strength, dist in levels:
                labels = {"distortion": kind, "distortion_strength": strength}
                runs.append({"tag": "distortion", "hardware.distortion": dist, "labels": labels})
    return runs


def _set_optical_runs(one_seed: bool, points: tuple[float, ...] | None) -> list[dict]:
    """The optical CNN of `_optical_runs` (P and B1) on a full set: 1 float epoch and 1
    hardware-aware epoch (938 steps each); ``one_seed``: seed 0 only. The camera's range is
    calibrated: a learned Δ (~1e-4 at 8 bits) took Adam steps of ~lr and fell to chance."""
    full = {"pretrain.epochs": 1, "aware.epochs": 1, "hardware.adc.range": "calibrated"}
    return [{**r, **full, **_few(points)} for r in _optical_runs(one_seed)]


#: the camera bit depths of the energy study (`mixsig energy`: accuracy against energy)
ENERGY_CAMERA_BITS = (2, 3, 4, 6, 8)


def _set_energy_runs(one_seed: bool, points: tuple[float, ...] | None) -> list[dict]:
    """The optical CNN trained with P (`_set_optical_runs`) at each camera bit depth of
    `ENERGY_CAMERA_BITS`, tag ``energy``, for `mixsig energy`; the 4-bit one is the optical
    comparison's own run (same key, trained once)."""
    p = next(r for r in _set_optical_runs(one_seed, points) if r["method.name"] == "P")
    return [{**p, "tag": "energy", "hardware.adc.bits": b} for b in ENERGY_CAMERA_BITS]


def _set_spec(data: str, root: str, kind: str, runs: list, seeds: int, draws: int) -> dict:
    base = full_set_base(data, root, draws)
    base["name"] = f"reproduce-{data}-{kind}"
    return {
        "name": base["name"],
        "base": base,
        "runs": runs,
        "grid": {"seed": list(range(seeds))},
    }


def full_set_quick(data: str, root: str, seeds: int = 3, draws: int = 20) -> dict:
    """The 4-bit answer on a full set: P (σ_train 0.5 and 1 LSB) at σ_test 0–2 LSB in steps
    of 0.25, B1 (float-trained) and B4 (the noise-free reference) at 0, 0.5, 1, 1.5, 2 LSB;
    20 draws over the 10,000 test images. With 3 seeds: 12 runs, 3 float pre-trainings —
    6 × 161.9 + 3 × 75.0 + 3 × 81.0 + 3 × 16.0 = 1,487 worker-seconds (`full_set_standard`
    has the measurements), 12–14 min on 2 cores. Every run is one of `full_set_standard`
    (same key): the standard plan into the same folder continues it."""
    at4 = {"tag": "methods", "hardware.adc.bits": 4}
    few = _few(QUICK_SIGMA_TEST)
    runs = [{**at4, "method.name": "P", "method.sigma_train_lsb": s} for s in (0.5, 1.0)]
    runs += [{**at4, "method.name": m, **few} for m in ("B1", "B4")]
    return _set_spec(data, root, "quick", runs, seeds, draws)


def full_set_standard(data: str, root: str, seeds: int = 3, draws: int = 20) -> dict:
    """The reproduction on a full set in about 90 minutes on 2 cores (2 Dask workers), 20 draws
    over the whole 10,000-image test set everywhere:

    * P at 2, 3 and 4 ADC bits and σ_train 0.5, 1, 1.5 LSB at σ_test 0–2 LSB in steps of
      0.25 (the runs that answer how far P stays equivalent); P at σ_train 0 (training
      without noise) and B1, B2, B3 (σ_train 1 LSB), B4 at σ_test 0, 0.5, 1, 1.5, 2 LSB (the
      verdict reads their σ_test = 0: its reference);
    * P (σ_train 0.5) and B1 at 4 bits with the realistic camera, at σ_test 0, 0.5, 1 LSB;
    * the optical CNN (P and B1), seed 0, at σ_test 0, 0.5, 1 LSB;
    * the energy study's optical CNN (P) at camera bits 2, 3, 4, 6 and 8, seed 0, at σ_test 0,
      0.5, 1 LSB (`ENERGY_CAMERA_BITS`; `mixsig energy`).

    With 3 seeds: 84 runs (91 listed: 7 appear under two tags and run once), 8 float
    pre-trainings (the optical CNN pre-trains once per camera bit depth). Seconds per run
    measured on one worker on full MNIST (2026-12-02, 2-core Intel Xeon, other jobs running:
    80–96 % of a core; docs/methods-and-results.md): an evaluation 18.1 per noisy σ_test point
    and 1.3 for σ_test = 0 and the reference; P 161.9 (15.8 training + 146.1 evaluating, nine
    points), 89.5 at five points, 53.3 at three; B1 75.0 (38.8 at three points), B2 98.9, B3
    112.4, B4 81.0; the optical CNN 26.0 pre-training, P 109.3, B1 82.8; 8.0 a float epoch.
    The plan: 27 × 161.9 (P) + 9 × 89.5 (P, σ_train 0) + 9 × (75.0 + 98.9 + 112.4 + 81.0)
    (B1–B4) + 3 × (53.3 + 38.8) (realistic) + 218.1 (optical) + 4 × (26.0 + 109.3) (the
    energy study's other camera bits) + 3 × 16.0 (pre-training) = 9,566 worker-seconds: 80 min
    on 2 workers; at most 92 min with the 15 % more CPU time that a 4-run sweep on 2 Dask
    workers took than its runs alone (starting the cluster and the report included). Left
    to `full_set_full` (40,000 worker-seconds): 5, 6 and 8 bits, B3 at σ_train 0.5 and 1.5,
    the graded distortions, the optical CNN's seeds 1 and 2, nine σ_test points for every
    run."""
    few = QUICK_SIGMA_TEST
    runs = _set_method_runs(STANDARD_BITS, SET_SIGMA_TRAIN[1:], (1.0,), few)
    runs += [
        {"tag": "methods", "hardware.adc.bits": b, "method.sigma_train_lsb": 0.0, **_few(few)}
        for b in STANDARD_BITS
    ]
    runs += _set_distortion_runs(False, few, TRIO_SIGMA_TEST)
    runs += _set_optical_runs(True, TRIO_SIGMA_TEST) + _set_energy_runs(True, TRIO_SIGMA_TEST)
    return _set_spec(data, root, "standard", runs, seeds, draws)


def full_set_full(data: str, root: str, seeds: int = 3, draws: int = 20) -> dict:
    """The whole reproduction on a full set, for a Dask cluster: P and B1–B4 at 2, 3, 4,
    5, 6 and 8 ADC bits, P at σ_train 0, 0.5, 1, 1.5 LSB and B3 at 0.5, 1, 1.5 (B3 at 0 is
    B2 in all but name), gamma, PRNU and crosstalk at three strengths and the realistic
    camera, the optical CNN (P, B1) and, for the energy study, P at camera bits 2, 3, 4, 6
    and 8; every run at σ_test 0–2 LSB in steps of 0.25, 20 draws over the 10,000 test
    images. With 3 seeds: 231 runs (240 listed: 9 appear under two tags and run once), 18
    float pre-trainings; with the times of `full_set_standard`
    (nine points: P 161.9 s, B1 146.6, B2 156.4, B3 157.8, B4 158.2, an optical run ~340)
    about 40,000 worker-seconds: 11 h on one worker, 5.5 h on 2 cores, 21 min on 32 workers.
    Its P runs at σ_train > 0 in the methods comparison are those of `full_set_standard`
    (same keys): into the same folder, it skips them."""
    runs = _set_method_runs(FULL_BITS, SET_SIGMA_TRAIN, SET_SIGMA_TRAIN[1:], None)
    runs += _set_distortion_runs(True, None, None) + _set_optical_runs(False, None)
    runs += _set_energy_runs(False, None)
    return _set_spec(data, root, "full", runs, seeds, draws)


_SET_PLANS = {"quick": full_set_quick, "standard": full_set_standard, "full": full_set_full}


def plan(
    quick: bool = False,
    seeds: int = 3,
    draws: int = 20,
    local: dict[str, str] | None = None,
    *,
    data: str = "bundled-mnist",
    kind: str | None = None,
    root: str = "data",
) -> dict:
    """The sweep spec (a dict of `SweepConfig`'s schema) of plan ``kind`` (`PLANS`; None:
    ``quick`` when ``quick``, else ``standard``) on ``data`` (`DATA_SETS`; a full set is read
    from ``root``); ``local`` adds the optical CNN on local data sets (`_local_runs`)."""
    kind = kind or ("quick" if quick else "standard")
    if kind not in PLANS or (quick and kind != "quick"):
        raise ConfigError(f"plan must be one of {', '.join(PLANS)}, got {kind!r} (quick={quick})")
    if data == "bundled-mnist":
        spec = bundled_quick(seeds, draws) if kind == "quick" else bundled_full(seeds, draws)
    elif data in FULL_SETS:
        spec = _SET_PLANS[kind](data, root, seeds, draws)
    else:
        raise ConfigError(f"data must be one of {', '.join(DATA_SETS)}, got {data!r}")
    spec["runs"] += _local_runs(local or {})
    return spec


__all__ = [
    "DATA_SETS",
    "FULL_SETS",
    "PLANS",
    "base_config",
    "bundled_full",
    "bundled_quick",
    "full_set_base",
    "full_set_full",
    "full_set_quick",
    "full_set_standard",
    "plan",
]
