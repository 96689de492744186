"""Face backbones, the embedding neck, and face models built from any Keras backbone.

- `IResNet`, `MobileFaceNet`: face backbones to train from scratch (insightface's).
- `EmbeddingNeck`: feature map to embedding (insightface's "E" output, or GDC).
- `ImagePreprocessing`: a backbone's pixel normalisation, inside the model.
- `build_face_model`: embedding model + training model (with a `CosineHead`) from a
  backbone name (ours or any `keras.applications` model) or a Keras model.
- `fine_tune`, `freeze_backbone`, `unfreeze_backbone`, `backbone_blocks`, `get_backbone`:
  the two-stage fine-tuning recipe for pretrained backbones.
"""

from keras_expface.models.embedding_neck import EmbeddingNeck
from keras_expface.models.face_model import FaceModels, available_backbones, build_face_model
from keras_expface.models.fine_tuning import (
    FineTuneHistory,
    backbone_blocks,
    fine_tune,
    freeze_backbone,
    get_backbone,
    unfreeze_backbone,
)
from keras_expface.models.image_preprocessing import ImagePreprocessing
from keras_expface.models.iresnet import IResNet
from keras_expface.models.mobilefacenet import MobileFaceNet

__all__ = [
    "EmbeddingNeck",
    "FaceModels",
    "FineTuneHistory",
    "IResNet",
    "ImagePreprocessing",
    "MobileFaceNet",
    "available_backbones",
    "backbone_blocks",
    "build_face_model",
    "fine_tune",
    "freeze_backbone",
    "get_backbone",
    "unfreeze_backbone",
]
