"""Keras layers: the cosine classification head."""

from keras_expface.layers.cosine_head import CosineHead

__all__ = ["CosineHead"]
