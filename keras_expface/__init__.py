"""keras-expface: ExpFace and the margin-softmax family for face recognition in Keras 3."""

from keras_expface import layers, losses, margins
from keras_expface.layers import CosineHead
from keras_expface.losses import (
    ArcFaceLoss,
    CombinedMarginLoss,
    CosFaceLoss,
    ExpFaceLoss,
    MarginLoss,
    NormFaceLoss,
    SphereFaceLoss,
)

__version__ = "0.1.0"

__all__ = [
    "ArcFaceLoss",
    "CombinedMarginLoss",
    "CosFaceLoss",
    "CosineHead",
    "ExpFaceLoss",
    "MarginLoss",
    "NormFaceLoss",
    "SphereFaceLoss",
    "layers",
    "losses",
    "margins",
]
