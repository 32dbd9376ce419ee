"""Mixed-signal layers and model conversion (optical layers join them from `mixsig.optics`)."""

from mixsig.nn.convert import convert
from mixsig.nn.mixed import MixedConv2d, MixedLinear

__all__ = ["MixedConv2d", "MixedLinear", "convert"]
