"""mixsig: train neural networks whose products run on analog hardware (first of all a
diffractive-optics optical CNN) and are read back through few-level ADCs with noise and
distortion, so that they keep their accuracy on that hardware.

The public API is deliberately short; each name is documented in the README:

    HardwareConfig   the analog chain of a layer (DAC, weights, distortion, noise, ADC)
    ADC, DAC         uniform quantizers with fixed, calibrated or learned range
    MixedLinear      nn.Linear on the analog accelerator
    MixedConv1d      nn.Conv1d on the analog accelerator
    MixedConv2d      nn.Conv2d on the analog accelerator
    convert          swap a model's Linear/Conv1d/Conv2d for mixed-signal layers, keeping
                     weights; warns about (or, strict, refuses) layers left digital
    calibrate        set calibrated ranges from a few batches
    load_hardware    read a HardwareConfig from YAML (yaml.safe_load, errors name the field)
    MixsigError      the base of every bad-input error (ConfigError, CheckpointError, …)
"""

from mixsig.config import ConfigError, HardwareConfig
from mixsig.config import load_yaml as load_hardware
from mixsig.errors import MixsigError
from mixsig.nn import MixedConv1d, MixedConv2d, MixedLinear, convert
from mixsig.signal import ADC, DAC, calibrate

__version__ = "0.1.0"

__all__ = [
    "ADC",
    "DAC",
    "ConfigError",
    "HardwareConfig",
    "MixedConv1d",
    "MixedConv2d",
    "MixedLinear",
    "MixsigError",
    "calibrate",
    "convert",
    "load_hardware",
]
