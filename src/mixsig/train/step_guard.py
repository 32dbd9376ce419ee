"""A warning for a learned quantizer step that Adam would overrun.

Adam moves every parameter by about its learning rate per step, in the parameter's own units.
A learned ADC step Δ (LSQ, ``range: learned``) is in the signal's units: where the analog signal
is small — a camera's intensities, ~1e-4 per step at 8 bits — the first updates change Δ many
times over and the network falls to chance (measured: Δ 1e-4 → 2.5e-3 within 100 steps at
lr 3e-3 on the optical CNN). `check_learned_steps` warns, before training, for each calibrated
learned step below ``RATIO`` × lr, and says what to use instead.
"""

from __future__ import annotations

import warnings

from torch import nn

from mixsig.signal.quantizer import UniformQuantizer

#: a learned step below this many learning rates is warned about (Adam's first steps would
#: change it by more than 1/RATIO = 10 %)
RATIO = 10.0


def check_learned_steps(model: nn.Module, lr: float) -> list[str]:
    """Warn (UserWarning) for every calibrated quantizer of ``model`` whose learned step Δ is
    below `RATIO` × ``lr``; returns the names of those quantizers."""
    small = []
    for name, q in model.named_modules():
        if not isinstance(q, UniformQuantizer) or q.range_mode != "learned":
            continue
        if not q._is_calibrated:
            continue
        step = float(q.step.detach())
        if step < RATIO * lr:
            small.append(name)
            warnings.warn(
                f"{name or type(q).__name__}: the learned step Δ = {step:.3g} (signal units) is "
                f"below {RATIO:g} × the learning rate {lr:g}; Adam moves it by about the "
                "learning rate per step and can send the network to chance. Use range: "
                "calibrated, or range: calibrated with a learned analog gain (log "
                "parameterised), or scale the signal up",
                UserWarning,
                stacklevel=2,
            )
    return small


__all__ = ["RATIO", "check_learned_steps"]
