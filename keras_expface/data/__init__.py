"""Datasets: face sources (identity folders, records, tfds, generated faces) and batches."""

from keras_expface.data.face_source import FaceDataset, FaceSource
from keras_expface.data.identity_folder import (
    IMAGE_EXTENSIONS,
    IdentityFolder,
    list_identity_folder,
    load_identity_folder,
    read_image,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "FaceDataset",
    "FaceSource",
    "IdentityFolder",
    "list_identity_folder",
    "load_identity_folder",
    "read_image",
]
