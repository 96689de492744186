"""`TrainConfig`: everything that defines a training run, saved as JSON in the run folder."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
from collections.abc import Mapping

from keras_expface import losses

#: Loss names accepted by `TrainConfig.loss` (and `keras-expface train --loss`).
LOSSES: dict[str, type[losses.MarginLoss]] = {
    "expface": losses.ExpFaceLoss,
    "arcface": losses.ArcFaceLoss,
    "cosface": losses.CosFaceLoss,
    "sphereface": losses.SphereFaceLoss,
    "combined": losses.CombinedMarginLoss,
    "normface": losses.NormFaceLoss,
}
OPTIMIZERS = ("sgd", "adamw", "adam")
SCHEDULES = ("cosine", "step", "constant")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
#: The backbone of the built-in quick setting: a 4-block IResNet at quarter width.
TINY_IRESNET = {"depth": [1, 1, 1, 1], "width_multiplier": 0.25}
# Fields that do not change what is trained: a resumed run may differ in them.
RUNTIME_FIELDS = ("workers", "verbose")


@dataclasses.dataclass
class TrainConfig:
    """A training run: data, model, loss, optimisation. JSON round trip, exact repetition.

    Attributes:
        data: `"builtin"` (generated faces; options as `"builtin:identities=300,images=16"`),
            an identity-folder path (or `"folder:PATH"`), `"rec:PATH/train.rec"` (insightface
            records) or `"tfds:NAME"` (tensorflow-datasets; `"tfds:NAME:SPLIT"`).
        image_size: `(height, width)` of the model input. `None`: 64 x 64 for the built-in
            data with the default backbone, else 112 x 112.
        color_mode: `"rgb"` or `"grayscale"`.
        held_out: Identities held out of training for verification pairs: a count, or a
            fraction of the identities. `0` disables verification.
        validation_split: Fraction of each training identity's images kept for Keras'
            closed-set validation (classification accuracy). `0` disables it.
        noise: Label noise to inject (`"flip:0.2,type1:0.1,type2:0.1"`), or `""`.
        loss: A name of `LOSSES`.
        loss_args: Constructor arguments of the loss (`{"margin": 0.7, "scale": 64}`).
        backbone: A `build_face_model` backbone name.
        backbone_args: Constructor arguments of the backbone.
        weights: `None` or a local weights file of the backbone (or `"imagenet"`).
        embedding_dim: Embedding size.
        num_subcenters: Sub-centres per class in the head.
        epochs: Training epochs.
        batch_size: Samples per step.
        optimizer: `"adamw"` (the default: trains small data fast), `"sgd"` (with
            `momentum`: the authors' recipe, learning rate 0.1) or `"adam"`.
        learning_rate: Peak learning rate.
        momentum: SGD momentum.
        weight_decay: Decoupled weight decay (SGD and AdamW).
        schedule: `"cosine"` (to 0), `"step"` (x0.1 at `lr_steps`) or `"constant"`.
        lr_steps: Epochs at which the step schedule divides the rate by 10.
        warmup_epochs: Linear warm-up epochs before the schedule.
        precision: `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"` (margin and loss stay
            float32 in every case).
        horizontal_flip: Flip training images at random.
        seed: Seed of the split, noise, order, augmentation and initialisation.
        workers: Reader threads of the input pipeline (runtime only).
        verbose: Keras progress display, 0, 1 or 2 (runtime only).
    """

    data: str = "builtin"
    image_size: tuple[int, int] | None = None
    color_mode: str = "rgb"
    held_out: float = 0.2
    validation_split: float = 0.0
    noise: str = ""
    loss: str = "expface"
    loss_args: dict = dataclasses.field(default_factory=dict)
    backbone: str = "iresnet18"
    backbone_args: dict | None = None
    weights: str | None = None
    embedding_dim: int = 128
    num_subcenters: int = 1
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    lr_steps: tuple[int, ...] = ()
    warmup_epochs: int = 0
    precision: str = "float32"
    horizontal_flip: bool = True
    seed: int = 0
    workers: int = 1
    verbose: int = 1

    def __post_init__(self):
        if self.image_size is not None:
            self.image_size = tuple(int(v) for v in self.image_size)
        self.lr_steps = tuple(int(v) for v in self.lr_steps)
        self.loss_args = dict(self.loss_args or {})
        if self.backbone_args is None and self.backbone == "iresnet18" and self.is_builtin:
            self.backbone_args = copy.deepcopy(TINY_IRESNET)
        self.validate()

    @property
    def is_builtin(self) -> bool:
        return self.data == "builtin" or self.data.startswith("builtin:")

    def resolved_image_size(self) -> tuple[int, int]:
        """The model input size this run uses."""
        if self.image_size is not None:
            return self.image_size
        return (64, 64) if self.is_builtin else (112, 112)

    def validate(self) -> None:
        """Raises `ValueError` naming the first bad field."""
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; valid: {', '.join(LOSSES)}.")
        accepted = set(inspect.signature(LOSSES[self.loss].__init__).parameters) - {"self"}
        unknown = sorted(set(self.loss_args) - accepted)
        if unknown:
            raise ValueError(
                f"{self.loss} takes no argument {unknown}; it accepts "
                f"{', '.join(sorted(accepted - {'reduction', 'name', 'dtype'}))}."
            )
        for name, valid in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("precision", PRECISIONS),
            ("color_mode", ("rgb", "grayscale")),
        ):
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"Unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}."
                )
        for name in ("epochs", "batch_size", "embedding_dim", "num_subcenters", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}.")
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must lie in [0, 1); got {self.validation_split}.")
        if (
            self.held_out < 0
            or self.held_out == 1
            or (self.held_out > 1 and not float(self.held_out).is_integer())
        ):
            raise ValueError(
                "held_out must be 0 (no verification), a fraction in (0, 1) or a count >= 2 of "
                f"identities (negative pairs need two); got {self.held_out}."
            )
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2; got {self.verbose!r}.")
        from keras_expface.models.face_model import available_backbones

        names = {name.lower().replace("_", "").replace("-", "") for name in available_backbones()}
        if self.backbone.lower().replace("_", "").replace("-", "") not in names:
            raise ValueError(
                f"Unknown backbone {self.backbone!r}; valid (case, '_' and '-' ignored): "
                f"{', '.join(available_backbones())}."
            )
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs must lie in [0, epochs={self.epochs}); got {self.warmup_epochs}."
            )
        if self.schedule == "step" and not self.lr_steps:
            raise ValueError("The step schedule needs lr_steps (epochs where the rate drops).")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise ValueError(
                f"image_size must be (height, width), each >= 8; got {self.image_size}."
            )

    def make_loss(self) -> losses.MarginLoss:
        """The configured loss object."""
        return LOSSES[self.loss](**self.loss_args)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["image_size"] = list(self.image_size) if self.image_size else None
        data["lr_steps"] = list(self.lr_steps)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainConfig:
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"Unknown training config fields {unknown}.")
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))

    def differences(self, other: TrainConfig) -> dict[str, tuple]:
        """Fields (other than runtime-only ones) where `other` differs: `{name: (self, other)}`."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {
            name: (mine[name], theirs[name])
            for name in mine
            if name not in RUNTIME_FIELDS and mine[name] != theirs[name]
        }
