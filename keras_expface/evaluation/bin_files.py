"""insightface `.bin` verification files (LFW, CFP-FP, AgeDB-30, ...), read without running code.

A `.bin` file is a pickle of `(bins, issame_list)`: `bins` holds `2 * len(issame_list)`
encoded images (JPEG or PNG bytes), images `2i` and `2i + 1` form pair `i`, and
`issame_list[i]` says whether they show one identity. Files written by Python 2 hold `str`
images, read here as bytes (`encoding="bytes"`, as insightface does).

`pickle.load` would run whatever a file asks for. `load_bin` unpickles with an `Unpickler`
that admits only the types such a file is made of (lists, tuples, bytes, booleans, and the
NumPy booleans and arrays some writers leave), and raises `UnsafePickleError` on anything
else, before it runs.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Sequence

import numpy as np

from keras_expface.data import read_image
from keras_expface.evaluation._utils import as_bool_array, import_optional
from keras_expface.evaluation.verification_pairs import VerificationPairs

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class UnsafePickleError(ValueError):
    """A `.bin` file asks the unpickler for something a pair file never holds."""


def _numpy_multiarray():
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - NumPy < 1.26
        from numpy.core import multiarray
    return multiarray


def _latin1_encode(text, encoding="latin1"):
    # Python 3 writes bytes with pickle protocol < 3 as `_codecs.encode(str, "latin1")`.
    if encoding.replace("-", "").replace("_", "").lower() != "latin1" or not isinstance(text, str):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError(f"a NumPy scalar of dtype {dtype!r}")
    return _numpy_multiarray().scalar(dtype, *args)


def _numpy_reconstruct(subtype, *args):
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"an array of type {subtype!r}")
    return _numpy_multiarray()._reconstruct(subtype, *args)


def _allowed_globals():
    allowed = {
        ("_codecs", "encode"): _latin1_encode,
        ("builtins", "bytearray"): bytearray,
        ("__builtin__", "bytearray"): bytearray,  # the Python 2 name, kept by protocol < 3
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "scalar")] = _numpy_scalar
        allowed[(module, "_reconstruct")] = _numpy_reconstruct
    return allowed


class _PairFileUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a `.bin` pair file needs."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"persistent id {pid!r}")


def _unpickle(path: str):
    try:
        with open(path, "rb") as file:
            return _PairFileUnpickler(file).load()
    except UnicodeDecodeError:
        # A Python 2 file with `str` images: read them as bytes, as insightface does.
        with open(path, "rb") as file:
            return _PairFileUnpickler(file, encoding="bytes").load()


def _as_image_bytes(item) -> bytes | None:
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 1:
        return item.tobytes()
    return None


def _check_contents(path: str, contents) -> tuple[list[bytes], np.ndarray]:
    not_pair_file = f"{path!r} is not an insightface .bin pair file (a pickle of (images, issame))"
    if not isinstance(contents, tuple | list) or len(contents) != 2:
        raise ValueError(f"{not_pair_file}: it holds a {type(contents).__name__}.")
    bins, issame = contents
    if not isinstance(bins, list | tuple) or not isinstance(issame, list | tuple | np.ndarray):
        raise ValueError(
            f"{not_pair_file}: it holds ({type(bins).__name__}, {type(issame).__name__})."
        )
    if len(issame) == 0:
        raise ValueError(f"{path!r} holds an empty pair list.")
    issame = as_bool_array(issame, f"{not_pair_file}: its is-same list")
    if issame.ndim != 1:
        raise ValueError(f"{not_pair_file}: its is-same list is not a flat list.")
    if len(bins) != 2 * len(issame):
        raise ValueError(
            f"{path!r} holds {len(bins)} images for {len(issame)} pairs; a .bin file holds two "
            "images per pair."
        )
    images = []
    for index, item in enumerate(bins):
        data = _as_image_bytes(item)
        if data is None:
            raise ValueError(
                f"{not_pair_file}: image {index} is a {type(item).__name__}, not encoded bytes."
            )
        images.append(data)
    return images, issame


def load_bin(
    path: str,
    image_size: Sequence[int] | None = None,
    color_mode: str = "rgb",
    name: str | None = None,
) -> VerificationPairs:
    """Reads an insightface `.bin` verification file (lfw.bin, cfp_fp.bin, agedb_30.bin, ...).

    The file is unpickled without running code: only lists, tuples, bytes, booleans and
    NumPy booleans or arrays are admitted; anything else raises `UnsafePickleError` before
    it runs. Images are decoded with Pillow (`keras_expface.data.read_image`).

    Args:
        path: The `.bin` file.
        image_size: `(height, width)` to resize to (bilinear), or `None` to keep the stored
            size (112 x 112 in insightface's files). Defaults to `None`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        name: Name of the pair set. Defaults to `None` (the file name without `.bin`).

    Returns:
        `VerificationPairs` with pairs `(0, 1), (2, 3), ...`; image names `path[index]`.

    Raises:
        FileNotFoundError: If the file does not exist.
        UnsafePickleError: If the pickle asks for anything a pair file does not hold.
        ValueError: If the file is not a `.bin` pair file, an image cannot be decoded, or
            images differ in size with `image_size=None`; the message names the file and the
            image.

    Example:

    ```python
    lfw = load_bin("faces_emore/lfw.bin")
    lfw.images.shape, lfw.num_pairs  # ((12000, 112, 112, 3), 6000)
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Pair file {path!r} does not exist.")
    try:
        contents = _unpickle(path)
    except UnsafePickleError as error:
        raise UnsafePickleError(
            f"{path!r} is not a plain insightface .bin pair file: it asks to load {error}, which "
            "a pair file never holds. Refused without running it (unpickling it could run code)."
        ) from None
    except Exception as error:  # any failure to parse means: not a pair file
        raise ValueError(
            f"{path!r} is not an insightface .bin pair file (a pickle of (images, issame)): "
            f"{type(error).__name__}: {error}"
        ) from error
    encoded, issame = _check_contents(path, contents)

    images = None
    for index, data in enumerate(encoded):
        try:
            pixels = read_image(io.BytesIO(data), image_size, color_mode)
        except (OSError, ValueError, SyntaxError) as error:
            raise ValueError(
                f"{path!r}: image {index} (pair {index // 2}) cannot be decoded: {error}"
            ) from error
        if images is None:
            images = np.empty((len(encoded), *pixels.shape), dtype=np.uint8)
        elif pixels.shape != images.shape[1:]:
            raise ValueError(
                f"{path!r}: image {index} is {pixels.shape}, image 0 is {images.shape[1:]}; pass "
                "image_size to resize them to one size."
            )
        images[index] = pixels
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    return VerificationPairs(
        name=name,
        images=images,
        pair_indices=np.arange(len(encoded)).reshape(-1, 2),
        issame=issame,
        image_names=tuple(f"{path}[{index}]" for index in range(len(encoded))),
    )


def _encode_array(pixels: np.ndarray, image_format: str, index: int) -> bytes:
    Image = import_optional("PIL.Image")

    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if (
        pixels.dtype != np.uint8
        or pixels.ndim not in (2, 3)
        or (pixels.ndim == 3 and pixels.shape[-1] != 3)
    ):
        raise ValueError(
            f"Image {index} must be uint8 (height, width), (height, width, 1) or "
            f"(height, width, 3); got {pixels.dtype} {pixels.shape}."
        )
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def _encode_file(path: str, image_format: str) -> bytes:
    Image = import_optional("PIL.Image")

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file {path!r} does not exist.")
    with open(path, "rb") as file:
        data = file.read()
    if data.startswith((_JPEG_MAGIC, _PNG_MAGIC)):
        return data  # stored as it is, no re-encoding
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image if image.mode in ("L", "RGB") else image.convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, format=image_format)
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"Image file {path!r} cannot be decoded: {error}") from error
    return buffer.getvalue()


def write_bin(
    path: str,
    images,
    issame: Sequence[bool],
    image_format: str = "png",
) -> str:
    """Writes an insightface `.bin` verification file that `load_bin` and insightface read.

    Args:
        path: The file to write.
        images: `2 * len(issame)` images in pair order: image files (JPEG and PNG files are
            stored byte for byte, other formats are re-encoded) or uint8 arrays
            `(height, width[, channels])`, or one `(2 * num_pairs, height, width, channels)`
            array. For a `VerificationPairs`, pass `pairs.pair_images()`.
        issame: One boolean per pair.
        image_format: `"png"` (lossless) or `"jpeg"`, the encoding of arrays and re-encoded
            files. Defaults to `"png"`.

    Returns:
        `path`.

    Raises:
        ValueError: On an empty pair list, a count of images other than two per pair, or an
            image that cannot be encoded (named by index or path).
        FileNotFoundError: If an image file is missing (named).

    Example:

    ```python
    pairs = pairs_from_identity_folder("held_out_faces", image_size=(112, 112))
    write_bin("held_out.bin", pairs.pair_images(), pairs.issame)
    ```
    """
    path = os.fspath(path)
    image_format = image_format.lower()
    if image_format not in ("png", "jpeg"):
        raise ValueError(f"image_format must be 'png' or 'jpeg'; got {image_format!r}.")
    issame = as_bool_array(issame, "issame").reshape(-1).tolist()  # Python bools, as insightface
    if not issame:
        raise ValueError(f"Cannot write {path!r}: the pair list is empty.")
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) != 2 * len(issame):
        raise ValueError(
            f"Cannot write {path!r}: {len(images)} images for {len(issame)} pairs; a .bin file "
            "holds two images per pair, in pair order."
        )
    bins = []
    for index, item in enumerate(images):
        if isinstance(item, str | os.PathLike):
            bins.append(_encode_file(os.fspath(item), image_format))
        else:
            bins.append(_encode_array(item, image_format, index))
    with open(path, "wb") as file:
        pickle.dump((bins, issame), file, protocol=4)
    return path
