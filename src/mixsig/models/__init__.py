"""Model definitions (float `nn.Module`s; `mixsig.convert` makes them mixed-signal), and the
hybrid optical-electronic CNN whose first layer is already optical (`optical_cnn`);
`model_from_config` builds the one a run's model config names."""

from mixsig.models.cnn import MODELS, build_model, cifar_cnn, lenet5, small_cnn
from mixsig.models.from_config import model_from_config
from mixsig.models.optical import optical_cnn

__all__ = [
    "MODELS",
    "build_model",
    "cifar_cnn",
    "lenet5",
    "model_from_config",
    "optical_cnn",
    "small_cnn",
]
