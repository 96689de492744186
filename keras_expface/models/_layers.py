"""Private layer factories shared by the face backbones (insightface's defaults)."""

from __future__ import annotations

import keras

from keras_expface._checks import check_positive_int as check_positive_int

#: Keras' moving-average decay for BatchNorm: PyTorch `momentum=0.1` is Keras `momentum=0.9`.
BATCH_NORM_MOMENTUM = 0.9
#: insightface's arcface_torch uses PyTorch's default epsilon, 1e-5 (its MXNet code used 2e-5).
BATCH_NORM_EPSILON = 1e-5
#: PyTorch's `nn.PReLU` starts every slope at 0.25 (Keras' `PReLU` starts at 0).
PRELU_INITIAL_SLOPE = 0.25


def batch_norm(name: str, momentum: float, epsilon: float, scale: bool = True):
    """A channels-last `BatchNormalization` with the given (reference) statistics."""
    return keras.layers.BatchNormalization(
        axis=-1, momentum=momentum, epsilon=epsilon, scale=scale, name=name
    )


def prelu(name: str):
    """A per-channel PReLU (slopes shared over height and width), as `nn.PReLU(channels)`."""
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(PRELU_INITIAL_SLOPE),
        shared_axes=[1, 2],
        name=name,
    )


def check_rate(owner: str, arg_name: str, value) -> float:
    """Returns `value` as a float if it lies in `[0, 1)`, else raises a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {arg_name} must be a number in [0, 1); got {value!r}.")
    return float(value)


def scaled_channels(channels: int, width_multiplier: float) -> int:
    """`channels * width_multiplier`, rounded, at least 1."""
    return max(1, round(channels * width_multiplier))


def check_width_multiplier(owner: str, value) -> float:
    """Returns a positive float width multiplier, else raises a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: width_multiplier must be a positive number; got {value!r}.")
    return float(value)


def check_image_shape(owner: str, image_shape, need_static: bool) -> tuple:
    """Validates a channels-last `(height, width, channels)` shape and returns it as a tuple."""
    try:
        shape = tuple(None if d is None else int(d) for d in image_shape)
    except TypeError as error:
        raise ValueError(
            f"{owner}: image_shape must be (height, width, channels); got {image_shape!r}."
        ) from error
    if len(shape) != 3 or shape[-1] is None or any(d is not None and d < 1 for d in shape):
        raise ValueError(
            f"{owner}: image_shape must be (height, width, channels) with a known number of "
            f"channels (channels last); got {image_shape!r}."
        )
    if need_static and (shape[0] is None or shape[1] is None):
        raise ValueError(
            f"{owner}: the embedding neck needs a fixed image height and width; got "
            f"{image_shape!r}. Pass a fixed size or include_neck=False."
        )
    return shape
