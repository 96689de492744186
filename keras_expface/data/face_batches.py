"""`FaceBatches`: shuffled, augmented training batches from any `FaceSource`, for `model.fit`."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np

from keras_expface._checks import check_positive_int
from keras_expface.data.face_source import FaceSource


class FaceBatches(keras.utils.PyDataset):
    """One epoch of shuffled training batches `(pixels, labels)` read from a `FaceSource`.

    A `keras.utils.PyDataset`, so `model.fit` consumes it on every backend (no TensorFlow
    needed). Pixels are float32 in `[0, 255]`, `(batch, height, width, channels)`: the model
    normalises them (the preprocessing layer of `build_face_model`). Labels are int32.

    The batches of an epoch depend only on `(seed, epoch)`: the sample order is a
    permutation drawn from them and each batch's flips from `(seed, epoch, batch index)`, so a
    run resumed at epoch `e` sees exactly the batches the uninterrupted run would have seen,
    whatever the number of reader threads. Create one `FaceBatches` per epoch (the trainer
    does) or set `epoch` before iterating.

    A sample that cannot be read (`OSError` / `ValueError` from the source: a corrupt file
    or record) never stops training: it is replaced in its batch by another readable sample
    of the batch, and listed in `failures` (`{source description: reason}`), shared by all
    epochs and threads.

    Args:
        source: Where the images come from.
        batch_size: Samples per batch.
        indices: The samples of `source` to use (e.g. the training identities of a split).
            Defaults to `None` (all).
        seed: Seed of the order and the augmentation. Defaults to `0`.
        epoch: Which epoch's order to produce. Defaults to `0`.
        shuffle: Shuffle the samples each epoch. Defaults to `True`.
        horizontal_flip: Flip each image left-right with probability 1/2. Defaults to `True`.
        drop_remainder: Leave out the last, incomplete batch (static shapes; a batch of one
            would break BatchNormalization). Defaults to `True`.
        labels: Labels to train on instead of `source.labels` (e.g. with injected label
            noise), aligned with `source`. Defaults to `None`.
        failures: A dict to record unreadable samples in (pass the same one to every
            epoch's `FaceBatches`). Defaults to `None` (a new one).
        **kwargs: `workers`, `use_multiprocessing` (only threads keep `failures`),
            `max_queue_size` of `keras.utils.PyDataset`.

    Example:

    >>> import numpy as np
    >>> from keras_expface.data import FaceDataset
    >>> faces = FaceDataset(np.zeros((10, 8, 8, 1), "uint8"), np.arange(10) % 2, ("a", "b"),
    ...                     tuple(str(i) for i in range(10)))
    >>> batches = FaceBatches(faces, batch_size=4)
    >>> len(batches), batches[0][0].shape, batches[0][1].dtype
    (2, (4, 8, 8, 1), dtype('int32'))
    """

    def __init__(
        self,
        source: FaceSource,
        batch_size: int,
        indices=None,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        horizontal_flip: bool = True,
        drop_remainder: bool = True,
        labels=None,
        failures: dict[str, str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source = source
        self.batch_size = check_positive_int("FaceBatches", "batch_size", batch_size)
        self.indices = (
            np.arange(len(source), dtype=np.int64)
            if indices is None
            else np.asarray(indices, dtype=np.int64).reshape(-1)
        )
        if self.indices.size == 0:
            raise ValueError("FaceBatches got no sample to draw batches from.")
        if self.indices.min() < 0 or self.indices.max() >= len(source):
            raise ValueError(
                f"FaceBatches: indices must lie in [0, {len(source)}); got "
                f"[{self.indices.min()}, {self.indices.max()}]."
            )
        self.labels = np.asarray(source.labels if labels is None else labels, dtype=np.int32)
        if self.labels.shape != (len(source),):
            raise ValueError(
                f"FaceBatches: labels must have shape ({len(source)},); got {self.labels.shape}."
            )
        if drop_remainder and len(self.indices) < self.batch_size:
            raise ValueError(
                f"FaceBatches: {len(self.indices)} samples do not fill one batch of "
                f"{self.batch_size}; lower the batch size."
            )
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.shuffle = bool(shuffle)
        self.horizontal_flip = bool(horizontal_flip)
        self.drop_remainder = bool(drop_remainder)
        self.failures = {} if failures is None else failures
        self._lock = threading.Lock()

    def __len__(self) -> int:
        if self.drop_remainder:
            return len(self.indices) // self.batch_size
        return -(-len(self.indices) // self.batch_size)

    def order(self) -> np.ndarray:
        """The samples of this epoch, in the order the batches take them."""
        if not self.shuffle:
            return self.indices
        rng = np.random.default_rng([self.seed, self.epoch])
        return self.indices[rng.permutation(len(self.indices))]

    def batch_indices(self, index: int) -> np.ndarray:
        """The sample indices of batch `index` of this epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range [0, {len(self)}).")
        return self.order()[index * self.batch_size : (index + 1) * self.batch_size]

    def _read(self, index: int) -> np.ndarray | None:
        try:
            return np.asarray(self.source.read(int(index)))
        except (OSError, ValueError, SyntaxError) as error:
            with self._lock:
                self.failures[self.source.describe(int(index))] = f"{type(error).__name__}: {error}"
            return None

    def __getitem__(self, index: int):
        chosen = self.batch_indices(index)
        pixels = [self._read(i) for i in chosen]
        readable = [i for i, image in enumerate(pixels) if image is not None]
        if not readable:
            raise OSError(
                f"No sample of batch {index} could be read (e.g. "
                f"{self.source.describe(int(chosen[0]))!r}); see FaceBatches.failures."
            )
        # Replace each unreadable sample by a readable one of the batch (cycling through them).
        slots = [i if pixels[i] is not None else None for i in range(len(chosen))]
        for position, slot in enumerate(slots):
            if slot is None:
                slots[position] = readable[position % len(readable)]
        images = np.stack([pixels[slot] for slot in slots]).astype("float32")
        labels = self.labels[chosen[slots]]
        if self.horizontal_flip:
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            flip = rng.random(len(images)) < 0.5
            images[flip] = images[flip, :, ::-1]
        return images, labels

    def measure_throughput(self, num_batches: int = 10) -> float:
        """Images per second this pipeline alone delivers (reads + augmentation, one thread).

        Args:
            num_batches: Batches to time. Defaults to `10`.

        Returns:
            Images per second.
        """
        num_batches = max(1, min(int(num_batches), len(self)))
        start = time.perf_counter()
        count = 0
        for index in range(num_batches):
            count += len(self[index][1])
        return count / max(time.perf_counter() - start, 1e-9)
