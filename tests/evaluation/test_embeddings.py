"""Embeddings from Keras models: flip-sum, normalisation, batching, training models, errors."""

import keras
import numpy as np
import pytest

from keras_expface import CosineHead
from keras_expface.evaluation import (
    VerificationPairs,
    compute_embeddings,
    embedding_model_from,
    evaluate_model,
)
from tests.evaluation.synthetic import identity_images


def dense_model(size=8, channels=1, dim=5):
    inputs = keras.Input((size, size, channels))
    features = keras.layers.Dense(dim, name="embedding")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, features)


def test_flip_sum_then_normalise_as_insightface():
    model = dense_model()
    images = np.random.default_rng(0).integers(0, 256, (7, 8, 8, 1), dtype=np.uint8)
    raw = model.predict(images.astype("float32"), verbose=0).astype("float64")
    mirrored = model.predict(images[:, :, ::-1].astype("float32"), verbose=0).astype("float64")
    expected = raw + mirrored
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)

    embeddings = compute_embeddings(model, images, batch_size=3)  # 3 + 3 + 1
    assert embeddings.dtype == np.float64
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-6)
    unflipped = compute_embeddings(model, images, batch_size=64, flip=False)
    np.testing.assert_allclose(
        unflipped, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("preprocessing", "scale"),
    [(None, 1.0), ("none", 1.0), ("unit", 1 / 255.0), ("symmetric", None), (lambda x: x * 2, 2.0)],
)
def test_preprocessing(preprocessing, scale):
    # A bias-free linear model on constant images: the embedding direction follows the sign.
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten()])
    images = np.full((2, 2, 2, 1), 50, np.uint8)
    embeddings = compute_embeddings(model, images, flip=False, preprocessing=preprocessing)
    expected_sign = -1.0 if scale is None else 1.0  # 50 / 127.5 - 1 < 0
    np.testing.assert_allclose(embeddings, np.full((2, 4), 0.5 * expected_sign))


def test_bad_arguments():
    model = dense_model()
    images = np.zeros((2, 8, 8, 1), np.uint8)
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        compute_embeddings(model, images, preprocessing="imagenet")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        compute_embeddings(model, images, batch_size=0)
    with pytest.raises(ValueError, match="There is no image"):
        compute_embeddings(model, images[:0])
    with pytest.raises(ValueError, match=r"got shape \(8, 8, 1\)"):
        compute_embeddings(model, images[0])


def test_model_without_embedding_output():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"returns shape \(2, 6, 6, 2\).*embedding_model_from"):
        compute_embeddings(model, np.zeros((2, 8, 8, 1), np.uint8))


def test_nan_embeddings_name_the_images():
    model = dense_model()
    images = np.zeros((4, 8, 8, 1), np.uint8)

    def broken(pixels):
        pixels = pixels.copy()
        pixels[-1] = np.nan  # the last image of every batch
        return pixels

    names = ("a.png", "b.png", "c.png", "d.png")
    with pytest.raises(ValueError, match=r"for 2 of 4 image\(s\), e.g. b.png, d.png"):
        compute_embeddings(model, images, batch_size=2, preprocessing=broken, image_names=names)


def test_embedding_model_from_a_training_model():
    embedder = dense_model(dim=6)
    outputs = CosineHead(num_classes=3)(embedder.output)
    training_model = keras.Model(embedder.input, outputs)
    derived = embedding_model_from(training_model)
    assert derived.output_shape == (None, 6)
    images = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        derived.predict(images, verbose=0), embedder.predict(images, verbose=0), rtol=1e-6
    )
    assert embedding_model_from(embedder) is embedder  # no head: the model itself
    by_name = embedding_model_from(training_model, layer_name="embedding")
    assert by_name.output_shape == (None, 6)
    with pytest.raises(ValueError, match=r"has no layer 'nope'; its layers: .*embedding"):
        embedding_model_from(training_model, layer_name="nope")


class SubclassedEmbedder(keras.Model):
    def __init__(self):
        super().__init__()
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(3)

    def call(self, inputs):
        return self.dense(self.flatten(inputs))


def test_subclassed_models_are_used_as_they_are():
    model = SubclassedEmbedder()
    assert embedding_model_from(model) is model
    assert compute_embeddings(model, np.ones((2, 4, 4, 1), np.uint8)).shape == (2, 3)
    with pytest.raises(ValueError, match="Cannot cut the layer 'dense' off model"):
        embedding_model_from(model, layer_name="dense")


def test_evaluate_model_names_the_pair_set():
    images, labels = identity_images(4, 5, size=8)
    all_pairs = [(i, j) for i in range(20) for j in range(i + 1, 20)]
    positives = [pair for pair in all_pairs if labels[pair[0]] == labels[pair[1]]]
    negatives = [pair for pair in all_pairs if labels[pair[0]] != labels[pair[1]]][:40]
    alternating = [pair for both in zip(positives, negatives, strict=True) for pair in both]
    pairs = VerificationPairs("toy", images, alternating, [True, False] * 40)
    pixels = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    result = evaluate_model(pixels, pairs, preprocessing="unit")
    assert result.name == "toy" and result.num_pairs == 80
    assert result.accuracy > 0.8  # raw pixels separate these synthetic identities

    one_kind = VerificationPairs("same_only", images, [[0, 1]] * 10, [True] * 10)
    with pytest.raises(ValueError, match=r"Pair set 'same_only': Fold 0 .* holds no negative pair"):
        evaluate_model(pixels, one_kind)
