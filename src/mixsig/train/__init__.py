"""Training and evaluation runs: the method P, the baselines B1–B4 (`METHODS`, defined in
`mixsig.config.methods`), resumable checkpoints; the studies' shared recipe is
`mixsig.train.recipe`."""

from mixsig.config.methods import Method, get_method
from mixsig.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mixsig.train.config import METHODS, TrainConfig
from mixsig.train.loop import accuracy, fit, mc_accuracy
from mixsig.train.runner import (
    RunFolderError,
    load_data,
    load_trained,
    pretrain,
    pretrain_key,
    reestimate_batchnorm,
    run_training,
)

__all__ = [
    "METHODS",
    "CheckpointError",
    "Method",
    "RunFolderError",
    "TrainConfig",
    "accuracy",
    "fit",
    "get_method",
    "load_checkpoint",
    "load_data",
    "load_trained",
    "mc_accuracy",
    "pretrain",
    "pretrain_key",
    "reestimate_batchnorm",
    "run_training",
    "save_checkpoint",
]
