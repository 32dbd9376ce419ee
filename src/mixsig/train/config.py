"""Checking a config file as ``mixsig check-config`` does: `check_config_file`.

The run config's schema is `mixsig.config.run` (re-exported here: ``from mixsig.train.config
import TrainConfig`` keeps working); this module adds what needs the chain itself — every maps
file a config names read, and every chain checked to map its input range to finite values
(`mixsig.signal.build`) — and the network's: a model factory imported and the model's
kwargs bound to its signature (`mixsig.models.factory.check_model_config`) — which the config
layer cannot do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixsig.config.hardware import HardwareConfig
from mixsig.config.io import ConfigError, load_yaml, read_yaml_mapping
from mixsig.config.methods import METHODS, Method
from mixsig.config.run import (
    KINDS,
    LOCAL_DATA,
    RUN_SEED_MAX,
    SWEEP_KEYS,
    DataConfig,
    EvalConfig,
    MethodConfig,
    ModelConfig,
    OpticalConfig,
    PhaseConfig,
    TrainConfig,
    config_kind,
    load_train_config,
)
from mixsig.models.factory import ModelFactoryError, check_model_config
from mixsig.signal.build import build_chain


def _check_chain(hw: HardwareConfig, optical: bool, where: str) -> None:
    """Build ``hw``'s chain as the model will (an optical camera reads intensities: unsigned):
    reads the maps files it names and refuses a chain that is not finite."""
    try:
        build_chain(hw, signed=False if optical else None)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _check_run(cfg: TrainConfig, base: Path, where: str) -> TrainConfig:
    """``cfg`` with its hardware loaded (relative to ``base``) and its chain checked, its model
    factory imported and the model's kwargs bound (`check_model_config`)."""
    cfg = cfg.with_resolved_hardware(base)
    _check_chain(cfg.resolved_hardware(), cfg.model.name == "optical_cnn", where)
    try:
        check_model_config(cfg.model)
    except ModelFactoryError as err:
        raise ModelFactoryError(f"{where}: {err}") from None
    return cfg


def check_config_file(
    path: str | os.PathLike,
    kind: str | None = None,
    *,
    load_sweep: Callable[[Path], tuple[Any, list]] | None = None,
) -> tuple[str, Any]:
    """Validate the config file ``path`` as ``mixsig check-config`` does: the file (UTF-8,
    YAML, unique keys, a mapping), every field (ranges, types), every maps file it names and
    its chain (`mixsig.signal.build.check_finite_chain`). ``kind``: one of `KINDS`, or None to
    tell it from the keys (`config_kind`). A sweep spec is expanded by ``load_sweep`` (pass
    `mixsig.experiments.sweep.load_sweep`; this layer cannot import it) and every run's chain
    checked.

    Returns ``(kind, config)``: a `HardwareConfig`; a `TrainConfig` with its hardware
    resolved; for a sweep, what ``load_sweep`` returned (spec, runs). Raises `ConfigError`
    (a `MixsigError`) naming the file, the run and the field."""
    path = Path(path)
    if kind is None:
        kind = config_kind(read_yaml_mapping(path), source=str(path))
    if kind == "hardware":
        hw = load_yaml(path)
        _check_chain(hw, False, str(path))
        return kind, hw
    if kind == "run":
        return kind, _check_run(load_train_config(path), path.parent, str(path))
    if kind == "sweep":
        if load_sweep is None:
            raise ConfigError(
                f"{path}: a sweep spec is expanded by mixsig.experiments.sweep.load_sweep: pass "
                "it as load_sweep"
            )
        spec, runs = load_sweep(path)
        for i, run in enumerate(runs):
            _check_run(run.config, path.parent, f"{path}, run {i} ({run.config.name})")
        return kind, (spec, runs)
    raise ConfigError(f"unknown config kind {kind!r}: use one of {', '.join(KINDS)}")


__all__ = [
    "DataConfig",
    "EvalConfig",
    "KINDS",
    "LOCAL_DATA",
    "METHODS",
    "Method",
    "MethodConfig",
    "ModelConfig",
    "OpticalConfig",
    "PhaseConfig",
    "RUN_SEED_MAX",
    "SWEEP_KEYS",
    "TrainConfig",
    "check_config_file",
    "config_kind",
    "load_train_config",
]
