"""Model definitions (float `nn.Module`s; `mixsig.convert` makes them mixed-signal): the
built-in CNNs (`cnn`), ResNet-20 (`resnet`), VGG-8 (`vgg`), the hybrid optical-electronic CNN
whose first layer is already optical (`optical_cnn`), your own network from a factory function
(`build_from_factory`); `model_from_config` builds the one a run's model config names."""

from mixsig.models.cnn import MODELS, build_model, cifar_cnn, lenet5, small_cnn
from mixsig.models.factory import (
    ModelFactoryError,
    build_from_factory,
    check_model_config,
    resolve_factory,
)
from mixsig.models.from_config import model_from_config
from mixsig.models.optical import optical_cnn
from mixsig.models.resnet import resnet20
from mixsig.models.vgg import vgg8

__all__ = [
    "MODELS",
    "ModelFactoryError",
    "build_from_factory",
    "build_model",
    "check_model_config",
    "cifar_cnn",
    "lenet5",
    "model_from_config",
    "optical_cnn",
    "resolve_factory",
    "resnet20",
    "small_cnn",
    "vgg8",
]
