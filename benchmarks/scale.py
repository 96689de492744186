"""Scale: time and peak memory of one head + loss training step as the class count grows.

For B=256 features of D=512 and C classes, one training step is: forward (normalise
features and centres, cosines, margin, softmax cross-entropy), backward (gradients w.r.t.
the features and the centres) and a plain SGD update of both. The features are a trainable
`(B, D)` weight (no backbone), so the step is the head's cost alone. Variants:

- `full ExpFace`: `CosineHead(C)` + `ExpFaceLoss` through `model.train_on_batch` (Keras'
  own train step: jax.jit on JAX, tf.function on TensorFlow, eager on torch);
- `full NormFace`: the same with `NormFaceLoss` (no margin): `ExpFace / NormFace` is the
  margin's cost;
- `PFC 0.1`, `PFC 0.3`: `PartialFCModel` + `PartialFCHead(C, sample_rate)` + `ExpFaceLoss`;
- `plain PyTorch ExpFace` / `plain PyTorch NormFace`: the same step written directly in
  PyTorch (nn.Parameter centres, F.normalize, gather the target cosine, exponential margin
  straight-through, scatter back, F.cross_entropy, torch.optim.SGD), no Keras.

Each (backend, C, variant) runs in its own subprocess (KERAS_BACKEND set), so that the peak
resident memory of that process (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, read in the
child) belongs to that variant alone; it includes the framework's own footprint, reported
separately as the RSS before the model is built. CPU torch and JAX expose no allocator
peak statistics, so RSS is the common measure. Time: median over `--repeats` steps after
warm-up steps (one step at C >= 1M, and at most 2 repeats there).

Usage:
    python benchmarks/scale.py --classes 10000 100000 1000000 --backends jax torch tensorflow \
        --repeats 5
    python benchmarks/scale.py --quick      # C = 10k only, 2 repeats
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BATCH, DIM = 256, 512
SCALE, MARGIN = 64.0, 0.7
RESULTS = pathlib.Path(__file__).resolve().parent / "results"
KERAS_VARIANTS = ("full ExpFace", "full NormFace", "PFC 0.1", "PFC 0.3")
PLAIN_VARIANTS = ("plain PyTorch ExpFace", "plain PyTorch NormFace")
BACKEND_NAMES = {"jax": "JAX", "torch": "PyTorch (Keras)", "tensorflow": "TensorFlow"}


def rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _trainable_features_layer():
    """A layer returning its own `(B, D)` weight: features with a gradient and an update."""
    import keras

    class TrainableFeatures(keras.layers.Layer):
        def build(self, input_shape):
            self.features = self.add_weight(
                name="features", shape=(BATCH, DIM), initializer="random_normal"
            )

        def call(self, inputs):
            return self.features + 0.0 * inputs[:, :1]

        def compute_output_shape(self, input_shape):
            return (input_shape[0], DIM)

    return TrainableFeatures()


def keras_step(variant: str, num_classes: int):
    """Returns `step()` running one Keras train step of the variant."""
    import keras
    import numpy as np

    import keras_expface as kx

    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,), batch_size=BATCH)
    features = _trainable_features_layer()(inputs)
    optimizer = keras.optimizers.SGD(0.1)
    if variant.startswith("PFC"):
        sample_rate = float(variant.split()[1])
        embedder = keras.Model(inputs, features)
        model = kx.PartialFCModel(
            embedder, kx.PartialFCHead(num_classes, sample_rate=sample_rate, seed=0)
        )
        loss = kx.ExpFaceLoss(scale=SCALE, margin=MARGIN)
    else:
        model = keras.Model(inputs, kx.CosineHead(num_classes)(features))
        if variant == "full ExpFace":
            loss = kx.ExpFaceLoss(scale=SCALE, margin=MARGIN)
        else:
            loss = kx.NormFaceLoss(scale=SCALE)
    model.compile(optimizer=optimizer, loss=loss)
    x = np.zeros((BATCH, 1), "float32")
    y = np.random.default_rng(0).integers(0, num_classes, size=BATCH).astype("int32")

    def step():
        model.train_on_batch(x, y)

    return step


def plain_torch_step(variant: str, num_classes: int, centers=None, features=None, labels=None):
    """Returns `step()`: the same head + loss + SGD step written directly in PyTorch.

    `centers` `(D, C)` and `features` `(B, D)` are new parameters unless given (e.g. the
    torch Parameters behind a Keras model's variables, to share them).
    """
    import math

    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    if centers is None:
        centers = torch.nn.Parameter(0.01 * torch.randn(DIM, num_classes))
    if features is None:
        features = torch.nn.Parameter(0.05 * torch.randn(BATCH, DIM))
    if labels is None:
        labels = torch.randint(0, num_classes, (BATCH,))
    labels = torch.as_tensor(labels, dtype=torch.int64)
    optimizer = torch.optim.SGD([centers, features], lr=0.1)
    with_margin = variant == "plain PyTorch ExpFace"
    epsilon = 1e-7

    def step():
        optimizer.zero_grad(set_to_none=True)
        cosine = (F.normalize(features, dim=1) @ F.normalize(centers, dim=0)).clamp(-1, 1)
        if with_margin:
            target = cosine.gather(1, labels[:, None])
            theta = torch.arccos(target.clamp(-1 + epsilon, 1 - epsilon))
            margined = torch.cos(math.pi * (theta / math.pi) ** MARGIN)
            margined = target + (margined - target).detach()  # straight-through
            cosine = cosine.scatter(1, labels[:, None], margined)
        loss = F.cross_entropy(SCALE * cosine, labels)
        loss.backward()
        optimizer.step()

    return step


def child(backend: str, variant: str, num_classes: int, repeats: int, warmup: int) -> dict:
    """Runs in the subprocess: builds the variant, times it, reports peak RSS."""
    if variant.startswith("plain"):
        import torch

        threads = torch.get_num_threads()
        base_rss = rss_mib()
        step = plain_torch_step(variant, num_classes)
    else:
        import keras

        base_rss = rss_mib()
        step = keras_step(variant, num_classes)
        threads = None
        if keras.backend.backend() == "torch":
            import torch

            threads = torch.get_num_threads()
    start = time.perf_counter()
    step()  # first step: builds, traces and compiles
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        "backend": backend,
        "variant": variant,
        "classes": num_classes,
        "step_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "first_step_s": first,
        "repeats": repeats,
        "peak_rss_mib": rss_mib(),
        "base_rss_mib": base_rss,
        "torch_threads": threads,
    }


def paired_child(backend: str, num_classes: int, repeats: int, warmup: int) -> dict:
    """Round-robin timing of steps that share the same weights: the margin's cost.

    `full ExpFace` and `full NormFace` are two Keras models over one `CosineHead` and one
    features layer; on torch, `plain PyTorch ExpFace` / `NormFace` also update those same
    two parameters. Each repeat runs every step once, in turn, so load changes on a shared
    machine hit all of them alike.
    """
    import keras
    import numpy as np

    import keras_expface as kx

    features_layer = _trainable_features_layer()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,), batch_size=BATCH)
    head = kx.CosineHead(num_classes)
    cosines = head(features_layer(inputs))
    x = np.zeros((BATCH, 1), "float32")
    y = np.random.default_rng(0).integers(0, num_classes, size=BATCH).astype("int32")
    steps = {}
    for name, loss in (
        ("full ExpFace", kx.ExpFaceLoss(scale=SCALE, margin=MARGIN)),
        ("full NormFace", kx.NormFaceLoss(scale=SCALE)),
    ):
        model = keras.Model(inputs, cosines)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        steps[name] = functools.partial(model.train_on_batch, x, y)
    if keras.backend.backend() == "torch":
        for variant in PLAIN_VARIANTS:
            steps[variant] = plain_torch_step(
                variant,
                num_classes,
                centers=head.class_centers.value,
                features=features_layer.features.value,
                labels=y,
            )
    times = {name: [] for name in steps}
    for _ in range(warmup):
        for step in steps.values():
            step()
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {
        "backend": backend,
        "classes": num_classes,
        "repeats": repeats,
        "step_ms": {name: 1e3 * statistics.median(t) for name, t in times.items()},
        "peak_rss_mib": rss_mib(),
    }


def run_guarded(command: list[str], backend: str, max_rss_gib: float):
    """Runs a child; kills it when its resident memory passes `max_rss_gib`.

    Returns `(parsed JSON of its last stdout line, None)`, or `(None, reason)`.
    """
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        killed = False
        while process.poll() is None:
            try:
                status = pathlib.Path(f"/proc/{process.pid}/status").read_text()
                rss_kib = int(status.split("VmRSS:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                rss_kib = 0
            if rss_kib > max_rss_gib * 2**20:
                process.kill()
                killed = True
            time.sleep(0.5)
        if killed:
            return None, f"stopped: resident memory passed the {max_rss_gib:g} GiB cap"
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            return None, f"failed (exit {process.returncode}): {err.read()[-1500:]}"
        return json.loads(out.read().strip().splitlines()[-1]), None


def run_child(backend, variant, num_classes, repeats, warmup, max_rss_gib):
    keras_backend = "torch" if backend == "plain" else backend
    command = [sys.executable, __file__, "--child", backend, variant]
    command += [str(num_classes), str(repeats), str(warmup)]
    row, reason = run_guarded(command, keras_backend, max_rss_gib)
    if row is None:
        print(f"{backend} {variant} C={num_classes}: {reason}", flush=True)
        row = {"backend": backend, "variant": variant, "classes": num_classes}
        row.update(step_ms=None, peak_rss_mib=None, base_rss_mib=None, note=reason[:200])
    return row


def run_paired_child(backend, num_classes, repeats, warmup, max_rss_gib):
    command = [sys.executable, __file__, "--paired-child", backend]
    command += [str(num_classes), str(repeats), str(warmup)]
    row, reason = run_guarded(command, backend, max_rss_gib)
    if row is None:
        print(f"paired {backend} C={num_classes}: {reason}", flush=True)
    return row


def versions() -> str:
    import importlib.metadata as metadata

    names = ("keras", "jax", "jaxlib", "tensorflow-cpu", "torch", "numpy")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(pathlib.Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}){mem}, Python {platform.python_version()}"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def markdown_tables(rows: list[dict]) -> str:
    lines = [
        "| backend | C | variant | step ms (median) | vs full ExpFace | peak RSS MiB "
        "| RSS before model MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    full = {(r["backend"], r["classes"]): r for r in rows if r["variant"] == "full ExpFace"}
    for r in rows:
        base = full.get((r["backend"], r["classes"]))
        if r["backend"] == "plain":
            base = full.get(("torch", r["classes"]))
        name = BACKEND_NAMES.get(r["backend"], "plain PyTorch")
        if r["step_ms"] is None:
            lines.append(f"| {name} | {r['classes']:,} | {r['variant']} | {r['note']} | | | |")
            continue
        ratio = f"{r['step_ms'] / base['step_ms']:.3f}" if base and base["step_ms"] else "-"
        lines.append(
            f"| {name} | {r['classes']:,} | {r['variant']} | {r['step_ms']:.1f} | {ratio} "
            f"| {r['peak_rss_mib']:.0f} | {r['base_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def paired_table(paired: list[dict]) -> str:
    lines = [
        "| backend | C | full ExpFace ms | full NormFace ms | ExpFace / NormFace "
        "| plain PyTorch ExpFace ms | plain PyTorch NormFace ms | Keras-torch / plain (ExpFace) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in paired:
        t = r["step_ms"]
        plain = "plain PyTorch ExpFace" in t
        cells = [
            BACKEND_NAMES[r["backend"]],
            f"{r['classes']:,}",
            f"{t['full ExpFace']:.1f}",
            f"{t['full NormFace']:.1f}",
            f"{t['full ExpFace'] / t['full NormFace']:.3f}",
            f"{t['plain PyTorch ExpFace']:.1f}" if plain else "-",
            f"{t['plain PyTorch NormFace']:.1f}" if plain else "-",
            f"{t['full ExpFace'] / t['plain PyTorch ExpFace']:.3f}" if plain else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals_table(rows: list[dict], paired: list[dict]) -> str:
    index = {(r["backend"], r["classes"], r["variant"]): r for r in rows}
    lines = [
        "| goal | backend | C | measured | met |",
        "|---|---|---|---|---|",
    ]
    for r in paired:
        t, c = r["step_ms"], r["classes"]
        ratio = t["full ExpFace"] / t["full NormFace"]
        lines.append(
            f"| margin <= +3% (ExpFace / NormFace, paired) | {BACKEND_NAMES[r['backend']]} "
            f"| {c:,} | {ratio:.3f} | {'yes' if ratio <= 1.03 else 'no'} |"
        )
        if "plain PyTorch ExpFace" in t:
            ratio = t["plain PyTorch ExpFace"] / t["plain PyTorch NormFace"]
            lines.append(
                f"| (reference) margin in plain PyTorch | plain PyTorch | {c:,} | {ratio:.3f} "
                f"| {'yes' if ratio <= 1.03 else 'no'} |"
            )
            ratio = t["full ExpFace"] / t["plain PyTorch ExpFace"]
            lines.append(
                f"| torch backend within 5% of plain PyTorch (paired) | PyTorch | {c:,} "
                f"| {ratio:.3f} | {'yes' if ratio <= 1.05 else 'no'} |"
            )
    backends = sorted({r["backend"] for r in rows} - {"plain"})
    classes = sorted({r["classes"] for r in rows})
    for backend in backends:
        for c in classes:
            exp, pfc = index.get((backend, c, "full ExpFace")), index.get((backend, c, "PFC 0.1"))
            if exp and pfc and exp["step_ms"] and pfc["step_ms"]:
                speedup = exp["step_ms"] / pfc["step_ms"]
                goal = "yes" if speedup >= 5 else "no"
                lines.append(
                    f"| PFC 0.1 >= 5x faster than full (goal at 1M) | {BACKEND_NAMES[backend]} "
                    f"| {c:,} | {speedup:.2f}x | {goal if c >= 1_000_000 else '(' + goal + ')'} |"
                )
    return "\n".join(lines)


def plot(rows: list[dict], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = sorted({(r["backend"], r["variant"]) for r in rows})
    for backend, variant in series:
        points = sorted(
            (r["classes"], r["step_ms"], r["peak_rss_mib"])
            for r in rows
            if (r["backend"], r["variant"]) == (backend, variant) and r["step_ms"] is not None
        )
        if not points:
            continue
        label = variant if backend == "plain" else f"{BACKEND_NAMES[backend]}: {variant}"
        color = {"jax": "C0", "torch": "C3", "tensorflow": "C2", "plain": "C7"}[backend]
        style = {"full ExpFace": "-", "full NormFace": ":", "PFC 0.1": "--", "PFC 0.3": "-."}
        style.update({PLAIN_VARIANTS[0]: "-", PLAIN_VARIANTS[1]: ":"})
        marker = {"PFC 0.1": "s", "PFC 0.3": "^"}.get(variant, "o")
        kwargs = {"color": color, "linestyle": style[variant], "marker": marker, "label": label}
        cs = [p[0] for p in points]
        ax_time.plot(cs, [p[1] for p in points], **kwargs)
        ax_mem.plot(cs, [p[2] / 1024 for p in points], **kwargs)
    for ax, ylabel in ((ax_time, "step time (ms)"), (ax_mem, "peak RSS of the process (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("classes C")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_time.set_title(f"head + loss train step, B={BATCH}, D={DIM}")
    ax_mem.set_title("peak memory")
    ax_mem.legend(fontsize=6, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--backends", nargs="+", default=["jax", "torch", "tensorflow"], help="Keras backends"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-plain", action="store_true", help="skip the plain PyTorch rows")
    parser.add_argument("--no-paired", action="store_true", help="skip the paired timings")
    parser.add_argument(
        "--paired-only", action="store_true", help="only the paired timings (see --merge)"
    )
    parser.add_argument(
        "--max-rss-gib", type=float, default=10.0, help="stop a child using more memory"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=KERAS_VARIANTS + PLAIN_VARIANTS,
        help="only these per-variant rows (all by default), e.g. 'full ExpFace' 'PFC 0.1'",
    )
    parser.add_argument("--merge", nargs="+", help="JSON files of earlier runs to include")
    parser.add_argument("--quick", action="store_true", help="C = 10k, 2 repeats, no files")
    parser.add_argument("--output", default=str(RESULTS / "scale.md"))
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--paired-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        backend, variant, classes, repeats, warmup = args.child
        print(json.dumps(child(backend, variant, int(classes), int(repeats), int(warmup))))
        return
    if args.paired_child:
        backend, classes, repeats, warmup = args.paired_child
        print(json.dumps(paired_child(backend, int(classes), int(repeats), int(warmup))))
        return
    if args.quick:
        args.classes, args.repeats, args.warmup = [10_000], 2, 1

    load_before = load_average()
    started = time.time()
    print(f"B={BATCH} D={DIM}; {machine()}; load average before: {load_before}", flush=True)
    rows, paired, commands, notes = [], [], [], []
    for path in args.merge or []:
        previous = json.loads(pathlib.Path(path).read_text())
        if isinstance(previous, list):  # unpaired rows only (first version of this script)
            previous = {"rows": previous, "paired": [], "commands": [], "notes": []}
        rows += previous["rows"]
        paired += previous["paired"]
        commands += previous["commands"]
        notes += previous["notes"]
    for num_classes in [] if args.paired_only else args.classes:
        huge = num_classes >= 1_000_000
        repeats = min(args.repeats, 2) if huge else args.repeats
        warmup = 1 if huge else args.warmup
        jobs = [(b, v) for b in args.backends for v in KERAS_VARIANTS]
        if not args.no_plain:
            jobs += [("plain", v) for v in PLAIN_VARIANTS]
        if args.variants:
            jobs = [(b, v) for b, v in jobs if v in args.variants]
        for backend, variant in jobs:
            row = run_child(backend, variant, num_classes, repeats, warmup, args.max_rss_gib)
            row["load_after"] = load_average()
            rows.append(row)
            if row["step_ms"] is None:
                continue
            print(
                f"{backend:10s} C={num_classes:>9,} {variant:24s} {row['step_ms']:9.1f} ms "
                f"(first {row['first_step_s']:.1f} s) peak {row['peak_rss_mib']:.0f} MiB "
                f"load {row['load_after']}",
                flush=True,
            )
    for num_classes in [] if args.no_paired else args.classes:
        huge = num_classes >= 1_000_000
        repeats = min(args.repeats, 2) if huge else args.repeats
        warmup = 1 if huge else args.warmup
        for backend in args.backends:
            row = run_paired_child(backend, num_classes, repeats, warmup, args.max_rss_gib)
            if row is None:
                continue
            row["load_after"] = load_average()
            paired.append(row)
            print(json.dumps(row), flush=True)
    minutes = (time.time() - started) / 60
    table, goals = markdown_tables(rows), goals_table(rows, paired)
    paired_md = paired_table(paired)
    print("\n" + table + "\n\n" + paired_md + "\n\n" + goals)
    if args.quick:
        return
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    commands.append(
        "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    )
    notes.append(
        f"`{commands[-1]}`: load average before {load_before}, after {load_average()}, "
        f"{minutes:.0f} min"
    )
    output.with_suffix(".json").write_text(
        json.dumps({"rows": rows, "paired": paired, "commands": commands, "notes": notes}, indent=1)
    )
    plot(rows, output.with_suffix(".png"))
    command_lines = "\n".join(f"  - {note}" for note in notes)
    output.write_text(
        "# Scale: head + loss training step vs number of classes\n\n"
        "Generated by `benchmarks/scale.py` (its docstring defines the step and the "
        "variants).\n\n"
        f"- Commands (load average 1/5/15 min before and after; per row in the JSON file):\n"
        f"{command_lines}\n"
        f"- Software: {versions()}\n"
        f"- Machine: {machine()}\n"
        f"- B = {BATCH}, D = {DIM}, s = {SCALE}, ExpFace m = {MARGIN}, SGD lr 0.1. Time: "
        f"median of {args.repeats} steps ({min(args.repeats, 2)} at C >= 1M) after warm-up. "
        "Peak RSS: `ru_maxrss` of the subprocess that ran the variant (includes the "
        "framework's footprint, the column 'RSS before model'). A child whose resident "
        f"memory passes {args.max_rss_gib:g} GiB is stopped (shared machine).\n\n"
        "## Per variant, one subprocess each (time and memory)\n\n"
        f"{table}\n\n"
        "## Paired: the steps share one set of weights and run in turn in one process\n\n"
        f"{paired_md}\n\n## Goals\n\n{goals}\n\n![time and memory vs C](scale.png)\n"
    )
    print(f"wrote {output}, {output.with_suffix('.png')}, {output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
