"""Tests of `EmbeddingNeck`: shapes, parameter counts, the fixed output scale, config."""

import keras
import numpy as np
import pytest

from keras_expface.models import EmbeddingNeck


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize(
    "pooling, use_bias, trainable_output_scale, expected_trainable",
    [
        # bn2 (2C) + fc (HWC*D + D) + features beta (D)
        ("flatten", True, False, 2 * 8 + 3 * 3 * 8 * 4 + 4 + 4),
        # gdc (HWC) + bn2 (2C) + fc (C*D) + features gamma, beta (2D)
        ("gdc", False, True, 3 * 3 * 8 + 2 * 8 + 8 * 4 + 2 * 4),
        # bn2 (2C) + fc (C*D + D) + features beta (D)
        ("avg", True, False, 2 * 8 + 8 * 4 + 4 + 4),
    ],
)
def test_shapes_and_parameter_counts(pooling, use_bias, trainable_output_scale, expected_trainable):
    neck = EmbeddingNeck(
        4, pooling=pooling, use_bias=use_bias, trainable_output_scale=trainable_output_scale
    )
    output = neck(np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype("float32"))
    assert tuple(output.shape) == (2, 4)
    assert _count(neck.trainable_weights) == expected_trainable
    # Moving mean and variance of both BatchNorms.
    assert _count(neck.non_trainable_weights) == 2 * 8 + 2 * 4


def test_reference_batch_norm_settings_and_names():
    neck = EmbeddingNeck(4, batch_norm_epsilon=2e-5)
    neck.build((None, 3, 3, 8))
    assert neck.bn2.momentum == 0.9 and neck.bn2.epsilon == 2e-5
    assert neck.features.scale is False  # insightface freezes this weight at 1
    assert {w.path.split("/")[-2] for w in neck.weights} == {"bn2", "fc", "features"}


def test_dropout_only_in_training():
    neck = EmbeddingNeck(4, pooling="avg", dropout=0.5)
    x = np.ones((2, 3, 3, 8), "float32")
    first, second = neck(x, training=False), neck(x, training=False)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)
    )


def test_avg_pooling_accepts_unknown_spatial_size():
    inputs = keras.Input((None, None, 8))
    assert EmbeddingNeck(4, pooling="avg")(inputs).shape == (None, 4)


@pytest.mark.parametrize("pooling", ["flatten", "gdc"])
def test_flatten_and_gdc_need_known_spatial_size(pooling):
    with pytest.raises(ValueError, match="needs a known height and width"):
        EmbeddingNeck(4, pooling=pooling)(keras.Input((None, None, 8)))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        EmbeddingNeck(4, pooling="max")
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        EmbeddingNeck(0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        EmbeddingNeck(4, dropout=1.0)
    with pytest.raises(ValueError, match="expects a feature map"):
        EmbeddingNeck(4)(np.zeros((2, 8), "float32"))


def test_config_round_trip():
    neck = EmbeddingNeck(
        16, pooling="gdc", dropout=0.1, use_bias=False, trainable_output_scale=True, name="n"
    )
    config = neck.get_config()
    restored = EmbeddingNeck.from_config(config)
    assert restored.get_config() == config
