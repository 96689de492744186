"""Strict JSON for the files we write: numpy values converted, non-finite numbers as `null`.

Python's `json` writes `NaN` and `Infinity` by default, which is not JSON: `jq`, JavaScript
and most other readers reject such a file. Every JSON file of a run folder goes through
`dumps`, so a metric that is undefined (say TAR at a FAR below `1 / negatives`) reads `null`.
"""

from __future__ import annotations

import json
import math

import numpy as np


def json_safe(value):
    """`value` with numpy scalars and arrays made Python, and non-finite floats `None`.

    >>> json_safe({"a": np.float32(0.5), "b": [float("nan"), np.arange(2)], 3: np.inf})
    {'a': 0.5, 'b': [None, [0, 1]], '3': None}
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value, indent: int | None = 1) -> str:
    """Strict JSON text of `value` (see `json_safe`); raises `TypeError` for other objects.

    >>> dumps({"tar": float("nan")}, indent=None)
    '{"tar": null}'
    """
    return json.dumps(json_safe(value), indent=indent, allow_nan=False)
