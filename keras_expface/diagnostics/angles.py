"""Per-sample angles to the class centres: the coordinates of the paper's Figure 1."""

from __future__ import annotations

import dataclasses
import numbers
from typing import NamedTuple

import numpy as np

#: Squared-norm floor of the L2 normalisation (as `CosineHead`): a zero vector gets cosine 0.
_SQUARED_NORM_EPSILON = 1e-24
#: Float64 cosines computed per chunk of samples when `batch_size` is not given (128 MiB).
_CHUNK_ELEMENTS = 1 << 24


@dataclasses.dataclass(frozen=True)
class SampleAngles:
    """Angles (degrees) between each sample and its own and its nearest other class centre.

    For an L2-normalised embedding `x_i` with label `y_i` and L2-normalised centres `w_j`:

        target_angle[i]        = arccos(cos θ_{i,y_i})
        nearest_other_angle[i] = min_{j != y_i} arccos(cos θ_{i,j})
        nearest_other_class[i] = argmin_{j != y_i} arccos(cos θ_{i,j})
        margin[i]              = nearest_other_angle[i] - target_angle[i]

    where `cos θ_{i,j}` is the largest cosine over the `K` sub-centres of class `j`. A positive
    margin means the sample is closer to its own centre than to any other.

    Attributes:
        target_angle: `(N,)` float64, degrees in `[0, 180]`.
        nearest_other_angle: `(N,)` float64, degrees in `[0, 180]`.
        nearest_other_class: `(N,)` int64 class ids.
        margin: `(N,)` float64, `nearest_other_angle - target_angle` (computed, not passed).

    Example:

    >>> import numpy as np
    >>> angles = SampleAngles(np.array([30.0]), np.array([80.0]), np.array([2]))
    >>> float(angles.margin[0]), len(angles)
    (50.0, 1)
    """

    target_angle: np.ndarray
    nearest_other_angle: np.ndarray
    nearest_other_class: np.ndarray
    margin: np.ndarray = dataclasses.field(init=False)

    def __post_init__(self):
        target = np.asarray(self.target_angle, dtype=np.float64)
        other = np.asarray(self.nearest_other_angle, dtype=np.float64)
        other_class = np.asarray(self.nearest_other_class)
        if target.ndim != 1 or other.shape != target.shape or other_class.shape != target.shape:
            raise ValueError(
                "SampleAngles needs three 1-D arrays of the same length; got shapes "
                f"{target.shape}, {other.shape} and {other_class.shape}."
            )
        if other_class.size and not np.issubdtype(other_class.dtype, np.integer):
            raise ValueError(f"nearest_other_class must hold integers; got {other_class.dtype}.")
        object.__setattr__(self, "target_angle", target)
        object.__setattr__(self, "nearest_other_angle", other)
        object.__setattr__(self, "nearest_other_class", other_class.astype(np.int64))
        object.__setattr__(self, "margin", other - target)

    def __len__(self) -> int:
        return int(self.target_angle.shape[0])


class HeadCenters(NamedTuple):
    """The class centres of a head, as `head_centers` returns them.

    Attributes:
        centers: `(embedding_dim, num_classes * num_subcenters)` numpy array; column
            `c * num_subcenters + k` is sub-centre `k` of class `c`.
        num_subcenters: Sub-centres per class `K`.
    """

    centers: np.ndarray
    num_subcenters: int


def _l2_normalize(matrix: np.ndarray, axis: int) -> np.ndarray:
    squared_norm = np.sum(np.square(matrix), axis=axis, keepdims=True)
    return matrix / np.sqrt(np.maximum(squared_norm, _SQUARED_NORM_EPSILON))


def _check_labels(labels, num_samples: int, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (num_samples,):
        raise ValueError(
            f"labels must have shape ({num_samples},) (one per embedding); got {labels.shape}."
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids; got dtype {labels.dtype}.")
    invalid = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if invalid.size:
        first = int(invalid[0])
        raise ValueError(
            f"labels must be class ids in [0, {num_classes}); {invalid.size} are not, the first "
            f"is labels[{first}] = {int(labels[first])}. (A -1 marks a class that Partial FC "
            "did not sample: compute angles against the full head.)"
        )
    return labels.astype(np.int64)


def sample_angles(
    embeddings,
    labels,
    centers,
    num_subcenters: int = 1,
    batch_size: int | None = None,
) -> SampleAngles:
    """Angles between each embedding and its own class centre and its nearest other centre.

    Embeddings and centres are L2-normalised in float64, the cosines computed chunk by chunk
    (so the `(N, C * K)` cosine matrix never has to fit in memory at once), clipped to
    `[-1, 1]` and turned into degrees:

        cos θ_{i,j} = max_k <x_i/|x_i|, w_{j,k}/|w_{j,k}|>      (k over the K sub-centres)
        θ_y = arccos(cos θ_{i,y_i}),     θ_other = arccos(max_{j != y_i} cos θ_{i,j})

    A zero embedding or centre has cosine 0 (90°) to everything, as in `CosineHead`.

    Args:
        embeddings: `(N, D)` features, e.g. from `keras_expface.evaluation.compute_embeddings`
            (any float dtype; a memory-mapped array is read chunk by chunk).
        labels: `(N,)` integer class ids in `[0, C)`.
        centers: `(D, C * K)` class centres, the layout of `CosineHead.class_centers`
            (see `head_centers`).
        num_subcenters: Sub-centres per class `K`. Defaults to `1`.
        batch_size: Samples per chunk. Defaults to `None`: chunks of about 2^24 cosines.

    Returns:
        A `SampleAngles`.

    Raises:
        ValueError: On mismatched shapes, non-finite values, fewer than two classes, or
            labels that are not class ids in `[0, C)` (e.g. -1).

    Example:

    >>> import numpy as np
    >>> centers = np.eye(3)                       # three orthogonal centres in 3-D
    >>> embeddings = np.array([[1.0, 1.0, 0.0]])  # 45° from centres 0 and 1
    >>> angles = sample_angles(embeddings, np.array([0]), centers)
    >>> np.round([angles.target_angle[0], angles.nearest_other_angle[0]], 6).tolist()
    [45.0, 45.0]
    >>> int(angles.nearest_other_class[0])
    1
    """
    if isinstance(num_subcenters, bool) or not isinstance(num_subcenters, numbers.Integral):
        raise ValueError(f"num_subcenters must be a positive integer; got {num_subcenters!r}.")
    if num_subcenters < 1:
        raise ValueError(f"num_subcenters must be a positive integer; got {num_subcenters!r}.")
    embeddings = np.asarray(embeddings)  # converted to float64 chunk by chunk (memmap ok)
    centers = np.asarray(centers, dtype=np.float64)
    if embeddings.ndim != 2 or centers.ndim != 2 or embeddings.shape[1] != centers.shape[0]:
        raise ValueError(
            "embeddings must be (N, D) and centers (D, C * K) with the same D; got shapes "
            f"{embeddings.shape} and {centers.shape}."
        )
    if centers.shape[1] % num_subcenters:
        raise ValueError(
            f"centers has {centers.shape[1]} columns, not a multiple of "
            f"num_subcenters={num_subcenters}."
        )
    num_classes = centers.shape[1] // num_subcenters
    if num_classes < 2:
        raise ValueError(f"Angles to the nearest other class need >= 2 classes; got {num_classes}.")
    if not np.isfinite(centers).all():
        raise ValueError("centers holds non-finite values (NaN or inf).")
    num_samples = embeddings.shape[0]
    labels = _check_labels(labels, num_samples, num_classes)
    if batch_size is None:
        batch_size = max(1, _CHUNK_ELEMENTS // centers.shape[1])
    elif isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}.")
    elif batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}.")

    unit_centers = _l2_normalize(centers, axis=0)
    target_cosine = np.empty(num_samples)
    other_cosine = np.empty(num_samples)
    other_class = np.empty(num_samples, dtype=np.int64)
    for start in range(0, num_samples, int(batch_size)):
        stop = min(start + int(batch_size), num_samples)
        rows = np.arange(stop - start)
        chunk = np.asarray(embeddings[start:stop], dtype=np.float64)
        if not np.isfinite(chunk).all():
            raise ValueError("embeddings holds non-finite values (NaN or inf).")
        cosine = _l2_normalize(chunk, axis=1) @ unit_centers
        class_cosine = cosine.reshape(stop - start, num_classes, num_subcenters).max(axis=2)
        chunk_labels = labels[start:stop]
        target_cosine[start:stop] = class_cosine[rows, chunk_labels]
        class_cosine[rows, chunk_labels] = -np.inf  # exclude the own class
        nearest = np.argmax(class_cosine, axis=1)
        other_class[start:stop] = nearest
        other_cosine[start:stop] = class_cosine[rows, nearest]

    def degrees(cosine):
        return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))

    return SampleAngles(degrees(target_cosine), degrees(other_cosine), other_class)


def head_centers(model_or_head) -> HeadCenters:
    """The class centres of a `CosineHead` or `PartialFCHead`, alone or inside a model.

    A model is searched recursively (nested models included); it must hold exactly one
    built head.

    Args:
        model_or_head: The head layer, or a Keras model containing it (a training model
            from `build_face_model`, a `PartialFCModel`, ...).

    Returns:
        `HeadCenters(centers, num_subcenters)`: the `(D, C * K)` numpy centres and `K`,
        ready for `sample_angles(embeddings, labels, *head_centers(model))`.

    Raises:
        ValueError: If there is no head, more than one, or the head is not built.

    Example:

    >>> import numpy as np
    >>> from keras_expface.layers import CosineHead
    >>> head = CosineHead(num_classes=4, num_subcenters=2)
    >>> _ = head(np.ones((1, 8), "float32"))
    >>> centers, num_subcenters = head_centers(head)
    >>> centers.shape, num_subcenters
    ((8, 8), 2)
    """
    from keras import ops

    from keras_expface.layers import CosineHead, PartialFCHead

    head_types = (CosineHead, PartialFCHead)
    heads = []
    seen = set()
    pending = [model_or_head]
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, head_types):
            heads.append(layer)
            continue
        pending.extend(getattr(layer, "layers", None) or ())
        head = getattr(layer, "head", None)  # PartialFCModel keeps its head as an attribute
        if head is not None:
            pending.append(head)
    name = getattr(model_or_head, "name", type(model_or_head).__name__)
    if not heads:
        raise ValueError(f"{name!r} is not, and holds no, CosineHead or PartialFCHead.")
    if len(heads) > 1:
        names = ", ".join(repr(head.name) for head in heads)
        raise ValueError(f"{name!r} holds {len(heads)} heads ({names}); pass the one to use.")
    head = heads[0]
    if not head.built or not hasattr(head, "class_centers"):
        raise ValueError(f"The head {head.name!r} is not built: call or build it first.")
    centers = np.asarray(ops.convert_to_numpy(head.class_centers))
    return HeadCenters(centers, int(getattr(head, "num_subcenters", 1)))
