"""Quickstart: a CosineHead + ExpFaceLoss model trained with model.fit on any backend.

KERAS_BACKEND=jax python examples/quickstart.py
"""

import keras
import numpy as np

import keras_expface as kx

inputs = keras.Input((64,))
embeddings = keras.layers.Dense(128)(inputs)
cosines = kx.CosineHead(num_classes=1000)(embeddings)  # (B, C) cos(theta), float32
model = keras.Model(inputs, cosines)
model.compile(
    optimizer="adam",
    loss=kx.ExpFaceLoss(),  # s=64, m=0.7, straight-through margin as in the authors' code
    metrics=["sparse_categorical_accuracy"],
)

x = np.random.default_rng(0).normal(size=(2048, 64)).astype("float32")
integer_labels = np.arange(2048) % 1000
history = model.fit(x, integer_labels, epochs=5, batch_size=256, verbose=2)
print(
    f"backend={keras.backend.backend()} loss {history.history['loss'][0]:.2f} -> "
    f"{history.history['loss'][-1]:.2f}"
)
