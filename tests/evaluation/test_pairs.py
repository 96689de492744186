"""Pair sources: LFW-style pairs.txt, identity folders (synthetic and ORL faces), by path."""

import pathlib

import keras
import numpy as np
import pytest
from PIL import Image

from keras_expface.evaluation import (
    VerificationPairs,
    evaluate_model,
    load_pairs,
    pairs_from_identity_folder,
    read_lfw_pairs,
    write_bin,
)
from tests.evaluation.synthetic import identity_images, write_identity_folder


@pytest.fixture
def lfw_tree(tmp_path):
    """An LFW-like tree: person/person_000n.jpg, three people."""
    images, _ = identity_images(3, 3, size=10, channels=3, seed=2)
    for index, person in enumerate(("Ann_Lee", "Bo", "Cy")):
        (tmp_path / person).mkdir()
        for number in range(3):
            suffix = ".png" if person == "Cy" else ".jpg"
            Image.fromarray(images[3 * index + number]).save(
                tmp_path / person / f"{person}_{number + 1:04d}{suffix}"
            )
    return tmp_path


def write_pairs(path, text):
    path = pathlib.Path(path)
    path.write_text(text)
    return path


def test_read_lfw_pairs(lfw_tree):
    pairs_file = write_pairs(
        lfw_tree / "pairs.txt", "1\t2\nAnn_Lee\t1\t2\nAnn_Lee 1 Bo 3\n\nCy 2 3\nBo 1 Cy 2\n"
    )
    pairs = read_lfw_pairs(pairs_file)
    assert pairs.name == lfw_tree.name  # "pairs.txt" is named after its image folder
    np.testing.assert_array_equal(pairs.issame, [True, False, True, False])
    # Each image is read once; pairs keep the file's order.
    assert len(pairs.images) == 6
    described = [pairs.describe_pair(index) for index in range(4)]
    assert "Ann_Lee_0001.jpg" in described[1] and "Bo_0003.jpg" in described[1]
    assert "Cy_0002.png" in described[2]
    assert pairs.pair_indices[0, 0] == pairs.pair_indices[1, 0]
    assert pairs.images.shape == (6, 10, 10, 3)


def test_read_lfw_pairs_without_header_and_with_image_root(lfw_tree, tmp_path):
    pairs_file = write_pairs(tmp_path / "dev.txt", "Bo 1 2\nBo 1 Cy 1\n")
    pairs = read_lfw_pairs(
        pairs_file, image_root=lfw_tree, image_size=(8, 8), color_mode="grayscale"
    )
    assert pairs.name == "dev" and pairs.images.shape == (3, 8, 8, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "10 300\nAnn_Lee 1 7\n",
            r"1 image\(s\) of the pairs are missing, e.g. line 2: .*Ann_Lee_0007",
        ),
        ("Ann_Lee 1 Zed 1\n", "line 1: .*Zed_0001"),
        ("Ann_Lee 1\n", r"pairs.txt:1: expected 'name n1 n2' or 'name1 n1 name2 n2'"),
        ("Ann_Lee one two\n", "pairs.txt:1: expected"),
        ("10 300\n", "lists no pair"),
        ("", "lists no pair"),
    ],
)
def test_read_lfw_pairs_bad_input(lfw_tree, text, message):
    with pytest.raises(ValueError, match=message):
        read_lfw_pairs(write_pairs(lfw_tree / "pairs.txt", text))


def test_read_lfw_pairs_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        read_lfw_pairs(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="no_images"):
        read_lfw_pairs(
            write_pairs(tmp_path / "p.txt", "A 1 2\n"), image_root=tmp_path / "no_images"
        )


def test_pairs_from_identity_folder(identity_folder):
    pairs = pairs_from_identity_folder(identity_folder, seed=5)
    labels = np.array([int(pathlib.Path(name).parent.name[2:]) for name in pairs.image_names])
    first, second = labels[pairs.pair_indices[:, 0]], labels[pairs.pair_indices[:, 1]]
    # All positive pairs of identities with 2..6 images, and as many distinct negatives.
    assert pairs.num_positive == sum(n * (n - 1) // 2 for n in range(2, 7)) == 35
    assert pairs.num_negative == 35
    np.testing.assert_array_equal(first == second, pairs.issame)
    assert len({tuple(sorted(pair)) for pair in pairs.pair_indices.tolist()}) == 70
    # Balanced along the list: each of the ten folds holds 3 or 4 of each kind.
    for fold in np.array_split(pairs.issame, 10):
        assert 3 <= fold.sum() <= 4
    assert pairs.name == "faces"
    # Seeded: the same seed gives the same pairs, another seed others.
    again = pairs_from_identity_folder(identity_folder, seed=5)
    np.testing.assert_array_equal(again.pair_indices, pairs.pair_indices)
    other = pairs_from_identity_folder(identity_folder, seed=6)
    assert not np.array_equal(other.pair_indices, pairs.pair_indices)


def test_pairs_from_identity_folder_options(identity_folder):
    pairs = pairs_from_identity_folder(
        identity_folder, identities=["id03", "id04"], positives_per_identity=4, num_negatives=20
    )
    assert (pairs.num_positive, pairs.num_negative, len(pairs.images)) == (8, 20, 11)
    dense = pairs_from_identity_folder(identity_folder, num_negatives=150)  # of 155: listed
    assert dense.num_negative == 150
    with pytest.warns(UserWarning, match="only 155 distinct negative pairs"):
        capped = pairs_from_identity_folder(identity_folder, num_negatives=1000)
    assert capped.num_negative == 155
    with pytest.raises(ValueError, match=r"\['nobody'\] are not sub-folders"):
        pairs_from_identity_folder(identity_folder, identities=["id01", "nobody"])
    with pytest.raises(ValueError, match="needs two identities"):
        pairs_from_identity_folder(identity_folder, identities=["id04"])
    with pytest.raises(ValueError, match="positives_per_identity must be an integer >= 1"):
        pairs_from_identity_folder(identity_folder, positives_per_identity=0)


def test_identity_folder_without_positive_pairs(tmp_path):
    images, labels = identity_images(3, 1)
    root = write_identity_folder(tmp_path / "singles", images, labels)
    with pytest.raises(ValueError, match=r"No identity under .*singles' has two images"):
        pairs_from_identity_folder(root)


def test_load_pairs_dispatches_on_the_path(identity_folder, tmp_path):
    folder_pairs = load_pairs(identity_folder)
    bin_path = write_bin(tmp_path / "set.bin", folder_pairs.pair_images(), folder_pairs.issame)
    from_bin = load_pairs(bin_path)
    np.testing.assert_array_equal(from_bin.pair_images(), folder_pairs.pair_images())
    assert from_bin.name == "set" and load_pairs(bin_path, name="mine").name == "mine"
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        load_pairs(tmp_path / "missing.bin")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"neither a \.bin file"):
        load_pairs(tmp_path / "weights.h5")


def test_verification_pairs_checks():
    images = np.zeros((3, 4, 4, 1), np.uint8)
    with pytest.raises(ValueError, match="the pair list is empty"):
        VerificationPairs("empty", images, np.zeros((0, 2), int), [])
    with pytest.raises(ValueError, match=r"pair 1 refers to image \[2, 3\] but there are 3 images"):
        VerificationPairs("toy", images, [[0, 1], [2, 3]], [True, False])
    with pytest.raises(ValueError, match="one entry per pair"):
        VerificationPairs("toy", images, [[0, 1]], [True, False])
    with pytest.raises(ValueError, match="non-empty name"):
        VerificationPairs("", images, [[0, 1]], [True])


def test_orl_faces_pairs_and_pixel_baseline(orl_faces_dir):
    held_out = [f"s{index}" for index in range(31, 41)]
    pairs = pairs_from_identity_folder(orl_faces_dir, (28, 23), "grayscale", identities=held_out)
    assert (pairs.num_positive, pairs.num_negative) == (450, 450)
    assert len(pairs.images) == 100 and pairs.images.shape[1:] == (28, 23, 1)
    assert all(pathlib.Path(name).parent.name in held_out for name in pairs.image_names)
    for first, second in pairs.pair_indices[pairs.issame][:50]:
        assert (
            pathlib.Path(pairs.image_names[first]).parent
            == pathlib.Path(pairs.image_names[second]).parent
        )
    # Raw pixels as embeddings: well above chance on ORL, far from perfect.
    pixels = keras.Sequential([keras.Input((28, 23, 1)), keras.layers.Flatten()])
    result = evaluate_model(pixels, pairs, preprocessing="unit", batch_size=50)
    assert 0.65 < result.accuracy < 0.99, result.accuracy
    assert 0.7 < result.auc <= 1.0
    assert len(result.notes) == 2  # 450 negatives cannot resolve FAR 1e-3 and 1e-4
