"""Shared fixtures: the ORL faces folder, a fresh Keras state per test."""

import os
import pathlib

import keras
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
#: The ORL faces (40 identities x 10 images) beside the repository, never inside it.
ORL_FACES_DIR = pathlib.Path(
    os.environ.get("KERAS_EXPFACE_ORL_DIR", REPO_ROOT.parent / "shared" / "data" / "orl_faces")
)
#: An ImageNet-pretrained MobileNetV2 (no top) for offline fine-tuning tests.
MOBILENET_V2_WEIGHTS = pathlib.Path(
    os.environ.get(
        "KERAS_EXPFACE_MOBILENET_V2_WEIGHTS",
        REPO_ROOT.parent / "shared" / "data" / "weights" / "mobilenet_v2_imagenet_notop.weights.h5",
    )
)


@pytest.fixture
def orl_faces_dir() -> pathlib.Path:
    """Path of the ORL faces; the test is skipped with the reason when it is absent."""
    if not (ORL_FACES_DIR / "s01").is_dir():
        pytest.skip(f"ORL faces not found at {ORL_FACES_DIR} (set KERAS_EXPFACE_ORL_DIR)")
    return ORL_FACES_DIR


@pytest.fixture
def mobilenet_v2_weights() -> pathlib.Path:
    """Path of the local MobileNetV2 ImageNet weights; skips with the reason when absent."""
    if not MOBILENET_V2_WEIGHTS.is_file():
        pytest.skip(f"MobileNetV2 weights not found at {MOBILENET_V2_WEIGHTS}")
    return MOBILENET_V2_WEIGHTS


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the float32 policy and a clean Keras session."""
    keras.config.set_dtype_policy("float32")
    # free_memory=False skips a gc.collect() per test (~0.3 s with three backends loaded).
    keras.backend.clear_session(free_memory=False)
    yield
    keras.config.set_dtype_policy("float32")
