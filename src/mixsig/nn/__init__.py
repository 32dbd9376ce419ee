"""Mixed-signal layers and model conversion (optical layers join them from `mixsig.optics`).

`optical_regularizer(model)` is the DOE-space regulariser of every `OpticalConv2d` in a model;
`mixsig.nn.pairs` is the pseudo-negative pair layout the mixed and optical layers share.
"""

from mixsig.nn.convert import convert
from mixsig.nn.mixed import MixedConv1d, MixedConv2d, MixedLinear
from mixsig.nn.optical import OpticalConv2d, optical_regularizer
from mixsig.nn.pairs import stack_pairs, subtract_pairs
from mixsig.nn.placement import model_device, to_device

__all__ = [
    "MixedConv1d",
    "MixedConv2d",
    "MixedLinear",
    "OpticalConv2d",
    "convert",
    "model_device",
    "optical_regularizer",
    "stack_pairs",
    "subtract_pairs",
    "to_device",
]
