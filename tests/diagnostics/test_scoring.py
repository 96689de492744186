"""`noise_score`: its ordering, and that it ranks injected noise first on synthetic data."""

import numpy as np
import pytest

from keras_expface.diagnostics import (
    SampleAngles,
    noise_score,
    precision_recall_at,
    robust_z,
    sample_angles,
    synthetic_label_noise,
)


def test_robust_z_ignores_outliers_and_constant_values():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 1000.0])
    z = robust_z(values)
    assert z[2] == pytest.approx((3.0 - 3.5) / (1.4826 * 1.5))
    assert np.all(np.isfinite(robust_z(np.full(4, 7.0))))
    np.testing.assert_allclose(
        robust_z(np.array([1.0, 1.0, 1.0, 5.0])), [0, 0, 0, 4 / np.std([1, 1, 1, 5])]
    )


def test_score_orders_each_direction():
    rng = np.random.default_rng(0)
    target = np.r_[rng.normal(40, 5, 200), 60.0, 75.0, 90.0]
    other = np.r_[rng.normal(80, 3, 200), 80.0, 80.0, 80.0]
    score = noise_score(SampleAngles(target, other, np.zeros(203, int)))
    assert score[200] < score[201] < score[202]  # further from the own centre: more suspect
    other = np.r_[rng.normal(80, 3, 200), 70.0, 55.0, 40.0]
    target = np.r_[rng.normal(40, 5, 200), 40.0, 40.0, 40.0]
    score = noise_score(SampleAngles(target, other, np.zeros(203, int)))
    assert score[200] < score[201] < score[202]  # closer to another centre: more suspect
    assert score[202] > score[:200].max()


def test_score_ranks_each_kind_of_noise_above_clean():
    # Type-I (upper right), Type-II (lower left), flip (far from own, near other), clean.
    rng = np.random.default_rng(1)
    target = np.r_[rng.normal(40, 6, 300), 88.0, 45.0, 85.0]
    other = np.r_[rng.normal(78, 4, 300), 88.0, 45.0, 40.0]
    score = noise_score(SampleAngles(target, other, np.zeros(303, int)))
    assert score[300:].min() > score[:300].max()


@pytest.mark.parametrize("seed", [0, 1])
def test_score_finds_injected_noise(seed):
    data = synthetic_label_noise(num_classes=30, samples_per_class=20, seed=seed)
    angles = sample_angles(data.embeddings, data.labels, data.centers)
    score = noise_score(angles)
    is_noisy = data.noise_kind != "clean"
    quality = precision_recall_at(score, is_noisy, cutoffs=("num_noisy",))
    assert quality.roc_auc > 0.99
    assert quality.average_precision > 0.97
    assert quality.at_cutoffs[0]["precision"] > 0.9
    # Better than the bare margin, which cancels for Type-I and Type-II.
    margin_quality = precision_recall_at(-angles.margin, is_noisy, cutoffs=())
    assert quality.average_precision >= margin_quality.average_precision - 1e-9
    # Each kind is found: most of it is in the top |noisy|.
    top = np.argsort(-score, kind="stable")[: is_noisy.sum()]
    for kind in ("flip", "type1", "type2"):
        members = np.flatnonzero(data.noise_kind == kind)
        assert np.isin(members, top).mean() > 0.8, kind
