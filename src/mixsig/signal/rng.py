"""Random state of a model's analog chain: collect, restore and reseed it.

Owns the list of where randomness lives in a mixed-signal model, so that checkpoints resume
bit for bit and Monte-Carlo evaluations are reproducible:

* torch's global CPU generator and, once CUDA is in use, every CUDA device's global generator
  (noise modules without a seed draw from the generator of their device);
* the generator of every seeded noise module (`GaussianNoise`, `ShotNoise`, `NoiseFloor`; on
  the device its values are drawn on) and of every seeded distortion (randomisation, lazily
  drawn fixed patterns: a CPU generator on every device, see `mixsig.signal.distortion.base`);
* the training noise pool of every `GaussianNoise` (its values and refresh position; the pool
  lives on the CPU, the only device that uses it).

States are plain tensors keyed by module name, ready for a safetensors file: a CPU generator
under ``<module>.generator``, a generator of another device type under
``<module>.generator.<type>`` (a CUDA generator's Philox state cannot be loaded into a CPU
generator, nor the reverse). Resumed on the same device type, every stream continues bit for
bit; resumed on another, a noise module's stream starts again from its seed (the weights, the
optimizer and everything else carry over exactly).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from mixsig.signal.distortion.base import Distortion
from mixsig.signal.noise import GaussianNoise, _Seeded

GLOBAL_KEY = "torch.cpu"
CUDA_KEY = "torch.cuda:{}"


def _generators(model: nn.Module) -> dict[str, torch.Generator]:
    gens: dict[str, torch.Generator] = {}
    for name, m in model.named_modules():
        if isinstance(m, _Seeded) and m.seed is not None and m._generator is not None:
            gens[_generator_key(name, m._generator.device)] = m._generator
        elif isinstance(m, Distortion) and m.generator is not None:
            gens[f"{name}.generator"] = m.generator
    return gens


def _generator_key(name: str, device: torch.device) -> str:
    return f"{name}.generator" if device.type == "cpu" else f"{name}.generator.{device.type}"


def _cuda_in_use() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def collect_rng_state(model: nn.Module) -> dict[str, Tensor]:
    """Every random state of ``model`` and torch's global generators as named tensors."""
    state = {GLOBAL_KEY: torch.get_rng_state()}
    if _cuda_in_use():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            state[CUDA_KEY.format(i)] = s
    for key, g in _generators(model).items():
        state[key] = g.get_state()
    for name, m in model.named_modules():
        if isinstance(m, GaussianNoise) and m._pool is not None:
            state[f"{name}.pool"] = m._pool.detach().cpu().clone()
            state[f"{name}.pool_refresh_at"] = torch.tensor([m._refresh_at], dtype=torch.int64)
    return state


def restore_rng_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Put back what `collect_rng_state` took (generators are created where needed). States of
    a device type this process does not use are left out: those streams start from their
    seeds (module docstring)."""
    torch.set_rng_state(state[GLOBAL_KEY])
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if CUDA_KEY.format(i) in state:
                torch.cuda.set_rng_state(state[CUDA_KEY.format(i)], i)
    for name, m in model.named_modules():
        if isinstance(m, _Seeded):
            _restore_noise_generator(m, name, state)
        elif isinstance(m, Distortion) and m.generator is not None:
            key = f"{name}.generator"
            if key in state:
                m.generator.set_state(state[key])
        if isinstance(m, GaussianNoise):
            pool = state.get(f"{name}.pool")
            m._pool = None if pool is None else pool.clone()
            at = state.get(f"{name}.pool_refresh_at")
            m._refresh_at = 0 if at is None else int(at[0])


def _restore_noise_generator(m: _Seeded, name: str, state: dict[str, Tensor]) -> None:
    """The generator of a seeded noise module, on the device type it was saved from."""
    if f"{name}.generator" in state:
        m.generator(torch.device("cpu")).set_state(state[f"{name}.generator"])
    cuda = state.get(f"{name}.generator.cuda")
    if cuda is not None and torch.cuda.is_available():
        m.generator(torch.device("cuda", torch.cuda.current_device())).set_state(cuda)


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
