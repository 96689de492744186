"""keras_expface.data.synthetic: procedurally drawn identity faces."""

import numpy as np
import pytest

from keras_expface.data.face_source import FaceDataset
from keras_expface.data.synthetic import make_synthetic_faces, synthetic_identity_name

SIZE = (32, 32)


def test_shapes_dtypes_labels_names_and_paths():
    faces = make_synthetic_faces(3, 4, image_size=(24, 20), seed=5, first_identity=7)
    assert isinstance(faces, FaceDataset)
    assert faces.images.shape == (12, 24, 20, 3) and faces.images.dtype == np.uint8
    assert faces.labels.dtype == np.int32 and faces.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert faces.class_names == ("id00007", "id00008", "id00009")
    assert (
        faces.paths[5] == "synthetic/id00008/001" and faces.describe(0) == "synthetic/id00007/000"
    )
    grey = make_synthetic_faces(
        3, 4, image_size=(24, 20), seed=5, first_identity=7, color_mode="grayscale"
    )
    assert grey.images.shape == (12, 24, 20, 1) and grey.images.dtype == np.uint8
    luminance = faces.images.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(grey.images[..., 0] - luminance).max() <= 1.5
    assert synthetic_identity_name(12345) == "id12345"


def test_deterministic_by_seed():
    first = make_synthetic_faces(3, 3, SIZE, seed=11)
    again = make_synthetic_faces(3, 3, SIZE, seed=11)
    other = make_synthetic_faces(3, 3, SIZE, seed=12)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)


def test_identities_and_images_do_not_depend_on_the_call():
    big = make_synthetic_faces(6, 4, SIZE, seed=3)
    small = make_synthetic_faces(2, 2, SIZE, seed=3)  # fewer identities and images
    np.testing.assert_array_equal(small.images[:2], big.images[:2])
    np.testing.assert_array_equal(small.images[2:], big.images[4:6])
    shifted = make_synthetic_faces(2, 4, SIZE, seed=3, first_identity=4)
    np.testing.assert_array_equal(shifted.images, big.images[16:])
    assert shifted.class_names == big.class_names[4:]


def test_canonical_faces_without_nuisance():
    faces = make_synthetic_faces(3, 3, SIZE, seed=1, nuisance=0)
    for identity in range(3):
        images = faces.images[faces.labels == identity]
        assert (images == images[0]).all()  # no nuisance: one image per identity
    assert not np.array_equal(faces.images[0], faces.images[3])


def pixel_distances(faces):
    """Mean RMS pixel distance of two images of one identity, and of two identities."""
    x = faces.images.reshape(len(faces), -1).astype(np.float32) / 255
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).mean(-1))
    same = faces.labels[:, None] == faces.labels[None]
    off_diagonal = ~np.eye(len(x), dtype=bool)
    return distances[same & off_diagonal].mean(), distances[~same].mean()


def test_within_identity_images_are_closer_than_between():
    within, between = pixel_distances(make_synthetic_faces(12, 6, SIZE, seed=0, nuisance=0.3))
    assert 0 < within < 0.6 * between
    within, between = pixel_distances(make_synthetic_faces(12, 6, SIZE, seed=0))
    assert 0 < within < between
    # ... and at full nuisance images of one identity still all differ.
    full = make_synthetic_faces(2, 5, SIZE, seed=0)
    flat = full.images.reshape(10, -1)
    assert len({row.tobytes() for row in flat}) == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_identities": 0}, "num_identities"),
        ({"images_per_identity": 1.5}, "images_per_identity"),
        ({"image_size": (4, 32)}, "image_size"),
        ({"image_size": (32,)}, "image_size"),
        ({"image_size": "big"}, "image_size"),
        ({"color_mode": "bgr"}, "color_mode"),
        ({"seed": -1}, "seed"),
        ({"nuisance": -0.1}, "nuisance"),
        ({"nuisance": float("nan")}, "nuisance"),
        ({"first_identity": -3}, "first_identity"),
        ({"num_identities": True}, "num_identities"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_faces(**{"num_identities": 2, "images_per_identity": 2, **kwargs})
