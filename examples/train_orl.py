"""Train a small face embedder on ORL faces with any margin loss; verify on held-out people.

The ORL database has 40 identities x 10 grey images. The first 30 identities train a small
CNN + `CosineHead` with the chosen margin loss; the last 10 are never seen in training and
give the verification pairs (all 450 positive pairs and 450 negatives), scored with the
field's 10-fold protocol before and after training. Runs unchanged on every backend:

    KERAS_BACKEND=jax python examples/train_orl.py --data ../shared/data/orl_faces
    KERAS_BACKEND=torch python examples/train_orl.py --loss arcface --epochs 20
"""

from __future__ import annotations

import argparse
import dataclasses
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

LOSSES = {
    "expface": kx.ExpFaceLoss,
    "arcface": kx.ArcFaceLoss,
    "cosface": kx.CosFaceLoss,
    "sphereface": kx.SphereFaceLoss,
    "combined": kx.CombinedMarginLoss,
    "normface": kx.NormFaceLoss,
}
IMAGE_SIZE = (56, 46)  # ORL is 112 x 92; half size keeps CPU training to seconds per epoch


def build_embedder(input_shape, embedding_dim: int) -> keras.Model:
    """A small CNN: (x - 127.5) / 128, three conv stages, BN - dense - BN embedding."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 128.0, offset=-127.5 / 128.0)(inputs)
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=2e-5)(x)
        x = keras.layers.PReLU(shared_axes=[1, 2])(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Dense(embedding_dim, use_bias=False)(x)
    embeddings = keras.layers.BatchNormalization(momentum=0.9, epsilon=2e-5, name="embedding")(x)
    return keras.Model(inputs, embeddings, name="embedder")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/orl_faces", help="ORL faces folder")
    parser.add_argument("--loss", choices=sorted(LOSSES), default="expface")
    parser.add_argument("--margin", type=float, help="the loss's margin (its default if unset)")
    parser.add_argument(
        "--scale", type=float, help="the logit scale s (the loss's default if unset)"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--held-out", type=int, default=10, help="identities kept for verification")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    faces = load_identity_folder(args.data, image_size=IMAGE_SIZE, color_mode="grayscale")
    if not 0 < args.held_out < faces.num_classes - 1:
        parser.error(f"--held-out must leave at least 2 training identities of {faces.num_classes}")
    train_names = faces.class_names[: -args.held_out]
    held_out_names = faces.class_names[-args.held_out :]
    train = faces.labels < len(train_names)  # labels follow the sorted folder names
    x_train = faces.images[train].astype("float32")
    y_train = faces.labels[train]

    loss_kwargs = {
        k: v for k, v in (("margin", args.margin), ("scale", args.scale)) if v is not None
    }
    loss = LOSSES[args.loss](**loss_kwargs)
    embedder = build_embedder(x_train.shape[1:], embedding_dim=128)
    model = keras.Model(embedder.input, kx.CosineHead(len(train_names))(embedder.output))
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-3, decay_steps=args.epochs * int(np.ceil(len(x_train) / args.batch_size))
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4),
        loss=loss,
        metrics=["sparse_categorical_accuracy"],
    )

    pairs = pairs_from_identity_folder(
        args.data,
        IMAGE_SIZE,
        "grayscale",
        identities=held_out_names,
        seed=args.seed,
        name="orl_held_out",
    )
    before = evaluate_model(embedder, pairs)
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=2
    ).history
    seconds = time.perf_counter() - start
    after = evaluate_model(embedder, pairs)

    print(f"\nbackend={keras.backend.backend()} loss={loss.name} {loss.get_config()}")
    print(
        f"{len(train_names)} training identities ({len(x_train)} images), {args.epochs} epochs "
        f"in {seconds:.0f} s: loss {history['loss'][0]:.2f} -> {history['loss'][-1]:.2f}, "
        f"train accuracy {history['sparse_categorical_accuracy'][-1]:.3f}"
    )
    print(f"Verification on {len(held_out_names)} held-out identities, untrained vs trained:")
    named = [
        dataclasses.replace(before, name="untrained"),
        dataclasses.replace(after, name="trained"),
    ]
    print(format_results_table(named))
    return {"before": before, "after": after, "history": history}


if __name__ == "__main__":
    main()
