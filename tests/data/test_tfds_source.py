"""keras_expface.data.tfds_source: tfds datasets into a FaceDataset, offline (mocked data)."""

import numpy as np
import pytest
from PIL import Image

tfds = pytest.importorskip(
    "tensorflow_datasets", reason="tensorflow-datasets not installed (keras-expface[tfds])"
)

from keras_expface.data.face_source import FaceDataset  # noqa: E402
from keras_expface.data.tfds_source import load_tfds  # noqa: E402


def mock_data(num_examples):
    """Random examples generated from the dataset's feature spec: no download, no metadata."""
    return tfds.testing.mock_data(
        num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE
    )


def test_registered_dataset_with_text_labels_lfw():
    """lfw's identity is a Text feature named 'label' (person names)."""
    with mock_data(6):
        faces = load_tfds("lfw", image_size=(20, 16), max_images=4)
    assert isinstance(faces, FaceDataset)
    assert faces.images.shape == (4, 20, 16, 3) and faces.images.dtype == np.uint8
    assert faces.labels.dtype == np.int32 and len(faces.labels) == 4
    assert faces.class_names == tuple(sorted(faces.class_names))  # sorted distinct names
    assert sorted(set(faces.labels.tolist())) == list(range(faces.num_classes))
    assert faces.paths[0] == "lfw/train[0]" and faces.skipped == ()


def test_registered_dataset_with_class_label_is_reindexed():
    with mock_data(12):
        faces = load_tfds("mnist", split="test", image_size=None, color_mode="grayscale")
    assert faces.images.shape == (12, 28, 28, 1)
    names = tfds.builder("mnist").info.features["label"].names
    assert set(faces.class_names) <= set(names)
    assert faces.class_names == tuple(sorted(faces.class_names, key=names.index))
    assert faces.labels.max() == faces.num_classes - 1  # compact over the present classes


def test_image_folder_tree(tmp_path):
    rng = np.random.default_rng(0)
    for split, counts in {"train": {"bob": 2, "alice": 1}, "test": {"carol": 1}}.items():
        for person, count in counts.items():
            (tmp_path / split / person).mkdir(parents=True)
            for j in range(count):
                pixels = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / person / f"{j}.png")
    faces = load_tfds(str(tmp_path), image_size=None)
    assert faces.images.shape == (3, 9, 7, 3)
    assert faces.class_names == ("alice", "bob")  # only identities present in the split
    assert sorted(faces.labels.tolist()) == [0, 1, 1]
    by_path = dict(zip(faces.paths, faces.labels.tolist(), strict=True))
    assert by_path[str(tmp_path / "train" / "alice" / "0.png")] == 0
    index = faces.paths.index(str(tmp_path / "train" / "bob" / "1.png"))
    np.testing.assert_array_equal(
        faces.images[index], np.asarray(Image.open(tmp_path / "train" / "bob" / "1.png"))
    )
    with pytest.raises(ValueError, match=r"unknown split 'validation'.*\['test', 'train'\]"):
        load_tfds(str(tmp_path), split="validation")


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="Unknown tfds dataset 'no_such_faces'"):
        load_tfds("no_such_faces")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tfds(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a prepared tfds dataset"):
        load_tfds(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"label_key 'person'.*'image' \(Image\)"):
        load_tfds("lfw", label_key="person")
    with pytest.raises(ValueError, match=r"no ClassLabel.*'image' \(Image\)"):
        load_tfds("celeb_a")  # attributes and landmarks, no identity
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_tfds("mnist", data_dir=str(tmp_path / "tfds"))
