"""`CosineHead`: the class-centre matrix and the cosine between features and centres."""

from __future__ import annotations

import keras
from keras import ops

from keras_expface._checks import check_positive_int

# Squared-norm floor: a zero feature maps to zero cosines with a zero (not NaN) gradient.
_SQUARED_NORM_EPSILON = 1e-24


def l2_normalize(x, axis: int = -1):
    """Returns `x / max(||x||, 1e-12)` along `axis`, safe to differentiate at zero.

    Args:
        x: A tensor.
        axis: The axis to normalise. Defaults to `-1`.

    Returns:
        The normalised tensor, same shape and dtype.
    """
    squared_norm = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(squared_norm, _SQUARED_NORM_EPSILON))


def cosine_similarity(features, class_centers):
    """Cosines between features `(B, D)` and class centres `(D, C)`, as float32 in `[-1, 1]`.

    Both are L2-normalised (features along D per row, centres along D per column); the
    product runs in the features' dtype, the result is cast to float32 and clipped, since
    rounding can push a normalised dot product past +-1, where `arccos` is NaN.

    In float32 the centres are not normalised as a `(D, C)` copy: the product of the
    normalised features with the raw centres is scaled per column by `1 / ||w_j||`, the same
    cosine (within float32 rounding) and the same gradient with one pass over `(D, C)` fewer
    forward and backward (the largest array of a head with many classes; on the torch
    backend, where nothing fuses elementwise work, normalise-and-multiply's forward and
    backward took 20% less time at C = 10k, and the whole head + loss + SGD step went from
    1.14x to 0.77x of a plain-PyTorch step, `benchmarks/results/scale_quiet.md`). In float16 and
    bfloat16 the centres are normalised first, so that small raw centres cannot underflow in
    the reduced-precision product.

    Args:
        features: `(batch, embedding_dim)`.
        class_centers: `(embedding_dim, num_centers)`.

    Returns:
        `(batch, num_centers)` float32 cosines.
    """
    features = l2_normalize(features, axis=-1)
    if keras.backend.standardize_dtype(features.dtype) == "float32":
        squared_norms = ops.sum(ops.square(class_centers), axis=0, keepdims=True)
        inverse_norms = ops.rsqrt(ops.maximum(squared_norms, _SQUARED_NORM_EPSILON))
        cosine = ops.matmul(features, ops.cast(class_centers, "float32")) * inverse_norms
    else:
        centers = l2_normalize(class_centers, axis=0)
        cosine = ops.matmul(features, ops.cast(centers, features.dtype))
    return ops.clip(ops.cast(cosine, "float32"), -1.0, 1.0)


@keras.saving.register_keras_serializable(package="keras_expface")
class CosineHead(keras.layers.Layer):
    """Cosine classifier (a.k.a. NormDense): `cos(theta_ij) = <x_i/|x_i|, w_j/|w_j|>`.

    Owns the class centres `W` of shape `(embedding_dim, num_classes * num_subcenters)` and
    outputs the cosine between each L2-normalised feature and each L2-normalised centre,
    clipped to `[-1, 1]`. Put a margin loss (`keras_expface.ExpFaceLoss`, ...) on its output.

    With `num_subcenters = K > 1` (Sub-center ArcFace), each class has `K` centres and its
    cosine is the largest of the `K`.

    The head computes in float32 by default, also when a mixed-precision policy
    (`mixed_float16`, `mixed_bfloat16`) is set globally: its inputs are cast to float32 and
    its output is float32, as margins near `cos = +-1` need. Passing an explicit `dtype`
    policy overrides this for the matrix product; the output is float32 in every case.

    Args:
        num_classes: Number of identities `C`.
        num_subcenters: Centres per class `K`. Defaults to `1`.
        kernel_initializer: Initialiser of the centres. Defaults to
            `RandomNormal(stddev=0.01)`, as the ExpFace authors and insightface's Partial FC.
        kernel_regularizer: Optional regulariser of the centres. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        `(batch, embedding_dim)`.

    Output shape:
        `(batch, num_classes)`, float32, values in `[-1, 1]`.

    Example:

    >>> import keras, numpy as np
    >>> head = CosineHead(num_classes=3)
    >>> cosines = head(np.ones((2, 8), "float32"))
    >>> tuple(cosines.shape), keras.backend.standardize_dtype(cosines.dtype)
    ((2, 3), 'float32')
    """

    def __init__(
        self,
        num_classes: int,
        num_subcenters: int = 1,
        kernel_initializer="default",
        kernel_regularizer=None,
        **kwargs,
    ):
        kwargs["dtype"] = kwargs.get("dtype") or "float32"
        super().__init__(**kwargs)
        self.num_classes = check_positive_int("CosineHead", "num_classes", num_classes)
        self.num_subcenters = check_positive_int("CosineHead", "num_subcenters", num_subcenters)
        if kernel_initializer == "default":
            kernel_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "CosineHead expects 2-D inputs (batch, embedding_dim) with a known "
                f"embedding_dim; got shape {tuple(input_shape)}."
            )
        self.class_centers = self.add_weight(
            name="class_centers",
            shape=(input_shape[-1], self.num_classes * self.num_subcenters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs):
        cosine = cosine_similarity(inputs, self.class_centers)
        if self.num_subcenters > 1:
            cosine = ops.reshape(cosine, (-1, self.num_classes, self.num_subcenters))
            cosine = ops.max(cosine, axis=-1)
        return cosine

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs.shape[0], self.num_classes), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "num_subcenters": self.num_subcenters,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
