"""Reporting verification results: a text table and a ROC figure."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from keras_expface.evaluation._utils import import_optional
from keras_expface.evaluation.protocol import VAL_FAR_TARGET, VerificationResult, far_label


def format_results_table(results: Sequence[VerificationResult]) -> str:
    """A plain-text table of verification results, one row per pair set, notes below.

    Accuracy is printed as insightface prints it (`0.99817+-0.00229`, fractions, five
    decimals), so it can be compared with published tables; TAR@FAR targets the set cannot
    resolve read `n/a` and are explained in the notes.

    Args:
        results: `VerificationResult`s, all with the same FAR targets.

    Returns:
        The table, lines joined by newlines (no trailing newline).

    Example:

    >>> import numpy as np
    >>> from keras_expface.evaluation import verification_metrics
    >>> same = np.array([True, False] * 10)
    >>> first = np.tile([[1.0, 0.0]], (20, 1))
    >>> result = verification_metrics(first, np.where(same[:, None], first, -first), same)
    >>> print(format_results_table([result]).splitlines()[0].split()[:4])
    ['set', 'pairs', 'accuracy', 'threshold']
    """
    if not results:
        raise ValueError("There is no result to tabulate.")
    far_targets = list(results[0].tar_at_far)
    header = ["set", "pairs", "accuracy", "threshold", f"VAL@FAR={far_label(VAL_FAR_TARGET)}"]
    header += [f"TAR@FAR={far_label(far)}" for far in far_targets] + ["AUC"]
    rows = [header]
    for result in results:
        tars = [result.tar_at_far.get(far, math.nan) for far in far_targets]
        rows.append(
            [
                result.name,
                str(result.num_pairs),
                f"{result.accuracy:.5f}+-{result.accuracy_std:.5f}",
                f"{result.threshold:.3f}",
                f"{result.val:.4f}+-{result.val_std:.4f}",
                *("n/a" if math.isnan(tar) else f"{tar:.4f}" for tar in tars),
                f"{result.auc:.5f}",
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    # Results of one pair set (e.g. before and after training) share their notes: once each.
    notes = list(dict.fromkeys(note for result in results for note in result.notes))
    if notes:
        lines += ["", *(f"note: {note}" for note in notes)]
    return "\n".join(lines)


def plot_roc(results: Sequence[VerificationResult], path: str | None = None):
    """Draws the ROC curves (TAR against FAR, FAR on a log scale) of verification results.

    Uses Matplotlib's object API (no global `pyplot` state), so it runs headless.

    Args:
        results: `VerificationResult`s, one curve each, labelled with name and AUC.
        path: Image file to save (`.png`, `.pdf`, `.svg`...). Defaults to `None` (not saved).

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ImportError: If Matplotlib is not installed (`pip install 'keras-expface[plot]'`).

    Example:

    ```python
    plot_roc([evaluate_model(embedder, load_bin("lfw.bin"))], "roc.png")
    ```
    """
    Figure = import_optional("matplotlib.figure", extra="plot").Figure
    if not results:
        raise ValueError("There is no result to plot.")
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    axes = figure.subplots()
    smallest_far = 1.0
    for result in results:
        visible = result.roc_fpr > 0  # a log axis cannot show FAR = 0
        smallest_far = min(smallest_far, 1.0 / max(result.num_negative, 1))
        axes.plot(
            result.roc_fpr[visible],
            result.roc_tpr[visible],
            label=f"{result.name} (AUC {result.auc:.4f})",
        )
    axes.set_xscale("log")
    axes.set_xlim(smallest_far, 1.0)
    axes.set_ylim(float(np.clip(axes.get_ylim()[0], 0.0, 1.0)), 1.0)
    axes.set_xlabel("false accept rate (FAR)")
    axes.set_ylabel("true accept rate (TAR)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
