"""The run report: `report.json` and the figures of a finished (or resumed) training run."""

from __future__ import annotations

import os
import platform
import sys

import keras
import numpy as np

from keras_expface._json import dumps
from keras_expface.evaluation.embeddings import evaluate_model
from keras_expface.evaluation.protocol import VerificationResult
from keras_expface.training.config import TrainConfig
from keras_expface.training.run_directory import (
    FIGURE_DIR,
    REPORT_FILE,
    RunDirectory,
    atomic_write_text,
)

#: At most this many training samples are embedded for the angle picture.
MAX_DIAGNOSED_SAMPLES = 5000


def verification_summary(result: VerificationResult) -> dict:
    """The scalar metrics of a verification result, JSON-ready."""
    return {
        "pairs": int(result.num_pairs),
        "accuracy": float(result.accuracy),
        "accuracy_std": float(result.accuracy_std),
        "threshold": float(result.threshold),
        "val_at_far_1e-3": float(result.val),
        "auc": float(result.auc),
        "tar_at_far": {f"{far:g}": float(tar) for far, tar in result.tar_at_far.items()},
    }


def _figure(width=6.0, height=4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _plot_curves(history: list[dict], keys, title: str, ylabel: str, path: str) -> bool:
    epochs = [row["epoch"] for row in history]
    present = [key for key in keys if any(key in row for row in history)]
    if not present:
        return False
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    for key in present:
        axes.plot(epochs, [row.get(key, np.nan) for row in history], marker="o", label=key)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return True


def _angle_diagnostics(run, config, data, model) -> dict:
    """The Figure-1 angle picture of the training samples (subsampled), with noise marked."""
    from keras_expface.training.diagnose import diagnose_training_data

    diagnosis, indices = diagnose_training_data(
        data,
        model,
        run.file("diagnostics"),
        max_samples=MAX_DIAGNOSED_SAMPLES,
        seed=config.seed,
    )
    return {"samples": len(indices), "folder": "diagnostics", "summary": diagnosis.summary}


def write_report(
    run: RunDirectory,
    config: TrainConfig,
    data,
    model: keras.Model,
    embedding_model: keras.Model,
    state: dict,
) -> dict:
    """Writes `report.json` and `figures/*.png` of a run; returns the report.

    Figures: `loss.png` and `accuracy.png` (training and validation curves),
    `verification.png` (held-out verification accuracy per epoch), `roc.png` (ROC of the
    final model on the held-out pairs), and under `diagnostics/` the angle picture of the
    paper's Figure 1 (each training sample's angle to its own centre against the angle to
    the nearest other centre; injected noisy samples marked), its histograms and the
    ranked suspects.
    """
    figures = run.file(FIGURE_DIR)
    os.makedirs(figures, exist_ok=True)
    history = state["history"]
    made = []
    for name, keys, title, ylabel in (
        ("loss.png", ("loss", "val_loss"), "Training loss", "loss"),
        (
            "accuracy.png",
            ("sparse_categorical_accuracy", "val_sparse_categorical_accuracy"),
            "Classification accuracy",
            "accuracy",
        ),
        ("verification.png", ("held_out_accuracy",), "Held-out verification", "accuracy"),
    ):
        if _plot_curves(history, keys, title, ylabel, os.path.join(figures, name)):
            made.append(f"{FIGURE_DIR}/{name}")

    report = {
        "config": config.to_dict(),
        "data": data.description,
        "training_identities": data.num_classes,
        "training_images": len(data.train_indices),
        "validation_images": len(data.validation_indices),
        "epochs_done": state["epochs_done"],
        "history": history,
        "best_epoch": state["best"][0] if state.get("best") else None,
        "unreadable_at_load": [list(item) for item in data.skipped],
        "unreadable_during_training": state.get("failures", {}),
        "pipeline_images_per_second": state.get("pipeline_images_per_second"),
        "environment": {
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
    }
    timing = state.get("timing", [])
    if timing:
        seconds = [row["seconds"] for row in timing]
        # The first epoch includes compilation: report the median epoch.
        median = float(np.median(seconds))
        report["seconds_per_epoch_median"] = median
        report["train_images_per_second"] = timing[0]["steps"] * config.batch_size / median
    if data.noise is not None:
        report["noise"] = {"spec": config.noise, "ground_truth": "noise.csv"}
        counts = getattr(data.noise, "counts", None)
        if callable(counts):
            report["noise"]["counts"] = counts()
    if "untrained_verification" in state:
        report["untrained_verification"] = state["untrained_verification"]
    if data.pairs is not None:
        final = evaluate_model(embedding_model, data.pairs, batch_size=64)
        report["verification"] = verification_summary(final)
        from keras_expface.evaluation.report import plot_roc

        plot_roc([final], os.path.join(figures, "roc.png"))
        made.append(f"{FIGURE_DIR}/roc.png")
    try:
        report["angles"] = _angle_diagnostics(run, config, data, model)
    except ImportError as error:  # pragma: no cover - matplotlib missing
        report["angles"] = {"error": str(error)}
    report["figures"] = made
    atomic_write_text(run.file(REPORT_FILE), dumps(report) + "\n")
    return report
