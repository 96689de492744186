"""keras-expface: ExpFace and the margin-softmax family for face recognition in Keras 3."""

from keras_expface import (
    data,
    diagnostics,
    evaluation,
    layers,
    losses,
    margins,
    models,
    saving,
    training,
)
from keras_expface.evaluation import VerificationCallback
from keras_expface.layers import CosineHead, PartialFCHead, PartialFCModel
from keras_expface.losses import (
    ArcFaceLoss,
    CombinedMarginLoss,
    CosFaceLoss,
    ExpFaceLoss,
    MarginLoss,
    NormFaceLoss,
    SphereFaceLoss,
)
from keras_expface.models import IResNet, MobileFaceNet, build_face_model, fine_tune
from keras_expface.saving import load_model
from keras_expface.training import TrainConfig, train

__version__ = "0.1.0"

__all__ = [
    "ArcFaceLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "CosineHead",
    "ExpFaceLoss",
    "IResNet",
    "MarginLoss",
    "MobileFaceNet",
    "NormFaceLoss",
    "PartialFCHead",
    "PartialFCModel",
    "SphereFaceLoss",
    "TrainConfig",
    "VerificationCallback",
    "build_face_model",
    "data",
    "diagnostics",
    "evaluation",
    "fine_tune",
    "layers",
    "load_model",
    "losses",
    "margins",
    "models",
    "saving",
    "train",
    "training",
]
