"""Make the README figure: test accuracy vs test noise (LSB) on the bundled MNIST digits,
float-trained vs hardware-aware, 4-bit and 3-bit chains (mean ± std over Monte-Carlo draws).

    .venv/bin/python docs/make_figure.py          # writes docs/accuracy_vs_noise.png (~2 min)
"""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import mixsig  # noqa: E402
from mixsig.data import bundled_mnist  # noqa: E402
from mixsig.models import small_cnn  # noqa: E402
from mixsig.signal import set_sigma_lsb  # noqa: E402
from mixsig.train import accuracy, fit, mc_accuracy  # noqa: E402

SIGMAS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
DRAWS = 10


def main(out: Path = Path(__file__).with_name("accuracy_vs_noise.png")) -> None:
    torch.manual_seed(0)
    data = bundled_mnist(seed=0)
    net = small_cnn(28, batchnorm=True)
    fit(net, data.x_train, data.y_train, epochs=4, lr=3e-3, seed=0)
    acc_float = accuracy(net, data.x_test, data.y_test)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, bits in zip(axes, (4, 3)):
        for label, sigma_train, style in (
            ("float-trained", None, "o--"),
            ("hardware-aware, σ_train = 0.5", 0.5, "s-"),
            ("hardware-aware, σ_train = 1.0", 1.0, "^-"),
        ):
            hw = mixsig.HardwareConfig.model_validate(
                {
                    "dac": {"bits": bits},
                    "weights": {"bits": bits},
                    "adc": {"bits": bits},
                    "noise": {"sigma_lsb": sigma_train or 0.0},
                }
            )
            model = mixsig.convert(copy.deepcopy(net), hw)
            mixsig.calibrate(model, [data.x_train[i : i + 500] for i in range(0, 2000, 500)])
            if sigma_train is not None:
                fit(model, data.x_train, data.y_train, epochs=2, lr=1e-3, seed=1)
            means, stds = [], []
            for s in SIGMAS:
                set_sigma_lsb(model, s)
                m, sd = mc_accuracy(model, data.x_test, data.y_test, draws=DRAWS)
                means.append(m)
                stds.append(sd)
            ax.errorbar(SIGMAS, means, yerr=stds, fmt=style, capsize=2, label=label, ms=4)
        ax.axhline(acc_float, color="grey", lw=0.8, ls=":", label="float network, digital")
        ax.set_title(f"{bits}-bit DAC, weights and ADC")
        ax.set_xlabel("test noise σ (LSB of the ADC)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"test accuracy (mean ± std, {DRAWS} draws)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Small CNN on the bundled MNIST digits (1,000 test images)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
