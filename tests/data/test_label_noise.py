"""keras_expface.data.label_noise: flips, Type-I and Type-II noise with ground truth."""

import numpy as np
import pytest

from keras_expface.data.face_source import FaceDataset
from keras_expface.data.label_noise import LabelNoise, inject_label_noise, parse_noise_spec


def toy_faces(identities=10, per_identity=6, first=0, prefix="p"):
    """A tiny FaceDataset whose pixels encode (identity, image) so samples can be traced."""
    n = identities * per_identity
    labels = np.repeat(np.arange(identities), per_identity)
    images = np.zeros((n, 4, 4, 1), np.uint8)
    images[:, 0, 0, 0] = labels + first
    images[:, 0, 1, 0] = np.tile(np.arange(per_identity), identities)
    names = tuple(f"{prefix}{first + i:02d}" for i in range(identities))
    paths = tuple(
        f"{names[label]}/{j}" for label, j in zip(labels, images[:, 0, 1, 0], strict=True)
    )
    return FaceDataset(images, labels.astype(np.int32), names, paths)


def check_consistent(faces, noisy, truth):
    """Invariants every noisy dataset satisfies, whatever the noise."""
    assert len(truth) == len(noisy) and truth.paths == noisy.paths
    np.testing.assert_array_equal(truth.label, noisy.labels)
    assert noisy.labels.min() >= 0 and noisy.labels.max() < noisy.num_classes
    names = noisy.class_names
    by_path = dict(zip(faces.paths, faces.labels, strict=True))
    for i in range(len(noisy)):
        kind, identity = truth.kind[i], truth.true_identity[i]
        if kind == "type1":
            assert truth.original_label[i] == -1 and identity not in names
        else:
            assert names[truth.original_label[i]] == identity
        if truth.paths[i] in by_path:  # a sample of the input dataset: its identity is kept
            assert faces.class_names[by_path[truth.paths[i]]] == identity
    clean = truth.kind == "clean"
    np.testing.assert_array_equal(truth.label[clean], truth.original_label[clean])


def test_parse_noise_spec():
    assert parse_noise_spec("flip:0.2, type1:0.1,") == {"flip": 0.2, "type1": 0.1}
    assert parse_noise_spec({"type2": 0.3}) == {"type2": 0.3}
    assert parse_noise_spec(None) == {} == parse_noise_spec("") == parse_noise_spec({})
    assert parse_noise_spec("flip:0") == {"flip": 0.0}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("blur:0.1", "Unknown label noise kind 'blur'"),
        ("flip0.2", "malformed"),
        ("flip:x", "not a number"),
        ("flip:1", r"\[0, 1\)"),
        ("flip:-0.1", r"\[0, 1\)"),
        ({"flip": float("nan")}, r"\[0, 1\)"),
        ({"flip": "0.2"}, r"\[0, 1\)"),
        ("flip:0.1,flip:0.2", "twice"),
        ("flip:0.6,type2:0.4", "sum to less than 1"),
        (0.2, "string, a mapping or None"),
    ],
)
def test_parse_noise_spec_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_noise_spec(spec)


@pytest.mark.parametrize("noise", [None, {}, "", "flip:0"])
def test_no_noise_is_the_identity(noise):
    faces = toy_faces()
    noisy, truth = inject_label_noise(faces, noise)
    assert noisy is faces
    assert truth.counts() == {"clean": 60, "flip": 0, "type1": 0, "type2": 0}
    assert not truth.is_noisy.any()
    check_consistent(faces, noisy, truth)


def test_flips_exact_count_and_never_keep_the_label():
    faces = toy_faces()
    noisy, truth = inject_label_noise(faces, "flip:0.25", seed=4)
    assert truth.counts()["flip"] == 15 and noisy.class_names == faces.class_names
    flipped = truth.kind == "flip"
    assert (noisy.labels[flipped] != faces.labels[flipped]).all()
    np.testing.assert_array_equal(noisy.labels[~flipped], faces.labels[~flipped])
    np.testing.assert_array_equal(noisy.images, faces.images)
    check_consistent(faces, noisy, truth)


def test_deterministic_by_seed():
    faces = toy_faces()
    spec = "flip:0.2,type1:0.1,type2:0.1"
    first, first_truth = inject_label_noise(faces, spec, seed=9)
    again, again_truth = inject_label_noise(faces, spec, seed=9)
    other, _ = inject_label_noise(faces, spec, seed=10)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first_truth.kind, again_truth.kind)
    assert first.paths == again.paths and first.class_names == again.class_names
    assert first.paths != other.paths or not np.array_equal(first.labels, other.labels)


def test_type1_from_the_dataset_takes_whole_identities_out():
    faces = toy_faces()  # 10 identities x 6 images
    noisy, truth = inject_label_noise(faces, "type1:0.15", seed=2)
    # round(0.15 * 60) = 9 outsiders: two identities taken out, 3 images of the last dropped.
    assert truth.counts() == {"clean": 48, "flip": 0, "type1": 9, "type2": 0}
    assert len(noisy) == 57 and noisy.num_classes == 8
    removed = set(faces.class_names) - set(noisy.class_names)
    assert len(removed) == 2
    assert {truth.true_identity[i] for i in np.flatnonzero(truth.kind == "type1")} <= removed
    assert not removed & {truth.true_identity[i] for i in np.flatnonzero(truth.kind == "clean")}
    # Labels are re-indexed compactly, in the original class order.
    assert list(noisy.class_names) == [n for n in faces.class_names if n not in removed]
    check_consistent(faces, noisy, truth)


def test_type1_from_outsiders_appends_their_images():
    faces = toy_faces()
    outsiders = toy_faces(5, 6, first=50, prefix="q")
    noisy, truth = inject_label_noise(faces, "type1:0.2", seed=1, outsiders=outsiders)
    count = round(0.2 * 60 / 0.8)  # 15, a fifth of the 75 returned samples
    assert truth.counts()["type1"] == count and len(noisy) == 60 + count
    assert noisy.class_names == faces.class_names
    assert (truth.kind[60:] == "type1").all() and (truth.kind[:60] == "clean").all()
    assert all(name.startswith("q") for name in truth.true_identity[60:])
    assert all(path.startswith("q") for path in noisy.paths[60:])
    # The outsider images themselves are appended (pixel 0 encodes the identity).
    assert (noisy.images[60:, 0, 0, 0] >= 50).all()
    check_consistent(faces, noisy, truth)


def test_type2_splits_identities_into_new_classes():
    faces = toy_faces()
    noisy, truth = inject_label_noise(faces, "type2:0.2", seed=3)
    assert truth.counts()["type2"] == 12 and len(noisy) == 60
    split = truth.kind == "type2"
    new_classes = noisy.class_names[10:]
    assert noisy.class_names[:10] == faces.class_names and len(new_classes) == 4  # 3 + 3 + 3 + 3
    for label in np.unique(noisy.labels[split]):
        name = noisy.class_names[label]
        assert label >= 10 and name.endswith("~split1")
        members = np.flatnonzero(noisy.labels == label)
        identity = name.split("~")[0]
        assert {truth.true_identity[i] for i in members} == {identity}
        main = noisy.class_names.index(identity)
        assert (truth.original_label[members] == main).all()
        assert np.sum(noisy.labels == main) >= len(members)  # the main label keeps the majority
    check_consistent(faces, noisy, truth)


def test_combined_kinds_are_disjoint_with_exact_counts():
    faces = toy_faces(20, 5)  # 100 samples
    outsiders = toy_faces(4, 5, first=40, prefix="q")
    spec = {"flip": 0.2, "type1": 0.1, "type2": 0.1}
    noisy, truth = inject_label_noise(faces, spec, seed=5, outsiders=outsiders)
    # 11 outsiders (round(100 * 0.1 / 0.9)), N' = 111: 22 flips, 11 splits.
    assert truth.counts() == {"clean": 67, "flip": 22, "type1": 11, "type2": 11}
    assert truth.is_noisy.sum() == 44
    flipped = np.flatnonzero(truth.kind == "flip")
    assert (noisy.labels[flipped] < 20).all()  # flips go to training identities, not splits
    assert (noisy.labels[flipped] != truth.original_label[flipped]).all()
    check_consistent(faces, noisy, truth)
    noisy2, truth2 = inject_label_noise(faces, "flip:0.2,type1:0.1,type2:0.1", seed=5)
    check_consistent(faces, noisy2, truth2)
    assert truth2.counts()["type1"] == 10 and truth2.counts()["flip"] == round(0.2 * len(noisy2))


def test_ground_truth_csv_round_trip(tmp_path):
    faces = toy_faces()
    noisy, truth = inject_label_noise(faces, "flip:0.1,type1:0.1,type2:0.1", seed=7)
    truth.save(tmp_path / "noise.csv")
    loaded = LabelNoise.load(tmp_path / "noise.csv")
    for field in ("kind", "label", "original_label"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(truth, field))
    assert loaded.true_identity == truth.true_identity and loaded.paths == noisy.paths
    assert loaded.summary() == truth.summary()
    header = (tmp_path / "noise.csv").read_text().splitlines()[0]
    assert header == "index,path,kind,label,true_identity,original_label"
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        LabelNoise.load(tmp_path / "bad.csv")
    (tmp_path / "row.csv").write_text(header + "\n0,p/0,clean,x,p00,0\n")
    with pytest.raises(ValueError, match=r"row.csv:2: malformed row"):
        LabelNoise.load(tmp_path / "row.csv")


def test_impossible_requests_are_explained():
    faces = toy_faces(3, 2)
    with pytest.raises(ValueError, match="fewer than 2"):
        inject_label_noise(faces, "type1:0.5")
    with pytest.raises(ValueError, match="outsider images"):
        inject_label_noise(toy_faces(), "type1:0.5", outsiders=toy_faces(1, 2, 50, "q"))
    with pytest.raises(ValueError, match="share 1 identities"):
        inject_label_noise(toy_faces(), "type1:0.1", outsiders=toy_faces(1, 10, 9))
    with pytest.raises(ValueError, match="must match"):
        other = FaceDataset(
            np.zeros((2, 5, 4, 1), np.uint8), np.zeros(2, np.int32), ("q",), ("q/0", "q/1")
        )
        inject_label_noise(toy_faces(), "type1:0.1", outsiders=other)
    with pytest.raises(ValueError, match="half of each"):
        inject_label_noise(toy_faces(), "type2:0.6")
    with pytest.raises(ValueError, match="seed"):
        inject_label_noise(toy_faces(), "flip:0.1", seed=-1)
    with pytest.raises(ValueError, match="FaceDataset"):
        inject_label_noise(np.zeros(3), "flip:0.1")
    with pytest.raises(ValueError, match="Unknown label noise kind"):
        inject_label_noise(toy_faces(), "typo:0.1")
    with pytest.raises(ValueError, match="one entry per sample"):
        LabelNoise(np.array(["clean"]), [0, 1], [0], ("a",), ("a/0",))
