"""Opening a run's data from its `--data` spec: training samples, held-out pairs, noise."""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np

from keras_expface.data.face_source import FaceDataset, FaceSource
from keras_expface.data.identity_folder import IdentityFolderSource
from keras_expface.data.splits import split_by_identity, split_by_image
from keras_expface.evaluation.pairs import pairs_from_labels
from keras_expface.evaluation.verification_pairs import VerificationPairs
from keras_expface.training.config import TrainConfig

#: Sources with at most this many images are decoded into memory up front (corrupt files
#: are then found, skipped and listed before training starts); larger ones are read lazily.
IN_MEMORY_LIMIT = 50_000
#: Options of the built-in data: `builtin:identities=300,images=16,nuisance=1.0`.
BUILTIN_DEFAULTS = {"identities": 150, "images": 10, "nuisance": 1.0}
#: At most this many positive pairs per held-out identity (keeps evaluation quick).
POSITIVES_PER_IDENTITY = 45


@dataclasses.dataclass
class TrainingData:
    """What a run trains and verifies on.

    Attributes:
        source: Where training images are read from.
        train_indices: Samples of `source` to train on.
        labels: `(len(source),)` training labels (after any injected noise), indexed into
            `class_names`; `-1` for samples not trained on.
        class_names: The training classes (the head's classes).
        validation_indices: Samples for closed-set validation (same classes), possibly empty.
        pairs: Held-out verification pairs, or `None`.
        noise: Ground truth of injected label noise (`LabelNoise`, aligned with `source`), or
            `None`.
        skipped: `(source, reason)` of samples that could not be read when the data was
            opened.
        description: One line on the data, for logs and the report.
    """

    source: FaceSource
    train_indices: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    validation_indices: np.ndarray
    pairs: VerificationPairs | None
    noise: object | None
    skipped: tuple[tuple[str, str], ...]
    description: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def parse_data_spec(spec: str) -> tuple[str, str, dict]:
    """Splits a `--data` spec into `(kind, location, options)`.

    Kinds: `"builtin"` (`builtin` or `builtin:identities=300,images=16,nuisance=1`),
    `"folder"` (a path, or `folder:PATH`), `"rec"` (`rec:PATH` to a `.rec` file or the folder
    holding `train.rec`), `"tfds"` (`tfds:NAME` or `tfds:NAME:SPLIT`).

    Raises:
        ValueError: For an empty spec or unknown built-in option.
    """
    if not spec:
        raise ValueError("The data spec is empty; use 'builtin', a folder, rec:PATH or tfds:NAME.")
    kind, _, rest = spec.partition(":")
    if kind == "builtin":
        options = dict(BUILTIN_DEFAULTS)
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            if key not in BUILTIN_DEFAULTS or not value:
                raise ValueError(
                    f"Unknown built-in data option {item!r}; valid: "
                    f"{', '.join(f'{k}=...' for k in BUILTIN_DEFAULTS)}."
                )
            try:
                options[key] = float(value) if key == "nuisance" else int(value)
            except ValueError:
                raise ValueError(
                    f"Built-in data option {key} must be a number; got {value!r}."
                ) from None
        return "builtin", "", options
    if kind in ("rec", "tfds", "folder") and rest:
        return kind, rest, {}
    return "folder", spec, {}


def _held_out_count(held_out: float, num_identities: int) -> int:
    if held_out >= 1 or held_out == 0:
        return int(held_out)
    return max(2, round(held_out * num_identities))


def open_training_data(config: TrainConfig) -> TrainingData:
    """Opens `config.data`, splits it, injects `config.noise`, makes the held-out pairs.

    Raises:
        FileNotFoundError: If a folder or record file does not exist.
        ValueError: For a bad spec, too few identities, or noise on data too large for memory.
    """
    kind, location, options = parse_data_spec(config.data)
    image_size = config.resolved_image_size()
    outsiders = None
    if kind == "builtin":
        from keras_expface.data.synthetic import make_synthetic_faces

        identities, images = options["identities"], options["images"]
        held_out = _held_out_count(config.held_out, identities)
        common = {
            "images_per_identity": images,
            "image_size": image_size,
            "color_mode": config.color_mode,
            "seed": config.seed,
            "nuisance": options["nuisance"],
        }
        train_set = make_synthetic_faces(identities, **common)
        held_out_set = (
            make_synthetic_faces(held_out, first_identity=identities, **common)
            if held_out
            else None
        )
        if "type1" in (config.noise or ""):
            # Outsiders: people of neither the training nor the held-out identities.
            outsiders = make_synthetic_faces(
                identities, first_identity=identities + held_out + 1000, **common
            )
        description = (
            f"built-in generated faces: {identities} training identities x {images} images, "
            f"{held_out} held-out identities, {image_size[0]}x{image_size[1]} {config.color_mode}"
        )
        return _finish(config, train_set, held_out_set, outsiders, (), description)

    if kind == "folder":
        source = IdentityFolderSource(location, image_size, config.color_mode)
        what = f"identity folder {location!r}"
    elif kind == "rec":
        from keras_expface.data.recordio import RecordFaceSource

        path = os.path.join(location, "train.rec") if os.path.isdir(location) else location
        source = RecordFaceSource(path, image_size=image_size, color_mode=config.color_mode)
        what = f"records {path!r}"
    else:
        from keras_expface.data.tfds_source import load_tfds

        name, _, split = location.partition(":")
        source = load_tfds(
            name,
            split=split or "train",
            image_size=image_size,
            color_mode=config.color_mode,
            download=not os.path.exists(name),  # a registered name: prepare it (network)
        )
        what = f"tfds {location!r}"
    skipped: tuple = ()
    if len(source) <= IN_MEMORY_LIMIT and not isinstance(source, FaceDataset):
        source = source.load() if hasattr(source, "load") else _load(source)
    if isinstance(source, FaceDataset):
        skipped = tuple(source.skipped)
    elif config.noise:
        raise ValueError(
            f"Label-noise injection needs the data in memory; {what} has {len(source)} "
            f"images (> {IN_MEMORY_LIMIT})."
        )
    num_identities = len(np.unique(source.labels))
    split = split_by_identity(
        source.labels, _held_out_count(config.held_out, num_identities), seed=config.seed
    )
    held_out_set = None
    if len(split.held_out_indices):
        held_out_set = _as_dataset(source, split.held_out_indices)
    description = (
        f"{what}: {len(split.train_classes)} training identities "
        f"({len(split.train_indices)} images), {len(split.held_out_classes)} held-out "
        f"identities"
    )
    if isinstance(source, FaceDataset):
        train_set = _relabel(source.subset(split.train_indices), split.train_classes, source)
        return _finish(config, train_set, held_out_set, None, skipped, description)
    # A lazy source: train on its samples in place.
    labels = np.full(len(source), -1, dtype=np.int32)
    labels[split.train_indices] = split.train_labels(source.labels)
    class_names = tuple(source.class_names[c] for c in split.train_classes)
    train_indices, validation_indices = _validation_split(config, split.train_indices, labels)
    return TrainingData(
        source=source,
        train_indices=train_indices,
        labels=labels,
        class_names=class_names,
        validation_indices=validation_indices,
        pairs=_pairs(held_out_set, config.seed),
        noise=None,
        skipped=skipped,
        description=description,
    )


def _load(source: FaceSource) -> FaceDataset:
    images, kept, skipped = [], [], []
    for index in range(len(source)):
        try:
            images.append(np.asarray(source.read(index)))
            kept.append(index)
        except OSError as error:
            skipped.append((source.describe(index), f"{type(error).__name__}: {error}"))
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable sample(s).", stacklevel=3)
    if not images:
        raise ValueError(f"No sample could be read ({len(skipped)} failed).")
    return FaceDataset(
        np.stack(images),
        np.asarray(source.labels)[kept].astype(np.int32),
        tuple(source.class_names),
        tuple(source.describe(i) for i in kept),
        tuple(skipped),
    )


def _as_dataset(source: FaceSource, indices) -> FaceDataset:
    if isinstance(source, FaceDataset):
        return source.subset(indices)
    kept = []
    images = []
    for index in indices:
        try:
            images.append(np.asarray(source.read(int(index))))
            kept.append(int(index))
        except OSError:
            continue
    return FaceDataset(
        np.stack(images),
        np.asarray(source.labels)[kept].astype(np.int32),
        tuple(source.class_names),
        tuple(source.describe(i) for i in kept),
    )


def _relabel(dataset: FaceDataset, classes: np.ndarray, source: FaceDataset) -> FaceDataset:
    """`dataset` with labels re-indexed to `classes` (the training identities)."""
    return dataclasses.replace(
        dataset,
        labels=np.searchsorted(classes, dataset.labels).astype(np.int32),
        class_names=tuple(source.class_names[c] for c in classes),
    )


def _validation_split(config: TrainConfig, train_indices, labels):
    if not config.validation_split:
        return np.asarray(train_indices), np.zeros(0, np.int64)
    return split_by_image(train_indices, labels, config.validation_split, seed=config.seed)


def _pairs(held_out_set: FaceDataset | None, seed: int) -> VerificationPairs | None:
    if held_out_set is None:
        return None
    return pairs_from_labels(
        held_out_set.images,
        held_out_set.labels,
        "held_out",
        image_names=held_out_set.paths,
        positives_per_identity=POSITIVES_PER_IDENTITY,
        seed=seed,
        source="the held-out identities",
    )


def _finish(config, train_set, held_out_set, outsiders, skipped, description) -> TrainingData:
    noise = None
    if config.noise:
        from keras_expface.data.label_noise import inject_label_noise

        train_set, noise = inject_label_noise(
            train_set, config.noise, seed=config.seed, outsiders=outsiders
        )
        description += f", label noise {config.noise}"
    train_indices, validation_indices = _validation_split(
        config, np.arange(len(train_set)), train_set.labels
    )
    return TrainingData(
        source=train_set,
        train_indices=train_indices,
        labels=np.asarray(train_set.labels, dtype=np.int32),
        class_names=tuple(train_set.class_names),
        validation_indices=validation_indices,
        pairs=_pairs(held_out_set, config.seed),
        noise=noise,
        skipped=tuple(skipped),
        description=description,
    )
