"""Pair sources: LFW-style `pairs.txt`, balanced pairs from an identity folder, any by path."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence

import numpy as np

from keras_expface.data import IMAGE_EXTENSIONS, load_identity_folder, read_image
from keras_expface.evaluation._utils import check_count
from keras_expface.evaluation.bin_files import load_bin
from keras_expface.evaluation.verification_pairs import VerificationPairs

# LFW's images are JPEG; FaceNet also looks for PNG. Other endings follow.
_LFW_EXTENSIONS = (".jpg", ".png", *(e for e in IMAGE_EXTENSIONS if e not in (".jpg", ".png")))


def _lfw_image_path(image_root: str, name: str, number: str) -> str | None:
    stem = os.path.join(image_root, name, f"{name}_{int(number):04d}")
    for extension in _LFW_EXTENSIONS:
        if os.path.isfile(stem + extension):
            return stem + extension
    return None


def _parse_lfw_line(fields: list[str]) -> tuple[tuple[str, str], tuple[str, str], bool] | None:
    try:
        if len(fields) == 3:
            int(fields[1]), int(fields[2])
            return (fields[0], fields[1]), (fields[0], fields[2]), True
        if len(fields) == 4:
            int(fields[1]), int(fields[3])
            return (fields[0], fields[1]), (fields[2], fields[3]), False
    except ValueError:
        return None
    return None


def read_lfw_pairs(
    pairs_file: str,
    image_root: str | None = None,
    image_size: Sequence[int] | None = None,
    color_mode: str = "rgb",
    name: str | None = None,
) -> VerificationPairs:
    """Reads an LFW-style `pairs.txt` and the images it names.

    The format of LFW's `pairs.txt` (and FaceNet's `lfw.py`): an optional header line of
    integers (`10 300`: folds, pairs per fold and kind), then one pair per line,
    `name n1 n2` for two images of one person or `name1 n1 name2 n2` for two people. Image
    `n` of `name` is `image_root/name/name_000n.jpg` (or `.png`, or another image ending).
    The order of the file is kept: LFW's ten folds of 300 positive and 300 negative pairs
    are the protocol's ten folds.

    Args:
        pairs_file: The pairs file.
        image_root: Folder holding one sub-folder per person. Defaults to `None` (the folder
            of `pairs_file`).
        image_size: `(height, width)` to resize to, or `None` to keep sizes (then all images
            must share one). Defaults to `None`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        name: Name of the pair set. Defaults to `None` (the file name without extension, or
            the image folder's name for a file called `pairs.txt`).

    Returns:
        `VerificationPairs`; each image is read once however many pairs use it.

    Raises:
        FileNotFoundError: If the file or the image root does not exist.
        ValueError: On a malformed line (named by line number), an empty pair list, pairs
            referring to missing images (named with their line), or an unreadable image.

    Example:

    ```python
    lfw = read_lfw_pairs("lfw/pairs.txt", "lfw/aligned_112", image_size=(112, 112))
    lfw.num_pairs  # 6000
    ```
    """
    pairs_file = os.fspath(pairs_file)
    if not os.path.isfile(pairs_file):
        raise FileNotFoundError(f"Pairs file {pairs_file!r} does not exist.")
    if image_root is None:
        image_root = os.path.dirname(pairs_file) or "."
    image_root = os.fspath(image_root)
    if not os.path.isdir(image_root):
        raise FileNotFoundError(f"Image folder {image_root!r} of {pairs_file!r} does not exist.")
    with open(pairs_file, encoding="utf-8") as file:
        lines = [(number, line.split()) for number, line in enumerate(file, start=1)]
    lines = [(number, fields) for number, fields in lines if fields]
    if lines and all(field.isdigit() for field in lines[0][1]) and len(lines[0][1]) <= 2:
        lines = lines[1:]  # the header, e.g. "10 300"
    if not lines:
        raise ValueError(f"{pairs_file!r} lists no pair.")

    paths, path_index, pair_indices, issame, missing = [], {}, [], [], []
    for number, fields in lines:
        parsed = _parse_lfw_line(fields)
        if parsed is None:
            raise ValueError(
                f"{pairs_file}:{number}: expected 'name n1 n2' or 'name1 n1 name2 n2'; got "
                f"{' '.join(fields)!r}."
            )
        first, second, same = parsed
        pair = []
        for person, image_number in (first, second):
            path = _lfw_image_path(image_root, person, image_number)
            if path is None:
                stem = os.path.join(image_root, person, f"{person}_{int(image_number):04d}")
                missing.append((number, stem))
                continue
            if path not in path_index:
                path_index[path] = len(paths)
                paths.append(path)
            pair.append(path_index[path])
        if len(pair) == 2:
            pair_indices.append(pair)
            issame.append(same)
    if missing:
        number, stem = missing[0]
        raise ValueError(
            f"{pairs_file!r}: {len(missing)} image(s) of the pairs are missing, e.g. line "
            f"{number}: {stem}.jpg (or another image ending) does not exist under {image_root!r}."
        )

    images = []
    for path in paths:
        try:
            images.append(read_image(path, image_size, color_mode))
        except (OSError, ValueError, SyntaxError) as error:
            raise ValueError(f"Image {path!r} of {pairs_file!r} cannot be read: {error}") from error
    shapes = sorted({image.shape for image in images})
    if len(shapes) > 1:
        raise ValueError(
            f"The images of {pairs_file!r} have different sizes {shapes[:3]}; pass image_size."
        )
    if name is None:
        stem = os.path.splitext(os.path.basename(pairs_file))[0]
        name = stem if stem != "pairs" else os.path.basename(os.path.abspath(image_root))
    return VerificationPairs(name, np.stack(images), pair_indices, issame, tuple(paths))


def _sample_negative_pairs(
    labels: np.ndarray, count: int, available: int, rng: np.random.Generator
) -> np.ndarray:
    """`count` of the `available` distinct pairs `(i, j)`, `i < j`, of two identities, uniformly."""
    num_images = len(labels)
    if count * 2 > available:  # a dense draw: list them all
        first, second = np.triu_indices(num_images, k=1)
        different = labels[first] != labels[second]
        candidates = np.stack([first[different], second[different]], axis=1)
        return candidates[np.sort(rng.choice(len(candidates), count, replace=False))]
    chosen: dict[tuple[int, int], None] = {}
    while len(chosen) < count:
        draws = rng.integers(num_images, size=(2 * (count - len(chosen)), 2))
        for first, second in draws:
            if labels[first] != labels[second]:
                chosen.setdefault((min(first, second), max(first, second)))
                if len(chosen) == count:
                    break
    return np.array(list(chosen), dtype=np.int64).reshape(-1, 2)


def pairs_from_identity_folder(
    root: str,
    image_size: Sequence[int] | None = None,
    color_mode: str = "rgb",
    identities: Sequence[str] | None = None,
    positives_per_identity: int | None = None,
    num_negatives: int | None = None,
    seed: int = 0,
    name: str | None = None,
) -> VerificationPairs:
    """Balanced, reproducible verification pairs from an identity-folder tree.

    Point it at identities the model was not trained on. The positives are every pair of
    images of one identity (or `positives_per_identity` of them, drawn at random); the
    negatives are as many distinct pairs of images of two identities, drawn uniformly. Both
    lists are shuffled and interleaved evenly, so each of the protocol's contiguous folds
    holds both kinds in the same proportion. The same `seed` gives the same pairs.

    Images are read by `keras_expface.data.load_identity_folder` (unreadable files are
    skipped with a warning).

    Args:
        root: The folder holding one sub-folder per identity.
        image_size: `(height, width)` to resize to, or `None` to keep sizes (all images must
            then share one). Defaults to `None`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        identities: Use only these identity folders (names). Defaults to `None` (all).
        positives_per_identity: At most this many positive pairs per identity. Defaults to
            `None` (all pairs).
        num_negatives: Number of negative pairs. Defaults to `None` (as many as positives);
            capped, with a warning, at the number of distinct negative pairs.
        seed: Seed of the sampling and shuffling. Defaults to `0`.
        name: Name of the pair set. Defaults to `None` (the folder's name).

    Returns:
        `VerificationPairs` over the images of the chosen identities.

    Raises:
        FileNotFoundError: If `root` does not exist.
        ValueError: If an identity in `identities` is not in `root`, or no identity has two
            images.

    Example:

    ```python
    pairs = pairs_from_identity_folder("orl_faces", (112, 92), "grayscale",
                                       identities=[f"s{i}" for i in range(31, 41)])
    pairs.num_positive, pairs.num_negative  # (450, 450)
    ```
    """
    if positives_per_identity is not None:
        positives_per_identity = check_count("positives_per_identity", positives_per_identity)
    if num_negatives is not None:
        num_negatives = check_count("num_negatives", num_negatives)
    root = os.fspath(root)
    folder = load_identity_folder(root, image_size, color_mode)
    labels = folder.labels
    keep = np.ones(len(labels), dtype=bool)
    if identities is not None:
        identities = list(identities)
        unknown = sorted(set(identities) - set(folder.class_names))
        if unknown:
            raise ValueError(
                f"Identities {unknown[:5]} are not sub-folders of {root!r} (with images)."
            )
        wanted = [folder.class_names.index(identity) for identity in identities]
        keep = np.isin(labels, wanted)
    images, labels = folder.images[keep], labels[keep]
    paths = tuple(path for path, kept in zip(folder.paths, keep, strict=True) if kept)
    if name is None:
        name = os.path.basename(os.path.abspath(root))
    return pairs_from_labels(
        images,
        labels,
        name,
        image_names=paths,
        positives_per_identity=positives_per_identity,
        num_negatives=num_negatives,
        seed=seed,
        source=repr(root),
    )


def pairs_from_labels(
    images: np.ndarray,
    labels: np.ndarray,
    name: str,
    image_names: Sequence[str] = (),
    positives_per_identity: int | None = None,
    num_negatives: int | None = None,
    seed: int = 0,
    source: str | None = None,
) -> VerificationPairs:
    """Balanced, reproducible verification pairs from images and their identity labels.

    The array form of `pairs_from_identity_folder` (which it serves): every pair of images
    of one identity (or `positives_per_identity` of them, drawn at random) is a positive; as
    many distinct pairs of two identities, drawn uniformly, are the negatives; both lists are
    shuffled and interleaved evenly so each protocol fold holds both kinds alike.

    Args:
        images: `(N, height, width, channels)` uint8 pixels.
        labels: `(N,)` identity labels (any integers).
        name: Name of the pair set.
        image_names: One name per image, for messages. Defaults to `()`.
        positives_per_identity: At most this many positive pairs per identity. Defaults to
            `None` (all pairs).
        num_negatives: Number of negative pairs. Defaults to `None` (as many as positives);
            capped, with a warning, at the number of distinct negative pairs.
        seed: Seed of the sampling and shuffling. Defaults to `0`.
        source: How to name the data in error messages. Defaults to `None` (`name`).

    Returns:
        `VerificationPairs` over `images`.

    Raises:
        ValueError: If no identity has two images, or there are fewer than two identities.

    Example:

    >>> import numpy as np
    >>> pairs = pairs_from_labels(np.zeros((6, 4, 4, 1), "uint8"), [0, 0, 1, 1, 2, 2], "toy")
    >>> pairs.num_positive, pairs.num_negative
    (3, 3)
    """
    if positives_per_identity is not None:
        positives_per_identity = check_count("positives_per_identity", positives_per_identity)
    if num_negatives is not None:
        num_negatives = check_count("num_negatives", num_negatives)
    source = source or repr(name)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(
            f"{source}: {len(images)} images but {len(labels)} labels; they must match."
        )
    rng = np.random.default_rng(seed)

    positives = []
    for label in np.unique(labels):
        combinations = list(itertools.combinations(np.flatnonzero(labels == label), 2))
        if positives_per_identity is not None and len(combinations) > positives_per_identity:
            chosen = np.sort(rng.choice(len(combinations), positives_per_identity, replace=False))
            combinations = [combinations[index] for index in chosen]
        positives.extend(combinations)
    if not positives:
        raise ValueError(f"No identity under {source} has two images: there is no positive pair.")
    positives = np.array(positives, dtype=np.int64)

    _, sizes = np.unique(labels, return_counts=True)
    available = (len(labels) ** 2 - int(np.sum(sizes.astype(np.int64) ** 2))) // 2
    if available == 0:
        raise ValueError(f"{source} gives no negative pair: it needs two identities.")
    wanted_negatives = len(positives) if num_negatives is None else num_negatives
    if wanted_negatives > available:
        warnings.warn(
            f"{source} allows only {available} distinct negative pairs; {wanted_negatives} were "
            "asked for.",
            stacklevel=2,
        )
        wanted_negatives = available
    negatives = _sample_negative_pairs(labels, wanted_negatives, available, rng)

    positives = positives[rng.permutation(len(positives))]
    negatives = negatives[rng.permutation(len(negatives))]
    # Spread both kinds evenly along the list: pair k of n sits at (k + 0.5) / n.
    positions = np.concatenate(
        [
            (np.arange(len(positives)) + 0.5) / len(positives),
            (np.arange(len(negatives)) + 0.5) / len(negatives),
        ]
    )
    order = np.argsort(positions, kind="stable")
    pair_indices = np.concatenate([positives, negatives])[order]
    issame = np.concatenate([np.ones(len(positives), bool), np.zeros(len(negatives), bool)])[order]
    return VerificationPairs(name, images, pair_indices, issame, tuple(image_names))


def load_pairs(
    source: str,
    image_size: Sequence[int] | None = None,
    color_mode: str = "rgb",
    image_root: str | None = None,
    name: str | None = None,
    seed: int = 0,
) -> VerificationPairs:
    """Reads a pair set, whichever its kind: `.bin` file, `pairs.txt`, or identity folder.

    Args:
        source: An insightface `.bin` file (`load_bin`), an LFW-style `.txt` pairs file
            (`read_lfw_pairs`) or a folder of identity sub-folders
            (`pairs_from_identity_folder`).
        image_size: `(height, width)` to resize to, or `None` to keep sizes. Defaults to
            `None`.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        image_root: The image folder of a `.txt` pairs file. Defaults to `None` (its folder).
        name: Name of the pair set. Defaults to `None` (from the path).
        seed: Seed of the pairs drawn from an identity folder. Defaults to `0`.

    Returns:
        `VerificationPairs`.

    Raises:
        FileNotFoundError: If `source` does not exist.
        ValueError: If `source` is none of the three kinds, or the loader rejects it.

    Example:

    ```python
    sets = [load_pairs(path) for path in ("lfw.bin", "cfp_fp.bin", "agedb_30.bin")]
    ```
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        return pairs_from_identity_folder(source, image_size, color_mode, seed=seed, name=name)
    if not os.path.exists(source):
        raise FileNotFoundError(f"Pair source {source!r} does not exist.")
    extension = os.path.splitext(source)[1].lower()
    if extension == ".bin":
        return load_bin(source, image_size, color_mode, name=name)
    if extension == ".txt":
        return read_lfw_pairs(source, image_root, image_size, color_mode, name=name)
    raise ValueError(
        f"Pair source {source!r} is neither a .bin file, a .txt pairs file nor a folder of "
        "identity sub-folders."
    )
