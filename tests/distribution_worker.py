"""Subprocess worker for tests/test_distribution.py: multi-device runs on one CPU machine.

Usage: python -m tests.distribution_worker jax | tf-mirrored | torch-ddp

- `jax`: 8 virtual CPU devices (sets XLA_FLAGS before importing JAX); compares
  `class_sharded_distribution` (1-D and 2-D meshes), `DataParallel` and a sharded
  `PartialFCModel` with single-device runs. Sets KERAS_BACKEND=jax itself.
- `tf-mirrored`: `tf.distribute.MirroredStrategy` over 2 logical CPUs, `model.fit` vs one device.
- `torch-ddp`: `DistributedDataParallel` (gloo, 2 forked processes) vs one process.

Prints one JSON line: the results that the test checks.
"""

from __future__ import annotations

import json
import os
import sys

NUM_DEVICES = 8
BATCH, INPUT_DIM, EMBEDDING_DIM = 16, 6, 8


def data(num_classes):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, INPUT_DIM)).astype("float32")
    return x, (np.arange(BATCH) * 5) % num_classes


def build_model(num_classes, num_subcenters=1, optimizer=None):
    import keras

    import keras_expface as kx

    keras.utils.set_random_seed(0)
    inputs = keras.Input((INPUT_DIM,))
    embeddings = keras.layers.Dense(EMBEDDING_DIM, name="dense")(inputs)
    head = kx.CosineHead(num_classes, num_subcenters=num_subcenters, name="head")
    model = keras.Model(inputs, head(embeddings))
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1, momentum=0.9), loss=kx.ExpFaceLoss()
    )
    return model


def build_partial_fc(num_classes, sample_rate):
    import keras

    import keras_expface as kx

    keras.utils.set_random_seed(0)
    inputs = keras.Input((INPUT_DIM,))
    embedder = keras.Model(inputs, keras.layers.Dense(EMBEDDING_DIM, name="dense")(inputs))
    head = kx.PartialFCHead(num_classes, sample_rate=sample_rate, seed=3, name="head")
    model = kx.PartialFCModel(embedder, head)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss=kx.ExpFaceLoss())
    model.build((None, INPUT_DIM))
    return model


def max_diff(a, b, relative=False):
    """Largest absolute difference over pairs of arrays (divided by max |b| if `relative`)."""
    import numpy as np

    diffs = []
    for u, v in zip(a, b, strict=True):
        u, v = np.asarray(u), np.asarray(v)
        scale = max(float(np.abs(v).max()), 1e-30) if relative else 1.0
        diffs.append(float(np.abs(u - v).max()) / scale)
    return max(diffs)


def run_jax():
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={NUM_DEVICES}"
    )
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras
    import numpy as np

    import keras_expface as kx
    from keras_expface.distribution import class_sharded_distribution

    def forward_and_gradients(model, distribution, x, y):
        """Cosines, loss and gradients (w.r.t. the weights and x) through one jitted call."""
        loss_fn = kx.ExpFaceLoss()

        def total(trainable, non_trainable, x, y):
            cosines, _ = model.stateless_call(trainable, non_trainable, x)
            return loss_fn(y, cosines), cosines

        grad = jax.jit(jax.value_and_grad(total, argnums=(0, 2), has_aux=True))
        if distribution is not None:
            x = jax.device_put(x, distribution.get_data_layout(x.shape).backend_layout)
            y = jax.device_put(y, distribution.get_data_layout(y.shape).backend_layout)
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        (loss, cosines), (weight_grads, x_grad) = grad(trainable, non_trainable, x, y)
        return float(loss), np.asarray(cosines), [np.asarray(g) for g in (*weight_grads, x_grad)]

    def step_weights(model, x, y):
        model.train_on_batch(x, y)
        return [np.asarray(v.value) for v in model.weights]

    def sharding_of(variable):
        value = variable.value
        return {
            "spec": [axis for axis in value.sharding.spec],
            "shard_shape": list(value.addressable_shards[0].data.shape),
            "num_devices": len(value.sharding.device_set),
        }

    results = {"device_count": jax.device_count()}
    num_classes = 32
    x, y = data(num_classes)
    reference = build_model(num_classes)
    initial = [np.asarray(v.value) for v in reference.weights]
    ref_loss, ref_cosines, ref_grads = forward_and_gradients(reference, None, x, y)
    ref_weights = step_weights(reference, x, y)

    cases = {
        "insightface_1d": lambda: class_sharded_distribution(),
        "mesh_2x4": lambda: class_sharded_distribution(model_axis_size=4),
        "data_parallel": lambda: keras.distribution.DataParallel(),
    }
    for name, make in cases.items():
        distribution = make()
        with distribution.scope():
            model = build_model(num_classes)
            model.set_weights(initial)
            loss, cosines, grads = forward_and_gradients(model, distribution, x, y)
            step_diff = max_diff(step_weights(model, x, y), ref_weights)
            head = model.get_layer("head")
            momentum = [
                v for v in model.optimizer.variables if tuple(v.shape) == head.class_centers.shape
            ]
            results[name] = {
                "loss_rel_diff": abs(loss - ref_loss) / abs(ref_loss),
                "cosine_diff": max_diff([cosines], [ref_cosines]),
                "grad_rel_diff": max_diff(grads, ref_grads, relative=True),
                "step_diff": step_diff,
                "centers": sharding_of(head.class_centers),
                "centers_momentum": sharding_of(momentum[0]),
                "dense_kernel": sharding_of(model.get_layer("dense").kernel),
            }

    # model.fit over 2 batches of 8 rows (data distributed by Keras) vs one device.
    reference = build_model(num_classes)
    reference.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    with class_sharded_distribution(model_axis_size=4).scope():
        model = build_model(num_classes)
        model.set_weights(initial)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    results["fit_2x4_diff"] = max_diff(
        [v.value for v in model.weights], [v.value for v in reference.weights]
    )

    # Sub-centres: C * K = 24 columns over 8 devices, 3 per shard (classes split across shards).
    reference = build_model(12, num_subcenters=2)
    initial_k = [np.asarray(v.value) for v in reference.weights]
    x_k, y_k = data(12)
    ref_weights = step_weights(reference, x_k, y_k)
    with class_sharded_distribution().scope():
        model = build_model(12, num_subcenters=2)
        model.set_weights(initial_k)
        results["subcenters_step_diff"] = max_diff(step_weights(model, x_k, y_k), ref_weights)

    # Partial FC under class sharding: top_k over the sharded class axis.
    reference = build_partial_fc(num_classes, 0.5)
    initial_pfc = [np.asarray(v.value) for v in reference.weights]
    ref_losses = [float(reference.train_on_batch(x, y)) for _ in range(2)]
    ref_weights = [np.asarray(v.value) for v in reference.weights]
    with class_sharded_distribution(model_axis_size=4).scope():
        model = build_partial_fc(num_classes, 0.5)
        model.set_weights(initial_pfc)
        losses = [float(model.train_on_batch(x, y)) for _ in range(2)]
        results["partial_fc"] = {
            "loss_diff": max(abs(a - b) for a, b in zip(losses, ref_losses, strict=True)),
            "step_diff": max_diff([v.value for v in model.weights], ref_weights),
            "centers": sharding_of(model.head.class_centers),
        }

    # C * K not divisible by the shards: a clear error when the head is built.
    try:
        with class_sharded_distribution(model_axis_size=4).scope():
            build_model(10)
        results["indivisible_error"] = None
    except ValueError as error:
        results["indivisible_error"] = str(error)
    return results


def run_tf_mirrored():
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    num_classes = 32
    x, y = data(num_classes)
    reference = build_model(num_classes)
    initial = [v.numpy() for v in reference.weights]
    ref_losses = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    with strategy.scope():
        model = build_model(num_classes)
    model.set_weights(initial)
    losses = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    centers = model.get_layer("head").class_centers
    return {
        "keras": keras.__version__,
        "replicas": strategy.num_replicas_in_sync,
        "centers_type": type(centers.value).__name__,
        "loss_diff": max(
            abs(a - b)
            for a, b in zip(losses.history["loss"], ref_losses.history["loss"], strict=True)
        ),
        "step_diff": max_diff(
            [v.numpy() for v in model.weights], [v.numpy() for v in reference.weights]
        ),
    }


def _ddp_rank(rank, world_size, port, queue):
    import numpy as np
    import torch
    import torch.distributed as dist

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    num_classes = 32
    x, y = data(num_classes)
    model = build_model(num_classes)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    rows = slice(rank * BATCH // world_size, (rank + 1) * BATCH // world_size)
    _sgd_step(ddp, x[rows], y[rows])
    if rank == 0:
        queue.put([np.asarray(p.detach().numpy()).copy() for p in model.parameters()])
    dist.destroy_process_group()


def _sgd_step(module, x, y):
    import torch

    import keras_expface as kx

    loss = kx.ExpFaceLoss()(torch.as_tensor(y), module(torch.as_tensor(x)))
    loss.backward()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter -= 0.1 * parameter.grad
    return float(loss.detach())


def run_torch_ddp():
    os.environ["KERAS_BACKEND"] = "torch"
    import socket

    import torch.multiprocessing as mp

    num_classes = 32
    x, y = data(num_classes)
    reference = build_model(num_classes)
    _sgd_step(reference, x, y)
    ref_weights = [p.detach().numpy() for p in reference.parameters()]
    with socket.socket() as sock:  # a free port for the gloo rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    context = mp.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_ddp_rank, args=(r, 2, port, queue)) for r in range(2)]
    for process in processes:
        process.start()
    weights = queue.get(timeout=120)
    for process in processes:
        process.join(timeout=60)
    return {
        "exit_codes": [process.exitcode for process in processes],
        "step_diff": max_diff(weights, ref_weights),
    }


if __name__ == "__main__":
    command = sys.argv[1]
    runner = {"jax": run_jax, "tf-mirrored": run_tf_mirrored, "torch-ddp": run_torch_ddp}[command]
    print(json.dumps(runner()))
