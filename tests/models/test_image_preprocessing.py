"""Tests of `ImagePreprocessing`: Keras' preprocess_input modes, inside a model."""

import keras
import numpy as np
import pytest

from keras_expface.models import ImagePreprocessing


@pytest.fixture
def pixels():
    return np.random.default_rng(0).uniform(0, 255, size=(2, 4, 5, 3)).astype("float32")


@pytest.mark.parametrize("mode", ["tf", "torch", "caffe"])
def test_matches_keras_preprocess_input(pixels, mode):
    expected = keras.applications.imagenet_utils.preprocess_input(pixels.copy(), mode=mode)
    actual = keras.ops.convert_to_numpy(ImagePreprocessing(mode)(pixels))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


def test_none_is_identity_and_casts(pixels):
    actual = ImagePreprocessing("none")(pixels.astype("uint8"))
    assert keras.backend.standardize_dtype(actual.dtype) == "float32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(actual), pixels.astype("uint8"))


def test_tf_mode_on_uint8_pixels():
    pixels = np.array([[[[0, 255, 51]]]], "uint8")
    actual = keras.ops.convert_to_numpy(ImagePreprocessing("tf")(pixels))
    np.testing.assert_allclose(actual, [[[[-1.0, 1.0, -0.6]]]], atol=1e-6)


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match=r"unknown mode 'imagenet'.*'tf', 'torch', 'caffe'"):
        ImagePreprocessing("imagenet")


@pytest.mark.parametrize("mode", ["torch", "caffe"])
def test_rgb_modes_need_three_channels(mode):
    with pytest.raises(ValueError, match="needs 3 RGB channels"):
        ImagePreprocessing(mode)(np.zeros((1, 4, 4, 1), "float32"))


def test_config_round_trip():
    layer = ImagePreprocessing("caffe", name="prep")
    restored = ImagePreprocessing.from_config(layer.get_config())
    assert restored.mode == "caffe" and restored.name == "prep"
    assert keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    ).mode == ("caffe")
