"""`VerificationPairs`: the images of a verification set and which of them form pairs."""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_expface.evaluation._utils import as_bool_array


@dataclasses.dataclass(frozen=True, eq=False)
class VerificationPairs:
    """A verification set: distinct images, the pairs among them, and which pairs match.

    An image used by several pairs is stored (and embedded) once. For an insightface `.bin`
    file the pairs are simply images `(0, 1), (2, 3), ...`.

    Attributes:
        name: Name of the set, used in tables and as the prefix of logged metrics (`"lfw"`).
        images: `(num_images, height, width, channels)` uint8 pixels.
        pair_indices: `(num_pairs, 2)` int indices into `images`.
        issame: `(num_pairs,)` bool, `True` where both images show one identity.
        image_names: One name per image (a path, or `file.bin[index]`), for error messages.

    Raises:
        ValueError: On an empty pair list, indices out of range, or misshapen arrays.

    Example:

    >>> import numpy as np
    >>> pairs = VerificationPairs(
    ...     "toy", np.zeros((3, 8, 8, 1), "uint8"), [[0, 1], [0, 2]], [True, False]
    ... )
    >>> pairs.num_pairs, pairs.num_positive, pairs.describe_pair(1)
    (2, 1, 'pair 1 (toy image 0, toy image 2)')
    """

    name: str
    images: np.ndarray
    pair_indices: np.ndarray
    issame: np.ndarray
    image_names: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"A pair set needs a non-empty name; got {self.name!r}.")
        images = np.asarray(self.images)
        pair_indices = np.asarray(self.pair_indices)
        issame = np.asarray(self.issame)
        prefix = f"Pair set {self.name!r}"
        if images.ndim != 4:
            raise ValueError(
                f"{prefix}: images must be (num_images, height, width, channels); got shape "
                f"{images.shape}."
            )
        if pair_indices.size == 0:
            raise ValueError(f"{prefix}: the pair list is empty.")
        if pair_indices.ndim != 2 or pair_indices.shape[1] != 2:
            raise ValueError(
                f"{prefix}: pair_indices must be (num_pairs, 2); got {pair_indices.shape}."
            )
        if not np.issubdtype(pair_indices.dtype, np.integer):
            raise ValueError(f"{prefix}: pair_indices must be integers; got {pair_indices.dtype}.")
        outside = np.flatnonzero(((pair_indices < 0) | (pair_indices >= len(images))).any(axis=1))
        if outside.size:
            raise ValueError(
                f"{prefix}: pair {outside[0]} refers to image {pair_indices[outside[0]].tolist()} "
                f"but there are {len(images)} images ({outside.size} such pairs)."
            )
        if issame.shape != (len(pair_indices),):
            raise ValueError(
                f"{prefix}: issame must hold one entry per pair ({len(pair_indices)}); got shape "
                f"{issame.shape}."
            )
        issame = as_bool_array(issame, f"{prefix}: issame")
        image_names = tuple(self.image_names) or tuple(
            f"{self.name} image {index}" for index in range(len(images))
        )
        if len(image_names) != len(images):
            raise ValueError(f"{prefix}: {len(image_names)} image names for {len(images)} images.")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "pair_indices", pair_indices.astype(np.int64))
        object.__setattr__(self, "issame", issame)
        object.__setattr__(self, "image_names", image_names)

    @property
    def num_pairs(self) -> int:
        return len(self.pair_indices)

    @property
    def num_positive(self) -> int:
        return int(np.sum(self.issame))

    @property
    def num_negative(self) -> int:
        return self.num_pairs - self.num_positive

    def describe_pair(self, index: int) -> str:
        """`"pair i (name of first image, name of second image)"`, for messages."""
        first, second = self.pair_indices[index]
        return f"pair {index} ({self.image_names[first]}, {self.image_names[second]})"

    def pair_images(self) -> np.ndarray:
        """The images in pair order, `(2 * num_pairs, ...)`: what an insightface `.bin` holds."""
        return self.images[self.pair_indices.reshape(-1)]
