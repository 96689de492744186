"""Datasets: identity-folder trees read into arrays."""

from keras_expface.data.identity_folder import (
    IMAGE_EXTENSIONS,
    IdentityFolder,
    list_identity_folder,
    load_identity_folder,
    read_image,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "IdentityFolder",
    "list_identity_folder",
    "load_identity_folder",
    "read_image",
]
