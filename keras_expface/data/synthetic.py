"""Built-in generated identity dataset: procedurally drawn faces, numpy only.

`make_synthetic_faces` draws cartoon faces whose *identity* is a fixed set of traits (face
width, height and chin taper, eye spacing, size and height, brow shape, nose length and width,
mouth width and lips, skin, hair and iris tones, hair line and volume, glasses, beard, a mole)
and whose every *image* adds nuisance: pose (in-plane rotation, translation, scale, a yaw-like
horizontal squash that shifts the features), lighting (brightness, directional gradient,
contrast, colour cast), expression (smile, eye openness, brow raise, gaze), background, an
occluding patch or bar, blur and pixel noise. Shapes are signed-distance fields with edges
anti-aliased over one pixel, and every image of a call is rendered at once (vectorised over
the batch), so 2000 images of 64 x 64 take 3 to 5 s on one (shared) core.

Everything is reproducible from `seed`: the traits of identity `i` depend only on
`(seed, i)` (asking for more identities, or starting at another `first_identity`, never
changes an identity already drawn), and image `j` of identity `i` only on `(seed, i, j)`
(and the image size). Identities `first_identity .. first_identity + num_identities - 1`
are drawn, so disjoint ranges give disjoint people: held-out verification identities, or
outsiders for Type-I label noise (`keras_expface.data.label_noise`).

Calibration of the defaults (`nuisance=1.0`, 64 x 64 RGB; `KERAS_BACKEND=jax`, 2 CPU cores
shared with other jobs): the small CNN of `examples/train_orl.py` (32-64-128 conv stages,
128-d embedding, `CosineHead` + `ExpFaceLoss`, AdamW 1e-3 with cosine decay, batch 64) was
trained on the default 150 identities x 10 images for 10 epochs (230 s, about 20 s an epoch;
training accuracy 0.998) and verified on the 2250 positive and 2250 negative pairs of 50
other identities (`first_identity=150`, 10 images each, `pairs_from_labels`, 10 folds):
accuracy 0.623 untrained, 0.854 +- 0.021 trained. With `nuisance=1 / 1.3` (about 0.77) and
15 epochs the same run gave 0.674 and 0.923. Raise `nuisance` for harder data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from keras_expface.data.face_source import FaceDataset

__all__ = ["make_synthetic_faces", "synthetic_identity_name"]

# Number of uniform draws behind one identity's traits and one image's nuisance. Fixed, so
# that the streams never depend on the options of a call.
_NUM_IDENTITY_DRAWS = 48
_NUM_IMAGE_DRAWS = 40
# Domain tags of the seed sequences: identity traits and image nuisances never share a stream.
_IDENTITY_TAG, _IMAGE_TAG = 0x1D, 0x1A
# The amplitudes below times this gain are those of `nuisance=1`: the calibrated default.
_NUISANCE_GAIN = 1.3
_CHUNK = 32  # images rendered at once (small canvases stay in cache: fastest)

_SKIN_LIGHT = np.array([0.96, 0.80, 0.69], np.float32)
_SKIN_DARK = np.array([0.33, 0.21, 0.14], np.float32)
_HAIR_PALETTE = np.array(
    [
        [0.06, 0.05, 0.05],  # black
        [0.28, 0.17, 0.09],  # dark brown
        [0.52, 0.35, 0.18],  # light brown
        [0.86, 0.72, 0.42],  # blond
        [0.60, 0.24, 0.09],  # red
        [0.72, 0.72, 0.72],  # grey
    ],
    np.float32,
)
_IRIS_PALETTE = np.array(
    [[0.25, 0.14, 0.06], [0.12, 0.30, 0.55], [0.22, 0.42, 0.22], [0.40, 0.40, 0.42]], np.float32
)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def synthetic_identity_name(identity: int) -> str:
    """The class name of generated identity `identity`: `"id00007"` for 7.

    Example:

    >>> synthetic_identity_name(7)
    'id00007'
    """
    return f"id{identity:05d}"


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _uniforms(seed: int, tag: int, keys: Sequence[tuple[int, ...]], count: int) -> np.ndarray:
    """`(len(keys), count)` uniforms in [0, 1), row k from its own stream `(seed, tag, *key)`."""
    out = np.empty((len(keys), count), np.float64)
    for row, key in enumerate(keys):
        out[row] = np.random.default_rng([seed, tag, *key]).random(count)
    return out


def _identity_traits(u: np.ndarray) -> dict[str, np.ndarray]:
    """Maps `(I, _NUM_IDENTITY_DRAWS)` uniforms to each identity's fixed traits."""

    def span(k, low, high):
        return (low + (high - low) * u[:, k]).astype(np.float32)

    skin_t = u[:, 20] ** 1.3  # more light than dark tones, all represented
    skin = _SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * skin_t[:, None].astype(np.float32)
    skin = skin * (1 + 0.08 * (u[:, 21:24] - 0.5)).astype(np.float32)
    hair = _HAIR_PALETTE[np.minimum((u[:, 24] * len(_HAIR_PALETTE)).astype(int), 5)]
    hair = hair * (0.75 + 0.5 * u[:, 25:26]).astype(np.float32)
    iris = _IRIS_PALETTE[np.minimum((u[:, 26] * len(_IRIS_PALETTE)).astype(int), 3)]
    lips = skin * np.array([0.85, 0.55, 0.55], np.float32) * span(27, 0.8, 1.05)[:, None]
    return {
        "face_w": span(0, 0.48, 0.68),
        "face_h": span(1, 0.66, 0.86),
        "chin": span(2, 0.0, 0.45),  # taper of the lower face
        "face_y": span(3, -0.02, 0.08),
        "eye_dx": span(4, 0.17, 0.29),
        "eye_y": span(5, -0.16, 0.0),
        "eye_w": span(6, 0.07, 0.12),
        "eye_h": span(7, 0.035, 0.065),
        "brow_gap": span(8, 0.07, 0.14),
        "brow_len": span(9, 0.08, 0.15),
        "brow_th": span(10, 0.012, 0.035),
        "brow_tilt": span(11, -0.35, 0.35),
        "nose_y": span(12, 0.08, 0.2),
        "nose_len": span(13, 0.07, 0.16),
        "nose_w": span(14, 0.035, 0.08),
        "mouth_y": span(15, 0.3, 0.44),
        "mouth_w": span(16, 0.1, 0.22),
        "mouth_h": span(17, 0.014, 0.04),
        "hairline": span(18, -0.62, -0.32),
        "hair_volume": span(19, 1.02, 1.3),
        "hair_long": span(28, 0.0, 1.0),  # how far the hair falls behind the face
        "hair_part": span(29, -0.3, 0.3),
        "hairline_curve": span(30, -0.2, 0.5),
        "skin": skin.astype(np.float32),
        "hair": hair.astype(np.float32),
        "iris": iris.astype(np.float32),
        "lips": lips.astype(np.float32),
        "glasses": (u[:, 31] < 0.2).astype(np.float32),
        "glasses_r": span(32, 0.1, 0.14),
        "beard": (u[:, 33] < 0.25).astype(np.float32) * span(34, 0.45, 0.85),
        "beard_top": span(35, 0.18, 0.34),
        "mole": (u[:, 36] < 0.4).astype(np.float32),
        "mole_u": span(37, -0.35, 0.35),
        "mole_v": span(38, -0.05, 0.35),
        "ear_h": span(39, 0.09, 0.15),
    }


def _image_nuisance(u: np.ndarray, nuisance: float) -> dict[str, np.ndarray]:
    """Maps `(B, _NUM_IMAGE_DRAWS)` uniforms to each image's nuisance, amplitudes x nuisance."""
    n = np.float32(nuisance * _NUISANCE_GAIN)

    def sym(k, amplitude):  # uniform in [-amplitude, amplitude] * nuisance
        return (n * amplitude * (2 * u[:, k] - 1)).astype(np.float32)

    def unit(k):
        return u[:, k].astype(np.float32)

    occluded = unit(14) < min(1.0, 0.3 * float(n))
    blurred = unit(19) < min(1.0, 0.5 * float(n))
    return {
        "angle": sym(0, math.radians(12)),
        "shift_x": sym(1, 0.1),
        "shift_y": sym(2, 0.1),
        "scale": 1 + sym(3, 0.1),
        "yaw": sym(4, 0.35),
        "brightness": 1 + sym(5, 0.25),
        "gradient": (n * 0.4 * unit(6)).astype(np.float32),
        "light_angle": (2 * np.pi * unit(7)).astype(np.float32),
        "contrast": 1 + sym(8, 0.25),
        "cast": np.stack([sym(9, 0.06), sym(10, 0.06), sym(11, 0.06)], axis=1),
        "smile": sym(12, 0.6),
        "openness": np.clip(1 - n * 0.7 * unit(13) ** 2, 0.1, 1).astype(np.float32),
        "occluded": occluded.astype(np.float32),
        "occ_x": (2 * unit(15) - 1) * 0.8,
        "occ_y": (2 * unit(16) - 1) * 0.8,
        "occ_w": 0.12 + 0.5 * unit(17) ** 2,
        "occ_h": 0.12 + 0.5 * unit(18) ** 2,
        "occ_color": u[:, 20:23].astype(np.float32),
        "blur": blurred.astype(np.float32) * np.clip(n * unit(23), 0, 1),
        "noise": (n * (0.01 + 0.035 * unit(24))).astype(np.float32),
        "brow_raise": sym(25, 0.035),
        "gaze": sym(26, 0.4),
        "background": (0.55 + min(1.0, nuisance) * (0.75 * u[:, 27:30] - 0.4)).astype(np.float32),
        "bg_gradient": sym(30, 0.25),
        "bg_tint": sym(31, 1.0),
    }


def _ellipse_sdf(u, v, cu, cv, a, b):
    """Approximate signed distance to the ellipse of centre (cu, cv) and half-axes (a, b)."""
    du, dv = (u - cu) / a, (v - cv) / b
    f = np.sqrt(du * du + dv * dv)
    grad = np.sqrt((du / a) ** 2 + (dv / b) ** 2) + 1e-6
    return (f - 1) * f / grad


def _coverage(sdf, pixel):
    """Anti-aliased coverage of the region `sdf < 0`, edges one `pixel` wide."""
    return np.clip(0.5 - sdf / pixel, 0.0, 1.0)


def _paint(canvas, mask, color):
    """`canvas` (B, H, W, 3) with `color` ((B, 3) or (3,)) laid over it with alpha `mask`."""
    color = np.asarray(color, np.float32).reshape(-1, 1, 1, 3)
    canvas += mask[..., None] * (color - canvas)


def _render(tr: dict, nz: dict, height: int, width: int, noise: np.ndarray) -> np.ndarray:
    """Renders B faces as float32 `(B, H, W, 3)` in [0, 1]; `tr`/`nz` hold (B,) params."""

    def p(d, k):  # a (B,) parameter broadcast against (B, H, W)
        return d[k][:, None, None]

    unit = 2.0 / min(height, width)
    x = ((np.arange(width, dtype=np.float32) + 0.5 - width / 2) * unit)[None, None, :]
    y = ((np.arange(height, dtype=np.float32) + 0.5 - height / 2) * unit)[None, :, None]

    # Pose: image (x, y) -> face (u, v); y and v point down.
    cos, sin = np.cos(p(nz, "angle")), np.sin(p(nz, "angle"))
    scale = p(nz, "scale")
    xs, ys = x - p(nz, "shift_x"), y - p(nz, "shift_y")
    u = (cos * xs + sin * ys) / scale
    v = (-sin * xs + cos * ys) / scale - p(tr, "face_y")
    yaw = p(nz, "yaw")
    u = u / (1 - 0.25 * np.abs(yaw))  # the head narrows as it turns
    fu = u - 0.12 * yaw * np.sqrt(np.clip(1 - (v / 0.9) ** 2, 0, 1))  # features shift with it
    pixel = unit / scale / (1 - 0.25 * np.abs(yaw))

    batch = len(nz["angle"])
    # Background: a tinted vertical gradient.
    bg = nz["background"][:, None, None, :]
    tint = np.array([0.9, 1.0, 1.1], np.float32) ** p(nz, "bg_tint")[..., None]
    canvas = np.broadcast_to(bg * tint, (batch, height, width, 3)).copy()
    canvas *= 1 + p(nz, "bg_gradient")[..., None] * y[..., None]

    fw, fh, skin, hair = p(tr, "face_w"), p(tr, "face_h"), tr["skin"], tr["hair"]
    # Hair behind the head (long hair falls to the shoulders).
    hair_v = p(tr, "hair_volume")
    long = p(tr, "hair_long")
    hair_back = np.maximum(
        _ellipse_sdf(u, v, 0, -0.05 + 0.2 * long, fw * hair_v, fh * (hair_v + 0.3 * long)),
        v - (0.05 + 0.7 * long),
    )
    _paint(canvas, _coverage(hair_back, pixel), hair * 0.85)
    # Neck and ears.
    neck = np.maximum(np.abs(u) - 0.55 * fw, 0.5 * fh - v)
    _paint(canvas, _coverage(neck, pixel), skin * 0.82)
    ear_y = p(tr, "eye_y") + 0.05
    for side in (-1, 1):
        ear = _ellipse_sdf(u, v, side * fw * 0.98, ear_y, 0.06, p(tr, "ear_h"))
        _paint(canvas, _coverage(ear, pixel), skin * 0.9)
    # Face: an ellipse whose lower half tapers towards the chin.
    taper = 1 - p(tr, "chin") * np.clip(v / fh, 0, 1) ** 2
    face = _ellipse_sdf(u / taper, v, 0, 0, fw, fh)
    face_mask = _coverage(face, pixel)
    _paint(canvas, face_mask, skin)
    # Beard-like shadow of the lower face.
    beard = np.maximum(face, p(tr, "beard_top") - v)
    _paint(canvas, _coverage(beard, pixel) * p(tr, "beard"), hair * 0.7)
    # Hair on top: inside the hair volume and above a curved, parted hair line.
    line = p(tr, "hairline") + p(tr, "hairline_curve") * u * u + p(tr, "hair_part") * u * 0.3
    fringe = np.maximum(_ellipse_sdf(u, v, 0, -0.04, fw * hair_v, fh * hair_v), v - line)
    _paint(canvas, _coverage(fringe, pixel), hair)
    # Eyes (sclera, iris clipped to it) and brows.
    eye_dx, eye_y = p(tr, "eye_dx"), p(tr, "eye_y")
    eye_w, eye_h = p(tr, "eye_w"), p(tr, "eye_h") * p(nz, "openness")
    brow_y = eye_y - p(tr, "brow_gap") - p(nz, "brow_raise")
    for side in (-1, 1):
        sclera = _ellipse_sdf(fu, v, side * eye_dx, eye_y, eye_w, eye_h)
        _paint(canvas, _coverage(sclera, pixel), (0.93, 0.92, 0.9))
        iris_u = side * eye_dx + p(nz, "gaze") * eye_w * 0.5
        iris_r = p(tr, "eye_h") * 0.85
        iris = np.maximum(_ellipse_sdf(fu, v, iris_u, eye_y, iris_r, iris_r), sclera)
        _paint(canvas, _coverage(iris, pixel), tr["iris"])
        pupil = np.maximum(_ellipse_sdf(fu, v, iris_u, eye_y, iris_r * 0.45, iris_r * 0.45), sclera)
        _paint(canvas, _coverage(pupil, pixel), (0.03, 0.03, 0.03))
        tilt = p(tr, "brow_tilt") * side
        bu, bv = fu - side * eye_dx, v - brow_y
        along, across = (
            bu * np.cos(tilt) + bv * np.sin(tilt),
            -bu * np.sin(tilt) + bv * np.cos(tilt),
        )
        brow = _ellipse_sdf(along, across, 0, 0, p(tr, "brow_len"), p(tr, "brow_th"))
        _paint(canvas, _coverage(brow, pixel), hair * 0.8)
    # Nose: a shaded ridge and two nostrils.
    nose_y, nose_len, nose_w = p(tr, "nose_y"), p(tr, "nose_len"), p(tr, "nose_w")
    ridge = _ellipse_sdf(fu, v, 0, nose_y - 0.3 * nose_len, nose_w * 0.6, nose_len)
    _paint(canvas, _coverage(ridge, pixel) * 0.3, skin * 0.6)
    for side in (-1, 1):
        nostril = _ellipse_sdf(fu, v, side * nose_w * 0.6, nose_y + 0.6 * nose_len, 0.025, 0.014)
        _paint(canvas, _coverage(nostril, pixel) * 0.85, skin * 0.35)
    # Mouth: a band along a parabola; the smile lifts the corners.
    mouth_w, mouth_h = p(tr, "mouth_w"), p(tr, "mouth_h")
    t = np.clip(fu / mouth_w, -1, 1)
    centre = p(tr, "mouth_y") - p(nz, "smile") * 0.08 * (t * t - 0.35)
    mouth = np.maximum(np.abs(fu) - mouth_w, np.abs(v - centre) - mouth_h * (1 - 0.6 * t * t))
    _paint(canvas, _coverage(mouth, pixel), tr["lips"])
    # Glasses: two rings and a bridge.
    ring_r = p(tr, "glasses_r")
    glasses = np.abs(_ellipse_sdf(fu, v, -eye_dx, eye_y, ring_r, ring_r * 0.8)) - 0.012
    glasses = np.minimum(
        glasses, np.abs(_ellipse_sdf(fu, v, eye_dx, eye_y, ring_r, ring_r * 0.8)) - 0.012
    )
    bridge = np.maximum(np.abs(fu) - (eye_dx - ring_r), np.abs(v - eye_y + 0.02) - 0.01)
    glasses = np.minimum(glasses, bridge)
    _paint(canvas, _coverage(glasses, pixel) * p(tr, "glasses"), (0.08, 0.08, 0.1))
    # A mole.
    mole = _ellipse_sdf(fu, v, p(tr, "mole_u") * fw, p(tr, "mole_v"), 0.022, 0.022)
    _paint(canvas, _coverage(mole, pixel) * p(tr, "mole") * face_mask, skin * 0.4)

    # Lighting: brightness x directional gradient, contrast, colour cast.
    direction = np.cos(p(nz, "light_angle")) * x + np.sin(p(nz, "light_angle")) * y
    gain = p(nz, "brightness") * (1 + p(nz, "gradient") * direction)
    canvas *= gain[..., None]
    canvas = 0.5 + p(nz, "contrast")[..., None] * (canvas - 0.5)
    canvas += nz["cast"][:, None, None, :]
    # Occlusion: a patch or bar of a flat colour, placed in the image.
    occ = np.maximum(
        np.abs(x - p(nz, "occ_x")) - p(nz, "occ_w"), np.abs(y - p(nz, "occ_y")) - p(nz, "occ_h")
    )
    _paint(canvas, _coverage(occ, unit) * p(nz, "occluded"), nz["occ_color"])
    # Blur (a 3 x 3 box mixed in) and pixel noise.
    padded = np.pad(canvas, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    box = sum(
        padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)
    ) / np.float32(9)
    blur = p(nz, "blur")[..., None]
    canvas += blur * (box - canvas)
    canvas += noise * p(nz, "noise")[..., None]
    return canvas


def make_synthetic_faces(
    num_identities: int = 150,
    images_per_identity: int = 10,
    image_size: Sequence[int] = (64, 64),
    color_mode: str = "rgb",
    seed: int = 0,
    nuisance: float = 1.0,
    first_identity: int = 0,
) -> FaceDataset:
    """Procedurally drawn faces of `num_identities` people, `images_per_identity` each.

    Identity `i` (for `i` in `first_identity .. first_identity + num_identities - 1`) is a
    fixed set of traits drawn from `(seed, i)` alone; image `j` of it adds pose, lighting,
    expression, background, occlusion, blur and noise drawn from `(seed, i, j)` alone. So a
    call with more identities extends a smaller one, and disjoint identity ranges are
    different people (use `first_identity` for held-out or outsider identities). See the
    module docstring for the calibration of the defaults (the built-in dataset of
    `keras-expface train`).

    Args:
        num_identities: Number of people. Defaults to `150`.
        images_per_identity: Images of each. Defaults to `10`.
        image_size: `(height, width)` in pixels, each at least 8. Defaults to `(64, 64)`.
        color_mode: `"rgb"` (3 channels) or `"grayscale"` (1, the luminance of the rgb
            image). Defaults to `"rgb"`.
        seed: Non-negative integer seed of the whole population. Defaults to `0`.
        nuisance: Scale of every nuisance amplitude: `0` draws each identity's canonical
            face (no pose, lighting, expression, occlusion or noise), `1` the calibrated
            default, larger values harder data. Defaults to `1.0`.
        first_identity: Index of the first identity drawn. Defaults to `0`.

    Returns:
        A `FaceDataset`: images `(N, height, width, channels)` uint8 grouped by identity
        (`N = num_identities * images_per_identity`), labels `0 .. num_identities - 1`,
        class names `"id00007"` (the identity index, `synthetic_identity_name`), paths
        `"synthetic/id00007/003"` (image 3 of identity 7).

    Raises:
        ValueError: If a count, the seed or `first_identity` is not a suitable integer,
            `image_size` is not two integers >= 8, `color_mode` is unknown, or `nuisance`
            is negative or not finite.

    Example:

    >>> faces = make_synthetic_faces(num_identities=3, images_per_identity=2, image_size=(32, 32))
    >>> faces.images.shape, faces.labels.tolist(), faces.class_names[2], faces.paths[1]
    ((6, 32, 32, 3), [0, 0, 1, 1, 2, 2], 'id00002', 'synthetic/id00000/001')
    >>> held_out = make_synthetic_faces(2, 2, (32, 32), first_identity=3)
    >>> held_out.class_names
    ('id00003', 'id00004')
    """
    num_identities = _check_int("num_identities", num_identities, 1)
    images_per_identity = _check_int("images_per_identity", images_per_identity, 1)
    seed = _check_int("seed", seed, 0)
    first_identity = _check_int("first_identity", first_identity, 0)
    try:
        height, width = (int(s) for s in image_size)
        if height < 8 or width < 8 or (height, width) != tuple(image_size):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            f"image_size must be (height, width), two integers >= 8; got {image_size!r}."
        ) from None
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale'; got {color_mode!r}.")
    if (
        isinstance(nuisance, bool)
        or not isinstance(nuisance, numbers.Real)
        or not math.isfinite(nuisance)
        or nuisance < 0
    ):
        raise ValueError(f"nuisance must be a finite number >= 0; got {nuisance!r}.")

    identities = range(first_identity, first_identity + num_identities)
    traits = _identity_traits(
        _uniforms(seed, _IDENTITY_TAG, [(i,) for i in identities], _NUM_IDENTITY_DRAWS)
    )
    keys = [(i, j) for i in identities for j in range(images_per_identity)]
    owner = np.repeat(np.arange(num_identities), images_per_identity)
    channels = 3 if color_mode == "rgb" else 1
    images = np.empty((len(keys), height, width, channels), np.uint8)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        draws = np.empty((len(chunk), _NUM_IMAGE_DRAWS), np.float64)
        noise = np.empty((len(chunk), height, width, 3), np.float32)
        for row, key in enumerate(chunk):
            rng = np.random.default_rng([seed, _IMAGE_TAG, *key])
            draws[row] = rng.random(_NUM_IMAGE_DRAWS)
            noise[row] = rng.standard_normal((height, width, 3), dtype=np.float32)
        chunk_traits = {k: t[owner[start : start + len(chunk)]] for k, t in traits.items()}
        canvas = _render(chunk_traits, _image_nuisance(draws, nuisance), height, width, noise)
        canvas = np.clip(canvas, 0, 1)
        if channels == 1:
            canvas = (canvas @ _LUMA)[..., None]
        images[start : start + len(chunk)] = np.round(canvas * 255)
    class_names = tuple(synthetic_identity_name(i) for i in identities)
    paths = tuple(f"synthetic/{synthetic_identity_name(i)}/{j:03d}" for i, j in keys)
    return FaceDataset(images, owner.astype(np.int32), class_names, paths)
