"""Saving and reloading compiled models with a CosineHead and a margin loss (`.keras`)."""

import math

import keras
import numpy as np
import pytest
from keras import ops

import keras_expface as kx

LOSSES = [
    kx.ExpFaceLoss(scale=32.0, margin=0.6, detach_margin=False),
    kx.ArcFaceLoss(margin=0.4, easy_margin=True),
    kx.CosFaceLoss(margin=0.4),
    kx.SphereFaceLoss(),
    kx.CombinedMarginLoss(m1=1.0, m2=0.2, m3=0.1),
    kx.NormFaceLoss(scale=16.0),
]


def small_model(num_classes=4):
    inputs = keras.Input((6,))
    embeddings = keras.layers.Dense(8, name="embedding")(inputs)
    return keras.Model(inputs, kx.CosineHead(num_classes, num_subcenters=2)(embeddings))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: type(loss).__name__)
def test_keras_file_round_trip_keeps_loss_weights_and_optimizer(tmp_path, loss):
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 6)).astype("float32")
    y = np.arange(12) % 4
    model.fit(x, y, epochs=1, batch_size=6, verbose=0)

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)

    assert type(reloaded.loss) is type(loss)
    assert reloaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded.predict(x, verbose=0)),
        ops.convert_to_numpy(model.predict(x, verbose=0)),
        atol=1e-6,
    )
    # Same next step from both: the optimizer state (momentum) came back too.
    after_original = float(model.train_on_batch(x, y))
    after_reloaded = float(reloaded.train_on_batch(x, y))
    assert math.isclose(after_original, after_reloaded, rel_tol=1e-4, abs_tol=1e-5)


def test_load_model_restores_public_optimizer_and_loss(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss=kx.ExpFaceLoss(margin=0.6))
    x = np.random.default_rng(1).normal(size=(8, 6)).astype("float32")
    model.fit(x, np.arange(8) % 4, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = kx.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.optimizer, keras.optimizers.Adam)
    assert reloaded.loss.get_config() == model.loss.get_config()
    assert int(ops.convert_to_numpy(reloaded.optimizer.iterations)) == 1
