"""keras_expface.data.splits: open-set splits by identity, closed-set splits by image."""

import warnings

import numpy as np
import pytest

from keras_expface.data import split_by_identity, split_by_image


def grouped_labels(sizes):
    """Labels `0, 0, 1, 1, 1, ...` with `sizes[c]` images of class `c`."""
    return np.repeat(np.arange(len(sizes)), sizes)


def test_split_by_identity_partitions_samples_and_classes():
    labels = np.random.default_rng(0).permutation(grouped_labels([3] * 10))
    split = split_by_identity(labels, held_out=3, seed=5)
    assert len(split.held_out_classes) == 3 and len(split.train_classes) == 7
    assert np.all(np.diff(split.held_out_classes) > 0) and np.all(np.diff(split.train_classes) > 0)
    np.testing.assert_array_equal(
        np.union1d(split.train_classes, split.held_out_classes), np.arange(10)
    )
    assert np.intersect1d(split.train_classes, split.held_out_classes).size == 0
    np.testing.assert_array_equal(
        np.sort(np.concatenate([split.train_indices, split.held_out_indices])), np.arange(30)
    )
    assert set(labels[split.held_out_indices]) == set(split.held_out_classes)
    assert set(labels[split.train_indices]) == set(split.train_classes)


def test_split_by_identity_is_reproducible_by_seed():
    labels = grouped_labels([2] * 20)
    first = split_by_identity(labels, held_out=5, seed=1)
    again = split_by_identity(labels, held_out=5, seed=1)
    np.testing.assert_array_equal(first.held_out_classes, again.held_out_classes)
    np.testing.assert_array_equal(first.train_indices, again.train_indices)
    others = [split_by_identity(labels, held_out=5, seed=s).held_out_classes for s in (2, 3, 4)]
    assert any(not np.array_equal(first.held_out_classes, o) for o in others)


@pytest.mark.parametrize(("held_out", "count"), [(0.25, 2), (0.5, 4), (2.0, 2), (1.0, 1), (0, 0)])
def test_split_by_identity_counts_and_fractions(held_out, count):
    split = split_by_identity(grouped_labels([2] * 8), held_out=held_out)
    assert len(split.held_out_classes) == count
    assert len(split.held_out_indices) == 2 * count


def test_holding_out_nothing_trains_on_everything():
    labels = grouped_labels([2, 3, 2])
    split = split_by_identity(labels, held_out=0)
    np.testing.assert_array_equal(split.train_indices, np.arange(7))
    assert split.held_out_indices.size == 0 and split.held_out_classes.size == 0
    np.testing.assert_array_equal(split.train_classes, [0, 1, 2])


def test_identities_with_one_image_are_warned_and_kept_for_training():
    labels = grouped_labels([1, 3, 1, 2, 2])  # classes 0 and 2 have one image
    with pytest.warns(UserWarning, match="2 identities have fewer than 2 images"):
        split = split_by_identity(labels, held_out=3, seed=0)
    np.testing.assert_array_equal(split.held_out_classes, [1, 3, 4])
    np.testing.assert_array_equal(split.train_classes, [0, 2])
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="only 3 have 2 or more"):
        split_by_identity(labels, held_out=4)


def test_no_warning_when_every_identity_has_two_images():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_by_identity(grouped_labels([2, 2, 2]), held_out=1)


def test_min_images():
    labels = grouped_labels([2, 4, 4, 2])
    with pytest.warns(UserWarning, match="fewer than 3 images"):
        split = split_by_identity(labels, held_out=2, min_images=3)
    np.testing.assert_array_equal(split.held_out_classes, [1, 2])


def test_train_labels_reindex_the_training_classes():
    labels = np.array([10, 10, 30, 30, 20, 20, 40, 40])
    split = split_by_identity(labels, held_out=1, seed=0)
    train_labels = split.train_labels(labels)
    assert train_labels.dtype == np.int32
    np.testing.assert_array_equal(split.train_classes[train_labels], labels[split.train_indices])
    np.testing.assert_array_equal(np.unique(train_labels), np.arange(3))


@pytest.mark.parametrize(
    ("held_out", "match"),
    [
        (-1, "held_out must be >= 0"),
        (1.5, r"a count or a fraction in \(0, 1\)"),
        (-0.5, r"a count or a fraction in \(0, 1\)"),
        (3, "leaves fewer than 2 to train on"),
        (5, "Cannot hold out 5 identities: only 4"),
    ],
)
def test_split_by_identity_errors(held_out, match):
    with pytest.raises(ValueError, match=match):
        split_by_identity(grouped_labels([2] * 4), held_out=held_out)


def test_split_by_image_holds_out_a_fraction_of_each_identity():
    labels = grouped_labels([4, 8, 1, 2, 3])
    train, validation = split_by_image(np.arange(len(labels)), labels, 0.25, seed=3)
    assert train.dtype == np.int64 and validation.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(validation) > 0)
    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.union1d(train, validation), np.arange(len(labels)))
    # round(0.25 * n), capped at n - 1: 1 of 4, 2 of 8, 0 of 1, 0 of 2 (0.5 rounds to 0), 1 of 3.
    np.testing.assert_array_equal(np.bincount(labels[validation], minlength=5), [1, 2, 0, 0, 1])
    assert set(labels[train]) == set(range(5))  # every identity keeps a training image


def test_split_by_image_keeps_one_training_image_per_identity():
    labels = grouped_labels([2, 3])
    train, validation = split_by_image(range(5), labels, 0.9)
    np.testing.assert_array_equal(np.bincount(labels[train]), [1, 1])
    assert len(validation) == 3


def test_split_by_image_only_uses_the_given_indices():
    labels = grouped_labels([4, 4, 4])
    indices = np.array([0, 1, 2, 3, 8, 9, 10, 11])
    train, validation = split_by_image(indices, labels, 0.5, seed=0)
    np.testing.assert_array_equal(np.union1d(train, validation), indices)
    assert len(validation) == 4 and set(labels[validation]) == {0, 2}


def test_split_by_image_is_reproducible_by_seed():
    labels = grouped_labels([6] * 5)
    first = split_by_image(range(30), labels, 0.5, seed=4)
    again = split_by_image(range(30), labels, 0.5, seed=4)
    np.testing.assert_array_equal(first[1], again[1])
    others = [split_by_image(range(30), labels, 0.5, seed=s)[1] for s in (5, 6, 7)]
    assert any(not np.array_equal(first[1], o) for o in others)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_by_image_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)"):
        split_by_image(range(4), [0, 0, 1, 1], fraction)
