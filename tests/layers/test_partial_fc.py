"""keras_expface.layers.PartialFCHead and PartialFCModel."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_expface as kx
from keras_expface.layers.partial_fc import PartialFCHead, PartialFCModel
from tests.helpers import value_and_gradient

EMBEDDING_DIM = 6


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def built_head(num_classes, sample_rate, seed=0, centers=None):
    head = PartialFCHead(num_classes, sample_rate=sample_rate, seed=seed)
    head.build((None, EMBEDDING_DIM))
    if centers is not None:
        head.class_centers.assign(centers)
    return head


def random_batch(batch, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(batch, EMBEDDING_DIM)).astype("float32")
    return embeddings, rng.integers(0, num_classes, size=batch)


def sample(head, embeddings, labels):
    cosines, remapped, ids = head([embeddings, labels], training=True, return_sampled_ids=True)
    return to_numpy(cosines), to_numpy(remapped), to_numpy(ids)


def test_num_sampled_rounds_down_as_insightface():
    assert PartialFCHead(10572, sample_rate=0.3).num_sampled == 3171  # CASIA, spec 3.3
    assert PartialFCHead(93431, sample_rate=0.3).num_sampled == 28029  # MS1MV3
    assert PartialFCHead(7, sample_rate=1.0).num_sampled == 7


def test_positives_always_sampled_and_labels_remapped():
    num_classes = 40
    head = built_head(num_classes, sample_rate=0.25)  # 10 of 40
    for step in range(5):
        embeddings, labels = random_batch(8, num_classes, seed=step)
        labels[-1] = -1  # an ignored row
        cosines, remapped, ids = sample(head, embeddings, labels)
        assert ids.shape == (10,) and cosines.shape == (8, 10) and remapped.shape == (8,)
        assert np.all(np.diff(ids) > 0) and ids.min() >= 0 and ids.max() < num_classes
        assert set(labels[:-1]) <= set(ids.tolist())
        # The remapped label indexes the same class, and the columns are those classes'.
        np.testing.assert_array_equal(ids[remapped[:-1]], labels[:-1])
        assert remapped[-1] == -1
        full = to_numpy(head(embeddings))
        np.testing.assert_allclose(cosines, full[:, ids], atol=1e-6)


def test_float_labels_of_shape_batch_by_one_work_like_integers():
    head = built_head(30, sample_rate=0.3, seed=3)
    embeddings, labels = random_batch(6, 30)
    _, remapped, ids = sample(head, embeddings, labels[:, None].astype("float32"))
    np.testing.assert_array_equal(ids[remapped], labels)


def test_gradient_only_on_sampled_centres():
    num_classes = 20
    head = built_head(num_classes, sample_rate=0.3)
    embeddings, labels = random_batch(4, num_classes)
    centers = to_numpy(head.class_centers)
    seed_state = [v.value for v in head.non_trainable_variables]
    loss = kx.ExpFaceLoss(scale=16.0)

    def outputs(class_centers):
        return head.stateless_call(
            [class_centers],
            seed_state,
            [embeddings, labels],
            training=True,
            return_sampled_ids=True,
        )[0]

    def loss_of_centers(class_centers):
        cosines, remapped, _ = outputs(class_centers)
        return loss(remapped, cosines)

    ids = to_numpy(outputs(centers)[2])
    value, gradient = value_and_gradient(loss_of_centers, centers)
    assert np.isfinite(value) and gradient.shape == centers.shape
    unsampled = np.setdiff1d(np.arange(num_classes), ids)
    np.testing.assert_array_equal(gradient[:, unsampled], 0.0)
    assert np.all(np.abs(gradient[:, ids]).sum(axis=0) > 0)


def test_same_seed_same_samples_and_each_step_differs():
    embeddings, labels = random_batch(4, 50)
    first, second, other = (built_head(50, 0.2, seed=s) for s in (7, 7, 8))
    draws = [sample(first, embeddings, labels)[2] for _ in range(3)]
    for expected in draws:
        np.testing.assert_array_equal(sample(second, embeddings, labels)[2], expected)
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    assert not np.array_equal(sample(other, embeddings, labels)[2], draws[0])


@pytest.mark.parametrize(
    "loss", [kx.ExpFaceLoss(), kx.ArcFaceLoss(), kx.CosFaceLoss(), kx.NormFaceLoss()]
)
def test_sample_rate_one_matches_cosine_head_and_loss(loss):
    num_classes = 9
    embeddings, labels = random_batch(5, num_classes)
    labels[0] = -1
    cosine_head = kx.CosineHead(num_classes)
    cosine_head.build((None, EMBEDDING_DIM))
    centers = to_numpy(cosine_head.class_centers)
    partial_head = built_head(num_classes, sample_rate=1.0, centers=centers)

    def partial_loss(x):
        cosines, remapped = partial_head([x, labels], training=True)
        return loss(remapped, cosines)

    expected_value, expected_gradient = value_and_gradient(
        lambda x: loss(labels, cosine_head(x)), embeddings
    )
    value, gradient = value_and_gradient(partial_loss, embeddings)
    np.testing.assert_array_equal(value, expected_value)
    np.testing.assert_array_equal(gradient, expected_gradient)

    # Gradient with respect to the centres.
    _, expected_center_gradient = value_and_gradient(
        lambda w: loss(labels, cosine_head.stateless_call([w], [], embeddings)[0]), centers
    )
    seed_state = [v.value for v in partial_head.non_trainable_variables]

    def partial_loss_of_centers(w):
        cosines, remapped = partial_head.stateless_call(
            [w], seed_state, [embeddings, labels], training=True
        )[0]
        return loss(remapped, cosines)

    _, center_gradient = value_and_gradient(partial_loss_of_centers, centers)
    np.testing.assert_array_equal(center_gradient, expected_center_gradient)


def test_inference_returns_all_classes_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    head = PartialFCHead(12, sample_rate=0.5)
    embeddings = np.ones((3, EMBEDDING_DIM), "float32")
    for outputs in (
        head(embeddings),
        head([embeddings, np.arange(3)]),
        head(embeddings, training=True),
    ):
        assert tuple(outputs.shape) == (3, 12) and to_numpy(outputs).dtype == np.float32
    assert head.class_centers.dtype == "float32"


def test_too_many_positives_raise_when_labels_are_readable():
    head = built_head(10, sample_rate=0.3)  # 3 sampled classes
    embeddings, _ = random_batch(4, 10)
    with pytest.raises(ValueError, match="more distinct positive classes than num_sampled=3"):
        head([embeddings, np.array([0, 1, 2, 3])], training=True)
    with pytest.warns(UserWarning, match="batch size 4 exceeds num_sampled=3"):
        PartialFCHead(10, sample_rate=0.3).build((4, EMBEDDING_DIM))


def test_invalid_labels_raise_when_readable():
    head = built_head(10, sample_rate=0.5)
    embeddings, _ = random_batch(2, 10)
    for labels in (np.array([0, 10]), np.array([0.0, 1.5], "float32")):
        with pytest.raises(ValueError, match="not valid for 10 classes"):
            head([embeddings, labels], training=True)
    with pytest.raises(ValueError, match="One-hot labels are not supported"):
        head([embeddings, np.eye(10, dtype="float32")[:2]], training=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"num_classes": 5, "sample_rate": 0.0}, r"sample_rate must be in \(0, 1\]"),
        ({"num_classes": 5, "sample_rate": 1.5}, r"sample_rate must be in \(0, 1\]"),
        ({"num_classes": 5, "sample_rate": 0.1}, "samples no class"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PartialFCHead(**kwargs)


def tiny_model(num_classes=16, sample_rate=0.5, seed=0):
    inputs = keras.Input((8,))
    embedding_model = keras.Model(inputs, keras.layers.Dense(EMBEDDING_DIM)(inputs))
    head = PartialFCHead(num_classes, sample_rate=sample_rate, seed=seed)
    return PartialFCModel(embedding_model, head)


def tiny_data(num_classes=16, size=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(size, 8)).astype("float32"), np.arange(size) % num_classes


def test_fit_with_expface_loss_lowers_the_loss():
    x, y = tiny_data()
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=kx.ExpFaceLoss(scale=16.0))
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # The generator state advanced inside the compiled steps: each step drew a new sample.
    state = to_numpy(model.head.seed_generator.state).copy()
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(to_numpy(model.head.seed_generator.state), state)
    assert tuple(model.predict(x[:3], verbose=0).shape) == (3, 16)


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="XLA is for TensorFlow and JAX; torch has none"
)
def test_training_step_compiles_with_xla():
    x, y = tiny_data()
    model = tiny_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=kx.ArcFaceLoss(scale=16.0),
        metrics=["accuracy"],
        jit_compile=True,
    )
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(x, y))
    assert model.jit_compile and np.isfinite(history.history["loss"][0])
    assert "val_accuracy" in history.history


def test_config_and_keras_save_reload(tmp_path):
    head = PartialFCHead(12, sample_rate=0.5, kernel_regularizer="l2", seed=4, name="pfc")
    config = head.get_config()
    assert PartialFCHead.from_config(config).get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(head))
    assert isinstance(revived, PartialFCHead) and revived.num_sampled == 6

    x, y = tiny_data()
    model = tiny_model()
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss=kx.ExpFaceLoss(), metrics=["accuracy"]
    )
    model.train_on_batch(x[:8], y[:8])  # builds the optimizer, whose state is saved too
    path = tmp_path / "partial_fc.keras"
    model.save(path)
    reloaded = kx.load_model(path)
    assert isinstance(reloaded, PartialFCModel) and reloaded.head.num_sampled == 8
    np.testing.assert_allclose(to_numpy(reloaded(x[:4])), to_numpy(model(x[:4])), atol=1e-6)
    loss = reloaded.train_on_batch(x[:8], y[:8])
    assert np.isfinite(loss)
