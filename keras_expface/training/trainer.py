"""`train`: one resumable training run from a `TrainConfig` into a run folder."""

from __future__ import annotations

import dataclasses
import math
import os
import time

import keras

from keras_expface.data.face_batches import FaceBatches
from keras_expface.evaluation.embeddings import embedding_model_from, evaluate_model
from keras_expface.evaluation.verification_callback import VerificationCallback
from keras_expface.models.face_model import build_face_model
from keras_expface.saving import load_model
from keras_expface.training.config import TrainConfig
from keras_expface.training.datasets import TrainingData, open_training_data
from keras_expface.training.report import verification_summary
from keras_expface.training.run_directory import (
    EMBEDDING_MODEL,
    LOG_FILE,
    NOISE_FILE,
    RunDirectory,
    atomic_save_model,
)

#: The metric that picks the best epoch (held-out verification accuracy).
MONITOR = "held_out_accuracy"


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        run_dir: The run folder.
        history: One dict of logged metrics per epoch (all epochs, resumed ones included).
        report: The contents of `report.json`.
        resumed_from: Epochs already done when this call started (0 for a fresh run).
    """

    run_dir: str
    history: list[dict]
    report: dict
    resumed_from: int


class _StopAfterOneEpoch(keras.callbacks.Callback):
    """Ends `fit` after one epoch, so each epoch gets its own deterministic batches."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _steps_per_epoch(config: TrainConfig, data: TrainingData) -> int:
    return len(data.train_indices) // config.batch_size


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The configured optimizer with its learning-rate schedule (counted in steps).

    SGD with momentum and weight decay, as the authors train (insightface: 0.1, 0.9, 5e-4,
    cosine or step decay), or AdamW / Adam. Warm-up ramps linearly from 0.
    """
    total = config.epochs * steps_per_epoch
    warmup = config.warmup_epochs * steps_per_epoch
    rate = config.learning_rate
    if config.schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else rate,
            decay_steps=max(total - warmup, 1),
            warmup_target=rate if warmup else None,
            warmup_steps=warmup,
        )
    elif config.schedule == "step":
        boundaries = [epoch * steps_per_epoch for epoch in config.lr_steps]
        values = [rate * 0.1**i for i in range(len(boundaries) + 1)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    else:
        schedule = rate
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(
            schedule, momentum=config.momentum, weight_decay=config.weight_decay or None
        )
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(schedule)


def build_training_model(config: TrainConfig, num_classes: int) -> keras.Model:
    """The compiled training model (embedding model + `CosineHead`) of a fresh run."""
    height, width = config.resolved_image_size()
    channels = 3 if config.color_mode == "rgb" else 1
    _, training_model = build_face_model(
        config.backbone,
        num_classes,
        embedding_dim=config.embedding_dim,
        input_shape=(height, width, channels),
        weights=config.weights,
        num_subcenters=config.num_subcenters,
        backbone_kwargs=config.backbone_args,
    )
    return training_model


def _batches(config, data, epoch, failures, validation=False) -> FaceBatches:
    indices = data.validation_indices if validation else data.train_indices
    return FaceBatches(
        data.source,
        config.batch_size,
        indices=indices,
        labels=data.labels,
        seed=config.seed,
        epoch=epoch,
        shuffle=not validation,
        horizontal_flip=config.horizontal_flip and not validation,
        drop_remainder=not validation,
        failures=failures,
        workers=config.workers,
    )


def train(
    config: TrainConfig | None = None,
    out: str = "run",
    overwrite: bool = False,
    **overrides,
) -> TrainResult:
    """Trains a face embedder as `config` says, into the run folder `out`; resumes if asked.

    Runs epoch after epoch: Keras' `fit` with its progress bar, held-out verification after
    every epoch (`VerificationCallback`), `log.csv`, a checkpoint of the model with its
    optimizer after every epoch, `best.keras` / `best_embedding.keras` when the held-out
    accuracy improves, and at the end `embedding.keras`, `report.json` and the figures
    (`keras_expface.training.write_report`).

    Started again with the same `out` and configuration, a killed run continues from its
    last completed epoch: weights, optimizer state and schedule position come from the
    checkpoint; the batch order and flips of each epoch depend only on `(seed, epoch)`; the
    layers' random state (dropout) is reseeded from `(seed, epoch)` at every epoch. A run
    already finished only rewrites its report.

    Args:
        config: The run. Defaults to `None` (`TrainConfig()`, the built-in data).
        out: The run folder. Defaults to `"run"`.
        overwrite: Replace a run with a different configuration in `out`. Defaults to
            `False` (refuse with `RunConfigMismatch`).
        **overrides: `TrainConfig` fields overriding `config`'s.

    Returns:
        A `TrainResult`.

    Example:

    ```python
    result = train(TrainConfig(data="builtin", epochs=5), out="runs/expface")
    result.report["verification"]["accuracy"]
    ```
    """
    config = dataclasses.replace(config or TrainConfig(), **overrides)
    run = RunDirectory(out)
    resuming = run.prepare(config, overwrite=overwrite)
    previous_policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(config.precision)
    try:
        return _train(config, run, resuming)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def _say(config: TrainConfig, message: str) -> None:
    if config.verbose:
        print(message, flush=True)


def _train(config: TrainConfig, run: RunDirectory, resuming: bool) -> TrainResult:
    from keras_expface.training.report import write_report

    data = open_training_data(config)
    _say(config, f"Data: {data.description}.")
    if data.noise is not None and not os.path.exists(run.file(NOISE_FILE)):
        data.noise.save(run.file(NOISE_FILE))
    steps = _steps_per_epoch(config, data)
    if steps < 1:
        raise ValueError(
            f"{len(data.train_indices)} training images do not fill one batch of "
            f"{config.batch_size}; lower --batch-size."
        )

    checkpoint = run.latest_checkpoint() if resuming else None
    if checkpoint is None:
        keras.utils.set_random_seed(config.seed)
        model = build_training_model(config, data.num_classes)
        model.compile(
            optimizer=make_optimizer(config, steps),
            loss=config.make_loss(),
            metrics=["sparse_categorical_accuracy"],
        )
        state = {"epochs_done": 0, "history": [], "best": None, "failures": {}, "timing": []}
        embedding_model = embedding_model_from(model)
        if data.pairs is not None:
            untrained = evaluate_model(embedding_model, data.pairs, batch_size=64)
            state["untrained_verification"] = verification_summary(untrained)
            _say(config, f"Untrained held-out verification accuracy {untrained.accuracy:.4f}.")
        epochs_done = 0
    else:
        epochs_done, path, state = checkpoint
        model = load_model(path)
        embedding_model = embedding_model_from(model)
        run.truncate_log(epochs_done)
        _say(config, f"Resuming {run.path!r} after epoch {epochs_done} of {config.epochs}.")
    failures: dict[str, str] = dict(state.get("failures", {}))

    if epochs_done == 0:
        probe = _batches(config, data, 0, {})
        state["pipeline_images_per_second"] = probe.measure_throughput(5)

    callbacks = []
    if data.pairs is not None:
        callbacks.append(
            VerificationCallback(data.pairs, embedding_model=embedding_model, verbose=0)
        )
    callbacks += [
        keras.callbacks.CSVLogger(run.file(LOG_FILE), append=True),
        keras.callbacks.TerminateOnNaN(),
        _StopAfterOneEpoch(),
    ]
    for epoch in range(epochs_done, config.epochs):
        keras.utils.set_random_seed(config.seed * 100_003 + epoch)  # dropout etc. per epoch
        start = time.perf_counter()
        validation = (
            _batches(config, data, epoch, failures, validation=True)
            if len(data.validation_indices)
            else None
        )
        history = model.fit(
            _batches(config, data, epoch, failures),
            validation_data=validation,
            initial_epoch=epoch,
            epochs=config.epochs,
            callbacks=callbacks,
            shuffle=False,  # FaceBatches orders the samples itself, from (seed, epoch)
            verbose=config.verbose,
        )
        seconds = time.perf_counter() - start
        logs = {key: float(values[-1]) for key, values in history.history.items()}
        if not all(math.isfinite(value) for value in logs.values() if value is not None):
            raise FloatingPointError(
                f"Epoch {epoch + 1}: a logged value is not finite ({logs}); training stopped. "
                "Lower the learning rate or check the labels."
            )
        logs["epoch"] = epoch + 1
        logs["seconds"] = seconds
        state["history"].append(logs)
        state["timing"].append({"epoch": epoch + 1, "seconds": seconds, "steps": steps})
        state["epochs_done"] = epoch + 1
        state["failures"] = failures
        improved = MONITOR in logs and (state["best"] is None or logs[MONITOR] > state["best"][1])
        if improved:
            state["best"] = (epoch + 1, logs[MONITOR])
        path = run.save_checkpoint(model, epoch + 1, state)
        if improved:
            run.mark_best(path, embedding_model)
        if MONITOR in logs and config.verbose:
            print(f"held-out verification accuracy {logs[MONITOR]:.4f}", flush=True)

    atomic_save_model(embedding_model, run.file(EMBEDDING_MODEL))
    report = write_report(run, config, data, model, embedding_model, state)
    return TrainResult(run.path, state["history"], report, resumed_from=epochs_done)
