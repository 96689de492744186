"""The `keras-expface` command: a small dispatcher over subcommands.

A subcommand is a function `add_<name>_command(subparsers)` that adds its parser and sets
`handler`, a function taking the parsed arguments and returning the exit status; list it in
`COMMANDS`. Handlers import what they need (Keras, the package) themselves, so
`keras-expface --help` stays fast.

```
keras-expface train --out runs/expface                 # built-in data, ExpFace
keras-expface train --data faces/ --loss arcface --epochs 20 --out runs/arcface
keras-expface diagnose runs/expface                    # noisy-sample suspects
keras-expface evaluate run/model.keras lfw.bin cfp_fp.bin agedb_30.bin --roc roc.png
```
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence

#: `keras-expface train --loss` names (keras_expface.training.LOSSES; a test keeps them equal).
LOSS_NAMES = ("expface", "arcface", "cosface", "sphereface", "combined", "normface")
# A failure a user can act on: printed as one line, exit status 1.
_USER_ERRORS = (ValueError, ImportError, OSError)  # OSError covers FileNotFoundError


def _load_model(path: str):
    """Loads a `.keras` model with every keras-expface custom object registered."""
    import keras

    import keras_expface  # noqa: F401 - registers the layers and losses

    # Backbones register themselves when their package is imported (absent in early versions).
    try:
        importlib.import_module("keras_expface.models")
    except ModuleNotFoundError as error:
        if error.name != "keras_expface.models":
            raise
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path!r} does not exist.")
    return keras.saving.load_model(path, compile=False)


def _input_image_shape(model) -> tuple[tuple[int, int] | None, str | None]:
    """`(height, width)` and colour mode the model takes, where its input shape fixes them."""
    import keras

    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # a subclassed model: no declared input
        return None, None
    if not isinstance(shape, tuple) or len(shape) != 4:
        return None, None
    if keras.config.image_data_format() == "channels_first":
        channels, height, width = shape[1:]
    else:
        height, width, channels = shape[1:]
    size = (height, width) if height and width else None
    mode = {1: "grayscale", 3: "rgb"}.get(channels)
    return size, mode


def _run_evaluate(args: argparse.Namespace) -> int:
    from keras_expface import evaluation

    model = evaluation.embedding_model_from(_load_model(args.model), args.embedding_layer)
    model_size, model_mode = _input_image_shape(model)
    image_size = tuple(args.image_size) if args.image_size else model_size
    color_mode = args.color_mode or model_mode or "rgb"
    results = []
    for source in args.pairs:
        pairs = evaluation.load_pairs(
            source, image_size, color_mode, image_root=args.image_root, seed=args.seed
        )
        print(f"{pairs.name}: {pairs.num_pairs} pairs, {len(pairs.images)} images", file=sys.stderr)
        results.append(
            evaluation.evaluate_model(
                model,
                pairs,
                batch_size=args.batch_size,
                flip=not args.no_flip,
                preprocessing=args.preprocessing,
            )
        )
    print(evaluation.format_results_table(results))
    if args.roc:
        evaluation.plot_roc(results, args.roc)
        print(f"ROC curves saved to {args.roc}")
    return 0


def add_evaluate_command(subparsers) -> None:
    """Adds `evaluate MODEL PAIRS...`: the verification protocol on pair sets."""
    parser = subparsers.add_parser(
        "evaluate",
        help="face verification accuracy, TAR@FAR and AUC of a model on pair sets",
        description=(
            "Runs insightface's 10-fold verification protocol (flip-summed, L2-normalised "
            "embeddings; squared L2 distance) on each pair set and prints accuracy +- std, "
            "the threshold, VAL@FAR=1e-3, TAR@FAR and AUC."
        ),
        epilog=(
            "MODEL: a .keras embedding model, or a training model whose output comes from a "
            "CosineHead, in which case the head's input is the embedding (or name the layer "
            "with --embedding-layer). PAIRS: insightface .bin files (lfw.bin, cfp_fp.bin, "
            "agedb_30.bin), LFW-style .txt pairs files (images under --image-root, default the "
            "file's folder), or identity folders (balanced pairs drawn with --seed). Images are "
            "resized to the model's input size unless --image-size is given."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="a .keras model file")
    parser.add_argument("pairs", metavar="PAIRS", nargs="+", help=".bin, .txt or identity folder")
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="resize images to this size (default: the model's input size)",
    )
    parser.add_argument(
        "--color-mode",
        choices=("rgb", "grayscale"),
        help="colour mode (default: from the model's input channels)",
    )
    parser.add_argument(
        "--preprocessing",
        choices=("none", "unit", "symmetric"),
        default="none",
        help="pixel scaling the model was trained with: none (0..255), unit (0..1) or "
        "symmetric (-1..1, insightface's); default none",
    )
    parser.add_argument(
        "--no-flip",
        action="store_true",
        help="do not add the embedding of the mirrored image (insightface adds it)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (64)")
    parser.add_argument("--image-root", help="image folder of .txt pairs files")
    parser.add_argument("--embedding-layer", help="name of the layer whose output is the embedding")
    parser.add_argument("--seed", type=int, default=0, help="seed of identity-folder pairs (0)")
    parser.add_argument("--roc", metavar="FILE", help="save the ROC curves (needs matplotlib)")
    parser.set_defaults(handler=_run_evaluate)


def _key_values(items: Sequence[str] | None, option: str) -> dict:
    """`["margin=0.5", "depth=[1,1,1,1]"]` -> `{"margin": 0.5, "depth": [1, 1, 1, 1]}`."""
    parsed = {}
    for item in items or ():
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValueError(f"{option} takes KEY=VALUE; got {item!r}.")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def _train_config(args: argparse.Namespace):
    from keras_expface.training import TrainConfig

    loss_args = _key_values(args.loss_arg, "--loss-arg")
    for name in ("margin", "scale"):
        if getattr(args, name) is not None:
            loss_args[name] = getattr(args, name)
    if args.exact_gradient:
        loss_args["detach_margin"] = False
    backbone_args = _key_values(args.backbone_arg, "--backbone-arg") or None
    return TrainConfig(
        data=args.data,
        image_size=tuple(args.image_size) if args.image_size else None,
        color_mode=args.color_mode,
        held_out=args.held_out,
        validation_split=args.validation_split,
        noise=args.noise or "",
        loss=args.loss,
        loss_args=loss_args,
        backbone=args.backbone,
        backbone_args=backbone_args,
        weights=args.weights,
        embedding_dim=args.embedding_dim,
        num_subcenters=args.subcenters,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.lr
        if args.lr is not None
        else (0.1 if args.optimizer == "sgd" else 1e-3),
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        lr_steps=tuple(args.lr_steps or ()),
        warmup_epochs=args.warmup_epochs,
        precision={"none": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[
            args.mixed_precision
        ],
        horizontal_flip=not args.no_flip,
        seed=args.seed,
        workers=args.workers,
        verbose=args.verbose,
    )


def _run_train(args: argparse.Namespace) -> int:
    from keras_expface.training import train

    config = _train_config(args)
    result = train(config, out=args.out, overwrite=args.overwrite)
    report = result.report
    lines = [f"Run folder: {result.run_dir}"]
    if "verification" in report:
        before = report.get("untrained_verification", {}).get("accuracy")
        after = report["verification"]["accuracy"]
        start = f"{before:.4f} untrained -> " if before is not None else ""
        lines.append(f"Held-out verification accuracy: {start}{after:.4f}")
    failures = len(report["unreadable_at_load"]) + len(report["unreadable_during_training"])
    if failures:
        lines.append(f"Unreadable images skipped: {failures} (listed in report.json)")
    print("\n".join(lines))
    return 0


def add_train_command(subparsers) -> None:
    """Adds `train`: a resumable training run with held-out verification and a report."""
    parser = subparsers.add_parser(
        "train",
        help="train a face embedder with a margin loss (resumable; writes a run report)",
        description=(
            "Trains a face embedding model with ExpFace or another margin loss, verifies it on "
            "held-out identities after every epoch, checkpoints every epoch and writes "
            "report.json and figures into --out. Started again with the same --out and "
            "settings, a killed run resumes from its last completed epoch."
        ),
        epilog=(
            "DATA: 'builtin' (generated faces, the default; options as "
            "builtin:identities=300,images=16,nuisance=1.0), an identity folder "
            "(ROOT/<identity>/<image>), rec:PATH (insightface train.rec + train.idx), or "
            "tfds:NAME[:SPLIT] (tensorflow-datasets)."
        ),
    )
    add = parser.add_argument
    add("--data", default="builtin", help="builtin | FOLDER | rec:PATH | tfds:NAME (builtin)")
    add("--out", default="run", help="the run folder (run)")
    add("--overwrite", action="store_true", help="replace a different run in --out")
    add(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="model input size (64 64 for builtin, else 112 112)",
    )
    add("--color-mode", choices=("rgb", "grayscale"), default="rgb", help="(rgb)")
    add(
        "--held-out",
        type=float,
        default=0.2,
        help="identities held out for verification: a count or a fraction (0.2)",
    )
    add(
        "--validation-split",
        type=float,
        default=0.0,
        help="fraction of each identity's images for closed-set validation (0)",
    )
    add("--noise", help="inject label noise, e.g. flip:0.2,type1:0.1,type2:0.1")
    add("--loss", choices=LOSS_NAMES, default="expface", help="(expface)")
    add("--margin", type=float, help="the loss's margin m (its default if unset)")
    add("--scale", type=float, help="the logit scale s (64 if unset)")
    add(
        "--loss-arg",
        action="append",
        metavar="KEY=VALUE",
        help="another loss argument, e.g. m1=1.0 (repeatable)",
    )
    add(
        "--exact-gradient",
        action="store_true",
        help="differentiate through the margin (default: straight-through, as the authors)",
    )
    add(
        "--backbone",
        default="iresnet18",
        help="iresnet18/34/50/100, mobilefacenet or a keras.applications name (iresnet18; "
        "a 4-block quarter-width IResNet on the built-in data)",
    )
    add(
        "--backbone-arg",
        action="append",
        metavar="KEY=VALUE",
        help="backbone constructor argument, e.g. width_multiplier=0.5 (repeatable)",
    )
    add("--weights", help="local weights file of the backbone (or imagenet, needs a network)")
    add("--embedding-dim", type=int, default=128, help="(128)")
    add("--subcenters", type=int, default=1, help="sub-centres per class (1)")
    add("--epochs", type=int, default=10, help="(10)")
    add("--batch-size", type=int, default=64, help="(64)")
    add(
        "--optimizer",
        choices=("adamw", "sgd", "adam"),
        default="adamw",
        help="adamw (default) | sgd (momentum; the authors' recipe with --lr 0.1) | adam",
    )
    add("--lr", type=float, help="peak learning rate (0.1 for sgd, 1e-3 otherwise)")
    add("--momentum", type=float, default=0.9, help="SGD momentum (0.9)")
    add("--weight-decay", type=float, default=5e-4, help="(5e-4)")
    add("--schedule", choices=("cosine", "step", "constant"), default="cosine", help="(cosine)")
    add(
        "--lr-steps",
        type=int,
        nargs="+",
        metavar="EPOCH",
        help="epochs where the step schedule divides the rate by 10",
    )
    add("--warmup-epochs", type=int, default=0, help="linear warm-up epochs (0)")
    add(
        "--mixed-precision",
        choices=("none", "bfloat16", "float16"),
        default="none",
        help="compute dtype of the backbone and head matmul; margin and loss stay float32",
    )
    add("--no-flip", action="store_true", help="no horizontal-flip augmentation")
    add("--seed", type=int, default=0, help="(0)")
    add("--workers", type=int, default=1, help="reader threads of the input pipeline (1)")
    add("--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras progress display (1)")
    parser.set_defaults(handler=_run_train)


def _run_diagnose(args: argparse.Namespace) -> int:
    from keras_expface.training.diagnose import diagnose_model, diagnose_run

    options = {
        "low": args.low,
        "high": args.high,
        "top_k": args.top_k,
        "max_samples": args.max_samples or None,
    }
    if os.path.isdir(args.target):
        if args.data:
            raise ValueError("--data applies to a MODEL file; a run folder knows its data.")
        out = args.out or os.path.join(args.target, "diagnostics")
        diagnosis = diagnose_run(args.target, out, checkpoint=args.checkpoint, **options)
    else:
        if not args.data:
            raise ValueError("Diagnosing a MODEL file needs --data (the data it was trained on).")
        out = args.out or "diagnostics"
        diagnosis = diagnose_model(
            args.target,
            args.data,
            out,
            color_mode=args.color_mode,
            noise=args.noise or "",
            seed=args.seed,
            **options,
        )
    summary = diagnosis.summary
    regions = ", ".join(f"{name} {count}" for name, count in summary["region_counts"].items())
    print(f"{summary['num_samples']} samples; regions: {regions}")
    quality = summary.get("ranking_quality")
    if quality:
        print(
            f"Known noisy samples: {quality['num_noisy']}; ranking average precision "
            f"{quality['average_precision']:.3f}, ROC AUC {quality['roc_auc']:.3f}"
        )
    print(f"Suspects, figures and diagnosis.json in {out}")
    return 0


def add_diagnose_command(subparsers) -> None:
    """Adds `diagnose RUN_DIR | MODEL --data DATA`: angles, regions and noisy-sample suspects."""
    parser = subparsers.add_parser(
        "diagnose",
        help="find likely label noise: per-sample angles to class centres, ranked suspects",
        description=(
            "For every training sample: the angle to its own class centre and to the nearest "
            "other centre, the region of the paper's Figure 1 (both small: an identity split "
            "across labels, Type-II; both large: an image of no training identity, Type-I), "
            "and a noise score. Writes suspects.csv (ranked), angles.png, "
            "angle_histograms.png, suspects.png (contact sheet) and diagnosis.json (with the "
            "precision and recall of the ranking when the run injected noise)."
        ),
    )
    add = parser.add_argument
    add("target", metavar="RUN_DIR|MODEL", help="a run folder of `train`, or a .keras model")
    add("--data", help="with a MODEL: the data it was trained on (folder, rec:, tfds:, builtin)")
    add("--out", help="output folder (RUN_DIR/diagnostics, or ./diagnostics)")
    add("--checkpoint", choices=("last", "best"), default="last", help="run model to use")
    add("--color-mode", choices=("rgb", "grayscale"), default="rgb", help="with --data (rgb)")
    add("--noise", help="with --data: inject this label noise first (known ground truth)")
    add("--seed", type=int, default=0, help="with --data: seed of noise and subset (0)")
    add("--low", type=float, default=55.0, help="Type-II threshold in degrees (55)")
    add("--high", type=float, default=87.0, help="Type-I threshold in degrees (87)")
    add("--top-k", type=int, default=100, help="suspects listed (100)")
    add("--max-samples", type=int, default=5000, help="samples embedded; 0 = all (5000)")
    parser.set_defaults(handler=_run_diagnose)


#: The subcommands, each adding its parser to `subparsers`.
COMMANDS: tuple[Callable, ...] = (add_train_command, add_evaluate_command, add_diagnose_command)


def build_parser() -> argparse.ArgumentParser:
    """The `keras-expface` argument parser with every subcommand of `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="keras-expface",
        description="ExpFace and margin-softmax face recognition in Keras 3.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `keras-expface` with `argv` (default: the process arguments).

    Args:
        argv: The arguments after the program name. Defaults to `None` (`sys.argv[1:]`).

    Returns:
        The exit status: 0 on success, 1 on an error the message explains, 2 on bad usage.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except _USER_ERRORS as error:
        print(f"keras-expface {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
