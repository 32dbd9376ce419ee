"""Monte-Carlo evaluation: accuracy over many noise draws, mean ± std, at several noise levels.

The analog chain adds fresh random read noise at every conversion, so one test pass gives one
sample of the accuracy. `mixsig.eval.evaluate` repeats the test set over ``draws`` independent
noise draws (seeded: the same seed gives the same draws) and reports each draw's accuracy
(``accuracies``), their mean and sample standard deviation (``mean``, ``std``);
here at test noise σ_test = 0, 0.5, 1 and 2 LSB of the ADC, for the small CNN trained in
float on scikit-learn's 8×8 digits and then 2 epochs on the chain (4-bit DAC, weights, ADC).

    .venv/bin/python examples/monte_carlo_eval.py
    .venv/bin/python examples/monte_carlo_eval.py --draws 100
"""

from __future__ import annotations

import argparse

import torch

import mixsig
from mixsig.data import bundled_digits
from mixsig.eval import evaluate
from mixsig.models import small_cnn
from mixsig.train import fit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=20, help="noise draws per level (default 20)")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    data = bundled_digits()
    net = small_cnn(8, kernel_size=3, padding=1, batchnorm=True, channels=(16, 32))
    fit(net, data.x_train, data.y_train, epochs=3, lr=3e-3)
    model = mixsig.convert(net, mixsig.HardwareConfig())  # 0.5 LSB of noise in training
    mixsig.calibrate(model, [data.x_train[:512]])
    fit(model, data.x_train, data.y_train, epochs=2, lr=1e-3)

    print(f"{len(data.y_test)} test images, {args.draws} noise draws per level")
    print(f"{'σ_test (LSB)':>12}  {'mean ± std':>17}  {'min':>6}  {'max':>6}")
    for sigma in (0.0, 0.5, 1.0, 2.0):
        r = evaluate(model, data.x_test, data.y_test, sigma_lsb=sigma, draws=args.draws, seed=0)
        print(
            f"{sigma:>12.1f}  {r.mean:.4f} ± {r.std:.4f}  "
            f"{min(r.accuracies):.4f}  {max(r.accuracies):.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
