"""Mixed-signal layers and model conversion (optical layers join them from `mixsig.optics`)."""

from mixsig.nn.convert import convert
from mixsig.nn.mixed import MixedConv1d, MixedConv2d, MixedLinear
from mixsig.nn.optical import OpticalConv2d

__all__ = ["MixedConv1d", "MixedConv2d", "MixedLinear", "OpticalConv2d", "convert"]
