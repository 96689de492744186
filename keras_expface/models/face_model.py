"""`build_face_model`: a face embedder and its training model from any backbone, in one call."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import keras

from keras_expface.layers import CosineHead
from keras_expface.models import _layers
from keras_expface.models.embedding_neck import POOLING_MODES, EmbeddingNeck
from keras_expface.models.image_preprocessing import PREPROCESSING_MODES, ImagePreprocessing
from keras_expface.models.iresnet import IRESNET_STAGE_DEPTHS, IResNet
from keras_expface.models.mobilefacenet import MobileFaceNet

#: The name of the backbone inside the embedding model (`freeze_backbone` looks it up).
BACKBONE_LAYER_NAME = "backbone"
#: Face backbones trained from scratch (x / 127.5 - 1, as insightface).
FACE_BACKBONES = (*(f"iresnet{depth}" for depth in IRESNET_STAGE_DEPTHS), "mobilefacenet")
_DEFAULT_INPUT_SHAPE = (112, 112, 3)


@dataclasses.dataclass(frozen=True)
class _Application:
    """What `build_face_model` needs to know about one `keras.applications` model."""

    preprocessing: str  # a PREPROCESSING_MODES entry, or "builtin" (layers inside the model)
    min_size: int = 32  # the smallest height / width `keras.applications` accepts
    can_disable_builtin: bool = False  # accepts `include_preprocessing=False`


# By module of keras.applications: the mode its `preprocess_input` uses and its minimum size.
_TF, _TORCH, _CAFFE = _Application("tf"), _Application("torch"), _Application("caffe")
_BUILTIN_SWITCHABLE = _Application("builtin", can_disable_builtin=True)
_APPLICATIONS: dict[str, _Application] = {
    **dict.fromkeys(
        ("ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge"),
        _BUILTIN_SWITCHABLE,
    ),
    **dict.fromkeys(("DenseNet121", "DenseNet169", "DenseNet201"), _TORCH),
    # EfficientNet (V1) always contains its Rescaling and Normalization layers.
    **{f"EfficientNetB{i}": _Application("builtin") for i in range(8)},
    **dict.fromkeys(
        (
            "EfficientNetV2B0",
            "EfficientNetV2B1",
            "EfficientNetV2B2",
            "EfficientNetV2B3",
            "EfficientNetV2S",
            "EfficientNetV2M",
            "EfficientNetV2L",
        ),
        _BUILTIN_SWITCHABLE,
    ),
    "InceptionResNetV2": _Application("tf", min_size=75),
    "InceptionV3": _Application("tf", min_size=75),
    "MobileNet": _TF,
    "MobileNetV2": _TF,
    "MobileNetV3Small": _BUILTIN_SWITCHABLE,
    "MobileNetV3Large": _BUILTIN_SWITCHABLE,
    "NASNetMobile": _TF,
    "NASNetLarge": _TF,
    **dict.fromkeys(("ResNet50", "ResNet101", "ResNet152"), _CAFFE),
    **dict.fromkeys(("ResNet50V2", "ResNet101V2", "ResNet152V2"), _TF),
    "VGG16": _CAFFE,
    "VGG19": _CAFFE,
    "Xception": _Application("tf", min_size=71),
}


class FaceModels(NamedTuple):
    """The two models `build_face_model` returns; they share every weight.

    Attributes:
        embedding_model: Pixels `(batch, H, W, C)` in `[0, 255]` to embeddings
            `(batch, embedding_dim)`: preprocessing, backbone (the layer named
            `"backbone"`), embedding neck.
        training_model: Pixels to cosines `(batch, num_classes)`: the embedding model
            followed by a `CosineHead` (named `"head"`). Compile it with a margin loss.
    """

    embedding_model: keras.Model
    training_model: keras.Model


def available_backbones() -> tuple[str, ...]:
    """Names `build_face_model` accepts: our face backbones, then `keras.applications`.

    Returns:
        `("iresnet18", ..., "mobilefacenet", "ConvNeXtBase", ...)`, the applications
        limited to those the installed Keras provides. Names are matched ignoring case,
        `_` and `-`.
    """
    applications = tuple(
        name for name in sorted(_APPLICATIONS) if hasattr(keras.applications, name)
    )
    return FACE_BACKBONES + applications


def build_face_model(
    backbone: str | keras.Model,
    num_classes: int,
    embedding_dim: int = 512,
    input_shape: Sequence[int] | None = None,
    weights: str | os.PathLike | None = None,
    preprocessing: str = "auto",
    pooling: str | None = None,
    dropout: float = 0.0,
    num_subcenters: int = 1,
    backbone_kwargs: Mapping | None = None,
    name: str = "face",
) -> FaceModels:
    """Builds a face embedding model and its training model (embedding model + `CosineHead`).

    `backbone` is one of:

    - a face backbone to train from scratch: `"iresnet18"`, `"iresnet34"`, `"iresnet50"`,
      `"iresnet100"` (`IResNet`) or `"mobilefacenet"` (`MobileFaceNet`);
    - any `keras.applications` model by name (`"MobileNetV2"`, `"ResNet50"`,
      `"EfficientNetB0"`, `"ConvNeXtTiny"`, ...; see `available_backbones()`), built with
      `include_top=False`, to fine-tune (see `fine_tune`);
    - a Keras model of yours, mapping images to a feature map `(batch, h, w, c)` (an
      embedding neck is added) or to embeddings `(batch, embedding_dim)` (used as is).

    The embedding model takes RGB pixels in `[0, 255]` (any dtype) and applies the
    backbone's input normalisation itself (`preprocessing`), so the saved model needs no
    separate preprocessing step.

    Preprocessing (`preprocessing="auto"`): for a `keras.applications` model, what its
    `preprocess_input` does, which is what Keras' `weights="imagenet"` files were trained
    with (`"tf"`, `"torch"` or `"caffe"`; for ConvNeXt, EfficientNet(V2) and MobileNetV3
    the normalisation is already built into the application); for IResNet and
    MobileFaceNet, insightface's `x / 127.5 - 1` (`"tf"`); for your own model, none. Pass
    a mode to override it, e.g. `preprocessing="torch"` for weights converted from
    torchvision (the application's built-in normalisation, if any, is then switched off
    with `include_preprocessing=False`; EfficientNet (V1) cannot switch it off and accepts
    only `"auto"`).

    Args:
        backbone: A name (see above) or a `keras.Model`.
        num_classes: Number of training identities (the head's classes).
        embedding_dim: Size of the embedding. Defaults to `512`.
        input_shape: `(height, width, channels)` of the images. Defaults to the model's own
            input shape when `backbone` is a model with a fixed one, else `(112, 112, 3)`.
        weights: `None` (random initialisation), `"imagenet"` (passed to
            `keras.applications`, which downloads Keras' file: needs a network), or the
            path of a local weights file of the backbone without its top (e.g. a
            `.weights.h5` saved from `keras.applications.X(include_top=False, ...)`, or
            from `IResNet(..., include_neck=False)`); for a model of yours, the file is
            loaded into that model. Defaults to `None`.
        preprocessing: `"auto"`, `"tf"`, `"torch"`, `"caffe"` or `"none"` (see above).
            Defaults to `"auto"`.
        pooling: The embedding neck's pooling, `"flatten"` (insightface's "E" output),
            `"gdc"` (MobileFaceNet's global depthwise conv) or `"avg"`. Defaults to `None`:
            `"gdc"` for MobileFaceNet, `"flatten"` otherwise.
        dropout: Dropout rate in the neck, in `[0, 1)`. Defaults to `0.0`.
        num_subcenters: Sub-centres per class in the head. Defaults to `1`.
        backbone_kwargs: Extra arguments for the backbone's constructor, e.g.
            `{"alpha": 0.35}` for MobileNetV2 or `{"width_multiplier": 0.5}` for IResNet.
            Defaults to `None`.
        name: Prefix of the models' names (`{name}_embedding`, `{name}_training`).
            Defaults to `"face"`.

    Returns:
        A `FaceModels` `(embedding_model, training_model)`, sharing weights.

    Raises:
        ValueError: For an unknown backbone name (the message lists the valid ones), an
            input smaller than the application accepts (the message gives the minimum), or
            another bad argument.
        FileNotFoundError: If `weights` is a path that does not exist.

    Example:

    >>> embedder, trainer = build_face_model(
    ...     "iresnet18", num_classes=10, embedding_dim=8, input_shape=(32, 32, 3),
    ...     backbone_kwargs={"depth": (1, 1, 1, 1), "width_multiplier": 0.125})
    >>> embedder.output_shape, trainer.output_shape
    ((None, 8), (None, 10))

    Fine-tuning a pretrained application (needs a network for `"imagenet"`):

    ```python
    embedder, trainer = build_face_model("MobileNetV2", num_classes=1000, weights="imagenet")
    fine_tune(trainer, images, labels, loss=keras_expface.ExpFaceLoss())
    ```
    """
    num_classes = _layers.check_positive_int("build_face_model", "num_classes", num_classes)
    embedding_dim = _layers.check_positive_int("build_face_model", "embedding_dim", embedding_dim)
    if preprocessing not in ("auto", *PREPROCESSING_MODES):
        raise ValueError(
            f"build_face_model: unknown preprocessing {preprocessing!r}; expected 'auto' or "
            f"one of {', '.join(repr(m) for m in PREPROCESSING_MODES)}."
        )
    if pooling is not None and pooling not in POOLING_MODES:
        raise ValueError(
            f"build_face_model: unknown pooling {pooling!r}; expected None or one of "
            f"{', '.join(repr(p) for p in POOLING_MODES)}."
        )
    dropout = _layers.check_rate("build_face_model", "dropout", dropout)
    weights = _check_weights(weights)
    backbone_kwargs = dict(backbone_kwargs or {})

    neck_kwargs: dict = {}
    if isinstance(backbone, keras.Model):
        input_shape = _input_shape(input_shape, _own_input_shape(backbone))
        if weights == "imagenet":
            raise ValueError(
                "build_face_model: weights='imagenet' applies to keras.applications names only; "
                "for your own model pass None or the path of a local weights file."
            )
        if backbone_kwargs:
            raise ValueError("build_face_model: backbone_kwargs applies to backbone names only.")
        if weights is not None:
            backbone.load_weights(weights)
        mode = "none" if preprocessing == "auto" else preprocessing
        image = keras.Input(shape=input_shape, name="image")
        backbone_model = keras.Model(image, backbone(image), name=BACKBONE_LAYER_NAME)
    elif isinstance(backbone, str):
        key = _normalise_name(backbone)
        face_backbones = {_normalise_name(n): n for n in FACE_BACKBONES}
        applications = {_normalise_name(n): n for n in _APPLICATIONS}
        input_shape = _input_shape(input_shape, _DEFAULT_INPUT_SHAPE)
        if key in face_backbones:
            backbone_model, mode, neck_kwargs = _face_backbone(
                face_backbones[key], input_shape, weights, preprocessing, backbone_kwargs
            )
        elif key in applications:
            backbone_model, mode = _application(
                applications[key], input_shape, weights, preprocessing, backbone_kwargs
            )
        else:
            raise ValueError(
                f"build_face_model: unknown backbone {backbone!r}. Valid names (case, '_' and "
                f"'-' ignored): {', '.join(available_backbones())}; or pass a keras.Model."
            )
        if pooling is None and key == "mobilefacenet":
            pooling = "gdc"
    else:
        raise TypeError(
            "build_face_model: backbone must be a name (see available_backbones()) or a "
            f"keras.Model; got {type(backbone).__name__}."
        )

    image = keras.Input(shape=input_shape, name="image")
    x = image
    if mode != "none":
        x = ImagePreprocessing(mode, name="preprocessing")(x)
    x = backbone_model(x)
    if len(x.shape) == 4:
        neck_kwargs.setdefault("batch_norm_momentum", _layers.BATCH_NORM_MOMENTUM)
        neck_kwargs.setdefault("batch_norm_epsilon", _layers.BATCH_NORM_EPSILON)
        x = EmbeddingNeck(
            embedding_dim, pooling=pooling or "flatten", dropout=dropout, name="neck", **neck_kwargs
        )(x)
    elif len(x.shape) == 2:
        if x.shape[-1] != embedding_dim:
            raise ValueError(
                f"build_face_model: the backbone already outputs vectors of size {x.shape[-1]}, "
                f"not embedding_dim={embedding_dim}; pass embedding_dim={x.shape[-1]}, or a "
                "backbone that outputs a feature map (batch, h, w, c)."
            )
    else:
        raise ValueError(
            "build_face_model: the backbone must output a feature map (batch, h, w, c) or "
            f"embeddings (batch, d); got shape {tuple(x.shape)}."
        )
    embedding_model = keras.Model(image, x, name=f"{name}_embedding")

    image = keras.Input(shape=input_shape, name="image")
    cosine = CosineHead(num_classes, num_subcenters=num_subcenters, name="head")(
        embedding_model(image)
    )
    training_model = keras.Model(image, cosine, name=f"{name}_training")
    return FaceModels(embedding_model, training_model)


def _normalise_name(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _check_weights(weights):
    if weights is None or weights == "imagenet":
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "build_face_model: weights must be None, 'imagenet' or the path of a local weights "
            f"file; got {type(weights).__name__}."
        )
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"build_face_model: weights file {path!r} not found. weights must be None, "
            "'imagenet' or the path of a local weights file."
        )
    return path


def _own_input_shape(model: keras.Model):
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # a subclassed model that was never built
        return None
    if isinstance(shape, tuple) and len(shape) == 4 and all(d is not None for d in shape[1:]):
        return shape[1:]
    return None


def _input_shape(input_shape, default) -> tuple[int, ...]:
    if input_shape is None:
        input_shape = default or _DEFAULT_INPUT_SHAPE
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError) as error:
        raise ValueError(
            "build_face_model: input_shape must be (height, width, channels) of positive "
            f"integers; got {input_shape!r}."
        ) from error
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            "build_face_model: input_shape must be (height, width, channels) of positive "
            f"integers, channels last; got {input_shape!r}."
        )
    return shape


def _face_backbone(name, input_shape, weights, preprocessing, backbone_kwargs):
    if weights == "imagenet":
        raise ValueError(
            f"build_face_model: there are no ImageNet weights for the face backbone {name!r} "
            "(it is trained from scratch); pass weights=None or a local weights file."
        )
    if name == "mobilefacenet":
        model_class, neck_kwargs = (
            MobileFaceNet,
            {"use_bias": False, "trainable_output_scale": True},
        )
    else:
        model_class, neck_kwargs = IResNet, {}
        backbone_kwargs.setdefault("depth", int(name.removeprefix("iresnet")))
    for arg_name in ("include_neck", "image_shape", "embedding_dim", "dropout"):
        if arg_name in backbone_kwargs:
            raise ValueError(
                f"build_face_model: set {arg_name!r} through build_face_model's own arguments, "
                "not backbone_kwargs."
            )
    model = model_class(
        image_shape=input_shape, include_neck=False, name=BACKBONE_LAYER_NAME, **backbone_kwargs
    )
    if weights is not None:
        model.load_weights(weights)
    for arg_name in ("batch_norm_momentum", "batch_norm_epsilon"):
        neck_kwargs[arg_name] = getattr(model, arg_name)
    return model, ("tf" if preprocessing == "auto" else preprocessing), neck_kwargs


def _application(name, input_shape, weights, preprocessing, backbone_kwargs):
    info = _APPLICATIONS[name]
    constructor = getattr(keras.applications, name, None)
    if constructor is None:
        raise ValueError(
            f"build_face_model: keras.applications.{name} does not exist in Keras "
            f"{keras.__version__}; available: {', '.join(available_backbones())}."
        )
    height, width = input_shape[:2]
    if min(height, width) < info.min_size:
        raise ValueError(
            f"build_face_model: {name} needs inputs of at least {info.min_size}x{info.min_size} "
            f"pixels; got input_shape={input_shape}."
        )
    if preprocessing == "auto":
        mode = "none" if info.preprocessing == "builtin" else info.preprocessing
    else:
        mode = preprocessing
        if info.preprocessing == "builtin":
            if not info.can_disable_builtin:
                raise ValueError(
                    f"build_face_model: {name} always normalises its inputs itself (its "
                    "Rescaling/Normalization layers cannot be switched off); use "
                    f"preprocessing='auto', not {preprocessing!r}."
                )
            backbone_kwargs.setdefault("include_preprocessing", False)
    for arg_name in ("include_top", "input_shape", "input_tensor", "weights", "name"):
        if arg_name in backbone_kwargs:
            raise ValueError(
                f"build_face_model: {arg_name!r} is set by build_face_model; remove it from "
                "backbone_kwargs."
            )
    model = constructor(
        include_top=False,
        weights=weights,
        input_shape=input_shape,
        name=BACKBONE_LAYER_NAME,
        **backbone_kwargs,
    )
    return model, mode
