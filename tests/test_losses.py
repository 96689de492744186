"""keras_expface.losses: values, gradients, labels, reductions, validation, serialization."""

import functools
import math

import keras
import numpy as np
import pytest
from keras import ops

import keras_expface as kx
from keras_expface import losses as L
from tests.helpers import value_and_gradient
from tests.references import (
    ref_arcface,
    ref_combined,
    ref_expface,
    ref_margin_softmax_losses,
    ref_softmax,
    ref_sphereface,
)

# (loss object, per-sample reference target similarity or None, scale)
LOSSES = {
    "normface": (lambda **kw: kx.NormFaceLoss(**kw), None, 64.0),
    "expface": (
        lambda **kw: kx.ExpFaceLoss(**kw),
        functools.partial(ref_expface, margin=0.7),
        64.0,
    ),
    "expface_m05": (
        lambda **kw: kx.ExpFaceLoss(scale=30.0, margin=0.5, **kw),
        functools.partial(ref_expface, margin=0.5),
        30.0,
    ),
    "arcface": (
        lambda **kw: kx.ArcFaceLoss(**kw),
        functools.partial(ref_arcface, margin=0.5),
        64.0,
    ),
    "arcface_monotonic": (
        lambda **kw: kx.ArcFaceLoss(monotonic=True, **kw),
        functools.partial(ref_arcface, margin=0.5, monotonic=True),
        64.0,
    ),
    "arcface_easy": (
        lambda **kw: kx.ArcFaceLoss(easy_margin=True, **kw),
        functools.partial(ref_arcface, margin=0.5, easy_margin=True),
        64.0,
    ),
    "cosface": (lambda **kw: kx.CosFaceLoss(**kw), lambda c: c - 0.35, 64.0),
    "sphereface": (
        lambda **kw: kx.SphereFaceLoss(**kw),
        functools.partial(ref_sphereface, margin=1.7),
        32.0,
    ),
    "combined": (
        lambda **kw: kx.CombinedMarginLoss(**kw),
        functools.partial(ref_combined, m1=1.0, m2=0.3, m3=0.2),
        64.0,
    ),
}
DETACHABLE = [
    "expface",
    "expface_m05",
    "arcface",
    "arcface_monotonic",
    "arcface_easy",
    "sphereface",
    "combined",
]


def make_batch(batch=16, classes=10, seed=0, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed)
    cosines = rng.uniform(low, high, size=(batch, classes)).astype("float32")
    labels = rng.integers(0, classes, size=(batch,))
    return cosines, labels


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def build(name, **kwargs):
    return LOSSES[name][0](**kwargs)


# ---- the spec's end-to-end vectors (§6.3) ---------------------------------------------------

SPEC_COS = np.array([[0.70, 0.36, 0.30, -0.10], [-0.10, 0.30, -0.08, -0.20]], dtype="float32")
SPEC_LABELS = np.array([0, 1])


def test_spec_single_sample():
    cosines = np.array([[0.7, 0.3, -0.5]], "float32")
    loss, grad = value_and_gradient(lambda c: kx.ExpFaceLoss()(np.array([0]), c), cosines)
    assert math.isclose(float(loss), 0.019465753, rel_tol=1e-4)
    np.testing.assert_allclose(
        grad, [[-1.2337612, 1.2337612, 7.1672678e-23]], rtol=2e-4, atol=1e-12
    )
    _, exact = value_and_gradient(
        lambda c: kx.ExpFaceLoss(detach_margin=False)(np.array([0]), c), cosines
    )
    np.testing.assert_allclose(
        exact, [[-1.702635, 1.2337612, 7.1672678e-23]], rtol=2e-4, atol=1e-12
    )


def test_spec_batch_loss_and_gradients():
    loss, grad = value_and_gradient(lambda c: kx.ExpFaceLoss()(SPEC_LABELS, c), SPEC_COS)
    assert math.isclose(float(loss), 0.99151821, rel_tol=1e-5)
    np.testing.assert_allclose(
        grad,
        [
            [-15.455538, 15.130332, 0.32520533, 2.4786712e-12],
            [5.1062935, -23.480276, 18.365498, 0.0084843991],
        ],
        rtol=2e-4,
        atol=1e-6,
    )
    loss_exact, exact = value_and_gradient(
        lambda c: kx.ExpFaceLoss(detach_margin=False)(SPEC_LABELS, c), SPEC_COS
    )
    assert math.isclose(float(loss_exact), 0.99151821, rel_tol=1e-5)
    np.testing.assert_allclose(
        exact,
        [
            [-21.329201, 15.130332, 0.32520533, 2.4786712e-12],
            [5.1062935, -22.534032, 18.365498, 0.0084843991],
        ],
        rtol=2e-4,
        atol=1e-6,
    )


def test_functional_form_matches_class():
    per_sample = to_numpy(L.expface_loss(SPEC_LABELS, SPEC_COS))
    assert per_sample.shape == (2,)
    assert math.isclose(
        per_sample.mean(), float(kx.ExpFaceLoss()(SPEC_LABELS, SPEC_COS)), rel_tol=1e-6
    )
    for function, cls in [
        (L.normface_loss, kx.NormFaceLoss),
        (L.arcface_loss, kx.ArcFaceLoss),
        (L.cosface_loss, kx.CosFaceLoss),
        (L.sphereface_loss, kx.SphereFaceLoss),
        (L.combined_margin_loss, kx.CombinedMarginLoss),
    ]:
        expected = float(cls(reduction="sum")(SPEC_LABELS, SPEC_COS))
        assert math.isclose(
            float(to_numpy(function(SPEC_LABELS, SPEC_COS)).sum()), expected, rel_tol=1e-6
        )


# ---- every loss against the numpy reference ------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("seed", [0, 1])
def test_per_sample_losses_match_reference(name, seed):
    _, target_similarity, scale = LOSSES[name]
    cosines, labels = make_batch(seed=seed)
    got = to_numpy(build(name, reduction="none")(labels, cosines))
    expected = ref_margin_softmax_losses(cosines, labels, target_similarity, scale)
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_targets_swept_over_0_to_180_degrees(name):
    _, target_similarity, scale = LOSSES[name]
    angles = np.deg2rad(np.linspace(0.0, 180.0, 37))
    cosines = np.tile(np.array([[0.0, 0.2, -0.3, 0.5]], "float32"), (len(angles), 1))
    cosines[:, 0] = np.cos(angles)
    labels = np.zeros(len(angles), dtype=int)
    got = to_numpy(build(name, reduction="none")(labels, cosines))
    np.testing.assert_allclose(
        got,
        ref_margin_softmax_losses(cosines, labels, target_similarity, scale),
        rtol=2e-4,
        atol=2e-4,
    )


# ---- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_straight_through_gradient_is_scaled_softmax_minus_onehot(name):
    _, target_similarity, scale = LOSSES[name]
    cosines, labels = make_batch(batch=8, seed=3, low=-0.6, high=0.9)
    _, grad = value_and_gradient(lambda c: build(name)(labels, c), cosines)
    probabilities = ref_softmax(cosines, labels, target_similarity, scale)
    expected = scale * (probabilities - np.eye(cosines.shape[1])[labels]) / len(labels)
    np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=2e-5)


ANALYTIC_DERIVATIVES = {
    "expface": lambda c: (
        0.7
        * (math.acos(c) / math.pi) ** -0.3
        * math.sin(math.pi * (math.acos(c) / math.pi) ** 0.7)
        / math.sqrt(1 - c * c)
    ),
    "arcface": lambda c: math.sin(math.acos(c) + 0.5) / math.sqrt(1 - c * c),
    "sphereface": lambda c: (
        (-1) ** math.floor(1.7 * math.acos(c) / math.pi)
        * 1.7
        * math.sin(1.7 * math.acos(c))
        / math.sqrt(1 - c * c)
    ),
    "combined": lambda c: math.sin(math.acos(c) + 0.3) / math.sqrt(1 - c * c),
}


@pytest.mark.parametrize("name", sorted(ANALYTIC_DERIVATIVES))
def test_exact_gradient_uses_the_analytic_derivative(name):
    _, target_similarity, scale = LOSSES[name]
    cosines, labels = make_batch(batch=8, seed=4, low=-0.6, high=0.9)
    _, grad = value_and_gradient(lambda c: build(name, detach_margin=False)(labels, c), cosines)
    probabilities = ref_softmax(cosines, labels, target_similarity, scale)
    expected = scale * (probabilities - np.eye(cosines.shape[1])[labels]) / len(labels)
    rows = np.arange(len(labels))
    derivative = np.array([ANALYTIC_DERIVATIVES[name](float(c)) for c in cosines[rows, labels]])
    expected[rows, labels] *= derivative
    np.testing.assert_allclose(grad, expected, rtol=3e-3, atol=5e-5)


@pytest.mark.parametrize("detach_margin", [True, False])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_finite_loss_and_gradient_at_cos_minus_one_and_plus_one(name, detach_margin):
    kwargs = {"detach_margin": detach_margin} if name in DETACHABLE else {}
    cosines = np.array(
        [
            [1.0, -1.0, 0.0],
            [-1.0, 1.0, 0.5],
            [1.0, 1.0, -1.0],
            [-1.0, -1.0, -1.0],
            [0.9999999, -0.9999999, 1.0],
        ],
        dtype="float32",
    )
    labels = np.array([0, 0, 1, 2, 1])
    loss, grad = value_and_gradient(lambda c: build(name, **kwargs)(labels, c), cosines)
    assert np.isfinite(loss)
    assert np.all(np.isfinite(grad))


def test_margin_is_computed_on_target_cosines_only():
    """The O(B) contract: T sees a (batch,) vector, never the (batch, classes) matrix."""
    seen_shapes = []

    class Probe(L.MarginLoss):
        def target_similarity(self, target_cosine):
            seen_shapes.append(tuple(target_cosine.shape))
            return target_cosine - 0.1

    cosines, labels = make_batch(batch=6, classes=50)
    Probe()(labels, cosines)
    assert seen_shapes == [(6,)]


# ---- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["expface", "arcface", "normface"])
def test_label_formats_agree(name):
    cosines, labels = make_batch()
    loss = build(name)
    sparse = float(loss(labels, cosines))
    assert math.isclose(float(loss(labels.reshape(-1, 1), cosines)), sparse, rel_tol=1e-6)
    assert math.isclose(float(loss(labels.astype("float32"), cosines)), sparse, rel_tol=1e-6)
    one_hot = np.eye(cosines.shape[1], dtype="float32")[labels]
    assert math.isclose(float(loss(one_hot, cosines)), sparse, rel_tol=1e-6)


def test_rows_labelled_minus_one_add_nothing():
    cosines, labels = make_batch(batch=8)
    labels[[1, 5]] = -1
    kept = labels != -1
    loss = kx.ExpFaceLoss()
    value, grad = value_and_gradient(lambda c: loss(labels, c), cosines)
    expected = float(loss(labels[kept], cosines[kept]))
    assert math.isclose(float(value), expected, rel_tol=1e-6)
    assert np.all(grad[~kept] == 0.0)
    _, kept_grad = value_and_gradient(lambda c: loss(labels[kept], c), cosines[kept])
    np.testing.assert_allclose(grad[kept], kept_grad, rtol=1e-5, atol=1e-7)
    one_hot = np.eye(cosines.shape[1], dtype="float32")[np.maximum(labels, 0)]
    one_hot[~kept] = 0.0
    assert math.isclose(float(loss(one_hot, cosines)), expected, rel_tol=1e-6)


def test_all_rows_ignored_gives_zero():
    cosines, _ = make_batch(batch=4)
    assert float(kx.ExpFaceLoss()(np.full(4, -1), cosines)) == 0.0


# ---- reductions and sample weights ---------------------------------------------------------


def test_reductions_and_sample_weight():
    cosines, labels = make_batch(batch=6)
    weights = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 3.0], "float32")
    per_sample = to_numpy(kx.ExpFaceLoss(reduction="none")(labels, cosines))
    assert per_sample.shape == (6,)
    cases = {
        "sum": (per_sample * weights).sum(),
        "sum_over_batch_size": (per_sample * weights).sum() / 6,
        "mean": (per_sample * weights).sum() / 6,
        "mean_with_sample_weight": (per_sample * weights).sum() / weights.sum(),
    }
    for reduction, expected in cases.items():
        got = float(kx.ExpFaceLoss(reduction=reduction)(labels, cosines, sample_weight=weights))
        assert math.isclose(got, expected, rel_tol=1e-5), reduction
    got = to_numpy(
        kx.ExpFaceLoss(reduction="none")(labels, cosines, sample_weight=weights.reshape(-1, 1))
    )
    np.testing.assert_allclose(got, per_sample * weights, rtol=1e-6)


def test_sample_weight_with_ignored_rows():
    cosines, labels = make_batch(batch=6)
    labels[2] = -1
    weights = np.array([1.0, 0.5, 4.0, 2.0, 1.0, 3.0], "float32")
    per_sample = to_numpy(kx.ExpFaceLoss(reduction="none")(labels, cosines))
    assert per_sample[2] == 0.0
    got = float(kx.ExpFaceLoss()(labels, cosines, sample_weight=weights))
    assert math.isclose(got, (per_sample * weights).sum() / 5, rel_tol=1e-5)
    got = float(
        kx.ExpFaceLoss(reduction="mean_with_sample_weight")(labels, cosines, sample_weight=weights)
    )
    assert math.isclose(got, (per_sample * weights).sum() / (weights.sum() - 4.0), rel_tol=1e-5)


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "cosines_shape", "message"),
    [
        (np.array([0, 10]), (2, 10), "not valid for 10 classes"),
        (np.array([0, -2]), (2, 10), "not valid for 10 classes"),
        (np.array([0.5, 1.0]), (2, 10), "not valid for 10 classes"),
        (np.array([0.0, np.nan]), (2, 10), "not valid for 10 classes"),
        (np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]), (2, 3), "exact one-hot"),
        (np.zeros((2, 4)), (2, 10), "y_true must hold integer class ids"),
        (np.zeros((2, 1, 1)), (2, 10), "y_true must hold integer class ids"),
        (np.array([0, 1, 2]), (2, 10), "y_true has 3 rows but y_pred has 2"),
        (np.array([0, 1]), (2, 10, 1), "y_pred must be the 2-D cosine matrix"),
        (np.array([0, 1]), (10,), "y_pred must be the 2-D cosine matrix"),
    ],
)
def test_bad_labels_and_shapes_raise(labels, cosines_shape, message):
    cosines = np.zeros(cosines_shape, "float32")
    with pytest.raises(ValueError, match=message):
        kx.ExpFaceLoss()(labels, cosines)
    with pytest.raises(ValueError, match=message):
        L.expface_loss(labels, cosines)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: kx.ExpFaceLoss(margin=0.0), "ExpFace margin"),
        (lambda: kx.ExpFaceLoss(margin=1.5), "ExpFace margin"),
        (lambda: kx.ExpFaceLoss(scale=-1.0), "scale"),
        (lambda: kx.NormFaceLoss(scale=0.0), "scale"),
        (lambda: kx.ArcFaceLoss(margin=4.0), "ArcFace margin"),
        (lambda: kx.ArcFaceLoss(easy_margin=True, monotonic=True), "at most one"),
        (lambda: kx.CosFaceLoss(margin=-0.1), "CosFace margin"),
        (lambda: kx.SphereFaceLoss(margin=0.9), "SphereFace margin"),
        (lambda: kx.CombinedMarginLoss(m1=-1.0), "m1"),
        (lambda: kx.ExpFaceLoss(reduction="average"), "reduction"),
    ],
)
def test_bad_hyper_parameters_raise_at_construction(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_bad_labels_inside_a_compiled_step_raise_or_give_nan():
    """Eager backends (torch) raise; compiled graphs (TF, JAX) cannot, and give a NaN loss."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, kx.CosineHead(3)(inputs))
    model.compile(loss=kx.ExpFaceLoss())
    x = np.ones((2, 4), "float32")
    try:
        value = model.test_on_batch(x, np.array([0, 7]))
    except ValueError as error:
        assert "not valid for 3 classes" in str(error)
    else:
        assert math.isnan(float(value))
    assert math.isfinite(float(model.test_on_batch(x, np.array([0, 2]))))


# ---- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_low_and_high_precision_cosines_give_float32_losses(dtype):
    cosines = ops.cast(ops.convert_to_tensor(SPEC_COS), dtype)
    value = kx.ExpFaceLoss()(SPEC_LABELS, cosines)
    assert str(ops.convert_to_numpy(value).dtype) == "float32"
    # The inputs are rounded to `dtype`; everything after that runs in float32.
    rounded = np.asarray(ops.convert_to_numpy(ops.cast(cosines, "float32")))
    assert math.isclose(float(value), float(kx.ExpFaceLoss()(SPEC_LABELS, rounded)), rel_tol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("detach_margin", [True, False])
def test_training_step_under_mixed_precision(policy, detach_margin):
    keras.config.set_dtype_policy(policy)
    inputs = keras.Input((8,))
    embeddings = keras.layers.Dense(16)(inputs)
    cosines = kx.CosineHead(5)(embeddings)
    model = keras.Model(inputs, cosines)
    model.compile(optimizer="sgd", loss=kx.ExpFaceLoss(detach_margin=detach_margin))
    x = np.random.default_rng(0).normal(size=(10, 8)).astype("float32")
    x[0] = 0.0  # a zero embedding must not give NaN either
    y = np.arange(10) % 5
    first = model.train_on_batch(x, y)
    second = model.train_on_batch(x, y)
    assert math.isfinite(float(first)) and math.isfinite(float(second))
    assert all(np.all(np.isfinite(ops.convert_to_numpy(w))) for w in model.weights)


# ---- serialization ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        kx.ExpFaceLoss(
            scale=30.0, margin=0.5, detach_margin=False, reduction="sum", name="my_loss"
        ),
        kx.ArcFaceLoss(margin=0.4, monotonic=True),
        kx.CosFaceLoss(margin=0.4),
        kx.SphereFaceLoss(margin=1.4, scale=60.0),
        kx.CombinedMarginLoss(m1=1.1, m2=0.2, m3=0.1),
        kx.NormFaceLoss(scale=30.0),
    ],
    ids=lambda loss: type(loss).__name__,
)
def test_config_round_trip(loss):
    config = loss.get_config()
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(revived) is type(loss)
    assert revived.get_config() == config
    cosines, labels = make_batch(batch=4)
    assert math.isclose(float(revived(labels, cosines)), float(loss(labels, cosines)), rel_tol=1e-6)


def test_config_lists_every_constructor_argument():
    import inspect

    for cls in (
        kx.ExpFaceLoss,
        kx.ArcFaceLoss,
        kx.CosFaceLoss,
        kx.SphereFaceLoss,
        kx.CombinedMarginLoss,
        kx.NormFaceLoss,
    ):
        arguments = set(inspect.signature(cls.__init__).parameters) - {"self"}
        assert set(cls().get_config()) == arguments, cls.__name__


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("detach_margin", [True, False])
@pytest.mark.parametrize("name", DETACHABLE)
def test_finite_at_the_ends_under_mixed_precision(name, detach_margin, policy):
    """Half-precision cosines of exactly +-1 (as a mixed-precision head could give)."""
    keras.config.set_dtype_policy(policy)
    half = policy.split("_")[1]
    cosines = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.5], [1.0, 1.0, -1.0]], dtype="float32")
    labels = np.array([0, 0, 2])
    loss = build(name, detach_margin=detach_margin)
    value, grad = value_and_gradient(lambda c: loss(labels, ops.cast(c, half)), cosines)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
