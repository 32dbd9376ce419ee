"""Configuration of one training run (pydantic v2): data, model, hardware, method, phases.

Owns the schema `mixsig train CONFIG` reads. The method names follow design §4:

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
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from mixsig.config.hardware import HardwareConfig, _Strict, with_absolute_paths
from mixsig.config.io import load_yaml

METHODS = ("P", "B1", "B2", "B3", "B4")


class DataConfig(_Strict):
    name: Literal["bundled-mnist", "bundled-digits", "mnist", "fashion-mnist", "cifar10"] = (
        "bundled-mnist"
    )
    root: str | None = Field(None, description="folder of a local dataset (mnist, cifar10...)")
    grayscale: bool = False
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="bundled sets, in (0, 1)")
    limit_train: int | None = Field(None, ge=1)
    limit_test: int | None = Field(None, ge=1)


class OpticalConfig(_Strict):
    """The optical front of ``optical_cnn`` (`mixsig.nn.OpticalConv2d`).

    ``parameterisation``: ``doe`` — the phase mask trained end to end (pre-training and the
    hardware-aware phase) from a Gabor-bank synthesis, with the anti-collapse regulariser
    weighted by ``regularizer_weight`` in the loss; ``kernel`` — ideal non-negative kernel
    pairs trained in pre-training, then a DOE synthesised to realise them (its fit error and
    throughput go to the results), the camera recalibrated to the realised PSF, and the
    hardware-aware phase trains only the digital layers (the optics are frozen)."""

    parameterisation: Literal["doe", "kernel"] = "doe"
    out_channels: int = Field(8, ge=1, le=64)
    kernel_size: int = Field(5, ge=1, le=31)
    doe_levels: int | None = Field(16, ge=2, le=65536)
    regularizer_weight: float = Field(0.1, ge=0.0, description="λ of the regulariser, >= 0")


class ModelConfig(_Strict):
    """``small_cnn``, ``lenet5`` and ``cifar_cnn`` are float networks whose every conv/linear
    layer is converted to the hardware chain; ``optical_cnn`` has an optical front whose camera
    is the hardware chain and a digital rest (BN, ReLU, pooling, linear classifier)."""

    name: Literal["small_cnn", "lenet5", "cifar_cnn", "optical_cnn"] = "small_cnn"
    batchnorm: bool = True
    optical: OpticalConfig = Field(default_factory=OpticalConfig)


class PhaseConfig(_Strict):
    epochs: int = Field(ge=0, description="epochs, >= 0")
    lr: float = Field(gt=0.0, le=10.0, description="Adam learning rate, in (0, 10]")


class MethodConfig(_Strict):
    name: Literal["P", "B1", "B2", "B3", "B4"] = "P"
    sigma_train_lsb: float | None = Field(
        None, ge=0.0, le=64.0, description="training noise in LSB (default: the hardware's)"
    )
    noise_ramp: float = Field(0.3, ge=0.0, le=1.0, description="ramp fraction, 0-1")
    bn_batches: int = Field(20, ge=0, description="batches for batch-norm re-estimation")


class EvalConfig(_Strict):
    draws: int = Field(20, ge=1, le=10_000)
    sigma_test_lsb: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0], min_length=1)

    @field_validator("sigma_test_lsb")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        for s in v:
            if not s >= 0.0:
                raise ValueError(f"every sigma_test_lsb must be >= 0, got {s}")
        return v


class TrainConfig(_Strict):
    """One run: ``mixsig train CONFIG`` (YAML of this schema)."""

    name: str = Field("run", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    hardware: HardwareConfig | str = Field(
        default_factory=HardwareConfig, description="the chain, or a path to its YAML"
    )
    method: MethodConfig = Field(default_factory=MethodConfig)
    pretrain: PhaseConfig = Field(default_factory=lambda: PhaseConfig(epochs=4, lr=3e-3))
    aware: PhaseConfig = Field(default_factory=lambda: PhaseConfig(epochs=2, lr=1e-3))
    batch_size: int = Field(64, ge=1, le=65536)
    calibration_batches: int = Field(4, ge=1)
    checkpoint_every: int = Field(50, ge=1, description="steps between checkpoints")
    eval: EvalConfig = Field(default_factory=EvalConfig)

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
