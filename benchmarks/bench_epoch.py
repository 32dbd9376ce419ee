"""One training epoch of method P against the float epoch, data handling included and apart.

What is measured: the wall time of one epoch over the training set — the full MNIST from
``data/mnist`` (``make data``) when present, else the 4,000 training digits of the bundled
MNIST — of the small CNN (batch-norm) at batch 64, the way `mixsig.train.runner` trains: the
epoch order from a seeded CPU generator, each batch indexed out of the stored images (uint8 for
the full MNIST) and made an input by `mixsig.data.to_input` (÷255 after the move to the
device), Adam. Three epochs, each timed:

* ``data``  — the data handling alone: indexing and `to_input` of every batch, no network;
* ``float`` — plain PyTorch;
* ``P``     — ``mixsig.convert(model, HardwareConfig())`` (4-bit DAC, weights and ADC, 0.5 LSB
  read noise, the pooled training noise) calibrated once, its chain as method P trains it.

Each of float and P is timed ``--rounds`` times in alternation (drift hits both); reported: the
medians, the ratio P/float, and the share of the data handling in the float epoch.

    .venv/bin/python benchmarks/bench_epoch.py --json bench_epoch.json
    .venv/bin/python benchmarks/bench_epoch.py --quick      # 512 samples, one round (a smoke test)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_model, write_json  # noqa: E402

import mixsig  # noqa: E402
from mixsig.config.hardware import HardwareConfig  # noqa: E402
from mixsig.data import DataError, bundled_mnist, load_local, to_input  # noqa: E402
from mixsig.models import small_cnn  # noqa: E402

BATCH = 64
ROOT = Path(__file__).resolve().parents[1]


def training_set(limit: int | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(images as stored, labels, what they are): the full MNIST when present, else bundled."""
    try:
        split = load_local("mnist", ROOT / "data", limit_train=limit, limit_test=1)
        return split.x_train, split.y_train, f"full MNIST ({len(split.x_train)} training images)"
    except DataError:
        split = bundled_mnist(seed=0)
        x, y = split.x_train[:limit], split.y_train[:limit]
        return x, y, f"bundled MNIST ({len(x)} training images; make data for the full set)"


def epoch(model: nn.Module | None, x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds for one epoch (``model`` None: the data handling alone)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if model is not None else None
    t0 = time.perf_counter()
    for i in range(0, len(x), BATCH):
        idx = order[i : i + BATCH]
        xb, yb = to_input(x[idx]), y[idx]
        if model is None:
            continue
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="512 samples, one round")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    x, y, what = training_set(512 if args.quick else None)
    torch.manual_seed(0)
    plain = small_cnn(28, batchnorm=True).train()
    mixed = mixsig.convert(small_cnn(28, batchnorm=True), HardwareConfig())
    mixed.load_state_dict(plain.state_dict(), strict=False)
    mixsig.calibrate(mixed, [to_input(x[:256])])
    mixed.train()
    times: dict[str, list[float]] = {"data": [], "float": [], "P": []}
    for _ in range(rounds):
        times["data"].append(epoch(None, x, y))
        times["float"].append(epoch(plain, x, y))
        times["P"].append(epoch(mixed, x, y))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "data": what,
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "seconds": med,
        "ratio_P_vs_float": med["P"] / med["float"],
        "data_share_of_float_epoch": med["data"] / med["float"],
    }
    print(f"{what}, batch {BATCH}, {rounds} round(s), {result['cpu']}")
    print(
        f"  data handling {med['data']:.2f} s ({result['data_share_of_float_epoch']:.1%} of float)"
    )
    print(f"  float epoch   {med['float']:.2f} s")
    print(f"  P epoch       {med['P']:.2f} s = {result['ratio_P_vs_float']:.2f}x float")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
