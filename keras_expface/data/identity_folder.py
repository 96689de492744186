"""Identity-folder image trees (`root/<identity>/<image>`) read into numpy arrays."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np

from keras_expface.data.face_source import FaceDataset, FaceSource

#: File endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".pgm",
    ".ppm",
    ".pnm",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
)


#: The in-memory result of `load_identity_folder` (kept as a name for compatibility).
IdentityFolder = FaceDataset


def list_identity_folder(root: str) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """Lists `(path, label)` for every image file of `root/<identity>/<image>`.

    Identities are the sub-folders of `root`, sorted by name; images are sorted per identity.
    Sub-folders without any image file are left out with a warning.

    Args:
        root: The folder holding one sub-folder per identity.

    Returns:
        `(class_names, items)` with `items` a list of `(path, label)`.

    Raises:
        FileNotFoundError: If `root` does not exist or is not a folder.
        ValueError: If `root` holds no identity sub-folder with images.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Identity folder {root!r} does not exist or is not a folder.")
    class_names, items = [], []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        files = sorted(
            f
            for f in os.listdir(folder)
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        )
        if not files:
            warnings.warn(
                f"Identity folder {folder!r} holds no image file; left out.", stacklevel=2
            )
            continue
        label = len(class_names)
        class_names.append(name)
        items.extend((os.path.join(folder, f), label) for f in files)
    if not items:
        raise ValueError(
            f"{root!r} holds no identity sub-folder with images ({', '.join(IMAGE_EXTENSIONS)}); "
            "expected root/<identity>/<image>."
        )
    return tuple(class_names), items


def read_image(path: str, image_size: Sequence[int] | None, color_mode: str = "rgb") -> np.ndarray:
    """Decodes one image file to `(height, width, channels)` uint8, resized if asked.

    Args:
        path: Image file.
        image_size: `(height, width)` to resize to (bilinear), or `None` to keep the size.
        color_mode: `"rgb"` (3 channels) or `"grayscale"` (1 channel). Defaults to `"rgb"`.

    Returns:
        The pixels, uint8.

    Raises:
        ImportError: If Pillow is not installed.
        OSError: If the file cannot be decoded.
    """
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading image files needs Pillow: pip install 'keras-expface[images]'."
        ) from error
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale'; got {color_mode!r}.")
    with Image.open(path) as image:
        image = image.convert("RGB" if color_mode == "rgb" else "L")
        if image_size is not None:
            height, width = image_size
            image = image.resize((int(width), int(height)), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def load_identity_folder(
    root: str,
    image_size: Sequence[int] | None = (112, 112),
    color_mode: str = "rgb",
    max_images_per_identity: int | None = None,
) -> IdentityFolder:
    """Reads every image of `root/<identity>/<image>` into memory.

    Suited to small and medium sets (ORL faces, a held-out verification set). Files that
    cannot be decoded are skipped, counted and listed in `skipped`, with a warning; they
    never stop the load.

    Args:
        root: The folder holding one sub-folder per identity.
        image_size: `(height, width)` to resize every image to, or `None` to keep sizes (all
            images must then share one size). Defaults to `(112, 112)`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        max_images_per_identity: Keep at most this many images per identity (the first in
            sorted order). Defaults to `None` (all).

    Returns:
        A `FaceDataset` (alias `IdentityFolder`).

    Raises:
        FileNotFoundError: If `root` does not exist.
        ValueError: If no image could be read, or sizes differ with `image_size=None`.

    Example:

    ```python
    faces = load_identity_folder("../shared/data/orl_faces", (56, 46), "grayscale")
    faces.images.shape, faces.num_classes  # ((400, 56, 46, 1), 40)
    ```
    """
    class_names, items = list_identity_folder(root)
    if max_images_per_identity is not None:
        kept, per_label = [], {}
        for path, label in items:
            per_label[label] = per_label.get(label, 0) + 1
            if per_label[label] <= max_images_per_identity:
                kept.append((path, label))
        items = kept
    images, labels, paths, skipped = [], [], [], []
    for path, label in items:
        try:
            pixels = read_image(path, image_size, color_mode)
        except (OSError, ValueError, SyntaxError) as error:
            skipped.append((path, f"{type(error).__name__}: {error}"))
            continue
        images.append(pixels)
        labels.append(label)
        paths.append(path)
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image(s) under {root!r}, e.g. {skipped[0][0]!r}.",
            stacklevel=2,
        )
    if not images:
        raise ValueError(f"No image under {root!r} could be read ({len(skipped)} failed).")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(
            f"Images under {root!r} have different sizes {sorted(shapes)[:3]}...; pass image_size."
        )
    return FaceDataset(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int32),
        class_names=class_names,
        paths=tuple(paths),
        skipped=tuple(skipped),
    )


class IdentityFolderSource(FaceSource):
    """An identity-folder tree read lazily: each image is decoded when `read` asks for it.

    For trees too large for memory (the training pipeline reads batches through
    `FaceBatches`). Listing the tree is cheap (no image is decoded); a corrupt file raises
    `OSError` from `read`, which `FaceBatches` skips and lists.

    Args:
        root: The folder holding one sub-folder per identity.
        image_size: `(height, width)` every image is resized to. Defaults to `(112, 112)`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.

    Raises:
        FileNotFoundError: If `root` does not exist.
        ValueError: If `root` holds no identity sub-folder with images.

    Example:

    ```python
    source = IdentityFolderSource("../shared/data/orl_faces", (112, 96), "grayscale")
    len(source), source.num_classes, source.read(0).shape  # (400, 40, (112, 96, 1))
    ```
    """

    def __init__(self, root: str, image_size: Sequence[int] = (112, 112), color_mode: str = "rgb"):
        if color_mode not in ("rgb", "grayscale"):
            raise ValueError(f"color_mode must be 'rgb' or 'grayscale'; got {color_mode!r}.")
        if image_size is None or len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f"image_size must be (height, width); got {image_size!r}.")
        self.root = os.fspath(root)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.color_mode = color_mode
        self.class_names, items = list_identity_folder(self.root)
        self.paths = tuple(path for path, _ in items)
        self.labels = np.asarray([label for _, label in items], dtype=np.int32)

    def read(self, index: int) -> np.ndarray:
        try:
            return read_image(self.paths[index], self.image_size, self.color_mode)
        except (ValueError, SyntaxError) as error:  # PIL raises these for some corrupt files
            raise OSError(f"{self.paths[index]!r}: {error}") from error

    def describe(self, index: int) -> str:
        return self.paths[index]

    def load(self, indices=None) -> FaceDataset:
        """Decodes the samples at `indices` (default all) into a `FaceDataset` in memory.

        Unreadable files are skipped, with a warning, and listed in `skipped`.
        """
        indices = range(len(self)) if indices is None else indices
        images, kept, skipped = [], [], []
        for index in indices:
            try:
                images.append(self.read(int(index)))
                kept.append(int(index))
            except OSError as error:
                skipped.append((self.paths[int(index)], f"{type(error).__name__}: {error}"))
        if skipped:
            warnings.warn(
                f"Skipped {len(skipped)} unreadable image(s) under {self.root!r}, e.g. "
                f"{skipped[0][0]!r}.",
                stacklevel=2,
            )
        if not images:
            raise ValueError(f"No image under {self.root!r} could be read ({len(skipped)} failed).")
        return FaceDataset(
            images=np.stack(images),
            labels=self.labels[kept],
            class_names=self.class_names,
            paths=tuple(self.paths[i] for i in kept),
            skipped=tuple(skipped),
        )
