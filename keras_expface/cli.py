"""The `keras-expface` command: a small dispatcher over subcommands.

A subcommand is a function `add_<name>_command(subparsers)` that adds its parser and sets
`handler`, a function taking the parsed arguments and returning the exit status; list it in
`COMMANDS`. Handlers import what they need (Keras, the package) themselves, so
`keras-expface --help` stays fast.

```
keras-expface evaluate run/model.keras lfw.bin cfp_fp.bin agedb_30.bin --roc roc.png
```
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

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


#: The subcommands, each adding its parser to `subparsers`.
COMMANDS: tuple[Callable, ...] = (add_evaluate_command,)


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
