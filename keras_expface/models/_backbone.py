"""Private base of our functional backbones: config = constructor arguments (keras-hub style)."""

from __future__ import annotations

import keras


class ConfigurableBackbone(keras.Model):
    """A functional model rebuilt from its constructor arguments when loaded.

    Subclasses build their graph in `__init__`, call `super().__init__(inputs=...,
    outputs=..., **kwargs)` and implement `constructor_config()`. The config also lists the
    inner layers frozen with `layer.trainable = False` (e.g. by `unfreeze_backbone(...,
    num_blocks=2)`), so a partly frozen backbone reloads partly frozen.
    """

    def constructor_config(self) -> dict:
        raise NotImplementedError

    def get_config(self):
        # Not chained to super(): a functional model's config is its graph, which the
        # constructor rebuilds from these arguments.
        config = {"name": self.name, "trainable": self.trainable, **self.constructor_config()}
        frozen = [layer.name for layer in self.layers if not layer.trainable]
        if self.trainable and frozen:
            config["frozen_layers"] = frozen
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        frozen = config.pop("frozen_layers", ())
        model = cls(**config)
        for name in frozen:
            model.get_layer(name).trainable = False
        return model


def serialize_initializer(initializer):
    """`"reference"` (our default) as is; anything else as Keras serialises it."""
    if isinstance(initializer, str):
        return initializer
    return keras.initializers.serialize(keras.initializers.get(initializer))
