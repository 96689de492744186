"""Independent float64 references: the papers' formulas, written per sample in plain Python."""

import math

import numpy as np

from keras_expface.margins import COSINE_EPSILON as EPS


def reference_theta(c):
    return math.acos(min(max(float(c), -1.0 + EPS), 1.0 - EPS))


def ref_expface(c, margin):
    m = margin
    return math.cos(math.pi * (reference_theta(c) / math.pi) ** m)


def ref_arcface(c, margin, easy_margin=False, monotonic=False):
    m = margin
    raw = math.cos(reference_theta(c) + m)
    if easy_margin:
        return raw if c > 0 else float(c)
    if monotonic:
        return raw if c > math.cos(math.pi - m) else float(c) - math.sin(math.pi - m) * m
    return raw


def ref_sphereface(c, margin):
    m = margin
    theta = reference_theta(c)
    k = math.floor(m * theta / math.pi)
    return (-1) ** k * math.cos(m * theta) - 2 * k


def ref_combined(c, m1, m2, m3):
    return math.cos(m1 * reference_theta(c) + m2) - m3


def reference(function, cosines, **kwargs):
    return np.array([function(c, **kwargs) for c in cosines])


def analytic_dexpface(c, m):
    """dT/dcos of ExpFace: m (theta/pi)^(m-1) sin(pi (theta/pi)^m) / sin(theta)."""
    theta = math.acos(c)
    return (
        m
        * (theta / math.pi) ** (m - 1)
        * math.sin(math.pi * (theta / math.pi) ** m)
        / math.sin(theta)
    )


def ref_margin_softmax_losses(cosines, labels, target_similarity, scale):
    """Per-sample cross-entropy with the target logit replaced; label -1 gives 0."""
    losses = []
    for row, label in zip(np.asarray(cosines, "float64"), labels, strict=True):
        if label == -1:
            losses.append(0.0)
            continue
        logits = scale * row
        if target_similarity is not None:
            logits[label] = scale * target_similarity(row[label])
        top = logits.max()
        losses.append(top + math.log(np.exp(logits - top).sum()) - logits[label])
    return np.array(losses)


def ref_softmax(cosines, labels, target_similarity, scale):
    """Softmax of the margined logits, row by row."""
    probabilities = []
    for row, label in zip(np.asarray(cosines, "float64"), labels, strict=True):
        logits = scale * row
        if target_similarity is not None and label >= 0:
            logits[label] = scale * target_similarity(row[label])
        exp = np.exp(logits - logits.max())
        probabilities.append(exp / exp.sum())
    return np.array(probabilities)
