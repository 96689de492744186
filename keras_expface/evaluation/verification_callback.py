"""`VerificationCallback`: the verification protocol on held-out pairs during `fit`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_expface.evaluation._utils import check_count
from keras_expface.evaluation.embeddings import embedding_model_from, evaluate_model
from keras_expface.evaluation.protocol import (
    DEFAULT_FAR_TARGETS,
    VAL_FAR_TARGET,
    VerificationResult,
    far_label,
)
from keras_expface.evaluation.verification_pairs import VerificationPairs


class VerificationCallback(keras.callbacks.Callback):
    """Runs the verification protocol on pair sets every few epochs and logs the metrics.

    At the end of every `every_n_epochs`-th epoch, each pair set is embedded with the
    embedding model and scored by `verification_metrics`. The scalars go into Keras' epoch
    `logs` as `{set}_accuracy`, `{set}_accuracy_std`, `{set}_threshold`,
    `{set}_val_at_far_1e-3`, `{set}_tar_at_far_1e-1` ... and `{set}_auc`, where callbacks
    listed *after* this one see them: `CSVLogger`, `TensorBoard`,
    `EarlyStopping(monitor="lfw_accuracy", mode="max")`,
    `ModelCheckpoint(monitor="lfw_accuracy", mode="max", save_best_only=True)`, and the
    `History` that `fit` returns.

    On the epochs it skips the keys are absent: Keras' `EarlyStopping` and `ModelCheckpoint`
    then warn and skip that epoch (patience counts evaluations), and `CSVLogger`, which fixes
    its columns at the first epoch, only records them if the first epoch is evaluated
    (`every_n_epochs=1`).

    The embedding model is `embedding_model` if given, else `embedding_model_from(model)`:
    the trained model itself, or the input of its final `CosineHead`. It shares its weights
    with the trained model. With `best_model_path`, it is saved (`.keras`) whenever the
    `monitor` metric improves.

    Args:
        pair_sets: One `VerificationPairs` or a sequence of them (distinct names; not `val`,
            which would read as Keras validation metrics).
        embedding_model: The model mapping images to embeddings. Defaults to `None` (derived
            from the trained model).
        every_n_epochs: Evaluate after every n-th epoch. Defaults to `1`.
        batch_size: Images per model call. Defaults to `64`.
        flip: Flip-sum the embeddings, as insightface. Defaults to `True`.
        preprocessing: Pixel scaling, see `compute_embeddings`; must match the training
            input. Defaults to `None` (pixels as they are).
        far_targets: FARs at which to log TAR. Defaults to `(1e-1, 1e-2, 1e-3, 1e-4)`.
        monitor: The logged metric that decides the best epoch. Defaults to `None` (the
            first set's `accuracy`).
        mode: `"max"` or `"min"`: whether a larger `monitor` is better. Defaults to `"max"`.
        best_model_path: Where to save the best embedding model (a `.keras` file). Defaults
            to `None` (not saved).
        verbose: Print one line per set and evaluation. Defaults to `1`.

    Attributes:
        results: `{set name: VerificationResult}` of the latest evaluation.
        best: Best value of `monitor` so far (NaN before the first evaluation).
        best_epoch: Epoch (0-based) of `best`, or `None`.

    Example:

    ```python
    held_out = pairs_from_identity_folder("faces/held_out", (112, 112))
    callback = VerificationCallback(held_out, preprocessing="symmetric",
                                    best_model_path="best_embedder.keras")
    model.fit(images, labels, epochs=20, callbacks=[
        callback,  # before the callbacks that read its metrics
        keras.callbacks.EarlyStopping(monitor="held_out_accuracy", mode="max", patience=3),
        keras.callbacks.CSVLogger("log.csv"),
    ])
    ```
    """

    def __init__(
        self,
        pair_sets: VerificationPairs | Sequence[VerificationPairs],
        embedding_model: keras.Model | None = None,
        every_n_epochs: int = 1,
        batch_size: int = 64,
        flip: bool = True,
        preprocessing: str | Callable[[np.ndarray], np.ndarray] | None = None,
        far_targets: Sequence[float] = DEFAULT_FAR_TARGETS,
        monitor: str | None = None,
        mode: str = "max",
        best_model_path: str | None = None,
        verbose: int = 1,
    ):
        super().__init__()
        if isinstance(pair_sets, VerificationPairs):
            pair_sets = [pair_sets]
        pair_sets = list(pair_sets)
        if not pair_sets or not all(isinstance(pairs, VerificationPairs) for pairs in pair_sets):
            raise ValueError("pair_sets must be one VerificationPairs or a non-empty list of them.")
        names = [pairs.name for pairs in pair_sets]
        if len(set(names)) != len(names):
            raise ValueError(f"Pair sets need distinct names (they prefix the logs); got {names}.")
        if "val" in names:
            raise ValueError(
                "A pair set named 'val' would log 'val_accuracy', which Keras reads as the "
                "validation accuracy; rename it."
            )
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min'; got {mode!r}.")
        self.pair_sets = pair_sets
        self.embedding_model = embedding_model
        self.every_n_epochs = check_count("every_n_epochs", every_n_epochs)
        self.batch_size = check_count("batch_size", batch_size)
        self.flip = flip
        self.preprocessing = preprocessing
        self.far_targets = tuple(far_targets)
        self.monitor = monitor or f"{names[0]}_accuracy"
        self.mode = mode
        self.best_model_path = best_model_path
        self.verbose = verbose
        self.results: dict[str, VerificationResult] = {}
        self.best = math.nan
        self.best_epoch: int | None = None
        self._embedder = None

    def on_train_begin(self, logs=None):
        self._embedder = self.embedding_model or embedding_model_from(self.model)
        self.results = {}
        self.best, self.best_epoch = math.nan, None

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if math.isnan(self.best):
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        logs = {} if logs is None else logs
        _ = self.model  # on JAX, attaches the trained state to the shared variables
        if self._embedder is None:
            self.on_train_begin()
        new_logs = {}
        for pairs in self.pair_sets:
            result = evaluate_model(
                self._embedder,
                pairs,
                batch_size=self.batch_size,
                flip=self.flip,
                preprocessing=self.preprocessing,
                far_targets=self.far_targets,
            )
            self.results[pairs.name] = result
            new_logs.update(result.logs())
            if self.verbose:
                print(
                    f"Epoch {epoch + 1}: {pairs.name} accuracy {result.accuracy:.5f} +- "
                    f"{result.accuracy_std:.5f}, threshold {result.threshold:.3f}, "
                    f"VAL@FAR={far_label(VAL_FAR_TARGET)} {result.val:.4f}, AUC {result.auc:.5f}"
                )
        clashes = sorted(set(new_logs) & set(logs))
        if clashes:
            raise ValueError(
                f"VerificationCallback would overwrite the logged metrics {clashes}; rename the "
                "pair sets."
            )
        logs.update(new_logs)
        if self.monitor not in new_logs:
            raise ValueError(
                f"monitor={self.monitor!r} is not among the verification metrics "
                f"{sorted(new_logs)}."
            )
        if self._improved(new_logs[self.monitor]):
            self.best, self.best_epoch = new_logs[self.monitor], epoch
            if self.best_model_path:
                self._embedder.save(self.best_model_path)
                if self.verbose:
                    print(
                        f"Epoch {epoch + 1}: {self.monitor} improved to {self.best:.5f}; embedding "
                        f"model saved to {self.best_model_path}"
                    )
