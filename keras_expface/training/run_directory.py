"""`RunDirectory`: the files of a training run, written so a killed run loses nothing."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil

from keras_expface._json import dumps
from keras_expface.training.config import TrainConfig

CONFIG_FILE = "config.json"
LOG_FILE = "log.csv"
REPORT_FILE = "report.json"
NOISE_FILE = "noise.csv"
LAST_MODEL = "last.keras"
BEST_MODEL = "best.keras"
EMBEDDING_MODEL = "embedding.keras"
BEST_EMBEDDING_MODEL = "best_embedding.keras"
CHECKPOINT_DIR = "checkpoints"
FIGURE_DIR = "figures"
_CHECKPOINT = re.compile(r"epoch_(\d{4,})\.json$")


class RunConfigMismatch(ValueError):
    """`--out` holds a run with another configuration."""


def atomic_write_text(path: str, text: str) -> None:
    """Writes `text` to `path` so a reader sees the old file or the new one, never a torn one."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def atomic_save_model(model, path: str) -> None:
    """`model.save(path)` through a temporary file and an atomic rename."""
    temporary = f"{path}.tmp.keras"  # Keras requires the .keras ending
    model.save(temporary)
    os.replace(temporary, path)


class RunDirectory:
    """The folder of one run (`keras-expface train --out RUN_DIR`).

    ```
    RUN_DIR/config.json          the TrainConfig (repeat the run with it)
    RUN_DIR/log.csv              one row per epoch: loss, accuracy, verification metrics
    RUN_DIR/checkpoints/epoch_NNNN.keras + .json   the newest completed epoch (resume point)
    RUN_DIR/last.keras, best.keras                 training model (with optimizer) checkpoints
    RUN_DIR/embedding.keras, best_embedding.keras  the embedding model alone
    RUN_DIR/noise.csv            ground truth of injected label noise
    RUN_DIR/report.json, RUN_DIR/figures/*.png     the run report
    ```

    A checkpoint is complete when both its `.keras` and its `.json` exist: the model is
    renamed into place first, the state second, each atomically; resuming takes the newest
    complete one, so a kill at any moment costs at most the epoch in progress.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)

    def file(self, *names: str) -> str:
        return os.path.join(self.path, *names)

    @property
    def config_path(self) -> str:
        return self.file(CONFIG_FILE)

    def read_config(self) -> TrainConfig | None:
        if not os.path.isfile(self.config_path):
            return None
        with open(self.config_path, encoding="utf-8") as file:
            return TrainConfig.from_json(file.read())

    def prepare(self, config: TrainConfig, overwrite: bool = False) -> bool:
        """Creates the folder for `config`, or checks it holds the same run.

        Returns:
            `True` if the folder holds this run already (resume), `False` for a new run.

        Raises:
            RunConfigMismatch: If the folder holds a run with a different configuration and
                `overwrite` is false; the message lists the differences.
            FileExistsError: If the folder holds other files and no run.
        """
        try:
            existing = self.read_config() if os.path.isdir(self.path) else None
        except (OSError, ValueError) as error:  # torn or from another version
            if not overwrite:
                raise FileExistsError(
                    f"{self.path!r} holds a run whose {CONFIG_FILE} cannot be read ({error}); "
                    "choose another --out or pass --overwrite to replace it."
                ) from error
            existing = None
        if existing is not None:
            differences = existing.differences(config)
            if not differences:
                return True
            if not overwrite:
                listed = "; ".join(
                    f"{name}: {old!r} there, {new!r} now"
                    for name, (old, new) in differences.items()
                )
                raise RunConfigMismatch(
                    f"{self.path!r} holds a run with a different configuration ({listed}). "
                    "Use another --out, the same settings to resume, or --overwrite to replace it."
                )
        if os.path.isdir(self.path) and os.listdir(self.path):
            if not overwrite:
                raise FileExistsError(
                    f"{self.path!r} exists and is not a keras-expface run folder (no "
                    f"{CONFIG_FILE}); choose an empty or new folder, or pass --overwrite."
                )
            shutil.rmtree(self.path)
        os.makedirs(self.file(CHECKPOINT_DIR), exist_ok=True)
        os.makedirs(self.file(FIGURE_DIR), exist_ok=True)
        atomic_write_text(self.config_path, config.to_json())
        return False

    def latest_checkpoint(self) -> tuple[int, str, dict] | None:
        """`(epochs_done, model_path, state)` of the newest complete checkpoint, or `None`."""
        found = []
        for state_path in glob.glob(self.file(CHECKPOINT_DIR, "epoch_*.json")):
            match = _CHECKPOINT.search(os.path.basename(state_path))
            model_path = state_path[: -len(".json")] + ".keras"
            if match and os.path.isfile(model_path):
                found.append((int(match.group(1)), model_path, state_path))
        for epoch, model_path, state_path in sorted(found, reverse=True):
            try:
                with open(state_path, encoding="utf-8") as file:
                    return epoch, model_path, json.load(file)
            except (OSError, ValueError):  # pragma: no cover - torn only if fsync lied
                continue
        return None

    def save_checkpoint(self, model, epochs_done: int, state: dict, keep: int = 1) -> str:
        """Saves the model (with its optimizer) and the run state after `epochs_done` epochs.

        Also updates `last.keras` and deletes all but the `keep` newest checkpoints.
        """
        stem = self.file(CHECKPOINT_DIR, f"epoch_{epochs_done:04d}")
        atomic_save_model(model, stem + ".keras")
        atomic_write_text(stem + ".json", dumps(state))
        self._link(stem + ".keras", self.file(LAST_MODEL))
        completed = sorted(
            int(m.group(1))
            for p in glob.glob(self.file(CHECKPOINT_DIR, "epoch_*.json"))
            if (m := _CHECKPOINT.search(os.path.basename(p)))
        )
        for old in completed[:-keep]:
            for ending in (".json", ".keras"):
                path = self.file(CHECKPOINT_DIR, f"epoch_{old:04d}{ending}")
                if os.path.exists(path):
                    os.remove(path)
        return stem + ".keras"

    def mark_best(self, checkpoint_path: str, embedding_model) -> None:
        """Makes `checkpoint_path` the best training model and saves its embedding model."""
        self._link(checkpoint_path, self.file(BEST_MODEL))
        atomic_save_model(embedding_model, self.file(BEST_EMBEDDING_MODEL))

    @staticmethod
    def _link(source: str, target: str) -> None:
        temporary = f"{target}.tmp"
        if os.path.exists(temporary):
            os.remove(temporary)
        try:
            os.link(source, temporary)
        except OSError:  # file systems without hard links
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)

    def truncate_log(self, epochs_done: int) -> None:
        """Keeps the header and the first `epochs_done` rows of `log.csv` (drops a lost epoch)."""
        path = self.file(LOG_FILE)
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as file:
            lines = file.readlines()
        if len(lines) > epochs_done + 1:
            atomic_write_text(path, "".join(lines[: epochs_done + 1]))
