"""Training-step cost of mixsig's mixed-signal layers against float PyTorch and two peers.

What is measured: the wall time (``time.perf_counter``) of ONE training step — forward,
cross-entropy, backward, ``SGD(lr=0.01).step()`` — of a network (``--model``) on a fixed batch
of 128 random inputs in [0, 1] with random labels:

* ``small_cnn`` (the default): the small MNIST CNN on 1×28×28 inputs

      conv 1→8 5×5, ReLU, maxpool 2, conv 8→16 5×5, ReLU, maxpool 2, flatten, linear 256→10

* ``resnet20``: ResNet-20 (`mixsig.models.resnet20`: 19 bias-free 3×3 convs with BN, option-A
  shortcuts, linear 64→10; 0.27 M parameters) on 3×32×32 inputs;

in these variants, which start from the same float weights, each with its own model and
optimizer:

* ``float``              plain PyTorch;
* ``mixsig``             ``mixsig.convert(model, mixsig.HardwareConfig())`` (4-bit DAC, 4-bit
                         weights, 4-bit ADC, 0.5 LSB Gaussian noise: the chain the method P
                         trains on), calibrated once before timing;
* ``mixsig_exact``       the same with ``noise.source = "exact"`` (a fresh N(0, 1) draw per value
                         instead of the default pooled draws; see `mixsig.signal.noise`);
* ``brevitas``           every conv/linear a ``QuantConv2d``/``QuantLinear`` with 4-bit weights
                         between two 4-bit ``QuantIdentity`` (before and after it);
* ``aihwkit_lightning``  every conv/linear an ``AnalogConv2d``/``AnalogLinear`` (its PyTorch
                         path, no Triton on CPU) with 4-bit DAC, 4-bit weights, 4-bit ADC and
                         0.5 LSB output noise.

Batch-norm, ReLU, pooling and the residual additions stay float PyTorch in every variant. Each
variant is checked once (finite loss, a gradient for every weight), warmed up, then timed for R
rounds; in each round every variant runs one step, in an order shuffled with a fixed seed, so
that drift in machine speed hits all variants alike. Reported per variant: median/min/max step
time and the ratio to float (median, min and max of the per-round ratios). A peer that cannot
be imported or built is skipped (the reason is printed) and reported as ``null``.

Run (from the repository root):

    .venv/bin/python benchmarks/bench_layers.py --json bench_layers.json
    .venv/bin/python benchmarks/bench_layers.py --model resnet20 --rounds 10 --json bench_r20.json
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


def float_resnet20() -> nn.Module:
    from mixsig.models import resnet20

    return resnet20(32, 3, 10)


#: the benchmark's networks: (float builder, input shape of one sample)
NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "small_cnn": (float_cnn, (1, 28, 28)),
    "resnet20": (float_resnet20, (3, 32, 32)),
}


def swap_layers(ref: nn.Module, make: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """A copy of ``ref`` with every exact nn.Conv2d / nn.Linear replaced by ``make(layer)``,
    whose (first) weighted layer gets the float layer's weight and bias."""
    model = copy.deepcopy(ref)
    targets = [(n, m) for n, m in model.named_modules() if type(m) in (nn.Conv2d, nn.Linear)]
    for name, m in targets:
        new = make(m)
        dst = next(d for d in new.modules() if isinstance(getattr(d, "weight", None), nn.Parameter))
        with torch.no_grad():
            dst.weight.copy_(m.weight.view_as(dst.weight))
            if m.bias is not None:
                dst.bias.copy_(m.bias)
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, new)
    return model


def _conv_args(m: nn.Conv2d) -> dict:
    return dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups)


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

    def make(m: nn.Module) -> nn.Module:
        bias = m.bias is not None
        if isinstance(m, nn.Conv2d):
            layer = qnn.QuantConv2d(
                m.in_channels, m.out_channels, m.kernel_size, **_conv_args(m), bias=bias,
                weight_bit_width=BITS,
            )  # fmt: skip
        else:
            layer = qnn.QuantLinear(m.in_features, m.out_features, bias, weight_bit_width=BITS)
        return nn.Sequential(q(), layer, q())

    return swap_layers(ref, make)


def aihwkit_rpu_config():
    """aihwkit-lightning's inference config of the same chain: 4-bit DAC, weights and ADC,
    0.5 LSB output noise."""
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
    return rpu


def build_aihwkit(ref: nn.Module, x: torch.Tensor) -> nn.Module:
    from aihwkit_lightning.nn import AnalogConv2d, AnalogLinear

    rpu = aihwkit_rpu_config()

    def make(m: nn.Module) -> nn.Module:
        bias = m.bias is not None
        if isinstance(m, nn.Conv2d):
            return AnalogConv2d(
                m.in_channels, m.out_channels, m.kernel_size, **_conv_args(m), bias=bias,
                rpu_config=rpu,
            )  # fmt: skip
        return AnalogLinear(m.in_features, m.out_features, bias=bias, rpu_config=rpu)

    return swap_layers(ref, make)


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


def build_steps(
    network: str, x: torch.Tensor, y: torch.Tensor
) -> tuple[dict[str, Callable[[], torch.Tensor]], dict[str, str]]:
    """Every variant's checked training step on (x, y), and the reasons of those skipped."""
    torch.manual_seed(SEED)
    ref = NETWORKS[network][0]()
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
    return steps, skipped


def time_rounds(
    steps: dict[str, Callable[[], torch.Tensor]], rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per step of each variant, R rounds, every variant once a round, shuffled."""
    for step in steps.values():
        for _ in range(max(warmup, 5)):
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
    return times


def report(times: dict[str, list[float]]) -> tuple[dict, dict]:
    """Print the table; return (median step ms, median ratio to float) per variant."""
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
    return step_ms, ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(NETWORKS), default="small_cnn", help="network")
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
    shape = NETWORKS[args.model][1]
    x = torch.rand(BATCH, *shape)
    y = torch.randint(0, 10, (BATCH,))
    steps, skipped = build_steps(args.model, x, y)
    for name, why in skipped.items():
        print(f"[skipped] {name}: {why}")
    times = time_rounds(steps, rounds, args.warmup)

    print(
        f"\n{args.model}, torch {torch.__version__}, threads {torch.get_num_threads()}, CPU "
        f"{cpu_model()}, batch {BATCH}×{'×'.join(map(str, shape))}, {rounds} rounds "
        "(interleaved, shuffled order)"
    )
    step_ms, ratio = report(times)
    if args.json:
        assert all(v is None or math.isfinite(v) for v in step_ms.values())
        write_json(
            args.json,
            {
                "model": args.model,
                "input_shape": [BATCH, *shape],
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
