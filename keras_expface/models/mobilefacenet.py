"""`MobileFaceNet`: the ~1M-parameter mobile face backbone of Chen et al. (2018)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_expface.models import _layers
from keras_expface.models._backbone import ConfigurableBackbone, serialize_initializer
from keras_expface.models.embedding_neck import EmbeddingNeck

#: The paper's bottleneck stages: (expansion t, output channels c, units n, first stride s).
MOBILEFACENET_STAGES = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 1),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)
_STEM_CHANNELS = 64
_SEPARABLE_CHANNELS = 512


def _reference_initializer():
    # arcface_torch: kaiming_normal_(mode="fan_out", nonlinearity="relu").
    return keras.initializers.VarianceScaling(
        2.0, mode="fan_out", distribution="untruncated_normal"
    )


@keras.saving.register_keras_serializable(package="keras_expface")
class MobileFaceNet(ConfigurableBackbone):
    """MobileFaceNet face backbone (Chen et al., 2018), about 1.0M parameters at 128-d.

    Architecture for 112x112 inputs (the paper's Table 1; insightface's `arcface_torch`
    `backbones/mobilefacenet.py` with `scale=1`, `blocks=(1, 4, 6, 2)`):

    - conv 3x3 (64, stride 2) - BatchNorm - PReLU; depthwise conv 3x3 - BatchNorm - PReLU;
    - inverted-residual bottlenecks (conv 1x1 expand - BatchNorm - PReLU - depthwise 3x3 -
      BatchNorm - PReLU - conv 1x1 project - BatchNorm, plus the input when the shape is
      kept), in stages of (expansion, channels, units, stride):
      `(2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)`;
    - conv 1x1 (512) - BatchNorm - PReLU;
    - the GDC neck (`EmbeddingNeck(pooling="gdc")`): depthwise conv over the whole 7x7 map -
      BatchNorm - dense (no bias) - BatchNorm1d (with a learnt scale).

    BatchNorm uses PyTorch's defaults (Keras `momentum=0.9`, `epsilon=1e-5`), PReLU slopes
    start at 0.25, kernels use He initialisation on fan-out, as arcface_torch. Stride-2
    convolutions pad one pixel on each side, as PyTorch. insightface's default `mbf`
    configuration (`scale=2`) widens the outer channels only and is not this model.

    Layer names: `conv1`, `conv2_dw`, `stage{s}_{u}_expand|dw|project` (each with `_bn`,
    and `_prelu` where there is one), `conv_sep`, and the neck `neck` (`gdc`, `bn2`, `fc`,
    `features`).

    Args:
        embedding_dim: Size of the embedding (the paper uses 128, insightface 512).
            Defaults to `128`.
        image_shape: `(height, width, channels)`, channels last. Defaults to `(112, 112, 3)`.
            The height and width must be fixed when `include_neck=True`.
        width_multiplier: Multiplies every channel count (e.g. `0.25` for tests).
            Defaults to `1.0`.
        dropout: Dropout rate before the neck's dense layer, in `[0, 1)` (the reference
            has none). Defaults to `0.0`.
        include_neck: Whether to end with the GDC neck; if `False`, the model outputs the
            feature map `(batch, H/16, W/16, 512 * width_multiplier)`. Defaults to `True`.
        batch_norm_momentum: Keras' BatchNorm moving-average decay. Defaults to `0.9`.
        batch_norm_epsilon: BatchNorm epsilon. Defaults to `1e-5`.
        kernel_initializer: Initialiser of the convolutions. Defaults to `"reference"`,
            He normal on fan-out, as arcface_torch.
        **kwargs: Model arguments (`name`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, normalised images (`x / 127.5 - 1`, which
        `build_face_model` puts in front).

    Output shape:
        `(batch, embedding_dim)`, or the feature map when `include_neck=False`.

    Example:

    >>> import numpy as np
    >>> model = MobileFaceNet(embedding_dim=8, image_shape=(32, 32, 3), width_multiplier=0.125)
    >>> model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape
    (2, 8)

    Reference: Chen et al., "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face
    Verification on Mobile Devices", https://arxiv.org/abs/1804.07573.
    """

    def __init__(
        self,
        embedding_dim: int = 128,
        image_shape: Sequence[int | None] = (112, 112, 3),
        width_multiplier: float = 1.0,
        dropout: float = 0.0,
        include_neck: bool = True,
        batch_norm_momentum: float = _layers.BATCH_NORM_MOMENTUM,
        batch_norm_epsilon: float = _layers.BATCH_NORM_EPSILON,
        kernel_initializer="reference",
        **kwargs,
    ):
        embedding_dim = _layers.check_positive_int("MobileFaceNet", "embedding_dim", embedding_dim)
        image_shape = _layers.check_image_shape(
            "MobileFaceNet", image_shape, need_static=include_neck
        )
        width_multiplier = _layers.check_width_multiplier("MobileFaceNet", width_multiplier)
        dropout = _layers.check_rate("MobileFaceNet", "dropout", dropout)
        initializer = (
            _reference_initializer()
            if kernel_initializer == "reference"
            else keras.initializers.get(kernel_initializer)
        )
        bn_args = (float(batch_norm_momentum), float(batch_norm_epsilon))

        def width(channels):
            return _layers.scaled_channels(channels, width_multiplier)

        def conv_bn(x, filters, kernel_size, strides, name, depthwise=False, activation=True):
            if strides != 1:
                # PyTorch's padding=k//2 on both sides; Keras' "same" would pad only after.
                x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
            padding = "same" if strides == 1 else "valid"
            if depthwise:
                layer = keras.layers.DepthwiseConv2D(
                    kernel_size,
                    strides,
                    padding,
                    use_bias=False,
                    depthwise_initializer=initializer,
                    name=name,
                )
            else:
                layer = keras.layers.Conv2D(
                    filters,
                    kernel_size,
                    strides,
                    padding,
                    use_bias=False,
                    kernel_initializer=initializer,
                    name=name,
                )
            x = _layers.batch_norm(f"{name}_bn", *bn_args)(layer(x))
            return _layers.prelu(f"{name}_prelu")(x) if activation else x

        inputs = keras.Input(shape=image_shape, name="image")
        x = conv_bn(inputs, width(_STEM_CHANNELS), 3, 2, "conv1")
        x = conv_bn(x, None, 3, 1, "conv2_dw", depthwise=True)
        for stage, (expansion, channels, units, first_stride) in enumerate(MOBILEFACENET_STAGES, 1):
            out_channels = width(channels)
            for unit in range(units):
                prefix = f"stage{stage}_{unit}"
                strides = first_stride if unit == 0 else 1
                in_channels = x.shape[-1]
                y = conv_bn(x, expansion * in_channels, 1, 1, f"{prefix}_expand")
                y = conv_bn(y, None, 3, strides, f"{prefix}_dw", depthwise=True)
                y = conv_bn(y, out_channels, 1, 1, f"{prefix}_project", activation=False)
                if strides == 1 and in_channels == out_channels:
                    y = keras.layers.Add(name=f"{prefix}_add")([x, y])
                x = y
        x = conv_bn(x, width(_SEPARABLE_CHANNELS), 1, 1, "conv_sep")
        if include_neck:
            x = EmbeddingNeck(
                embedding_dim,
                pooling="gdc",
                dropout=dropout,
                use_bias=False,
                trainable_output_scale=True,
                batch_norm_momentum=bn_args[0],
                batch_norm_epsilon=bn_args[1],
                kernel_initializer=initializer,
                name="neck",
            )(x)
        kwargs.setdefault("name", "mobilefacenet" if include_neck else "mobilefacenet_features")
        super().__init__(inputs=inputs, outputs=x, **kwargs)

        self.embedding_dim = embedding_dim
        self.image_shape = image_shape
        self.width_multiplier = width_multiplier
        self.dropout = dropout
        self.include_neck = bool(include_neck)
        self.batch_norm_momentum, self.batch_norm_epsilon = bn_args
        self.kernel_initializer = kernel_initializer

    def constructor_config(self):
        return {
            "embedding_dim": self.embedding_dim,
            "image_shape": self.image_shape,
            "width_multiplier": self.width_multiplier,
            "dropout": self.dropout,
            "include_neck": self.include_neck,
            "batch_norm_momentum": self.batch_norm_momentum,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
        }
