"""Model definitions (float `nn.Module`s; `mixsig.convert` makes them mixed-signal), and the
hybrid optical-electronic CNN whose first layer is already optical (`optical_cnn`)."""

from mixsig.models.cnn import MODELS, build_model, cifar_cnn, lenet5, small_cnn
from mixsig.models.optical import optical_cnn

__all__ = ["MODELS", "build_model", "cifar_cnn", "lenet5", "optical_cnn", "small_cnn"]
