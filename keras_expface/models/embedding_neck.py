"""`EmbeddingNeck`: feature map to embedding (insightface's "E" output, or MobileFaceNet's GDC)."""

from __future__ import annotations

import keras

from keras_expface.models import _layers

#: Ways to turn the `(H, W, C)` feature map into a vector before the dense layer.
POOLING_MODES = ("flatten", "gdc", "avg")


@keras.saving.register_keras_serializable(package="keras_expface")
class EmbeddingNeck(keras.layers.Layer):
    """Maps a backbone's feature map `(batch, H, W, C)` to a face embedding `(batch, D)`.

    With `pooling="flatten"` this is the "E" output of insightface (IResNet):

        BatchNorm2d -> flatten -> dropout -> dense (with bias) -> BatchNorm1d

    with `pooling="gdc"` it is MobileFaceNet's global depthwise convolution:

        depthwise conv (kernel H x W, no bias) -> BatchNorm2d -> flatten -> dropout
        -> dense -> BatchNorm1d

    and `pooling="avg"` uses global average pooling in place of the flatten (the dense
    layer then has `C * D` weights instead of `H * W * C * D`).

    The last BatchNorm has no learnt scale by default: insightface creates its weight and
    freezes it at 1 (`features.weight.requires_grad = False`), which is the same function as
    no scale. MobileFaceNet learns it (`trainable_output_scale=True`).

    Weight layout for converting insightface checkpoints: sub-layers `bn2`, `fc` and
    `features` are insightface's `bn2`, `fc` and `features` (`gdc` and `bn2` stand for
    MobileFaceNet's GDC convolution and its BatchNorm). `fc`'s kernel rows follow Keras'
    channels-last flatten order `(H, W, C)`, whereas PyTorch flattens `(C, H, W)`: a
    converter must permute them.

    Args:
        embedding_dim: Size `D` of the embedding. Defaults to `512`.
        pooling: `"flatten"`, `"gdc"` or `"avg"`. Defaults to `"flatten"`.
        dropout: Dropout rate before the dense layer, in `[0, 1)`. Defaults to `0.0`.
        use_bias: Whether the dense layer has a bias (insightface's `fc` has one, the GDC's
            `Linear` has none). Defaults to `True`.
        trainable_output_scale: Whether the last BatchNorm learns a scale. Defaults to
            `False`.
        batch_norm_momentum: Keras' moving-average decay (PyTorch's `1 - momentum`).
            Defaults to `0.9`, PyTorch's default `momentum=0.1`.
        batch_norm_epsilon: BatchNorm epsilon. Defaults to `1e-5` (arcface_torch).
        kernel_initializer: Initialiser of the dense (and GDC) kernels. Defaults to
            `"glorot_uniform"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        `(batch, H, W, C)` with known `H`, `W`, `C` (`H` and `W` may be unknown with
        `pooling="avg"`).

    Output shape:
        `(batch, embedding_dim)`.

    Example:

    >>> import numpy as np
    >>> neck = EmbeddingNeck(embedding_dim=4, pooling="gdc")
    >>> tuple(neck(np.ones((2, 3, 3, 8), "float32")).shape)
    (2, 4)
    """

    def __init__(
        self,
        embedding_dim: int = 512,
        pooling: str = "flatten",
        dropout: float = 0.0,
        use_bias: bool = True,
        trainable_output_scale: bool = False,
        batch_norm_momentum: float = _layers.BATCH_NORM_MOMENTUM,
        batch_norm_epsilon: float = _layers.BATCH_NORM_EPSILON,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding_dim = _layers.check_positive_int(
            "EmbeddingNeck", "embedding_dim", embedding_dim
        )
        if pooling not in POOLING_MODES:
            raise ValueError(
                f"EmbeddingNeck: unknown pooling {pooling!r}; expected one of "
                f"{', '.join(repr(p) for p in POOLING_MODES)}."
            )
        self.pooling = pooling
        self.dropout = _layers.check_rate("EmbeddingNeck", "dropout", dropout)
        self.use_bias = bool(use_bias)
        self.trainable_output_scale = bool(trainable_output_scale)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.batch_norm_epsilon = float(batch_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        bn_args = (self.batch_norm_momentum, self.batch_norm_epsilon)
        self.gdc = None
        self.bn2 = _layers.batch_norm("bn2", *bn_args)
        self.pool = (
            keras.layers.GlobalAveragePooling2D(name="avg_pool")
            if pooling == "avg"
            else keras.layers.Flatten(name="flatten")
        )
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout")
        self.fc = keras.layers.Dense(
            self.embedding_dim,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            name="fc",
        )
        self.features = _layers.batch_norm("features", *bn_args, scale=self.trainable_output_scale)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "EmbeddingNeck expects a feature map (batch, height, width, channels) with a "
                f"known number of channels; got shape {input_shape}."
            )
        if self.pooling != "avg" and (input_shape[1] is None or input_shape[2] is None):
            raise ValueError(
                f"EmbeddingNeck with pooling={self.pooling!r} needs a known height and width; "
                f"got shape {input_shape}. Use a fixed input size or pooling='avg'."
            )
        shape = input_shape
        if self.pooling == "gdc":
            self.gdc = keras.layers.DepthwiseConv2D(
                kernel_size=(input_shape[1], input_shape[2]),
                use_bias=False,
                depthwise_initializer=self.kernel_initializer,
                name="gdc",
            )
            self.gdc.build(shape)
            shape = self.gdc.compute_output_shape(shape)
        self.bn2.build(shape)
        self.pool.build(shape)
        shape = self.pool.compute_output_shape(shape)
        self.fc.build(shape)
        self.features.build((shape[0], self.embedding_dim))

    def call(self, inputs, training=None):
        x = inputs
        if self.gdc is not None:
            x = self.gdc(x)
        x = self.bn2(x, training=training)
        x = self.pool(x)
        x = self.dropout_layer(x, training=training)
        x = self.fc(x)
        return self.features(x, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "pooling": self.pooling,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "trainable_output_scale": self.trainable_output_scale,
                "batch_norm_momentum": self.batch_norm_momentum,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
