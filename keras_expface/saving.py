"""Loading `.keras` files saved on any backend, with the package's objects registered."""

from __future__ import annotations

import inspect
import os

import keras


def _public_optimizers() -> dict:
    return {
        name: value
        for name, value in vars(keras.optimizers).items()
        if inspect.isclass(value) and issubclass(value, keras.optimizers.Optimizer)
    }


def load_model(
    filepath: str | os.PathLike,
    custom_objects: dict | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> keras.Model:
    """Loads a `.keras` model on the current backend, whichever backend saved it.

    Same as `keras.saving.load_model`, plus two things: the package's layers and losses are
    registered (importing `keras_expface` does that), and optimizers are resolved to the
    public `keras.optimizers` classes. The second works around Keras 3 (seen in 3.15.1):
    a model compiled on the torch backend records its optimizer under a torch-only module
    (`keras.src.backend.torch.optimizers.torch_adam.Adam`), so on TensorFlow or JAX
    `keras.saving.load_model` restores a torch optimizer and the first training step
    fails. Weights, loss and optimizer state are restored either way.

    Args:
        filepath: Path of the `.keras` file.
        custom_objects: Extra custom objects, as for `keras.saving.load_model`; they take
            precedence. Defaults to `None`.
        compile: Whether to compile the model with its saved loss and optimizer.
            Defaults to `True`.
        safe_mode: Refuse to deserialize lambdas (Keras' safe mode). Defaults to `True`.

    Returns:
        The model.

    Example:

    ```python
    import keras_expface as kx
    model = kx.load_model("run/model.keras")   # saved on torch, loaded on jax
    model.fit(x, y)                             # continues with the restored optimizer
    ```
    """
    objects = {**_public_optimizers(), **(custom_objects or {})}
    return keras.saving.load_model(
        filepath, custom_objects=objects, compile=compile, safe_mode=safe_mode
    )
