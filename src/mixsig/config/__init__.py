"""Configuration schemas (pydantic v2) side by side — the hardware description (what the analog
chain of a mixed-signal layer is, `hardware`), the run config (`run`: `TrainConfig`, with the
methods it names defined in `methods`) and the sweep spec (`sweep`: `SweepConfig`) — and the one
YAML reader of mixsig (`read_yaml`)."""

from mixsig.config.hardware import (
    ADCConfig,
    DistortionConfig,
    GainConfig,
    HardwareConfig,
    NoiseConfig,
    QuantizerConfig,
    WeightConfig,
    with_absolute_paths,
)
from mixsig.config.io import (
    ConfigError,
    load_yaml,
    read_yaml,
    read_yaml_mapping,
    save_yaml,
    validate,
)
from mixsig.config.sweep import SweepConfig

__all__ = [
    "ADCConfig",
    "ConfigError",
    "DistortionConfig",
    "GainConfig",
    "HardwareConfig",
    "NoiseConfig",
    "QuantizerConfig",
    "SweepConfig",
    "WeightConfig",
    "load_yaml",
    "read_yaml",
    "read_yaml_mapping",
    "save_yaml",
    "validate",
    "with_absolute_paths",
]
