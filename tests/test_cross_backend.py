"""A compiled model saved on each backend reloads, with its loss, on each other backend.

Needs tensorflow, torch and jax in one environment (`tox -e cross`); skipped otherwise.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

BACKENDS = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}
MISSING = [module for module in BACKENDS.values() if importlib.util.find_spec(module) is None]

pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs tensorflow, torch and jax in one environment (tox -e cross); missing {MISSING}",
)


def run_worker(backend, command, folder):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.cross_backend_worker", command, str(folder)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{backend} {command} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def test_save_on_each_backend_reload_on_each_other(tmp_path):
    for backend in BACKENDS:
        run_worker(backend, "save", tmp_path)
    for loader in BACKENDS:
        lines = run_worker(loader, "load", tmp_path).strip().splitlines()
        results = json.loads(lines[-1])
        assert sorted(results) == sorted(BACKENDS), loader
        for saver, result in results.items():
            where = f"saved on {saver}, loaded on {loader}"
            assert result["loss"] == "ExpFaceLoss", where
            assert result["loss_config"]["margin"] == 0.6, where
            assert result["loss_config"]["scale"] == 32.0, where
            assert result["max_abs_diff"] < 1e-5, where
            assert result["plain_loss"] == "ExpFaceLoss", where
            assert result["plain_max_abs_diff"] < 1e-5, where
            assert result["optimizer_iterations"] == 1, where
            assert math.isfinite(result["train_loss"]), where
