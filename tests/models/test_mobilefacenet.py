"""Tests of `MobileFaceNet`: parameter counts, layer names, forward and training steps."""

import keras
import numpy as np
import pytest

import keras_expface as kx
from keras_expface.models import MobileFaceNet

# sum(p.numel() for p in model.parameters()) of arcface_torch's MobileFaceNet with scale=1,
# blocks=(1, 4, 6, 2) (the paper's network), by embedding size.
REFERENCE_PARAMETERS = {128: 1_003_136, 512: 1_200_512}


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("embedding_dim", [128, 512])
def test_parameter_counts_match_the_reference(embedding_dim):
    model = MobileFaceNet(embedding_dim)
    assert model.output_shape == (None, embedding_dim)
    assert _count(model.trainable_weights) == REFERENCE_PARAMETERS[embedding_dim]


def test_architecture_details():
    model = MobileFaceNet(16, image_shape=(32, 32, 3), width_multiplier=0.25)
    assert model.get_layer("conv_sep").output.shape == (None, 2, 2, 128)
    # Expansion t on the input channels: stage 2 expands 16 channels by 4.
    assert model.get_layer("stage2_0_expand").filters == 64
    assert model.get_layer("stage1_0_dw").strides == (2, 2)
    names = {layer.name for layer in model.layers}
    assert "stage1_1_add" in names and "stage1_0_add" not in names  # stride 2: no residual
    assert model.get_layer("neck").pooling == "gdc"
    assert model.get_layer("neck").features.scale is True


def test_forward_and_training_step_at_small_width():
    model = MobileFaceNet(8, image_shape=(32, 32, 3), width_multiplier=0.125)
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    assert model.predict_on_batch(images).shape == (4, 8)
    trainer = keras.Sequential([model, kx.CosineHead(3)])
    trainer.compile(optimizer="sgd", loss=kx.ArcFaceLoss(scale=16.0))
    assert np.isfinite(trainer.train_on_batch(images, np.array([0, 1, 2, 0])))


def test_save_and_reload(tmp_path):
    model = MobileFaceNet(8, image_shape=(32, 32, 3), width_multiplier=0.125)
    path = tmp_path / "mobilefacenet.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, MobileFaceNet)
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        restored.predict_on_batch(images),
        model.predict_on_batch(images),
        rtol=1e-5,
        atol=1e-5,
    )


def test_features_without_neck_and_bad_arguments():
    model = MobileFaceNet(image_shape=(32, 32, 3), width_multiplier=0.125, include_neck=False)
    assert model.output_shape == (None, 2, 2, 64)
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        MobileFaceNet(embedding_dim=-1)
    with pytest.raises(ValueError, match=r"image_shape must be \(height, width, channels\)"):
        MobileFaceNet(image_shape=(112, 112))
