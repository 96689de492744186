"""`sample_angles` against a per-sample arccos loop, and `head_centers` on heads and models."""

import math

import keras
import numpy as np
import pytest

from keras_expface.diagnostics import SampleAngles, head_centers, sample_angles
from keras_expface.layers import CosineHead, PartialFCHead, PartialFCModel


def reference_angles(embeddings, labels, centers, num_subcenters):
    """One sample at a time: arccos of each normalised dot product, min over sub-centres."""
    num_classes = centers.shape[1] // num_subcenters
    target, other, other_class = [], [], []
    for embedding, label in zip(embeddings, labels, strict=True):
        unit = embedding / np.linalg.norm(embedding)
        class_angles = []
        for class_id in range(num_classes):
            sub_angles = []
            for k in range(num_subcenters):
                center = centers[:, class_id * num_subcenters + k]
                cosine = float(unit @ (center / np.linalg.norm(center)))
                sub_angles.append(math.degrees(math.acos(min(1.0, max(-1.0, cosine)))))
            class_angles.append(min(sub_angles))
        target.append(class_angles[label])
        others = [(angle, j) for j, angle in enumerate(class_angles) if j != label]
        nearest = min(others)
        other.append(nearest[0])
        other_class.append(nearest[1])
    return np.array(target), np.array(other), np.array(other_class)


@pytest.mark.parametrize("num_subcenters", [1, 3])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_matches_reference(num_subcenters, batch_size):
    rng = np.random.default_rng(0)
    num_classes, dim = 6, 5
    centers = rng.standard_normal((dim, num_classes * num_subcenters)) * 3.0
    embeddings = rng.standard_normal((23, dim)) * 0.1
    labels = rng.integers(0, num_classes, 23)
    angles = sample_angles(embeddings, labels, centers, num_subcenters, batch_size=batch_size)
    target, other, other_class = reference_angles(embeddings, labels, centers, num_subcenters)
    np.testing.assert_allclose(angles.target_angle, target, atol=1e-9)
    np.testing.assert_allclose(angles.nearest_other_angle, other, atol=1e-9)
    np.testing.assert_array_equal(angles.nearest_other_class, other_class)
    np.testing.assert_allclose(angles.margin, other - target, atol=1e-9)
    assert angles.target_angle.dtype == np.float64 and angles.nearest_other_class.dtype == np.int64


def test_subcenters_take_the_closest_one():
    # Class 0 has sub-centres along e0 and e1; class 1 along e2 and -e2.
    centers = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    embeddings = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -2.0]])
    angles = sample_angles(embeddings, np.array([0, 0]), centers, num_subcenters=2)
    np.testing.assert_allclose(angles.target_angle, [0.0, 90.0], atol=1e-12)
    np.testing.assert_allclose(angles.nearest_other_angle, [90.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(angles.nearest_other_class, [1, 1])


def test_float32_inputs_are_computed_in_float64():
    centers = np.eye(3, dtype="float32")
    embedding = np.array([[1.0, 1e-4, 0.0]], dtype="float32")
    angles = sample_angles(embedding, [0], centers)
    assert angles.target_angle[0] == pytest.approx(math.degrees(math.atan(1e-4)), rel=1e-6)


def test_zero_embedding_is_ninety_degrees_from_everything():
    angles = sample_angles(np.zeros((1, 3)), [1], np.eye(3))
    assert angles.target_angle[0] == 90.0 and angles.nearest_other_angle[0] == 90.0


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, -1], r"labels\[1\] = -1"),
        ([0, 3], r"labels\[1\] = 3"),
        ([0.0, 1.0], "integer class ids"),
        ([0], r"shape \(2,\)"),
    ],
)
def test_rejects_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        sample_angles(np.ones((2, 3)), np.array(labels), np.eye(3))


def test_rejects_bad_shapes_and_values():
    with pytest.raises(ValueError, match="same D"):
        sample_angles(np.ones((2, 4)), [0, 1], np.eye(3))
    with pytest.raises(ValueError, match="multiple"):
        sample_angles(np.ones((2, 3)), [0, 1], np.eye(3), num_subcenters=2)
    with pytest.raises(ValueError, match=">= 2 classes"):
        sample_angles(np.ones((2, 3)), [0, 0], np.ones((3, 1)))
    with pytest.raises(ValueError, match="non-finite"):
        sample_angles(np.array([[np.nan, 0.0, 0.0]]), [0], np.eye(3))
    with pytest.raises(ValueError, match="batch_size"):
        sample_angles(np.ones((2, 3)), [0, 1], np.eye(3), batch_size=0)


def test_sample_angles_dataclass_checks_shapes():
    with pytest.raises(ValueError, match="same length"):
        SampleAngles(np.zeros(2), np.zeros(3), np.zeros(2, int))


def test_head_centers_of_a_training_model_agree_with_the_head():
    inputs = keras.Input((6,))
    features = keras.layers.Dense(4, name="neck")(inputs)
    head = CosineHead(num_classes=3, num_subcenters=2, name="head")
    model = keras.Model(inputs, head(features))
    centers, num_subcenters = head_centers(model)
    assert centers.shape == (4, 6) and num_subcenters == 2

    rng = np.random.default_rng(1)
    embeddings = rng.standard_normal((5, 4)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1])
    angles = sample_angles(embeddings, labels, centers, num_subcenters)
    cosines = keras.ops.convert_to_numpy(head(embeddings)).astype(np.float64)
    head_target = np.degrees(np.arccos(cosines[np.arange(5), labels]))
    np.testing.assert_allclose(angles.target_angle, head_target, atol=1e-2)


def test_head_centers_of_partial_fc():
    inputs = keras.Input((6,))
    embedding_model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    head = PartialFCHead(num_classes=5, sample_rate=1.0)
    model = PartialFCModel(embedding_model, head)
    model.build((None, 6))
    centers, num_subcenters = head_centers(model)
    assert centers.shape == (4, 5) and num_subcenters == 1
    assert head_centers(head).centers.shape == (4, 5)


def test_head_centers_errors():
    with pytest.raises(ValueError, match="not built"):
        head_centers(CosineHead(num_classes=3))
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="holds no"):
        head_centers(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
    outputs = [CosineHead(num_classes=2, name=name)(inputs) for name in ("first", "second")]
    with pytest.raises(ValueError, match="2 heads"):
        head_centers(keras.Model(inputs, outputs))
