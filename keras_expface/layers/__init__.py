"""Keras layers: the cosine classification head and Partial FC."""

from keras_expface.layers.cosine_head import CosineHead, cosine_similarity, l2_normalize
from keras_expface.layers.partial_fc import PartialFCHead, PartialFCModel

__all__ = ["CosineHead", "PartialFCHead", "PartialFCModel", "cosine_similarity", "l2_normalize"]
