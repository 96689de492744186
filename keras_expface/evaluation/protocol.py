"""The face-verification protocol of insightface and FaceNet: 10 folds, TAR@FAR, ROC.

Given the L2-normalised embeddings of the two images of each pair and whether the pair shows
one person, `verification_metrics` returns the numbers insightface's
`recognition/arcface_torch/eval/verification.py` (`evaluate`) reports on the same embeddings,
plus TAR at fixed FARs and the ROC curve computed over all pairs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from keras_expface.evaluation._utils import as_bool_array, check_count, import_optional

#: Distance thresholds searched for the best accuracy (insightface and FaceNet).
ACCURACY_THRESHOLDS = np.arange(0, 4, 0.01)
#: Distance thresholds interpolated for VAL@FAR (insightface and FaceNet use a finer grid).
VAL_THRESHOLDS = np.arange(0, 4, 0.001)
#: The false-accept rate at which VAL is reported.
VAL_FAR_TARGET = 1e-3
#: False-accept rates at which TAR is read off the ROC curve.
DEFAULT_FAR_TARGETS = (1e-1, 1e-2, 1e-3, 1e-4)


def far_label(far: float) -> str:
    """Short text for a false-accept rate, as used in log keys: `1e-3` for `0.001`.

    Args:
        far: A rate in `(0, 1)`.

    Returns:
        The label.

    Example:

    >>> far_label(0.001), far_label(0.05)
    ('1e-3', '5e-2')
    """
    mantissa, exponent = f"{far:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@dataclasses.dataclass(frozen=True, eq=False)
class VerificationResult:
    """The metrics of one pair set.

    Attributes:
        name: Name of the pair set (`"lfw"`, ...).
        num_pairs: Number of pairs.
        num_positive: Pairs of one identity.
        num_negative: Pairs of two identities.
        accuracy: Mean over the folds of the test-fold accuracy at the threshold chosen on
            the other folds (insightface's "Accuracy-Flip" when the embeddings are flip-summed).
        accuracy_std: Standard deviation of the fold accuracies (`np.std`, as insightface).
        fold_accuracies: `(num_folds,)` test-fold accuracies.
        fold_thresholds: `(num_folds,)` squared-L2 thresholds chosen on the training folds.
        threshold: Mean of `fold_thresholds`.
        val: VAL (true-accept rate) at FAR=1e-3, mean over the folds.
        val_std: Standard deviation of VAL over the folds.
        far: The false-accept rate actually reached on the test folds, mean over the folds.
        tar_at_far: `{far_target: TAR}` read off the ROC curve of all pairs (the largest TAR
            whose FAR is at most the target); NaN where the set holds too few negative pairs
            (see `notes`).
        auc: Area under the ROC curve of all pairs.
        roc_fpr: False-accept rates of the ROC curve of all pairs.
        roc_tpr: True-accept rates of the ROC curve, aligned with `roc_fpr`.
        roc_distances: Squared-L2 distances: a pair is accepted when its distance is at most
            this value (the first entry is `-inf`: accept nothing).
        threshold_tpr: TPR at each of `ACCURACY_THRESHOLDS` on the test folds, mean over the
            folds (insightface's `tpr`).
        threshold_fpr: FPR likewise (insightface's `fpr`).
        notes: Caveats, e.g. FAR targets the number of negative pairs cannot resolve.
    """

    name: str
    num_pairs: int
    num_positive: int
    num_negative: int
    accuracy: float
    accuracy_std: float
    fold_accuracies: np.ndarray
    fold_thresholds: np.ndarray
    threshold: float
    val: float
    val_std: float
    far: float
    tar_at_far: dict[float, float]
    auc: float
    roc_fpr: np.ndarray
    roc_tpr: np.ndarray
    roc_distances: np.ndarray
    threshold_tpr: np.ndarray
    threshold_fpr: np.ndarray
    notes: tuple[str, ...] = ()

    def logs(self, prefix: str | None = None) -> dict[str, float]:
        """The scalar metrics as a flat dict, e.g. for Keras' `logs`.

        Keys are `{prefix}_accuracy`, `_accuracy_std`, `_threshold`, `_val_at_far_1e-3`,
        `_tar_at_far_1e-1` (one per resolvable FAR target) and `_auc`.

        Args:
            prefix: Key prefix. Defaults to `None` (the set's `name`).

        Returns:
            `{key: float}`; unresolvable TAR@FAR values are left out.
        """
        prefix = self.name if prefix is None else prefix
        logs = {
            f"{prefix}_accuracy": self.accuracy,
            f"{prefix}_accuracy_std": self.accuracy_std,
            f"{prefix}_threshold": self.threshold,
            f"{prefix}_val_at_far_{far_label(VAL_FAR_TARGET)}": self.val,
        }
        for far, tar in self.tar_at_far.items():
            if not math.isnan(tar):
                logs[f"{prefix}_tar_at_far_{far_label(far)}"] = tar
        logs[f"{prefix}_auc"] = self.auc
        return logs


def _check_inputs(embeddings1, embeddings2, issame, num_folds):
    embeddings1 = np.asarray(embeddings1)
    embeddings2 = np.asarray(embeddings2)
    issame = np.asarray(issame)
    if embeddings1.ndim != 2 or embeddings1.shape != embeddings2.shape:
        raise ValueError(
            "embeddings1 and embeddings2 must be 2-D (num_pairs, dim) arrays of one shape; got "
            f"{embeddings1.shape} and {embeddings2.shape}."
        )
    if issame.ndim != 1 or len(issame) != len(embeddings1):
        raise ValueError(
            f"issame must be 1-D with one entry per pair ({len(embeddings1)}); got shape "
            f"{issame.shape}."
        )
    if len(issame) == 0:
        raise ValueError("The pair list is empty: there is nothing to verify.")
    issame = as_bool_array(issame, "issame")
    for which, embeddings in (("embeddings1", embeddings1), ("embeddings2", embeddings2)):
        bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
        if bad.size:
            raise ValueError(
                f"{which} holds NaN or inf for {bad.size} pair(s), e.g. pair {bad[0]}."
            )
    num_folds = check_count("num_folds", num_folds, minimum=2)
    if len(issame) < num_folds:
        raise ValueError(f"{num_folds} folds need at least {num_folds} pairs; got {len(issame)}.")
    return embeddings1, embeddings2, issame, num_folds


def _accept_counts(sorted_distances: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    # Number of distances strictly below each threshold: insightface's `np.less(dist, t)`.
    return np.searchsorted(sorted_distances, thresholds, side="left")


def slinear_interpolate(x, y, x_new: float) -> float:
    """SciPy's `interp1d(x, y, kind="slinear")(x_new)`, also where `x` has repeated values.

    insightface and FaceNet interpolate the threshold at which the training folds reach
    FAR 1e-3 from the FAR of every threshold, a curve with long runs of equal values (0 at
    small thresholds, 1 at large ones). SciPy up to 1.8 accepted them; newer versions raise
    "Expect x to not have duplicates" (insightface issues #2152 and #2290, whose workaround is
    to pin scipy 1.8.1). This builds the spline SciPy 1.8 built for `kind="slinear"`: `x`
    sorted stably, then the degree-1 `scipy.interpolate.BSpline` with knots
    `[x[0], *x, x[-1]]` and coefficients `y`. Between distinct `x` values it is the straight
    line, and at a repeated value it takes the last of its `y` (right-continuous).

    Args:
        x: 1-D sample points (the FAR of each threshold).
        y: 1-D values, aligned with `x` (the thresholds).
        x_new: The point to evaluate, within `[min(x), max(x)]`.

    Returns:
        The interpolated value.

    Example:

    >>> round(slinear_interpolate([0.0, 0.0, 0.5, 1.0], [0.0, 1.0, 2.0, 3.0], 0.25), 6)
    1.5
    """
    BSpline = import_optional("scipy.interpolate").BSpline
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of one length >= 2; got {x.shape} and {y.shape}.")
    if not np.min(x) <= x_new <= np.max(x):
        raise ValueError(f"x_new={x_new} lies outside [{np.min(x)}, {np.max(x)}].")
    order = np.argsort(x, kind="mergesort")
    x, y = x[order], y[order]
    spline = BSpline(np.concatenate([x[:1], x, x[-1:]]), y, 1)
    return float(spline(x_new))


class _FoldCounts:
    """Sorted positive and negative distances of a subset of the pairs."""

    def __init__(self, distances: np.ndarray, issame: np.ndarray):
        self.positive = np.sort(distances[issame])
        self.negative = np.sort(distances[~issame])
        self.size = len(distances)

    def rates(self, thresholds):
        """`(true-accept rate, false-accept rate, accuracy)` at each threshold."""
        true_accepts = _accept_counts(self.positive, thresholds)
        false_accepts = _accept_counts(self.negative, thresholds)
        true_rejects = len(self.negative) - false_accepts
        # Every fold holds both kinds (checked), so neither count is zero.
        tpr = true_accepts / len(self.positive)
        fpr = false_accepts / len(self.negative)
        accuracy = (true_accepts + true_rejects) / self.size
        return tpr, fpr, accuracy


def verification_metrics(
    embeddings1,
    embeddings2,
    issame,
    num_folds: int = 10,
    far_targets: Sequence[float] = DEFAULT_FAR_TARGETS,
    name: str = "pairs",
) -> VerificationResult:
    """Runs the 10-fold verification protocol on the embeddings of the pairs.

    The protocol of insightface (`eval/verification.py`) and FaceNet (`lfw.py`):

    - distance: squared L2, `sum((e1 - e2) ** 2)`; a pair is accepted when `distance < t`;
    - accuracy: the pairs are split into `num_folds` contiguous folds (scikit-learn's
      `KFold` without shuffling); for each fold the threshold in `0, 0.01, ..., 3.99` with
      the best accuracy on the other folds (the first one on ties) is applied to the fold;
      mean and standard deviation of the fold accuracies;
    - VAL@FAR=1e-3: per fold, the threshold in `0, 0.001, ..., 3.999` reaching FAR 1e-3 on
      the other folds, interpolated as SciPy's `interp1d(far, thresholds, kind="slinear")`
      does (`0` when no threshold reaches it; see `slinear_interpolate`), gives the TAR (VAL)
      and FAR on the fold; mean and std.

    On top of it, over all pairs at once (scikit-learn's `roc_curve` and `auc`): the ROC
    curve, its area, and TAR at each FAR target, the best TAR whose FAR does not exceed
    the target. A target below `1 / num_negative` cannot be resolved: its TAR is NaN and
    `notes` says so.

    The embeddings should be L2-normalised (`compute_embeddings` does it), as the
    thresholds span the squared distances of unit vectors, `[0, 4]`. Pairs are not
    shuffled: order them so every fold holds positive and negative pairs (LFW's `pairs.txt`,
    insightface's `.bin` files and `pairs_from_identity_folder` do).

    Args:
        embeddings1: `(num_pairs, dim)` embeddings of the first image of each pair.
        embeddings2: `(num_pairs, dim)` embeddings of the second image.
        issame: `(num_pairs,)` booleans, `True` where both images show one identity.
        num_folds: Number of folds. Defaults to `10`.
        far_targets: FARs at which to report TAR. Defaults to `(1e-1, 1e-2, 1e-3, 1e-4)`.
        name: Name of the pair set, carried into the result. Defaults to `"pairs"`.

    Returns:
        A `VerificationResult`.

    Raises:
        ValueError: On an empty pair list, mismatched shapes, NaN or inf embeddings, fewer
            pairs than folds, or a fold without positive or without negative pairs.

    Example:

    >>> import numpy as np
    >>> same = np.array([True, False] * 10)
    >>> first = np.tile([[1.0, 0.0]], (20, 1))
    >>> second = np.where(same[:, None], first, -first)  # distances 0 and 4
    >>> result = verification_metrics(first, second, same)
    >>> float(result.accuracy), round(result.threshold, 2), float(result.auc)
    (1.0, 0.01, 1.0)
    """
    metrics = import_optional("sklearn.metrics")
    KFold = import_optional("sklearn.model_selection").KFold
    embeddings1, embeddings2, issame, num_folds = _check_inputs(
        embeddings1, embeddings2, issame, num_folds
    )
    far_targets = tuple(float(far) for far in far_targets)
    for far in far_targets:
        if not 0.0 < far < 1.0:
            raise ValueError(f"FAR targets must lie in (0, 1); got {far}.")
    # Computed in the embeddings' dtype as insightface does, compared in float64.
    distances = np.sum(np.square(embeddings1 - embeddings2), axis=1).astype(np.float64)
    num_pairs = len(distances)

    folds = list(KFold(n_splits=num_folds, shuffle=False).split(np.arange(num_pairs)))
    for fold_index, (_, test_set) in enumerate(folds):
        if issame[test_set].all() or not issame[test_set].any():
            kind = "negative" if issame[test_set].all() else "positive"
            raise ValueError(
                f"Fold {fold_index} (pairs {test_set[0]}..{test_set[-1]}) holds no {kind} pair; "
                "the folds are contiguous, so order the pairs such that every tenth of the list "
                "holds both kinds (as LFW's pairs.txt does)."
            )

    fold_accuracies = np.zeros(num_folds)
    fold_thresholds = np.zeros(num_folds)
    fold_tprs = np.zeros((num_folds, len(ACCURACY_THRESHOLDS)))
    fold_fprs = np.zeros((num_folds, len(ACCURACY_THRESHOLDS)))
    vals = np.zeros(num_folds)
    fars = np.zeros(num_folds)
    for fold_index, (train_set, test_set) in enumerate(folds):
        train = _FoldCounts(distances[train_set], issame[train_set])
        test = _FoldCounts(distances[test_set], issame[test_set])

        _, _, train_accuracy = train.rates(ACCURACY_THRESHOLDS)
        best_threshold = ACCURACY_THRESHOLDS[np.argmax(train_accuracy)]
        fold_tprs[fold_index], fold_fprs[fold_index], _ = test.rates(ACCURACY_THRESHOLDS)
        _, _, test_accuracy = test.rates(np.array([best_threshold]))
        fold_accuracies[fold_index] = test_accuracy[0]
        fold_thresholds[fold_index] = best_threshold

        _, train_far, _ = train.rates(VAL_THRESHOLDS)
        if np.max(train_far) >= VAL_FAR_TARGET:
            val_threshold = slinear_interpolate(train_far, VAL_THRESHOLDS, VAL_FAR_TARGET)
        else:
            val_threshold = 0.0
        test_val, test_far, _ = test.rates(np.array([val_threshold]))
        vals[fold_index], fars[fold_index] = test_val[0], test_far[0]

    roc_fpr, roc_tpr, roc_scores = metrics.roc_curve(issame, -distances, drop_intermediate=False)
    num_negative = int(np.sum(~issame))
    tar_at_far, notes = {}, []
    for far in far_targets:
        needed = math.ceil(1.0 / far - 1e-9)
        if num_negative < needed:
            tar_at_far[far] = float("nan")
            notes.append(
                f"{name}: TAR@FAR={far_label(far)} needs at least {needed} negative pairs; "
                f"the set has {num_negative}."
            )
        else:
            tar_at_far[far] = float(np.max(roc_tpr[roc_fpr <= far]))

    return VerificationResult(
        name=name,
        num_pairs=num_pairs,
        num_positive=num_pairs - num_negative,
        num_negative=num_negative,
        accuracy=float(np.mean(fold_accuracies)),
        accuracy_std=float(np.std(fold_accuracies)),
        fold_accuracies=fold_accuracies,
        fold_thresholds=fold_thresholds,
        threshold=float(np.mean(fold_thresholds)),
        val=float(np.mean(vals)),
        val_std=float(np.std(vals)),
        far=float(np.mean(fars)),
        tar_at_far=tar_at_far,
        auc=float(metrics.auc(roc_fpr, roc_tpr)),
        roc_fpr=roc_fpr,
        roc_tpr=roc_tpr,
        roc_distances=-roc_scores,
        threshold_tpr=np.mean(fold_tprs, axis=0),
        threshold_fpr=np.mean(fold_fprs, axis=0),
        notes=tuple(notes),
    )
