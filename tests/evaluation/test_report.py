"""The results table and the ROC figure."""

import numpy as np
import pytest

from keras_expface.evaluation import format_results_table, plot_roc, verification_metrics


def result(name, num_pairs=400, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.normal(size=(num_pairs, 8))
    issame = np.arange(num_pairs) % 2 == 0
    second = np.where(
        issame[:, None], first + rng.normal(size=first.shape), rng.normal(size=first.shape)
    )
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second /= np.linalg.norm(second, axis=1, keepdims=True)
    return verification_metrics(first, second, issame, name=name)


def test_table():
    lfw, agedb = result("lfw"), result("agedb_30", seed=1)
    lines = format_results_table([lfw, agedb]).splitlines()
    assert lines[0].split() == [
        "set",
        "pairs",
        "accuracy",
        "threshold",
        "VAL@FAR=1e-3",
        "TAR@FAR=1e-1",
        "TAR@FAR=1e-2",
        "TAR@FAR=1e-3",
        "TAR@FAR=1e-4",
        "AUC",
    ]
    row = lines[1].split()
    assert row[:4] == [
        "lfw",
        "400",
        f"{lfw.accuracy:.5f}+-{lfw.accuracy_std:.5f}",
        f"{lfw.threshold:.3f}",
    ]
    assert row[-3:-1] == ["n/a", "n/a"] and row[-1] == f"{lfw.auc:.5f}"
    assert lines[2].startswith("agedb_30")
    notes = [line for line in lines if line.startswith("note:")]
    assert len(notes) == 4 and "agedb_30: TAR@FAR=1e-4 needs at least 10000" in notes[-1]
    with pytest.raises(ValueError, match="no result"):
        format_results_table([])


def test_roc_figure(tmp_path):
    figure = plot_roc([result("lfw"), result("cfp_fp", seed=2)], tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels[0].startswith("lfw (AUC") and labels[1].startswith("cfp_fp (AUC")
