"""Where the Keras-on-torch head step spends its time, next to the same step in plain PyTorch.

`benchmarks/scale.py` measures our head + ExpFace loss on the torch backend against a plain
PyTorch implementation of the same step. This script explains the difference: it builds both
on one set of weights (as `scale.py --paired-only` does), times them in turn, then runs each
under `torch.profiler` and prints the operators by self CPU time, plus the time spent outside
any torch operator (Python, Keras' train-step bookkeeping).

Usage:
    KERAS_BACKEND=torch python benchmarks/profile_torch_head.py --classes 10000 --steps 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scale  # (the benchmark's own step builders)


def build_steps(num_classes: int):
    """Keras `train_on_batch`, Keras' train step without `train_on_batch`, and plain torch."""
    import keras
    import numpy as np

    import keras_expface as kx

    features_layer = scale._trainable_features_layer()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,), batch_size=scale.BATCH)
    head = kx.CosineHead(num_classes)
    model = keras.Model(inputs, head(features_layer(inputs)))
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=kx.ExpFaceLoss(scale=scale.SCALE, margin=scale.MARGIN),
    )
    x = np.zeros((scale.BATCH, 1), "float32")
    y = np.random.default_rng(0).integers(0, num_classes, size=scale.BATCH).astype("int32")
    model.train_on_batch(x, y)  # builds the optimizer and the train function

    import torch

    x_t, y_t = torch.as_tensor(x), torch.as_tensor(y)
    plain = scale.plain_torch_step(
        "plain PyTorch ExpFace",
        num_classes,
        centers=head.class_centers.value,
        features=features_layer.features.value,
        labels=y,
    )
    return {
        "Keras train_on_batch": lambda: model.train_on_batch(x, y),
        "Keras train_step (tensors)": lambda: model.train_step((x_t, y_t)),
        "plain PyTorch": plain,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=14)
    args = parser.parse_args(argv)

    import keras
    import torch
    from torch.profiler import ProfilerActivity, profile

    if keras.backend.backend() != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch")
    steps = build_steps(args.classes)
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    print(
        f"C = {args.classes}, B = {scale.BATCH}, D = {scale.DIM}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    reference = statistics.median(times["plain PyTorch"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28s} {1e3 * median:8.1f} ms  ({median / reference:.3f}x plain)")

    for name, step in steps.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            wall = (time.perf_counter() - start) / args.steps
        events = prof.key_averages()
        # Self times of top-level and nested operators add up to the time inside torch.
        inside = sum(e.self_cpu_time_total for e in events) / args.steps / 1e3
        print(f"\n== {name}: {1e3 * wall:.1f} ms/step under the profiler, "
              f"{inside:.1f} ms in torch operators, {1e3 * wall - inside:.1f} ms outside")
        print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
