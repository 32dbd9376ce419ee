"""A minimal, seeded training loop and accuracy under the analog chain.

Owns `fit` (SGD/Adam epochs over tensors, with a tqdm progress bar) and `accuracy`
(`evaluate` over Monte-Carlo noise draws). The full method of design §4 — calibration,
noise ramps, baselines, checkpoints — builds on these in `mixsig.train`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mixsig.data import to_input
from mixsig.eval import evaluate
from mixsig.nn import model_device
from mixsig.train.step_guard import check_learned_steps


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    weight_decay: float = 0.0,
    progress: bool = False,
    desc: str = "train",
) -> nn.Module:
    """Train ``model`` with Adam and cross-entropy for ``epochs`` passes over (x, y)."""
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    g = torch.Generator().manual_seed(seed)
    check_learned_steps(model, lr)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, max(1, epochs * -(-len(x) // batch_size))
    )
    model.train()
    device = model_device(model)
    bar = tqdm(
        total=epochs * -(-len(x) // batch_size), desc=desc, disable=not progress, leave=False
    )
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            xb, yb = to_input(x[idx], device), y[idx].to(device)
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 500) -> float:
    """Fraction of correct top-1 predictions of ``model`` (in eval mode) on (x, y)."""
    model.eval()
    device = model_device(model)
    correct = 0
    for i in range(0, len(x), batch_size):
        pred = model(to_input(x[i : i + batch_size], device)).argmax(1).cpu()
        correct += int((pred == y[i : i + batch_size]).sum())
    return correct / len(x)


def mc_accuracy(
    model: nn.Module, x: Tensor, y: Tensor, *, draws: int = 5, seed: int = 0
) -> tuple[float, float]:
    """Mean and std of the accuracy over ``draws`` noise draws (`mixsig.eval.evaluate`)."""
    r = evaluate(model, x, y, draws=draws, seed=seed)
    return r.mean, r.std
