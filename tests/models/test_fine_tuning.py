"""Tests of the fine-tuning recipe: blocks, freeze / unfreeze semantics, two-stage training."""

import keras
import numpy as np
import pytest

import keras_expface as kx
from keras_expface.models import (
    backbone_blocks,
    build_face_model,
    fine_tune,
    freeze_backbone,
    get_backbone,
    unfreeze_backbone,
)
from keras_expface.models.fine_tuning import _block_names

TINY = {
    "embedding_dim": 8,
    "input_shape": (32, 32, 3),
    "backbone_kwargs": {"depth": (1, 1, 1, 1), "width_multiplier": 0.125},
}


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _is_batch_norm(layer):
    return isinstance(layer, keras.layers.BatchNormalization)


@pytest.fixture
def models():
    return build_face_model("iresnet18", 3, **TINY)


def test_block_names_of_application_layer_names():
    resnet = [
        "conv1_conv",
        "conv1_bn",
        "conv2_block1_1_conv",
        "conv2_block1_out",
        "conv2_block2_1_conv",
        "post_bn",
    ]
    assert _block_names(resnet) == [
        "stem",
        "stem",
        "conv2_block1",
        "conv2_block1",
        "conv2_block2",
        "conv2_block2",
    ]
    convnext = [
        "m_stem",
        "m_stage_0_block_0_conv",
        "m_downsampling_block_0",
        "m_stage_1_block_0_conv",
        "layer_normalization",
    ]
    assert _block_names(convnext) == [
        "stem",
        "stage_0_block_0",
        "stage_1_block_0",
        "stage_1_block_0",
        "stage_1_block_0",
    ]
    inception = ["conv2d", "batch_normalization", "mixed0", "conv2d_1", "mixed1", "conv2d_2"]
    assert _block_names(inception) == ["mixed0", "mixed0", "mixed0", "mixed1", "mixed1", "top"]
    assert _block_names(["conv_dw_1", "conv_pw_1_bn", "conv_pad_2"]) == [
        "conv_unit_1",
        "conv_unit_1",
        "conv_unit_2",
    ]
    assert _block_names(["stem_conv1", "normal_concat_12"]) is None  # NASNet


def test_blocks_of_our_backbone(models):
    embedder, _ = models
    blocks = backbone_blocks(embedder)
    assert [name for name, _ in blocks] == ["stem", "layer1_0", "layer2_0", "layer3_0", "layer4_0"]
    assert [layer.name for layer in blocks[0][1]] == ["conv1", "bn1", "prelu"]


def test_freeze_and_unfreeze_trainable_weight_counts(models):
    embedder, trainer = models
    backbone = get_backbone(trainer)
    assert backbone is get_backbone(embedder) and backbone.name == "backbone"
    neck_and_head = len(embedder.get_layer("neck").trainable_weights) + 1
    all_backbone = len(backbone.trainable_weights)
    batch_norm = sum(
        len(layer.trainable_weights) for layer in backbone.layers if _is_batch_norm(layer)
    )

    assert freeze_backbone(trainer) is backbone
    assert len(backbone.trainable_weights) == 0
    assert len(trainer.trainable_weights) == neck_and_head

    assert unfreeze_backbone(trainer) == ["all"]
    assert len(trainer.trainable_weights) == neck_and_head + all_backbone - batch_norm
    assert all(not layer.trainable for layer in backbone.layers if _is_batch_norm(layer))

    unfreeze_backbone(trainer, train_batch_norm=True)
    assert len(trainer.trainable_weights) == neck_and_head + all_backbone

    top_blocks = backbone_blocks(trainer)[-2:]
    assert unfreeze_backbone(trainer, num_blocks=2) == ["layer3_0", "layer4_0"]
    expected = sum(
        len(layer.trainable_weights)
        for _, layers in top_blocks
        for layer in layers
        if not _is_batch_norm(layer)
    )
    assert len(backbone.trainable_weights) == expected
    assert backbone.get_layer("layer4_0_conv2").trainable
    assert not backbone.get_layer("layer2_0_conv2").trainable


def test_frozen_backbone_keeps_weights_and_batch_norm_statistics(models):
    embedder, trainer = models
    freeze_backbone(trainer)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss=kx.CosFaceLoss(scale=16.0))
    backbone, neck = get_backbone(trainer), embedder.get_layer("neck")
    backbone_before = [_numpy(w).copy() for w in backbone.weights]
    neck_before = [_numpy(w).copy() for w in neck.weights]
    images = np.random.default_rng(0).integers(0, 256, size=(6, 32, 32, 3)).astype("uint8")
    trainer.train_on_batch(images, np.array([0, 1, 2, 0, 1, 2]))
    for before, after in zip(backbone_before, backbone.weights, strict=True):
        np.testing.assert_array_equal(_numpy(after), before)  # incl. moving mean / variance
    assert any(
        not np.array_equal(_numpy(after), before)
        for before, after in zip(neck_before, neck.weights, strict=True)
    )


def test_two_stage_fine_tune(models):
    embedder, trainer = models
    images = np.random.default_rng(0).integers(0, 256, size=(6, 32, 32, 3)).astype("uint8")
    labels = np.array([0, 1, 2, 0, 1, 2])
    history = fine_tune(
        trainer,
        images,
        labels,
        loss=kx.ArcFaceLoss(scale=16.0),
        head_epochs=1,
        finetune_epochs=2,
        num_blocks=1,
        batch_size=3,
        verbose=0,
        metrics=["sparse_categorical_accuracy"],
    )
    assert len(history.head.history["loss"]) == 1
    assert history.finetune.epoch == [1, 2]  # numbered on from stage 1
    assert "sparse_categorical_accuracy" in history.finetune.history
    assert get_backbone(trainer).get_layer("layer4_0_conv1").trainable
    assert not get_backbone(trainer).get_layer("layer3_0_conv1").trainable
    assert float(_numpy(trainer.optimizer.learning_rate)) == pytest.approx(1e-4)
    assert np.all(np.isfinite(embedder.predict_on_batch(images)))


def test_partly_unfrozen_model_reloads_partly_unfrozen(models, tmp_path):
    _, trainer = models
    unfreeze_backbone(trainer, num_blocks=1)
    count = len(trainer.trainable_weights)
    trainer.save(tmp_path / "trainer.keras")
    restored = keras.models.load_model(tmp_path / "trainer.keras")
    assert len(restored.trainable_weights) == count


def test_bad_arguments_are_named(models):
    _, trainer = models
    with pytest.raises(ValueError, match="num_blocks must be None or a positive integer"):
        unfreeze_backbone(trainer, num_blocks=0)
    with pytest.raises(ValueError, match="'epochs' is set by fine_tune"):
        fine_tune(trainer, np.zeros((1, 32, 32, 3)), np.zeros(1), loss=kx.ExpFaceLoss(), epochs=3)
    unnamed = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="Cannot tell the blocks of backbone"):
        unfreeze_backbone(unnamed, num_blocks=1)
