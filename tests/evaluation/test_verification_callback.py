"""`VerificationCallback` inside a real `fit`, with the Keras callbacks that read its logs."""

import csv

import keras
import numpy as np
import pytest

from keras_expface import CosFaceLoss, CosineHead
from keras_expface.evaluation import (
    VerificationCallback,
    VerificationPairs,
    embedding_model_from,
    evaluate_model,
)
from tests.evaluation.synthetic import identity_images

SIZE = 16


def training_model(num_classes=6):
    inputs = keras.Input((SIZE, SIZE, 1))
    features = keras.layers.Dense(8, name="embedding")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, CosineHead(num_classes)(features))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=CosFaceLoss(scale=16.0, margin=0.2))
    return model


def training_data():
    images, labels = identity_images(6, 10, size=SIZE, seed=0)
    return images.astype("float32") / 255.0, labels


def held_out_pairs(name="held_out"):
    """Four unseen identities, 5 images each: 40 positive and 40 negative pairs, alternating."""
    images, labels = identity_images(4, 5, size=SIZE, seed=7)
    all_pairs = [(i, j) for i in range(20) for j in range(i + 1, 20)]
    positives = [pair for pair in all_pairs if labels[pair[0]] == labels[pair[1]]]
    negatives = [pair for pair in all_pairs if labels[pair[0]] != labels[pair[1]]][::3][:40]
    alternating = [pair for both in zip(positives, negatives, strict=True) for pair in both]
    return VerificationPairs(name, images, alternating, [True, False] * 40)


def test_logs_feed_keras_callbacks(tmp_path):
    model = training_model()
    untrained = evaluate_model(embedding_model_from(model), held_out_pairs(), preprocessing="unit")
    x, y = training_data()
    callback = VerificationCallback(
        [held_out_pairs(), held_out_pairs("again")],
        preprocessing="unit",
        best_model_path=str(tmp_path / "best_embedder.keras"),
        verbose=0,
    )
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=20,
        verbose=0,
        callbacks=[
            callback,
            keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
            keras.callbacks.EarlyStopping(monitor="held_out_accuracy", mode="max", patience=5),
            keras.callbacks.ModelCheckpoint(
                str(tmp_path / "best.keras"),
                monitor="held_out_auc",
                mode="max",
                save_best_only=True,
            ),
        ],
    )
    for key in ("held_out_accuracy", "held_out_auc", "held_out_tar_at_far_1e-1", "again_threshold"):
        assert len(history.history[key]) == 2, key
    assert "held_out_tar_at_far_1e-2" not in history.history  # 40 negatives cannot resolve it
    with open(tmp_path / "log.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 and 0.0 <= float(rows[1]["held_out_accuracy"]) <= 1.0
    assert (tmp_path / "best.keras").is_file()

    assert callback.best == max(history.history["held_out_accuracy"])
    # The last evaluation saw the trained weights (on JAX they live apart until synced).
    final = evaluate_model(embedding_model_from(model), held_out_pairs(), preprocessing="unit")
    logged = callback.results["held_out"]
    np.testing.assert_allclose(logged.roc_distances[1:], final.roc_distances[1:], rtol=1e-6)
    assert not np.allclose(final.roc_distances[1:], untrained.roc_distances[1:], rtol=1e-3)
    best = keras.saving.load_model(tmp_path / "best_embedder.keras")
    assert best.output_shape == (None, 8)


def test_every_n_epochs_and_an_explicit_embedding_model():
    model = training_model()
    embedder = keras.Model(model.inputs[0], model.get_layer("embedding").output)
    x, y = training_data()
    callback = VerificationCallback(
        held_out_pairs(), embedding_model=embedder, every_n_epochs=2, flip=False, verbose=0
    )
    history = model.fit(x, y, epochs=3, batch_size=30, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 3
    assert len(history.history["held_out_accuracy"]) == 1  # epoch 2 only
    assert callback.best_epoch == 1


def test_verbose_prints_one_line_per_set(capsys):
    model = training_model()
    x, y = training_data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[VerificationCallback(held_out_pairs())])
    assert "Epoch 1: held_out accuracy" in capsys.readouterr().out


def test_unknown_monitor_is_named():
    model = training_model()
    x, y = training_data()
    callback = VerificationCallback(held_out_pairs(), monitor="lfw_accuracy", verbose=0)
    with pytest.raises(ValueError, match="monitor='lfw_accuracy' is not among"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])


def test_bad_arguments():
    pairs = held_out_pairs()
    with pytest.raises(ValueError, match="distinct names"):
        VerificationCallback([pairs, pairs])
    with pytest.raises(ValueError, match="named 'val'"):
        VerificationCallback(held_out_pairs("val"))
    with pytest.raises(ValueError, match="non-empty list"):
        VerificationCallback([])
    with pytest.raises(ValueError, match="every_n_epochs must be an integer >= 1"):
        VerificationCallback(pairs, every_n_epochs=0)
    with pytest.raises(ValueError, match="mode must be"):
        VerificationCallback(pairs, mode="auto")
