"""Tests of `build_face_model`: backbones by name or model, weights, preprocessing, saving."""

import importlib

import keras
import numpy as np
import pytest

import keras_expface as kx
from keras_expface.models import (
    EmbeddingNeck,
    ImagePreprocessing,
    available_backbones,
    backbone_blocks,
    build_face_model,
    get_backbone,
)
from keras_expface.models import face_model as face_model_module

TINY_IRESNET = {"depth": (1, 1, 1, 1), "width_multiplier": 0.125}
# Arguments for keras.applications.MobileNetV2 at width 0.35 on 32x32 images.
SMALL_MOBILENET = {"backbone_kwargs": {"alpha": 0.35}, "input_shape": (32, 32, 3)}


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3)).astype("uint8")


def test_face_backbone_by_name_shapes_and_shared_weights():
    embedder, trainer = build_face_model(
        "IResNet18", 5, embedding_dim=8, input_shape=(32, 32, 3), backbone_kwargs=TINY_IRESNET
    )
    assert embedder.output_shape == (None, 8) and trainer.output_shape == (None, 5)
    assert [layer.name for layer in embedder.layers] == [
        "image",
        "preprocessing",
        "backbone",
        "neck",
    ]
    assert embedder.get_layer("preprocessing").mode == "tf"
    assert trainer.get_layer("head").num_classes == 5
    # The training model holds the embedding model itself: every weight is shared.
    trainer_ids = {id(w) for w in trainer.weights}
    assert all(id(w) in trainer_ids for w in embedder.weights)
    assert len(trainer.weights) == len(embedder.weights) + 1


def test_mobilefacenet_by_name_gets_the_gdc_neck():
    embedder, _ = build_face_model(
        "mobilefacenet",
        3,
        embedding_dim=8,
        input_shape=(32, 32, 3),
        backbone_kwargs={"width_multiplier": 0.125},
    )
    neck = embedder.get_layer("neck")
    assert (neck.pooling, neck.use_bias, neck.trainable_output_scale) == ("gdc", False, True)


def test_application_backbone_training_step():
    # VGG16: the keras.applications model with the fewest layers (fast to compile on JAX).
    embedder, trainer = build_face_model("vgg16", 3, embedding_dim=16, input_shape=(32, 32, 3))
    assert embedder.get_layer("preprocessing").mode == "caffe"  # VGG16's preprocess_input
    assert embedder.output_shape == (None, 16)
    trainer.compile(optimizer="sgd", loss=kx.ExpFaceLoss(scale=16.0))
    assert np.isfinite(trainer.train_on_batch(_images(), np.array([0, 1, 2, 0])))


def test_keras_save_and_reload_of_both_models(tmp_path):
    embedder, trainer = build_face_model(
        "iresnet18",
        3,
        embedding_dim=8,
        input_shape=(32, 32, 3),
        dropout=0.1,
        backbone_kwargs=TINY_IRESNET,
    )
    images = _images()
    trainer.save(tmp_path / "trainer.keras")
    embedder.save(tmp_path / "embedder.keras")
    restored_trainer = keras.models.load_model(tmp_path / "trainer.keras")
    restored_embedder = keras.models.load_model(tmp_path / "embedder.keras")
    assert restored_trainer.get_layer("head").num_classes == 3
    assert get_backbone(restored_trainer).get_config() == get_backbone(trainer).get_config()
    np.testing.assert_allclose(
        restored_trainer.predict_on_batch(images),
        trainer.predict_on_batch(images),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        restored_embedder.predict_on_batch(images),
        embedder.predict_on_batch(images),
        rtol=1e-4,
        atol=1e-4,
    )


def test_backbone_weights_round_trip_through_a_local_file(tmp_path):
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    source.save_weights(path)
    embedder, _ = build_face_model("VGG16", 3, input_shape=(32, 32, 3), weights=path)
    loaded = get_backbone(embedder).get_weights()
    for expected, actual in zip(source.get_weights(), loaded, strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_face_backbone_weights_round_trip_through_a_local_file(tmp_path):
    embedder, _ = build_face_model(
        "iresnet18", 3, embedding_dim=8, input_shape=(32, 32, 3), backbone_kwargs=TINY_IRESNET
    )
    path = tmp_path / "backbone.weights.h5"
    get_backbone(embedder).save_weights(path)
    keras.backend.clear_session()
    reloaded, _ = build_face_model(
        "iresnet18",
        3,
        embedding_dim=8,
        input_shape=(32, 32, 3),
        weights=str(path),
        backbone_kwargs=TINY_IRESNET,
    )
    for expected, actual in zip(
        get_backbone(embedder).get_weights(), get_backbone(reloaded).get_weights(), strict=True
    ):
        np.testing.assert_array_equal(actual, expected)


def test_imagenet_is_passed_through_to_keras_applications(monkeypatch):
    received = {}

    def recording_constructor(**kwargs):
        received.update(kwargs)  # and no download: a stand-in model
        image = keras.Input(kwargs["input_shape"])
        return keras.Model(image, keras.layers.Conv2D(4, 3, strides=8)(image), name=kwargs["name"])

    monkeypatch.setattr(keras.applications, "MobileNetV2", recording_constructor)
    build_face_model("MobileNetV2", 3, weights="imagenet", **SMALL_MOBILENET)
    assert received["weights"] == "imagenet"
    assert received["include_top"] is False
    assert received["input_shape"] == (32, 32, 3)
    assert received["alpha"] == 0.35


def test_local_pretrained_mobilenet_v2_with_torchvision_normalisation(mobilenet_v2_weights):
    embedder, _ = build_face_model(
        "MobileNetV2",
        3,
        input_shape=(32, 32, 3),
        weights=mobilenet_v2_weights,
        preprocessing="torch",
        pooling="avg",
    )
    assert embedder.get_layer("preprocessing").mode == "torch"
    # Pretrained BatchNorm statistics, not the initial zeros and ones.
    batch_norm = get_backbone(embedder).get_layer("Conv_1_bn")
    assert np.abs(_numpy(batch_norm.moving_mean)).sum() > 0
    assert not np.allclose(_numpy(batch_norm.moving_variance), 1.0)
    blocks = backbone_blocks(embedder)
    assert [name for name, _ in blocks[:3]] == ["stem", "expanded_conv", "block_1"]
    assert blocks[-1][0] == "block_16" and blocks[-1][1][-1].name == "out_relu"


def test_user_model_with_feature_map_or_embeddings():
    feature_model = keras.Sequential(
        [keras.Input((24, 24, 3)), keras.layers.Conv2D(4, 3, strides=4, name="conv")]
    )
    embedder, trainer = build_face_model(feature_model, 2, embedding_dim=6)
    assert embedder.input_shape == (None, 24, 24, 3)
    assert "preprocessing" not in [layer.name for layer in embedder.layers]
    assert isinstance(embedder.get_layer("neck"), EmbeddingNeck)
    assert trainer.output_shape == (None, 2)

    embedding_model = kx.models.IResNet(embedding_dim=8, image_shape=(32, 32, 3), **TINY_IRESNET)
    embedder, _ = build_face_model(embedding_model, 2, embedding_dim=8, preprocessing="tf")
    assert "neck" not in [layer.name for layer in embedder.layers]  # the model has its own
    with pytest.raises(ValueError, match=r"already outputs vectors of size 8.*embedding_dim=8"):
        build_face_model(embedding_model, 2, embedding_dim=512)


def test_builtin_preprocessing_is_switched_off_for_an_explicit_mode(monkeypatch):
    received = {}

    def recording_constructor(**kwargs):
        received.update(kwargs)
        image = keras.Input(kwargs["input_shape"])
        return keras.Model(image, keras.layers.Conv2D(4, 3, strides=8)(image), name=kwargs["name"])

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", recording_constructor)
    embedder, _ = build_face_model("MobileNetV3Small", 2, input_shape=(32, 32, 3))
    assert "include_preprocessing" not in received  # "auto": MobileNetV3's own, built in
    assert "preprocessing" not in [layer.name for layer in embedder.layers]
    embedder, _ = build_face_model(
        "MobileNetV3Small", 2, input_shape=(32, 32, 3), preprocessing="torch"
    )
    assert received["include_preprocessing"] is False
    assert embedder.get_layer("preprocessing").mode == "torch"
    with pytest.raises(ValueError, match="EfficientNetB0 always normalises its inputs itself"):
        build_face_model("EfficientNetB0", 2, preprocessing="tf")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet51'.*iresnet50.*MobileNetV2"):
        build_face_model("resnet51", 2)


@pytest.mark.parametrize(
    "name, size, minimum", [("InceptionV3", 64, 75), ("Xception", 70, 71), ("ResNet50", 16, 32)]
)
def test_too_small_input_names_the_minimum(name, size, minimum):
    with pytest.raises(ValueError, match=f"{name} needs inputs of at least {minimum}x{minimum}"):
        build_face_model(name, 2, input_shape=(size, size, 3))


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights file .*missing.weights.h5.* not found"):
        build_face_model("MobileNetV2", 2, weights=tmp_path / "missing.weights.h5")
    with pytest.raises(ValueError, match="no ImageNet weights for the face backbone 'iresnet50'"):
        build_face_model("iresnet50", 2, weights="imagenet")
    with pytest.raises(ValueError, match="unknown preprocessing 'imagenet'"):
        build_face_model("MobileNetV2", 2, preprocessing="imagenet")
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        build_face_model("MobileNetV2", 2, pooling="max")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        build_face_model("MobileNetV2", 0)
    with pytest.raises(ValueError, match="'input_shape' is set by build_face_model"):
        build_face_model("MobileNetV2", 2, backbone_kwargs={"input_shape": (32, 32, 3)})
    with pytest.raises(TypeError, match="backbone must be a name"):
        build_face_model(3, 2)


def test_registry_matches_keras_applications():
    """Every listed application exists, and its preprocess_input is the mode we apply."""
    pixels = np.random.default_rng(0).uniform(0, 255, size=(1, 2, 2, 3)).astype("float32")
    for name, info in face_model_module._APPLICATIONS.items():
        constructor = getattr(keras.applications, name)
        module_name = constructor.__module__.rsplit(".", 1)[-1]
        module = importlib.import_module(f"keras.applications.{module_name}")
        expected = _numpy(module.preprocess_input(pixels.copy()))
        mode = "none" if info.preprocessing == "builtin" else info.preprocessing
        actual = _numpy(ImagePreprocessing(mode)(pixels))
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4, err_msg=name)
        assert name in available_backbones()


def test_mixed_precision_keeps_float32_cosines():
    keras.config.set_dtype_policy("mixed_bfloat16")
    embedder, trainer = build_face_model(
        "iresnet18", 3, embedding_dim=8, input_shape=(32, 32, 3), backbone_kwargs=TINY_IRESNET
    )
    assert embedder.get_layer("preprocessing").compute_dtype == "bfloat16"
    assert embedder.get_layer("neck").fc.kernel.dtype == "float32"  # variables stay float32
    assert keras.backend.standardize_dtype(trainer.output.dtype) == "float32"
