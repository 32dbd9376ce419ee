"""Training and evaluation under the analog chain."""

from mixsig.train.loop import accuracy, fit, mc_accuracy

__all__ = ["accuracy", "fit", "mc_accuracy"]
