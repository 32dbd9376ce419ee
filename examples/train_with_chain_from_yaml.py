"""Train on a hardware chain read from YAML, through the public API.

`mixsig.load_hardware` reads a hardware config (safe YAML loader; errors name the file and the
field): by default the chain written out below (`CHAIN_YAML`: a crossbar with per-channel
4-bit weights programmed with 2 % error, a compressive read-out randomised ±20 % in training,
0.5 LSB of read noise, a signed 4-bit ADC), or any file given with ``--hardware`` (e.g.
`configs/crossbar_3bit_noisy.yaml`). The small CNN is pre-trained in float on scikit-learn's
8×8 digits, converted to that chain, calibrated, and trained a few steps with a plain PyTorch
loop whose forward pass is the chain (straight-through gradients).

    .venv/bin/python examples/train_with_chain_from_yaml.py
    .venv/bin/python examples/train_with_chain_from_yaml.py --steps 200 \
        --hardware configs/crossbar_3bit_noisy.yaml
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch import nn

import mixsig
from mixsig.data import bundled_digits
from mixsig.models import small_cnn
from mixsig.train import fit, mc_accuracy

CHAIN_YAML = """\
dac: {bits: 4, range: calibrated}
weights: {bits: 4, granularity: per_channel, mismatch_rel_std: 0.02}
distortion:
  - {kind: soft_saturation, a: 0.1, randomize: 0.2}
noise: {sigma_lsb: 0.5}
adc: {bits: 4, signed: true, range: calibrated}
"""


def load_chain(path: Path | None) -> mixsig.HardwareConfig:
    """The chain of ``path``, or of `CHAIN_YAML` (written to a temporary file, read back)."""
    if path is not None:
        return mixsig.load_hardware(path)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "chain.yaml").write_text(CHAIN_YAML)
        return mixsig.load_hardware(Path(tmp) / "chain.yaml")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hardware", type=Path, help="a hardware YAML (default: CHAIN_YAML)")
    ap.add_argument("--steps", type=int, default=40, help="hardware-aware steps (default 40)")
    args = ap.parse_args(argv)

    hw = load_chain(args.hardware)
    print(
        f"chain from {args.hardware or 'CHAIN_YAML'}: {hw.dac.bits}-bit DAC, "
        f"{hw.weights.bits}-bit weights, {hw.adc.bits}-bit ADC, noise {hw.noise.sigma_lsb} LSB, "
        f"{len(hw.distortion)} distortion(s)"
    )

    torch.manual_seed(0)
    data = bundled_digits()
    net = small_cnn(8, kernel_size=3, padding=1, batchnorm=True, channels=(16, 32))
    fit(net, data.x_train, data.y_train, epochs=3, lr=3e-3)  # float pre-training
    model = mixsig.convert(net, hw)
    mixsig.calibrate(model, [data.x_train[:512]])
    before = mc_accuracy(model, data.x_test, data.y_test, draws=5)

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(data.x_train), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == args.steps:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    after = mc_accuracy(model, data.x_test, data.y_test, draws=5)
    print(
        f"accuracy on the chain: {before[0]:.4f} ± {before[1]:.4f} before, "
        f"{after[0]:.4f} ± {after[1]:.4f} after {args.steps} steps"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
