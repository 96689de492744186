"""keras_expface.distribution: class-sharded heads with keras.distribution, and data parallel.

The multi-device checks run in a subprocess (`tests/distribution_worker.py`): JAX needs
`XLA_FLAGS=--xla_force_host_platform_device_count=8` before it is imported, TensorFlow its
logical devices before it initialises. Each runs under its own backend's test session.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from keras_expface.distribution import (
    CLASS_CENTERS_PATTERN,
    check_class_sharding,
    class_sharded_distribution,
    head_layout_map,
    padded_num_classes,
)
from tests.conftest import REPO_ROOT

BACKEND = keras.backend.backend()
STEP_TOLERANCE = 2e-5  # weights after one SGD step (lr 0.1, |w| ~ 0.1-1), float32 reductions


def run_worker(command):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.distribution_worker", command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"worker {command} failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("num_classes", "shards", "subcenters", "expected"),
    [(10572, 8, 1, 10576), (10576, 8, 1, 10576), (10, 4, 2, 10), (11, 4, 2, 12), (7, 3, 3, 7)],
)
def test_padded_num_classes(num_classes, shards, subcenters, expected):
    padded = padded_num_classes(num_classes, shards, num_subcenters=subcenters)
    assert padded == expected
    assert (padded * subcenters) % shards == 0
    check_class_sharding(padded * subcenters, shards)


def test_check_class_sharding_names_the_fix():
    with pytest.raises(ValueError, match="num_classes=12 when num_subcenters=1"):
        check_class_sharding(10, 4)
    with pytest.raises(ValueError, match="positive integer"):
        check_class_sharding(10, 0)


def test_class_centers_pattern_matches_the_heads_only():
    import re

    for path in ("head/class_centers", "partial_fc_model/head/class_centers", "class_centers"):
        assert re.fullmatch(CLASS_CENTERS_PATTERN, path), path
    for path in ("head/output", "dense/kernel", "head/class_centers_momentum"):
        assert not re.fullmatch(CLASS_CENTERS_PATTERN, path), path


@pytest.mark.skipif(BACKEND == "jax", reason="checks the error raised off the JAX backend")
def test_needs_jax_backend():
    with pytest.raises(RuntimeError, match=r"keras\.distribution needs the JAX backend"):
        class_sharded_distribution(devices=["cpu:0"])
    with pytest.raises(RuntimeError, match=r"keras\.distribution needs the JAX backend"):
        head_layout_map(None)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution needs the JAX backend")
def test_layout_map_and_distribution_on_one_device():
    devices = keras.distribution.list_devices()[:1]
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), devices)
    layout_map = head_layout_map(mesh)
    assert layout_map["my_model/head/class_centers"].axes == (None, "model")
    assert layout_map["my_model/dense/kernel"] is None
    with pytest.raises(ValueError, match="not an axis"):
        head_layout_map(mesh, model_axis="classes")
    distribution = class_sharded_distribution(devices=devices, model_axis_size=1)
    assert isinstance(distribution, keras.distribution.ModelParallel)
    assert distribution.device_mesh.axis_names == ("batch", "model")
    with pytest.raises(ValueError, match="must divide"):
        class_sharded_distribution(devices=devices, model_axis_size=2)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution needs the JAX backend")
def test_sharded_head_on_8_virtual_devices_matches_one_device():
    results = run_worker("jax")
    assert results["device_count"] == 8
    for name, shards, axis in (("insightface_1d", 8, "batch"), ("mesh_2x4", 4, "model")):
        case = results[name]
        assert case["loss_rel_diff"] < 1e-5, name
        assert case["cosine_diff"] < 1e-5, name
        assert case["grad_rel_diff"] < 1e-5, name
        assert case["step_diff"] < STEP_TOLERANCE, name
        # The class axis (32 centres) really is split over the model axis, momentum too.
        for variable in ("centers", "centers_momentum"):
            assert case[variable]["spec"] == [None, axis], (name, variable)
            assert case[variable]["shard_shape"] == [8, 32 // shards], (name, variable)
        assert case["dense_kernel"]["spec"] == [None, None], name  # replicated
    data_parallel = results["data_parallel"]
    assert data_parallel["centers"]["shard_shape"] == [8, 32]  # replicated
    assert data_parallel["loss_rel_diff"] < 1e-5
    assert data_parallel["grad_rel_diff"] < 1e-5
    assert data_parallel["step_diff"] < STEP_TOLERANCE
    assert results["fit_2x4_diff"] < STEP_TOLERANCE
    assert results["subcenters_step_diff"] < STEP_TOLERANCE
    partial_fc = results["partial_fc"]
    assert partial_fc["centers"]["spec"] == [None, "model"]
    assert partial_fc["loss_diff"] < 1e-4  # two steps, the same sampled classes
    assert partial_fc["step_diff"] < STEP_TOLERANCE
    assert "Cannot shard 10 class centres" in results["indivisible_error"]
    assert "num_classes=12" in results["indivisible_error"]


@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="tf.distribute.MirroredStrategy is for the TensorFlow backend"
)
def test_mirrored_strategy_fit_matches_one_device():
    results = run_worker("tf-mirrored")
    assert results["replicas"] == 2
    assert results["centers_type"] == "MirroredVariable"
    assert results["loss_diff"] < 1e-4
    assert results["step_diff"] < STEP_TOLERANCE


@pytest.mark.skipif(BACKEND != "torch", reason="DistributedDataParallel is for the torch backend")
def test_torch_ddp_step_matches_one_process():
    results = run_worker("torch-ddp")
    assert results["exit_codes"] == [0, 0]
    assert results["step_diff"] < STEP_TOLERANCE
