"""Test helpers that need backend-specific code (never used by the library)."""

import keras
import numpy as np


def value_and_gradient(function, x):
    """Returns `(function(x), d sum(function(x)) / dx)` as numpy, on the current backend.

    Args:
        function: Maps a float32 tensor to a tensor (keras.ops code).
        x: A numpy array, the point of differentiation.
    """
    backend = keras.backend.backend()
    x = np.asarray(x, dtype="float32")
    if backend == "tensorflow":
        import tensorflow as tf

        variable = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(variable)
            value = function(variable)
            total = tf.reduce_sum(value)
        return np.asarray(value), np.asarray(tape.gradient(total, variable))
    if backend == "torch":
        import torch

        variable = torch.tensor(x, requires_grad=True)
        value = function(variable)
        value.sum().backward()
        return value.detach().cpu().numpy(), variable.grad.detach().cpu().numpy()
    if backend == "jax":
        import jax

        def total(v):
            out = function(v)
            return out.sum(), out

        (_, value), gradient = jax.value_and_grad(total, has_aux=True)(x)
        return np.asarray(value), np.asarray(gradient)
    raise NotImplementedError(backend)
