"""Partial FC: a cosine head that scores a fixed-size random subset of the classes per step.

`PartialFCHead` owns the class centres (as `CosineHead` does) and, in training, samples
`num_sampled` of them, always including the batch's positive classes, and remaps the labels
to the sampled columns. `PartialFCModel` wires it into `model.fit`: its `compute_loss` hands
the labels to the head and the remapped labels to the compiled margin loss.
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from keras_expface._checks import check_positive_int
from keras_expface.layers.cosine_head import cosine_similarity
from keras_expface.losses import parse_class_ids, raise_if_readable_and_invalid

_PACKAGE = "keras_expface"
# Added to the random score of positive classes: scores are in [0, 1), so positives rank first.
_POSITIVE_BONUS = 2.0


def _check_sample_rate(sample_rate) -> float:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)):
        raise ValueError(f"PartialFCHead: sample_rate must be a number; got {sample_rate!r}.")
    sample_rate = float(sample_rate)
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"PartialFCHead: sample_rate must be in (0, 1]; got {sample_rate!r}.")
    return sample_rate


def _parse_class_ids(labels, num_classes: int):
    """Checks the shape (sparse ids only), then `parse_class_ids`: `(ids, ignored, invalid)`."""
    shape = tuple(labels.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ValueError(
            "PartialFCHead expects integer class ids of shape (batch,) or (batch, 1); got "
            f"shape {shape}. One-hot labels are not supported with Partial FC."
        )
    return parse_class_ids(labels, num_classes)


def _raise_if_readable_and_dropped(dropped, num_sampled: int):
    """Raises when positives did not fit in the sample and the values can be read."""
    try:
        dropped = ops.convert_to_numpy(dropped)
    except Exception:  # symbolic tensor: the dropped rows are ignored by the loss instead
        return
    if dropped.any():
        raise ValueError(
            f"PartialFCHead: the batch has more distinct positive classes than "
            f"num_sampled={num_sampled}, so {int(dropped.sum())} row(s) lost their class. "
            "Raise sample_rate or lower the batch size (num_sampled must be at least the "
            "number of distinct labels in a batch)."
        )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PartialFCHead(keras.layers.Layer):
    """Partial FC cosine head: each training step scores `num_sampled` of the `C` classes.

    Owns the class centres `W` of shape `(embedding_dim, num_classes)`, the same layout and
    initialisation as `CosineHead`, so weights can be copied between the two. With
    `num_sampled = int(sample_rate * num_classes)` (rounded down, as insightface's
    `PartialFC_V2` and the ExpFace authors' `my_PFC` do), a training call:

    1. marks the batch's positive classes (rows labelled -1 are ignored);
    2. draws a uniform score in `[0, 1)` for every class, adds `2` to the positives and keeps
       the `num_sampled` best (`ops.top_k`), sorted by class id: all positives plus a uniform
       random subset of the other classes;
    3. returns the cosines `cos(theta_ij)` between the L2-normalised features and the
       L2-normalised sampled centres, `(batch, num_sampled)`, and the labels remapped to
       the sampled columns (`sampled_ids[remapped_label] == label`).

    Every shape is static, so the step compiles under XLA (`jit_compile`, `jax.jit`). Only
    the sampled centres receive a gradient; the others get an exact zero (an optimizer with
    momentum or weight decay still moves them, as in insightface). With `sample_rate=1.0`
    no sampling happens: the output equals `CosineHead`'s and the labels pass through (as
    int32 ids). Any margin loss of the package takes the output unchanged.

    Outside training (`training` false or no labels) the head returns the cosines over all
    classes, `(batch, num_classes)`, like `CosineHead`.

    If a batch has more distinct positive classes than `num_sampled` (possible only when
    `num_sampled` < batch size), the extra classes cannot be kept with a static sample
    size: the call raises a `ValueError` when the labels can be read (eager execution, the
    torch backend); inside a compiled graph the rows whose class was dropped get label -1,
    which the losses ignore. insightface instead keeps every positive (a variable shape).

    Randomness comes from a `keras.random.SeedGenerator` owned by the layer: the same
    `seed` gives the same sequence of samples on a given backend (the backends' streams
    differ), and each step draws a new sample. The generator state advances inside
    compiled steps but is not saved in `.keras` files (as for Keras' `Dropout`): a
    reloaded model restarts the stream from `seed`.

    Like `CosineHead`, the head computes in float32 by default (also under a global
    mixed-precision policy) and always outputs float32 cosines, clipped to `[-1, 1]`.

    Args:
        num_classes: Number of identities `C`.
        sample_rate: Fraction of classes scored per training step, in `(0, 1]`; must give
            `num_sampled >= 1`. Defaults to `1.0` (full softmax).
        kernel_initializer: Initialiser of the centres. Defaults to
            `RandomNormal(stddev=0.01)`, as the ExpFace authors and insightface.
        kernel_regularizer: Optional regulariser of the centres (applied to all of them).
            Defaults to `None`.
        seed: Integer seed of the layer's `SeedGenerator`. Defaults to `None` (random).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`, ...).

    Input shape:
        `[embeddings, labels]` with embeddings `(batch, embedding_dim)` and integer class
        ids `(batch,)` or `(batch, 1)` (floats holding integers are accepted; -1 ignores a
        row), or the embeddings alone.

    Call arguments:
        inputs: `[embeddings, labels]` or the embeddings.
        training: Whether to sample (with labels). Defaults to `None` (no sampling).
        return_sampled_ids: Also return the sampled class ids (training with labels).
            Defaults to `False`.

    Output shape:
        Training with labels: a tuple `(cosines, remapped_labels)`, `(batch, num_sampled)`
        float32 and `(batch,)` int32 (plus `sampled_ids`, `(num_sampled,)` int32, in
        increasing order, if `return_sampled_ids`). Otherwise: `(batch, num_classes)`
        float32.

    Example:

    >>> import numpy as np
    >>> head = PartialFCHead(num_classes=10, sample_rate=0.5, seed=1)
    >>> embeddings, labels = np.ones((4, 8), "float32"), np.array([3, 3, 7, -1])
    >>> cosines, remapped = head([embeddings, labels], training=True)
    >>> tuple(cosines.shape), tuple(remapped.shape)
    ((4, 5), (4,))
    >>> _, remapped, ids = head([embeddings, labels], training=True, return_sampled_ids=True)
    >>> ops.convert_to_numpy(ids)[ops.convert_to_numpy(remapped)[:3]].tolist()
    [3, 3, 7]
    >>> tuple(head(embeddings).shape)
    (4, 10)

    Reference: An et al., "Partial FC: Training 10 Million Identities on a Single Machine",
    https://arxiv.org/abs/2010.05222
    """

    def __init__(
        self,
        num_classes: int,
        sample_rate: float = 1.0,
        kernel_initializer="default",
        kernel_regularizer=None,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs["dtype"] = kwargs.get("dtype") or "float32"
        super().__init__(**kwargs)
        check_positive_int("PartialFCHead", "num_classes", num_classes)
        self.num_classes = num_classes
        self.sample_rate = _check_sample_rate(sample_rate)
        self.num_sampled = int(self.sample_rate * num_classes)
        if self.num_sampled < 1:
            raise ValueError(
                f"PartialFCHead: sample_rate={sample_rate} samples no class out of "
                f"{num_classes} (num_sampled = int(sample_rate * num_classes) = 0)."
            )
        if kernel_initializer == "default":
            kernel_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def samples(self) -> bool:
        """Whether training calls sample (`num_sampled < num_classes`)."""
        return self.num_sampled < self.num_classes

    def build(self, input_shape):
        embedding_shape = input_shape
        if isinstance(input_shape[0], (list, tuple)):  # [embeddings_shape, labels_shape]
            embedding_shape = input_shape[0]
        if len(embedding_shape) != 2 or embedding_shape[-1] is None:
            raise ValueError(
                "PartialFCHead expects 2-D embeddings (batch, embedding_dim) with a known "
                f"embedding_dim; got shape {tuple(embedding_shape)}."
            )
        batch_size = embedding_shape[0]
        if self.samples and batch_size is not None and batch_size > self.num_sampled:
            warnings.warn(
                f"PartialFCHead: batch size {batch_size} exceeds num_sampled="
                f"{self.num_sampled}; a batch with more distinct classes than that loses "
                "rows (see the class docstring).",
                stacklevel=2,
            )
        self.class_centers = self.add_weight(
            name="class_centers",
            shape=(embedding_shape[-1], self.num_classes),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs, training=None, return_sampled_ids: bool = False):
        if _is_pair(inputs):
            embeddings, labels = inputs
        else:
            embeddings, labels = inputs, None
        if not training or labels is None:
            return cosine_similarity(embeddings, self.class_centers)

        labels = ops.convert_to_tensor(labels)
        ids, ignored, invalid = _parse_class_ids(labels, self.num_classes)
        raise_if_readable_and_invalid(labels, invalid, self.num_classes)
        # An invalid row gets a label the loss rejects too (eager ValueError or NaN).
        invalid_label = self.num_sampled
        if not self.samples:
            remapped = ops.where(ignored, -1, ops.where(invalid, invalid_label, ids))
            cosines = cosine_similarity(embeddings, self.class_centers)
            if return_sampled_ids:
                return cosines, remapped, ops.arange(self.num_classes, dtype="int32")
            return cosines, remapped

        sampled_ids = self.sample_class_ids(ids, ignored | invalid)
        # position_of[c] = column of class c in the sample, -1 when c was not sampled.
        position_of = ops.scatter_update(
            ops.full((self.num_classes,), -1, dtype="int32"),
            sampled_ids[:, None],
            ops.arange(self.num_sampled, dtype="int32"),
        )
        remapped = ops.take(position_of, ids, axis=0)
        dropped = ~(ignored | invalid) & (remapped < 0)
        _raise_if_readable_and_dropped(dropped, self.num_sampled)
        remapped = ops.where(ignored | dropped, -1, ops.where(invalid, invalid_label, remapped))
        # Gathering the columns makes the gradient of the other centres exactly zero.
        centers = ops.take(self.class_centers, sampled_ids, axis=1)
        cosines = cosine_similarity(embeddings, centers)
        if return_sampled_ids:
            return cosines, remapped, sampled_ids
        return cosines, remapped

    def sample_class_ids(self, class_ids, skip):
        """Draws the sampled class ids: all of the batch's positives plus random others.

        Args:
            class_ids: int32 class ids `(batch,)`.
            skip: Boolean `(batch,)`, rows whose id is not a positive (ignored, invalid).

        Returns:
            int32 `(num_sampled,)`, distinct class ids in increasing order.
        """
        # Skipped rows write to an extra slot C, dropped afterwards.
        slots = ops.where(skip, self.num_classes, class_ids)
        is_positive = ops.scatter_update(
            ops.zeros((self.num_classes + 1,), dtype="float32"),
            slots[:, None],
            ops.ones_like(slots, dtype="float32"),
        )[: self.num_classes]
        scores = keras.random.uniform(
            (self.num_classes,), dtype="float32", seed=self.seed_generator
        )
        scores = scores + _POSITIVE_BONUS * is_positive
        _, sampled_ids = ops.top_k(scores, k=self.num_sampled, sorted=False)
        return ops.sort(ops.cast(sampled_ids, "int32"))

    def compute_output_spec(self, inputs, training=None, return_sampled_ids=False):
        embeddings = inputs[0] if _is_pair(inputs) else inputs
        batch = embeddings.shape[0]
        if training and _is_pair(inputs):
            outputs = (
                keras.KerasTensor((batch, self.num_sampled), dtype="float32"),
                keras.KerasTensor((batch,), dtype="int32"),
            )
            if return_sampled_ids:
                outputs += (keras.KerasTensor((self.num_sampled,), dtype="int32"),)
            return outputs
        return keras.KerasTensor((batch, self.num_classes), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "sample_rate": self.sample_rate,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "seed": self.seed,
            }
        )
        return config


def _is_pair(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PartialFCModel(keras.Model):
    """Trains an embedding model with a `PartialFCHead` through `compile` / `fit`.

    `fit` calls the model with `training=True`: it returns `{"embeddings": ...}`, and
    `compute_loss` calls the head with the labels, which samples the classes and remaps
    the labels, then applies the compiled loss to `(remapped_labels, sampled_cosines)`.
    Outside training (`predict`, `evaluate`, `model(x)`) the model returns the cosines over
    all classes, `(batch, num_classes)`, and the loss and metrics see those.

    Compiled metrics (`metrics=["accuracy"]`) are computed in `evaluate` and on
    `validation_data`; during `fit` the training logs hold only the loss, since a training
    step computes the sampled classes only.

    Args:
        embedding_model: A model (or layer) mapping inputs to embeddings
            `(batch, embedding_dim)`, e.g. `build_face_model(...).embedding_model`.
        head: The `PartialFCHead`.
        **kwargs: Base model arguments (`name`, ...).

    Example:

    ```python
    inputs = keras.Input((64,))
    embedding_model = keras.Model(inputs, keras.layers.Dense(128)(inputs))
    head = kx.PartialFCHead(num_classes=10_000, sample_rate=0.3, seed=0)
    model = kx.PartialFCModel(embedding_model, head)
    model.compile(optimizer="sgd", loss=kx.ExpFaceLoss())
    model.fit(x, integer_labels, batch_size=128)
    ```
    """

    def __init__(self, embedding_model, head: PartialFCHead, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(head, PartialFCHead):
            raise ValueError(
                f"PartialFCModel: head must be a PartialFCHead; got {type(head).__name__}."
            )
        self.embedding_model = embedding_model
        self.head = head

    def build(self, input_shape):
        if not self.embedding_model.built:
            self.embedding_model.build(input_shape)
        if not self.head.built:
            self.head.build(self.embedding_model.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        embeddings = self.embedding_model(inputs, training=training)
        if training:
            return {"embeddings": embeddings}
        return self.head(embeddings)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y_pred, dict) and "embeddings" in y_pred:
            y_pred, y = self.head([y_pred["embeddings"], y], training=True)
        return super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict) and "embeddings" in y_pred:
            # No cosines over all classes in a training step: report the loss only.
            return {
                metric.name: metric.result() for metric in self.metrics if metric.name == "loss"
            }
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_metrics_result(self):
        # On TensorFlow, compiled metrics are built by the first evaluation only.
        results = {}
        for metric in self.metrics:
            if not getattr(metric, "built", True):
                continue
            result = metric.result()
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_model": keras.saving.serialize_keras_object(self.embedding_model),
                "head": keras.saving.serialize_keras_object(self.head),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        embedding_model = keras.saving.deserialize_keras_object(
            config.pop("embedding_model"), custom_objects=custom_objects
        )
        head = keras.saving.deserialize_keras_object(
            config.pop("head"), custom_objects=custom_objects
        )
        return cls(embedding_model, head, **config)
