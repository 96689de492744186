"""End to end: a small embedder + CosineHead + ExpFaceLoss trained with fit on real faces."""

import keras
import numpy as np
import pytest

import keras_expface as kx
from keras_expface.data import load_identity_folder


@pytest.mark.slow
def test_expface_training_on_orl_faces(orl_faces_dir):
    faces = load_identity_folder(orl_faces_dir, image_size=(28, 23), color_mode="grayscale")
    assert faces.images.shape == (400, 28, 23, 1) and faces.num_classes == 40

    keras.utils.set_random_seed(0)
    inputs = keras.Input(faces.images.shape[1:])
    x = keras.layers.Rescaling(1 / 128.0, offset=-127.5 / 128.0)(inputs)
    x = keras.layers.Flatten()(x)
    embeddings = keras.layers.Dense(64, name="embedding")(x)
    cosines = kx.CosineHead(faces.num_classes)(embeddings)
    model = keras.Model(inputs, cosines)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=kx.ExpFaceLoss(),
        metrics=["sparse_categorical_accuracy"],
    )
    history = model.fit(
        faces.images.astype("float32"),
        faces.labels,
        epochs=12,
        batch_size=40,
        shuffle=True,
        verbose=0,
    ).history

    losses, accuracies = history["loss"], history["sparse_categorical_accuracy"]
    print("loss", np.round(losses, 2), "accuracy", np.round(accuracies, 3))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses
    assert accuracies[0] < 0.5 and accuracies[-1] > 0.9, accuracies
