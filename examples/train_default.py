"""Train ExpFace on the built-in generated faces: no data, no download, one command.

The built-in dataset draws faces procedurally (each identity its own geometry, each image
its own pose, lighting, expression, occlusion and noise). This trains the default small
IResNet with ExpFace, verifies on held-out identities after every epoch, and writes the
run folder (checkpoints, log.csv, report.json, figures). Kill it and run it again: it
resumes from the last completed epoch. Runs unchanged on every backend:

    KERAS_BACKEND=jax python examples/train_default.py --out runs/default
    KERAS_BACKEND=torch python examples/train_default.py --noise type1:0.2 --out runs/noisy

It is `keras-expface train --out RUN_DIR` through the Python API.
"""

from __future__ import annotations

import argparse

import keras_expface as kx


def main(argv=None) -> kx.training.TrainResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/default", help="the run folder")
    parser.add_argument("--data", default="builtin", help="builtin[:identities=N,images=K,...]")
    parser.add_argument("--loss", default="expface", choices=sorted(kx.training.LOSSES))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--noise", default="", help="e.g. flip:0.2,type1:0.1,type2:0.1")
    parser.add_argument("--image-size", type=int, nargs=2, default=None)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    config = kx.TrainConfig(
        data=args.data,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        noise=args.noise,
        image_size=tuple(args.image_size) if args.image_size else None,
        verbose=2,
    )
    result = kx.train(config, out=args.out, overwrite=args.overwrite)
    report = result.report
    print(
        f"held-out verification accuracy {report['untrained_verification']['accuracy']:.4f} "
        f"untrained -> {report['verification']['accuracy']:.4f} after {config.epochs} epochs; "
        f"report: {result.run_dir}/report.json"
    )
    return result


if __name__ == "__main__":
    main()
