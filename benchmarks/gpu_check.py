"""The GPU check: mixsig on a CUDA device against the CPU, and its cost there, in one run.

Checks (each prints PASS/FAIL with its numbers; the exit status is 1 if any fails):

1. forward: a converted small CNN (4-bit ADC, differential weights, gamma, PRNU, crosstalk)
   with noise off gives the same ADC levels on the device as on the CPU (all but a fraction
   ``--level-tolerance`` of the outputs: float order of operations differs near a decision level);
2. training step: the same step (ADC and 0.5 LSB noise off, so it is deterministic) gives the
   same gradients on both (relative L2 error ≤ 1e-3);
3. Monte-Carlo evaluation at 0.5 LSB: the mean accuracies over ``--draws`` draws on the device
   and on the CPU (independent noise streams) agree within 4 standard errors;
4. a run trained on the device (``device`` in its config, tiny bundled digits) resumes and
   evaluates on the CPU from its checkpoint (saved on one device, loaded on another);
5. randomised and seeded distortions, shot noise and the Gaussian noise draw on the device
   (no tensor of the chain left on the CPU: the forward runs under
   ``torch.cuda.set_sync_debug_mode("error")``, so a host read in the forward fails the check).

Then the ratios to float on the device: a training step of method P (4-bit ADC, 0.5 LSB, exact
noise) over the float step, for the small CNN at batch 128 and, when mixsig has it, ResNet-20
at batch 128 on 3×32×32; and aihwkit-lightning's step where it is installed.

Run it whenever a GPU is available and put its figures in the README:

    python benchmarks/gpu_check.py --json gpu_check.json

``--device cpu --quick`` runs the same checks CPU against CPU (the test suite does, so the script
stays runnable where no GPU is).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import cpu_model, write_json  # noqa: E402

import mixsig  # noqa: E402
from mixsig.config.device import resolve_device  # noqa: E402
from mixsig.config.hardware import HardwareConfig  # noqa: E402
from mixsig.eval import evaluate  # noqa: E402
from mixsig.models import MODELS, build_model  # noqa: E402
from mixsig.nn import to_device  # noqa: E402
from mixsig.signal import AnalogChain, set_output_quantization, set_sigma_lsb  # noqa: E402

HW = {
    "weights": {"realisation": "differential"},
    "distortion": [
        {"kind": "gamma", "gamma": 0.8, "randomize": 0.05, "seed": 1},
        {"kind": "gain_offset", "gain_std": 0.05, "seed": 2},
        {"kind": "crosstalk", "strength": 0.1},
    ],
    "noise": {"sigma_lsb": 0.5, "shot_electrons_per_unit": 2000.0},
}


def _twins(device: torch.device) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """The same calibrated mixed-signal CNN on the CPU and on ``device``, and a batch."""
    torch.manual_seed(0)
    cpu = mixsig.convert(
        build_model("small_cnn", (1, 28, 28), 10, batchnorm=True), HardwareConfig.model_validate(HW)
    )
    x = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    mixsig.calibrate(cpu, [x[:128]])
    cpu.eval()
    cpu(x[:2])  # draw the fixed patterns on the CPU, so that both twins hold the same maps
    twin = mixsig.convert(
        build_model("small_cnn", (1, 28, 28), 10, batchnorm=True), HardwareConfig.model_validate(HW)
    )
    twin.load_state_dict(cpu.state_dict())
    return cpu, to_device(twin, device).eval(), x


def _deterministic(m: nn.Module) -> None:
    """No read noise, no shot noise, no randomised distortion: one forward, one answer."""
    set_sigma_lsb(m, 0.0)
    for mod in m.modules():
        if hasattr(mod, "randomize"):
            mod.randomize = 0.0
        if isinstance(mod, AnalogChain):
            mod.shot = None


def check_forward(device: torch.device, tolerance: float) -> dict:
    cpu, dev, x = _twins(device)
    for m in (cpu, dev):
        _deterministic(m)
    with torch.no_grad():
        a, b = cpu(x), dev(x.to(device)).cpu()
    differ = float((a.argmax(1) != b.argmax(1)).float().mean())
    err = float((a - b).abs().max())
    return {"check": "forward", "ok": differ <= tolerance, "argmax_differ": differ, "max_abs": err}


def check_training_step(device: torch.device) -> dict:
    cpu, dev, x = _twins(device)
    y = torch.arange(len(x)) % 10
    grads = []
    for m, xs, ys in ((cpu, x, y), (dev, x.to(device), y.to(device))):
        m.train()
        set_output_quantization(m, False)
        _deterministic(m)
        m.zero_grad()
        nn.functional.cross_entropy(m(xs), ys).backward()
        grads.append(torch.cat([p.grad.reshape(-1).cpu() for p in m.parameters()]))
    rel = float((grads[0] - grads[1]).norm() / grads[0].norm())
    return {"check": "training step", "ok": rel <= 1e-3, "grad_rel_l2": rel}


def check_monte_carlo(device: torch.device, draws: int) -> dict:
    cpu, dev, x = _twins(device)
    set_sigma_lsb(cpu, 0.0)  # labels: the noise-free network's, so accuracy measures the noise
    with torch.no_grad():
        y = cpu(x).argmax(1)
    r_cpu = evaluate(cpu, x, y, sigma_lsb=0.5, draws=draws, seed=0)
    r_dev = evaluate(dev, x, y, sigma_lsb=0.5, draws=draws, seed=0)
    se = math.sqrt((r_cpu.std**2 + r_dev.std**2) / draws) or 1e-9
    z = abs(r_cpu.mean - r_dev.mean) / se
    return {"check": "monte carlo", "ok": z <= 4.0, "cpu": r_cpu.mean, "device": r_dev.mean, "z": z}


def check_cross_device_run(device: torch.device) -> dict:
    from mixsig.train import TrainConfig, load_trained, run_training

    cfg = TrainConfig.model_validate(
        {
            "name": "gpu-check",
            "data": {"name": "bundled-digits", "limit_train": 256, "limit_test": 128},
            "pretrain": {"epochs": 1, "lr": 0.003},
            "aware": {"epochs": 1, "lr": 0.001},
            "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
            "device": str(device),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        res = run_training(cfg, Path(tmp) / "run", progress=False, echo=lambda s: None)
        model, _, data = load_trained(Path(tmp) / "run", device="cpu")
        on_cpu = evaluate(model, data.x_test, data.y_test, sigma_lsb=0.5, draws=2, seed=0)
    trained = res["results"][0]["mean"]
    ok = abs(on_cpu.mean - trained) <= 0.1 and {p.device.type for p in model.parameters()} == {
        "cpu"
    }
    return {"check": "cross-device run", "ok": ok, "device_acc": trained, "cpu_acc": on_cpu.mean}


def check_no_host_sync(device: torch.device) -> dict:
    if device.type != "cuda":
        return {"check": "no host sync", "ok": True, "skipped": "not a CUDA device"}
    _, dev, x = _twins(device)
    xb = x[:64].to(device)
    dev.train()
    dev(xb)  # pools, generators and caches on first use
    torch.cuda.synchronize()
    try:
        torch.cuda.set_sync_debug_mode("error")
        dev(xb).sum().backward()
        ok, why = True, ""
    except RuntimeError as err:
        ok, why = False, str(err).splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return {"check": "no host sync", "ok": ok, "error": why}


def _step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rounds: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    times = []
    for i in range(rounds + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ratio(name: str, shape: tuple[int, int, int], device: torch.device, rounds: int) -> dict:
    """Method P's training step over the float step, on ``device``."""
    torch.manual_seed(0)
    x = torch.rand(128, *shape, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    plain = to_device(build_model(name, shape, 10, batchnorm=True), device).train()
    hw = HardwareConfig.model_validate({"noise": {"sigma_lsb": 0.5, "source": "exact"}})
    mixed = mixsig.convert(build_model(name, shape, 10, batchnorm=True), hw)
    mixed = to_device(mixed, device)
    mixsig.calibrate(mixed, [x])
    mixed.train()
    t_float = _step_time(plain, x, y, rounds)
    t_mixed = _step_time(mixed, x, y, rounds)
    return {
        "model": name,
        "float_ms": 1e3 * t_float,
        "P_ms": 1e3 * t_mixed,
        "ratio": t_mixed / t_float,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="the device to check against the CPU")
    ap.add_argument("--quick", action="store_true", help="fewer draws and rounds (the tests)")
    ap.add_argument("--level-tolerance", type=float, default=0.01)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    draws, rounds = (4, 2) if args.quick else (20, 20)
    checks = [
        check_forward(device, args.level_tolerance),
        check_training_step(device),
        check_monte_carlo(device, draws),
        check_cross_device_run(device),
        check_no_host_sync(device),
    ]
    for c in checks:
        print(("PASS " if c["ok"] else "FAIL ") + ", ".join(f"{k}={v}" for k, v in c.items()))
    models = [("small_cnn", (1, 28, 28))]
    if "resnet20" in MODELS:
        models.append(("resnet20", (3, 32, 32)))
    ratios = [] if args.quick else [ratio(n, s, device, rounds) for n, s in models]
    for r in ratios:
        ms = f"P step {r['P_ms']:.2f} ms / float {r['float_ms']:.2f} ms"
        print(f"{r['model']}: {ms} = {r['ratio']:.2f}x")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    result = {"device": name, "torch": torch.__version__, "checks": checks, "ratios": ratios}
    if args.json:
        write_json(args.json, result)
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
