"""Cost of Monte-Carlo evaluation against plain float inference.

What is measured: 20 Monte-Carlo noise draws over 1,000 test images of the small MNIST CNN
(conv 1→8 5×5, conv 8→16 5×5, linear 256→10) through the default mixsig chain (4-bit DAC,
weights and ADC, 0.5 LSB noise; evaluation mode, so every noise value is a fresh draw) with
`mixsig.eval.evaluate`, against 20 forward passes of the same float model over the same
1,000 images (`torch.no_grad`, batch 250: on a 2-core CPU faster than 1,000, so the baseline is
the stronger one). Both are timed in interleaved rounds in one
process with 2 threads; reported: the median per-round ratio (min, max).

Where the time goes (``--decompose``, default on): the same evaluation with every noise draw
replaced by zeros (everything but the random numbers), and the random numbers alone — the
N(0, 1) values the evaluation requests, drawn in the same request sizes with torch's CPU
generator (``Tensor.normal_``). Evaluation mode draws every value fresh (no pooled noise), so
these draws are a floor on the Monte-Carlo cost that no restructuring of the evaluation removes.

The optical CNN (``--optical``, default on): the same 20 draws over the same images through
`mixsig.models.optical_cnn` (an `OpticalConv2d` front in DOE space, 8 signed kernels, 16-level
DOE, read by a 4-bit camera with 0.5 LSB of noise; the configuration of
``configs/runs/optical_p_4bit.yaml``), against 20 float passes of the same network with an
ideal camera (no noise, no ADC rounding): the optics and the digital rest in float; and the same
evaluation without its fast path (the optics computed again for every draw, as before the
optical layer had one), which gives the same accuracies bit for bit.

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
from mixsig.eval import evaluate, montecarlo  # noqa: E402
from mixsig.models import small_cnn  # noqa: E402

DRAWS, N_TEST = 20, 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="2 rounds on 200 images: a smoke test")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--float-batch", type=int, default=250, help="batch of the float passes")
    ap.add_argument(
        "--no-decompose", dest="decompose", action="store_false", help="skip the decomposition"
    )
    ap.add_argument(
        "--no-optical", dest="optical", action="store_false", help="skip the optical CNN"
    )
    ap.add_argument("--optical-only", action="store_true", help="only the optical CNN")
    args = ap.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    n_test = 200 if args.quick else N_TEST
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.rand(n_test, 1, 28, 28)
    y = torch.randint(0, 10, (n_test,))
    result: dict = {}
    if not args.optical_only:
        result.update(digital(args, rounds, x, y))
    if args.optical or args.optical_only:
        result["optical"] = optical(rounds, x, y, args.float_batch)
    if args.json:
        write_json(args.json, result)
    return 0


def interleaved(float_passes, monte_carlo, rounds: int) -> tuple[list, list, list]:
    """Per-round times of both, alternating which goes first; and their ratios."""
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
    return tf, tm, ratios


def optical(rounds: int, x: torch.Tensor, y: torch.Tensor, float_batch: int) -> dict:
    """The optical CNN's Monte-Carlo evaluation against its float passes (module docstring)."""
    from mixsig.models import optical_cnn
    from mixsig.signal import set_output_quantization, set_sigma_lsb

    hw = mixsig.HardwareConfig.model_validate(
        {
            "dac": {"bits": 4, "range": "fixed", "lo": 0.0, "hi": 1.0},
            "weights": {"bits": None},
            "noise": {"sigma_lsb": 0.5},
            "adc": {"bits": 4, "signed": False},
        }
    )
    model = optical_cnn(28, out_channels=8, kernel_size=5, parameterisation="doe", hardware=hw)
    mixsig.calibrate(model, [x[:500]])
    model.eval()
    ideal = set_sigma_lsb(set_output_quantization(copy.deepcopy(model), False), 0.0).eval()
    n = len(x)

    def float_passes() -> None:
        with torch.no_grad():
            for _ in range(DRAWS):
                for i in range(0, n, float_batch):
                    ideal(x[i : i + float_batch]).argmax(1)

    def monte_carlo() -> None:
        evaluate(model, x, y, draws=DRAWS, seed=0)

    def full_forward() -> None:  # every draw through the optics again (no fast path)
        split = montecarlo._split_at_first_readout
        montecarlo._split_at_first_readout = lambda m: None
        try:
            evaluate(model, x, y, draws=DRAWS, seed=0)
        finally:
            montecarlo._split_at_first_readout = split

    tf, tm, ratios = interleaved(float_passes, monte_carlo, rounds)
    _, tw, slow = interleaved(float_passes, full_forward, rounds)
    r = statistics.median(ratios)
    print(f"optical CNN: float 20 passes {statistics.median(tf) * 1e3:.1f} ms, Monte-Carlo")
    print(f"  20 draws {statistics.median(tm) * 1e3:.1f} ms (medians)")
    print(f"ratio_optical_mc_vs_float: {r:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(
        f"  without the fast path (the optics once per draw): {statistics.median(slow):.2f} "
        f"(min {min(slow):.2f}, max {max(slow):.2f}); the same accuracies, bit for bit"
    )
    return {
        "ratio_mc_vs_float": r,
        "float_ms": statistics.median(tf) * 1e3,
        "mc_ms": statistics.median(tm) * 1e3,
        "ratio_without_fast_path": statistics.median(slow),
        "without_fast_path_ms": statistics.median(tw) * 1e3,
    }


def digital(args, rounds: int, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The small CNN's Monte-Carlo evaluation against its float passes (module docstring)."""
    n_test = len(x)
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

    tf, tm, ratios = interleaved(float_passes, monte_carlo, rounds)
    r = statistics.median(ratios)
    print(f"torch {torch.__version__}, 2 threads, {rounds} rounds, {DRAWS} draws x {n_test} images")
    print(f"float: 20 passes {statistics.median(tf) * 1e3:.1f} ms (median)")
    print(f"mixsig Monte-Carlo: 20 draws {statistics.median(tm) * 1e3:.1f} ms (median)")
    print(f"ratio_mc_vs_float: {r:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    result = {
        "ratio_mc_vs_float": r,
        "float_ms": statistics.median(tf) * 1e3,
        "mc_ms": statistics.median(tm) * 1e3,
        "rounds": rounds,
        "images": n_test,
    }
    if args.decompose:
        result.update(decompose(monte_carlo, float_passes, rounds))
    return result


def decompose(monte_carlo, float_passes, rounds: int) -> dict:
    """The evaluation without its random numbers, and the random numbers alone (docstring)."""
    from mixsig.signal import noise as noise_module

    original = noise_module.randn
    sizes: list[tuple[int, ...]] = []

    def counting(shape, **kwargs):
        sizes.append(tuple(shape))
        return original(shape, **kwargs)

    def zeros(shape, *, dtype=torch.float32, device="cpu", generator=None):
        return torch.zeros(shape, dtype=dtype, device=device)

    noise_module.randn = counting
    try:
        monte_carlo()
    finally:
        noise_module.randn = original
    buffers = [torch.empty(s) for s in sizes]
    gen = torch.Generator().manual_seed(0)

    def draws_only() -> None:
        for b in buffers:
            b.normal_(generator=gen)

    def without_draws() -> None:
        noise_module.randn = zeros
        try:
            monte_carlo()
        finally:
            noise_module.randn = original

    t = {f: [] for f in (float_passes, draws_only, without_draws)}
    for r in range(rounds):
        order = list(t) if r % 2 == 0 else list(reversed(list(t)))
        for f in order:
            t0 = time.perf_counter()
            f()
            t[f].append(time.perf_counter() - t0)
    med = {f: statistics.median(v) for f, v in t.items()}
    n = sum(b.numel() for b in buffers)
    out = {
        "normal_values": n,
        "ns_per_normal": med[draws_only] / n * 1e9,
        "ratio_draws_only_vs_float": med[draws_only] / med[float_passes],
        "ratio_without_draws_vs_float": med[without_draws] / med[float_passes],
    }
    print(
        f"decomposition ({rounds} rounds): {n / 1e6:.1f} M N(0,1) values in {len(buffers)} "
        f"requests, {out['ns_per_normal']:.2f} ns each"
    )
    print(f"  the draws alone: {out['ratio_draws_only_vs_float']:.2f}x float")
    print(f"  the evaluation without them: {out['ratio_without_draws_vs_float']:.2f}x float")
    return out


if __name__ == "__main__":
    sys.exit(main())
