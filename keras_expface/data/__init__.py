"""Datasets: face sources (identity folders, records, tfds, generated faces) and batches."""

from keras_expface.data.face_batches import FaceBatches
from keras_expface.data.face_source import FaceDataset, FaceSource
from keras_expface.data.identity_folder import (
    IMAGE_EXTENSIONS,
    IdentityFolder,
    IdentityFolderSource,
    list_identity_folder,
    load_identity_folder,
    read_image,
)
from keras_expface.data.label_noise import (
    NOISE_KINDS,
    LabelNoise,
    inject_label_noise,
    parse_noise_spec,
)
from keras_expface.data.recordio import (
    RECORDIO_MAGIC,
    RecordFaceSource,
    load_record_file,
    write_record_file,
)
from keras_expface.data.splits import IdentitySplit, split_by_identity, split_by_image
from keras_expface.data.synthetic import make_synthetic_faces, synthetic_identity_name
from keras_expface.data.tfds_source import load_tfds

__all__ = [
    "IMAGE_EXTENSIONS",
    "NOISE_KINDS",
    "RECORDIO_MAGIC",
    "FaceBatches",
    "FaceDataset",
    "FaceSource",
    "IdentityFolder",
    "IdentityFolderSource",
    "IdentitySplit",
    "LabelNoise",
    "RecordFaceSource",
    "inject_label_noise",
    "list_identity_folder",
    "load_identity_folder",
    "load_record_file",
    "load_tfds",
    "make_synthetic_faces",
    "parse_noise_spec",
    "read_image",
    "split_by_identity",
    "split_by_image",
    "synthetic_identity_name",
    "write_record_file",
]
