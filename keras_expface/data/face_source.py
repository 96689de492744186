"""`FaceSource`: random-access face images with identity labels, and `FaceDataset` in memory.

Every data format of the package (identity folders, insightface `.rec` records, tfds, the
built-in generated faces) yields a `FaceSource`; the training pipeline
(`keras_expface.data.FaceBatches`) reads batches from any of them.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np


class FaceSource(abc.ABC):
    """Face images with identity labels, read one at a time by index.

    Subclasses set `labels` (`(N,)` int32, indices into `class_names`), `class_names`, and
    implement `read` and `describe`. A source may be lazy (decode on `read`) or in memory.
    """

    labels: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Number of identities (labels run over `0 .. num_classes - 1`)."""
        return len(self.class_names)

    @abc.abstractmethod
    def read(self, index: int) -> np.ndarray:
        """The pixels of sample `index`, `(height, width, channels)` uint8.

        Raises:
            OSError: If the sample cannot be read or decoded (the caller skips and lists it).
        """

    @abc.abstractmethod
    def describe(self, index: int) -> str:
        """Where sample `index` comes from (a file path, `train.rec[17]`, ...), for reports."""


@dataclasses.dataclass(frozen=True, eq=False)
class FaceDataset(FaceSource):
    """Face images held in memory.

    Attributes:
        images: `(N, height, width, channels)` uint8 pixels (unnormalised).
        labels: `(N,)` int32 identity index into `class_names`.
        class_names: Identity names; `labels` index into it.
        paths: `(N,)` where each image comes from (file paths, or names such as
            `synthetic/id00003/007`), aligned with `images`.
        skipped: `(source, reason)` of samples that could not be read.

    Example:

    >>> import numpy as np
    >>> faces = FaceDataset(np.zeros((4, 8, 8, 1), "uint8"), np.array([0, 0, 1, 1]),
    ...                     ("a", "b"), ("a/0", "a/1", "b/0", "b/1"))
    >>> len(faces), faces.num_classes, faces.describe(2), faces.read(3).shape
    (4, 2, 'b/0', (8, 8, 1))
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    paths: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        images, labels = np.asarray(self.images), np.asarray(self.labels)
        if images.ndim != 4:
            raise ValueError(
                f"images must be (N, height, width, channels); got shape {images.shape}."
            )
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},); got {labels.shape}.")
        if len(self.paths) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.paths)} paths.")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must lie in [0, {len(self.class_names)}) (one per class name); got "
                f"[{labels.min()}, {labels.max()}]."
            )

    def read(self, index: int) -> np.ndarray:
        return self.images[index]

    def describe(self, index: int) -> str:
        return self.paths[index]

    def subset(self, indices) -> FaceDataset:
        """The samples at `indices` (labels and class names unchanged)."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self,
            images=self.images[indices],
            labels=self.labels[indices],
            paths=tuple(self.paths[i] for i in indices),
        )
