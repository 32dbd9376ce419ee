"""Training-step cost of mixsig's mixed-signal layers against float PyTorch and two peers.

What is measured: the wall time (``time.perf_counter``) of ONE training step — forward,
cross-entropy, backward, ``SGD(lr=0.01).step()`` — of the small MNIST CNN

    conv 1→8 5×5, ReLU, maxpool 2, conv 8→16 5×5, ReLU, maxpool 2, flatten, linear 256→10

on a fixed batch of 128 random 1×28×28 inputs in [0, 1] with random labels, in four variants
that start from the same float weights, each with its own model and optimizer:

* ``float``              plain PyTorch;
* ``mixsig``             ``mixsig.convert(model, mixsig.HardwareConfig())`` (4-bit DAC, 4-bit
                         weights, 4-bit ADC, 0.5 LSB Gaussian noise), calibrated once before timing;
* ``mixsig_exact``       the same with ``noise.source = "exact"`` (a fresh N(0, 1) draw per value
                         instead of the default pooled draws; see `mixsig.signal.noise`);
* ``brevitas``           ``QuantConv2d``/``QuantLinear`` with 4-bit weights and a 4-bit
                         ``QuantIdentity`` before and after each of them;
* ``aihwkit_lightning``  ``AnalogConv2d``/``AnalogLinear`` (its PyTorch path, no Triton on CPU)
                         with 4-bit DAC, 4-bit weights, 4-bit ADC and 0.5 LSB output noise.

Each variant is checked once (finite loss, a gradient for every weight), warmed up, then timed
for R rounds; in each round every variant runs one step, in an order shuffled with a fixed seed,
so that drift in machine speed hits all variants alike. Reported per variant: median/min/max
step time and the ratio to float (median, min and max of the per-round ratios). A peer that
cannot be imported or built is skipped (the reason is printed) and reported as ``null``.

Run (from the repository root):

    .venv/bin/python benchmarks/bench_layers.py --json bench_layers.json
    .venv/bin/python benchmarks/bench_layers.py --quick            # 3 rounds, a smoke test
    .venv/bin/python benchmarks/bench_layers.py --profile          # + top ops, float and mixsig
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path

from _common import cpu_model, write_json  # noqa: E402

BATCH, SEED = 128, 0
BITS = 4
NOISE_LSB = 0.5
PEERS = ("mixsig", "mixsig_exact", "brevitas", "aihwkit_lightning")


# ----------------------------------------------------------------------------- models
def float_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 10),
    )  # fmt: skip


def copy_weights(src: nn.Module, dst: nn.Module) -> nn.Module:
    """Copy the float conv/linear weights and biases into dst's layers, in order."""
    s = [m for m in src.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    d = [m for m in dst.modules() if isinstance(getattr(m, "weight", None), nn.Parameter)]
    assert len(s) == len(d), (len(s), len(d))
    with torch.no_grad():
        for a, b in zip(s, d):
            b.weight.copy_(a.weight.view_as(b.weight))
            b.bias.copy_(a.bias)
    return dst


def build_mixsig(ref: nn.Module, x: torch.Tensor, noise_source: str | None = None) -> nn.Module:
    import mixsig

    hw = mixsig.HardwareConfig()
    if noise_source is not None:  # "exact": a fresh N(0,1) draw per value instead of the pool
        hw = mixsig.HardwareConfig(noise={"source": noise_source})
    model = mixsig.convert(copy.deepcopy(ref), hw)
    mixsig.calibrate(model, [x])
    return model


def build_brevitas(ref: nn.Module, x: torch.Tensor) -> nn.Module:
    import brevitas.nn as qnn

    def q():  # 4-bit signed per-tensor activation quantizer (Int8ActPerTensorFloat at 4 bits)
        return qnn.QuantIdentity(bit_width=BITS, return_quant_tensor=False)

    model = nn.Sequential(
        q(), qnn.QuantConv2d(1, 8, 5, weight_bit_width=BITS), q(), nn.ReLU(), nn.MaxPool2d(2),
        q(), qnn.QuantConv2d(8, 16, 5, weight_bit_width=BITS), q(), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), q(), qnn.QuantLinear(256, 10, bias=True, weight_bit_width=BITS), q(),
    )  # fmt: skip
    return copy_weights(ref, model)


def build_aihwkit(ref: nn.Module, x: torch.Tensor) -> nn.Module:
    from aihwkit_lightning.nn import AnalogConv2d, AnalogLinear
    from aihwkit_lightning.simulator.configs import (
        TorchInferenceRPUConfig,
        WeightQuantizationType,
    )

    steps = 2**BITS - 2  # "number of steps" (its docs: 8 bits is 2**8 - 2): codes -7..7
    rpu = TorchInferenceRPUConfig()
    rpu.pre_post.input_range.enable = True  # static, learned DAC range (needed for out_res/noise)
    rpu.pre_post.input_range.init_from_data = 1  # set from the first batch ≈ a calibration
    rpu.forward.inp_res = steps  # 4-bit DAC
    rpu.modifier.quantization_type = WeightQuantizationType.DISCRETIZE  # 4-bit, per tensor
    rpu.modifier.res = steps
    rpu.forward.out_bound = 10.0  # ADC full scale ±10 · input_range · max|W|
    rpu.forward.out_res = steps  # 4-bit ADC over ±out_bound
    # out_noise is a std in units of input_range · max|W|; the ADC LSB in those units is
    # 2·out_bound/out_res, so 0.5 LSB is exactly out_bound/out_res (one tile per layer here).
    rpu.forward.out_noise = NOISE_LSB * 2 * rpu.forward.out_bound / rpu.forward.out_res

    model = nn.Sequential(
        AnalogConv2d(1, 8, 5, rpu_config=rpu), nn.ReLU(), nn.MaxPool2d(2),
        AnalogConv2d(8, 16, 5, rpu_config=rpu), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), AnalogLinear(256, 10, rpu_config=rpu),
    )  # fmt: skip
    return copy_weights(ref, model)


BUILDERS: dict[str, Callable[[nn.Module, torch.Tensor], nn.Module]] = {
    "mixsig": build_mixsig,
    "mixsig_exact": lambda ref, x: build_mixsig(ref, x, noise_source="exact"),
    "brevitas": build_brevitas,
    "aihwkit_lightning": build_aihwkit,
}


# ----------------------------------------------------------------------------- timing
def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], torch.Tensor]:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def sanity_check(name: str, model: nn.Module, step: Callable[[], torch.Tensor]) -> None:
    loss = step()
    if not torch.isfinite(loss):
        raise RuntimeError(f"{name}: loss is {loss.item()}")
    weights = [(n, p) for n, p in model.named_parameters() if n.endswith("weight")]
    if not weights:
        raise RuntimeError(f"{name}: no weight parameters found")
    for n, p in weights:
        if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.any():
            raise RuntimeError(f"{name}: no (finite, non-zero) gradient for {n}")


def profile_step(name: str, step: Callable[[], torch.Tensor], n: int = 20, top: int = 15) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            step()
    print(f"\n{name} step profile ({n} steps), top {top} ops by self CPU time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per variant (≥ 5)")
    ap.add_argument("--quick", action="store_true", help="3 rounds: a smoke test")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--json", type=Path, help="write the summary to this JSON file")
    ap.add_argument(
        "--profile", action="store_true", help="profile float and mixsig steps afterwards"
    )
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else args.rounds

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    x = torch.rand(BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (BATCH,))
    ref = float_cnn()

    models: dict[str, nn.Module] = {"float": copy.deepcopy(ref)}
    skipped: dict[str, str] = {}
    for name, build in BUILDERS.items():
        torch.manual_seed(SEED)
        try:
            models[name] = build(ref, x)
        except Exception as e:  # noqa: BLE001 - a missing or broken peer must not stop the rest
            skipped[name] = f"{type(e).__name__}: {e}"

    steps: dict[str, Callable[[], torch.Tensor]] = {}
    for name, model in models.items():
        step = make_step(model, x, y)
        try:
            sanity_check(name, model, step)
        except Exception as e:
            if name == "float":
                raise
            skipped[name] = f"sanity check failed: {e}"
            continue
        steps[name] = step
    for name, why in skipped.items():
        print(f"[skipped] {name}: {why}")

    for step in steps.values():
        for _ in range(max(args.warmup, 5)):
            step()

    times: dict[str, list[float]] = {n: [] for n in steps}
    order = list(steps)
    rng = random.Random(SEED)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)

    print(
        f"\ntorch {torch.__version__}, threads {torch.get_num_threads()}, CPU {cpu_model()}, "
        f"batch {BATCH}, {rounds} rounds (interleaved, shuffled order)"
    )
    head = f"{'variant':<18}{'median ms':>10}{'min ms':>9}{'max ms':>9}"
    print(head + f"{'ratio med':>11}{'min':>7}{'max':>7}")
    step_ms: dict[str, float | None] = {}
    ratio: dict[str, float | None] = {}
    for name in ("float", *PEERS):
        if name not in times:
            step_ms[name] = ratio[name] = None
            print(f"{name:<18}{'skipped':>10}")
            continue
        ms = [t * 1e3 for t in times[name]]
        r = [t / f for t, f in zip(times[name], times["float"])]
        step_ms[name] = statistics.median(ms)
        ratio[name] = statistics.median(r)
        print(
            f"{name:<18}{step_ms[name]:>10.2f}{min(ms):>9.2f}{max(ms):>9.2f}"
            f"{ratio[name]:>11.2f}{min(r):>7.2f}{max(r):>7.2f}"
        )

    if args.json:
        assert all(v is None or math.isfinite(v) for v in step_ms.values())
        write_json(
            args.json,
            {
                "ratio_vs_float": {n: ratio[n] for n in PEERS},
                "step_ms": step_ms,
                "rounds": rounds,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "cpu": cpu_model(),
                "skipped": skipped,
            },
        )
        print(f"wrote {args.json}")

    if args.profile:
        for name in ("float", "mixsig"):
            if name in steps:
                profile_step(name, steps[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
