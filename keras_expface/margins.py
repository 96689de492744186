"""Target similarities of the margin-softmax family, one pure function per method.

Every function here maps the cosine between a feature and its *own* class centre (the target
cosine, `cos(theta_y)`, any shape, usually `(batch,)`) to the similarity `T` that replaces it in
the logits. The losses in `keras_expface.losses` call these on the gathered target cosines only,
so a margin costs O(batch) transcendental operations, never O(batch * classes).

All computations run in float32 whatever the input dtype: float16 and bfloat16 cannot represent
`1 - 1e-6`, and the angle of a cosine near +-1 is lost in them.

Angles come from `angle()`, which clamps the cosine to `[-1 + COSINE_EPSILON, 1 - COSINE_EPSILON]`
before `arccos` with a straight-through clamp: the value is clamped, the gradient passes as if it
were not. The derivative of every margin is therefore evaluated at most `COSINE_EPSILON` inside
the interval, where it is finite (e.g. `dT/dcos` of ExpFace, m=0.7, is about 71 at
`cos = 1 - 1e-6`, while at `cos = 1` it is infinite). This moves the forward value of a cosine
within `1e-6` of +-1 by at most about 1e-4 (ExpFace, m=0.7), and no other value.
"""

from __future__ import annotations

import math
import numbers

from keras import ops

#: Distance from +-1 at which cosines are clamped before `arccos`. In float32, `1 - 1e-8`
#: rounds to 1.0 and gives NaN gradients; 1e-6 keeps every derivative finite and moderate.
COSINE_EPSILON = 1e-6


def check_range(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
):
    """Checks that a hyper-parameter lies in an interval and returns it as a float.

    Tensors (for example a margin computed per batch) are returned unchecked: their value is
    unknown inside a compiled graph.

    Args:
        name: The name used in the error message, e.g. `"ExpFace margin"`.
        value: The value to check.
        low: Lower bound. Defaults to `-inf`.
        high: Upper bound. Defaults to `inf`.
        low_open: Whether `low` itself is excluded. Defaults to `False`.
        high_open: Whether `high` itself is excluded. Defaults to `False`.

    Returns:
        `value` as a Python float (or the tensor unchanged).

    Raises:
        ValueError: If `value` is not a finite number inside the interval.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif hasattr(value, "shape"):
        return value
    else:
        raise ValueError(f"{name} must be a number; got {value!r} of type {type(value).__name__}.")
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {left}{low:g}, {high:g}{right}; got {value!r}.")
    return number


def check_expface_margin(margin):
    """ExpFace's exponent `m` lies in `(0, 1]`: `m = 1` is NormFace, `m > 1` a bonus."""
    return check_range("ExpFace margin", margin, 0.0, 1.0, low_open=True)


def check_arcface_margin(margin):
    """ArcFace's additive angle lies in `[0, pi)`."""
    return check_range("ArcFace margin", margin, 0.0, math.pi, high_open=True)


def check_cosface_margin(margin):
    """CosFace's additive cosine margin lies in `[0, 2]` (the range of a cosine)."""
    return check_range("CosFace margin", margin, 0.0, 2.0)


def check_sphereface_margin(margin):
    """SphereFace's angle multiplier lies in `[1, inf)`: `m = 1` is NormFace."""
    return check_range("SphereFace margin", margin, 1.0)


def check_combined_margins(m1, m2, m3):
    """Combined margin: `m1 > 0`, `0 <= m2 < pi`, `0 <= m3 <= 2`."""
    return (
        check_range("Combined margin m1", m1, 0.0, low_open=True),
        check_range("Combined margin m2", m2, 0.0, math.pi, high_open=True),
        check_range("Combined margin m3", m3, 0.0, 2.0),
    )


def angle(cosine):
    """Returns `theta = arccos(cosine)` in float32, safe to differentiate at +-1.

    The cosine is clamped to `[-1 + COSINE_EPSILON, 1 - COSINE_EPSILON]` straight-through:
    the forward value is clamped, the gradient flows as if the clamp were not there.

    Args:
        cosine: Cosines, any shape.

    Returns:
        Angles in `[0, pi]` (strictly inside by the clamp), float32, same shape.

    Example:

    >>> import numpy as np
    >>> float(angle(np.array([0.0], "float32"))[0])  # doctest: +ELLIPSIS
    1.5707963...
    """
    cosine = ops.cast(cosine, "float32")
    bound = 1.0 - COSINE_EPSILON
    clamped = cosine + ops.stop_gradient(ops.clip(cosine, -bound, bound) - cosine)
    return ops.arccos(clamped)


def normface(cosine):
    """NormFace: no margin, `T(theta) = cos(theta)`.

    Args:
        cosine: Target cosines, any shape.

    Returns:
        The cosines as float32.

    Reference: Wang et al., "NormFace: L2 Hypersphere Embedding for Face Verification",
    https://arxiv.org/abs/1704.06369
    """
    return ops.cast(cosine, "float32")


def expface(cosine, margin: float = 0.7):
    """ExpFace: exponential angular margin, `T(theta) = cos(pi * (theta / pi) ** m)`.

    For `0 < m < 1`, `(theta/pi)**m >= theta/pi`, so `T <= cos(theta)`: a penalty that is zero
    at `theta = 0` and `theta = pi` and largest at `theta* = pi * m ** (1 / (1 - m))`
    (54.8 degrees for `m = 0.7`, where the extra angle is 23.5 degrees). `T` is continuous
    and strictly decreasing on `[0, pi]`, unlike ArcFace's `cos(theta + m)`.

    Args:
        cosine: Target cosines, any shape.
        margin: The exponent `m`, in `(0, 1]`. Defaults to `0.7` (the authors' setting for
            CASIA-WebFace and MS1MV3).

    Returns:
        `T(theta)`, float32, same shape as `cosine`.

    Example:

    >>> import numpy as np
    >>> t = expface(np.array([0.7, 0.3], "float32"), margin=0.7)
    >>> [round(float(v), 4) for v in t]
    [0.3614, -0.092]

    Reference: Zheng and Gong, "ExpFace: Exponential Angular Margin Loss for Deep Face
    Recognition", https://arxiv.org/abs/2509.19753
    """
    margin = check_expface_margin(margin)
    theta = angle(cosine)
    return ops.cos(math.pi * ops.power(theta / math.pi, margin))


def arcface(
    cosine,
    margin: float = 0.5,
    easy_margin: bool = False,
    monotonic: bool = False,
):
    """ArcFace: additive angular margin, `T(theta) = cos(theta + m)`.

    The plain form (the default, as insightface's `arcface_torch` computes it today) is not
    monotonic: it rises again for `theta > pi - m`. Two historical variants are available:

    - `easy_margin=True`: `T = cos(theta + m)` if `cos(theta) > 0`, else `cos(theta)`.
    - `monotonic=True` (the "th/mm" fallback): `T = cos(theta + m)` if
      `cos(theta) > cos(pi - m)`, else `cos(theta) - m * sin(pi - m)`. Decreasing, but
      discontinuous at `theta = pi - m`.

    Args:
        cosine: Target cosines, any shape.
        margin: The additive angle `m` in radians, in `[0, pi)`. Defaults to `0.5`.
        easy_margin: Apply the margin only to positive cosines. Defaults to `False`.
        monotonic: Use the th/mm fallback beyond `pi - m`. Defaults to `False`.

    Returns:
        `T(theta)`, float32, same shape as `cosine`.

    Example:

    >>> import numpy as np
    >>> t = arcface(np.array([0.7], "float32"), margin=0.5)
    >>> round(float(t[0]), 5)
    0.27193

    Reference: Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face
    Recognition", https://arxiv.org/abs/1801.07698
    """
    margin = check_arcface_margin(margin)
    if easy_margin and monotonic:
        raise ValueError("ArcFace: choose at most one of `easy_margin` and `monotonic`.")
    cosine = ops.cast(cosine, "float32")
    margined = ops.cos(angle(cosine) + margin)
    if easy_margin:
        return ops.where(cosine > 0.0, margined, cosine)
    if monotonic:
        threshold = math.cos(math.pi - margin)
        return ops.where(cosine > threshold, margined, cosine - margin * math.sin(math.pi - margin))
    return margined


def cosface(cosine, margin: float = 0.35):
    """CosFace (AM-Softmax, LMCL): additive cosine margin, `T(theta) = cos(theta) - m`.

    Args:
        cosine: Target cosines, any shape.
        margin: The cosine margin `m`, in `[0, 2]`. Defaults to `0.35`.

    Returns:
        `T(theta)`, float32, same shape as `cosine`.

    Example:

    >>> import numpy as np
    >>> t = cosface(np.array([0.7], "float32"), margin=0.35)
    >>> round(float(t[0]), 5)
    0.35

    Reference: Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition",
    https://arxiv.org/abs/1801.09414
    """
    margin = check_cosface_margin(margin)
    return ops.cast(cosine, "float32") - margin


def sphereface(cosine, margin: float = 1.7):
    """SphereFace: multiplicative angular margin with the monotonic extension `psi`.

    `T(theta) = psi(theta) = (-1)**k * cos(m * theta) - 2 * k`, `k = floor(m * theta / pi)`,
    for real `m >= 1`. `psi` is continuous and decreasing on `[0, pi]` and reaches
    `(-1)**k cos(m pi) - 2k` at `theta = pi` (-2.588 for `m = 1.7`). This is the normalised
    form of SphereFace-R ("v0") used by the ExpFace authors; the original A-Softmax with
    unnormalised features and lambda annealing is not implemented.

    Args:
        cosine: Target cosines, any shape.
        margin: The angle multiplier `m >= 1`. Defaults to `1.7` (the ExpFace authors'
            SphereFace baseline, with scale 32).

    Returns:
        `T(theta)`, float32, same shape as `cosine`.

    Example:

    >>> import numpy as np
    >>> t = sphereface(np.array([0.7], "float32"), margin=1.7)
    >>> round(float(t[0]), 5)
    0.21688

    Reference: Liu et al., "SphereFace: Deep Hypersphere Embedding for Face Recognition",
    https://arxiv.org/abs/1704.08063; Liu et al., "SphereFace Revived",
    https://arxiv.org/abs/2109.05565
    """
    margin = check_sphereface_margin(margin)
    scaled_theta = margin * angle(cosine)
    # k is piecewise constant: it carries no gradient.
    k = ops.stop_gradient(ops.floor(scaled_theta / math.pi))
    sign = 1.0 - 2.0 * ops.mod(k, 2.0)
    return sign * ops.cos(scaled_theta) - 2.0 * k


def combined(cosine, m1: float = 1.0, m2: float = 0.3, m3: float = 0.2):
    """Combined margin (insightface): `T(theta) = cos(m1 * theta + m2) - m3`.

    Every combination is computed as written (insightface's PyTorch `CombinedMarginLoss`
    silently reduces some of them to CosFace; this function does not). `(1, m, 0)` is
    ArcFace, `(1, 0, m)` CosFace, `(m, 0, 0)` the plain `cos(m theta)` of SphereFace
    without its monotonic extension. Like ArcFace, `T` is not monotonic once
    `m1 * theta + m2 > pi`.

    Args:
        cosine: Target cosines, any shape.
        m1: Angle multiplier, `> 0`. Defaults to `1.0`.
        m2: Additive angle in radians, in `[0, pi)`. Defaults to `0.3`.
        m3: Additive cosine margin, in `[0, 2]`. Defaults to `0.2`.

    Returns:
        `T(theta)`, float32, same shape as `cosine`.

    Example:

    >>> import numpy as np
    >>> t = combined(np.array([0.7], "float32"), m1=1.0, m2=0.3, m3=0.2)
    >>> round(float(t[0]), 4)
    0.2577
    """
    m1, m2, m3 = check_combined_margins(m1, m2, m3)
    return ops.cos(m1 * angle(cosine) + m2) - m3
