"""Speed of CosineHead + each margin loss, against NormFace (the same head with no margin).

For B=256 features of D=512 and C classes, times on the current backend (KERAS_BACKEND):

- `fwd+bwd`: one forward and backward pass of head + loss (gradients w.r.t. the features
  and the class centres), compiled the way Keras compiles a train step on that backend
  (tf.function with XLA, jax.jit; torch eager);
- `train step`: `model.train_on_batch` (forward, backward and an SGD update of the centres).

Each loss is timed in turn, round-robin over repeats, and the median is reported with its
ratio to NormFace: the margin's own cost. Goal: ratio <= 1.03.

Usage:
    KERAS_BACKEND=jax python benchmarks/head_loss.py --classes 10000 100000 --repeats 7
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import keras
import numpy as np

import keras_expface as kx

LOSSES = {
    "NormFace": kx.NormFaceLoss,
    "CosFace": kx.CosFaceLoss,
    "ArcFace": kx.ArcFaceLoss,
    "SphereFace": kx.SphereFaceLoss,
    "Combined": kx.CombinedMarginLoss,
    "ExpFace": kx.ExpFaceLoss,
    "ExpFace exact": lambda: kx.ExpFaceLoss(detach_margin=False),
}


def gradient_function(model, loss):
    """Returns a compiled `f(x, y)` computing head + loss forward and backward."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def total(trainable, non_trainable, x, y):
            cosines, _ = model.stateless_call(trainable, non_trainable, x)
            return loss(y, cosines)

        grad = jax.jit(jax.value_and_grad(total, argnums=(0, 2)))

        def run(x, y):
            # Read the variables each time: train_on_batch donates their old buffers.
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            value, grads = grad(trainable, non_trainable, x, y)
            jax.block_until_ready(grads)
            return value

        return run
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def run_tf(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = loss(y, model(x))
            grads = tape.gradient(value, [x, *model.trainable_variables])
            return value, grads

        def run(x, y):
            value, grads = run_tf(x, y)
            _ = [g.numpy() for g in grads]
            return value

        return run
    if backend == "torch":
        import torch

        def run(x, y):
            x = x.detach().requires_grad_(True)
            model.zero_grad()
            value = loss(y, model(x))
            value.backward()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return value

        return run
    raise NotImplementedError(backend)


def time_call(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def benchmark(num_classes: int, batch: int, dim: int, repeats: int, warmup: int) -> list[dict]:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(batch, dim)).astype("float32")
    y_np = rng.integers(0, num_classes, size=(batch,)).astype("int32")
    x, y = keras.ops.convert_to_tensor(x_np), keras.ops.convert_to_tensor(y_np)

    runs = {}
    for name, factory in LOSSES.items():
        inputs = keras.Input((dim,))
        model = keras.Model(inputs, kx.CosineHead(num_classes)(inputs))
        loss = factory()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        grad = gradient_function(model, loss)
        for _ in range(warmup):
            grad(x, y)
            model.train_on_batch(x_np, y_np)
        runs[name] = (model, grad)

    fwd_bwd = {name: [] for name in LOSSES}
    train = {name: [] for name in LOSSES}
    for _ in range(repeats):
        for name, (model, grad) in runs.items():
            fwd_bwd[name].append(time_call(grad, x, y))
            train[name].append(time_call(model.train_on_batch, x_np, y_np))

    base_fb = statistics.median(fwd_bwd["NormFace"])
    base_train = statistics.median(train["NormFace"])
    rows = []
    for name in LOSSES:
        fb, tr = statistics.median(fwd_bwd[name]), statistics.median(train[name])
        rows.append(
            {
                "classes": num_classes,
                "loss": name,
                "fwd_bwd_ms": 1e3 * fb,
                "fwd_bwd_ratio": fb / base_fb,
                "train_ms": 1e3 * tr,
                "train_ratio": tr / base_train,
            }
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)

    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} "
        f"python={platform.python_version()} B={args.batch} D={args.dim} "
        f"repeats={args.repeats} (median)"
    )
    print("| C | loss | fwd+bwd ms | ratio | train step ms | ratio |\n|---|---|---|---|---|---|")
    for num_classes in args.classes:
        for row in benchmark(num_classes, args.batch, args.dim, args.repeats, args.warmup):
            print(
                f"| {row['classes']:,} | {row['loss']} | {row['fwd_bwd_ms']:.1f} "
                f"| {row['fwd_bwd_ratio']:.3f} | {row['train_ms']:.1f} "
                f"| {row['train_ratio']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
