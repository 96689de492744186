"""Beyond one device: shard the class centres with `keras.distribution` (JAX backend).

The head's class-centre matrix `(D, C * K)` is what grows with the number of identities. These
helpers build the `keras.distribution` objects that shard its class axis (the last one)
across devices, insightface's "model parallel FC", compiled by XLA's GSPMD partitioner: each
device holds `C * K / n` centres and computes the logits of those classes; XLA inserts the
collectives (the softmax normaliser and the feature gradient are all-reduced). No engine of
our own: the result is a plain `keras.distribution.ModelParallel`, used with
`keras.distribution.set_distribution(...)` or `with distribution.scope():` around model
creation, then `compile` / `fit` as usual.

`keras.distribution` is implemented for the JAX backend only in Keras 3 (its TensorFlow
module is marked "DO NOT USE" and its `distribute_value` is a stub; PyTorch has none). On
TensorFlow use `tf.distribute.MirroredStrategy` (data parallel), on PyTorch
`torch.nn.parallel.DistributedDataParallel`; see the README section "Beyond one device".
"""

from __future__ import annotations

import math

import keras

from keras_expface._checks import check_positive_int

#: Regex (full match against `variable.path`) of the class centres of `CosineHead` and
#: `PartialFCHead`, e.g. `cosine_head/class_centers`, `partial_fc_model/head/class_centers`.
CLASS_CENTERS_PATTERN = r"(.*/)?class_centers"


def _require_jax(function_name: str) -> None:
    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"{function_name}: keras.distribution needs the JAX backend in Keras 3 "
            f"(KERAS_BACKEND=jax); the current backend is {keras.backend.backend()!r}. On "
            "TensorFlow use tf.distribute.MirroredStrategy, on PyTorch "
            "DistributedDataParallel (data parallel; see the README)."
        )


def padded_num_classes(num_classes: int, num_shards: int, num_subcenters: int = 1) -> int:
    """Smallest class count `>= num_classes` whose `num_classes * num_subcenters` shards evenly.

    Sharding the class axis over `n` devices needs `C * K` divisible by `n`. Padding `C` with
    identities that never occur as a label is the simplest fix: their centres only ever act
    as negatives (a slightly larger softmax denominator; at `s = 64` a random centre's
    cosine near 0 adds `~e^0 = 1` per padded class against `e^(64 cos)` terms, a negligible
    change, but not exactly zero). The other fix is a model axis size that divides `C * K`.

    Args:
        num_classes: Number of identities `C`.
        num_shards: Devices on the axis that shards the classes.
        num_subcenters: Centres per class `K`. Defaults to `1`.

    Returns:
        The padded number of classes.

    Example:

    >>> padded_num_classes(10572, 8)
    10576
    >>> padded_num_classes(10, 4, num_subcenters=2)
    10
    >>> padded_num_classes(93431, 8, num_subcenters=3)
    93432
    """
    check_positive_int("padded_num_classes", "num_classes", num_classes)
    check_positive_int("padded_num_classes", "num_shards", num_shards)
    check_positive_int("padded_num_classes", "num_subcenters", num_subcenters)
    step = num_shards // math.gcd(num_shards, num_subcenters)
    return -(-num_classes // step) * step


def check_class_sharding(num_centers: int, num_shards: int) -> None:
    """Raises a `ValueError` unless `num_centers` (= `C * K`) divides evenly into `num_shards`.

    Args:
        num_centers: Columns of the class-centre matrix, `num_classes * num_subcenters`.
        num_shards: Devices on the axis that shards the classes.

    Raises:
        ValueError: When `num_centers % num_shards != 0`, naming the padded class count.

    Example:

    >>> check_class_sharding(10576, 8)
    >>> check_class_sharding(10572, 8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Cannot shard 10572 class centres (num_classes * num_subcenters) over 8 devices: ...
    """
    check_positive_int("check_class_sharding", "num_centers", num_centers)
    check_positive_int("check_class_sharding", "num_shards", num_shards)
    if num_centers % num_shards:
        raise ValueError(
            f"Cannot shard {num_centers} class centres (num_classes * num_subcenters) over "
            f"{num_shards} devices: the class axis must divide evenly (GSPMD needs equal "
            "shards). Pad the classes with never-used identities, e.g. num_classes="
            f"{padded_num_classes(num_centers, num_shards)} when num_subcenters=1 (see "
            "keras_expface.distribution.padded_num_classes), or pick a model axis size "
            f"that divides {num_centers}."
        )


def head_layout_map(
    device_mesh,
    model_axis: str = "model",
    head_pattern: str = CLASS_CENTERS_PATTERN,
    layout_map=None,
):
    """A `LayoutMap` that shards the class axis of the head's centres over `model_axis`.

    Adds `layout_map[head_pattern] = (None, model_axis)`: the centres `(D, C * K)` are split
    column-wise over the devices of `model_axis`; every variable that no key of the map
    matches (the backbone) stays replicated under `keras.distribution.ModelParallel`.
    Optimizer slots (momentum, Adam moments) of the centres inherit their layout.

    `model_axis` may also be the mesh's batch axis: on a 1-D mesh, sharding the batch and the
    classes over the same devices is insightface's model-parallel FC (each device computes
    its batch shard through the backbone, the features are gathered, each device scores its
    `C * K / n` classes). `C * K` must divide by the size of `model_axis` (see
    `check_class_sharding`); `class_sharded_distribution` checks this when the head is built.

    Args:
        device_mesh: A `keras.distribution.DeviceMesh` with an axis named `model_axis`.
        model_axis: Mesh axis that shards the classes. Defaults to `"model"`.
        head_pattern: Regex matched (fully) against `variable.path`. Defaults to
            `CLASS_CENTERS_PATTERN`, the centres of `CosineHead` and `PartialFCHead`.
        layout_map: An existing `LayoutMap` on `device_mesh` to add the entry to (for
            other sharded layers). Defaults to a new one.

    Returns:
        The `keras.distribution.LayoutMap`.

    Raises:
        RuntimeError: When the backend is not JAX.
        ValueError: When `model_axis` is not an axis of `device_mesh`.

    Example (JAX; 8 devices, 2-way data parallel x 4-way class sharding):

    ```python
    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"))
    layout_map = head_layout_map(mesh, model_axis="model")
    distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    with distribution.scope():
        model = keras.Model(inputs, kx.CosineHead(num_classes)(embedder(inputs)))
        model.compile(optimizer="sgd", loss=kx.ExpFaceLoss())
    model.fit(x, y, batch_size=512)
    ```
    """
    _require_jax("head_layout_map")
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"head_layout_map: model_axis={model_axis!r} is not an axis of the device mesh "
            f"(axes {tuple(device_mesh.axis_names)})."
        )
    if layout_map is None:
        layout_map = keras.distribution.LayoutMap(device_mesh)
    elif layout_map.device_mesh is not device_mesh:
        raise ValueError("head_layout_map: layout_map must be built on the same device_mesh.")
    layout_map[head_pattern] = (None, model_axis)
    return layout_map


class _CheckedModelParallel(keras.distribution.ModelParallel):
    """`ModelParallel` that explains an uneven shard instead of failing deep inside JAX."""

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        mesh_sizes = dict(zip(self.device_mesh.axis_names, self.device_mesh.shape, strict=True))
        for size, axis in zip(variable.shape, layout.axes, strict=True):
            if axis is not None and size is not None and size % mesh_sizes[axis]:
                try:
                    check_class_sharding(size, mesh_sizes[axis])
                except ValueError as error:
                    raise ValueError(f"Variable {variable.path!r}: {error}") from None
        return layout


def class_sharded_distribution(
    devices=None,
    model_axis_size: int | None = None,
    batch_axis: str = "batch",
    model_axis: str = "model",
    head_pattern: str = CLASS_CENTERS_PATTERN,
):
    """A `ModelParallel` distribution: batch on the data axis, class centres on the model axis.

    - `model_axis_size=None` (default), insightface's model-parallel FC: a 1-D mesh of all
      `n` devices, axis `batch_axis`; the batch **and** the class axis of the centres are
      split over it. The backbone runs data parallel, each device scores `C * K / n`
      classes.
    - `model_axis_size=m`: a 2-D mesh `(n / m, m)`, axes `(batch_axis, model_axis)`; the batch
      is split `n / m` ways, the classes `m` ways (each group of `m` devices runs the same
      batch shard through the backbone).

    All other weights are replicated. `C * K` must divide by the number of devices that
    shard the classes; otherwise building the head raises a `ValueError` that names a padded
    class count (`padded_num_classes`).

    Args:
        devices: Device names (`keras.distribution.list_devices()`). Defaults to all.
        model_axis_size: Devices sharding the classes on a 2-D mesh; must divide the device
            count. Defaults to `None` (1-D mesh, see above).
        batch_axis: Name of the data axis. Defaults to `"batch"`.
        model_axis: Name of the model axis of the 2-D mesh. Defaults to `"model"`.
        head_pattern: Regex of the variables to shard (full match against
            `variable.path`). Defaults to `CLASS_CENTERS_PATTERN`.

    Returns:
        A `keras.distribution.ModelParallel` (with the divisibility check).

    Raises:
        RuntimeError: When the backend is not JAX.
        ValueError: When `model_axis_size` does not divide the number of devices.

    Example (JAX; on one CPU machine, 8 virtual devices via
    `XLA_FLAGS=--xla_force_host_platform_device_count=8` set before importing JAX):

    ```python
    distribution = class_sharded_distribution()        # 8-way data + 8-way class sharding
    with distribution.scope():
        inputs = keras.Input((64,))
        embeddings = keras.layers.Dense(128)(inputs)
        model = keras.Model(inputs, kx.CosineHead(80_000)(embeddings))
        model.compile(optimizer="sgd", loss=kx.ExpFaceLoss())
    model.fit(x, y, batch_size=256)        # each device: 32 rows, 10,000 centres
    ```
    """
    _require_jax("class_sharded_distribution")
    if devices is None:
        devices = keras.distribution.list_devices()
    devices = list(devices)
    if model_axis_size is None:
        mesh = keras.distribution.DeviceMesh((len(devices),), (batch_axis,), devices)
        sharding_axis = batch_axis
    else:
        check_positive_int("class_sharded_distribution", "model_axis_size", model_axis_size)
        if len(devices) % model_axis_size:
            raise ValueError(
                f"class_sharded_distribution: model_axis_size={model_axis_size} must divide "
                f"the number of devices, {len(devices)}."
            )
        if batch_axis == model_axis:
            raise ValueError("class_sharded_distribution: batch_axis and model_axis must differ.")
        mesh = keras.distribution.DeviceMesh(
            (len(devices) // model_axis_size, model_axis_size), (batch_axis, model_axis), devices
        )
        sharding_axis = model_axis
    layout_map = head_layout_map(mesh, model_axis=sharding_axis, head_pattern=head_pattern)
    return _CheckedModelParallel(layout_map=layout_map, batch_dim_name=batch_axis)
