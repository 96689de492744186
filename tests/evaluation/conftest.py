"""Fixtures of the evaluation tests."""

import numpy as np
import pytest

from tests.evaluation.synthetic import identity_images, write_identity_folder


@pytest.fixture
def identity_folder(tmp_path):
    """Five identities with 2, 3, 4, 5 and 6 grey 16x16 images."""
    images, labels = identity_images(5, 6, seed=1)
    keep = np.concatenate([np.flatnonzero(labels == label)[: label + 2] for label in range(5)])
    return write_identity_folder(tmp_path / "faces", images[keep], labels[keep])
