"""keras_expface.data.face_batches: shuffled, augmented batches from any FaceSource."""

import concurrent.futures

import keras
import numpy as np
import pytest

from keras_expface.data import FaceBatches, FaceDataset, FaceSource

HEIGHT, WIDTH = 3, 5


def sample_pixels(index):
    """Channel 0 holds the sample index everywhere; channel 1 a ramp along the width."""
    pixels = np.zeros((HEIGHT, WIDTH, 2), np.uint8)
    pixels[..., 0] = index
    pixels[..., 1] = np.arange(WIDTH) * 10 + 1
    return pixels


class CodedSource(FaceSource):
    """`n` samples whose pixels name them; `read` fails for the indices in `bad`."""

    def __init__(self, n, num_classes=3, bad=(), error=OSError):
        self.labels = (np.arange(n) % num_classes).astype(np.int32)
        self.class_names = tuple(f"person_{c}" for c in range(num_classes))
        self.bad = set(bad)
        self.error = error

    def read(self, index):
        if index in self.bad:
            raise self.error(f"sample {index} is corrupt")
        return sample_pixels(index)

    def describe(self, index):
        return f"coded[{index}]"


def sample_ids(images):
    """The sample index each image of a batch shows (channel 0 is constant per image)."""
    return images[:, 0, 0, 0].astype(int)


def all_batches(batches, order=None):
    order = range(len(batches)) if order is None else order
    return {index: batches[index] for index in order}


def test_batch_shapes_and_dtypes():
    faces = FaceDataset(
        np.zeros((10, 8, 6, 1), "uint8"),
        np.arange(10) % 2,
        ("a", "b"),
        tuple(str(i) for i in range(10)),
    )
    batches = FaceBatches(faces, batch_size=4)
    assert len(batches) == 2
    images, labels = batches[0]
    assert images.shape == (4, 8, 6, 1) and images.dtype == np.float32
    assert labels.shape == (4,) and labels.dtype == np.int32
    kept = FaceBatches(faces, batch_size=4, drop_remainder=False)
    assert len(kept) == 3
    assert kept[2][0].shape == (2, 8, 6, 1) and kept[2][1].shape == (2,)


def test_pixels_are_unnormalised_float():
    batches = FaceBatches(CodedSource(4), batch_size=4, shuffle=False, horizontal_flip=False)
    images, _ = batches[0]
    np.testing.assert_array_equal(images, np.stack([sample_pixels(i) for i in range(4)]))


@pytest.mark.parametrize("epoch", [0, 3])
def test_every_sample_appears_once_per_epoch(epoch):
    source = CodedSource(23)
    batches = FaceBatches(source, batch_size=5, seed=7, epoch=epoch, drop_remainder=False)
    ids, labels = [], []
    for index in range(len(batches)):
        images, batch_labels = batches[index]
        ids.extend(sample_ids(images))
        labels.extend(batch_labels)
    np.testing.assert_array_equal(np.sort(ids), np.arange(23))
    np.testing.assert_array_equal(labels, source.labels[ids])


def test_indices_restrict_the_samples():
    source = CodedSource(30)
    chosen = np.array([3, 4, 9, 10, 11, 17, 25, 29])
    batches = FaceBatches(source, batch_size=3, indices=chosen, drop_remainder=False)
    ids = np.concatenate([sample_ids(batches[i][0]) for i in range(len(batches))])
    np.testing.assert_array_equal(np.sort(ids), chosen)
    dropped = FaceBatches(source, batch_size=3, indices=chosen, drop_remainder=True)
    ids = np.concatenate([sample_ids(dropped[i][0]) for i in range(len(dropped))])
    assert len(dropped) == 2 and len(ids) == 6 and len(set(ids)) == 6
    assert set(ids) <= set(chosen)


def test_order_depends_only_on_seed_and_epoch():
    source = CodedSource(40)
    first = FaceBatches(source, batch_size=8, seed=3, epoch=1)
    second = FaceBatches(source, batch_size=8, seed=3, epoch=1)
    np.testing.assert_array_equal(first.order(), second.order())
    for index in range(len(first)):
        np.testing.assert_array_equal(first[index][0], second[index][0])
        np.testing.assert_array_equal(first[index][1], second[index][1])
        np.testing.assert_array_equal(first.batch_indices(index), sample_ids(first[index][0]))
    other_epoch = FaceBatches(source, batch_size=8, seed=3, epoch=2)
    other_seed = FaceBatches(source, batch_size=8, seed=4, epoch=1)
    assert not np.array_equal(first.order(), other_epoch.order())
    assert not np.array_equal(first.order(), other_seed.order())
    # Setting `epoch` on an instance gives that epoch's batches.
    first.epoch = 2
    np.testing.assert_array_equal(first.order(), other_epoch.order())
    np.testing.assert_array_equal(first[3][0], other_epoch[3][0])


def test_shuffle_false_keeps_the_given_order():
    batches = FaceBatches(CodedSource(12), batch_size=4, indices=[5, 1, 7, 2, 0, 3, 9, 8])
    unshuffled = FaceBatches(
        CodedSource(12), batch_size=4, indices=[5, 1, 7, 2, 0, 3, 9, 8], shuffle=False
    )
    np.testing.assert_array_equal(unshuffled.order(), [5, 1, 7, 2, 0, 3, 9, 8])
    np.testing.assert_array_equal(sample_ids(unshuffled[1][0]), [0, 3, 9, 8])
    assert sorted(batches.order()) == sorted(unshuffled.order())


def test_out_of_order_and_threaded_reads_match_sequential_reads():
    source = CodedSource(48)
    reference = all_batches(FaceBatches(source, batch_size=4, seed=11, epoch=5))
    backwards = all_batches(
        FaceBatches(source, batch_size=4, seed=11, epoch=5), order=range(11, -1, -1)
    )
    threaded_batches = FaceBatches(source, batch_size=4, seed=11, epoch=5)
    order = np.random.default_rng(0).permutation(len(threaded_batches))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        threaded = dict(zip(order, pool.map(threaded_batches.__getitem__, order), strict=True))
    for index, (images, labels) in reference.items():
        for other in (backwards, threaded):
            np.testing.assert_array_equal(other[index][0], images)
            np.testing.assert_array_equal(other[index][1], labels)


def test_flips_are_left_right_and_deterministic():
    source = CodedSource(64)
    plain = FaceBatches(source, batch_size=16, seed=2, epoch=1, horizontal_flip=False)
    flipping = FaceBatches(source, batch_size=16, seed=2, epoch=1)
    flipped_count = 0
    for index in range(len(plain)):
        originals, labels = plain[index]
        images, flipped_labels = flipping[index]
        np.testing.assert_array_equal(flipped_labels, labels)
        for image, original in zip(images, originals, strict=True):
            if np.array_equal(image, original):
                continue
            np.testing.assert_array_equal(image, np.flip(original, axis=1))  # the width axis
            flipped_count += 1
        np.testing.assert_array_equal(flipping[index][0], images)  # same flips when re-read
    assert 0 < flipped_count < len(source)
    again = FaceBatches(source, batch_size=16, seed=2, epoch=1)
    for index in range(len(again)):
        np.testing.assert_array_equal(again[index][0], flipping[index][0])


def test_unreadable_samples_are_replaced_within_the_batch_and_listed():
    source = CodedSource(12, bad={1, 2, 9})
    failures = {}
    batches = FaceBatches(
        source,
        batch_size=4,
        shuffle=False,
        horizontal_flip=False,
        failures=failures,
    )
    assert batches.failures is failures
    seen = []
    for index in range(len(batches)):
        images, labels = batches[index]  # never raises
        assert images.shape == (4, HEIGHT, WIDTH, 2)
        ids = sample_ids(images)
        assert set(ids) <= set(batches.batch_indices(index)) - source.bad
        np.testing.assert_array_equal(labels, source.labels[ids])
        seen.extend(ids)
    assert source.bad.isdisjoint(seen)
    assert set(failures) == {"coded[1]", "coded[2]", "coded[9]"}
    assert failures["coded[9]"] == "OSError: sample 9 is corrupt"


def test_value_errors_of_the_source_are_skipped_too():
    source = CodedSource(8, bad={0}, error=ValueError)
    batches = FaceBatches(source, batch_size=4, shuffle=False)
    assert len(batches[0][0]) == 4
    assert batches.failures == {"coded[0]": "ValueError: sample 0 is corrupt"}


def test_a_batch_with_no_readable_sample_raises():
    source = CodedSource(8, bad={4, 5, 6, 7})
    batches = FaceBatches(source, batch_size=4, shuffle=False)
    assert len(batches[0][0]) == 4
    with pytest.raises(OSError, match=r"No sample of batch 1 could be read.*coded\[4\]"):
        batches[1]
    assert set(batches.failures) == {f"coded[{i}]" for i in range(4, 8)}


def test_labels_override():
    source = CodedSource(9)
    noisy = np.array([2, 2, 2, 1, 1, 1, 0, 0, 0])
    batches = FaceBatches(source, batch_size=3, labels=noisy, seed=1)
    for index in range(len(batches)):
        images, labels = batches[index]
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(labels, noisy[sample_ids(images)])
    with pytest.raises(ValueError, match=r"labels must have shape \(9,\); got \(8,\)"):
        FaceBatches(source, batch_size=3, labels=noisy[:8])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": -2}, "batch_size must be a positive integer"),
        ({"batch_size": 2.0}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"batch_size": 2, "indices": []}, "no sample"),
        ({"batch_size": 2, "indices": [0, 10]}, r"indices must lie in \[0, 10\)"),
        ({"batch_size": 2, "indices": [-1, 3]}, r"indices must lie in \[0, 10\)"),
        ({"batch_size": 11}, "10 samples do not fill one batch of 11"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FaceBatches(CodedSource(10), **kwargs)


def test_a_small_last_batch_is_allowed_without_drop_remainder():
    batches = FaceBatches(CodedSource(3), batch_size=8, drop_remainder=False)
    assert len(batches) == 1 and len(batches[0][1]) == 3


def test_batch_index_out_of_range_raises():
    batches = FaceBatches(CodedSource(8), batch_size=4)
    with pytest.raises(IndexError, match=r"Batch 2 out of range \[0, 2\)"):
        batches[2]
    with pytest.raises(IndexError):
        batches.batch_indices(-1)


def test_measure_throughput():
    assert FaceBatches(CodedSource(8), batch_size=4).measure_throughput(5) > 0


def test_model_fit_consumes_it():
    source = CodedSource(24)
    batches = FaceBatches(source, batch_size=8, seed=0)
    model = keras.Sequential(
        [
            keras.Input((HEIGHT, WIDTH, 2)),
            keras.layers.Flatten(),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Dense(source.num_classes),
        ]
    )
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = model.fit(batches, epochs=1, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 1
    assert np.isfinite(history.history["loss"][0])
