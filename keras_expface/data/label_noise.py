"""Label noise with known ground truth: flipped labels, Type-I and Type-II noise.

`inject_label_noise` corrupts the labels of any `FaceDataset` reproducibly (by `seed`) and
returns, beside the noisy dataset, a `LabelNoise` record of what was done to every sample,
so that a robustness experiment can tell which samples a loss or a cleaning method should
have caught. The kinds are those of the ExpFace paper's noise experiments:

* `flip` -- a sample carries a uniformly drawn *other* training label;
* `type1` -- Type-I noise, an *outsider*: an image of no training identity carrying a
  (uniformly drawn) training label. The images come from an `outsiders` dataset when given
  (for instance `make_synthetic_faces(first_identity=...)` beyond the training identities),
  else from whole identities taken out of the dataset itself (their classes are removed and
  the remaining labels re-indexed compactly, in the original order);
* `type2` -- Type-II noise, one identity under several labels: part of an identity's images
  are relabelled to a *new* class, appended to the class names as `"<name>~split1"`.

Rates are fractions of the *returned* dataset, of `N'` samples, every noisy sample of
exactly one kind (`round` is Python's, to the nearest integer):

* `type1:r` with `outsiders`: `n1 = round(r * N / (1 - r))` outsider images, drawn without
  replacement, are appended after the `N` samples of the dataset, so `N' = N + n1` and
  `n1 / N'` is `r` up to rounding.
* `type1:r` without `outsiders`: `n1 = round(r * N)`. Identities are taken out in a seeded
  random order until they hold at least `n1` images; `n1` of those images, drawn at random,
  stay (in place) as Type-I samples and the few others of the last identity taken out are
  dropped, so `N' = N - dropped` (`dropped` is less than that identity's image count) and
  `n1 / N'` is at most one identity's images away from `r`. At least two training
  identities must remain.
* `flip:r`: `round(r * N')` samples of the remaining training identities, drawn uniformly,
  get a label drawn uniformly among the other training identities' labels (never a new
  Type-II class).
* `type2:r`: `round(r * N')` samples get a new split label. Identities are split in a seeded
  random order, each giving up at most half of its samples (so its main label keeps the
  majority or a tie), the last one only what is left to reach the count.

Type-II samples are drawn first, then flips among the samples left clean. The sum of the
rates must be below 1, and a request the data cannot meet (too few images for the splits,
the outsiders or the flips) raises a ValueError saying so.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import numbers
import os
from collections.abc import Mapping

import numpy as np

from keras_expface.data.face_source import FaceDataset

__all__ = ["NOISE_KINDS", "LabelNoise", "inject_label_noise", "parse_noise_spec"]

#: The kinds of label noise, in the order they are reported.
NOISE_KINDS = ("flip", "type1", "type2")
_ALL_KINDS = ("clean", *NOISE_KINDS)
_CSV_COLUMNS = ("index", "path", "kind", "label", "true_identity", "original_label")
_SPLIT_SUFFIX = "~split"


def parse_noise_spec(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """Validates a label-noise request: `"flip:0.2,type1:0.1"`, a mapping, or nothing.

    Args:
        spec: Comma-separated `kind:rate` items (spaces allowed), a mapping of kind to rate,
            or `None` / `""` / `{}` for no noise. Kinds are `flip`, `type1` and `type2`
            (see the module docstring for how each rate is defined).

    Returns:
        A dict of kind to rate (float), in the order given; rates of 0 are kept.

    Raises:
        ValueError: On a malformed item, an unknown or repeated kind, a rate that is not a
            number in `[0, 1)`, or rates summing to 1 or more.

    Example:

    >>> parse_noise_spec("flip:0.2, type1:0.1")
    {'flip': 0.2, 'type1': 0.1}
    >>> parse_noise_spec(None)
    {}
    """
    if spec is None:
        return {}
    if isinstance(spec, str):
        items = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            kind, sep, rate = item.partition(":")
            if not sep:
                raise ValueError(
                    f"Label noise item {item!r} is malformed: expected 'kind:rate', e.g. "
                    f"'flip:0.2' (kinds: {', '.join(NOISE_KINDS)})."
                )
            try:
                value = float(rate.strip())
            except ValueError:
                raise ValueError(
                    f"Label noise item {item!r}: the rate {rate.strip()!r} is not a number."
                ) from None
            items.append((kind.strip(), value))
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        raise ValueError(
            f"Label noise must be a 'kind:rate,...' string, a mapping or None; got {spec!r}."
        )
    rates: dict[str, float] = {}
    for kind, rate in items:
        if kind not in NOISE_KINDS:
            raise ValueError(
                f"Unknown label noise kind {kind!r}; known kinds: {', '.join(NOISE_KINDS)}."
            )
        if kind in rates:
            raise ValueError(f"Label noise kind {kind!r} is given twice.")
        if (
            isinstance(rate, bool)
            or not isinstance(rate, numbers.Real)
            or not math.isfinite(rate)
            or not 0 <= rate < 1
        ):
            raise ValueError(f"Label noise rate of {kind!r} must be in [0, 1); got {rate!r}.")
        rates[kind] = float(rate)
    if sum(rates.values()) >= 1:
        raise ValueError(
            f"Label noise rates must sum to less than 1 (each noisy sample has one kind); "
            f"got {rates} summing to {sum(rates.values()):g}."
        )
    return rates


@dataclasses.dataclass(frozen=True, eq=False)
class LabelNoise:
    """The ground truth of injected label noise, one entry per sample of the noisy dataset.

    Attributes:
        kind: `(N,)` str: `"clean"`, `"flip"`, `"type1"` or `"type2"`.
        label: `(N,)` int32, the label the sample carries (the noisy dataset's labels).
        original_label: `(N,)` int32, the label of the sample's real identity in the noisy
            dataset's classes (the main label of a split identity), `-1` for a Type-I
            sample (its identity is no class).
        true_identity: The real identity name of each sample (the outsider's own name for a
            Type-I sample).
        paths: Where each sample comes from (its original path), as the dataset's `paths`.

    Example:

    >>> import numpy as np
    >>> noise = LabelNoise(np.array(["clean", "flip"]), np.array([0, 0]), np.array([0, 1]),
    ...                    ("a", "b"), ("a/0", "b/0"))
    >>> noise.is_noisy.tolist(), noise.counts()
    ([False, True], {'clean': 1, 'flip': 1, 'type1': 0, 'type2': 0})
    """

    kind: np.ndarray
    label: np.ndarray
    original_label: np.ndarray
    true_identity: tuple[str, ...]
    paths: tuple[str, ...]

    def __post_init__(self):
        kind = np.asarray(self.kind).astype(str)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "label", np.asarray(self.label, np.int32).reshape(-1))
        object.__setattr__(
            self, "original_label", np.asarray(self.original_label, np.int32).reshape(-1)
        )
        object.__setattr__(self, "true_identity", tuple(str(n) for n in self.true_identity))
        object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
        sizes = {
            len(kind),
            len(self.label),
            len(self.original_label),
            len(self.true_identity),
            len(self.paths),
        }
        if kind.ndim != 1 or len(sizes) != 1:
            raise ValueError(
                "LabelNoise fields must all have one entry per sample; got lengths "
                f"kind={kind.shape}, label={len(self.label)}, "
                f"original_label={len(self.original_label)}, "
                f"true_identity={len(self.true_identity)}, paths={len(self.paths)}."
            )
        unknown = sorted(set(kind.tolist()) - set(_ALL_KINDS))
        if unknown:
            raise ValueError(f"Unknown noise kind(s) {unknown}; expected one of {_ALL_KINDS}.")

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def is_noisy(self) -> np.ndarray:
        """`(N,)` bool: the sample's label is not its identity's (any kind but clean)."""
        return self.kind != "clean"

    def counts(self) -> dict[str, int]:
        """Number of samples of each kind, `clean` first, every kind listed."""
        return {kind: int(np.sum(self.kind == kind)) for kind in _ALL_KINDS}

    def summary(self) -> str:
        """One line: the sample count and each kind's count and fraction.

        Example:

        >>> LabelNoise(np.array(["clean", "type2"]), [0, 1], [0, 0], ("a", "a"),
        ...            ("a/0", "a/1")).summary()
        '2 samples: 1 clean (50.0%), 0 flip, 0 type1, 1 type2 (50.0%)'
        """
        total = len(self)
        parts = []
        for kind, count in self.counts().items():
            parts.append(f"{count} {kind}" + (f" ({count / total:.1%})" if count else ""))
        return f"{total} samples: " + ", ".join(parts)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the ground truth as CSV, one row per sample.

        Columns: `index, path, kind, label, true_identity, original_label`.

        Args:
            path: The CSV file to write (overwritten).
        """
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(_CSV_COLUMNS)
            for index in range(len(self)):
                writer.writerow(
                    (
                        index,
                        self.paths[index],
                        self.kind[index],
                        int(self.label[index]),
                        self.true_identity[index],
                        int(self.original_label[index]),
                    )
                )

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelNoise:
        """Reads a ground truth written by `save`.

        Args:
            path: The CSV file.

        Returns:
            The `LabelNoise`.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If the header or a row is not what `save` writes (named by line).

        Example:

        ```python
        noisy, noise = inject_label_noise(faces, "flip:0.2", seed=1)
        noise.save("noise.csv")
        assert (LabelNoise.load("noise.csv").kind == noise.kind).all()
        ```
        """
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
        if not rows or tuple(rows[0]) != _CSV_COLUMNS:
            raise ValueError(
                f"{os.fspath(path)!r} is not a label noise file: its header must be "
                f"{','.join(_CSV_COLUMNS)}."
            )
        kinds, labels, originals, identities, paths = [], [], [], [], []
        for line, row in enumerate(rows[1:], start=2):
            try:
                index, sample_path, kind, label, identity, original = row
                if int(index) != line - 2:
                    raise ValueError(f"index {index} out of order")
                labels.append(int(label))
                originals.append(int(original))
            except ValueError as error:
                raise ValueError(
                    f"{os.fspath(path)}:{line}: malformed row {row!r} ({error})."
                ) from None
            kinds.append(kind)
            identities.append(identity)
            paths.append(sample_path)
        return cls(np.array(kinds, dtype=str), labels, originals, identities, paths)


def _clean_noise(dataset: FaceDataset) -> LabelNoise:
    labels = np.asarray(dataset.labels, np.int32)
    return LabelNoise(
        np.full(len(labels), "clean"),
        labels,
        labels,
        tuple(dataset.class_names[label] for label in labels),
        dataset.paths,
    )


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}.")
    return int(seed)


def inject_label_noise(
    dataset: FaceDataset,
    noise: str | Mapping[str, float] | None,
    seed: int = 0,
    outsiders: FaceDataset | None = None,
) -> tuple[FaceDataset, LabelNoise]:
    """Corrupts the labels of `dataset` with flips, Type-I and Type-II noise, reproducibly.

    See the module docstring for the exact count of each kind. The samples keep the order
    of `dataset` (less any Type-I identity images dropped), outsider images follow; each
    keeps its original path, so reports can list the files.

    Args:
        dataset: The clean `FaceDataset`.
        noise: What to inject, see `parse_noise_spec` (`"flip:0.2,type2:0.1"`, a mapping,
            or `None` / `{}` for none).
        seed: Non-negative integer seed of every random choice. Defaults to `0`.
        outsiders: Images of other identities for Type-I noise, of the same image shape as
            `dataset` and sharing no class name with it. Defaults to `None` (take Type-I
            identities out of `dataset`). Ignored without `type1` noise.

    Returns:
        `(noisy_dataset, ground_truth)`: the noisy `FaceDataset` (classes: the training
        identities, then the Type-II split classes) and its `LabelNoise`, aligned sample by
        sample. Without noise, `dataset` itself and an all-clean `LabelNoise`.

    Raises:
        ValueError: If `noise` is invalid (see `parse_noise_spec`), `dataset` or
            `outsiders` is not a `FaceDataset` or they do not fit together, `seed` is not
            a non-negative integer, or the data cannot carry the requested noise (too few
            identities, outsiders or images; the message says which).

    Example:

    >>> from keras_expface.data.synthetic import make_synthetic_faces
    >>> faces = make_synthetic_faces(10, 4, image_size=(16, 16))
    >>> noisy, truth = inject_label_noise(faces, "flip:0.25,type2:0.1", seed=3)
    >>> truth.counts()
    {'clean': 26, 'flip': 10, 'type1': 0, 'type2': 4}
    >>> noisy.num_classes, noisy.class_names[-1].count("~split1")
    (12, 1)
    """
    rates = {kind: rate for kind, rate in parse_noise_spec(noise).items() if rate > 0}
    seed = _check_seed(seed)
    if not isinstance(dataset, FaceDataset):
        raise ValueError(f"dataset must be a FaceDataset; got {type(dataset).__name__}.")
    if not rates:
        return dataset, _clean_noise(dataset)
    rng = np.random.default_rng(seed)
    labels = np.asarray(dataset.labels, np.int64)
    num_samples, num_classes = len(labels), dataset.num_classes
    names = dataset.class_names

    # Type-I: which samples become outsiders, which identities leave the class set.
    type1_rate = rates.get("type1", 0.0)
    taken_classes = np.zeros(num_classes, bool)
    retained = np.arange(num_samples)
    outsider_index = np.zeros(0, np.int64)
    if type1_rate and outsiders is not None:
        if not isinstance(outsiders, FaceDataset):
            raise ValueError(f"outsiders must be a FaceDataset; got {type(outsiders).__name__}.")
        if outsiders.images.shape[1:] != dataset.images.shape[1:]:
            raise ValueError(
                f"outsiders' images are {outsiders.images.shape[1:]}, the dataset's "
                f"{dataset.images.shape[1:]}; they must match (height, width, channels)."
            )
        shared = sorted(
            set(outsiders.class_names[i] for i in np.unique(outsiders.labels)) & set(names)
        )
        if shared:
            raise ValueError(
                f"outsiders share {len(shared)} identities with the dataset (e.g. "
                f"{shared[0]!r}); Type-I images must be of no training identity."
            )
        count = round(type1_rate * num_samples / (1 - type1_rate))
        if count > len(outsiders):
            raise ValueError(
                f"type1:{type1_rate:g} needs {count} outsider images; outsiders has only "
                f"{len(outsiders)}."
            )
        outsider_index = np.sort(rng.choice(len(outsiders), count, replace=False))
    elif type1_rate:
        count = round(type1_rate * num_samples)
        order = rng.permutation(num_classes)
        per_class = np.bincount(labels, minlength=num_classes)
        enough = np.flatnonzero(np.cumsum(per_class[order]) >= count)
        taken = order[: enough[0] + 1] if count and len(enough) else order[:0]
        if num_classes - len(taken) < 2:
            raise ValueError(
                f"type1:{type1_rate:g} would take {len(taken)} of the {num_classes} identities "
                f"out of the dataset, leaving fewer than 2; pass outsiders or a lower rate."
            )
        taken_classes[taken] = True
        candidates = np.flatnonzero(taken_classes[labels])
        kept = rng.choice(candidates, count, replace=False)
        drop = np.zeros(num_samples, bool)
        drop[np.setdiff1d(candidates, kept)] = True  # the rest of the last identity taken
        retained = np.flatnonzero(~drop)

    train_classes = np.flatnonzero(~taken_classes)
    num_train = len(train_classes)
    remap = np.full(num_classes, -1, np.int64)
    remap[train_classes] = np.arange(num_train)
    total = len(retained) + len(outsider_index)

    new_labels = remap[labels[retained]]  # -1 for a Type-I sample of the dataset
    original = new_labels.copy()
    kind = np.where(new_labels < 0, "type1", "clean").astype("<U5")
    class_names = [names[c] for c in train_classes]

    # Type-II: split identities, each giving up at most half of its samples.
    type2_count = round(rates.get("type2", 0.0) * total)
    if type2_count:
        per_identity = np.bincount(new_labels[new_labels >= 0], minlength=num_train)
        capacity = int(np.sum(per_identity // 2))
        if type2_count > capacity:
            raise ValueError(
                f"type2:{rates['type2']:g} needs {type2_count} split samples; the identities "
                f"can give at most {capacity} (half of each one's images)."
            )
        left = type2_count
        for identity in rng.permutation(num_train):
            if not left:
                break
            give = min(per_identity[identity] // 2, left)
            if not give:
                continue
            members = np.flatnonzero(new_labels == identity)
            moved = rng.choice(members, give, replace=False)
            base = names[train_classes[identity]]
            number = 1
            while f"{base}{_SPLIT_SUFFIX}{number}" in class_names:
                number += 1
            class_names.append(f"{base}{_SPLIT_SUFFIX}{number}")
            new_labels[moved] = len(class_names) - 1
            kind[moved] = "type2"
            left -= give

    # Flips: among the samples left clean, to another training identity's label.
    flip_count = round(rates.get("flip", 0.0) * total)
    if flip_count:
        clean = np.flatnonzero(kind == "clean")
        if num_train < 2:
            raise ValueError("flip noise needs at least 2 training identities.")
        if flip_count > len(clean):
            raise ValueError(
                f"flip:{rates['flip']:g} needs {flip_count} clean samples to flip; only "
                f"{len(clean)} are left."
            )
        flipped = np.sort(rng.choice(clean, flip_count, replace=False))
        offsets = rng.integers(1, num_train, size=flip_count)
        new_labels[flipped] = (new_labels[flipped] + offsets) % num_train
        kind[flipped] = "flip"

    # Type-I labels: uniform over the training identities.
    self_type1 = np.flatnonzero(kind == "type1")
    new_labels[self_type1] = rng.integers(num_train, size=len(self_type1))
    true_identity = [names[c] for c in labels[retained]]
    paths = [dataset.paths[i] for i in retained]
    images = dataset.images[retained]
    if len(outsider_index):
        outsider_labels = rng.integers(num_train, size=len(outsider_index))
        new_labels = np.concatenate([new_labels, outsider_labels])
        original = np.concatenate([original, np.full(len(outsider_index), -1)])
        kind = np.concatenate([kind, np.full(len(outsider_index), "type1")])
        true_identity += [outsiders.class_names[outsiders.labels[i]] for i in outsider_index]
        paths += [outsiders.paths[i] for i in outsider_index]
        images = np.concatenate([images, outsiders.images[outsider_index]])

    noisy = FaceDataset(
        images, new_labels.astype(np.int32), tuple(class_names), tuple(paths), dataset.skipped
    )
    return noisy, LabelNoise(kind, new_labels, original, tuple(true_identity), tuple(paths))
