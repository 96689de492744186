"""insightface training records (MXNet RecordIO `train.rec` + `train.idx`), read without mxnet.

The face-recognition training sets of insightface (CASIA-WebFace, MS1MV2/MS1MV3, Glint360k,
WebFace) ship as MXNet *indexed RecordIO* files. This module reads and writes that format with
the standard library, numpy and Pillow only.

Format (dmlc-core `recordio` + `mxnet.recordio`), all little-endian:

* `.rec`: records back to back. Each record is `magic` (uint32 `0xced7230a`), `lrecord`
  (uint32: the top 3 bits `cflag`, the low 29 bits the data length), the data, then zero
  padding to a multiple of 4 bytes. Data holding the magic word at a 4-byte aligned position is
  split into parts (`cflag` 1 = first, 2 = middle, 3 = last; 0 = whole record) and the magic
  words are dropped; a reader puts them back between the parts.
* record data: an `IRHeader` (`struct` `"<IfQQ"`: `flag`, `label`, `id`, `id2`; 24 bytes), then
  `flag` float32 labels when `flag > 0` (the `label` field then unused), then the payload (an
  encoded JPEG/PNG image).
* `.idx`: one text line per record, `key<TAB>byte offset of the record in the .rec`.
* insightface layout: record 0 is a header with `flag >= 2`, labels `[a, b]` and no payload;
  records `1 .. a-1` are images (label: a float, or the first of an array), records
  `a .. b-1` describe identities (labels: the `[first, end)` range of their images). A `property`
  file beside the records holds `num_classes,height,width`.
* plain layout (e.g. `im2rec` output): every record of the `.idx` is an image.
"""

from __future__ import annotations

import io
import math
import os
import pathlib
import struct
import threading
import warnings
from collections.abc import Sequence

import numpy as np

from keras_expface.data.face_source import FaceDataset, FaceSource

__all__ = [
    "RECORDIO_MAGIC",
    "RecordFaceSource",
    "load_record_file",
    "write_record_file",
]

#: The magic word that starts every RecordIO record part.
RECORDIO_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_LENGTH_BITS = 29
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
#: `IRHeader`: flag (uint32), label (float32), id (uint64), id2 (uint64).
_IR_FORMAT = "<IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)  # 24
#: Labels are stored as float32: integers above 2**24 are not exact.
_MAX_LABEL = 1 << 24
#: Records whose heads are gathered at once when scanning labels (~20 MB of indices).
_SCAN_CHUNK = 1 << 16


def _open_pil():
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Decoding record images needs Pillow: pip install 'keras-expface[images]'."
        ) from error
    return Image


def _check_color_mode(color_mode: str) -> None:
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale'; got {color_mode!r}.")


def _decode_image(payload: bytes, image_size, color_mode: str) -> np.ndarray:
    """Decodes an encoded image like `read_image` does a file (convert, bilinear resize)."""
    Image = _open_pil()
    with Image.open(io.BytesIO(payload)) as image:
        image = image.convert("RGB" if color_mode == "rgb" else "L")
        if image_size is not None:
            height, width = image_size
            image = image.resize((int(width), int(height)), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _unpack(data: bytes, where: str) -> tuple[int, np.ndarray, bytes]:
    """Splits record data into `(flag, labels (float32 array), payload)`."""
    if len(data) < _IR_SIZE:
        raise ValueError(
            f"{where}: record holds {len(data)} bytes, fewer than the {_IR_SIZE}-byte image "
            "header (IRHeader)."
        )
    flag, label, _, _ = struct.unpack_from(_IR_FORMAT, data)
    if flag == 0:
        return 0, np.array([label], np.float32), data[_IR_SIZE:]
    end = _IR_SIZE + 4 * flag
    if len(data) < end:
        raise ValueError(
            f"{where}: header flag {flag} announces {flag} float labels but the record holds "
            f"only {len(data) - _IR_SIZE} bytes after the header (label field truncated)."
        )
    return flag, np.frombuffer(data, "<f4", flag, _IR_SIZE).astype(np.float32), data[end:]


def _int_label(value: float, where: str) -> int:
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise ValueError(f"{where}: label {value!r} is not a non-negative integer class index.")
    return int(value)


def _read_index(idx_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Parses a `.idx` file into `(keys, offsets)` (int64, in file order)."""
    with open(idx_path, "rb") as file:
        text = file.read()
    lines = [line for line in text.splitlines() if line.strip()]
    tokens = text.split()
    try:
        if len(tokens) != 2 * len(lines):
            raise ValueError
        table = np.array(tokens, dtype=np.bytes_).astype(np.int64).reshape(-1, 2)
    except ValueError:
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not all(f.lstrip(b"-").isdigit() for f in fields):
                raise ValueError(
                    f"{idx_path}, line {number}: expected 'key<TAB>offset' (two integers); got "
                    f"{line[:80]!r}."
                ) from None
        raise  # pragma: no cover - the scan above finds the bad line
    if not len(table):
        raise ValueError(f"Index file {idx_path} lists no record.")
    keys, offsets = table[:, 0], table[:, 1]
    if offsets.min() < 0:
        bad = int(np.argmax(offsets < 0))
        raise ValueError(f"{idx_path}: record {keys[bad]} has negative offset {offsets[bad]}.")
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{idx_path}: key {unique[counts > 1][0]} is listed more than once.")
    return keys, offsets


class RecordFaceSource(FaceSource):
    """Lazy face source over an MXNet indexed RecordIO file (insightface `train.rec`).

    Opening reads the `.idx` and the image headers only (vectorised over a memory map, so a
    few seconds for MS1MV3's 5.2M records); `read` decodes one JPEG/PNG payload with Pillow.
    Both layouts are understood: insightface's (record 0 a header, then the images, then one
    record per identity) and a plain one where every record is an image (`im2rec`).

    Labels are the images' header labels (the first one when a record holds an array), as
    insightface's `MXFaceDataset` reads them. Class names are `"0" .. "C-1"` with `C` from the
    `property` file beside the records (`num_classes,height,width`), else from the identity
    records of the insightface layout, else the largest label + 1.

    The source can be pickled (worker processes reopen the file) and read from threads.

    Args:
        path: The `.rec` file, or a folder holding `train.rec` (as insightface datasets unpack).
            The index is the same path ending in `.idx`.
        image_size: `(height, width)` to resize to (bilinear), or `None` to keep the stored
            size. Defaults to `(112, 112)`, the size of insightface's aligned faces.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.

    Attributes:
        rec_path: The `.rec` file. `idx_path`: its index.
        keys: `(N,)` record key of each sample (what `describe` shows).
        layout: `"insightface"` or `"plain"`.
        stored_image_size: `(height, width)` from the `property` file, or `None`.

    Raises:
        FileNotFoundError: If the `.rec` or its `.idx` does not exist.
        ValueError: If the files are not RecordIO (wrong magic), a record is truncated, the
            index is malformed, or a label is not an integer in `[0, num_classes)`; the message
            names the file, the record key and the field.

    Example:

    ```python
    faces = RecordFaceSource("faces_webface_112x112")  # holds train.rec, train.idx, property
    len(faces), faces.num_classes  # (490623, 10572)
    pixels = faces.read(0)  # (112, 112, 3) uint8
    ```
    """

    def __init__(
        self,
        path: str | os.PathLike,
        image_size: Sequence[int] | None = (112, 112),
        color_mode: str = "rgb",
    ):
        _check_color_mode(color_mode)
        path = os.fspath(path)
        rec_path = os.path.join(path, "train.rec") if os.path.isdir(path) else path
        if not os.path.isfile(rec_path):
            raise FileNotFoundError(f"RecordIO file {rec_path!r} does not exist.")
        idx_path = os.path.splitext(rec_path)[0] + ".idx"
        if not os.path.isfile(idx_path):
            raise FileNotFoundError(
                f"Index file {idx_path!r} of {rec_path!r} does not exist; RecordIO records are "
                "read through their '.idx' (lines 'key<TAB>offset') beside the '.rec'."
            )
        self.rec_path, self.idx_path = rec_path, idx_path
        self.image_size = None if image_size is None else tuple(int(s) for s in image_size)
        self.color_mode = color_mode
        self._fd = None
        self._lock = threading.Lock()
        self._size = os.path.getsize(rec_path)

        all_keys, all_offsets = _read_index(idx_path)
        order = np.argsort(all_keys, kind="stable")
        self._index_keys, self._index_offsets = all_keys[order], all_offsets[order]
        bad = np.flatnonzero(all_offsets + 8 > self._size)
        if len(bad):
            raise ValueError(
                f"{rec_path} is truncated: record {all_keys[bad[0]]} of {idx_path} starts at "
                f"byte {all_offsets[bad[0]]} but the file holds {self._size} bytes."
            )

        num_identities = None
        header0 = self._insightface_header()
        if header0 is not None:
            first, end = header0
            self.layout = "insightface"
            keys = np.arange(1, first, dtype=np.int64)
            num_identities = end - first if end > first else None
        else:
            self.layout = "plain"
            keys = all_keys
        self.keys = keys
        self._offsets = self._lookup(keys)
        if (self._offsets < 0).any():
            missing = keys[self._offsets < 0][0]
            raise ValueError(
                f"Image record {missing} of {rec_path} is not in {idx_path}"
                + (
                    f" (the header {self.describe_key(0)} announces records 1..{keys[-1]})."
                    if header0
                    else "."
                )
            )

        del self._index_keys, self._index_offsets  # only needed to resolve keys
        raw_labels = self._scan_labels()
        self.stored_image_size = None
        num_classes, origin = None, None
        property_path = os.path.join(os.path.dirname(rec_path), "property")
        if os.path.isfile(property_path):
            num_classes, self.stored_image_size = _read_property(property_path)
            origin = f"the property file {property_path}"
        elif num_identities is not None:
            num_classes, origin = num_identities, f"the identity records of {rec_path}"
        if num_classes is None:
            num_classes = int(raw_labels.max()) + 1 if len(raw_labels) else 0
        elif len(raw_labels) and raw_labels.max() >= num_classes:
            bad = int(np.argmax(raw_labels >= num_classes))
            raise ValueError(
                f"{self.describe(bad)}: label {raw_labels[bad]} is out of range: {origin} gives "
                f"{num_classes} classes (labels 0..{num_classes - 1})."
            )
        self.labels = raw_labels.astype(np.int32)
        self.class_names = tuple(str(i) for i in range(num_classes))

    # -- file access -----------------------------------------------------------------------

    def _pread(self, offset: int, size: int) -> bytes:
        if self._fd is None:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.rec_path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        if hasattr(os, "pread"):
            return os.pread(self._fd, size, offset)
        with self._lock:  # pragma: no cover - Windows
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, size)

    def _read_record(self, key: int, offset: int) -> bytes:
        """The data of record `key` at `offset`, its split parts joined (ValueError if bad)."""
        parts, first = [], True
        while True:
            head = self._pread(offset, 8)
            where = f"{self.describe_key(key)} at byte {offset}"
            if len(head) < 8:
                raise ValueError(f"{where}: truncated record (file ends inside its 8-byte head).")
            magic, lrecord = struct.unpack("<II", head)
            if magic != RECORDIO_MAGIC:
                raise ValueError(
                    f"{where}: wrong magic 0x{magic:08x} (RecordIO records start with "
                    f"0x{RECORDIO_MAGIC:08x}); not a RecordIO file or a wrong .idx offset."
                )
            cflag, length = lrecord >> _LENGTH_BITS, lrecord & _LENGTH_MASK
            if cflag not in ((0, 1) if first else (2, 3)):
                raise ValueError(f"{where}: unexpected continuation flag {cflag} in the record.")
            data = self._pread(offset + 8, length)
            if len(data) < length:
                raise ValueError(
                    f"{where}: truncated record: its head announces {length} bytes, the file "
                    f"holds {len(data)}."
                )
            parts.append(data)
            if cflag in (0, 3):
                return b"".join(parts)
            parts.append(_MAGIC_BYTES)
            offset += 8 + ((length + 3) & ~3)
            first = False

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """The `.idx` offsets of `keys` (-1 where a key is not listed)."""
        at = np.minimum(np.searchsorted(self._index_keys, keys), len(self._index_keys) - 1)
        return np.where(self._index_keys[at] == keys, self._index_offsets[at], -1)

    def _insightface_header(self) -> tuple[int, int] | None:
        """`(first identity record, end)` when record 0 is insightface's header, else None."""
        offset = int(self._lookup(np.zeros(1, np.int64))[0])
        if offset < 0:
            return None
        data = self._read_record(0, offset)
        flag, labels, payload = _unpack(data, self.describe_key(0))
        if flag < 2 or payload:
            return None
        first, end = (_int_label(float(v), f"{self.describe_key(0)} header") for v in labels[:2])
        if first < 1:
            raise ValueError(f"{self.describe_key(0)}: header label[0] {first} must be >= 1.")
        return first, end

    def _scan_labels(self) -> np.ndarray:
        """Reads every image's label from its header, vectorised over a memory map."""
        count = len(self._offsets)
        labels = np.zeros(count, np.float64)
        if not count:
            return labels.astype(np.int64)
        mapped = np.memmap(self.rec_path, dtype=np.uint8, mode="r")
        try:
            span = np.arange(8 + _IR_SIZE + 4)  # head, IRHeader, first array label
            for start in range(0, count, _SCAN_CHUNK):
                offsets = self._offsets[start : start + (_SCAN_CHUNK)]
                positions = np.minimum(offsets[:, None] + span, self._size - 1)
                block = np.ascontiguousarray(mapped[positions])
                words = block.view("<u4")  # (n, 9)
                self._check_heads(start, offsets, words)
                flags, cflags = words[:, 2], words[:, 1] >> _LENGTH_BITS
                scalar = np.ascontiguousarray(words[:, 3]).view("<f4").astype(np.float64)
                first = np.ascontiguousarray(words[:, 8]).view("<f4").astype(np.float64)
                labels[start : start + len(offsets)] = np.where(flags > 0, first, scalar)
                for row in np.flatnonzero(cflags == 1):  # split records: read them whole
                    index = start + int(row)
                    key = int(self.keys[index])
                    data = self._read_record(key, int(self._offsets[index]))
                    labels[index] = _unpack(data, self.describe_key(key))[1][0]
        finally:
            del mapped
        bad = ~np.isfinite(labels) | (labels < 0) | (labels != np.floor(labels))
        bad |= labels >= _MAX_LABEL
        if bad.any():
            index = int(np.argmax(bad))
            raise ValueError(
                f"{self.describe(index)}: label {float(labels[index])!r} is not a non-negative "
                "integer class index."
            )
        return labels.astype(np.int64)

    def _check_heads(self, start: int, offsets: np.ndarray, words: np.ndarray) -> None:
        """Raises a ValueError naming the first record with a bad magic, length or label."""
        magic, lrecord, flags = words[:, 0], words[:, 1], words[:, 2]
        cflags, lengths = lrecord >> _LENGTH_BITS, (lrecord & _LENGTH_MASK).astype(np.int64)
        whole = cflags == 0
        checks = [
            (magic != RECORDIO_MAGIC, "wrong magic (not a RecordIO file or a wrong .idx offset)"),
            ((cflags != 0) & (cflags != 1), "unexpected continuation flag"),
            (whole & (offsets + 8 + lengths > self._size), "truncated record (file ends early)"),
            (whole & (lengths < _IR_SIZE), f"record shorter than the {_IR_SIZE}-byte IRHeader"),
            (
                whole & (flags > 0) & (lengths < _IR_SIZE + 4 * flags.astype(np.int64)),
                "label field truncated (header flag announces more float labels than stored)",
            ),
        ]
        for mask, problem in checks:
            if mask.any():
                row = int(np.argmax(mask))
                raise ValueError(
                    f"{self.describe(start + row)} at byte {offsets[row]}: {problem}; head "
                    f"magic 0x{int(magic[row]):08x}, lrecord 0x{int(lrecord[row]):08x}."
                )

    # -- FaceSource ------------------------------------------------------------------------

    def describe_key(self, key: int) -> str:
        """`"<rec_path>[<key>]"`: how reports name record `key`."""
        return f"{self.rec_path}[{key}]"

    def describe(self, index: int) -> str:
        return self.describe_key(int(self.keys[index]))

    def read(self, index: int) -> np.ndarray:
        key, offset = int(self.keys[index]), int(self._offsets[index])
        Image = _open_pil()
        try:
            data = self._read_record(key, offset)
            _, _, payload = _unpack(data, self.describe_key(key))
            return _decode_image(payload, self.image_size, self.color_mode)
        except (ValueError, SyntaxError, OSError, Image.DecompressionBombError) as error:
            raise OSError(
                f"{self.describe_key(key)}: cannot decode the image ({type(error).__name__}: "
                f"{error})."
            ) from error

    def close(self) -> None:
        """Closes the `.rec` file (it reopens on the next `read`)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RecordFaceSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fd"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _read_property(path: str) -> tuple[int, tuple[int, int] | None]:
    """Parses insightface's `property` file: `num_classes,height,width`."""
    with open(path, encoding="utf-8") as file:
        text = file.read().strip()
    fields = [f.strip() for f in text.split(",")]
    try:
        numbers = [int(f) for f in fields]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 3) or min(numbers) <= 0:
        raise ValueError(
            f"Property file {path}: expected 'num_classes,height,width' (positive integers); "
            f"got {text[:80]!r}."
        )
    return numbers[0], (tuple(numbers[1:]) if len(numbers) == 3 else None)


def load_record_file(
    path: str | os.PathLike,
    image_size: Sequence[int] | None = (112, 112),
    color_mode: str = "rgb",
    max_images: int | None = None,
) -> FaceDataset:
    """Reads the images of an insightface record file into memory.

    Records whose image cannot be decoded are skipped, counted and listed in `skipped`
    (`("train.rec[17]", reason)`), with a warning. For large sets (MS1MV3, Glint360k) use the
    lazy `RecordFaceSource` instead.

    Args:
        path: The `.rec` file, or a folder holding `train.rec` (see `RecordFaceSource`).
        image_size: `(height, width)`, or `None` to keep the stored size. Defaults to
            `(112, 112)`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        max_images: Read at most the first this many images. Defaults to `None` (all).

    Returns:
        A `FaceDataset`; `paths` name the records (`"<rec_path>[<key>]"`), `class_names` are
        those of the source (all classes, even those left out by `max_images`).

    Raises:
        FileNotFoundError, ValueError: As `RecordFaceSource`; ValueError also when no image
            could be decoded.

    Example:

    ```python
    faces = load_record_file("faces_webface_112x112/train.rec", max_images=1000)
    faces.images.shape  # (1000, 112, 112, 3)
    ```
    """
    with RecordFaceSource(path, image_size, color_mode) as source:
        count = len(source) if max_images is None else min(int(max_images), len(source))
        images, labels, paths, skipped = [], [], [], []
        for index in range(count):
            try:
                pixels = source.read(index)
            except OSError as error:
                skipped.append((source.describe(index), str(error)))
                continue
            images.append(pixels)
            labels.append(source.labels[index])
            paths.append(source.describe(index))
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable record(s) of {source.rec_path!r}, e.g. "
            f"{skipped[0][0]!r}.",
            stacklevel=2,
        )
    if not images:
        raise ValueError(f"No image of {source.rec_path!r} could be read ({len(skipped)} failed).")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(
            f"Images of {source.rec_path!r} have different sizes {sorted(shapes)[:3]}...; pass "
            "image_size."
        )
    return FaceDataset(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int32),
        class_names=source.class_names,
        paths=tuple(paths),
        skipped=tuple(skipped),
    )


# -- writing -------------------------------------------------------------------------------


def _pack_record(data: bytes) -> bytes:
    """One RecordIO record (dmlc layout): aligned magic words inside `data` split it."""
    if len(data) >= 1 << _LENGTH_BITS:
        raise ValueError(f"A RecordIO record holds < 2**29 bytes; got {len(data)}.")
    out, start = [], 0
    for position in range(0, len(data) - 3, 4):
        if data[position : position + 4] == _MAGIC_BYTES:
            cflag = 1 if start == 0 else 2
            out += [_MAGIC_BYTES, struct.pack("<I", cflag << _LENGTH_BITS | (position - start))]
            out.append(data[start:position])
            start = position + 4
    cflag = 3 if start else 0
    out += [_MAGIC_BYTES, struct.pack("<I", cflag << _LENGTH_BITS | (len(data) - start))]
    out += [data[start:], b"\0" * (-len(data) % 4)]
    return b"".join(out)


def _ir_data(key: int, label, payload: bytes = b"") -> bytes:
    """`IRHeader` + labels + payload, as `mxnet.recordio.pack` builds them."""
    if np.ndim(label) == 0:
        return struct.pack(_IR_FORMAT, 0, float(label), key, 0) + payload
    label = np.asarray(label, "<f4")
    return struct.pack(_IR_FORMAT, label.size, 0.0, key, 0) + label.tobytes() + payload


def _encode_image(image, image_format: str, quality: int, index: int) -> tuple[bytes, tuple]:
    """`(encoded bytes, (height, width))` of one image (arrays are encoded, bytes kept)."""
    Image = _open_pil()
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
        except (OSError, SyntaxError) as error:
            raise ValueError(
                f"images[{index}]: bytes are not an encoded image ({error})."
            ) from None
        return data, (height, width)
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise ValueError(f"images[{index}]: pixels must be uint8; got {pixels.dtype}.")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] != 3):
        raise ValueError(
            f"images[{index}]: expected (height, width), (height, width, 1) or "
            f"(height, width, 3) pixels; got shape {np.shape(image)}."
        )
    buffer = io.BytesIO()
    picture = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    if image_format == "jpeg":
        picture.save(buffer, "JPEG", quality=quality)
    else:
        picture.save(buffer, "PNG")
    return buffer.getvalue(), pixels.shape[:2]


def write_record_file(
    rec_path: str | os.PathLike,
    images,
    labels,
    image_format: str = "jpeg",
    *,
    num_classes: int | None = None,
    quality: int = 95,
    write_property: bool = True,
) -> np.ndarray:
    """Packs face images into an insightface-style RecordIO file (`.rec` + `.idx`).

    The layout is insightface's: record 0 a header (labels `[n + 1, n + 1 + num_classes]`),
    records `1 .. n` the images grouped by identity (a stable sort by label, as insightface's
    packing tools order them; float labels), then one record per identity with its
    `[first, end)` image range. mxnet's `MXIndexedRecordIO`, insightface's `MXFaceDataset`
    and `RecordFaceSource` read it.

    Args:
        rec_path: The `.rec` file to write (e.g. `out/train.rec`); the index goes beside it with
            the `.idx` ending. Existing files are overwritten.
        images: A sequence of `(height, width)`, `(height, width, 1)` or `(height, width, 3)`
            uint8 arrays (or an `(N, height, width, channels)` array), or of already encoded
            JPEG/PNG `bytes`, stored as they are.
        labels: `(N,)` integer identity of each image, in `[0, num_classes)`.
        image_format: `"jpeg"` (default, like insightface's sets) or `"png"` (lossless).
        num_classes: Number of identities. Defaults to `max(labels) + 1`.
        quality: JPEG quality. Defaults to 95.
        write_property: Also write insightface's `property` file (`num_classes,height,width`)
            beside the records when all images share one size. Defaults to `True`.

    Returns:
        `(N,)` int64 `order`: record `i + 1` holds `images[order[i]]`, so sample `i` of a
        `RecordFaceSource` over the file is `images[order[i]]`.

    Raises:
        ValueError: On bad pixels, labels or format, naming the image index.

    Example:

    ```python
    order = write_record_file("out/train.rec", faces.images, faces.labels, "png")
    RecordFaceSource("out").labels.tolist() == faces.labels[order].tolist()  # True
    ```
    """
    image_format = {"jpg": "jpeg"}.get(str(image_format).lower(), str(image_format).lower())
    if image_format not in ("jpeg", "png"):
        raise ValueError(f"image_format must be 'jpeg' or 'png'; got {image_format!r}.")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"labels must be (N,) for {len(images)} images; got {labels.shape}.")
    if len(labels) and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers; got {labels.dtype}.")
    labels = labels.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if len(labels) else 0
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(np.argmax((labels < 0) | (labels >= num_classes)))
        raise ValueError(f"labels[{bad}] = {labels[bad]} is outside [0, {num_classes}).")
    if num_classes >= _MAX_LABEL:
        raise ValueError(f"At most {_MAX_LABEL} classes fit float32 labels; got {num_classes}.")
    rec_path = pathlib.Path(rec_path)
    idx_path = rec_path.with_suffix(".idx")
    order = np.argsort(labels, kind="stable")
    count = len(order)
    starts = np.searchsorted(labels[order], np.arange(num_classes + 1)) + 1
    sizes = set()
    with open(rec_path, "wb") as rec, open(idx_path, "w", encoding="ascii") as idx:

        def put(key: int, data: bytes) -> None:
            idx.write(f"{key}\t{rec.tell()}\n")
            rec.write(_pack_record(data))

        put(0, _ir_data(0, [count + 1, count + 1 + num_classes]))
        for key, index in enumerate(order.tolist(), start=1):
            payload, size = _encode_image(images[index], image_format, quality, index)
            sizes.add(tuple(int(s) for s in size))
            put(key, _ir_data(key, float(labels[index]), payload))
        for identity in range(num_classes):
            key = count + 1 + identity
            put(key, _ir_data(key, [starts[identity], starts[identity + 1]]))
    if write_property and len(sizes) == 1:
        (height, width) = sizes.pop()
        (rec_path.parent / "property").write_text(f"{num_classes},{height},{width}\n")
    return order.astype(np.int64)
