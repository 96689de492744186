"""Embeddings of face images from a Keras model, as insightface computes them for evaluation."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from keras_expface.evaluation._utils import check_count, import_optional
from keras_expface.evaluation.protocol import (
    DEFAULT_FAR_TARGETS,
    VerificationResult,
    verification_metrics,
)
from keras_expface.evaluation.verification_pairs import VerificationPairs
from keras_expface.layers import CosineHead

#: Pixel scalings `compute_embeddings` knows by name (uint8 pixels in, float32 out).
PREPROCESSING = {
    "none": lambda pixels: pixels,  # 0..255, for models that rescale inside
    "unit": lambda pixels: pixels / 255.0,  # 0..1
    # -1..1, in insightface's order of operations (same float32 rounding).
    "symmetric": lambda pixels: (pixels / 255.0 - 0.5) / 0.5,
}


def embedding_model_from(model: keras.Model, layer_name: str | None = None) -> keras.Model:
    """The model that maps images to embeddings, given an embedding or a training model.

    The rule: with `layer_name`, the output of that layer; otherwise, when the model's output
    comes from a `CosineHead` (a training model), the head's input; otherwise the model as
    it is. The new model shares its layers and weights with `model`.

    Args:
        model: A Keras model taking a batch of images.
        layer_name: Name of the layer whose output is the embedding. Defaults to `None`.

    Returns:
        A Keras model mapping images to embeddings.

    Raises:
        ValueError: If the layer does not exist, or a head or layer has to be cut off a
            model that is not a single-input functional model.

    Example:

    ```python
    training_model = keras.saving.load_model("run/model.keras")  # ... -> CosineHead
    embedder = embedding_model_from(training_model)  # ... -> the head's input features
    ```
    """
    outputs = getattr(model, "outputs", None) or ()  # a subclassed model has none
    if layer_name is None:
        # The layer that produced the output tensor (Keras' own bookkeeping on it).
        history = getattr(outputs[0], "_keras_history", None) if len(outputs) == 1 else None
        operation = getattr(history, "operation", None)
        if not isinstance(operation, CosineHead):
            return model
        features = operation.input
        what = f"the CosineHead {operation.name!r}"
    else:
        try:
            layer = model.get_layer(layer_name)
        except ValueError as error:
            names = ", ".join(layer.name for layer in model.layers)
            raise ValueError(
                f"Model {model.name!r} has no layer {layer_name!r}; its layers: {names}."
            ) from error
        try:
            features = layer.output
        except (AttributeError, ValueError):  # not called on symbolic inputs, or shared
            features = None
        what = f"the layer {layer_name!r}"
    inputs = getattr(model, "inputs", None) or ()
    if features is None or isinstance(features, list | tuple) or len(inputs) != 1:
        raise ValueError(
            f"Cannot cut {what} off model {model.name!r}: that needs a functional model with "
            "one image input and one feature tensor. Pass the embedding model instead."
        )
    return keras.Model(inputs[0], features, name=f"{model.name}_embedding")


def _preprocessing_function(preprocessing) -> Callable[[np.ndarray], np.ndarray]:
    if preprocessing is None:
        return PREPROCESSING["none"]
    if callable(preprocessing):
        return preprocessing
    if preprocessing in PREPROCESSING:
        return PREPROCESSING[preprocessing]
    raise ValueError(
        f"preprocessing must be one of {sorted(PREPROCESSING)}, a callable or None; "
        f"got {preprocessing!r}."
    )


def compute_embeddings(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 64,
    flip: bool = True,
    preprocessing: str | Callable[[np.ndarray], np.ndarray] | None = None,
    image_names: tuple[str, ...] | None = None,
) -> np.ndarray:
    """L2-normalised embeddings of images, optionally summed with those of their mirror images.

    As insightface's `eval/verification.py`: with `flip=True` the model embeds each image and
    its horizontal mirror, the two raw embeddings are added, and the sum is L2-normalised
    (scikit-learn's `normalize`), in float64. Images are fed in batches through
    `model.predict_on_batch` (inference mode), as float32 after `preprocessing`; a model
    built for `channels_first` gets them transposed.

    Args:
        model: A Keras model mapping `(batch, height, width, channels)` images to
            `(batch, dim)` embeddings (see `embedding_model_from`).
        images: `(num_images, height, width, channels)` pixels, usually uint8.
        batch_size: Images per model call. Defaults to `64`.
        flip: Add the embedding of the mirror image before normalising. Defaults to `True`.
        preprocessing: `"none"` (pixels as they are), `"unit"` (`x / 255`), `"symmetric"`
            (`(x / 255 - 0.5) / 0.5`, insightface's scaling), or a callable on a float32
            numpy batch.
            Must match what the model saw in training. Defaults to `None` (`"none"`).
        image_names: Optional name of each image (a path), used in error messages.

    Returns:
        `(num_images, dim)` float64 unit vectors.

    Raises:
        ValueError: If there is no image, the images are not a 4-D array, the model output
            is not `(batch, dim)`, or an embedding holds NaN or inf (the images are named).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    >>> embeddings = compute_embeddings(model, np.ones((3, 4, 4, 1), "uint8"))
    >>> embeddings.shape, np.allclose(np.linalg.norm(embeddings, axis=1), 1.0)
    ((3, 16), True)
    """
    normalize = import_optional("sklearn.preprocessing").normalize
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "images must be a (num_images, height, width, channels) array; got shape "
            f"{images.shape}."
        )
    if len(images) == 0:
        raise ValueError("There is no image to embed.")
    batch_size = check_count("batch_size", batch_size)
    scale = _preprocessing_function(preprocessing)
    channels_first = keras.config.image_data_format() == "channels_first"

    def embed(batch):
        batch = np.asarray(scale(batch.astype(np.float32)), dtype=np.float32)
        if channels_first:
            batch = np.transpose(batch, (0, 3, 1, 2))
        output = keras.ops.convert_to_numpy(model.predict_on_batch(batch))
        if output.ndim != 2:
            raise ValueError(
                f"Model {model.name!r} returns shape {output.shape} for a batch of images; an "
                "embedding model returns (batch, dim). For a training model, see "
                "embedding_model_from."
            )
        return output.astype(np.float64)

    chunks = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        embeddings = embed(batch)
        if flip:
            embeddings = embeddings + embed(batch[:, :, ::-1])
        chunks.append(embeddings)
    embeddings = np.concatenate(chunks)

    bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
    if bad.size:
        names = image_names or tuple(f"image {index}" for index in range(len(images)))
        examples = ", ".join(str(names[index]) for index in bad[:3])
        raise ValueError(
            f"Model {model.name!r} gives NaN or inf embeddings for {bad.size} of "
            f"{len(images)} image(s), e.g. {examples}."
        )
    return normalize(embeddings)


def evaluate_model(
    model: keras.Model,
    pairs: VerificationPairs,
    batch_size: int = 64,
    flip: bool = True,
    preprocessing: str | Callable[[np.ndarray], np.ndarray] | None = None,
    num_folds: int = 10,
    far_targets=DEFAULT_FAR_TARGETS,
) -> VerificationResult:
    """Embeds the images of a pair set and runs the verification protocol on its pairs.

    Each distinct image is embedded once (`compute_embeddings`), then the pairs are scored
    with `verification_metrics`.

    Args:
        model: An embedding model (see `embedding_model_from` for a training model).
        pairs: The `VerificationPairs` to score.
        batch_size: Images per model call. Defaults to `64`.
        flip: Flip-sum the embeddings, as insightface. Defaults to `True`.
        preprocessing: Pixel scaling, see `compute_embeddings`. Defaults to `None`.
        num_folds: Folds of the protocol. Defaults to `10`.
        far_targets: FARs at which to report TAR. Defaults to `(1e-1, 1e-2, 1e-3, 1e-4)`.

    Returns:
        The `VerificationResult`, named after the pair set.

    Raises:
        ValueError: See `compute_embeddings` and `verification_metrics`; errors name the
            pair set.

    Example:

    ```python
    lfw = load_bin("faces_emore/lfw.bin")
    result = evaluate_model(embedder, lfw, preprocessing="symmetric")
    print(result.accuracy, result.accuracy_std)
    ```
    """
    try:
        embeddings = compute_embeddings(
            model, pairs.images, batch_size, flip, preprocessing, pairs.image_names
        )
        return verification_metrics(
            embeddings[pairs.pair_indices[:, 0]],
            embeddings[pairs.pair_indices[:, 1]],
            pairs.issame,
            num_folds=num_folds,
            far_targets=far_targets,
            name=pairs.name,
        )
    except ValueError as error:
        raise ValueError(f"Pair set {pairs.name!r}: {error}") from error
