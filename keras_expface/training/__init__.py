"""Training runs: `TrainConfig`, `train` (resumable, with a report), the run folder."""

from keras_expface.training.config import LOSSES, TrainConfig
from keras_expface.training.datasets import TrainingData, open_training_data, parse_data_spec
from keras_expface.training.report import write_report
from keras_expface.training.run_directory import RunConfigMismatch, RunDirectory
from keras_expface.training.trainer import TrainResult, make_optimizer, train

__all__ = [
    "LOSSES",
    "RunConfigMismatch",
    "RunDirectory",
    "TrainConfig",
    "TrainResult",
    "TrainingData",
    "make_optimizer",
    "open_training_data",
    "parse_data_spec",
    "train",
    "write_report",
]
