"""The run config (pydantic v2): data, model, hardware, method, phases — `TrainConfig`.

Owns the schema `mixsig train CONFIG` reads, beside the hardware (`mixsig.config.hardware`) and
sweep (`mixsig.config.sweep`) schemas. The method names follow design §4; what each
method trains with and how it is deployed is defined once, in `mixsig.config.methods`
(``method.name`` is one of its `METHODS`; ``method.definition`` is that definition):

* ``P``  — the full method: float pre-training, range calibration, hardware-aware training with
  DAC/weight quantization, distortion, noise at ``sigma_train_lsb`` (ramped from 0 over the
  first ``noise_ramp`` of the epochs) and the ADC (straight-through gradients), then batch-norm
  statistics re-estimated under the noisy forward;
* ``B1`` — float-trained, deployed with a calibrated ADC range;
* ``B2`` — standard QAT: quantized DAC and weights, high-precision accumulation (no ADC, no
  noise in training);
* ``B3`` — noise injection (σ_train LSB of the calibrated ADC) without ADC rounding;
* ``B4`` — ADC-aware QAT without noise.

Every baseline is deployed on the same chain as P (``hardware``) and evaluated the same way.

Every number has a range (its field's description), integers are strict (``epochs: true`` or
``seed: 1.0e23`` are refused, not converted), a local data set needs its ``root``. Files:
`load_train_config` reads a run config (an empty file or a bare ``false`` is refused, not
trained with the defaults); `config_kind` tells a hardware config, a run config and a sweep spec
apart (`mixsig.train.config.check_config_file` validates each, its chain included).
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from mixsig.config.device import DEVICE_HELP, DEVICE_PATTERN
from mixsig.config.hardware import HardwareConfig, Int, Real, _Strict, with_absolute_paths
from mixsig.config.io import ConfigError, load_yaml
from mixsig.config.methods import METHODS, Method
from mixsig.config.optical import DEFAULT_BACK_END, LEGACY_PSF, OpticalConfig

#: data sets read from a local folder (``data.root``); the others are bundled
LOCAL_DATA = ("mnist", "fashion-mnist", "cifar10")
#: the largest run seed: the bundled splits seed numpy/scikit-learn, which take seeds < 2^32
RUN_SEED_MAX = 2**32 - 1
SigmaLSB = Annotated[Real, Field(ge=0.0, le=64.0, description="noise std in LSB, 0-64")]


class DataConfig(_Strict):
    name: Literal["bundled-mnist", "bundled-digits", "mnist", "fashion-mnist", "cifar10"] = (
        "bundled-mnist"
    )
    root: str | None = Field(
        None,
        min_length=1,
        validate_default=True,
        description="folder of a local dataset (mnist, fashion-mnist, cifar10: required)",
    )
    grayscale: bool = False
    test_fraction: Real = Field(0.2, gt=0.0, lt=1.0, description="bundled sets, in (0, 1)")
    limit_train: Int | None = Field(
        None, ge=1, le=10**9, description="first N training samples, 1-1e9"
    )
    limit_test: Int | None = Field(None, ge=1, le=10**9, description="first N test samples, 1-1e9")

    @field_validator("root")
    @classmethod
    def _root_for_local_sets(cls, v: str | None, info: ValidationInfo) -> str | None:
        name = info.data.get("name")
        if v is None and name in LOCAL_DATA:
            raise ValueError(f"data set {name!r} is read from a local folder: give its root")
        return v


#: ``model.factory``: a dotted module path, a colon, a (dotted) attribute of that module
FACTORY_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
#: what the data gives a factory (when its signature names them), never ``model.kwargs``
FACTORY_DATA_KEYWORDS = ("image_shape", "num_classes")
#: what a built-in network's builder is given besides ``model.kwargs``
BUILTIN_KEYWORDS = ("image_size", "in_channels", "num_classes", "batchnorm")


class ModelConfig(_Strict):
    """``small_cnn``, ``lenet5``, ``cifar_cnn``, ``resnet20`` and ``vgg8`` are float networks
    whose every conv/linear layer is converted to the hardware chain; ``optical_cnn`` has an
    optical front whose camera is the hardware chain and a digital rest (BN, ReLU, pooling,
    linear classifier).

    Your own network: ``factory: "package.module:function"`` (``mixsig.models.factory``),
    called as ``function(**kwargs)``, plus ``num_classes`` and ``image_shape`` = (C, H, W) from
    the data when its signature names them; it is converted, calibrated, trained, checkpointed
    and rebuilt on resume exactly like a built-in. With a factory, ``name`` is ``factory``
    (leave it out or write it; a built-in's name beside a factory is refused), ``batchnorm``
    and ``optical`` do not apply (pass the factory's own options in ``kwargs``). ``kwargs``
    also go to a built-in's builder (``resnet20``: ``shortcut``; ``cifar_cnn``, ``vgg8``:
    ``width``), not to ``optical_cnn`` (its options are ``optical``). Unused, ``factory`` and
    ``kwargs`` are left out of the config's dump (run keys and checkpoints stay as they were).
    """

    name: Literal[
        "small_cnn", "lenet5", "cifar_cnn", "resnet20", "vgg8", "optical_cnn", "factory"
    ] = "small_cnn"
    batchnorm: bool = True
    optical: OpticalConfig = Field(default_factory=OpticalConfig)
    factory: str | None = Field(
        None,
        description="your network: 'package.module:function' (importable: installed, on "
        "PYTHONPATH or under the working directory); name is then 'factory'",
    )
    kwargs: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="keyword arguments of the factory or built-in builder (JSON-like values)",
    )

    @model_validator(mode="before")
    @classmethod
    def _a_factory_is_named_factory(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("factory") is not None:
            name = data.get("name", "factory")
            if name != "factory":
                raise ValueError(
                    f"give either name (a built-in network, here {name!r}) or factory "
                    f"({data['factory']!r}), not both: with a factory, name is 'factory' or "
                    "left out"
                )
            data = {**data, "name": "factory"}
        return data

    @field_validator("factory")
    @classmethod
    def _factory_spec(cls, v: str | None) -> str | None:
        if v is not None and not re.match(FACTORY_PATTERN, v):
            raise ValueError(
                f"must be 'package.module:function' (a dotted module path, a colon, a function "
                f"of that module), got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _fields_fit_the_network(self) -> ModelConfig:
        if self.name == "factory" and self.factory is None:
            raise ValueError("name 'factory' needs factory: 'package.module:function'")
        bad = [k for k in self.kwargs if not k.isidentifier() or keyword.iskeyword(k)]
        if bad:
            raise ValueError(f"kwargs keys must be Python identifiers, got {bad}")
        if self.factory is not None:
            if not self.batchnorm or self.optical != OpticalConfig():
                raise ValueError(
                    f"batchnorm and optical apply to the built-in networks, not to the factory "
                    f"{self.factory!r}: pass its own options in kwargs"
                )
            reserved = FACTORY_DATA_KEYWORDS
        elif self.name == "optical_cnn":
            reserved = tuple(self.kwargs)  # its options are ``optical``
        else:
            reserved = BUILTIN_KEYWORDS + ("image_shape",)
        given = sorted(set(self.kwargs) & set(reserved))
        if given:
            raise ValueError(
                f"kwargs {given} cannot be given for {self.factory or self.name}: "
                + (
                    "optical_cnn takes its options from model.optical"
                    if self.name == "optical_cnn"
                    else "the data sets image_shape and num_classes (and model.batchnorm the "
                    "built-ins' batch-norm)"
                )
            )
        return self

    @model_serializer(mode="wrap")
    def _leave_out_unused(self, handler: Any, info: Any) -> dict:
        """The dump names what changes a run, so that run keys, the pre-training cache and a
        resume's config check stay those of configs written before these fields existed:
        an unused ``factory``/``kwargs`` is left out, and so are the PSF fields of
        ``optical`` when they do not apply (a network that is not ``optical_cnn``) or equal
        what the layer computed before them (`LEGACY_PSF`: point-sampled, monochromatic),
        and the back end's ``pool`` and ``hidden`` at the values before them
        (`DEFAULT_BACK_END`). A dump with ``context={"every_field": True}`` keeps them all."""
        d = handler(self)
        if (info.context or {}).get("every_field"):  # a sweep's base: every field, to set
            return d
        if self.factory is None:
            d.pop("factory", None)
        if not self.kwargs:
            d.pop("kwargs", None)
        optical = d.get("optical")
        if isinstance(optical, dict):
            for key, legacy in {**LEGACY_PSF, **DEFAULT_BACK_END}.items():
                if key in optical and (self.name != "optical_cnn" or optical[key] == legacy):
                    optical.pop(key)
        return d


class PhaseConfig(_Strict):
    epochs: Int = Field(ge=0, le=10_000, description="epochs, 0-10000")
    lr: Real = Field(gt=0.0, le=10.0, description="Adam learning rate, in (0, 10]")


class MethodConfig(_Strict):
    name: Literal[tuple(METHODS)] = "P"  # type: ignore[valid-type] - the registry's names
    sigma_train_lsb: Real | None = Field(
        None, ge=0.0, le=64.0, description="training noise in LSB, 0-64 (default: the hardware's)"
    )
    noise_ramp: Real = Field(0.3, ge=0.0, le=1.0, description="ramp fraction, 0-1")
    bn_batches: Int = Field(
        20, ge=0, le=100_000, description="batches for batch-norm re-estimation, 0-100000"
    )

    @property
    def definition(self) -> Method:
        """What the method trains with and how it is deployed (`mixsig.config.methods`)."""
        return METHODS[self.name]


class EvalConfig(_Strict):
    draws: Int = Field(20, ge=1, le=10_000, description="Monte-Carlo noise draws, 1-10000")
    sigma_test_lsb: list[SigmaLSB] = Field(
        default_factory=lambda: [0.0, 0.5, 1.0],
        min_length=1,
        max_length=1000,
        description="test noise levels in LSB, each 0-64",
    )
    batchnorm_at_test_noise: bool = Field(
        False,
        description="re-estimate batch-norm statistics at each σ_test before it is evaluated "
        "(method.bn_batches training batches, 20 if 0; a deployment calibration: unlabelled "
        "images through the chip at its noise)",
    )

    @model_serializer(mode="wrap")
    def _leave_out_default(self, handler: Any, info: Any) -> dict:
        """``batchnorm_at_test_noise`` is left out when false, so that run keys stay those of
        configs written before it (``context={"every_field": True}`` keeps it)."""
        d = handler(self)
        if not self.batchnorm_at_test_noise and not (info.context or {}).get("every_field"):
            d.pop("batchnorm_at_test_noise", None)
        return d


class TrainConfig(_Strict):
    """One run: ``mixsig train CONFIG`` (YAML of this schema)."""

    name: str = Field("run", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    seed: Int = Field(0, ge=0, le=RUN_SEED_MAX, description="run seed, 0 to 2^32 − 1")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    hardware: HardwareConfig | str = Field(
        default_factory=HardwareConfig, description="the chain, or a path to its YAML"
    )
    method: MethodConfig = Field(default_factory=MethodConfig)
    pretrain: PhaseConfig = Field(default_factory=lambda: PhaseConfig(epochs=4, lr=3e-3))
    aware: PhaseConfig = Field(default_factory=lambda: PhaseConfig(epochs=2, lr=1e-3))
    batch_size: Int = Field(64, ge=1, le=65536, description="samples per batch, 1-65536")
    calibration_batches: Int = Field(
        4, ge=1, le=10_000, description="batches for range calibration, 1-10000"
    )
    checkpoint_every: Int = Field(
        50, ge=1, le=10**9, description="steps between checkpoints, 1-1e9"
    )
    eval: EvalConfig = Field(default_factory=EvalConfig)
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description=f"where the run computes: {DEVICE_HELP} (auto: CUDA when present)",
    )

    def resolved_hardware(self, base: Path | None = None) -> HardwareConfig:
        """The hardware chain, loading it from YAML when given as a path (relative to
        ``base``, the folder of the run's config file)."""
        if isinstance(self.hardware, HardwareConfig):
            return with_absolute_paths(self.hardware, base)
        path = Path(self.hardware)
        if not path.is_absolute() and base is not None:
            path = base / path
        return load_yaml(path)

    def with_resolved_hardware(self, base: Path | None = None) -> TrainConfig:
        """This config with ``hardware`` loaded (`resolved_hardware`), so it no longer depends
        on the working directory; itself when the hardware is inline already."""
        hw = self.resolved_hardware(base)
        return self if hw is self.hardware else self.model_copy(update={"hardware": hw})

    @property
    def sigma_train(self) -> float:
        return (
            self.method.sigma_train_lsb
            if self.method.sigma_train_lsb is not None
            else self.resolved_hardware().noise.sigma_lsb
        )


# -- files -----------------------------------------------------------------------------------

KINDS = ("hardware", "run", "sweep")
#: the keys that only a sweep spec has (see `mixsig.experiments.sweep.SweepConfig`)
SWEEP_KEYS = frozenset({"base", "runs", "grid"})


def load_train_config(path: str | os.PathLike) -> TrainConfig:
    """The run config in ``path`` (`load_yaml`): refused, naming the file, when it is empty,
    not a mapping, not UTF-8, not YAML, has a duplicate key or an invalid field. Relative maps
    paths of inline hardware are made absolute; a ``hardware: PATH`` stays a path (resolve it
    with ``resolved_hardware(Path(path).parent)``)."""
    return load_yaml(path, TrainConfig)


def config_kind(data: Mapping, source: str = "config") -> str:
    """Which of `KINDS` the mapping ``data`` is, from its keys: a sweep spec has ``base``
    (``runs``, ``grid``), a hardware config only the sections of `HardwareConfig`, a run
    config fields of `TrainConfig`. Raises `ConfigError` (naming ``source``) otherwise."""
    keys = set(data)
    hardware, run = set(HardwareConfig.model_fields), set(TrainConfig.model_fields)
    if keys & SWEEP_KEYS:
        return "sweep"
    if keys and keys <= hardware:
        return "hardware"
    if keys & run:
        return "run"
    raise ConfigError(
        f"{source}: cannot tell which kind of config this is (keys: "
        f"{', '.join(map(str, sorted(keys, key=str))) or 'none'}): a hardware config has "
        f"{', '.join(sorted(hardware))}; a run config {', '.join(sorted(run))}; a sweep spec "
        "base, runs, grid. Name the kind (hardware, run or sweep) to check it as one"
    )


__all__ = [
    "BUILTIN_KEYWORDS",
    "DataConfig",
    "EvalConfig",
    "FACTORY_DATA_KEYWORDS",
    "FACTORY_PATTERN",
    "KINDS",
    "LOCAL_DATA",
    "MethodConfig",
    "ModelConfig",
    "OpticalConfig",
    "PhaseConfig",
    "RUN_SEED_MAX",
    "SWEEP_KEYS",
    "TrainConfig",
    "config_kind",
    "load_train_config",
]
