"""The analog signal chain: quantizers, noise, distortion, analog gain, and their calibration.

Everything a mixed-signal layer does to its analog result lives here, each piece a small
`nn.Module`; `mixsig.nn` composes them into layers. See `mixsig.signal.chain` for the order.
"""

from mixsig.signal.build import build_chain
from mixsig.signal.calibration import calibrate, observing
from mixsig.signal.chain import (
    AnalogChain,
    build_dac,
    chains,
    set_adc_bits,
    set_output_quantization,
)
from mixsig.signal.fake_quant import fake_quant, grad_scale, lsq_quant, round_ste
from mixsig.signal.gain import AnalogGain
from mixsig.signal.noise import GaussianNoise, NoiseFloor, ShotNoise, set_sigma_lsb
from mixsig.signal.observer import RangeObserver
from mixsig.signal.quantizer import ADC, DAC, UniformQuantizer, converter_settings
from mixsig.signal.rng import collect_rng_state, noise_stream, reseed_noise, restore_rng_state
from mixsig.signal.weights import WeightQuantizer, split_differential

__all__ = [
    "ADC",
    "DAC",
    "AnalogChain",
    "AnalogGain",
    "GaussianNoise",
    "NoiseFloor",
    "RangeObserver",
    "ShotNoise",
    "UniformQuantizer",
    "WeightQuantizer",
    "build_chain",
    "build_dac",
    "calibrate",
    "converter_settings",
    "collect_rng_state",
    "noise_stream",
    "reseed_noise",
    "restore_rng_state",
    "chains",
    "fake_quant",
    "grad_scale",
    "lsq_quant",
    "observing",
    "round_ste",
    "set_adc_bits",
    "set_output_quantization",
    "set_sigma_lsb",
    "split_differential",
]
