"""The verification protocol against an independent, loop-by-loop computation."""

import math

import numpy as np
import pytest
from scipy import interpolate
from sklearn import metrics

from keras_expface.evaluation import (
    ACCURACY_THRESHOLDS,
    VAL_THRESHOLDS,
    slinear_interpolate,
    verification_metrics,
)


def fixed_embeddings(num_pairs=600, dim=32, noise=0.9, seed=0):
    """Unit embeddings of alternating positive / negative pairs, as numpy float64."""
    rng = np.random.default_rng(seed)
    first = rng.normal(size=(num_pairs, dim))
    issame = np.arange(num_pairs) % 2 == 0
    second = np.where(
        issame[:, None],
        first + noise * rng.normal(size=(num_pairs, dim)),
        rng.normal(size=(num_pairs, dim)),
    )
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second /= np.linalg.norm(second, axis=1, keepdims=True)
    return first, second, issame


def right_continuous_linear(x, y, x_new):
    """Linear interpolation through sorted points; at a repeated x, the last point's y."""
    last = int(np.flatnonzero(x <= x_new)[-1])
    if x[last] == x_new or last == len(x) - 1:
        return y[last]
    return y[last] + (y[last + 1] - y[last]) * (x_new - x[last]) / (x[last + 1] - x[last])


def reference_protocol(first, second, issame, num_folds=10):
    """The FaceNet / insightface protocol written out with plain loops."""
    distances = np.sum((first - second) ** 2, axis=1)
    folds = np.array_split(np.arange(len(issame)), num_folds)

    def rates(threshold, subset):
        accepted = distances[subset] < threshold
        same = issame[subset]
        true_accepts = np.sum(accepted & same)
        false_accepts = np.sum(accepted & ~same)
        true_rejects = np.sum(~accepted & ~same)
        return (
            true_accepts / np.sum(same),
            false_accepts / np.sum(~same),
            (true_accepts + true_rejects) / len(subset),
        )

    accuracies, thresholds, vals, fars = [], [], [], []
    for test in folds:
        train = np.setdiff1d(np.arange(len(issame)), test)
        train_accuracy = [rates(t, train)[2] for t in ACCURACY_THRESHOLDS]
        best = ACCURACY_THRESHOLDS[int(np.argmax(train_accuracy))]
        thresholds.append(best)
        accuracies.append(rates(best, test)[2])
        train_far = np.array([rates(t, train)[1] for t in VAL_THRESHOLDS])
        if train_far.max() >= 1e-3:
            val_threshold = right_continuous_linear(train_far, VAL_THRESHOLDS, 1e-3)
        else:
            val_threshold = 0.0
        val, far, _ = rates(val_threshold, test)
        vals.append(val)
        fars.append(far)
    return np.array(accuracies), np.array(thresholds), np.array(vals), np.array(fars)


@pytest.mark.parametrize("noise", [0.9, 1.6])
def test_matches_reference_computation(noise):
    first, second, issame = fixed_embeddings(noise=noise)
    result = verification_metrics(first, second, issame)
    accuracies, thresholds, vals, fars = reference_protocol(first, second, issame)

    np.testing.assert_array_equal(result.fold_accuracies, accuracies)
    np.testing.assert_array_equal(result.fold_thresholds, thresholds)
    assert result.accuracy == np.mean(accuracies)
    assert result.accuracy_std == np.std(accuracies)
    assert result.threshold == np.mean(thresholds)
    assert (result.val, result.val_std, result.far) == (np.mean(vals), np.std(vals), np.mean(fars))
    assert 0.5 < result.accuracy < 1.0  # neither trivial nor perfect
    assert result.num_pairs == 600 and result.num_positive == result.num_negative == 300


def test_threshold_curves_are_test_fold_means():
    first, second, issame = fixed_embeddings(num_pairs=200)
    result = verification_metrics(first, second, issame)
    distances = np.sum((first - second) ** 2, axis=1)
    folds = np.array_split(np.arange(200), 10)
    tpr = [[np.mean(distances[f][issame[f]] < t) for t in ACCURACY_THRESHOLDS] for f in folds]
    fpr = [[np.mean(distances[f][~issame[f]] < t) for t in ACCURACY_THRESHOLDS] for f in folds]
    np.testing.assert_allclose(result.threshold_tpr, np.mean(tpr, axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(result.threshold_fpr, np.mean(fpr, axis=0), rtol=0, atol=1e-15)


def test_roc_auc_and_tar_at_far():
    first, second, issame = fixed_embeddings(num_pairs=2400, noise=1.2)
    result = verification_metrics(first, second, issame, far_targets=(1e-1, 1e-2, 1e-3, 1e-4))
    distances = np.sum((first - second) ** 2, axis=1)
    assert result.auc == pytest.approx(metrics.roc_auc_score(issame, -distances), abs=1e-12)
    negatives = np.sort(distances[~issame])
    for far in (1e-1, 1e-2, 1e-3):
        # Accept at most floor(far * N-) negatives: below the next negative distance.
        allowed = math.floor(far * len(negatives) + 1e-9)
        cut = negatives[allowed]
        expected = np.mean(distances[issame] < cut)
        assert result.tar_at_far[far] == pytest.approx(expected)
    # 1200 negatives cannot resolve FAR 1e-4: NaN, left out of the logs, explained in the notes.
    assert math.isnan(result.tar_at_far[1e-4])
    assert any("TAR@FAR=1e-4 needs at least 10000 negative pairs" in note for note in result.notes)
    logs = result.logs()
    assert "pairs_tar_at_far_1e-3" in logs and "pairs_tar_at_far_1e-4" not in logs
    assert set(logs) >= {
        "pairs_accuracy",
        "pairs_accuracy_std",
        "pairs_threshold",
        "pairs_val_at_far_1e-3",
        "pairs_auc",
    }
    np.testing.assert_array_equal(result.roc_distances[1:], np.sort(result.roc_distances[1:]))


def test_separable_pairs():
    issame = np.array([True, False] * 10)
    first = np.tile([[1.0, 0.0]], (20, 1))
    second = np.where(issame[:, None], first, -first)  # distances 0 and 4
    result = verification_metrics(first, second, issame, name="toy")
    np.testing.assert_array_equal(result.fold_accuracies, np.ones(10))
    np.testing.assert_array_equal(result.fold_thresholds, np.full(10, 0.01))
    assert result.auc == 1.0 and result.tar_at_far[1e-1] == 1.0
    assert result.val == 0.0  # FAR 1e-3 is never reached below 4: threshold 0, as insightface


def test_float32_embeddings_give_the_float64_folds():
    first, second, issame = fixed_embeddings()
    single = verification_metrics(first.astype("float32"), second.astype("float32"), issame)
    accuracies, thresholds, _, _ = reference_protocol(
        first.astype("float32"), second.astype("float32"), issame
    )
    np.testing.assert_array_equal(single.fold_accuracies, accuracies)
    np.testing.assert_array_equal(single.fold_thresholds, thresholds)


def test_slinear_interpolate_is_scipy_interp1d_without_repeats():
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(size=50))
    y = rng.uniform(size=50)
    for x_new in (x[0], x[7], 0.5 * (x[10] + x[11]), x[-1]):
        expected = interpolate.interp1d(x, y, kind="slinear")(x_new)
        assert slinear_interpolate(x, y, x_new) == pytest.approx(float(expected), abs=1e-15)


def test_slinear_interpolate_with_repeats_is_right_continuous():
    far = np.array([0.0, 0.0, 0.0, 0.0005, 0.001, 0.001, 0.002, 1.0, 1.0])
    thresholds = np.arange(len(far)) * 0.001
    for target in (0.0, 0.0007, 0.001, 0.0015, 0.5):
        expected = right_continuous_linear(far, thresholds, target)
        assert slinear_interpolate(far, thresholds, target) == pytest.approx(expected, abs=1e-15)
    with pytest.raises(ValueError, match="outside"):
        slinear_interpolate(far, thresholds, 2.0)


@pytest.mark.parametrize(
    ("first", "second", "issame", "message"),
    [
        (np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0, bool), "pair list is empty"),
        (np.zeros((20, 4)), np.zeros((20, 3)), np.zeros(20, bool), "of one shape"),
        (np.zeros((20, 4)), np.zeros((20, 4)), np.zeros(19, bool), "one entry per pair"),
        (np.zeros((5, 4)), np.zeros((5, 4)), np.array([True, False] * 2 + [True]), "at least 10"),
        (np.zeros((20, 4)), np.zeros((20, 4)), np.array(["yes"] * 20), "booleans"),
    ],
)
def test_bad_input(first, second, issame, message):
    with pytest.raises(ValueError, match=message):
        verification_metrics(first, second, issame)


def test_nan_embeddings_name_the_pair():
    first, second, issame = fixed_embeddings(num_pairs=40)
    second[17, 3] = np.nan
    with pytest.raises(
        ValueError, match=r"embeddings2 holds NaN or inf for 1 pair\(s\), e.g. pair 17"
    ):
        verification_metrics(first, second, issame)


def test_fold_without_negatives_is_named():
    first, second, issame = fixed_embeddings(num_pairs=40)
    issame = np.arange(40) < 20  # all positives first: folds 0..4 hold no negative pair
    with pytest.raises(ValueError, match=r"Fold 0 \(pairs 0\.\.3\) holds no negative pair"):
        verification_metrics(first, second, issame)
