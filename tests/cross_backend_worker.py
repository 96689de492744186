"""Subprocess worker for tests/test_cross_backend.py (one backend per process).

Usage: python -m tests.cross_backend_worker save DIR | load DIR
`save` writes DIR/<backend>.keras with the inputs and outputs it gave; `load` reloads every
saved file on the current backend and checks loss, outputs and one training step.
"""

import json
import pathlib
import sys

import keras
import numpy as np

import keras_expface as kx


def save(folder: pathlib.Path) -> None:
    backend = keras.backend.backend()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    embeddings = keras.layers.Dense(8)(inputs)
    model = keras.Model(inputs, kx.CosineHead(4)(embeddings))
    model.compile(optimizer="adam", loss=kx.ExpFaceLoss(scale=32.0, margin=0.6))
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    y = np.arange(8) % 4
    model.fit(x, y, epochs=1, verbose=0)
    model.save(folder / f"{backend}.keras")
    np.save(folder / f"{backend}_x.npy", x)
    np.save(folder / f"{backend}_y.npy", y)
    np.save(folder / f"{backend}_out.npy", keras.ops.convert_to_numpy(model.predict(x, verbose=0)))


def load(folder: pathlib.Path) -> None:
    results = {}
    for path in sorted(folder.glob("*.keras")):
        saved_on = path.stem
        # Plain Keras reloads weights and loss from every backend...
        plain = keras.saving.load_model(path)
        plain_out = keras.ops.convert_to_numpy(
            plain.predict(np.load(folder / f"{saved_on}_x.npy"), verbose=0)
        )
        # ...and kx.load_model also gives an optimizer that trains on this backend.
        model = kx.load_model(path)
        x = np.load(folder / f"{saved_on}_x.npy")
        y = np.load(folder / f"{saved_on}_y.npy")
        out = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
        expected = np.load(folder / f"{saved_on}_out.npy")
        results[saved_on] = {
            "loss": type(model.loss).__name__,
            "plain_loss": type(plain.loss).__name__,
            "plain_max_abs_diff": float(
                np.abs(plain_out - np.load(folder / f"{saved_on}_out.npy")).max()
            ),
            "optimizer_iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
            "loss_config": model.loss.get_config(),
            "max_abs_diff": float(np.abs(out - expected).max()),
            "train_loss": float(model.train_on_batch(x, y)),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    command, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    {"save": save, "load": load}[command](folder)
