"""keras_expface.training.datasets: a run's data from its --data spec."""

import numpy as np
import pytest
from PIL import Image

from keras_expface.data import FaceDataset, IdentityFolderSource, LabelNoise
from keras_expface.training import TrainConfig, open_training_data, parse_data_spec
from keras_expface.training import datasets as datasets_module

TINY_BUILTIN = "builtin:identities=12,images=4"


def tiny_builtin(**kwargs):
    return TrainConfig(data=TINY_BUILTIN, image_size=(16, 16), held_out=4, **kwargs)


def write_tree(root, per_identity):
    """`root/<name>/<j>.png` with `per_identity[name]` random 12 x 10 PNGs each."""
    rng = np.random.default_rng(0)
    for name, count in per_identity.items():
        (root / name).mkdir(parents=True)
        for j in range(count):
            pixels = rng.integers(0, 255, size=(10, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{j:02d}.png")
    return root


@pytest.fixture
def faces_folder(tmp_path):
    """Six identities of 3 or 4 images, one identity of a single image, one corrupt file."""
    root = write_tree(
        tmp_path / "faces",
        {"ann": 4, "bob": 3, "cyd": 4, "dan": 3, "eve": 4, "fay": 3, "solo": 1},
    )
    (root / "bob" / "99_corrupt.png").write_bytes(b"this is not a png" * 4)
    return root


# --- parse_data_spec ---


def test_parse_builtin_specs():
    assert parse_data_spec("builtin") == (
        "builtin",
        "",
        {"identities": 150, "images": 10, "nuisance": 1.0},
    )
    kind, location, options = parse_data_spec("builtin:identities=12,images=4,nuisance=0.5")
    assert (kind, location) == ("builtin", "")
    assert options == {"identities": 12, "images": 4, "nuisance": 0.5}
    assert isinstance(options["identities"], int) and isinstance(options["nuisance"], float)
    assert parse_data_spec("builtin:images=3,")[2]["images"] == 3


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("rec:/data/ms1m/train.rec", ("rec", "/data/ms1m/train.rec", {})),
        ("rec:/data/ms1m", ("rec", "/data/ms1m", {})),
        ("tfds:lfw", ("tfds", "lfw", {})),
        ("tfds:lfw:test", ("tfds", "lfw:test", {})),
        ("folder:/data/faces", ("folder", "/data/faces", {})),
        ("folder:C:/faces", ("folder", "C:/faces", {})),
        ("/data/faces", ("folder", "/data/faces", {})),
        ("faces", ("folder", "faces", {})),
        ("C:/faces", ("folder", "C:/faces", {})),
    ],
)
def test_parse_other_specs(spec, expected):
    assert parse_data_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "The data spec is empty"),
        ("builtin:people=3", r"Unknown built-in data option 'people=3'; valid: identities=\.\.\."),
        ("builtin:images=", "Unknown built-in data option 'images='"),
        ("builtin:images", "Unknown built-in data option 'images'"),
    ],
)
def test_parse_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_data_spec(spec)


# --- the built-in data ---


def test_builtin_training_classes_and_held_out_pairs():
    data = open_training_data(tiny_builtin())
    assert isinstance(data.source, FaceDataset)
    assert data.num_classes == 12 and len(data.class_names) == 12
    assert len(data.source) == 48 and data.source.read(0).shape == (16, 16, 3)
    np.testing.assert_array_equal(data.train_indices, np.arange(48))
    np.testing.assert_array_equal(np.bincount(data.labels), [4] * 12)
    assert data.labels.dtype == np.int32 and data.validation_indices.size == 0
    assert data.noise is None and data.skipped == ()
    assert "12 training identities x 4 images, 4 held-out identities" in data.description
    pairs = data.pairs
    assert pairs is not None and pairs.num_positive > 0 and pairs.num_negative > 0
    assert pairs.images.shape[1:] == (16, 16, 3)
    held_out_identities = {name.split("/")[1] for name in pairs.image_names}
    assert len(held_out_identities) == 4
    assert held_out_identities.isdisjoint(data.class_names)
    training_identities = {path.split("/")[1] for path in data.source.paths}
    assert training_identities == set(data.class_names)


def test_builtin_without_held_out_identities():
    data = open_training_data(TrainConfig(data=TINY_BUILTIN, held_out=0))
    assert data.pairs is None and data.num_classes == 12
    assert data.source.read(0).shape == (64, 64, 3)  # the built-in default size


def test_builtin_validation_split():
    data = open_training_data(tiny_builtin(validation_split=0.25))
    assert len(data.validation_indices) == 12  # one of each identity's four images
    assert np.intersect1d(data.train_indices, data.validation_indices).size == 0
    np.testing.assert_array_equal(
        np.union1d(data.train_indices, data.validation_indices), np.arange(48)
    )
    np.testing.assert_array_equal(np.bincount(data.labels[data.validation_indices]), [1] * 12)


def test_builtin_noise_ground_truth_is_aligned_with_the_source():
    data = open_training_data(tiny_builtin(noise="flip:0.25"))
    noise = data.noise
    assert isinstance(noise, LabelNoise)
    assert len(noise) == len(data.source) == len(data.labels)
    np.testing.assert_array_equal(noise.label, data.labels)
    assert noise.paths == data.source.paths
    assert noise.counts()["flip"] == 12
    flipped = noise.kind == "flip"
    assert np.all(noise.original_label[flipped] != data.labels[flipped])
    np.testing.assert_array_equal(noise.original_label[~flipped], data.labels[~flipped])
    assert "label noise flip:0.25" in data.description
    again = open_training_data(tiny_builtin(noise="flip:0.25"))
    np.testing.assert_array_equal(again.noise.kind, noise.kind)  # reproducible


def test_builtin_type1_noise_uses_outsiders():
    data = open_training_data(tiny_builtin(noise="type1:0.1"))
    noise = data.noise
    assert len(noise) == len(data.source) == len(data.labels) > 48
    np.testing.assert_array_equal(noise.label, data.labels)
    outsiders = noise.kind == "type1"
    assert outsiders.sum() == len(data.source) - 48
    held_out = {name.split("/")[1] for name in data.pairs.image_names}
    outsider_names = {noise.true_identity[i] for i in np.flatnonzero(outsiders)}
    assert outsider_names.isdisjoint(data.class_names) and outsider_names.isdisjoint(held_out)
    np.testing.assert_array_equal(noise.original_label[outsiders], -1)


# --- identity folders ---


def test_identity_folder(faces_folder):
    config = TrainConfig(data=str(faces_folder), image_size=(16, 16), held_out=2, seed=1)
    with pytest.warns(UserWarning) as warned:
        data = open_training_data(config)
    messages = " ".join(str(w.message) for w in warned)
    assert "Skipped 1 unreadable image" in messages
    assert "1 identities have fewer than 2 images" in messages
    assert isinstance(data.source, FaceDataset)
    assert len(data.skipped) == 1 and data.skipped[0][0].endswith("99_corrupt.png")
    assert not any(path.endswith("99_corrupt.png") for path in data.source.paths)
    # The single-image identity is kept for training, never held out.
    assert "solo" in data.class_names and data.num_classes == 5
    held_out = {name.split("/")[-2] for name in data.pairs.image_names}
    assert len(held_out) == 2 and held_out.isdisjoint(data.class_names)
    assert data.pairs.num_positive > 0 and data.pairs.num_negative > 0
    # Labels index the training classes and match each image's folder.
    for index in data.train_indices:
        assert data.class_names[data.labels[index]] == data.source.paths[index].split("/")[-2]
    assert data.source.read(0).shape == (16, 16, 3)
    assert "5 training identities" in data.description
    assert "2 held-out identities" in data.description


def test_identity_folder_validation_split(faces_folder):
    config = TrainConfig(
        data=f"folder:{faces_folder}", image_size=(16, 16), held_out=0, validation_split=0.3
    )
    with pytest.warns(UserWarning):
        data = open_training_data(config)
    assert data.pairs is None and data.num_classes == 7
    train, validation = data.train_indices, data.validation_indices
    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.union1d(train, validation), np.arange(len(data.source)))
    # round(0.3 * n) per identity: 1 of 3 or 4 images, none of the single image.
    counts = np.bincount(data.labels[validation], minlength=7)
    assert counts[data.class_names.index("solo")] == 0
    assert counts.sum() == 6
    assert set(data.labels[train]) == set(range(7))


def test_identity_folder_read_lazily(faces_folder, monkeypatch):
    monkeypatch.setattr(datasets_module, "IN_MEMORY_LIMIT", 0)
    config = TrainConfig(data=str(faces_folder), image_size=(16, 16), held_out=2, seed=1)
    with pytest.warns(UserWarning, match="fewer than 2 images"):
        data = open_training_data(config)
    assert isinstance(data.source, IdentityFolderSource)
    assert len(data.source) == 23 and data.skipped == ()  # found while training instead
    assert data.num_classes == 5 and "solo" in data.class_names
    assert len(data.labels) == len(data.source)
    trained = np.zeros(len(data.source), bool)
    trained[data.train_indices] = True
    assert np.all(data.labels[~trained] == -1) and np.all(data.labels[trained] >= 0)
    for index in data.train_indices:
        assert data.class_names[data.labels[index]] == data.source.paths[index].split("/")[-2]
    held_out = {name.split("/")[-2] for name in data.pairs.image_names}
    assert len(held_out) == 2 and held_out.isdisjoint(data.class_names)


def test_noise_on_a_lazy_source_is_refused(faces_folder, monkeypatch):
    monkeypatch.setattr(datasets_module, "IN_MEMORY_LIMIT", 0)
    config = TrainConfig(data=str(faces_folder), image_size=(16, 16), held_out=0, noise="flip:0.1")
    with pytest.raises(ValueError, match="needs the data in memory"):
        open_training_data(config)


def test_a_small_held_out_fraction_of_a_folder_holds_out_two_identities(tmp_path):
    root = write_tree(tmp_path / "faces", {f"p{i}": 2 for i in range(6)})
    data = open_training_data(TrainConfig(data=str(root), image_size=(16, 16), held_out=0.2))
    assert data.pairs.num_negative > 0


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_training_data(TrainConfig(data=str(tmp_path / "nowhere")))
