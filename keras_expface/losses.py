"""Margin-softmax losses: ExpFace, ArcFace, CosFace, SphereFace, combined margin, NormFace.

Each loss takes the cosine matrix `(batch, num_classes)` produced by
`keras_expface.CosineHead` and the integer class ids, replaces each row's target cosine
`cos(theta_y)` by the method's target similarity `T(theta_y)` (see `keras_expface.margins`),
scales every logit by `s` and applies softmax cross-entropy:

    logit_j = s * cos(theta_j)      (j != y)
    logit_y = s * T(theta_y)
    loss    = -log(softmax(logits)_y)

The margin is computed on the gathered target cosines only (O(batch) transcendental
operations) and written back into the target column; everything runs in float32.

Gradient treatment (`detach_margin`): with `True`, the default for the angular methods and
what the ExpFace authors' code and insightface's `arcface_torch` do, the forward pass uses
`T(theta_y)` while the backward pass treats the target logit as `s * cos(theta_y)`, so
`dL/dcos = s * (softmax - onehot)`; the shape of `T` enters the gradient only through the
softmax. With `False`, the gradient is the exact derivative of the forward pass,
`dL/dcos_y = s * (p_y - 1) * dT/dcos`, finite everywhere thanks to the clamp in
`keras_expface.margins.angle`.

Labels: integer ids of shape `(batch,)` or `(batch, 1)` (Keras hands them over as floats), or
one-hot rows `(batch, num_classes)`. A row labelled `-1` (or an all-zero one-hot row) is
ignored: it adds nothing to the loss or its gradient, and the mean reductions divide by the
number of rows that are not ignored (as `torch.nn.CrossEntropyLoss(ignore_index=...)` and
Keras' `ignore_class` do). Bad labels (out of range, not integral, not one-hot) raise a
`ValueError` when the values can be read (eager execution, the torch backend); inside a
compiled graph (`tf.function`, `jax.jit`) they cannot raise, and their rows give a NaN loss
instead, which `keras.callbacks.TerminateOnNaN` turns into a stop.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from keras_expface import margins

_PACKAGE = "keras_expface"

TargetSimilarity = Callable[..., object]


def parse_class_ids(y_true, num_classes: int):
    """Checks integer class ids `(batch,)` or `(batch, 1)`, given as ints or floats.

    Args:
        y_true: The labels; -1 marks a row to ignore.
        num_classes: The number of classes.

    Returns:
        `(labels, ignored, invalid)`: int32 ids (0 on ignored and invalid rows, so they can
        always be used as an index) and two boolean masks, all `(batch,)`. Invalid means not
        integral, NaN, below -1 or at least `num_classes`.
    """
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    rounded = ops.round(y_true)
    ignored = ops.equal(y_true, -1.0)
    invalid = (
        ops.not_equal(y_true, rounded)
        | (rounded < -1.0)
        | (rounded >= float(num_classes))
        | ops.isnan(y_true)
    )
    labels = ops.cast(ops.where(ignored | invalid, 0.0, rounded), "int32")
    return labels, ignored, invalid


def _parse_labels(y_true, y_pred):
    """Returns `(labels, ignored, invalid)`: int32 ids and two boolean masks, all `(batch,)`.

    `labels` is 0 on ignored and invalid rows, so it can always be used as an index.
    """
    if len(y_pred.shape) != 2:
        raise ValueError(
            "y_pred must be the 2-D cosine matrix (batch, num_classes) of a CosineHead; "
            f"got shape {tuple(y_pred.shape)}."
        )
    num_classes = y_pred.shape[-1]
    if num_classes is None:
        raise ValueError("y_pred must have a known number of classes (its last dimension).")
    label_shape = tuple(y_true.shape)
    batch_true, batch_pred = label_shape[0] if label_shape else None, y_pred.shape[0]
    if batch_true is not None and batch_pred is not None and batch_true != batch_pred:
        raise ValueError(
            f"y_true has {batch_true} rows but y_pred has {batch_pred}; "
            f"shapes {label_shape} and {tuple(y_pred.shape)}."
        )
    y_true = ops.cast(y_true, "float32")
    if len(label_shape) == 2 and label_shape[1] == num_classes and num_classes > 1:
        row_sum = ops.sum(y_true, axis=-1)
        is_one_hot = (
            ops.equal(ops.max(y_true, axis=-1), 1.0)
            & ops.equal(row_sum, 1.0)
            & ops.equal(ops.min(y_true, axis=-1), 0.0)
        )
        ignored = ops.equal(ops.max(ops.abs(y_true), axis=-1), 0.0)
        invalid = ~(is_one_hot | ignored)
        labels = ops.cast(ops.argmax(y_true, axis=-1), "int32")
    elif len(label_shape) == 1 or (len(label_shape) == 2 and label_shape[1] == 1):
        return parse_class_ids(y_true, num_classes)
    else:
        raise ValueError(
            "y_true must hold integer class ids of shape (batch,) or (batch, 1), or one-hot "
            f"rows of shape (batch, {num_classes}); got shape {label_shape} for y_pred of "
            f"shape {tuple(y_pred.shape)}."
        )
    labels = ops.where(ignored | invalid, 0, labels)
    return labels, ignored, invalid


def raise_if_readable_and_invalid(y_true, invalid, num_classes: int):
    """Raises a ValueError naming the bad rows when their values can be read.

    Symbolic tensors (`tf.function`, `jax.jit`) cannot be read; their bad rows give NaN.
    """
    try:
        invalid = np.asarray(ops.convert_to_numpy(invalid))
    except Exception:  # symbolic tensor: no value to check here
        return
    if not invalid.any():
        return
    rows = np.flatnonzero(invalid)
    values = np.asarray(ops.convert_to_numpy(y_true)).reshape(len(invalid), -1)[rows[:5]]
    shown = values.squeeze(-1).tolist() if values.shape[-1] == 1 else values.tolist()
    raise ValueError(
        f"{len(rows)} label row(s) are not valid for {num_classes} classes: rows "
        f"{rows[:5].tolist()} hold {shown}. Labels must be integers in [0, {num_classes}) "
        "(or -1 to ignore a row), or exact one-hot rows."
    )


def margin_softmax_cross_entropy(
    y_true,
    y_pred,
    target_similarity: TargetSimilarity | None = None,
    scale: float = 64.0,
    detach_margin: bool = True,
):
    """Per-sample softmax cross-entropy of scaled, margined cosines.

    `logits = s * cos`, with the target column replaced by `s * T(cos_y)`;
    `loss_i = -log softmax(logits_i)[y_i]`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)`, or one-hot `(batch, num_classes)`.
            Rows labelled -1 (all-zero one-hot rows) are ignored.
        y_pred: Cosines `(batch, num_classes)`, e.g. the output of `CosineHead`.
        target_similarity: A function mapping target cosines `(batch,)` to `T`, e.g.
            `functools.partial(keras_expface.margins.expface, margin=0.7)`. `None` means no
            margin (NormFace). Defaults to `None`.
        scale: The logit scale `s > 0`. Defaults to `64.0`.
        detach_margin: Straight-through margin (forward `T`, backward as `cos`) if `True`,
            exact gradient if `False`. Defaults to `True`.

    Returns:
        Per-sample losses `(batch,)`, float32; 0 on ignored rows, NaN on invalid rows that
        could not be checked eagerly.

    Example:

    >>> import functools, numpy as np
    >>> from keras_expface import margins
    >>> cos = np.array([[0.7, 0.3, -0.5]], "float32")
    >>> loss = margin_softmax_cross_entropy(
    ...     np.array([0]), cos, functools.partial(margins.expface, margin=0.7), scale=64.0)
    >>> round(float(loss[0]), 4)
    0.0195
    """
    scale = margins.check_range("scale", scale, 0.0, low_open=True)
    cosine = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.convert_to_tensor(y_true)
    labels, ignored, invalid = _parse_labels(y_true, cosine)
    raise_if_readable_and_invalid(y_true, invalid, cosine.shape[-1])

    if target_similarity is not None:
        target_cosine = ops.take_along_axis(cosine, labels[:, None], axis=1)[:, 0]
        margined = target_similarity(target_cosine)
        if detach_margin:
            # Forward value T(cos_y); gradient of cos_y alone (the authors' no_grad edit).
            margined = target_cosine + ops.stop_gradient(margined - target_cosine)
        # Write the B margined values into the target column: a functional scatter copies
        # the matrix once and builds no (B, C) mask (measured faster than a mask on torch,
        # equal under XLA). Each row has one index, so there are no duplicate updates.
        rows = ops.arange(ops.shape(labels)[0], dtype="int32")
        cosine = ops.scatter_update(cosine, ops.stack([rows, labels], axis=1), margined)

    losses = ops.sparse_categorical_crossentropy(labels, scale * cosine, from_logits=True)
    losses = ops.where(ignored, 0.0, losses)
    return ops.where(invalid, math.nan, losses)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def normface_loss(y_true, y_pred, scale: float = 64.0):
    """NormFace loss per sample: softmax cross-entropy of `s * cos(theta)`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)` or one-hot rows; -1 rows are ignored.
        y_pred: Cosines `(batch, num_classes)`.
        scale: Logit scale `s`. Defaults to `64.0`.

    Returns:
        Per-sample losses `(batch,)`.
    """
    return margin_softmax_cross_entropy(y_true, y_pred, None, scale=scale)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def expface_loss(
    y_true, y_pred, scale: float = 64.0, margin: float = 0.7, detach_margin: bool = True
):
    """ExpFace loss per sample: target logit `s * cos(pi * (theta_y / pi) ** m)`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)` or one-hot rows; -1 rows are ignored.
        y_pred: Cosines `(batch, num_classes)`.
        scale: Logit scale `s`. Defaults to `64.0`.
        margin: Exponent `m` in `(0, 1]`. Defaults to `0.7`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.

    Returns:
        Per-sample losses `(batch,)`.

    Example:

    >>> import numpy as np
    >>> cos = np.array([[0.7, 0.36, 0.3, -0.1], [-0.1, 0.3, -0.08, -0.2]], "float32")
    >>> round(float(keras.ops.mean(expface_loss(np.array([0, 1]), cos))), 4)
    0.9915
    """
    return margin_softmax_cross_entropy(
        y_true,
        y_pred,
        functools.partial(margins.expface, margin=margin),
        scale=scale,
        detach_margin=detach_margin,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
def arcface_loss(
    y_true,
    y_pred,
    scale: float = 64.0,
    margin: float = 0.5,
    easy_margin: bool = False,
    monotonic: bool = False,
    detach_margin: bool = True,
):
    """ArcFace loss per sample: target logit `s * cos(theta_y + m)`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)` or one-hot rows; -1 rows are ignored.
        y_pred: Cosines `(batch, num_classes)`.
        scale: Logit scale `s`. Defaults to `64.0`.
        margin: Additive angle `m` (radians). Defaults to `0.5`.
        easy_margin: Margin only where `cos > 0`. Defaults to `False`.
        monotonic: th/mm fallback beyond `pi - m`. Defaults to `False`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.

    Returns:
        Per-sample losses `(batch,)`.
    """
    return margin_softmax_cross_entropy(
        y_true,
        y_pred,
        functools.partial(
            margins.arcface, margin=margin, easy_margin=easy_margin, monotonic=monotonic
        ),
        scale=scale,
        detach_margin=detach_margin,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
def cosface_loss(y_true, y_pred, scale: float = 64.0, margin: float = 0.35):
    """CosFace loss per sample: target logit `s * (cos(theta_y) - m)`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)` or one-hot rows; -1 rows are ignored.
        y_pred: Cosines `(batch, num_classes)`.
        scale: Logit scale `s`. Defaults to `64.0`.
        margin: Cosine margin `m`. Defaults to `0.35`.

    Returns:
        Per-sample losses `(batch,)`.
    """
    # dT/dcos = 1: the straight-through and exact gradients coincide.
    return margin_softmax_cross_entropy(
        y_true,
        y_pred,
        functools.partial(margins.cosface, margin=margin),
        scale=scale,
        detach_margin=False,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
def sphereface_loss(
    y_true, y_pred, scale: float = 32.0, margin: float = 1.7, detach_margin: bool = True
):
    """SphereFace loss per sample: target logit `s * psi(theta_y)` with real `m`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)` or one-hot rows; -1 rows are ignored.
        y_pred: Cosines `(batch, num_classes)`.
        scale: Logit scale `s`. Defaults to `32.0`.
        margin: Angle multiplier `m >= 1`. Defaults to `1.7`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.

    Returns:
        Per-sample losses `(batch,)`.
    """
    return margin_softmax_cross_entropy(
        y_true,
        y_pred,
        functools.partial(margins.sphereface, margin=margin),
        scale=scale,
        detach_margin=detach_margin,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
def combined_margin_loss(
    y_true,
    y_pred,
    scale: float = 64.0,
    m1: float = 1.0,
    m2: float = 0.3,
    m3: float = 0.2,
    detach_margin: bool = True,
):
    """Combined-margin loss per sample: target logit `s * (cos(m1 * theta_y + m2) - m3)`.

    Args:
        y_true: Class ids `(batch,)` / `(batch, 1)` or one-hot rows; -1 rows are ignored.
        y_pred: Cosines `(batch, num_classes)`.
        scale: Logit scale `s`. Defaults to `64.0`.
        m1: Angle multiplier. Defaults to `1.0`.
        m2: Additive angle (radians). Defaults to `0.3`.
        m3: Additive cosine margin. Defaults to `0.2`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.

    Returns:
        Per-sample losses `(batch,)`.
    """
    return margin_softmax_cross_entropy(
        y_true,
        y_pred,
        functools.partial(margins.combined, m1=m1, m2=m2, m3=m3),
        scale=scale,
        detach_margin=detach_margin,
    )


class MarginLoss(keras.losses.Loss):
    """Base class of the margin-softmax losses.

    A subclass sets its hyper-parameters in `__init__` and implements `target_similarity`
    (the method's `T`, applied to the target cosines). The base class owns the scale, the
    gradient treatment, label handling and Keras' reductions.

    Args:
        scale: Logit scale `s > 0`. Defaults to `64.0`.
        detach_margin: Straight-through margin gradient if `True`, exact if `False`.
            Defaults to `True`.
        reduction: Keras reduction: `"sum_over_batch_size"`, `"mean"`, `"sum"`,
            `"mean_with_sample_weight"` or `"none"`. The mean reductions divide by the number
            of rows not labelled -1. Defaults to `"sum_over_batch_size"`.
        name: Name of the loss instance. Defaults to the snake-case method name.
        dtype: Dtype of the reduction. The margin and the cross-entropy always run in
            float32. Defaults to `None` (`keras.backend.floatx()`).
    """

    def __init__(
        self,
        scale: float = 64.0,
        detach_margin: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.scale = margins.check_range("scale", scale, 0.0, low_open=True)
        self.detach_margin = bool(detach_margin)

    def target_similarity(self, target_cosine):
        """Maps target cosines `(batch,)` to `T`; `None` for a loss without margin."""
        raise NotImplementedError

    def call(self, y_true, y_pred):
        return margin_softmax_cross_entropy(
            y_true,
            y_pred,
            self.target_similarity,
            scale=self.scale,
            detach_margin=self.detach_margin,
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        _, ignored, _ = _parse_labels(y_true, y_pred)
        counted = ops.cast(~ignored, "float32")
        if self.reduction in ("sum_over_batch_size", "mean"):
            # Keras divides by the batch size: reweight so the mean runs over counted rows.
            total = ops.cast(ops.shape(counted)[0], "float32")
            counted = counted * ops.divide_no_nan(total, ops.sum(counted))
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if len(sample_weight.shape) == 2 and sample_weight.shape[-1] == 1:
                sample_weight = ops.reshape(sample_weight, (-1,))
            counted = counted * sample_weight
        return super().__call__(y_true, y_pred, sample_weight=counted)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"scale": self.scale, "detach_margin": self.detach_margin, "dtype": self.dtype}
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NormFaceLoss(MarginLoss):
    """NormFace (normalised softmax) loss: softmax cross-entropy of `s * cos(theta)`.

    No margin; the baseline the others are measured against. End the model with a
    `CosineHead`.

    Args:
        scale: Logit scale `s`. Defaults to `64.0`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"normface_loss"`.
        dtype: Reduction dtype. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> loss = NormFaceLoss(scale=64.0)
    >>> round(float(loss(np.array([0]), np.array([[0.2, 0.3, -0.5]], "float32"))), 4)
    6.4017

    Reference: Wang et al., https://arxiv.org/abs/1704.06369
    """

    def __init__(
        self, scale=64.0, reduction="sum_over_batch_size", name="normface_loss", dtype=None
    ):
        super().__init__(
            scale=scale, detach_margin=False, reduction=reduction, name=name, dtype=dtype
        )

    target_similarity = None

    def get_config(self):
        config = super().get_config()
        del config["detach_margin"]
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ExpFaceLoss(MarginLoss):
    """ExpFace loss: exponential angular margin on the target logit.

    `logit_y = s * cos(pi * (theta_y / pi) ** m)`, `logit_j = s * cos(theta_j)`, softmax
    cross-entropy. The margin is larger in the centre of the angular range (largest at 54.8
    degrees for `m = 0.7`) and vanishes at 0 and 180 degrees, which the paper argues
    emphasises clean samples and suppresses noisy ones.

    End the model with a `keras_expface.CosineHead`, whose output (the cosines) is `y_pred`.

    Args:
        scale: Logit scale `s`. Defaults to `64.0`.
        margin: Exponent `m` in `(0, 1]` (`1` is NormFace). Defaults to `0.7`, the authors'
            setting for CASIA-WebFace and MS1MV3.
        detach_margin: If `True` (the authors' code), the forward pass uses the margined
            value and the backward pass treats the target logit as `s * cos(theta_y)`. If
            `False`, exact gradient through the margin. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"expface_loss"`.
        dtype: Reduction dtype. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> cos = np.array([[0.7, 0.36, 0.3, -0.1], [-0.1, 0.3, -0.08, -0.2]], "float32")
    >>> round(float(ExpFaceLoss()(np.array([0, 1]), cos)), 4)
    0.9915

    Usage with the `compile()` API:

    ```python
    model.compile(optimizer="adam", loss=keras_expface.ExpFaceLoss(scale=64.0, margin=0.7))
    ```

    Reference: Zheng and Gong, "ExpFace: Exponential Angular Margin Loss for Deep Face
    Recognition", https://arxiv.org/abs/2509.19753
    """

    def __init__(
        self,
        scale=64.0,
        margin=0.7,
        detach_margin=True,
        reduction="sum_over_batch_size",
        name="expface_loss",
        dtype=None,
    ):
        super().__init__(
            scale=scale, detach_margin=detach_margin, reduction=reduction, name=name, dtype=dtype
        )
        self.margin = margins.check_expface_margin(margin)

    def target_similarity(self, target_cosine):
        return margins.expface(target_cosine, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ArcFaceLoss(MarginLoss):
    """ArcFace loss: additive angular margin, `logit_y = s * cos(theta_y + m)`.

    The default is the plain, non-monotonic form with a straight-through gradient, as
    insightface's `arcface_torch` computes it today; `easy_margin` and `monotonic` (the
    th/mm fallback) give the older variants, see `keras_expface.margins.arcface`.

    Args:
        scale: Logit scale `s`. Defaults to `64.0`.
        margin: Additive angle `m` in radians, in `[0, pi)`. Defaults to `0.5`.
        easy_margin: Margin only where `cos(theta_y) > 0`. Defaults to `False`.
        monotonic: th/mm fallback beyond `pi - m`. Defaults to `False`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"arcface_loss"`.
        dtype: Reduction dtype. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> loss = ArcFaceLoss(margin=0.5)
    >>> round(float(loss(np.array([0]), np.array([[0.7, 0.3, -0.5]], "float32"))), 4)
    1.95

    Reference: Deng et al., https://arxiv.org/abs/1801.07698
    """

    def __init__(
        self,
        scale=64.0,
        margin=0.5,
        easy_margin=False,
        monotonic=False,
        detach_margin=True,
        reduction="sum_over_batch_size",
        name="arcface_loss",
        dtype=None,
    ):
        super().__init__(
            scale=scale, detach_margin=detach_margin, reduction=reduction, name=name, dtype=dtype
        )
        self.margin = margins.check_arcface_margin(margin)
        if easy_margin and monotonic:
            raise ValueError("ArcFace: choose at most one of `easy_margin` and `monotonic`.")
        self.easy_margin = bool(easy_margin)
        self.monotonic = bool(monotonic)

    def target_similarity(self, target_cosine):
        return margins.arcface(target_cosine, self.margin, self.easy_margin, self.monotonic)

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "easy_margin": self.easy_margin,
            "monotonic": self.monotonic,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosFaceLoss(MarginLoss):
    """CosFace (AM-Softmax) loss: additive cosine margin, `logit_y = s * (cos(theta_y) - m)`.

    `dT/dcos = 1`, so there is no gradient choice to make (no `detach_margin`).

    Args:
        scale: Logit scale `s`. Defaults to `64.0`.
        margin: Cosine margin `m` in `[0, 2]`. Defaults to `0.35` (the ExpFace authors'
            CosFace configs use `0.4`).
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"cosface_loss"`.
        dtype: Reduction dtype. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> loss = CosFaceLoss(margin=0.35)
    >>> round(float(loss(np.array([0]), np.array([[0.7, 0.3, -0.5]], "float32"))), 4)
    0.04

    Reference: Wang et al., https://arxiv.org/abs/1801.09414
    """

    def __init__(
        self,
        scale=64.0,
        margin=0.35,
        reduction="sum_over_batch_size",
        name="cosface_loss",
        dtype=None,
    ):
        super().__init__(
            scale=scale, detach_margin=False, reduction=reduction, name=name, dtype=dtype
        )
        self.margin = margins.check_cosface_margin(margin)

    def target_similarity(self, target_cosine):
        return margins.cosface(target_cosine, self.margin)

    def get_config(self):
        config = {**super().get_config(), "margin": self.margin}
        del config["detach_margin"]
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SphereFaceLoss(MarginLoss):
    """SphereFace loss (normalised, real `m`): `logit_y = s * psi(theta_y)`.

    `psi(theta) = (-1)**k cos(m theta) - 2k`, `k = floor(m theta / pi)`. With
    `detach_margin=True` (the default) this is SphereFace-R's characteristic gradient
    detachment, which removes SphereFace's training instability; the exact derivative
    diverges as `theta -> pi` for non-integer `m` (it is clamped, so it stays finite).

    Args:
        scale: Logit scale `s`. Defaults to `32.0` (the ExpFace authors' baseline).
        margin: Angle multiplier `m >= 1`. Defaults to `1.7`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"sphereface_loss"`.
        dtype: Reduction dtype. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> loss = SphereFaceLoss()
    >>> round(float(loss(np.array([0]), np.array([[0.7, 0.3, -0.5]], "float32"))), 4)
    2.7274

    Reference: Liu et al., https://arxiv.org/abs/1704.08063 and
    https://arxiv.org/abs/2109.05565
    """

    def __init__(
        self,
        scale=32.0,
        margin=1.7,
        detach_margin=True,
        reduction="sum_over_batch_size",
        name="sphereface_loss",
        dtype=None,
    ):
        super().__init__(
            scale=scale, detach_margin=detach_margin, reduction=reduction, name=name, dtype=dtype
        )
        self.margin = margins.check_sphereface_margin(margin)

    def target_similarity(self, target_cosine):
        return margins.sphereface(target_cosine, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CombinedMarginLoss(MarginLoss):
    """Combined-margin loss: `logit_y = s * (cos(m1 * theta_y + m2) - m3)`.

    Every `(m1, m2, m3)` is computed as written, including the default `(1.0, 0.3, 0.2)` of
    insightface's MXNet configs (insightface's PyTorch version turns it into CosFace).

    Args:
        scale: Logit scale `s`. Defaults to `64.0`.
        m1: Angle multiplier `> 0`. Defaults to `1.0`.
        m2: Additive angle in radians, in `[0, pi)`. Defaults to `0.3`.
        m3: Additive cosine margin in `[0, 2]`. Defaults to `0.2`.
        detach_margin: Straight-through margin gradient. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"combined_margin_loss"`.
        dtype: Reduction dtype. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> loss = CombinedMarginLoss()
    >>> round(float(loss(np.array([0]), np.array([[0.7, 0.3, -0.5]], "float32"))), 4)
    2.7723
    """

    def __init__(
        self,
        scale=64.0,
        m1=1.0,
        m2=0.3,
        m3=0.2,
        detach_margin=True,
        reduction="sum_over_batch_size",
        name="combined_margin_loss",
        dtype=None,
    ):
        super().__init__(
            scale=scale, detach_margin=detach_margin, reduction=reduction, name=name, dtype=dtype
        )
        self.m1, self.m2, self.m3 = margins.check_combined_margins(m1, m2, m3)

    def target_similarity(self, target_cosine):
        return margins.combined(target_cosine, self.m1, self.m2, self.m3)

    def get_config(self):
        return {**super().get_config(), "m1": self.m1, "m2": self.m2, "m3": self.m3}
