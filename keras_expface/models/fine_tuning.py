"""Fine-tuning a pretrained backbone in two stages: freeze, train the head; unfreeze, train on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

import keras

from keras_expface.models.face_model import BACKBONE_LAYER_NAME

# How blocks show in layer names, for our backbones and keras.applications: (pattern, block
# name), the name formatted with the pattern's groups. A layer whose name matches no pattern
# joins the block before it; one marked _NEXT joins the block after it.
_NEXT = "<next>"
_BLOCK_PATTERNS = tuple(
    (re.compile(pattern), block_name)
    for pattern, block_name in (
        (r"^(layer\d+_\d+)_", "{0}"),  # IResNet (insightface's names): layer3_12_conv1
        (r"^(stage\d+_\d+)_", "{0}"),  # MobileFaceNet: stage3_2_dw
        (r"^(conv\d+_block\d+)_", "{0}"),  # ResNet, ResNetV2, DenseNet: conv4_block6_1_conv
        (r"_(stage_\d+_block_\d+)_", "{0}"),  # ConvNeXt: convnext_tiny_stage_2_block_8_...
        (r"_downsampling_block_\d+$", _NEXT),  # ConvNeXt: the next stage's downsampling
        (r"^(block_\d+)_", "{0}"),  # MobileNetV2: block_13_expand
        (r"^(block\d+[a-z])_", "{0}"),  # EfficientNet, EfficientNetV2: block6c_expand_conv
        (r"^(block\d+)_", "{0}"),  # VGG, Xception: block5_conv1, block13_sepconv2
        (r"^(expanded_conv(?:_\d+)?)_", "{0}"),  # MobileNetV3: expanded_conv_10_depthwise
        (r"^conv_(?:pad|dw|pw)_(\d+)", "conv_unit_{0}"),  # MobileNet: conv_dw_7_bn, conv_pw_7
    )
)
# Architectures whose block names come at the end of each block, after layers with
# automatic names (conv2d_12, ...), which therefore join the block after them.
_END_MARKER_PATTERNS = tuple(
    (re.compile(pattern), block_name)
    for pattern, block_name in (
        (r"^(mixed_?\d+[a-z]?)$", "{0}"),  # InceptionV3 mixed7, InceptionResNetV2 mixed_6a
        (r"^(block(?:35|17|8)_\d+)_", "{0}"),  # InceptionResNetV2: block17_3_mixed
    )
)


class FineTuneHistory(NamedTuple):
    """The `keras.callbacks.History` of each stage of `fine_tune`.

    Attributes:
        head: Stage 1, backbone frozen.
        finetune: Stage 2, backbone (or its top blocks) unfrozen; `None` if it had no epochs.
    """

    head: keras.callbacks.History
    finetune: keras.callbacks.History | None


def get_backbone(model: keras.Model) -> keras.Model:
    """Returns the layer named `"backbone"` inside `model` (searched recursively), or `model`.

    `build_face_model` names its backbone `"backbone"`, so this finds it in the embedding or
    the training model. A model without such a layer is taken to be the backbone itself.

    Args:
        model: A model from `build_face_model`, or a backbone.

    Returns:
        The backbone model.
    """
    pending = [model]
    while pending:
        current = pending.pop(0)
        for layer in getattr(current, "layers", ()):
            if layer.name == BACKBONE_LAYER_NAME:
                return layer
            if isinstance(layer, keras.Model):
                pending.append(layer)
    return model


def backbone_blocks(model: keras.Model) -> list[tuple[str, list[keras.layers.Layer]]]:
    """Splits the backbone's layers into blocks, in order from the input to the output.

    Blocks are read from the layer names of our backbones and of `keras.applications`
    (`layer3_4_conv1`, `conv4_block6_1_conv`, `block_13_expand`, `block6c_project_conv`,
    `stage_2_block_8`, `expanded_conv_3_...`, `conv_dw_7`, `block5_conv1`, ...). Layers
    before the first block form the block `"stem"`; a layer whose name matches no block
    pattern (a final `Conv_1` or `top_conv`) joins the block before it. InceptionV3 and
    InceptionResNetV2 name a block at its end (`mixed7`), after layers with automatic
    names: there such layers join the block after them, and the stem joins the first
    block. NASNet's cells cannot be told apart this way (a `ValueError`). Nested models
    are walked into.

    Args:
        model: A model from `build_face_model`, or a backbone.

    Returns:
        `[(block_name, layers), ...]`, the stem first.

    Raises:
        ValueError: If no layer name looks like a block (the backbone's blocks are unknown:
            unfreeze it whole, or set `layer.trainable` yourself).
    """
    backbone = get_backbone(model)
    layers = [
        layer for layer in _leaf_layers(backbone) if not isinstance(layer, keras.layers.InputLayer)
    ]
    keys = _block_names([layer.name for layer in layers])
    if keys is None:
        raise ValueError(
            f"Cannot tell the blocks of backbone {backbone.name!r} from its layer names; "
            "unfreeze it whole (num_blocks=None) or set layer.trainable yourself."
        )
    blocks: list[tuple[str, list[keras.layers.Layer]]] = []
    for layer, key in zip(layers, keys, strict=True):
        if not blocks or blocks[-1][0] != key:
            blocks.append((key, []))
        blocks[-1][1].append(layer)
    return blocks


def freeze_backbone(model: keras.Model) -> keras.Model:
    """Freezes the backbone: no weight of it trains, and its BatchNorm runs in inference mode.

    In Keras 3 a `BatchNormalization` layer with `trainable=False` normalises with its
    moving statistics and does not update them, also inside `fit`. The embedding neck and
    the head stay trainable. Compile the model again after calling this.

    Args:
        model: A model from `build_face_model` (embedding or training model), or a backbone.

    Returns:
        The backbone.

    Example:

    >>> from keras_expface.models import build_face_model
    >>> embedder, trainer = build_face_model(
    ...     "mobilefacenet", num_classes=4, embedding_dim=8, input_shape=(32, 32, 3),
    ...     backbone_kwargs={"width_multiplier": 0.125})
    >>> backbone = freeze_backbone(trainer)
    >>> len(backbone.trainable_weights), len(trainer.trainable_weights)  # neck + head remain
    (0, 7)
    """
    backbone = get_backbone(model)
    backbone.trainable = False
    return backbone


def unfreeze_backbone(
    model: keras.Model, num_blocks: int | None = None, train_batch_norm: bool = False
) -> list[str]:
    """Makes the backbone, or its top `num_blocks` blocks, trainable again.

    BatchNorm layers stay frozen (inference mode, moving statistics fixed) unless
    `train_batch_norm=True`: with the small batches of fine-tuning, batch statistics are
    noisy and would wreck the pretrained ones (the recipe of Keras' transfer-learning
    guide). BatchNorm layers are found among the backbone's layers and those of its nested
    models, not inside custom layers. Compile the model again after calling this.

    Args:
        model: A model from `build_face_model` (embedding or training model), or a backbone.
        num_blocks: Unfreeze only the last `num_blocks` blocks of `backbone_blocks(model)`;
            `None` unfreezes all. Defaults to `None`.
        train_batch_norm: Whether the unfrozen BatchNorm layers train too. Defaults to
            `False`.

    Returns:
        The names of the unfrozen blocks (`["all"]` when `num_blocks` is `None`).

    Raises:
        ValueError: If `num_blocks` is not a positive integer, or the backbone's blocks
            cannot be told apart.
    """
    backbone = get_backbone(model)
    if num_blocks is not None and (
        isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1
    ):
        raise ValueError(f"num_blocks must be None or a positive integer; got {num_blocks!r}.")
    blocks = backbone_blocks(backbone) if num_blocks is not None else None
    # Not just `backbone.trainable = True`: on TensorFlow, assigning an attribute its
    # current value is skipped, so a trainable model would not reach its frozen layers.
    backbone.trainable = True
    for layer in _all_layers(backbone):
        layer.trainable = True
    unfrozen = ["all"]
    if blocks is not None:
        frozen, kept = blocks[:-num_blocks], blocks[-num_blocks:]
        for _, layers in frozen:
            for layer in layers:
                layer.trainable = False
        unfrozen = [block_name for block_name, _ in kept]
    if not train_batch_norm:
        for layer in _leaf_layers(backbone):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return unfrozen


def fine_tune(
    training_model: keras.Model,
    x,
    y=None,
    *,
    loss: keras.losses.Loss,
    head_epochs: int = 5,
    finetune_epochs: int = 5,
    head_learning_rate: float = 1e-3,
    finetune_learning_rate: float = 1e-4,
    num_blocks: int | None = None,
    train_batch_norm: bool = False,
    optimizer: str | Callable[[float], keras.optimizers.Optimizer] = "adam",
    metrics=None,
    batch_size: int | None = None,
    **fit_kwargs,
) -> FineTuneHistory:
    """Fine-tunes a pretrained backbone into a face embedder, in two stages.

    1. The backbone is frozen (BatchNorm in inference mode); the embedding neck and the
       head train for `head_epochs` at `head_learning_rate`. A randomly initialised head
       would otherwise send large gradients into the pretrained weights.
    2. The backbone (all of it, or its top `num_blocks` blocks) is unfrozen, BatchNorm
       still frozen unless `train_batch_norm`, and everything trainable trains on for
       `finetune_epochs` at the lower `finetune_learning_rate`, with a fresh optimizer.

    The epochs are numbered on from stage 1 to stage 2 (`initial_epoch`), so callbacks and
    logs see one run. Any margin loss works (`ExpFaceLoss`, `ArcFaceLoss`, ...). The model
    is left in its stage-2 state (compiled, backbone unfrozen).

    Args:
        training_model: The training model of `build_face_model` (outputs cosines).
        x: Images (pixels in `[0, 255]`), or a dataset of `(images, labels)` with `y=None`.
        y: Integer identity labels. Defaults to `None`.
        loss: A margin loss, e.g. `keras_expface.ExpFaceLoss()`.
        head_epochs: Epochs of stage 1. Defaults to `5`.
        finetune_epochs: Epochs of stage 2 (`0` skips it). Defaults to `5`.
        head_learning_rate: Stage 1 learning rate. Defaults to `1e-3`.
        finetune_learning_rate: Stage 2 learning rate. Defaults to `1e-4`.
        num_blocks: Unfreeze only this many top blocks in stage 2 (see
            `unfreeze_backbone`); `None` unfreezes all. Defaults to `None`.
        train_batch_norm: Whether BatchNorm trains in stage 2. Defaults to `False`.
        optimizer: A Keras optimizer name (`"adam"`, `"sgd"`, `"adamw"`, ...) or a function
            mapping a learning rate to a new optimizer. Defaults to `"adam"`.
        metrics: Passed to `compile`, e.g. `["sparse_categorical_accuracy"]` (the argmax of
            the cosines is the predicted identity). Defaults to `None`.
        batch_size: Passed to `fit`. Defaults to `None` (Keras' default, 32).
        **fit_kwargs: Passed to both `fit` calls (`validation_data`, `callbacks`,
            `verbose`, ...).

    Returns:
        A `FineTuneHistory` `(head, finetune)`.

    Example:

    ```python
    embedder, trainer = build_face_model("MobileNetV2", num_classes=32, weights=path,
                                         preprocessing="torch", pooling="gdc")
    fine_tune(trainer, images, labels, loss=ExpFaceLoss(), head_epochs=5,
              finetune_epochs=10, num_blocks=4)
    embeddings = embedder.predict(test_images)
    ```
    """
    for arg_name, value in (("head_epochs", head_epochs), ("finetune_epochs", finetune_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"fine_tune: {arg_name} must be a non-negative integer; got {value!r}."
            )
    for arg_name in ("epochs", "initial_epoch"):
        if arg_name in fit_kwargs:
            raise ValueError(
                f"fine_tune: {arg_name!r} is set by fine_tune; use head_epochs and finetune_epochs."
            )

    freeze_backbone(training_model)
    training_model.compile(
        optimizer=_make_optimizer(optimizer, head_learning_rate), loss=loss, metrics=metrics
    )
    head_history = training_model.fit(x, y, batch_size=batch_size, epochs=head_epochs, **fit_kwargs)
    if finetune_epochs == 0:
        return FineTuneHistory(head_history, None)

    unfreeze_backbone(training_model, num_blocks=num_blocks, train_batch_norm=train_batch_norm)
    training_model.compile(
        optimizer=_make_optimizer(optimizer, finetune_learning_rate), loss=loss, metrics=metrics
    )
    finetune_history = training_model.fit(
        x,
        y,
        batch_size=batch_size,
        initial_epoch=head_epochs,
        epochs=head_epochs + finetune_epochs,
        **fit_kwargs,
    )
    return FineTuneHistory(head_history, finetune_history)


def _make_optimizer(optimizer, learning_rate: float) -> keras.optimizers.Optimizer:
    if callable(optimizer):
        return optimizer(learning_rate)
    if not isinstance(optimizer, str):
        raise TypeError(
            "fine_tune: optimizer must be an optimizer name or a function of the learning rate "
            f"(a new optimizer per stage); got {type(optimizer).__name__}."
        )
    return keras.optimizers.get(
        {"class_name": optimizer, "config": {"learning_rate": learning_rate}}
    )


def _block_names(layer_names: list[str]) -> list[str] | None:
    """The block of each layer name, in order; `None` if no name looks like a block."""
    end_markers = any(_match(name, _END_MARKER_PATTERNS) for name in layer_names)
    patterns = _END_MARKER_PATTERNS if end_markers else _BLOCK_PATTERNS
    keys = [_match(name, patterns) for name in layer_names]
    if not any(key not in (None, _NEXT) for key in keys):
        return None
    if end_markers:
        keys = [_NEXT if key is None else key for key in keys]
    following = "top"
    for index in reversed(range(len(keys))):
        if keys[index] == _NEXT:
            keys[index] = following
        elif keys[index] is not None:
            following = keys[index]
    previous = "stem"
    for index, key in enumerate(keys):
        if key is None:
            keys[index] = previous
        else:
            previous = key
    return keys


def _match(layer_name: str, patterns) -> str | None:
    for pattern, block_name in patterns:
        match = pattern.search(layer_name)
        if match:
            return block_name if block_name == _NEXT else block_name.format(*match.groups())
    return None


def _all_layers(model) -> Iterator[keras.layers.Layer]:
    """The layers of `model` in order, nested models and their layers included."""
    for layer in getattr(model, "layers", ()):
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _leaf_layers(model) -> Iterator[keras.layers.Layer]:
    """The layers of `model` in order, walking into nested models."""
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
