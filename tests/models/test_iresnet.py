"""Tests of `IResNet`: reference parameter counts, layer names, forward and training steps."""

import keras
import numpy as np
import pytest

import keras_expface as kx
from keras_expface.models import IResNet

# sum(p.numel() for p in model.parameters()) of insightface's arcface_torch iresnet at
# 112x112 with 512-d features, and the number of BatchNorm running statistics (buffers).
REFERENCE_PARAMETERS = {18: 24_025_600, 34: 34_139_328, 50: 43_590_848, 100: 65_156_160}
REFERENCE_BATCH_NORM_STATISTICS = {18: 14_720, 34: 25_856, 50: 38_144, 100: 69_632}
TINY = {"depth": (1, 1, 1, 1), "width_multiplier": 0.125, "image_shape": (32, 32, 3)}


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("depth", [18, 34, 50, 100])
def test_parameter_counts_match_insightface(depth):
    model = IResNet(depth)
    assert model.output_shape == (None, 512)
    # Our final BatchNorm1d has no scale; insightface's holds 512 weights frozen at 1.
    assert _count(model.trainable_weights) == REFERENCE_PARAMETERS[depth] - 512
    assert _count(model.non_trainable_weights) == REFERENCE_BATCH_NORM_STATISTICS[depth]


def test_layer_names_follow_the_reference_state_dict():
    model = IResNet(depth=(1, 2, 1, 1), width_multiplier=0.125, image_shape=(32, 32, 3))
    names = {layer.name for layer in model.layers}
    assert {"conv1", "bn1", "prelu", "neck"} <= names
    assert {
        "layer1_0_bn1",
        "layer1_0_conv1",
        "layer1_0_bn2",
        "layer1_0_prelu",
        "layer1_0_conv2",
        "layer1_0_bn3",
        "layer1_0_downsample_0",
        "layer1_0_downsample_1",
        "layer2_1_conv2",
    } <= names
    assert "layer2_1_downsample_0" not in names  # only the first unit of a stage projects
    bn = model.get_layer("layer2_1_bn1")
    assert (bn.momentum, bn.epsilon) == (0.9, 1e-5)
    assert model.get_layer("prelu").get_weights()[0].ravel()[0] == pytest.approx(0.25)
    assert model.get_layer("layer1_0_conv2").strides == (2, 2)
    assert model.get_layer("layer1_0_conv1").strides == (1, 1)


def test_forward_and_training_step_at_small_width():
    model = IResNet(embedding_dim=8, **TINY)
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    assert model.predict_on_batch(images).shape == (4, 8)
    trainer = keras.Sequential([model, kx.CosineHead(3)])
    trainer.compile(optimizer="sgd", loss=kx.ExpFaceLoss(scale=16.0))
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    loss = trainer.train_on_batch(images, np.array([0, 1, 2, 0]))
    assert np.isfinite(loss)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_features_without_neck():
    model = IResNet(include_neck=False, **TINY)
    assert model.output_shape == (None, 2, 2, 64)
    assert IResNet(
        include_neck=False, image_shape=(None, None, 3), depth=(1, 1, 1, 1), width_multiplier=0.125
    ).output_shape == (None, None, None, 64)


def test_save_and_reload_keeps_outputs_and_frozen_layers(tmp_path):
    model = IResNet(embedding_dim=8, dropout=0.2, name="tiny", **TINY)
    model.get_layer("layer1_0_conv1").trainable = False
    path = tmp_path / "iresnet.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, IResNet) and restored.name == "tiny"
    assert restored.get_config() == model.get_config()
    assert not restored.get_layer("layer1_0_conv1").trainable
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        restored.predict_on_batch(images),
        model.predict_on_batch(images),
        rtol=1e-5,
        atol=1e-5,
    )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown depth 101; expected one of 18, 34, 50, 100"):
        IResNet(101)
    with pytest.raises(ValueError, match="four positive numbers"):
        IResNet((2, 2, 2))
    with pytest.raises(ValueError, match="needs a fixed image height and width"):
        IResNet(image_shape=(None, None, 3))
    with pytest.raises(ValueError, match="width_multiplier must be a positive number"):
        IResNet(width_multiplier=0)
