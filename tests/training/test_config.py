"""keras_expface.training.config: TrainConfig, the JSON description of a run."""

import json

import pytest

from keras_expface import losses
from keras_expface.training import LOSSES, TrainConfig
from keras_expface.training.config import TINY_IRESNET


def test_defaults():
    config = TrainConfig()
    assert config.data == "builtin" and config.loss == "expface"
    assert config.image_size is None and config.resolved_image_size() == (64, 64)
    assert config.backbone == "iresnet18" and config.backbone_args == TINY_IRESNET
    assert config.loss_args == {} and config.lr_steps == ()
    assert config.held_out == 0.2 and config.validation_split == 0.0
    assert config.workers == 1 and config.verbose == 1


def test_builtin_data_gets_the_tiny_backbone_by_default():
    assert TrainConfig(data="builtin:identities=30,images=4").backbone_args == TINY_IRESNET
    assert TrainConfig(data="builtin:identities=30").is_builtin
    folder = TrainConfig(data="/data/faces")
    assert not folder.is_builtin
    assert folder.backbone_args is None and folder.resolved_image_size() == (112, 112)
    assert TrainConfig(backbone="mobilefacenet").backbone_args is None
    assert TrainConfig(backbone_args={}).backbone_args == {}  # explicit args are kept
    custom = {"depth": [2, 2, 2, 2]}
    assert TrainConfig(backbone_args=custom).backbone_args == custom
    assert TrainConfig(image_size=[32, 24]).resolved_image_size() == (32, 24)


def test_the_tiny_backbone_args_are_a_private_copy():
    config = TrainConfig()
    config.backbone_args["depth"][0] = 9
    try:
        assert TINY_IRESNET["depth"] == [1, 1, 1, 1]
        assert TrainConfig().backbone_args["depth"] == [1, 1, 1, 1]
    finally:
        TINY_IRESNET["depth"][0] = 1


def test_json_round_trip():
    config = TrainConfig(
        data="folder:/data/faces",
        image_size=(96, 80),
        loss="arcface",
        loss_args={"margin": 0.45, "scale": 32.0},
        backbone_args={"depth": [1, 2, 1, 1]},
        schedule="step",
        lr_steps=(3, 6),
        epochs=8,
        warmup_epochs=1,
        noise="flip:0.1",
        seed=3,
    )
    text = config.to_json()
    data = json.loads(text)
    assert data["image_size"] == [96, 80] and data["lr_steps"] == [3, 6]
    assert list(data) == sorted(data)
    again = TrainConfig.from_json(text)
    assert again == config
    assert again.image_size == (96, 80) and again.lr_steps == (3, 6)
    assert TrainConfig.from_json(TrainConfig().to_json()) == TrainConfig()
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"Unknown training config fields \['colour', 'lr'\]"):
        TrainConfig.from_dict({"lr": 0.1, "colour": "rgb", "epochs": 2})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "rmsprop"}, "Unknown optimizer 'rmsprop'; valid: sgd, adamw, adam"),
        ({"schedule": "linear"}, "Unknown schedule 'linear'; valid: cosine, step, constant"),
        ({"precision": "float16"}, "Unknown precision 'float16'"),
        ({"color_mode": "cmyk"}, "Unknown color_mode 'cmyk'"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"embedding_dim": True}, "embedding_dim must be a positive integer"),
        ({"num_subcenters": -1}, "num_subcenters must be a positive integer"),
        ({"workers": 0}, "workers must be a positive integer"),
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"validation_split": 1.0}, r"validation_split must lie in \[0, 1\)"),
        ({"validation_split": -0.1}, r"validation_split must lie in \[0, 1\)"),
        ({"held_out": -1}, "held_out must be 0 .no verification., a fraction"),
        ({"warmup_epochs": 10}, r"warmup_epochs must lie in \[0, epochs=10\)"),
        ({"warmup_epochs": -1}, "warmup_epochs must lie in"),
        ({"schedule": "step"}, "step schedule needs lr_steps"),
        ({"image_size": (4, 64)}, "image_size must be .* each >= 8"),
        ({"image_size": (64,)}, "image_size must be"),
    ],
)
def test_validation_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_unknown_loss_lists_the_valid_names():
    with pytest.raises(ValueError, match="Unknown loss 'magface'") as raised:
        TrainConfig(loss="magface")
    for name in LOSSES:
        assert name in str(raised.value)


def test_unknown_loss_argument_lists_the_accepted_ones():
    with pytest.raises(
        ValueError, match=r"cosface takes no argument \['easy_margin'\]; it accepts margin, scale\."
    ):
        TrainConfig(loss="cosface", loss_args={"margin": 0.3, "easy_margin": True})
    with pytest.raises(ValueError, match="it accepts detach_margin, margin, scale"):
        TrainConfig(loss="expface", loss_args={"m": 0.7})


def test_differences_ignore_runtime_fields():
    config = TrainConfig(epochs=4)
    assert config.differences(TrainConfig(epochs=4, workers=4, verbose=0)) == {}
    assert config.differences(TrainConfig(epochs=5, workers=4, loss="arcface")) == {
        "epochs": (4, 5),
        "loss": ("expface", "arcface"),
    }
    assert TrainConfig(image_size=(32, 32)).differences(TrainConfig()) == {
        "image_size": ([32, 32], None)
    }


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_make_loss_builds_each_loss(name):
    loss = TrainConfig(loss=name).make_loss()
    assert type(loss) is LOSSES[name]
    assert isinstance(loss, losses.MarginLoss)


def test_make_loss_passes_the_arguments():
    loss = TrainConfig(loss="expface", loss_args={"margin": 0.6, "scale": 32.0}).make_loss()
    assert isinstance(loss, losses.ExpFaceLoss)
    assert loss.margin == pytest.approx(0.6) and loss.scale == pytest.approx(32.0)
    arc = TrainConfig(loss="arcface", loss_args={"margin": 0.3, "easy_margin": True}).make_loss()
    assert isinstance(arc, losses.ArcFaceLoss)
    assert arc.margin == pytest.approx(0.3) and arc.easy_margin is True
    cos = TrainConfig(loss="cosface", loss_args={"margin": 0.2}).make_loss()
    assert isinstance(cos, losses.CosFaceLoss) and cos.margin == pytest.approx(0.2)


def test_one_held_out_identity_and_unknown_backbones_are_refused_up_front():
    with pytest.raises(ValueError, match="negative pairs need two"):
        TrainConfig(held_out=1)
    with pytest.raises(ValueError, match=r"Unknown backbone 'resnet7'.*mobilefacenet"):
        TrainConfig(backbone="resnet7")
    assert TrainConfig(backbone="Mobile_Net-V2").backbone == "Mobile_Net-V2"
