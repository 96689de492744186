"""Label-noise robustness of NormFace, CosFace, ArcFace, SphereFace and ExpFace (small scale).

Every run goes through `keras_expface.training.train`, the pipeline users run: the same
backbone (a 4-block quarter-width IResNet), optimiser (AdamW, cosine schedule), epochs and
seeds for every loss. Label noise (`flip`, `type1`, `type2`; see
`keras_expface.data.label_noise`) is injected at each rate; rate 0 is one clean run per
(dataset, loss, seed), shared by all kinds. Each run yields:

- the held-out verification accuracy (identities never seen in training, 10-fold protocol);
- the angle statistics of its training samples from the run's diagnostics: mean angle to the
  own (possibly wrong) class centre `theta_y` and to the nearest other centre `theta_o`, for
  clean and for noisy samples, and the ROC AUC of the diagnostics' noise score at telling the
  noisy samples from the clean ones.

Outputs, next to `--out` (a path without extension):

- `OUT.csv`: one row per run (raw numbers). A row is keyed by a hash of its full training
  configuration, so a rerun with the same settings skips the runs already done (resumable);
- `OUT.md`: accuracy mean +- std over seeds per cell, the angle table, the exact command,
  date, backend, versions, machine and wall time;
- `OUT.png`: accuracy against noise rate, one panel per (dataset, kind), one line per loss,
  error bars of one standard deviation over seeds.

Speed: the run folders live in a temporary folder; the per-run figures of `train` (curves,
ROC, angle scatter, contact sheet) are skipped unless `--figures` (they change no number);
on JAX a persistent compilation cache lets runs of the same shapes skip XLA compilation.

Usage:
    KERAS_BACKEND=jax python benchmarks/noise_robustness.py            # the full study (~1 h)
    KERAS_BACKEND=jax python benchmarks/noise_robustness.py --quick    # a few minutes

`--quick` covers: the built-in data only; CosFace, ArcFace, ExpFace m=0.7 and ExpFace m=0.5;
flip noise at rates 0 and 0.4; one seed; 6 epochs. It is a smoke test of the study, not a
result.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import hashlib
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np

#: Loss labels of the study: `name` or `name@margin` (ExpFace m = 0.7 is its default).
DEFAULT_LOSSES = ("normface", "cosface", "arcface", "sphereface", "expface", "expface@0.5")
QUICK_LOSSES = ("cosface", "arcface", "expface", "expface@0.5")
KINDS = ("flip", "type1", "type2")
DISPLAY = {
    "normface": "NormFace",
    "cosface": "CosFace",
    "arcface": "ArcFace",
    "sphereface": "SphereFace",
    "expface": "ExpFace",
    "combined": "Combined",
}
# Half the default nuisance: at `nuisance=1.0` this small network at 32 x 32 stays in the
# under-trained regime where the target logit never wins (held-out accuracy ~67% after 6
# epochs), and there every margin gives the same model: with s = 64 the softmax gradient
# s * (p - onehot) no longer depends on the margin once the target probability is ~0 (the
# quick study of 2026-12-03 gave angles equal to 0.05 degree for CosFace, ArcFace and both
# ExpFaces). At 0.5 the clean runs reach ~87-90% and the losses separate.
BUILTIN_DATA = "builtin:identities=80,images=10,nuisance=0.5"
TINY_BACKBONE = {"depth": [1, 1, 1, 1], "width_multiplier": 0.25}
CSV_COLUMNS = (
    "key",
    "dataset",
    "loss",
    "kind",
    "rate",
    "seed",
    "epochs",
    "accuracy",
    "accuracy_fold_std",
    "auc",
    "untrained_accuracy",
    "training_images",
    "noisy_images",
    "clean_target_angle",
    "clean_nearest_other_angle",
    "noisy_target_angle",
    "noisy_nearest_other_angle",
    "noise_score_roc_auc",
    "seconds",
)


def loss_label(spec: str) -> str:
    """`"expface@0.5"` -> `"ExpFace m=0.5"`; `"expface"` -> `"ExpFace m=0.7"` (its default)."""
    name, _, margin = spec.partition("@")
    display = DISPLAY.get(name, name)
    if name == "expface" and not margin:
        margin = "0.7"
    return f"{display} m={margin}" if margin else display


def loss_arguments(spec: str) -> tuple[str, dict]:
    """`"expface@0.5"` -> `("expface", {"margin": 0.5})`."""
    name, _, margin = spec.partition("@")
    return name, ({"margin": float(margin)} if margin else {})


def make_config(args, dataset: str, loss: str, kind: str, rate: float, seed: int):
    """The `TrainConfig` of one run of the study."""
    from keras_expface.training import TrainConfig

    name, loss_args = loss_arguments(loss)
    common = dict(
        image_size=(args.image_size, args.image_size),
        noise=f"{kind}:{rate:g}" if rate > 0 else "",
        loss=name,
        loss_args=loss_args,
        backbone="iresnet18",
        backbone_args=dict(TINY_BACKBONE),
        embedding_dim=args.embedding_dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        horizontal_flip=True,
        seed=seed,
        verbose=0,
    )
    if dataset == "builtin":
        return TrainConfig(data=args.builtin, held_out=0.25, **common)
    return TrainConfig(data=args.orl, color_mode="grayscale", held_out=10, **common)


def config_key(config) -> str:
    """A short hash of the full training configuration (the resume key of a run)."""
    return hashlib.sha1(config.to_json().encode()).hexdigest()[:16]


@contextlib.contextmanager
def figures_skipped(skip: bool):
    """Replaces the per-run figure writers of `train` by no-ops (numbers are unchanged)."""
    if not skip:
        yield
        return
    from keras_expface.diagnostics import diagnosis
    from keras_expface.evaluation import report as evaluation_report
    from keras_expface.training import report as training_report

    patches = [
        (diagnosis, "plot_angle_scatter", lambda *a, **k: None),
        (diagnosis, "plot_angle_histograms", lambda *a, **k: None),
        (diagnosis, "contact_sheet", lambda *a, **k: None),
        (evaluation_report, "plot_roc", lambda *a, **k: None),
        (training_report, "_plot_curves", lambda *a, **k: False),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, replacement in patches:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def enable_jax_cache(folder: str) -> None:
    """Turns on JAX's persistent compilation cache (runs of equal shapes skip compilation)."""
    import keras

    if keras.backend.backend() != "jax":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _mean(statistics: dict | None, field: str) -> float:
    value = ((statistics or {}).get(field) or {}).get("mean")
    return float("nan") if value is None else float(value)


def run_one(args, dataset, loss, kind, rate, seed, workdir) -> dict:
    """Trains one run and returns its CSV row."""
    from keras_expface.training import train

    config = make_config(args, dataset, loss, kind, rate, seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as out:
        result = train(config, out=out, overwrite=True)
    seconds = time.perf_counter() - start
    report = result.report
    summary = (report.get("angles") or {}).get("summary") or {}
    statistics = summary.get("angle_statistics", {})
    noisy = statistics.get(kind) if rate > 0 else None
    counts = (report.get("noise") or {}).get("counts") or {}
    ranking = summary.get("ranking_quality") or {}
    return {
        "key": config_key(config),
        "dataset": dataset,
        "loss": loss,
        "kind": kind if rate > 0 else "none",
        "rate": rate,
        "seed": seed,
        "epochs": config.epochs,
        "accuracy": report["verification"]["accuracy"],
        "accuracy_fold_std": report["verification"]["accuracy_std"],
        "auc": report["verification"]["auc"],
        "untrained_accuracy": report.get("untrained_verification", {}).get("accuracy"),
        "training_images": report["training_images"],
        "noisy_images": sum(v for k, v in counts.items() if k != "clean") if counts else 0,
        "clean_target_angle": _mean(
            statistics.get("clean") or statistics.get("all"), "target_angle"
        ),
        "clean_nearest_other_angle": _mean(
            statistics.get("clean") or statistics.get("all"), "nearest_other_angle"
        ),
        "noisy_target_angle": _mean(noisy, "target_angle"),
        "noisy_nearest_other_angle": _mean(noisy, "nearest_other_angle"),
        "noise_score_roc_auc": ranking.get("roc_auc") if rate > 0 else None,
        "seconds": round(seconds, 2),
    }


def read_rows(path: str) -> list[dict]:
    """The rows of the raw results CSV (numbers parsed), or `[]`."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            for field in CSV_COLUMNS[4:]:
                text = row.get(field, "")
                row[field] = float(text) if text not in ("", "None", "nan") else float("nan")
            rows.append(row)
    return rows


def append_row(path: str, row: dict) -> None:
    """Appends one run to the raw results CSV (writing the header first if new)."""
    new = not os.path.exists(path)
    with open(path, "a", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in CSV_COLUMNS})


def planned_runs(args) -> list[tuple]:
    """`(dataset, loss, kind, rate, seed)` of every run; rate 0 once per (dataset, loss, seed)."""
    runs = []
    # Seeds outermost: a study stopped early holds whole seeds of every dataset.
    for seed in range(args.seeds):
        for dataset in args.datasets:
            for loss in args.losses:
                if 0 in args.rates:
                    runs.append((dataset, loss, "none", 0.0, seed))
                for kind in args.kinds:
                    for rate in args.rates:
                        if rate > 0:
                            runs.append((dataset, loss, kind, rate, seed))
    return runs


def _cells(rows, dataset, loss, kind, rate) -> list[dict]:
    if rate == 0:
        return [r for r in rows if (r["dataset"], r["loss"], r["rate"]) == (dataset, loss, 0.0)]
    return [
        r
        for r in rows
        if (r["dataset"], r["loss"], r["kind"], r["rate"]) == (dataset, loss, kind, rate)
    ]


def _mean_std(values) -> tuple[float, float, int]:
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(values):
        return float("nan"), float("nan"), 0
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)


def accuracy_table(rows, dataset, losses, kinds, rates) -> list[str]:
    """Markdown rows: accuracy mean +- std (over seeds) per loss and noise cell; best bold."""
    columns = [("none", 0.0)] if 0 in rates else []
    columns += [(kind, rate) for kind in kinds for rate in rates if rate > 0]
    header = ["loss"] + ["clean" if r == 0 else f"{k} {r:.0%}" for k, r in columns]
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" + "---:|" * len(columns),
    ]
    stats = {
        (loss, col): _mean_std(r["accuracy"] for r in _cells(rows, dataset, loss, *col))
        for loss in losses
        for col in columns
    }
    best = {
        col: max((stats[(loss, col)][0] for loss in losses if stats[(loss, col)][2]), default=None)
        for col in columns
    }
    for loss in losses:
        cells = []
        for col in columns:
            mean, std, n = stats[(loss, col)]
            if not n:
                cells.append("-")
                continue
            text = f"{100 * mean:.1f} ± {100 * std:.1f}" + (f" (n={n})" if n < 2 else "")
            cells.append(f"**{text}**" if best[col] is not None and mean == best[col] else text)
        table.append(f"| {loss_label(loss)} | " + " | ".join(cells) + " |")
    return table


def paired_table(rows, dataset, losses, reference="expface") -> list[str]:
    """Markdown rows: each loss against `reference`, paired by (noise cell, seed).

    Runs of one seed share the split, the injected noise, the batch order and the
    initialisation, so the difference of two losses in the same (cell, seed) removes most of
    the seed-to-seed spread. Per loss: the mean accuracy over every run, the mean paired
    difference to the reference with its standard error, and how many pairs it wins / loses.
    """
    def key(r):
        return (r["kind"], r["rate"], r["seed"])

    by_loss = {
        loss: {key(r): r["accuracy"] for r in rows if (r["dataset"], r["loss"]) == (dataset, loss)}
        for loss in losses
    }
    reference_runs = by_loss.get(reference, {})
    table = [
        f"| loss | mean accuracy, all runs | minus {loss_label(reference)} (paired) "
        "| pairs won / lost / tied |",
        "|---|---:|---:|---:|",
    ]
    for loss in losses:
        runs = by_loss[loss]
        if not runs:
            continue
        mean = 100 * float(np.mean(list(runs.values())))
        if loss == reference:
            table.append(f"| {loss_label(loss)} | {mean:.1f} | (reference) | - |")
            continue
        shared = sorted(set(runs) & set(reference_runs))
        differences = 100 * np.array([runs[k] - reference_runs[k] for k in shared])
        if not len(differences):
            table.append(f"| {loss_label(loss)} | {mean:.1f} | - | - |")
            continue
        error = differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else 0
        won, lost = int(np.sum(differences > 0)), int(np.sum(differences < 0))
        table.append(
            f"| {loss_label(loss)} | {mean:.1f} | {differences.mean():+.2f} ± {error:.2f} "
            f"| {won} / {lost} / {len(differences) - won - lost} |"
        )
    return table


def angle_table(rows, dataset, losses, kinds, rates) -> list[str]:
    """Markdown rows: mean angles of clean and noisy samples per loss and noise cell."""
    table = [
        "| noise | loss | θ_y clean | θ_o clean | θ_y noisy | θ_o noisy | noise-score AUC |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind in kinds:
        for rate in rates:
            if rate == 0:
                continue
            for loss in losses:
                cell = _cells(rows, dataset, loss, kind, rate)
                if not cell:
                    continue
                values = [
                    _mean_std(r[field] for r in cell)[0]
                    for field in (
                        "clean_target_angle",
                        "clean_nearest_other_angle",
                        "noisy_target_angle",
                        "noisy_nearest_other_angle",
                    )
                ]
                auc = _mean_std(r["noise_score_roc_auc"] for r in cell)[0]
                table.append(
                    f"| {kind} {rate:.0%} | {loss_label(loss)} | "
                    + " | ".join(f"{v:.1f}" for v in values)
                    + f" | {auc:.3f} |"
                )
    return table


def plot(rows, path, datasets, losses, kinds, rates) -> None:
    """Accuracy against noise rate: one panel per (dataset, kind), one line per loss."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(kinds), 3.4 * len(datasets)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(datasets), len(kinds), squeeze=False, sharey="row")
    offsets = np.linspace(-0.008, 0.008, len(losses)) if len(losses) > 1 else [0.0]
    for i, dataset in enumerate(datasets):
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            for offset, loss in zip(offsets, losses, strict=True):
                xs, means, stds = [], [], []
                for rate in rates:
                    mean, std, n = _mean_std(
                        r["accuracy"] for r in _cells(rows, dataset, loss, kind, rate)
                    )
                    if n:
                        xs.append(rate + offset)
                        means.append(100 * mean)
                        stds.append(100 * std)
                if xs:
                    style = "-" if loss.startswith("expface") else "--"
                    ax.errorbar(
                        xs, means, yerr=stds, marker="o", ms=3, capsize=2, ls=style,
                        label=loss_label(loss),
                    )  # fmt: skip
            ax.set_title(f"{dataset}: {kind} noise")
            ax.set_xlabel("noise rate")
            ax.set_xticks(sorted(rates))
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("held-out verification accuracy (%)")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)


def environment() -> list[str]:
    """Lines naming the backend, versions and machine."""
    import keras

    backend = keras.backend.backend()
    versions = [f"keras {keras.__version__}", f"numpy {np.__version__}"]
    module = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}[backend]
    versions.append(f"{module} {__import__(module).__version__}")
    return [
        f"- Backend: `{backend}`; {', '.join(versions)}; Python {platform.python_version()}.",
        f"- Machine: {platform.platform()}, {os.cpu_count()} CPU cores, shared with other"
        " jobs (timings are indicative).",
    ]


def write_markdown(args, rows, path, wall_seconds, argv, new_runs: int) -> None:
    """Writes the results markdown (tables, command, environment)."""
    command = "KERAS_BACKEND={} python benchmarks/noise_robustness.py {}".format(
        os.environ.get("KERAS_BACKEND", "<default>"), shlex.join(argv)
    ).rstrip()
    run_seconds = sum(r["seconds"] for r in rows if np.isfinite(r["seconds"]))
    lines = [
        "# Label-noise robustness of margin losses" + (" (quick)" if args.quick else ""),
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        *environment(),
        f"- Wall time of this invocation: {wall_seconds / 60:.1f} min for {new_runs} new runs; "
        f"sum over the {len(rows)} runs in the raw file: {run_seconds / 60:.1f} min.",
        f"- Raw numbers: `{os.path.basename(args.out)}.csv`; plot: "
        f"`{os.path.basename(args.out)}.png`.",
        "",
        "Setup (every loss identical except the loss): `keras_expface.training.train`, backbone"
        " IResNet 4 blocks x 1 at width x0.25, embedding "
        f"{args.embedding_dim}, input {args.image_size}x{args.image_size}, AdamW lr 1e-3 with "
        f"cosine decay, batch {args.batch_size}, {args.epochs} epochs, horizontal flips; seeds "
        f"0..{args.seeds - 1} (the seed fixes the split, noise, order and initialisation). "
        "Losses at their library defaults (s = 64, SphereFace s = 32; CosFace m = 0.35, "
        "ArcFace m = 0.5, SphereFace m = 1.7, ExpFace m = 0.7) unless a margin is named.",
        "",
        "Datasets: `builtin` = "
        f"`{args.builtin}` (generated faces), 25% of the identities held out; `orl` = ORL faces "
        "(40 x 10 grey images), 10 identities held out. Accuracy: held-out verification "
        "(identities never trained on), 10-fold protocol, final epoch; mean ± std over seeds "
        "(sample std), in %. Rate 0 (clean) is one run per loss and seed, shared by all kinds."
        " Noise rates are fractions of the training images (`keras_expface.data.label_noise`).",
        "",
    ]
    for dataset in args.datasets:
        if not any(r["dataset"] == dataset for r in rows):
            continue
        untrained = _mean_std(r["untrained_accuracy"] for r in rows if r["dataset"] == dataset)
        lines += [
            f"## {dataset}: held-out verification accuracy (%)",
            "",
            *accuracy_table(rows, dataset, args.losses, args.kinds, args.rates),
            "",
            f"Untrained network (same initialisations): {100 * untrained[0]:.1f} %.",
            "",
            f"## {dataset}: every loss against ExpFace m=0.7, paired by noise cell and seed",
            "",
            "Difference in accuracy points, mean ± standard error over the (cell, seed) pairs"
            " (one pair = the two losses trained on the same split, noise, order and "
            "initialisation).",
            "",
            *paired_table(rows, dataset, args.losses),
            "",
            f"## {dataset}: angles of the training samples (degrees, mean over seeds)",
            "",
            "θ_y: angle to the centre of the sample's (possibly wrong) label; θ_o: to the "
            "nearest other centre. Noise-score AUC: ROC AUC of the diagnostics' score at telling"
            " the noisy samples from the clean ones (0.5 = chance).",
            "",
            *angle_table(rows, dataset, args.losses, args.kinds, args.rates),
            "",
        ]
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(lines))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-minute smoke run (see top)")
    parser.add_argument("--datasets", nargs="+", choices=("builtin", "orl"))
    parser.add_argument("--losses", nargs="+", help="name or name@margin, e.g. expface@0.5")
    parser.add_argument("--kinds", nargs="+", choices=KINDS)
    parser.add_argument("--rates", nargs="+", type=float)
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 per cell")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--builtin", default=BUILTIN_DATA, help="built-in data spec")
    parser.add_argument(
        "--orl",
        default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "orl_faces"),
        help="ORL faces folder (skipped with a message if absent)",
    )
    parser.add_argument("--out", help="output path without extension")
    parser.add_argument("--figures", action="store_true", help="keep the per-run figures")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "datasets": ["builtin"] if quick else ["builtin", "orl"],
        "losses": list(QUICK_LOSSES if quick else DEFAULT_LOSSES),
        "kinds": ["flip"] if quick else list(KINDS),
        "rates": [0.0, 0.4] if quick else [0.0, 0.2, 0.4],
        "seeds": 1 if quick else 3,
        "epochs": 6 if quick else 8,
        "out": os.path.join(
            os.path.dirname(__file__),
            "results",
            "noise_robustness_quick" if quick else "noise_robustness",
        ),
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.orl = os.path.normpath(args.orl)
    args.rates = sorted({float(r) for r in args.rates})
    if any(not 0 <= r < 1 for r in args.rates):
        parser.error("--rates must lie in [0, 1)")
    from keras_expface.training import LOSSES

    for loss in args.losses:
        name, _, margin = loss.partition("@")
        if name not in LOSSES:
            parser.error(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
        try:
            float(margin or 0)
        except ValueError:
            parser.error(f"bad margin in {loss!r}; expected name@number")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if "orl" in args.datasets and not os.path.isdir(args.orl):
        print(f"Skipping ORL: no folder {args.orl!r} (pass --orl PATH).", flush=True)
        args.datasets = [d for d in args.datasets if d != "orl"]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    raw = args.out + ".csv"
    runs = planned_runs(args)
    done = {row["key"] for row in read_rows(raw)}
    todo = []
    for run in runs:
        key = config_key(make_config(args, *run))
        if key not in done:
            todo.append(run)
    print(f"{len(runs)} runs planned, {len(runs) - len(todo)} already in {raw}.", flush=True)
    if args.dry_run:
        for run in todo:
            print(*run)
        return 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="noise_robustness_") as workdir:
        enable_jax_cache(os.path.join(workdir, "jax_cache"))
        with figures_skipped(not args.figures):
            for index, run in enumerate(todo, 1):
                row = run_one(args, *run, workdir)
                append_row(raw, row)
                elapsed = time.perf_counter() - start
                print(
                    f"[{index}/{len(todo)}] {run[0]} {loss_label(run[1])} {run[2]} {run[3]:g} "
                    f"seed {run[4]}: accuracy {row['accuracy']:.4f} ({row['seconds']:.0f} s; "
                    f"{elapsed / 60:.1f} min, ~{elapsed / index * (len(todo) - index) / 60:.0f}"
                    " min left)",
                    flush=True,
                )
    wanted = {config_key(make_config(args, *run)) for run in runs}
    rows = [row for row in read_rows(raw) if row["key"] in wanted]
    wall = time.perf_counter() - start
    write_markdown(args, rows, args.out + ".md", wall, argv, len(todo))
    plot(rows, args.out + ".png", args.datasets, args.losses, args.kinds, args.rates)
    print(f"Wrote {args.out}.md, .csv and .png ({wall / 60:.1f} min).", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
