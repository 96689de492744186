"""Synthetic faces for the evaluation tests: one random template per identity, plus noise."""

import pathlib

import numpy as np


def identity_images(num_identities, images_per_identity, size=16, channels=1, seed=0):
    """`(images uint8 (N, size, size, channels), labels (N,))`, identity-major order."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(40, 215, size=(num_identities, size, size, channels))
    noise = rng.normal(0, 25, size=(num_identities, images_per_identity, size, size, channels))
    images = np.clip(templates[:, None] + noise, 0, 255).astype(np.uint8)
    labels = np.repeat(np.arange(num_identities), images_per_identity)
    return images.reshape(-1, size, size, channels), labels


def write_identity_folder(root, images, labels, name_format="id{label:02d}", suffix=".png"):
    """Writes `root/<identity>/<k>.png`; returns the root."""
    from PIL import Image

    root = pathlib.Path(root)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / name_format.format(label=label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = image[..., 0] if image.shape[-1] == 1 else image
        Image.fromarray(pixels).save(folder / f"{index:03d}{suffix}")
    return root
