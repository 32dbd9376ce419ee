"""Model definitions (float `nn.Module`s; `mixsig.convert` makes them mixed-signal)."""

from mixsig.models.cnn import MODELS, build_model, cifar_cnn, lenet5, small_cnn

__all__ = ["MODELS", "build_model", "cifar_cnn", "lenet5", "small_cnn"]
