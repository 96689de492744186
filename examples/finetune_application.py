"""Fine-tune an ImageNet-pretrained keras.applications backbone into a face embedder on ORL.

The recipe of `keras_expface.models.fine_tune`, on the 40 people x 10 images of ORL faces:
the first 30 people train, the last 10 are never seen in training and give the
verification pairs (all 450 positive pairs and 450 negatives, insightface's 10-fold
protocol), scored before and after fine-tuning.

1. `build_face_model` wraps the pretrained backbone (by default MobileNetV2 with the local
   ImageNet weights file, no network needed) with an embedding neck and a `CosineHead`.
2. Stage 1 trains the neck and head with the backbone frozen (BatchNorm in inference mode).
3. Stage 2 unfreezes the top `--num-blocks` blocks (BatchNorm stays frozen) and trains on
   with a 10x lower learning rate.

The local weights (`../shared/data/weights/mobilenet_v2_imagenet_notop.weights.h5`) were
converted from torchvision and trained with torchvision's normalisation, so they are used
with `preprocessing="torch"`; with `--weights imagenet` (Keras' own file, downloaded) the
application's own `preprocess_input` is used (`"auto"`). Runs unchanged on every backend:

    KERAS_BACKEND=torch python examples/finetune_application.py
    KERAS_BACKEND=jax python examples/finetune_application.py --loss arcface --num-blocks 0
    python examples/finetune_application.py --backbone ResNet50 --weights imagenet
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time

import keras
import numpy as np

import keras_expface as kx
from keras_expface.data import load_identity_folder
from keras_expface.evaluation import (
    evaluate_model,
    format_results_table,
    pairs_from_identity_folder,
)
from keras_expface.models import backbone_blocks, build_face_model, fine_tune

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "orl_faces"
DEFAULT_WEIGHTS = (
    REPO_ROOT / ".." / "shared" / "data" / "weights" / "mobilenet_v2_imagenet_notop.weights.h5"
)
LOSSES = {
    "expface": kx.ExpFaceLoss,
    "arcface": kx.ArcFaceLoss,
    "cosface": kx.CosFaceLoss,
    "sphereface": kx.SphereFaceLoss,
    "combined": kx.CombinedMarginLoss,
    "normface": kx.NormFaceLoss,
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="ORL faces folder")
    parser.add_argument("--backbone", default="MobileNetV2", help="a keras.applications name")
    parser.add_argument(
        "--weights",
        default=str(DEFAULT_WEIGHTS),
        help="a local no-top weights file, 'imagenet' (downloads) or 'none' (random)",
    )
    parser.add_argument(
        "--preprocessing",
        choices=["auto", "tf", "torch", "caffe", "none"],
        help="input normalisation; default: 'torch' for the default (torchvision) weights "
        "file, else 'auto' (the application's own)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(80, 64),
        metavar=("H", "W"),
        help="ORL is 112 x 92; 80 x 64 halves the cost at the same accuracy",
    )
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--pooling", choices=["flatten", "gdc", "avg"], default="avg")
    parser.add_argument("--loss", choices=sorted(LOSSES), default="expface")
    parser.add_argument("--scale", type=float, default=32.0, help="the logit scale s")
    parser.add_argument("--head-epochs", type=int, default=5)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument(
        "--num-blocks", type=int, default=4, help="top blocks to unfreeze in stage 2 (0: all)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--held-out", type=int, default=10, help="identities kept for verification")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    weights = {"none": None}.get(args.weights, args.weights)
    preprocessing = args.preprocessing
    if preprocessing is None:
        default_file = weights is not None and pathlib.Path(weights) == DEFAULT_WEIGHTS
        preprocessing = "torch" if default_file else "auto"

    keras.utils.set_random_seed(args.seed)
    image_size = tuple(args.image_size)
    faces = load_identity_folder(args.data, image_size=image_size, color_mode="rgb")
    if not 0 < args.held_out < faces.num_classes - 1:
        parser.error(f"--held-out must leave at least 2 training identities of {faces.num_classes}")
    train_names = faces.class_names[: -args.held_out]
    held_out_names = faces.class_names[-args.held_out :]
    train = faces.labels < len(train_names)  # labels follow the sorted folder names
    # Mirror images double the 10 images per person.
    x_train = np.concatenate([faces.images[train], faces.images[train][:, :, ::-1]])
    y_train = np.concatenate([faces.labels[train], faces.labels[train]])

    embedder, trainer = build_face_model(
        args.backbone,
        num_classes=len(train_names),
        embedding_dim=args.embedding_dim,
        input_shape=(*image_size, 3),
        weights=weights,
        preprocessing=preprocessing,
        pooling=args.pooling,
        dropout=0.2,
    )
    pairs = pairs_from_identity_folder(
        args.data, image_size, "rgb", identities=held_out_names, seed=args.seed, name="orl_held_out"
    )
    before = evaluate_model(embedder, pairs)

    start = time.perf_counter()
    history = fine_tune(
        trainer,
        x_train,
        y_train,
        loss=LOSSES[args.loss](scale=args.scale),
        head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs,
        head_learning_rate=1e-3,
        finetune_learning_rate=1e-4,
        num_blocks=args.num_blocks or None,
        metrics=["sparse_categorical_accuracy"],
        batch_size=args.batch_size,
        shuffle=True,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    after = evaluate_model(embedder, pairs)

    blocks = [name for name, _ in backbone_blocks(embedder)]
    unfrozen = "all" if not args.num_blocks else ", ".join(blocks[-args.num_blocks :])
    print(
        f"\nbackend={keras.backend.backend()} backbone={args.backbone} "
        f"weights={args.weights if weights else None} preprocessing={preprocessing} "
        f"loss={args.loss} (s={args.scale})"
    )
    print(
        f"{len(train_names)} training identities ({len(x_train)} images with mirrors), "
        f"{args.head_epochs} head epochs + {args.finetune_epochs} fine-tuning epochs "
        f"(unfrozen: {unfrozen}) in {seconds:.0f} s"
    )
    finetune_history = history.finetune.history if history.finetune else history.head.history
    print(
        f"train accuracy {history.head.history['sparse_categorical_accuracy'][-1]:.3f} after "
        f"stage 1, {finetune_history['sparse_categorical_accuracy'][-1]:.3f} after stage 2"
    )
    print(f"Verification on {len(held_out_names)} held-out identities (flip-sum, 10 folds):")
    named = [
        dataclasses.replace(before, name="pretrained, untrained neck"),
        dataclasses.replace(after, name="fine-tuned"),
    ]
    print(format_results_table(named))
    return {"before": before, "after": after, "history": history, "seconds": seconds}


if __name__ == "__main__":
    main()
