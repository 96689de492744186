"""keras-expface: ExpFace and the margin-softmax family for face recognition in Keras 3."""

from keras_expface import data, evaluation, layers, losses, margins, saving
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
from keras_expface.saving import load_model

__version__ = "0.1.0"

__all__ = [
    "ArcFaceLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "CosineHead",
    "ExpFaceLoss",
    "MarginLoss",
    "NormFaceLoss",
    "PartialFCHead",
    "PartialFCModel",
    "SphereFaceLoss",
    "VerificationCallback",
    "data",
    "evaluation",
    "layers",
    "load_model",
    "losses",
    "margins",
    "saving",
]
