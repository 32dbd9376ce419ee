"""Cost of Monte-Carlo evaluation against plain float inference.

What is measured: 20 Monte-Carlo noise draws over 1,000 test images of the small MNIST CNN
(conv 1→8 5×5, conv 8→16 5×5, linear 256→10) through the default mixsig chain (4-bit DAC,
weights and ADC, 0.5 LSB noise; evaluation mode, so every noise value is a fresh draw) with
`mixsig.eval.evaluate`, against 20 forward passes of the same float model over the same
1,000 images (`torch.no_grad`, batch 250: on this CPU faster than 1,000, so the baseline is
the stronger one). Both are timed in interleaved rounds in one
process with 2 threads; reported: the median per-round ratio (min, max).

    .venv/bin/python benchmarks/bench_eval.py --json bench_eval.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path

from _common import write_json  # noqa: E402

import mixsig  # noqa: E402
from mixsig.eval import evaluate  # noqa: E402
from mixsig.models import small_cnn  # noqa: E402

DRAWS, N_TEST = 20, 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="2 rounds on 200 images: a smoke test")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--float-batch", type=int, default=250, help="batch of the float passes")
    args = ap.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    n_test = 200 if args.quick else N_TEST
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.rand(n_test, 1, 28, 28)
    y = torch.randint(0, 10, (n_test,))
    net = small_cnn(28).eval()
    model = mixsig.convert(copy.deepcopy(net), mixsig.HardwareConfig())
    mixsig.calibrate(model, [x[:500]])

    def float_passes() -> None:  # plain inference at its faster batch size (see --float-batch)
        with torch.no_grad():
            for _ in range(DRAWS):
                for i in range(0, n_test, args.float_batch):
                    net(x[i : i + args.float_batch]).argmax(1)

    def monte_carlo() -> None:
        evaluate(model, x, y, draws=DRAWS, seed=0)

    float_passes(), monte_carlo()  # warm-up
    tf, tm, ratios = [], [], []
    for r in range(rounds):
        order = [float_passes, monte_carlo] if r % 2 == 0 else [monte_carlo, float_passes]
        t = {}
        for f in order:
            t0 = time.perf_counter()
            f()
            t[f] = time.perf_counter() - t0
        tf.append(t[float_passes])
        tm.append(t[monte_carlo])
        ratios.append(t[monte_carlo] / t[float_passes])
    r = statistics.median(ratios)
    print(f"torch {torch.__version__}, 2 threads, {rounds} rounds, {DRAWS} draws x {n_test} images")
    print(f"float: 20 passes {statistics.median(tf) * 1e3:.1f} ms (median)")
    print(f"mixsig Monte-Carlo: 20 draws {statistics.median(tm) * 1e3:.1f} ms (median)")
    print(f"ratio_mc_vs_float: {r:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    if args.json:
        result = {
            "ratio_mc_vs_float": r,
            "float_ms": statistics.median(tf) * 1e3,
            "mc_ms": statistics.median(tm) * 1e3,
            "rounds": rounds,
            "images": n_test,
        }
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
