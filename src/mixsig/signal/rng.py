"""Random state of a model's analog chain: collect, restore and reseed it.

Owns the list of where randomness lives in a mixed-signal model, so that checkpoints resume
bit for bit and Monte-Carlo evaluations are reproducible:

* torch's global CPU generator (noise modules without a seed draw from it);
* the generator of every seeded noise module (`GaussianNoise`, `ShotNoise`, `NoiseFloor`) and
  of every seeded distortion (randomisation, lazily drawn fixed patterns);
* the training noise pool of every `GaussianNoise` (its values and refresh position).

States are plain tensors keyed by module name, ready for a safetensors file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from mixsig.signal.distortion.base import Distortion
from mixsig.signal.noise import GaussianNoise, _Seeded

GLOBAL_KEY = "torch.cpu"


def _generators(model: nn.Module) -> dict[str, torch.Generator]:
    gens: dict[str, torch.Generator] = {}
    for name, m in model.named_modules():
        if isinstance(m, _Seeded) and m.seed is not None and m._generator is not None:
            gens[f"{name}.generator"] = m._generator
        elif isinstance(m, Distortion) and m.generator is not None:
            gens[f"{name}.generator"] = m.generator
    return gens


def collect_rng_state(model: nn.Module) -> dict[str, Tensor]:
    """Every random state of ``model`` (and torch's global CPU RNG) as named tensors."""
    state = {GLOBAL_KEY: torch.get_rng_state()}
    for key, g in _generators(model).items():
        state[key] = g.get_state()
    for name, m in model.named_modules():
        if isinstance(m, GaussianNoise) and m._pool is not None:
            state[f"{name}.pool"] = m._pool.detach().cpu().clone()
            state[f"{name}.pool_refresh_at"] = torch.tensor([m._refresh_at], dtype=torch.int64)
    return state


def restore_rng_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Put back what `collect_rng_state` took (generators are created where needed)."""
    torch.set_rng_state(state[GLOBAL_KEY])
    for name, m in model.named_modules():
        key = f"{name}.generator"
        if key in state:
            if isinstance(m, _Seeded):
                # noise generators are created per device on first use; the CPU one here
                m.generator(torch.device("cpu")).set_state(state[key])
            elif isinstance(m, Distortion) and m.generator is not None:
                m.generator.set_state(state[key])
        if isinstance(m, GaussianNoise):
            pool = state.get(f"{name}.pool")
            m._pool = None if pool is None else pool.clone()
            at = state.get(f"{name}.pool_refresh_at")
            m._refresh_at = 0 if at is None else int(at[0])


def reseed_noise(model: nn.Module, seed: int) -> None:
    """Start every seeded noise module of ``model`` on a new stream derived from ``seed``
    (module i gets seed·1000003 + i) and seed torch's global RNG with ``seed`` — for the
    independent, reproducible draws of a Monte-Carlo evaluation."""
    torch.manual_seed(seed)
    i = 0
    for m in model.modules():
        if isinstance(m, _Seeded) and m.seed is not None:
            m.reseed(seed * 1000003 + i)
            i += 1


@contextmanager
def noise_stream(model: nn.Module, seed: int) -> Iterator[None]:
    """Within the block the model's noise follows ``seed`` (see `reseed_noise`); afterwards
    every random state and seed is as before, so an evaluation does not perturb training."""
    saved = collect_rng_state(model)
    seeds = [(m, m.seed) for m in model.modules() if isinstance(m, _Seeded)]
    reseed_noise(model, seed)
    try:
        yield
    finally:
        for m, s in seeds:
            m.reseed(s)
        restore_rng_state(model, saved)
