"""keras_expface.margins against an independent numpy reference and the spec's test vectors."""

import math

import numpy as np
import pytest
from keras import ops

from keras_expface import margins
from tests.helpers import value_and_gradient
from tests.references import (
    EPS,
    analytic_dexpface,
    ref_arcface,
    ref_combined,
    ref_expface,
    ref_sphereface,
    reference,
)

# The spec's cosines (§6.1) and an angle sweep over 0..180 degrees, ends included.
SPEC_COSINES = np.array([-0.99, -0.5, 0.0, 0.3, 0.7, 0.95, 0.999], dtype="float32")
SWEEP_COSINES = np.cos(np.deg2rad(np.linspace(0.0, 180.0, 361))).astype("float32")


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


# ---- values -------------------------------------------------------------------------------

CASES = [
    (margins.expface, ref_expface, {"margin": 0.5}),
    (margins.expface, ref_expface, {"margin": 0.7}),
    (margins.expface, ref_expface, {"margin": 0.9}),
    (margins.expface, ref_expface, {"margin": 1.0}),
    (margins.arcface, ref_arcface, {"margin": 0.5}),
    (margins.arcface, ref_arcface, {"margin": 0.5, "easy_margin": True}),
    (margins.arcface, ref_arcface, {"margin": 0.5, "monotonic": True}),
    (margins.arcface, ref_arcface, {"margin": 0.2}),
    (margins.sphereface, ref_sphereface, {"margin": 1.7}),
    (margins.sphereface, ref_sphereface, {"margin": 1.4}),
    (margins.sphereface, ref_sphereface, {"margin": 4.0}),
    (margins.combined, ref_combined, {"m1": 1.0, "m2": 0.3, "m3": 0.2}),
    (margins.combined, ref_combined, {"m1": 1.35, "m2": 0.25, "m3": 0.1}),
    (margins.combined, ref_combined, {"m1": 0.9, "m2": 0.0, "m3": 0.4}),
]


@pytest.mark.parametrize(("function", "ref", "kwargs"), CASES)
def test_angle_sweep_matches_reference(function, ref, kwargs):
    got = to_numpy(function(SWEEP_COSINES, **kwargs))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference(ref, SWEEP_COSINES, **kwargs), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize(("function", "ref", "kwargs"), CASES)
def test_random_batch_matches_reference(function, ref, kwargs):
    cosines = np.random.default_rng(0).uniform(-1.0, 1.0, size=(64,)).astype("float32")
    got = to_numpy(function(cosines, **kwargs))
    np.testing.assert_allclose(got, reference(ref, cosines, **kwargs), atol=2e-5, rtol=1e-5)


def test_cosface_and_normface():
    np.testing.assert_allclose(
        to_numpy(margins.cosface(SWEEP_COSINES, 0.35)), SWEEP_COSINES - 0.35, atol=1e-7
    )
    np.testing.assert_array_equal(to_numpy(margins.normface(SWEEP_COSINES)), SWEEP_COSINES)


# The spec's §6.1 table, verbatim (8 significant digits, float64 there; float32 here).
SPEC_TABLE = {
    ("expface", 0.5): [
        -0.99743887,
        -0.83837943,
        -0.60569987,
        -0.41103699,
        -0.0099688675,
        0.54129313,
        0.93056476,
    ],
    ("expface", 0.7): [
        -0.99502803,
        -0.71351503,
        -0.35515586,
        -0.092001404,
        0.36139609,
        0.80709989,
        0.98720315,
    ],
    ("expface", 0.9): [
        -0.99186031,
        -0.57308408,
        -0.11250281,
        0.18320004,
        0.61175583,
        0.92131212,
        0.99765996,
    ],
    ("arcface", 0.5): [
        -0.93643803,
        -0.85398598,
        -0.47942554,
        -0.19406805,
        0.27192948,
        0.68400286,
        0.85526978,
    ],
    ("arcface_monotonic", 0.5): [
        -1.2297128,
        -0.85398598,
        -0.47942554,
        -0.19406805,
        0.27192948,
        0.68400286,
        0.85526978,
    ],
    ("arcface_easy", 0.5): [-0.99, -0.5, 0.0, -0.19406805, 0.27192948, 0.68400286, 0.85526978],
    ("cosface", 0.35): [-1.34, -0.85, -0.35, -0.05, 0.35, 0.6, 0.649],
    ("sphereface", 1.7): [
        -2.3780614,
        -1.0864545,
        -0.89100652,
        -0.54934479,
        0.21688103,
        0.85778439,
        0.99711091,
    ],
}
SPEC_FUNCTIONS = {
    "expface": lambda c, m: margins.expface(c, m),
    "arcface": lambda c, m: margins.arcface(c, m),
    "arcface_monotonic": lambda c, m: margins.arcface(c, m, monotonic=True),
    "arcface_easy": lambda c, m: margins.arcface(c, m, easy_margin=True),
    "cosface": lambda c, m: margins.cosface(c, m),
    "sphereface": lambda c, m: margins.sphereface(c, m),
}


@pytest.mark.parametrize("key", sorted(SPEC_TABLE))
def test_spec_target_similarity_vectors(key):
    name, margin = key
    got = to_numpy(SPEC_FUNCTIONS[name](SPEC_COSINES, margin))
    np.testing.assert_allclose(got, SPEC_TABLE[key], rtol=2e-6, atol=2e-6)


def test_expface_properties():
    """Strictly decreasing, a penalty (T <= cos), equal to cos at the ends, max gap at theta*."""
    theta = np.linspace(0.0, math.pi, 2001)
    cosines = np.cos(theta).astype("float32")
    t = to_numpy(margins.expface(cosines, 0.7)).astype("float64")
    assert np.all(np.diff(t) < 0)
    assert np.all(t <= cosines + 1e-6)
    extra = np.pi * (theta / np.pi) ** 0.7 - theta
    assert math.isclose(theta[np.argmax(extra)], 0.95677541, abs_tol=2e-3)  # spec §1.5: 54.82 deg
    assert math.isclose(extra.max(), 0.41004661, abs_tol=1e-6)


# ---- derivatives --------------------------------------------------------------------------


# Spec §6.2: dT/dcos of ExpFace, analytic, for m = 0.5, 0.7, 0.9.
SPEC_DERIVATIVES = {
    0.5: [0.25942206, 0.38543478, 0.56264006, 0.7526669, 1.3913801, 4.2348661, 34.315877],
    0.7: [0.50109067, 0.63957233, 0.80561778, 0.95970048, 1.3800362, 2.6323892, 8.9401325],
    0.9: [0.81611489, 0.88688671, 0.95847229, 1.0157266, 1.1437102, 1.4093713, 2.1055623],
}


@pytest.mark.parametrize("margin", sorted(SPEC_DERIVATIVES))
def test_expface_derivative_matches_spec_and_analytic(margin):
    _, gradient = value_and_gradient(lambda c: margins.expface(c, margin), SPEC_COSINES)
    np.testing.assert_allclose(gradient, SPEC_DERIVATIVES[margin], rtol=2e-3)
    analytic = [analytic_dexpface(float(c), margin) for c in SPEC_COSINES]
    np.testing.assert_allclose(gradient, analytic, rtol=2e-3)


def test_arcface_and_sphereface_derivatives_match_spec():
    _, arc = value_and_gradient(lambda c: margins.arcface(c, 0.5), SPEC_COSINES)
    np.testing.assert_allclose(
        arc,
        [-2.4869894, 0.6007861, 0.87758256, 1.0283549, 1.3475136, 2.3362036, 11.589822],
        rtol=3e-3,
    )
    _, sphere = value_and_gradient(lambda c: margins.sphereface(c, 1.7), SPEC_COSINES)
    np.testing.assert_allclose(
        sphere,
        [11.156563, 0.79842034, 0.77178385, 1.489102, 2.3238162, 2.7984523, 2.8881791],
        rtol=3e-3,
    )


@pytest.mark.parametrize(("function", "ref", "kwargs"), CASES)
def test_gradient_finite_everywhere_including_the_ends(function, ref, kwargs):
    cosines = np.concatenate([[-1.0, 1.0, -1.0 + 1e-7, 1.0 - 1e-7], SWEEP_COSINES]).astype(
        "float32"
    )
    value, gradient = value_and_gradient(lambda c: function(c, **kwargs), cosines)
    assert np.all(np.isfinite(value))
    assert np.all(np.isfinite(gradient))


def test_gradient_at_the_ends_is_the_clamped_derivative():
    """At cos = +-1 the straight-through clamp evaluates dT/dcos just inside the interval."""
    _, gradient = value_and_gradient(lambda c: margins.expface(c, 0.7), np.array([-1.0, 1.0]))
    inside = [analytic_dexpface(-1.0 + EPS, 0.7), analytic_dexpface(1.0 - EPS, 0.7)]
    np.testing.assert_allclose(gradient, inside, rtol=2e-2)


def test_float16_and_bfloat16_inputs_compute_in_float32():
    for dtype in ("float16", "bfloat16"):
        cosines = ops.cast(ops.convert_to_tensor(SPEC_COSINES), dtype)
        got = to_numpy(margins.expface(cosines, 0.7))
        assert got.dtype == np.float32
        assert np.all(np.isfinite(got))


# ---- hyper-parameter validation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: margins.expface(SPEC_COSINES, 0.0), "ExpFace margin must lie in \\(0, 1\\]"),
        (lambda: margins.expface(SPEC_COSINES, 1.2), "ExpFace margin"),
        (lambda: margins.expface(SPEC_COSINES, float("nan")), "ExpFace margin"),
        (lambda: margins.expface(SPEC_COSINES, "0.7"), "must be a number"),
        (lambda: margins.arcface(SPEC_COSINES, -0.1), "ArcFace margin"),
        (lambda: margins.arcface(SPEC_COSINES, 3.5), "ArcFace margin"),
        (
            lambda: margins.arcface(SPEC_COSINES, 0.5, easy_margin=True, monotonic=True),
            "at most one",
        ),
        (lambda: margins.cosface(SPEC_COSINES, -0.35), "CosFace margin"),
        (lambda: margins.sphereface(SPEC_COSINES, 0.5), "SphereFace margin"),
        (lambda: margins.combined(SPEC_COSINES, 0.0, 0.3, 0.2), "m1"),
        (lambda: margins.combined(SPEC_COSINES, 1.0, -0.3, 0.2), "m2"),
        (lambda: margins.combined(SPEC_COSINES, 1.0, 0.3, -0.2), "m3"),
    ],
)
def test_invalid_hyper_parameters_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
