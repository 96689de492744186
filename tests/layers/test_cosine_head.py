"""keras_expface.layers.CosineHead."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_expface as kx
from tests.helpers import value_and_gradient


def normalize(x, axis):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_cosines_match_numpy_reference():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(5, 8)).astype("float32")
    head = kx.CosineHead(num_classes=7)
    cosines = to_numpy(head(features))
    centers = to_numpy(head.class_centers)
    assert cosines.shape == (5, 7) and cosines.dtype == np.float32
    expected = normalize(features.astype("float64"), 1) @ normalize(centers.astype("float64"), 0)
    np.testing.assert_allclose(cosines, expected, atol=1e-6)
    assert len(head.trainable_weights) == 1 and head.class_centers.shape == (8, 7)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_gradients_match_the_analytic_gradient_of_the_cosine(dtype):
    # d sum(G * cos) / dW: column j is (I - w_j w_j^T / |w_j|^2) (sum_i G_ij x_i / |x_i|) / |w_j|;
    # the same for the features. float32 scales the raw product by 1 / |w_j|, reduced
    # precision normalises the centres first: both must give this gradient.
    rng = np.random.default_rng(1)
    features = rng.normal(size=(4, 6))
    centers = 0.01 * rng.normal(size=(6, 5))
    weights = rng.normal(size=(4, 5))
    unit_x, unit_w = normalize(features, 1), normalize(centers, 0)
    project_w = weights.T @ unit_x  # (C, D)
    expected_w = (
        (project_w - np.sum(project_w * unit_w.T, 1, keepdims=True) * unit_w.T)
        / np.linalg.norm(centers, axis=0)[:, None]
    ).T
    project_x = weights @ unit_w.T  # (B, D)
    expected_x = (
        project_x - np.sum(project_x * unit_x, 1, keepdims=True) * unit_x
    ) / np.linalg.norm(features, axis=1, keepdims=True)
    cast = lambda x: ops.cast(x, dtype)  # noqa: E731
    weighted = lambda cos: cos * ops.convert_to_tensor(weights.astype("float32"))  # noqa: E731
    _, gradient_w = value_and_gradient(
        lambda w: weighted(kx.layers.cosine_similarity(cast(features.astype("float32")), w)),
        centers,
    )
    _, gradient_x = value_and_gradient(
        lambda x: weighted(kx.layers.cosine_similarity(cast(x), centers.astype("float32"))),
        features,
    )
    tolerance = 1e-4 if dtype == "float32" else 3e-2
    scale_w, scale_x = np.abs(expected_w).max(), np.abs(expected_x).max()
    np.testing.assert_allclose(gradient_w / scale_w, expected_w / scale_w, atol=tolerance)
    np.testing.assert_allclose(gradient_x / scale_x, expected_x / scale_x, atol=tolerance)


def test_subcenters_take_the_closest_center_of_each_class():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(4, 6)).astype("float32")
    head = kx.CosineHead(num_classes=3, num_subcenters=2)
    cosines = to_numpy(head(features))
    centers = to_numpy(head.class_centers)
    assert centers.shape == (6, 6) and cosines.shape == (4, 3)
    all_cosines = normalize(features, 1) @ normalize(centers, 0)  # columns: class-major (c, k)
    np.testing.assert_allclose(cosines, all_cosines.reshape(4, 3, 2).max(-1), atol=1e-6)


def test_output_is_clipped_and_zero_features_are_safe():
    head = kx.CosineHead(num_classes=3)
    features = np.zeros((2, 4), "float32")
    features[1] = [1.0, 2.0, 3.0, 4.0]
    head.build((None, 4))
    head.class_centers.assign(np.tile(features[1:].T, (1, 3)))  # every centre = feature 1
    value, gradient = value_and_gradient(lambda x: head(x), features)
    np.testing.assert_array_equal(value[0], 0.0)
    assert np.all(value[1] <= 1.0) and np.allclose(value[1], 1.0, atol=1e-6)
    assert np.all(np.isfinite(gradient))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_float32_output_under_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    inputs = keras.Input((8,))
    embeddings = keras.layers.Dense(16)(inputs)
    head = kx.CosineHead(4)
    outputs = head(embeddings)
    assert embeddings.dtype == policy.split("_")[1]
    assert outputs.dtype == "float32"
    assert head.dtype_policy.name == "float32" and head.class_centers.dtype == "float32"
    model = keras.Model(inputs, outputs)
    result = to_numpy(model(np.ones((2, 8), "float32")))
    assert result.dtype == np.float32


def test_explicit_dtype_policy_still_returns_float32():
    head = kx.CosineHead(4, dtype="mixed_bfloat16")
    out = head(np.ones((2, 8), "float32"))
    assert to_numpy(out).dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"num_classes": 2.5}, "num_classes must be a positive integer"),
        ({"num_classes": 3, "num_subcenters": 0}, "num_subcenters must be a positive integer"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kx.CosineHead(**kwargs)


def test_bad_input_shape_raises():
    with pytest.raises(ValueError, match="CosineHead expects 2-D inputs"):
        kx.CosineHead(3)(keras.Input((4, 4)))


def test_config_round_trip_and_training_step():
    head = kx.CosineHead(5, num_subcenters=3, kernel_regularizer="l2", name="head")
    config = head.get_config()
    clone = kx.CosineHead.from_config(config)
    assert clone.get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(head))
    assert isinstance(revived, kx.CosineHead) and revived.num_subcenters == 3

    inputs = keras.Input((6,))
    model = keras.Model(inputs, kx.CosineHead(5)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=kx.ExpFaceLoss())
    x = np.random.default_rng(0).normal(size=(10, 6)).astype("float32")
    before = to_numpy(model.layers[-1].class_centers).copy()
    model.train_on_batch(x, np.arange(10) % 5)
    assert not np.allclose(before, to_numpy(model.layers[-1].class_centers))
