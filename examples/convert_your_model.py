"""Convert a network of your own to mixed-signal layers, calibrate it, evaluate it under noise.

Plain PyTorch (no torchvision): a small CNN written here is trained in float on scikit-learn's
8×8 digits (bundled, no download), then `mixsig.convert` swaps its Conv2d/Linear layers for
their mixed-signal twins (4-bit DAC, weights and ADC, 0.5 LSB of read noise), `mixsig.calibrate`
sets the converter ranges from a few batches, a short hardware-aware fine-tune follows, and the
accuracy is measured over Monte-Carlo noise draws before and after it.

    .venv/bin/python examples/convert_your_model.py            # ~5 s on a 2-core CPU
    .venv/bin/python examples/convert_your_model.py --epochs 10
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import mixsig
from mixsig.data import bundled_digits
from mixsig.train import accuracy, fit, mc_accuracy


class MyNet(nn.Module):
    """Any nn.Module: mixsig converts its exact nn.Conv2d / nn.Linear layers, wherever they
    sit; everything else (BN, ReLU, pooling, the residual add) stays digital."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Linear(32 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=4, help="float epochs (default 4)")
    ap.add_argument("--draws", type=int, default=10, help="noise draws per evaluation")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    data = bundled_digits()
    net = MyNet()
    fit(net, data.x_train, data.y_train, epochs=args.epochs, lr=3e-3)
    print(f"float accuracy: {accuracy(net, data.x_test, data.y_test):.4f}")

    hw = mixsig.HardwareConfig()  # 4-bit DAC, weights and ADC, 0.5 LSB of noise
    model = mixsig.convert(net, hw, strict=True)  # strict: refuse layers it cannot convert
    n_mixed = sum(isinstance(m, (mixsig.MixedConv2d, mixsig.MixedLinear)) for m in model.modules())
    print(f"converted {n_mixed} layers to the hardware chain")
    mixsig.calibrate(model, [data.x_train[i : i + 256] for i in range(0, 1024, 256)])
    mean, std = mc_accuracy(model, data.x_test, data.y_test, draws=args.draws)
    print(f"on the chain, float-trained: {mean:.4f} ± {std:.4f} over {args.draws} draws")

    fit(model, data.x_train, data.y_train, epochs=1, lr=1e-3)  # hardware-aware: forward = chain
    mean, std = mc_accuracy(model, data.x_test, data.y_test, draws=args.draws)
    print(f"on the chain, after 1 hardware-aware epoch: {mean:.4f} ± {std:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
