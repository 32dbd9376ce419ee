"""Model definitions (float `nn.Module`s; `mixsig.convert` makes them mixed-signal)."""

from mixsig.models.cnn import small_cnn

__all__ = ["small_cnn"]
