"""keras_expface.data.identity_folder.IdentityFolderSource: lazily read identity folders."""

import numpy as np
import pytest
from PIL import Image

from keras_expface.data import FaceBatches, FaceDataset, IdentityFolderSource
from keras_expface.data import identity_folder as identity_folder_module


def write_png(path, seed, size=(7, 5), mode="RGB"):
    """A random PNG of `size` (width, height); returns its pixels."""
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    pixels = np.random.default_rng(seed).integers(0, 255, size=shape, dtype=np.uint8)
    Image.fromarray(pixels, mode=mode).save(path)
    return pixels


def write_tree(root, per_identity=(2, 3, 2)):
    for i, count in enumerate(per_identity):
        folder = root / f"person_{i}"
        folder.mkdir(parents=True)
        for j in range(count):
            write_png(folder / f"{j:02d}.png", seed=10 * i + j)
    return root


def test_lists_without_decoding(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "faces")
    (root / "person_1" / "notes.txt").write_text("not an image")
    write_png(root / "person_1" / ".hidden.png", seed=99)

    def no_decoding(*args, **kwargs):
        raise AssertionError("listing must not decode images")

    monkeypatch.setattr(identity_folder_module, "read_image", no_decoding)
    source = IdentityFolderSource(root, image_size=(6, 4))
    assert len(source) == 7 and source.num_classes == 3
    assert source.class_names == ("person_0", "person_1", "person_2")
    assert source.labels.dtype == np.int32
    np.testing.assert_array_equal(source.labels, [0, 0, 1, 1, 1, 2, 2])
    assert source.describe(2) == str(root / "person_1" / "00.png")
    assert source.paths[4].endswith("02.png")
    assert source.image_size == (6, 4)


def test_read_decodes_on_demand(tmp_path):
    root = write_tree(tmp_path / "faces")
    source = IdentityFolderSource(root, image_size=(5, 7))  # the files' own size
    pixels = source.read(3)
    assert pixels.shape == (5, 7, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(source.paths[3]).convert("RGB")))
    # Lazy: a file rewritten after listing is read as it is now.
    new = write_png(source.paths[3], seed=1234)
    np.testing.assert_array_equal(source.read(3), new)


def test_resizes_and_converts_to_grayscale(tmp_path):
    root = write_tree(tmp_path / "faces")
    assert IdentityFolderSource(root, image_size=(9, 4)).read(0).shape == (9, 4, 3)
    grey = IdentityFolderSource(root, image_size=(6, 6), color_mode="grayscale")
    assert grey.read(0).shape == (6, 6, 1) and grey.read(0).dtype == np.uint8


def test_corrupt_files_raise_oserror(tmp_path):
    root = write_tree(tmp_path / "faces")
    broken = root / "person_1" / "zz_broken.png"
    broken.write_bytes(b"\x00garbage, not a png\xff" * 8)
    truncated = root / "person_2" / "zz_truncated.png"
    good = (root / "person_2" / "00.png").read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    source = IdentityFolderSource(root, image_size=(5, 7))  # listing does not fail
    assert len(source) == 9
    with pytest.raises(OSError, match=r"zz_broken\.png"):
        source.read(source.paths.index(str(broken)))
    with pytest.raises(OSError):  # PIL: "image file is truncated"
        source.read(source.paths.index(str(truncated)))


def test_load_skips_and_lists_corrupt_files(tmp_path):
    root = write_tree(tmp_path / "faces")
    broken = root / "person_1" / "zz_broken.png"
    broken.write_bytes(b"garbage bytes" * 10)
    source = IdentityFolderSource(root, image_size=(4, 6))
    with pytest.warns(UserWarning, match="Skipped 1 unreadable image"):
        faces = source.load()
    assert isinstance(faces, FaceDataset)
    assert faces.images.shape == (7, 4, 6, 3) and faces.images.dtype == np.uint8
    np.testing.assert_array_equal(faces.labels, [0, 0, 1, 1, 1, 2, 2])
    assert faces.class_names == source.class_names
    assert str(broken) not in faces.paths
    assert len(faces.skipped) == 1
    path, reason = faces.skipped[0]
    assert path == str(broken) and reason.startswith(("OSError", "UnidentifiedImageError"))


def test_load_a_subset(tmp_path):
    root = write_tree(tmp_path / "faces")
    source = IdentityFolderSource(root, image_size=(5, 7))
    faces = source.load([6, 2])
    assert faces.paths == (source.paths[6], source.paths[2])
    np.testing.assert_array_equal(faces.labels, [2, 1])
    np.testing.assert_array_equal(faces.images[1], source.read(2))
    assert faces.skipped == ()


def test_load_with_nothing_readable_raises(tmp_path):
    (tmp_path / "faces" / "person").mkdir(parents=True)
    (tmp_path / "faces" / "person" / "a.png").write_bytes(b"junk")
    source = IdentityFolderSource(tmp_path / "faces", image_size=(4, 4))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"No image .* \(1 failed\)"):
        source.load()


def test_face_batches_skip_corrupt_files(tmp_path):
    root = write_tree(tmp_path / "faces", per_identity=(2, 2))
    broken = root / "person_0" / "01.png"
    broken.write_bytes(b"garbage")
    source = IdentityFolderSource(root, image_size=(5, 7))
    batches = FaceBatches(source, batch_size=4)
    images, labels = batches[0]
    assert images.shape == (4, 5, 7, 3) and labels.shape == (4,)
    assert list(batches.failures) == [str(broken)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"color_mode": "cmyk"}, "color_mode must be 'rgb' or 'grayscale'"),
        ({"image_size": None}, "image_size must be"),
        ({"image_size": (8,)}, "image_size must be"),
        ({"image_size": (0, 8)}, "image_size must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    root = write_tree(tmp_path / "faces")
    with pytest.raises(ValueError, match=match):
        IdentityFolderSource(root, **kwargs)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        IdentityFolderSource(tmp_path / "nowhere")
