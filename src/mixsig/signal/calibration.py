"""Calibrating quantizer ranges from data: `calibrate` and the `observing` context.

Owns the protocol by which any module in a model takes part in range calibration: a module
with ``start_observing()`` and ``finish_observing()`` methods (the quantizers and analog chains
of `mixsig.signal`) watches the signal during the calibration forward passes (passing it through
unquantized and noise-free) and sets its range when calibration ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


def _observers(model: nn.Module) -> list[nn.Module]:
    return [
        m
        for m in model.modules()
        if callable(getattr(m, "start_observing", None))
        and callable(getattr(m, "finish_observing", None))
    ]


@contextmanager
def observing(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, forward passes collect range statistics; ranges are set on exit."""
    mods = _observers(model)
    for m in mods:
        m.start_observing()
    try:
        yield model
    except BaseException:
        for m in mods:
            for q in m.modules():
                if hasattr(q, "observing"):
                    q.observing = False
        raise
    for m in mods:  # parents come before their children: chains set their ADC, then sync
        m.finish_observing()


def calibrate(
    model: nn.Module, batches: Iterable[Tensor | tuple | list], *, max_batches: int | None = None
) -> nn.Module:
    """Set every calibrated/learned range in ``model`` from forward passes over ``batches``.

    ``batches``: tensors, or (inputs, targets) pairs as a DataLoader yields them. The model is
    run in eval mode (batch-norm statistics untouched) without gradients, then restored.
    """
    was_training = model.training
    model.eval()
    seen = 0
    try:
        with torch.no_grad(), observing(model):
            for batch in batches:
                if max_batches is not None and seen >= max_batches:
                    break
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x)
                seen += 1
            if seen == 0:
                raise ValueError("calibrate needs at least one batch, got none")
    finally:
        model.train(was_training)
    return model
