"""Train on a tensorflow-datasets image dataset with identity labels (e.g. `lfw`).

    KERAS_BACKEND=jax python examples/train_tfds.py lfw --out runs/lfw          # downloads
    KERAS_BACKEND=torch python examples/train_tfds.py PATH/TO/IMAGE_FOLDER      # offline

NAME is a registered tfds dataset (downloaded and prepared on first use: needs a network),
a folder prepared by tfds (holding `dataset_info.json`), or an `ImageFolder` tree
`PATH/<split>/<identity>/<image>`. The identity label is the dataset's ClassLabel feature
(or its `label` feature: lfw's person names). The images are read into memory, then
training is the same as for any other data, on any backend (tfds itself needs TensorFlow
installed: `pip install 'keras-expface[tfds]'`).
"""

from __future__ import annotations

import argparse

import keras_expface as kx

TINY_IRESNET = {"depth": [1, 1, 1, 1], "width_multiplier": 0.25}


def main(argv=None) -> kx.training.TrainResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="tfds dataset name, prepared folder or ImageFolder tree")
    parser.add_argument("--split", default="train")
    parser.add_argument("--out", default="runs/tfds", help="the run folder")
    parser.add_argument("--loss", default="expface", choices=sorted(kx.training.LOSSES))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--held-out", type=float, default=0.2)
    parser.add_argument("--image-size", type=int, nargs=2, default=(64, 64))
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    config = kx.TrainConfig(
        data=f"tfds:{args.name}:{args.split}",
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        held_out=args.held_out,
        image_size=tuple(args.image_size),
        backbone_args=TINY_IRESNET,
        verbose=2,
    )
    result = kx.train(config, out=args.out, overwrite=args.overwrite)
    report = result.report
    print(
        f"{report['data']}\nheld-out verification accuracy "
        f"{report['untrained_verification']['accuracy']:.4f} untrained -> "
        f"{report['verification']['accuracy']:.4f}"
    )
    return result


if __name__ == "__main__":
    main()
