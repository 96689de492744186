"""insightface `.bin` files: round trips, the formats others write, refusal of unsafe pickles."""

import io
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from keras_expface.evaluation import UnsafePickleError, load_bin, write_bin
from tests.evaluation.synthetic import identity_images


def encoded(pixels, image_format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def rgb_images(count=8, size=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_round_trip_from_arrays(tmp_path):
    images = rgb_images()
    issame = [True, False, True, False]
    path = write_bin(tmp_path / "set.bin", images, issame)
    pairs = load_bin(path)
    np.testing.assert_array_equal(pairs.images, images)  # PNG: lossless
    np.testing.assert_array_equal(pairs.issame, issame)
    np.testing.assert_array_equal(pairs.pair_indices, [[0, 1], [2, 3], [4, 5], [6, 7]])
    assert pairs.name == "set"
    assert pairs.image_names[5] == f"{path}[5]"
    np.testing.assert_array_equal(pairs.pair_images(), images)


def test_round_trip_grayscale_jpeg_and_resize(tmp_path):
    images, _ = identity_images(2, 2, size=16, channels=1)
    path = write_bin(tmp_path / "grey.bin", images, [True, False], image_format="jpeg")
    pairs = load_bin(path, color_mode="grayscale")
    assert pairs.images.shape == (4, 16, 16, 1)
    assert np.abs(pairs.images.astype(int) - images).mean() < 8  # JPEG: close, not equal
    assert load_bin(path, image_size=(8, 10)).images.shape == (4, 8, 10, 3)


def test_image_files_are_stored_byte_for_byte(tmp_path):
    images = rgb_images(4)
    paths = []
    for index, pixels in enumerate(images):
        path = tmp_path / f"{index}.{'jpg' if index % 2 else 'png'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    Image.fromarray(images[0]).save(tmp_path / "0.bmp")
    paths[0] = tmp_path / "0.bmp"  # not JPEG or PNG: re-encoded as PNG
    bin_path = write_bin(tmp_path / "files.bin", paths, [True, False])
    with open(bin_path, "rb") as file:
        bins, issame = pickle.load(file)  # our own file: trusted
    assert bins[1] == paths[1].read_bytes() and bins[2] == paths[2].read_bytes()
    assert bins[0].startswith(b"\x89PNG")
    assert issame == [True, False]
    np.testing.assert_array_equal(load_bin(bin_path).images[0], images[0])


def test_files_written_by_python3_with_old_protocols(tmp_path):
    images = rgb_images(4)
    bins = [encoded(pixels) for pixels in images]
    cases = {
        "protocol2.bin": (pickle.dumps((bins, [True, False]), protocol=2)),  # bytes via _codecs
        "numpy_bools.bin": pickle.dumps((bins, [np.True_, np.False_]), protocol=2),
        "numpy_array.bin": pickle.dumps((tuple(bins), np.array([True, False])), protocol=4),
        "bytearrays.bin": pickle.dumps(([bytearray(b) for b in bins], [1, 0]), protocol=2),
    }
    for file_name, data in cases.items():
        (tmp_path / file_name).write_bytes(data)
        pairs = load_bin(tmp_path / file_name)
        np.testing.assert_array_equal(pairs.images, images, err_msg=file_name)
        np.testing.assert_array_equal(pairs.issame, [True, False], err_msg=file_name)


def python2_pickle(bins, issame):
    """A protocol-2 pickle as Python 2 writes it: images as 8-bit `str` (BINSTRING)."""
    data = b"\x80\x02]("  # PROTO 2, EMPTY_LIST, MARK
    for item in bins:
        data += b"T" + struct.pack("<i", len(item)) + item  # BINSTRING
    data += b"e]("  # APPENDS, EMPTY_LIST, MARK
    data += b"".join(b"\x88" if same else b"\x89" for same in issame)  # NEWTRUE / NEWFALSE
    return data + b"e\x86."  # APPENDS, TUPLE2, STOP


def test_python2_file(tmp_path):
    images = rgb_images(4)
    path = tmp_path / "py2.bin"
    path.write_bytes(python2_pickle([encoded(p, "JPEG") for p in images], [False, True]))
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(path.read_bytes())  # what a plain Python 3 load does
    pairs = load_bin(path)
    assert pairs.images.shape == (4, 12, 12, 3)
    np.testing.assert_array_equal(pairs.issame, [False, True])


class _RunsCode:
    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


@pytest.mark.parametrize("function", [os.system, eval, exec], ids=["os.system", "eval", "exec"])
def test_malicious_pickle_is_refused_without_running(tmp_path, function):
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "lfw.bin"
    payload = _RunsCode(function, command)
    path.write_bytes(pickle.dumps(([payload, b"x"], [True]), protocol=2))
    with pytest.raises(UnsafePickleError, match="Refused without running it") as error:
        load_bin(path)
    assert str(path) in str(error.value)
    assert ("system" in str(error.value)) or (function.__name__ in str(error.value))
    assert not marker.exists()


def test_codecs_with_other_encodings_is_refused(tmp_path):
    path = tmp_path / "odd.bin"
    # _codecs.encode("...", "zlib") would be a valid call; a pair file never needs it.
    data = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R."
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match="encoding 'zlib'"):
        load_bin(path)


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (b"just some text\n", "is not an insightface .bin pair file"),
        (pickle.dumps({"images": []}), "it holds a dict"),
        (pickle.dumps(([b"a", b"b"], ["yes"])), "its is-same list must hold booleans"),
        (pickle.dumps(([], [])), "empty pair list"),
        (pickle.dumps(([b"a", b"b", b"c"], [True])), "holds 3 images for 1 pairs"),
        (pickle.dumps(([b"a", 7], [True])), "image 1 is a int"),
        (pickle.dumps(([b"not an image", b"x"], [True])), r"image 0 \(pair 0\) cannot be decoded"),
    ],
)
def test_files_that_are_not_pair_files(tmp_path, contents, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(contents)
    with pytest.raises(ValueError, match=message) as error:
        load_bin(path)
    assert str(path) in str(error.value)


def test_mixed_sizes_need_image_size(tmp_path):
    bins = [encoded(rgb_images(1, size=12)[0]), encoded(rgb_images(1, size=10)[0])]
    path = tmp_path / "mixed.bin"
    path.write_bytes(pickle.dumps((bins, [True])))
    with pytest.raises(ValueError, match="pass image_size"):
        load_bin(path)
    assert load_bin(path, image_size=(12, 12)).images.shape == (2, 12, 12, 3)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.bin"):
        load_bin(tmp_path / "nowhere.bin")
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        write_bin(tmp_path / "out.bin", [tmp_path / "missing.png"] * 2, [True])


@pytest.mark.parametrize(
    ("images", "issame", "message"),
    [
        (rgb_images(0), [], "pair list is empty"),
        (rgb_images(3), [True], "3 images for 1 pairs"),
        ([np.zeros((4, 4, 3), "float32")] * 2, [True], "Image 0 must be uint8"),
        (rgb_images(2), ["yes"], "issame must hold booleans"),
    ],
)
def test_write_bin_bad_input(tmp_path, images, issame, message):
    with pytest.raises(ValueError, match=message):
        write_bin(tmp_path / "out.bin", images, issame)
