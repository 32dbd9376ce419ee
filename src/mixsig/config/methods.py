"""The training methods, one definition each: what a method trains with and how it is deployed.

Owns `Method` and the registry `METHODS` (name → definition, in the order of tables and
reports): declarative definitions, beside the run config that names them (`mixsig.config.run`;
``mixsig.train.METHODS`` is the same registry). A run reads its method's definition
(``METHODS[cfg.method.name]``, or ``cfg.method.definition``) and nothing else decides what the
method does: the run
(`mixsig.train.runner`) asks the definition whether to train the hardware-aware phase, whether
the ADC rounds and clips in training, how much training noise to inject (`Method.sigma_at`),
and what to redo before deployment. The names (P, B1–B4) are the ones in configs, tables and
reports; adding a method means adding one definition below (the run config accepts every
name in `METHODS`).

Every method starts from the same float pre-training and the same conversion and range
calibration, and is deployed on the same chain (``hardware``: noise at the hardware's σ, ADC
rounding on), evaluated the same way. The hardware-aware phase trains the converted network,
so its DAC and weights are quantized as the hardware says; what differs is listed per method.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One training method.

    Training (the hardware-aware phase, after float pre-training, conversion and calibration):

    * ``quantize_inputs_weights`` — the method trains the converted network, its DAC and
      weights quantized (straight-through gradients); False: float-trained only, no
      hardware-aware phase at all;
    * ``adc_in_training`` — the ADC rounds and clips in the training forward (straight-through
      gradients); False: the analog values reach the digital side unquantized;
    * ``noise_in_training`` — noise of σ_train LSB (``method.sigma_train_lsb``, default the
      hardware's) in the training forward; False: none;
    * ``ramp_noise`` — the training noise is ramped from 0 over the first ``method.noise_ramp``
      of the hardware-aware epochs (False: σ_train from the first step).

    Deployment (after training, before evaluation on the hardware's chain):

    * ``recalibrate_adc_after`` — the ADC ranges are re-calibrated (for training that never saw
      the ADC);
    * ``reestimate_batchnorm`` — batch-norm statistics are re-estimated under the noisy forward
      at σ_train (``method.bn_batches`` batches).
    """

    name: str
    title: str
    quantize_inputs_weights: bool
    adc_in_training: bool
    noise_in_training: bool
    ramp_noise: bool
    recalibrate_adc_after: bool
    reestimate_batchnorm: bool

    def __post_init__(self) -> None:
        if (self.adc_in_training or self.noise_in_training) and not self.quantize_inputs_weights:
            raise ValueError(
                f"method {self.name}: the ADC or noise in training needs the hardware-aware "
                "phase, which trains the converted (quantized) network"
            )
        if self.ramp_noise and not self.noise_in_training:
            raise ValueError(f"method {self.name}: a noise ramp needs noise in training")

    @property
    def trains_aware(self) -> bool:
        """Whether the method has a hardware-aware training phase."""
        return self.quantize_inputs_weights

    def sigma_train_lsb(self, target: float) -> float:
        """The training noise the method reaches: ``target`` (σ_train) or 0."""
        return target if self.noise_in_training else 0.0

    def sigma_at(
        self, target: float, ramp_fraction: float, epochs: int, epoch: int, step: int, spe: int
    ) -> float:
        """The training noise at ``step`` of ``epoch`` (``spe`` steps an epoch) of the ``epochs``
        hardware-aware epochs: 0 without noise; with the ramp, ``target`` reached linearly over
        the first ``ramp_fraction`` of the epochs; else ``target``."""
        if not self.noise_in_training:
            return 0.0
        ramp = ramp_fraction * epochs
        if not self.ramp_noise or ramp == 0:
            return target
        progress = epoch + step / spe
        return target * min(1.0, progress / ramp)


def _registry(*methods: Method) -> dict[str, Method]:
    return {m.name: m for m in methods}


#: every method by name, in the order of tables and reports
METHODS: dict[str, Method] = _registry(
    Method(
        name="P",
        title="hardware-aware training with noise",
        quantize_inputs_weights=True,
        adc_in_training=True,
        noise_in_training=True,
        ramp_noise=True,
        recalibrate_adc_after=False,
        reestimate_batchnorm=True,
    ),
    Method(
        name="B1",
        title="float-trained",
        quantize_inputs_weights=False,
        adc_in_training=False,
        noise_in_training=False,
        ramp_noise=False,
        recalibrate_adc_after=True,
        reestimate_batchnorm=False,
    ),
    Method(
        name="B2",
        title="standard QAT, high-precision accumulation",
        quantize_inputs_weights=True,
        adc_in_training=False,
        noise_in_training=False,
        ramp_noise=False,
        recalibrate_adc_after=True,
        reestimate_batchnorm=False,
    ),
    Method(
        name="B3",
        title="noise injection without the ADC",
        quantize_inputs_weights=True,
        adc_in_training=False,
        noise_in_training=True,
        ramp_noise=False,
        recalibrate_adc_after=True,
        reestimate_batchnorm=False,
    ),
    Method(
        name="B4",
        title="ADC-aware QAT without noise",
        quantize_inputs_weights=True,
        adc_in_training=True,
        noise_in_training=False,
        ramp_noise=False,
        recalibrate_adc_after=False,
        reestimate_batchnorm=False,
    ),
)


#: the methods trained without noise (B1, B2, B4: the verdict's noise-free references) and with
#: it (P, B3: the ones a σ_train applies to), in the registry's order
NOISE_FREE_METHODS = tuple(m.name for m in METHODS.values() if not m.noise_in_training)
NOISY_METHODS = tuple(m.name for m in METHODS.values() if m.noise_in_training)


def get_method(name: str) -> Method:
    """The definition of the method ``name``; a `ValueError` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


__all__ = ["METHODS", "NOISE_FREE_METHODS", "NOISY_METHODS", "Method", "get_method"]
