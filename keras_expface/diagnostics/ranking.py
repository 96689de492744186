"""Ranking label-noise suspects by score, a CSV of them, and the ranking's precision/recall."""

from __future__ import annotations

import csv
import dataclasses
import math
import numbers
import os
from collections.abc import Sequence

import numpy as np

from keras_expface.diagnostics.angles import SampleAngles

#: Columns of `write_suspects_csv`; `true_kind` is added when the ground truth is known.
SUSPECT_COLUMNS = (
    "rank",
    "index",
    "file",
    "label",
    "target_angle",
    "nearest_other_angle",
    "nearest_other_class",
    "margin",
    "region",
    "score",
)
#: Default cut-offs of `precision_recall_at`: fractions of the data set, and "num_noisy".
DEFAULT_CUTOFFS = (0.01, 0.02, 0.05, 0.1, 0.2, "num_noisy")


@dataclasses.dataclass(frozen=True)
class Suspect:
    """One row of the suspect ranking (see `SUSPECT_COLUMNS`); angles in degrees.

    `rank` starts at 1; `index` is the sample's position in the data set; `file` is its
    path (`""` when unknown); `true_kind` is the ground truth, `None` when unknown.
    """

    rank: int
    index: int
    file: str
    label: int
    target_angle: float
    nearest_other_angle: float
    nearest_other_class: int
    margin: float
    region: str
    score: float
    true_kind: str | None = None


def _check_length(name: str, values, length: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},); got {array.shape}.")
    return array


def ranking_order(score) -> np.ndarray:
    """Sample indices by decreasing score, ties in increasing index (a stable order)."""
    score = np.asarray(score, dtype=np.float64)
    if np.isnan(score).any():
        raise ValueError("score holds NaN values.")
    return np.argsort(-score, kind="stable")


def rank_suspects(
    angles: SampleAngles,
    labels,
    regions,
    score,
    paths: Sequence[str] | None = None,
    noise_kind=None,
    top_k: int | None = None,
) -> list[Suspect]:
    """The samples ordered from most to least suspect (decreasing `score`, ties by index).

    Args:
        angles: The `SampleAngles`.
        labels: `(N,)` training labels.
        regions: `(N,)` region names from `classify_regions`.
        score: `(N,)` scores, higher = more suspect (e.g. `noise_score(angles)`).
        paths: Optional `N` file paths, for the `file` column. Defaults to `None`.
        noise_kind: Optional `(N,)` ground truth ("clean", "flip", "type1", "type2", ...).
            Defaults to `None`.
        top_k: Keep the `top_k` most suspect. Defaults to `None` (all).

    Returns:
        A list of `Suspect`, rank 1 first.

    Example:

    >>> import numpy as np
    >>> from keras_expface.diagnostics import classify_regions, noise_score
    >>> angles = SampleAngles(np.array([40.0, 89.0, 41.0]), np.array([80.0, 91.0, 82.0]),
    ...                       np.array([1, 0, 0]))
    >>> score = np.array([0.0, 5.0, 0.5])
    >>> top = rank_suspects(angles, [0, 1, 1], classify_regions(angles), score, top_k=2)
    >>> [(s.rank, s.index, s.region) for s in top]
    [(1, 1, 'type1_upper_right'), (2, 2, 'central')]
    """
    num_samples = len(angles)
    labels = _check_length("labels", labels, num_samples)
    regions = _check_length("regions", regions, num_samples)
    score = _check_length("score", score, num_samples)
    if paths is not None:
        paths = list(paths)
        if len(paths) != num_samples:
            raise ValueError(f"paths must hold {num_samples} entries; got {len(paths)}.")
    if noise_kind is not None:
        noise_kind = _check_length("noise_kind", noise_kind, num_samples)
    order = ranking_order(score)
    if top_k is not None:
        order = order[: _check_count("top_k", top_k, minimum=0)]
    return [
        Suspect(
            rank=rank,
            index=int(index),
            file="" if paths is None else os.fspath(paths[index]),
            label=int(labels[index]),
            target_angle=float(angles.target_angle[index]),
            nearest_other_angle=float(angles.nearest_other_angle[index]),
            nearest_other_class=int(angles.nearest_other_class[index]),
            margin=float(angles.margin[index]),
            region=str(regions[index]),
            score=float(score[index]),
            true_kind=None if noise_kind is None else str(noise_kind[index]),
        )
        for rank, index in enumerate(order, start=1)
    ]


def write_suspects_csv(path, suspects: Sequence[Suspect]) -> None:
    """Writes the ranking as CSV: the `SUSPECT_COLUMNS`, plus `true_kind` when known.

    Angles are written with 4 decimals, scores with 6.

    Args:
        path: The CSV file to write.
        suspects: The `Suspect`s (from `rank_suspects`), in rank order.

    Example:

    ```python
    write_suspects_csv("suspects.csv", rank_suspects(angles, labels, regions, score))
    ```
    """
    with_truth = any(suspect.true_kind is not None for suspect in suspects)
    columns = [*SUSPECT_COLUMNS, "true_kind"] if with_truth else list(SUSPECT_COLUMNS)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for suspect in suspects:
            row = dataclasses.asdict(suspect)
            for column in ("target_angle", "nearest_other_angle", "margin"):
                row[column] = f"{row[column]:.4f}"
            row["score"] = f"{row['score']:.6f}"
            if row["true_kind"] is None:
                row["true_kind"] = ""
            writer.writerow([row[column] for column in columns])


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


@dataclasses.dataclass(frozen=True)
class RankingQuality:
    """How well a score ranks the truly noisy samples first (see `precision_recall_at`).

    Attributes:
        at_cutoffs: One dict per cut-off: `cutoff` (as given), `k` (samples kept), `flagged_noisy`
            (noisy among them), `precision` (= flagged_noisy / k) and `recall`
            (= flagged_noisy / num_noisy); NaN where undefined.
        average_precision: `AP = sum_n (R_n - R_{n-1}) P_n` over the distinct score
            thresholds, as scikit-learn's `average_precision_score` (random ranking: the
            noise rate).
        roc_auc: Probability that a random noisy sample scores above a random clean one
            (ties count 1/2); 0.5 is a random ranking.
        num_samples: `N`.
        num_noisy: Noisy samples in the truth.
    """

    at_cutoffs: list[dict]
    average_precision: float
    roc_auc: float
    num_samples: int
    num_noisy: int

    def to_dict(self) -> dict:
        """The fields as a JSON-friendly dict (NaN becomes `None`)."""

        def clean(value):
            if isinstance(value, float) and math.isnan(value):
                return None
            return value

        return {
            "num_samples": self.num_samples,
            "num_noisy": self.num_noisy,
            "average_precision": clean(self.average_precision),
            "roc_auc": clean(self.roc_auc),
            "at_cutoffs": [
                {key: clean(value) for key, value in row.items()} for row in self.at_cutoffs
            ],
        }


def _cutoff_count(cutoff, num_samples: int, num_noisy: int) -> int:
    if cutoff == "num_noisy":
        return num_noisy
    if isinstance(cutoff, bool):
        raise ValueError(f"Invalid cut-off {cutoff!r}.")
    if isinstance(cutoff, numbers.Integral):
        if cutoff < 0:
            raise ValueError(f"A count cut-off must be >= 0; got {cutoff}.")
        return min(int(cutoff), num_samples)
    if isinstance(cutoff, numbers.Real) and 0.0 < cutoff <= 1.0:
        return min(num_samples, math.ceil(float(cutoff) * num_samples - 1e-9))
    raise ValueError(
        f"A cut-off is a count (int >= 0), a fraction in (0, 1] or 'num_noisy'; got {cutoff!r}."
    )


def _average_precision(score: np.ndarray, is_noisy: np.ndarray) -> float:
    num_noisy = int(is_noisy.sum())
    if num_noisy == 0:
        return math.nan
    order = np.argsort(-score, kind="stable")
    sorted_score, sorted_noisy = score[order], is_noisy[order]
    # The last position of each group of tied scores: one threshold per distinct score.
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_score) != 0), sorted_score.size - 1]
    true_positives = np.cumsum(sorted_noisy)[last_of_tie]
    precision = true_positives / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, true_positives]) / num_noisy
    return float(np.sum(recall_gain * precision))


def _roc_auc(score: np.ndarray, is_noisy: np.ndarray) -> float:
    num_noisy = int(is_noisy.sum())
    num_clean = is_noisy.size - num_noisy
    if num_noisy == 0 or num_clean == 0:
        return math.nan
    # Mann-Whitney U, tied scores sharing their average rank.
    order = np.argsort(score, kind="stable")
    _, tie_group, tie_size = np.unique(score[order], return_inverse=True, return_counts=True)
    mean_rank = np.bincount(tie_group, weights=np.arange(1.0, score.size + 1)) / tie_size
    ranks = np.empty(score.size)
    ranks[order] = mean_rank[tie_group]
    rank_sum = ranks[is_noisy].sum()
    return float((rank_sum - num_noisy * (num_noisy + 1) / 2) / (num_noisy * num_clean))


def precision_recall_at(score, is_noisy, cutoffs=DEFAULT_CUTOFFS) -> RankingQuality:
    """Precision and recall of the top-k of a ranking, at several k, when the truth is known.

    The top-k are the `k` highest scores (ties broken by index, as `rank_suspects`):

        precision@k = |top-k ∩ noisy| / k        recall@k = |top-k ∩ noisy| / |noisy|

    Args:
        score: `(N,)` scores, higher = more suspect.
        is_noisy: `(N,)` booleans (or 0/1), the ground truth.
        cutoffs: Cut-offs: ints are counts, floats in (0, 1] fractions of `N` (rounded up),
            `"num_noisy"` is `k = |noisy|` (where precision equals recall). Defaults to
            `DEFAULT_CUTOFFS`.

    Returns:
        A `RankingQuality` (with average precision and ROC AUC of the whole ranking).

    Example:

    >>> quality = precision_recall_at([0.9, 0.8, 0.7, 0.1], [True, False, True, False],
    ...                               cutoffs=(1, 2, 0.75))
    >>> [(row["k"], row["precision"], row["recall"]) for row in quality.at_cutoffs]
    [(1, 1.0, 0.5), (2, 0.5, 0.5), (3, 0.6666666666666666, 1.0)]
    >>> round(quality.average_precision, 4), quality.roc_auc
    (0.8333, 0.75)
    """
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1:
        raise ValueError(f"score must be 1-D; got shape {score.shape}.")
    truth = _check_length("is_noisy", is_noisy, score.size)
    if truth.dtype != bool and not (
        np.issubdtype(truth.dtype, np.number) and np.isin(truth, (0, 1)).all()
    ):
        raise ValueError("is_noisy must hold booleans (or 0/1).")
    truth = truth.astype(bool)
    order = ranking_order(score)
    cumulative_noisy = np.r_[0, np.cumsum(truth[order])]
    num_noisy = int(truth.sum())
    rows = []
    for cutoff in cutoffs:
        k = _cutoff_count(cutoff, score.size, num_noisy)
        flagged_noisy = int(cumulative_noisy[k])
        rows.append(
            {
                "cutoff": cutoff,
                "k": k,
                "flagged_noisy": flagged_noisy,
                "precision": flagged_noisy / k if k else math.nan,
                "recall": flagged_noisy / num_noisy if num_noisy else math.nan,
            }
        )
    return RankingQuality(
        at_cutoffs=rows,
        average_precision=_average_precision(score, truth),
        roc_auc=_roc_auc(score, truth),
        num_samples=int(score.size),
        num_noisy=num_noisy,
    )
