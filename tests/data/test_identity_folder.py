"""keras_expface.data.identity_folder: reading root/<identity>/<image> trees."""

import numpy as np
import pytest
from PIL import Image

from keras_expface.data import list_identity_folder, load_identity_folder


def write_tree(root, identities=3, per_identity=2, size=(10, 8), mode="L"):
    rng = np.random.default_rng(0)
    for i in range(identities):
        folder = root / f"person_{i}"
        folder.mkdir(parents=True)
        for j in range(per_identity):
            shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
            pixels = rng.integers(0, 255, size=shape, dtype=np.uint8)
            Image.fromarray(pixels, mode=mode).save(folder / f"{j:02d}.png")
    return root


def test_reads_labels_sizes_and_modes(tmp_path):
    root = write_tree(tmp_path / "faces")
    faces = load_identity_folder(root, image_size=(6, 5), color_mode="rgb")
    assert faces.images.shape == (6, 6, 5, 3) and faces.images.dtype == np.uint8
    assert faces.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert faces.class_names == ("person_0", "person_1", "person_2")
    grey = load_identity_folder(
        root, image_size=None, color_mode="grayscale", max_images_per_identity=1
    )
    assert grey.images.shape == (3, 8, 10, 1) and grey.labels.tolist() == [0, 1, 2]


def test_corrupt_images_are_skipped_and_listed(tmp_path):
    root = write_tree(tmp_path / "faces")
    (root / "person_1" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="Skipped 1 unreadable image"):
        faces = load_identity_folder(root, image_size=(6, 5))
    assert len(faces.images) == 6
    assert faces.skipped[0][0].endswith("broken.jpg")


def test_missing_and_empty_folders_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_identity_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "person").mkdir(parents=True)
    with (
        pytest.warns(UserWarning, match="holds no image file"),
        pytest.raises(ValueError, match="no identity sub-folder"),
    ):
        list_identity_folder(tmp_path / "empty")


def test_mixed_sizes_need_image_size(tmp_path):
    root = write_tree(tmp_path / "a", identities=1)
    write_tree(tmp_path / "b", identities=1, size=(12, 9))
    (tmp_path / "b" / "person_0").rename(root / "person_9")
    with pytest.raises(ValueError, match="different sizes"):
        load_identity_folder(root, image_size=None)


def test_orl_faces(orl_faces_dir):
    faces = load_identity_folder(orl_faces_dir, image_size=None, color_mode="grayscale")
    assert faces.images.shape == (400, 112, 92, 1)
    assert faces.num_classes == 40 and np.bincount(faces.labels).tolist() == [10] * 40
