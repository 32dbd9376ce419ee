"""Monte-Carlo evaluation of a mixed-signal network: accuracy over independent noise draws.

Owns `evaluate` and `MCResult`. Every draw runs the whole test set through the noisy analog
chain (evaluation mode: every noise value a fresh draw, shot noise Poisson); draws are batched —
the test set is replicated along the batch dimension in chunks — rather than looped, which is
exactly equivalent because every sample's noise is independent. For a `nn.Sequential` whose first
random part is a mixed-signal or optical layer, the deterministic part before its noise — the
input DAC and the analog MAC, or the optics — is computed once per image and shared by all
draws. A mixed-signal layer's draws are grouped per chunk of images; an optical layer
(``monte_carlo_order = "batched"``) keeps the plain batched order, so its accuracies are bitwise
those of the full forward, draw by draw. Reported: the
mean ± std of the per-draw accuracies, per-class accuracy and the confusion matrix summed over
draws.

Devices: the test set may stay on the CPU, as stored (uint8 or float); each batch goes to the
model's device and becomes an input there, the predictions stay there and come back once, at
the end.

Reproducible: the draws follow ``seed`` (`mixsig.signal.noise_stream`) for a given
``batch_size``, and the model's own random state is left as it was.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from mixsig.data.images import to_input
from mixsig.nn.placement import model_device
from mixsig.signal import GaussianNoise, NoiseFloor, ShotNoise, noise_stream, set_sigma_lsb

EQUIVALENT_PP = 0.5
EQUIVALENT_DEFINITION = (
    "equivalent accuracy: mean accuracy within 0.5 percentage points of the noise-free "
    "quantized network (the same weights and bit depth, evaluated at sigma_test = 0)"
)


@dataclass
class MCResult:
    """Accuracy of one network at one test noise level over ``draws`` noise draws."""

    sigma_lsb: float | None
    draws: int
    accuracies: list[float]
    per_class: list[float]
    confusion: list[list[int]] = field(repr=False)
    n_test: int = 0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "mean": self.mean, "std": self.std}

    def __str__(self) -> str:
        s = "—" if self.sigma_lsb is None else f"{self.sigma_lsb:g} LSB"
        return f"{self.mean:.4f} ± {self.std:.4f} ({self.draws} draws, σ_test {s})"


def is_equivalent(result: MCResult, noise_free: MCResult) -> bool:
    """The report's definition (`EQUIVALENT_DEFINITION`)."""
    return result.mean >= noise_free.mean - EQUIVALENT_PP / 100.0


def _is_random(model: nn.Module) -> bool:
    for m in model.modules():
        if isinstance(m, GaussianNoise) and m.sigma_lsb > 0:
            return True
        if isinstance(m, (ShotNoise,)) or (isinstance(m, NoiseFloor) and m.std > 0):
            return True
    return False


def _split_at_first_readout(model: nn.Module):
    """For a Sequential whose first random part sits in a layer with the `analog_result` /
    `readout` protocol (the mixed-signal and optical layers): (prefix, layer, suffix)."""
    if not isinstance(model, nn.Sequential):
        return None
    for i, m in enumerate(model):
        if callable(getattr(m, "analog_result", None)) and callable(getattr(m, "readout", None)):
            return model[:i], m, model[i + 1 :]
        if _is_random(m):
            return None
    return None


def _predict_batched(model: nn.Module, x: Tensor, runs: int, batch_size: int) -> Tensor:
    n = len(x)
    dev = model_device(model)
    preds = torch.empty(runs * n, dtype=torch.long, device=dev)
    for start in range(0, runs * n, batch_size):
        idx = torch.arange(start, min(start + batch_size, runs * n)) % n
        preds[start : start + len(idx)] = model(to_input(x[idx], dev)).argmax(1)
    return preds.view(runs, n)


#: the most memory the analog results of a whole test set may take to be kept for all draws
CACHE_BYTES = 2 << 30


def _predict_cached_prefix(prefix, layer, suffix, x: Tensor, runs: int, batch_size: int):
    """`_predict_batched`'s order of draws — the same noise values meet the same images, so the
    same predictions — with the deterministic part (everything up to the layer's analog
    result) computed once per image and kept for all draws; without the cache when the test
    set's analog results would take more than `CACHE_BYTES`."""
    n = len(x)
    dev = model_device(layer)
    first = layer.analog_result(prefix(to_input(x[:1], dev)))
    if first.element_size() * first.numel() * n > CACHE_BYTES:
        return _predict_batched(nn.Sequential(prefix, layer, suffix), x, runs, batch_size)
    analog = torch.cat(
        [
            layer.analog_result(prefix(to_input(x[i : i + batch_size], dev)))
            for i in range(0, n, batch_size)
        ]
    )
    preds = torch.empty(runs * n, dtype=torch.long, device=dev)
    for start in range(0, runs * n, batch_size):
        idx = torch.arange(start, min(start + batch_size, runs * n), device=dev) % n
        preds[start : start + len(idx)] = suffix(layer.readout(analog[idx])).argmax(1)
    return preds.view(runs, n)


def _predict_shared_prefix(prefix, layer, suffix, x: Tensor, runs: int, batch_size: int):
    """The deterministic part — everything up to the first layer's analog result — once per
    image; the readout (noise, ADC) and the rest once per draw, draws batched together."""
    n = len(x)
    dev = model_device(layer)
    preds = torch.empty(runs, n, dtype=torch.long, device=dev)
    chunk = max(1, batch_size // runs) if runs <= batch_size else 1
    group = max(1, min(runs, batch_size // chunk))
    for lo in range(0, n, chunk):
        a = layer.analog_result(prefix(to_input(x[lo : lo + chunk], dev)))
        m = len(a)
        for d0 in range(0, runs, group):
            g = min(group, runs - d0)
            out = suffix(layer.readout(a.repeat((g,) + (1,) * (a.dim() - 1))))
            preds[d0 : d0 + g, lo : lo + m] = out.argmax(1).view(g, m)
    return preds


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    sigma_lsb: float | None = None,
    draws: int = 20,
    seed: int = 0,
    batch_size: int = 256,
    num_classes: int | None = None,
) -> MCResult:
    """Accuracy of ``model`` on (x, y) over ``draws`` noise draws at ``sigma_lsb``.

    ``sigma_lsb``: the test noise (None keeps each layer's own). A network without any
    random part at that setting is evaluated once and the result repeated (its draws are
    identical). The model is left in eval mode with its noise at ``sigma_lsb``.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as inputs (> 0), got {len(x)} and {len(y)}")
    model.eval()
    if sigma_lsb is not None:
        set_sigma_lsb(model, sigma_lsb)
    k = num_classes or int(y.max()) + 1
    n = len(x)
    runs = draws if _is_random(model) else 1
    with noise_stream(model, seed):
        split = _split_at_first_readout(model)
        if split is None or runs == 1:
            preds = _predict_batched(model, x, runs, batch_size)
        elif getattr(split[1], "monte_carlo_order", None) == "batched":
            preds = _predict_cached_prefix(*split, x, runs, batch_size)
        else:
            preds = _predict_shared_prefix(*split, x, runs, batch_size)
    preds = preds.view(runs, n).cpu()  # the one host read of the predictions
    y = y.cpu()
    correct = preds == y.view(1, n)
    accs = correct.float().mean(1).tolist()
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_(
        (y.repeat(runs), preds.reshape(-1)), torch.ones(runs * n, dtype=torch.long), True
    )
    if runs < draws:
        accs = accs * draws
        confusion *= draws
    counts = confusion.sum(1).clamp_min(1)
    per_class = (confusion.diag().double() / counts).tolist()
    return MCResult(sigma_lsb, draws, accs, per_class, confusion.tolist(), n)
