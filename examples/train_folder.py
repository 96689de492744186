"""Train a face embedder on your own identity folders (`ROOT/<identity>/<image>`).

Any image format Pillow reads (PNG, JPEG, PGM, BMP, ...), grey or colour, resized to the
model input. Identities are split open-set: `--held-out` of them never train and give the
verification pairs checked after every epoch. Corrupt files are skipped and listed in the
report. On the ORL faces (40 people x 10 grey images):

    KERAS_BACKEND=jax python examples/train_folder.py ../shared/data/orl_faces --out runs/orl

Runs unchanged on every backend; the same as
`keras-expface train --data ROOT --image-size 56 48 --held-out 10 ...`.
"""

from __future__ import annotations

import argparse

import keras_expface as kx

# A small IResNet (one block per stage, quarter width): trains in minutes on a CPU.
TINY_IRESNET = {"depth": [1, 1, 1, 1], "width_multiplier": 0.25}


def main(argv=None) -> kx.training.TrainResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the folder holding one sub-folder per identity")
    parser.add_argument("--out", default="runs/folder", help="the run folder")
    parser.add_argument("--loss", default="expface", choices=sorted(kx.training.LOSSES))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--held-out", type=float, default=10, help="identities (or fraction)")
    parser.add_argument("--image-size", type=int, nargs=2, default=(56, 48))
    parser.add_argument("--color-mode", choices=("rgb", "grayscale"), default="grayscale")
    parser.add_argument(
        "--backbone", default="iresnet18", help="iresnet18 (tiny variant), ... or MobileNetV2"
    )
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    config = kx.TrainConfig(
        data=args.root,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        held_out=args.held_out,
        image_size=tuple(args.image_size),
        color_mode=args.color_mode,
        backbone=args.backbone,
        backbone_args=TINY_IRESNET if args.backbone == "iresnet18" else None,
        verbose=2,
    )
    result = kx.train(config, out=args.out, overwrite=args.overwrite)
    report = result.report
    print(
        f"{report['data']}\nheld-out verification accuracy "
        f"{report['untrained_verification']['accuracy']:.4f} untrained -> "
        f"{report['verification']['accuracy']:.4f}; unreadable files skipped: "
        f"{len(report['unreadable_at_load']) + len(report['unreadable_during_training'])}"
    )
    return result


if __name__ == "__main__":
    main()
