"""Face datasets from tensorflow-datasets (`tfds`), read into memory as a `FaceDataset`.

`tensorflow_datasets` (which needs TensorFlow installed) is imported only when `load_tfds` is
called; the returned `FaceDataset` is plain numpy and trains on any Keras backend.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence

import numpy as np

from keras_expface.data.face_source import FaceDataset

__all__ = ["load_tfds"]


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(
            "load_tfds needs tensorflow-datasets (and TensorFlow): "
            "pip install 'keras-expface[tfds]' (or pip install tensorflow-datasets tensorflow)."
        ) from error
    return tfds


def _describe_features(features) -> str:
    return ", ".join(f"{key!r} ({type(value).__name__})" for key, value in features.items())


def _builder(tfds, name, data_dir):
    """`(builder, display name, is_registered)` for a name, a folder, or a builder object."""
    if isinstance(name, tfds.core.DatasetBuilder):
        return name, name.name, False
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(
            "name must be a tfds dataset name, a folder path or a tfds DatasetBuilder; got "
            f"{type(name).__name__}."
        )
    path = os.path.expanduser(os.fspath(name))
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "dataset_info.json")):
            return tfds.builder_from_directory(path), path, False
        builder = tfds.folder_dataset.ImageFolder(path)
        if not builder.info.splits:
            raise ValueError(
                f"{path!r} is neither a prepared tfds dataset (no dataset_info.json) nor an image "
                "folder <split>/<identity>/<image>.(jpg|jpeg|png) (no split sub-folder with "
                "images)."
            )
        return builder, path, False
    if os.path.isabs(path) or os.fspath(name).startswith((".", "~")):
        raise FileNotFoundError(f"Dataset folder {path!r} does not exist.")
    try:
        builder = tfds.builder(os.fspath(name), data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        base = os.fspath(name).split(":")[0].split("/")[0]
        close = difflib.get_close_matches(base, tfds.list_builders(), n=5, cutoff=0.6)
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise ValueError(
            f"Unknown tfds dataset {os.fspath(name)!r}: it is not registered in "
            f"tensorflow_datasets {tfds.__version__} (see tfds.list_builders()) and is not an "
            f"existing folder.{hint}"
        ) from None
    return builder, os.fspath(name), True


def _label_key(features, label_key, image_key, display) -> str:
    """The feature holding identities: `label_key`, else the ClassLabel, else `"label"`."""
    if label_key is not None:
        if label_key not in features:
            raise ValueError(
                f"{display}: label_key {label_key!r} is not a feature; features: "
                f"{_describe_features(features)}."
            )
        return label_key
    import tensorflow_datasets as tfds

    class_labels = [
        key for key, value in features.items() if isinstance(value, tfds.features.ClassLabel)
    ]
    if class_labels:
        return class_labels[0]
    if "label" in features and "label" != image_key:
        return "label"
    raise ValueError(
        f"{display}: no ClassLabel feature (nor one named 'label') to use as identity; "
        f"features: {_describe_features(features)}. Pass label_key=..."
    )


def _to_pixels(array, image_size, color_mode: str, where: str) -> np.ndarray:
    """Converts decoded pixels like `read_image` does a file (convert, bilinear resize)."""
    from PIL import Image

    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise ValueError(f"{where}: image pixels must be uint8; got {pixels.dtype}.")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        raise ValueError(
            f"{where}: expected an (height, width, channels) image; got {array.shape}."
        )
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[pixels.ndim if pixels.ndim == 2 else pixels.shape[-1]]
    image = Image.fromarray(pixels, mode).convert("RGB" if color_mode == "rgb" else "L")
    if image_size is not None:
        height, width = image_size
        image = image.resize((int(width), int(height)), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def load_tfds(
    name,
    split: str = "train",
    image_key: str = "image",
    label_key: str | None = None,
    image_size: Sequence[int] | None = (112, 112),
    color_mode: str = "rgb",
    data_dir: str | None = None,
    download: bool = False,
    max_images: int | None = None,
) -> FaceDataset:
    """Reads a tensorflow-datasets image dataset with identity labels into memory.

    `name` can be:

    * a registered tfds name (`"lfw"`, `"mnist:3.0.1"`), read from `data_dir` where it was
      prepared (`tfds build`, or `download=True` on a machine with network);
    * a folder: a prepared dataset version folder (holding `dataset_info.json`, e.g.
      `~/tensorflow_datasets/lfw/0.1.1`, read with `tfds.builder_from_directory`), otherwise an
      image tree `<split>/<identity>/<image>.(jpg|jpeg|png)` (read with
      `tfds.folder_dataset.ImageFolder`; identities are the `label` ClassLabel);
    * a `tfds.core.DatasetBuilder` object, used as it is.

    Identities come from `label_key`, by default the first `ClassLabel` feature (class names
    from its names), else a feature named `"label"` (e.g. lfw's person-name `Text`; class names
    are then the sorted distinct values as strings). Labels are re-indexed compactly over the
    identities present in the split (after `max_images`).

    Args:
        name: Dataset name, folder path or builder (see above).
        split: tfds split, slicing allowed (`"train[:10%]"`). Defaults to `"train"`.
        image_key: The image feature. Defaults to `"image"`.
        label_key: The identity feature, or `None` to detect it. Defaults to `None`.
        image_size: `(height, width)` to resize to (bilinear), or `None` to keep sizes (all
            images must then share one). Defaults to `(112, 112)`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        data_dir: Where prepared tfds datasets live. Defaults to tfds' own
            (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
        download: Download and prepare a registered dataset first (needs network). Defaults to
            `False`.
        max_images: Read at most the first this many examples. Defaults to `None` (all).

    Returns:
        A `FaceDataset` (`paths`: the image file names when the dataset has them, else
        `"<name>/<split>[<i>]"`).

    Raises:
        ImportError: If tensorflow-datasets is not installed.
        ValueError: For an unknown dataset name, an unknown split, a missing image or label
            feature (the message lists the features), or an empty split.
        FileNotFoundError: If a registered dataset is not prepared in `data_dir` and
            `download=False`, or a folder path does not exist.

    Example:

    ```python
    faces = load_tfds("lfw", image_size=(112, 112), download=True)  # 13233 images, 5749 ids
    faces = load_tfds("~/faces_tfds", split="train")  # train/<identity>/<image>.jpg
    ```
    """
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale'; got {color_mode!r}.")
    tfds = _import_tfds()
    builder, display, registered = _builder(tfds, name, data_dir)
    features = builder.info.features
    if image_key not in features:
        raise ValueError(
            f"{display}: image_key {image_key!r} is not a feature; features: "
            f"{_describe_features(features)}."
        )
    label_key = _label_key(features, label_key, image_key, display)
    splits = dict(builder.info.splits or {})
    for part in re.split(r"\+", split):
        base = part.split("[")[0].strip()
        if splits and base not in splits:
            raise ValueError(f"{display}: unknown split {base!r}; splits: {sorted(splits)}.")
    if download and registered:
        builder.download_and_prepare()
    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as error:
        if "could not find data" not in str(error):
            raise
        raise FileNotFoundError(
            f"tfds dataset {display!r} is not prepared in {builder.data_dir!r}; pass "
            "download=True (needs network), run `tfds build` for it, or set data_dir."
        ) from error
    if max_images is not None:
        dataset = dataset.take(int(max_images))

    images, raw_labels, paths = [], [], []
    for index, example in enumerate(tfds.as_numpy(dataset)):
        where = f"{display}/{split}[{index}]"
        images.append(_to_pixels(example[image_key], image_size, color_mode, where))
        raw_labels.append(example[label_key])
        filename = example.get("image/filename")
        paths.append(filename.decode("utf-8") if isinstance(filename, bytes) else where)
    if not images:
        raise ValueError(f"{display}: split {split!r} holds no example.")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(
            f"{display}: images have different sizes {sorted(shapes)[:3]}...; pass image_size."
        )

    label_feature = features[label_key]
    values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in raw_labels]
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{display}: label feature {label_key!r} must be a scalar per example.")
    present, labels = np.unique(values, return_inverse=True)
    if isinstance(label_feature, tfds.features.ClassLabel) and label_feature.names:
        class_names = tuple(label_feature.names[int(i)] for i in present)
    else:
        class_names = tuple(str(v) for v in present.tolist())
    return FaceDataset(
        images=np.stack(images),
        labels=labels.reshape(-1).astype(np.int32),
        class_names=class_names,
        paths=tuple(paths),
    )
