"""Mixed precision at scale: bfloat16 head matmul, float32 margin and cross-entropy.

Three precision settings:

- `float32`: everything float32;
- `mixed_bfloat16`: global policy `keras.mixed_precision.set_global_policy("mixed_bfloat16")`
  with the library's default head: `CosineHead` keeps its float32 policy under a global
  mixed policy (its inputs are cast to float32), so only the backbone runs in bfloat16;
- `mixed_bfloat16 + bf16 head`: the same, plus `CosineHead(..., dtype="mixed_bfloat16")`:
  the features and centres are normalised and multiplied in bfloat16, the cosines are cast
  to float32 before the clip, and the margin and cross-entropy run in float32.

Part (a), `--steps`: time of one head + loss training step (B=256, D=512, C classes,
trainable features, SGD; as `benchmarks/scale.py`), one subprocess per backend in which the
three precisions' steps run in turn (so that load changes hit them alike), and a check of
what the head computes: its compute dtype, the output dtype, and the largest difference of
its cosines from a float32 head on the same weights (bfloat16 rounding, ~1e-3, shows that
the product really ran in bfloat16).

Part (b), `--orl`: the accuracy cost on a real run: the small CNN of `examples/train_orl.py`
trained with ExpFace on 30 ORL identities, verified on the 10 held-out ones (450 + 450
pairs, 10-fold protocol), in each precision with the same seeds.

Usage:
    python benchmarks/mixed_precision.py --steps --orl --backends jax torch tensorflow \
        --classes 100000 --seeds 0 1 --orl-backend jax
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BATCH, DIM = 256, 512
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_bfloat16 + bf16 head")
ORL_DIR = pathlib.Path(
    os.environ.get("KERAS_EXPFACE_ORL_DIR", ROOT.parent / "shared" / "data" / "orl_faces")
)


def set_precision(precision: str):
    """Sets the global policy; returns the `dtype` argument for the head."""
    import keras

    keras.config.set_dtype_policy("float32" if precision == "float32" else "mixed_bfloat16")
    return "mixed_bfloat16" if precision.endswith("bf16 head") else None


def _build_step_model(precision: str, num_classes: int):
    """Trainable `(B, D)` features -> `CosineHead` -> `ExpFaceLoss`, SGD, in `precision`."""
    import keras

    import keras_expface as kx

    head_dtype = set_precision(precision)

    class TrainableFeatures(keras.layers.Layer):
        def build(self, input_shape):
            self.features = self.add_weight(
                name="features", shape=(BATCH, DIM), initializer="random_normal"
            )

        def call(self, inputs):
            return self.features + 0.0 * keras.ops.cast(inputs[:, :1], self.compute_dtype)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], DIM)

    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,), batch_size=BATCH)
    head = kx.CosineHead(num_classes, dtype=head_dtype)
    model = keras.Model(inputs, head(TrainableFeatures()(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=kx.ExpFaceLoss())
    keras.config.set_dtype_policy("float32")
    return model, head


def step_child(num_classes: int, repeats: int) -> list[dict]:
    """One process per backend: the three precisions' steps run in turn (paired timing)."""
    import keras
    import numpy as np

    import keras_expface as kx

    x = np.zeros((BATCH, 1), "float32")
    y = np.random.default_rng(0).integers(0, num_classes, size=BATCH).astype("int32")
    sample = np.random.default_rng(1).normal(size=(BATCH, DIM)).astype("float32")
    models, rows = {}, []
    for precision in PRECISIONS:
        model, head = _build_step_model(precision, num_classes)
        models[precision] = model
        cosines = head(sample)
        # The same centres in a float32 head: the difference is the bfloat16 rounding.
        reference = kx.CosineHead(num_classes, dtype="float32")
        reference.build((None, DIM))
        reference.set_weights(head.get_weights())
        diff = np.abs(
            np.asarray(keras.ops.convert_to_numpy(cosines), "float32")
            - np.asarray(keras.ops.convert_to_numpy(reference(sample)))
        ).max()
        rows.append(
            {
                "backend": keras.backend.backend(),
                "precision": precision,
                "classes": num_classes,
                "head_compute_dtype": head.compute_dtype,
                "head_variable_dtype": head.variable_dtype,
                "output_dtype": keras.backend.standardize_dtype(cosines.dtype),
                "max_cosine_diff_vs_float32": float(diff),
            }
        )
        del reference
    times = {precision: [] for precision in PRECISIONS}
    for _ in range(2):  # warm-up: build, trace, compile
        for model in models.values():
            model.train_on_batch(x, y)
    for _ in range(repeats):
        for precision, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[precision].append(time.perf_counter() - start)
    for row in rows:
        row["step_ms"] = 1e3 * statistics.median(times[row["precision"]])
    return rows


def orl_child(precision: str, seed: int, epochs: int) -> dict:
    import keras
    import numpy as np

    import keras_expface as kx
    from keras_expface.data import load_identity_folder
    from keras_expface.evaluation import evaluate_model, pairs_from_identity_folder

    spec = importlib.util.spec_from_file_location("train_orl", ROOT / "examples" / "train_orl.py")
    train_orl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_orl)

    head_dtype = set_precision(precision)
    keras.utils.set_random_seed(seed)
    faces = load_identity_folder(
        str(ORL_DIR), image_size=train_orl.IMAGE_SIZE, color_mode="grayscale"
    )
    train_names, held_out = faces.class_names[:-10], faces.class_names[-10:]
    train = faces.labels < len(train_names)
    x_train, y_train = faces.images[train].astype("float32"), faces.labels[train]
    embedder = train_orl.build_embedder(x_train.shape[1:], embedding_dim=128)
    head = kx.CosineHead(len(train_names), dtype=head_dtype)
    model = keras.Model(embedder.input, head(embedder.output))
    batch_size = 32
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-3, decay_steps=epochs * int(np.ceil(len(x_train) / batch_size))
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4), loss=kx.ExpFaceLoss()
    )
    pairs = pairs_from_identity_folder(
        str(ORL_DIR),
        train_orl.IMAGE_SIZE,
        "grayscale",
        identities=held_out,
        seed=seed,
        name="orl_held_out",
    )
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0
    ).history
    seconds = time.perf_counter() - start
    result = evaluate_model(embedder, pairs)
    return {
        "backend": keras.backend.backend(),
        "precision": precision,
        "seed": seed,
        "epochs": epochs,
        "embedding_dtype": keras.backend.standardize_dtype(embedder.output.dtype),
        "head_compute_dtype": head.compute_dtype,
        "final_loss": float(history["loss"][-1]),
        "accuracy": float(result.accuracy),
        "accuracy_std": float(result.accuracy_std),
        "fit_seconds": seconds,
    }


def run_child(backend: str, *args) -> dict | None:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--child", *map(str, args)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        print(f"FAILED {backend} {args}:\n{result.stderr[-2500:]}", flush=True)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def step_table(rows: list[dict]) -> str:
    lines = [
        "| backend | precision | step ms (median) | vs float32 | head compute dtype "
        "| head output | max cosine diff vs float32 head |",
        "|---|---|---|---|---|---|---|",
    ]
    base = {r["backend"]: r["step_ms"] for r in rows if r["precision"] == "float32"}
    for r in rows:
        ratio = f"{r['step_ms'] / base[r['backend']]:.2f}" if r["backend"] in base else "-"
        lines.append(
            f"| {r['backend']} | {r['precision']} | {r['step_ms']:.0f} | {ratio} "
            f"| {r['head_compute_dtype']} | {r['output_dtype']} "
            f"| {r['max_cosine_diff_vs_float32']:.1e} |"
        )
    return "\n".join(lines)


def orl_table(rows: list[dict]) -> str:
    lines = [
        "| precision | seed | held-out verification accuracy | final train loss "
        "| embedding dtype | head compute dtype | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['precision']} | {r['seed']} | {r['accuracy']:.4f} +- {r['accuracy_std']:.4f} "
            f"| {r['final_loss']:.3f} | {r['embedding_dtype']} | {r['head_compute_dtype']} "
            f"| {r['fit_seconds']:.0f} |"
        )
    for precision in PRECISIONS:
        accs = [r["accuracy"] for r in rows if r["precision"] == precision]
        if accs:
            lines.append(
                f"| **{precision}, mean** | {len(accs)} seeds | {statistics.mean(accs):.4f} "
                "| | | | |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", action="store_true", help="part (a): step time")
    parser.add_argument("--orl", action="store_true", help="part (b): ORL accuracy")
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--classes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--orl-backend", default="jax")
    parser.add_argument("--output", default=str(RESULTS / "mixed_precision.md"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, precision, *rest = args.child
        if kind == "step":
            row = step_child(int(precision), int(rest[0]))
        else:
            row = orl_child(precision, int(rest[0]), int(rest[1]))
        print(json.dumps(row))
        return

    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    sections = []
    if args.steps:
        rows = []
        for backend in args.backends:
            backend_rows = run_child(backend, "step", args.classes, args.repeats)
            if backend_rows:
                rows += backend_rows
                print(json.dumps(backend_rows), flush=True)
        sections.append(
            f"## (a) Step time, head + ExpFace loss, C = {args.classes:,}, B = {BATCH}, "
            f"D = {DIM}, median of {args.repeats}; the three precisions run in turn in one "
            f"process per backend\n\n{step_table(rows)}"
        )
    if args.orl:
        rows = []
        for seed in args.seeds:
            for precision in PRECISIONS:
                row = run_child(args.orl_backend, "orl", precision, seed, args.epochs)
                if row:
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        sections.append(
            f"## (b) Accuracy cost: ORL, {args.epochs} epochs, backend {args.orl_backend}\n\n"
            f"{orl_table(rows)}"
        )
    text = "\n\n".join(sections)
    print(text)
    load_after = " ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python benchmarks/mixed_precision.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    pathlib.Path(args.output + ".raw.md").write_text(
        f"Command: `{command}`\n\nLoad average before: {load_before}; after: {load_after}\n\n"
        f"{text}\n"
    )


if __name__ == "__main__":
    main()
