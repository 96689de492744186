"""Synthetic embeddings with known label noise, to check a noise ranking against the truth."""

from __future__ import annotations

import dataclasses

import numpy as np

#: Ground-truth kinds of `SyntheticLabelNoise.noise_kind` (and of `noise_kind` arguments).
NOISE_KIND_CLEAN = "clean"
NOISE_KIND_FLIP = "flip"
NOISE_KIND_TYPE1 = "type1"
NOISE_KIND_TYPE2 = "type2"
NOISE_KINDS = (NOISE_KIND_CLEAN, NOISE_KIND_FLIP, NOISE_KIND_TYPE1, NOISE_KIND_TYPE2)


@dataclasses.dataclass(frozen=True)
class SyntheticLabelNoise:
    """Embeddings, labels and class centres with the ground truth of the injected noise.

    Attributes:
        embeddings: `(N, D)` float64 unit vectors.
        labels: `(N,)` int64 (possibly wrong) training labels.
        centers: `(D, C)` float64 unit class centres.
        noise_kind: `(N,)` str: "clean", "flip", "type1" or "type2".
        identities: `(N,)` int64 true identity (-1 for Type-I outsiders).
    """

    embeddings: np.ndarray
    labels: np.ndarray
    centers: np.ndarray
    noise_kind: np.ndarray
    identities: np.ndarray


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _at_angle(rng, directions: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Unit vectors at the given angles from the unit `directions`, in random orientations."""
    random = rng.standard_normal(directions.shape)
    orthogonal = _unit(random - np.sum(random * directions, axis=1, keepdims=True) * directions)
    radians = np.radians(angles_deg)[:, None]
    return np.cos(radians) * directions + np.sin(radians) * orthogonal


def synthetic_label_noise(
    num_classes: int = 40,
    samples_per_class: int = 25,
    embedding_dim: int = 64,
    flip_fraction: float = 0.04,
    type1_fraction: float = 0.04,
    num_split_identities: int = 2,
    clean_angle: float = 40.0,
    clean_angle_std: float = 10.0,
    seed: int = 0,
) -> SyntheticLabelNoise:
    """Clustered embeddings around class centres, with three kinds of injected label noise.

    The geometry imitates a trained model (the paper's Figure 1):

    * clean: at `clean_angle ± clean_angle_std` degrees (normal, clipped to [2, 85]) from the
      centre of its class, in a random direction; random centres in D dimensions are
      nearly orthogonal (≈ 90° ± 90°/sqrt(D) apart);
    * "flip": a clean sample of one class carrying the label of another random class;
    * "type1": an image of no training identity: a random direction 70-95° from the centre
      of its (random) label, as a model that half memorised it would place it;
    * "type2": one identity split over two labels: `num_split_identities` extra classes,
      each a duplicate whose centre lies 20-35° from the centre of an original identity;
      half of that identity's samples carry the duplicate label. All samples of a split
      identity (both labels) are "type2": each sits close to the other label's centre.

    Args:
        num_classes: Original identities `C0`; the centres hold `C0 + num_split_identities`.
        samples_per_class: Samples per identity.
        embedding_dim: Dimension `D`.
        flip_fraction: Fraction of all samples whose label is flipped.
        type1_fraction: Outsiders added, as a fraction of the identity samples.
        num_split_identities: Identities split over a duplicate label.
        clean_angle: Mean angle (degrees) of a clean sample to its centre.
        clean_angle_std: Its standard deviation (degrees).
        seed: Seed of the NumPy generator.

    Returns:
        A `SyntheticLabelNoise`.

    Example:

    >>> data = synthetic_label_noise(num_classes=10, samples_per_class=5, seed=0)
    >>> data.embeddings.shape, data.centers.shape
    ((52, 64), (64, 12))
    >>> sorted(set(data.noise_kind.tolist()))
    ['clean', 'flip', 'type1', 'type2']
    """
    if num_split_identities > num_classes:
        raise ValueError("num_split_identities cannot exceed num_classes.")
    rng = np.random.default_rng(seed)
    centers = _unit(rng.standard_normal((num_classes, embedding_dim)))
    identities = np.repeat(np.arange(num_classes), samples_per_class)
    angles = np.clip(rng.normal(clean_angle, clean_angle_std, identities.size), 2.0, 85.0)
    embeddings = _at_angle(rng, centers[identities], angles)
    labels = identities.copy()
    noise_kind = np.full(identities.size, NOISE_KIND_CLEAN, dtype="<U5")

    # Type-II: duplicate classes near a split identity, half of its samples relabelled.
    split = rng.choice(num_classes, num_split_identities, replace=False)
    duplicates = _at_angle(rng, centers[split], rng.uniform(20.0, 35.0, split.size))
    for offset, identity in enumerate(split):
        members = np.flatnonzero(identities == identity)
        labels[rng.permutation(members)[: members.size // 2]] = num_classes + offset
        noise_kind[members] = NOISE_KIND_TYPE2
    centers = np.concatenate([centers, duplicates])
    num_labels = centers.shape[0]

    # Flips: clean samples (of unsplit identities) relabelled to another random class.
    candidates = np.flatnonzero(noise_kind == NOISE_KIND_CLEAN)
    flipped = rng.choice(candidates, round(flip_fraction * identities.size), replace=False)
    shift = rng.integers(1, num_labels, flipped.size)
    labels[flipped] = (labels[flipped] + shift) % num_labels
    noise_kind[flipped] = NOISE_KIND_FLIP

    # Type-I: outsiders with random labels, 70-95° from their label's centre.
    num_outsiders = round(type1_fraction * identities.size)
    outsider_labels = rng.integers(0, num_labels, num_outsiders)
    outsiders = _at_angle(rng, centers[outsider_labels], rng.uniform(70.0, 95.0, num_outsiders))

    return SyntheticLabelNoise(
        embeddings=np.concatenate([embeddings, outsiders]),
        labels=np.concatenate([labels, outsider_labels]).astype(np.int64),
        centers=centers.T.copy(),
        noise_kind=np.concatenate([noise_kind, np.full(num_outsiders, NOISE_KIND_TYPE1)]),
        identities=np.concatenate([identities, np.full(num_outsiders, -1)]).astype(np.int64),
    )
