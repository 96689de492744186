"""`IResNet`: the improved residual network of insightface's ArcFace (IResNet-18/34/50/100)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_expface.models import _layers
from keras_expface.models._backbone import ConfigurableBackbone, serialize_initializer
from keras_expface.models.embedding_neck import EmbeddingNeck

#: Residual units per stage of the named depths (insightface's `iresnet18` ... `iresnet100`).
IRESNET_STAGE_DEPTHS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
}
_STAGE_CHANNELS = (64, 128, 256, 512)
_STEM_CHANNELS = 64


def _reference_conv_initializer():
    # arcface_torch initialises every convolution with N(0, 0.1).
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.1)


@keras.saving.register_keras_serializable(package="keras_expface")
class IResNet(ConfigurableBackbone):
    """IResNet face backbone, as insightface's `arcface_torch` (`backbones/iresnet.py`).

    Architecture (channels last, 112x112 input gives a 7x7 feature map):

    - stem: conv 3x3 (64, stride 1) - BatchNorm - PReLU;
    - four stages of 64, 128, 256 and 512 channels, each starting with stride 2; a residual
      unit ("IBasicBlock") is BatchNorm - conv 3x3 - BatchNorm - PReLU - conv 3x3 (the
      stride is in this second conv) - BatchNorm, plus the input, which a conv 1x1 (stride) -
      BatchNorm projects when the shape changes;
    - the "E" output (`EmbeddingNeck`): BatchNorm - flatten - dropout - dense - BatchNorm1d
      (its scale fixed at 1) to the embedding.

    Units per stage: 18: `(2, 2, 2, 2)`, 34: `(3, 4, 6, 3)`, 50: `(3, 4, 14, 3)`,
    100: `(3, 13, 30, 3)`.

    Differences from the PyTorch reference, none of which changes the function: stride-2
    convolutions pad explicitly by one pixel on each side (`ZeroPadding2D` + `"valid"`), as
    PyTorch does, rather than Keras' asymmetric `"same"`; the final BatchNorm1d is built
    without a scale (insightface freezes it at 1), so trainable parameter counts are 512
    (`embedding_dim`) below PyTorch's `sum(p.numel() for p in model.parameters())`; Keras
    also counts the BatchNorm moving statistics as (non-trainable) weights, which PyTorch
    keeps as buffers. BatchNorm uses PyTorch's defaults (Keras `momentum=0.9`,
    `epsilon=1e-5`), PReLU slopes start at 0.25 and convolutions at N(0, 0.1), as the
    reference.

    Layer names are the reference's `state_dict` keys with `.` written `_` (Keras on torch
    does not allow `.` in names): `conv1`, `bn1`, `prelu`, `layer2_0_conv1`,
    `layer2_0_downsample_0`, ...; the neck holds `bn2`, `fc`, `features`. No reference key
    has `_` of its own, so a converter of insightface checkpoints can map weights by name
    (transposing kernels, and permuting `fc`'s rows from PyTorch's `(C, H, W)` flatten order).

    Args:
        depth: `18`, `34`, `50` or `100`, or a sequence of four numbers of residual units
            per stage. Defaults to `50`.
        embedding_dim: Size of the embedding. Defaults to `512`.
        image_shape: `(height, width, channels)`, channels last. Defaults to
            `(112, 112, 3)`. The height and width must be fixed when `include_neck=True`.
        width_multiplier: Multiplies every channel count (e.g. `0.25` for tests).
            Defaults to `1.0`.
        dropout: Dropout rate in the neck, in `[0, 1)`. Defaults to `0.0`.
        include_neck: Whether to end with the embedding neck; if `False`, the model outputs
            the last feature map `(batch, H/16, W/16, 512 * width_multiplier)`. Defaults to
            `True`.
        batch_norm_momentum: Keras' BatchNorm moving-average decay. Defaults to `0.9`.
        batch_norm_epsilon: BatchNorm epsilon. Defaults to `1e-5`.
        kernel_initializer: Initialiser of the convolutions. Defaults to `"reference"`,
            N(0, 0.1) as arcface_torch.
        **kwargs: Model arguments (`name`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, normalised images (insightface feeds
        `x / 127.5 - 1`; `build_face_model` puts that normalisation in front).

    Output shape:
        `(batch, embedding_dim)`, or the feature map when `include_neck=False`.

    Example:

    >>> import numpy as np
    >>> model = IResNet(depth=(1, 1, 1, 1), embedding_dim=8, image_shape=(32, 32, 3),
    ...                 width_multiplier=0.125)
    >>> model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape
    (2, 8)

    Reference: Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face
    Recognition", https://arxiv.org/abs/1801.07698 (IResNet: Duta et al.,
    https://arxiv.org/abs/2004.04989).
    """

    def __init__(
        self,
        depth: int | Sequence[int] = 50,
        embedding_dim: int = 512,
        image_shape: Sequence[int | None] = (112, 112, 3),
        width_multiplier: float = 1.0,
        dropout: float = 0.0,
        include_neck: bool = True,
        batch_norm_momentum: float = _layers.BATCH_NORM_MOMENTUM,
        batch_norm_epsilon: float = _layers.BATCH_NORM_EPSILON,
        kernel_initializer="reference",
        **kwargs,
    ):
        stage_depths = _stage_depths(depth)
        embedding_dim = _layers.check_positive_int("IResNet", "embedding_dim", embedding_dim)
        image_shape = _layers.check_image_shape("IResNet", image_shape, need_static=include_neck)
        width_multiplier = _layers.check_width_multiplier("IResNet", width_multiplier)
        dropout = _layers.check_rate("IResNet", "dropout", dropout)
        initializer = (
            _reference_conv_initializer()
            if kernel_initializer == "reference"
            else keras.initializers.get(kernel_initializer)
        )
        bn_args = (float(batch_norm_momentum), float(batch_norm_epsilon))

        def conv(filters, kernel_size, strides, name):
            return keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same" if strides == 1 else "valid",
                use_bias=False,
                kernel_initializer=initializer,
                name=name,
            )

        inputs = keras.Input(shape=image_shape, name="image")
        x = conv(_layers.scaled_channels(_STEM_CHANNELS, width_multiplier), 3, 1, "conv1")(inputs)
        x = _layers.batch_norm("bn1", *bn_args)(x)
        x = _layers.prelu("prelu")(x)
        in_channels = x.shape[-1]
        for stage, (base_channels, units) in enumerate(
            zip(_STAGE_CHANNELS, stage_depths, strict=True), 1
        ):
            channels = _layers.scaled_channels(base_channels, width_multiplier)
            for unit in range(units):
                prefix = f"layer{stage}_{unit}"
                strides = 2 if unit == 0 else 1
                shortcut = x
                y = _layers.batch_norm(f"{prefix}_bn1", *bn_args)(x)
                y = conv(channels, 3, 1, f"{prefix}_conv1")(y)
                y = _layers.batch_norm(f"{prefix}_bn2", *bn_args)(y)
                y = _layers.prelu(f"{prefix}_prelu")(y)
                if strides != 1:
                    # PyTorch's padding=1 on both sides; Keras' "same" would pad only after.
                    y = keras.layers.ZeroPadding2D(1, name=f"{prefix}_pad")(y)
                y = conv(channels, 3, strides, f"{prefix}_conv2")(y)
                y = _layers.batch_norm(f"{prefix}_bn3", *bn_args)(y)
                if strides != 1 or in_channels != channels:
                    shortcut = conv(channels, 1, strides, f"{prefix}_downsample_0")(shortcut)
                    shortcut = _layers.batch_norm(f"{prefix}_downsample_1", *bn_args)(shortcut)
                x = keras.layers.Add(name=f"{prefix}_add")([y, shortcut])
                in_channels = channels
        if include_neck:
            x = EmbeddingNeck(
                embedding_dim,
                pooling="flatten",
                dropout=dropout,
                batch_norm_momentum=bn_args[0],
                batch_norm_epsilon=bn_args[1],
                name="neck",
            )(x)
        kwargs.setdefault("name", _default_name(depth, include_neck))
        super().__init__(inputs=inputs, outputs=x, **kwargs)

        self.depth = tuple(depth) if isinstance(depth, Sequence) else depth
        self.stage_depths = stage_depths
        self.embedding_dim = embedding_dim
        self.image_shape = image_shape
        self.width_multiplier = width_multiplier
        self.dropout = dropout
        self.include_neck = bool(include_neck)
        self.batch_norm_momentum, self.batch_norm_epsilon = bn_args
        self.kernel_initializer = kernel_initializer

    def constructor_config(self):
        return {
            "depth": self.depth,
            "embedding_dim": self.embedding_dim,
            "image_shape": self.image_shape,
            "width_multiplier": self.width_multiplier,
            "dropout": self.dropout,
            "include_neck": self.include_neck,
            "batch_norm_momentum": self.batch_norm_momentum,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
        }


def _stage_depths(depth) -> tuple[int, ...]:
    if isinstance(depth, Sequence) and not isinstance(depth, str):
        depths = tuple(depth)
        if len(depths) != 4 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in depths
        ):
            raise ValueError(
                "IResNet: depth as a sequence must give four positive numbers of residual "
                f"units per stage; got {depth!r}."
            )
        return depths
    if depth not in IRESNET_STAGE_DEPTHS or isinstance(depth, bool):
        raise ValueError(
            f"IResNet: unknown depth {depth!r}; expected one of "
            f"{', '.join(str(d) for d in IRESNET_STAGE_DEPTHS)} or four units per stage, "
            "e.g. (2, 2, 2, 2)."
        )
    return IRESNET_STAGE_DEPTHS[depth]


def _default_name(depth, include_neck: bool) -> str:
    name = f"iresnet{depth}" if isinstance(depth, int) else "iresnet"
    return name if include_neck else f"{name}_features"
