"""Splits of a labelled face set: open-set by identity, and per image within identities."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np


@dataclasses.dataclass(frozen=True)
class IdentitySplit:
    """Samples split by identity: no identity appears on both sides.

    Attributes:
        train_indices: Samples of the training identities.
        held_out_indices: Samples of the held-out identities (for verification).
        train_classes: Original labels of the training identities, sorted.
        held_out_classes: Original labels of the held-out identities, sorted.
    """

    train_indices: np.ndarray
    held_out_indices: np.ndarray
    train_classes: np.ndarray
    held_out_classes: np.ndarray

    def train_labels(self, labels) -> np.ndarray:
        """`labels` of the training samples re-indexed to `0 .. len(train_classes) - 1`."""
        labels = np.asarray(labels)[self.train_indices]
        return np.searchsorted(self.train_classes, labels).astype(np.int32)


def split_by_identity(labels, held_out, seed: int = 0, min_images: int = 2) -> IdentitySplit:
    """Chooses identities to hold out of training, for open-set verification.

    Only identities with at least `min_images` images can be held out (a verification
    positive pair needs two); identities with fewer are kept for training with a warning.

    Args:
        labels: `(N,)` identity labels.
        held_out: Number of identities to hold out (an int >= 0) or a fraction in `[0, 1)`
            of all identities.
        seed: Seed of the choice. Defaults to `0`.
        min_images: Images an identity needs to be held out. Defaults to `2`.

    Returns:
        An `IdentitySplit`.

    Raises:
        ValueError: If `held_out` is negative, leaves fewer than two training identities,
            or asks for more identities than have `min_images` images.

    Example:

    >>> split = split_by_identity([0, 0, 1, 1, 2, 2, 3, 3], held_out=2, seed=0)
    >>> len(split.train_classes), len(split.held_out_classes), len(split.held_out_indices)
    (2, 2, 4)
    """
    labels = np.asarray(labels).reshape(-1)
    classes, counts = np.unique(labels, return_counts=True)
    if isinstance(held_out, float) and not held_out.is_integer():
        if not 0.0 < held_out < 1.0:
            raise ValueError(
                f"held_out must be a count or a fraction in (0, 1) of identities; got {held_out}."
            )
        count = round(held_out * len(classes))
    else:
        count = int(held_out)
    if count < 0:
        raise ValueError(f"held_out must be >= 0; got {held_out}.")
    singles = classes[counts < min_images]
    if len(singles):
        warnings.warn(
            f"{len(singles)} identities have fewer than {min_images} images (e.g. label "
            f"{singles[0]}): they cannot form positive pairs and are kept for training only.",
            stacklevel=2,
        )
    eligible = classes[counts >= min_images]
    if count > len(eligible):
        raise ValueError(
            f"Cannot hold out {count} identities: only {len(eligible)} have {min_images} or "
            "more images."
        )
    if len(classes) - count < 2:
        raise ValueError(
            f"Holding out {count} of {len(classes)} identities leaves fewer than 2 to train on."
        )
    rng = np.random.default_rng(seed)
    held_out_classes = np.sort(rng.choice(eligible, count, replace=False)) if count else classes[:0]
    is_held_out = np.isin(labels, held_out_classes)
    return IdentitySplit(
        train_indices=np.flatnonzero(~is_held_out),
        held_out_indices=np.flatnonzero(is_held_out),
        train_classes=np.setdiff1d(classes, held_out_classes),
        held_out_classes=held_out_classes,
    )


def split_by_image(indices, labels, fraction: float, seed: int = 0):
    """Holds out a fraction of each identity's images (a closed-set validation split).

    Each identity keeps at least one image for training; an identity with a single image
    contributes nothing to validation.

    Args:
        indices: The samples to split.
        labels: `(N,)` labels of all samples (indexed by `indices`).
        fraction: Fraction in `(0, 1)` of each identity's images to hold out.
        seed: Seed of the choice. Defaults to `0`.

    Returns:
        `(train_indices, validation_indices)`, each sorted.

    Raises:
        ValueError: If `fraction` is not in `(0, 1)`.

    Example:

    >>> train, validation = split_by_image(range(8), [0, 0, 0, 0, 1, 1, 1, 1], 0.25)
    >>> len(train), len(validation)
    (6, 2)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"A per-image validation fraction must lie in (0, 1); got {fraction}.")
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    validation = []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        count = min(round(fraction * len(members)), len(members) - 1)
        if count > 0:
            validation.extend(rng.choice(members, count, replace=False))
    validation = np.sort(np.asarray(validation, dtype=np.int64))
    return np.setdiff1d(indices, validation), validation
