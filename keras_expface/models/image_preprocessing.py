"""`ImagePreprocessing`: pixel normalisation inside the model (Keras' `preprocess_input` modes)."""

from __future__ import annotations

import keras
from keras import ops

#: The modes of `keras.applications.imagenet_utils.preprocess_input`, plus `"none"`.
PREPROCESSING_MODES = ("tf", "torch", "caffe", "none")

# torchvision / ImageNet statistics (RGB) and Caffe's BGR means, as in Keras' imagenet_utils.
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="keras_expface")
class ImagePreprocessing(keras.layers.Layer):
    """Normalises RGB pixels in `[0, 255]` the way a backbone's weights were trained.

    Putting the normalisation inside the model means the saved model takes raw pixels, and
    nobody can feed it images normalised the wrong way. The modes are those of Keras'
    `keras.applications.imagenet_utils.preprocess_input`, for channels-last images:

    - `"tf"`: `x / 127.5 - 1`, values in `[-1, 1]` (MobileNet, MobileNetV2, Inception,
      Xception, ResNetV2, NASNet; also insightface's `(x / 255 - 0.5) / 0.5`).
    - `"torch"`: `(x / 255 - mean) / std` per RGB channel, with ImageNet's
      mean `(0.485, 0.456, 0.406)` and std `(0.229, 0.224, 0.225)` (DenseNet; torchvision).
    - `"caffe"`: RGB to BGR, then minus the BGR mean `(103.939, 116.779, 123.68)`, no scaling
      (ResNet50/101/152, VGG16/19).
    - `"none"`: the pixels unchanged, cast to the compute dtype.

    Args:
        mode: One of `"tf"`, `"torch"`, `"caffe"`, `"none"`. Defaults to `"tf"`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)` pixels in `[0, 255]`, any numeric dtype; the
        `"torch"` and `"caffe"` modes need `channels == 3` (RGB).

    Output shape:
        Same as the input, in the layer's compute dtype.

    Example:

    >>> import keras, numpy as np
    >>> pixels = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    >>> keras.ops.convert_to_numpy(ImagePreprocessing("tf")(pixels)).round(3).tolist()
    [[[[-1.0, 0.0, 1.0]]]]
    """

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(
                f"ImagePreprocessing: unknown mode {mode!r}; expected one of "
                f"{', '.join(repr(m) for m in PREPROCESSING_MODES)}."
            )
        self.mode = mode

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "ImagePreprocessing expects images (batch, height, width, channels); got "
                f"shape {tuple(input_shape)}."
            )
        if self.mode in ("torch", "caffe") and input_shape[-1] != 3:
            raise ValueError(
                f"ImagePreprocessing mode {self.mode!r} needs 3 RGB channels (channels last); "
                f"got shape {tuple(input_shape)}."
            )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "caffe":
            mean = ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)
            return ops.flip(x, axis=-1) - mean
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
