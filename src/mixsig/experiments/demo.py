"""The demo job (`make demo`, `mixsig demo`): does hardware-aware training pay on an ADC chain?

Owns `run_demo`: on the bundled MNIST digits (4,000 train / 1,000 test, stratified) it trains the
small CNN in float, deploys it on the analog chain (every conv/linear mixed-signal: b-bit DAC,
weights and ADC, σ LSB of noise before the ADC) and fine-tunes it hardware-aware (the noisy,
quantized forward with straight-through gradients), and reports test accuracy as mean ± std
over Monte-Carlo noise draws. Until the reproduction job lands this is the main job. The
steps are the studies' shared recipe (`mixsig.train.recipe`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mixsig.config import HardwareConfig
from mixsig.train import accuracy, mc_accuracy
from mixsig.train.recipe import deploy, float_start, train_aware


@dataclass
class DemoRow:
    setting: str
    float_digital: float
    float_on_chain: tuple[float, float]
    hardware_aware: tuple[float, float]


def _hardware(bits: int, sigma_lsb: float) -> HardwareConfig:
    return HardwareConfig.model_validate(
        {
            "dac": {"bits": bits},
            "weights": {"bits": bits},
            "adc": {"bits": bits},
            "noise": {"sigma_lsb": sigma_lsb},
        }
    )


def run_demo(
    settings: tuple[tuple[int, float], ...] = ((4, 0.5), (3, 1.0)),
    *,
    float_epochs: int = 4,
    aware_epochs: int = 2,
    draws: int = 10,
    seed: int = 0,
    progress: bool = True,
    echo=print,
) -> list[DemoRow]:
    t0 = time.perf_counter()
    start = float_start(
        seed, epochs=float_epochs, progress=progress, desc="float training", echo=echo
    )
    data, net = start.data, start.net
    acc_float = accuracy(net, data.x_test, data.y_test)
    echo(f"float network, digital: test accuracy {acc_float:.4f}")
    rows = []
    for bits, sigma in settings:
        deployed = deploy(start, _hardware(bits, sigma))
        on_chain = mc_accuracy(deployed, data.x_test, data.y_test, draws=draws, seed=seed)
        aware = train_aware(
            start,
            deployed,
            epochs=aware_epochs,
            progress=progress,
            desc=f"hardware-aware {bits}b/{sigma}LSB",
        )
        hw_acc = mc_accuracy(aware, data.x_test, data.y_test, draws=draws, seed=seed)
        rows.append(
            DemoRow(f"{bits}-bit DAC/weights/ADC, {sigma} LSB noise", acc_float, on_chain, hw_acc)
        )
    echo("")
    echo(f"test accuracy, mean ± std over {draws} noise draws:")
    echo(f"{'analog chain':<40} {'float-trained':>16} {'hardware-aware':>16}")
    for r in rows:
        echo(
            f"{r.setting:<40} {r.float_on_chain[0]:>9.4f} ± {r.float_on_chain[1]:.4f}"
            f" {r.hardware_aware[0]:>9.4f} ± {r.hardware_aware[1]:.4f}"
        )
    echo(f"(float network, digital: {acc_float:.4f}; {time.perf_counter() - t0:.0f} s)")
    return rows
