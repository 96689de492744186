"""keras_expface.data.recordio: insightface RecordIO (`train.rec` + `train.idx`) without mxnet."""

import io
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from keras_expface.data.recordio import (
    RecordFaceSource,
    load_record_file,
    write_record_file,
)

MAGIC = 0xCED7230A


# -- an independent packer, written from the documented format (dmlc recordio + IRHeader) ------


def png_bytes(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def ir_record(flag, label, record_id, labels=(), payload=b""):
    """Record data: IRHeader (uint32 flag, float32 label, uint64 id, uint64 id2) + labels + data."""
    return (
        struct.pack("<IfQQ", flag, label, record_id, 0)
        + struct.pack(f"<{len(labels)}f", *labels)
        + payload
    )


def frame(data, cflag=0):
    """magic, lrecord (cflag in the top 3 bits, length in the low 29), data, pad to 4 bytes."""
    pad = b"\0" * ((4 - len(data) % 4) % 4)
    return struct.pack("<II", MAGIC, (cflag << 29) | len(data)) + data + pad


def hand_pack(tmp_path, records, name="train"):
    """Writes `records` ([(key, framed bytes)]) and the text index 'key\\toffset'."""
    rec, lines, offset = b"", [], 0
    for key, framed in records:
        lines.append(f"{key}\t{offset}\n")
        rec += framed
        offset += len(framed)
    (tmp_path / f"{name}.rec").write_bytes(rec)
    (tmp_path / f"{name}.idx").write_text("".join(lines))
    return tmp_path / f"{name}.rec"


def random_faces(count, size=(6, 5), channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, *size, channels), dtype=np.uint8)


# -- tests -------------------------------------------------------------------------------------


def test_hand_packed_insightface_layout_float_and_array_labels(tmp_path):
    faces = random_faces(3)
    image_records = [
        (1, frame(ir_record(0, 0.0, 1, payload=png_bytes(faces[0])))),  # float label
        (2, frame(ir_record(2, 0.0, 2, labels=(1.0, 7.0), payload=png_bytes(faces[1])))),  # array
        (3, frame(ir_record(0, 1.0, 3, payload=png_bytes(faces[2])))),
    ]
    identities = [
        (4, frame(ir_record(2, 0.0, 4, labels=(1.0, 2.0)))),
        (5, frame(ir_record(2, 0.0, 5, labels=(2.0, 4.0)))),
    ]
    header = (0, frame(ir_record(2, 0.0, 0, labels=(4.0, 6.0))))
    rec = hand_pack(tmp_path, [header, *image_records, *identities])
    source = RecordFaceSource(rec, image_size=None)
    assert source.layout == "insightface"
    assert source.labels.tolist() == [0, 1, 1] and source.labels.dtype == np.int32
    assert source.class_names == ("0", "1")  # from the two identity records
    for index in range(3):
        np.testing.assert_array_equal(source.read(index), faces[index])
    assert source.describe(1) == f"{rec}[2]"
    assert source.read(0).shape == (6, 5, 3)


def test_hand_packed_split_record_is_rejoined(tmp_path):
    """Data holding the magic at an aligned position is split (cflag 1/3) without the magic."""
    pixels = random_faces(1)[0]
    data = ir_record(0, 2.0, MAGIC, payload=png_bytes(pixels))  # id field == magic at byte 8
    assert data[8:12] == struct.pack("<I", MAGIC)
    parts = frame(data[:8], cflag=1) + frame(data[12:], cflag=3)
    plain_record = frame(ir_record(0, 0.0, 1, payload=png_bytes(pixels)))
    rec = hand_pack(tmp_path, [(7, parts), (9, plain_record)])
    source = RecordFaceSource(rec, image_size=None)
    assert source.layout == "plain" and source.keys.tolist() == [7, 9]
    assert source.labels.tolist() == [2, 0] and source.class_names == ("0", "1", "2")
    np.testing.assert_array_equal(source.read(0), pixels)


def test_writer_round_trip_png_is_exact(tmp_path):
    faces = random_faces(5, size=(8, 7))
    labels = np.array([2, 0, 2, 1, 0])
    order = write_record_file(tmp_path / "train.rec", faces, labels, "png")
    assert order.tolist() == [1, 4, 3, 0, 2]  # grouped by identity, stable
    assert (tmp_path / "property").read_text().strip() == "3,8,7"
    idx_lines = (tmp_path / "train.idx").read_text().splitlines()
    assert [line.split("\t")[0] for line in idx_lines] == [str(k) for k in range(9)]

    source = RecordFaceSource(tmp_path, image_size=None)  # folder holding train.rec
    assert source.layout == "insightface" and source.stored_image_size == (8, 7)
    assert source.labels.tolist() == labels[order].tolist()
    assert source.class_names == ("0", "1", "2")
    for index in range(5):
        np.testing.assert_array_equal(source.read(index), faces[order[index]])

    # The header and identity records follow insightface's layout (checked by hand).
    rec = (tmp_path / "train.rec").read_bytes()
    magic, lrecord = struct.unpack_from("<II", rec, 0)
    assert magic == MAGIC and lrecord >> 29 == 0
    assert struct.unpack_from("<IfQQ2f", rec, 8) == (2, 0.0, 0, 0, 6.0, 9.0)
    offset = int(idx_lines[7].split("\t")[1])  # identity 1: image [3, 4)
    assert struct.unpack_from("<IfQQ2f", rec, offset + 8)[4:] == (3.0, 4.0)

    # Resize and grayscale follow read_image; pickling reopens the file.
    small = pickle.loads(pickle.dumps(RecordFaceSource(tmp_path, (4, 3), "grayscale")))
    assert small.read(2).shape == (4, 3, 1) and small.read(2).dtype == np.uint8


def test_writer_jpeg_grayscale_and_encoded_bytes(tmp_path):
    faces = random_faces(2, channels=1)
    encoded = png_bytes(random_faces(1)[0])
    order = write_record_file(
        tmp_path / "faces.rec", [faces[0], encoded, faces[1]], [0, 1, 0], quality=90
    )
    source = RecordFaceSource(tmp_path / "faces.rec", image_size=None, color_mode="grayscale")
    assert order.tolist() == [0, 2, 1] and source.labels.tolist() == [0, 0, 1]
    assert source.read(0).shape == (6, 5, 1)
    assert np.abs(source.read(0).astype(int) - faces[0].astype(int)).mean() < 12  # lossy


def test_load_record_file_skips_and_lists_corrupt_payload(tmp_path):
    faces = random_faces(3)
    records = [
        (0, frame(ir_record(0, 0.0, 0, payload=png_bytes(faces[0])))),
        (1, frame(ir_record(0, 1.0, 1, payload=b"not an image at all"))),
        (2, frame(ir_record(0, 1.0, 2, payload=png_bytes(faces[2])))),
    ]
    rec = hand_pack(tmp_path, records)
    source = RecordFaceSource(rec, image_size=None)
    with pytest.raises(OSError, match=r"train\.rec\[1\].*cannot decode"):
        source.read(1)
    with pytest.warns(UserWarning, match="Skipped 1 unreadable record"):
        faces_read = load_record_file(rec, image_size=(4, 4))
    assert faces_read.images.shape == (2, 4, 4, 3) and faces_read.labels.tolist() == [0, 1]
    assert faces_read.skipped[0][0] == f"{rec}[1]"
    assert faces_read.paths == (f"{rec}[0]", f"{rec}[2]")
    assert len(load_record_file(rec, max_images=1).images) == 1


def test_missing_index_bad_magic_truncation_and_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RecordFaceSource(tmp_path / "nowhere.rec")
    (tmp_path / "lonely.rec").write_bytes(frame(ir_record(0, 0.0, 0)))
    with pytest.raises(FileNotFoundError, match=r"lonely\.idx"):
        RecordFaceSource(tmp_path / "lonely.rec")

    good = frame(ir_record(0, 0.0, 0, payload=b"x" * 8))
    bad_magic = struct.pack("<II", 0x12345678, 0) + good[8:]
    with pytest.raises(ValueError, match=r"bad\.rec\[1\].*wrong magic.*0x12345678"):
        RecordFaceSource(hand_pack(tmp_path, [(0, good), (1, bad_magic)], "bad"))

    with pytest.raises(ValueError, match=r"cut\.rec\[1\].*truncated"):
        RecordFaceSource(hand_pack(tmp_path, [(0, good), (1, good[:-4])], "cut"))

    short_labels = frame(ir_record(3, 0.0, 0, labels=(1.0,)))  # flag 3, one float stored
    with pytest.raises(ValueError, match=r"few\.rec\[0\].*label field"):
        RecordFaceSource(hand_pack(tmp_path, [(0, short_labels)], "few"))

    fraction = frame(ir_record(0, 1.5, 0, payload=b"x"))
    with pytest.raises(ValueError, match=r"half\.rec\[0\]: label 1\.5"):
        RecordFaceSource(hand_pack(tmp_path, [(0, fraction)], "half"))

    (tmp_path / "odd.rec").write_bytes(good)
    (tmp_path / "odd.idx").write_text("0\t0\nzero\t12\n")
    with pytest.raises(ValueError, match=r"odd\.idx, line 2"):
        RecordFaceSource(tmp_path / "odd.rec")


def test_label_out_of_range_of_property_file(tmp_path):
    write_record_file(tmp_path / "train.rec", random_faces(3), [0, 1, 4], "png")
    (tmp_path / "property").write_text("3,6,5")
    with pytest.raises(ValueError, match=r"train\.rec\[3\]: label 4 is out of range.*3 classes"):
        RecordFaceSource(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        write_record_file(tmp_path / "x.rec", random_faces(2), [0, 5], num_classes=3)
