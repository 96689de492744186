"""`diagnose_run` / `diagnose_model`: the noise diagnostics of a trained model on its data."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_expface.diagnostics import diagnose, head_centers
from keras_expface.diagnostics.regions import DEFAULT_HIGH, DEFAULT_LOW
from keras_expface.evaluation.embeddings import compute_embeddings, embedding_model_from
from keras_expface.saving import load_model
from keras_expface.training.config import TrainConfig
from keras_expface.training.datasets import TrainingData, open_training_data
from keras_expface.training.run_directory import BEST_MODEL, LAST_MODEL, RunDirectory

#: Default cap on the samples embedded (a random subset beyond it, by seed).
DEFAULT_MAX_SAMPLES = 5000


def diagnose_training_data(
    data: TrainingData,
    model,
    out_dir: str | None,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
    top_k: int = 100,
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
    batch_size: int = 64,
):
    """Embeds the training samples of `data` with `model` and runs `diagnostics.diagnose`.

    Args:
        data: The run's data (`open_training_data`), labels as the head was trained on.
        model: The training model (embedding model + `CosineHead`).
        out_dir: Where `diagnose` writes its files, or `None`.
        low: Lower angle threshold (Type-II region), degrees. Defaults to `55`.
        high: Upper angle threshold (Type-I region), degrees. Defaults to `87`.
        top_k: Suspects listed in `suspects.csv`. Defaults to `100`.
        max_samples: Embed at most this many samples (a seeded random subset), or `None`
            for all. Defaults to `5000`.
        seed: Seed of the subset. Defaults to `0`.
        batch_size: Images per model call. Defaults to `64`.

    Returns:
        `(diagnosis, indices)`: the `Diagnosis` and the sample indices it covers.

    Raises:
        ValueError: If the model's head has another number of classes than `data`.
    """
    centers = head_centers(model)
    num_classes = centers.centers.shape[-1] // centers.num_subcenters
    if num_classes != data.num_classes:
        raise ValueError(
            f"The model's head has {num_classes} classes but the data has {data.num_classes} "
            "training identities: diagnose a model on the data (and split) it was trained on."
        )
    indices = np.asarray(data.train_indices)
    if max_samples is not None and len(indices) > max_samples:
        rng = np.random.default_rng(seed)
        indices = np.sort(rng.choice(indices, max_samples, replace=False))
    readable, images = [], []
    for index in indices:
        try:
            images.append(np.asarray(data.source.read(int(index))))
            readable.append(int(index))
        except OSError:  # unreadable: listed by the training report already
            continue
    indices = np.asarray(readable, dtype=np.int64)
    images = np.stack(images)
    embeddings = compute_embeddings(
        embedding_model_from(model), images, batch_size=batch_size, flip=False
    )
    noise_kind = None if data.noise is None else np.asarray(data.noise.kind)[indices]
    diagnosis = diagnose(
        embeddings,
        data.labels[indices],
        centers.centers,
        num_subcenters=centers.num_subcenters,
        paths=[data.source.describe(int(i)) for i in indices],
        images=images,
        noise_kind=noise_kind,
        out_dir=out_dir,
        low=low,
        high=high,
        top_k=top_k,
    )
    return diagnosis, indices


def diagnose_run(
    run_dir: str,
    out_dir: str | None = None,
    checkpoint: str = "last",
    **kwargs,
):
    """Diagnoses a finished (or interrupted) run: its model on its own training data.

    The data, split and injected noise are rebuilt from the run's `config.json` (they are
    deterministic by seed), so the known noisy samples are marked and the ranking's
    precision and recall are measured.

    Args:
        run_dir: The run folder of `keras-expface train`.
        out_dir: Where to write. Defaults to `None` (`RUN_DIR/diagnostics`).
        checkpoint: `"last"` or `"best"` (the best held-out verification). Defaults to
            `"last"`.
        **kwargs: `low`, `high`, `top_k`, `max_samples` of `diagnose_training_data`.

    Returns:
        The `Diagnosis`.

    Raises:
        FileNotFoundError: If `run_dir` is not a run folder or has no such checkpoint.
    """
    run = RunDirectory(run_dir)
    config = run.read_config()
    if config is None:
        raise FileNotFoundError(f"{run_dir!r} is not a keras-expface run folder (no config.json).")
    if checkpoint not in ("last", "best"):
        raise ValueError(f"checkpoint must be 'last' or 'best'; got {checkpoint!r}.")
    path = run.file(LAST_MODEL if checkpoint == "last" else BEST_MODEL)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} does not exist: the run has no {checkpoint} model yet.")
    data = open_training_data(dataclasses.replace(config, verbose=0))
    diagnosis, _ = diagnose_training_data(
        data,
        load_model(path, compile=False),
        out_dir or run.file("diagnostics"),
        seed=config.seed,
        **kwargs,
    )
    return diagnosis


def diagnose_model(
    model_path: str,
    data: str,
    out_dir: str,
    color_mode: str = "rgb",
    noise: str = "",
    seed: int = 0,
    **kwargs,
):
    """Diagnoses a training model (`.keras`, ending in a `CosineHead`) on a dataset.

    Every identity of `data` is taken as a training class, in the order the data lists
    them (sorted folder names); the head must have that many classes.

    Args:
        model_path: The `.keras` training model.
        data: A `--data` spec (folder, `rec:PATH`, `tfds:NAME`, `builtin:...`).
        out_dir: Where to write.
        color_mode: `"rgb"` or `"grayscale"`. Defaults to `"rgb"`.
        noise: Label noise to inject before diagnosing (ground truth known). Defaults to
            `""`.
        seed: Seed of the noise and the subset. Defaults to `0`.
        **kwargs: `low`, `high`, `top_k`, `max_samples` of `diagnose_training_data`.

    Returns:
        The `Diagnosis`.
    """
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"Model file {model_path!r} does not exist.")
    model = load_model(model_path, compile=False)
    height, width = model.input_shape[1:3]
    config = TrainConfig(
        data=data,
        image_size=(height, width),
        color_mode=color_mode,
        held_out=0,
        noise=noise,
        seed=seed,
        verbose=0,
    )
    diagnosis, _ = diagnose_training_data(
        open_training_data(config), model, out_dir, seed=seed, **kwargs
    )
    return diagnosis
