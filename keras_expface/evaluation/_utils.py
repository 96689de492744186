"""Helpers shared by the evaluation modules: argument checks, optional imports."""

from __future__ import annotations

import importlib
import numbers

import numpy as np


def check_count(name: str, value, minimum: int = 1) -> int:
    """Returns `value` as an int; raises a ValueError naming `name` unless it is one >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def import_optional(module: str, extra: str = "evaluation"):
    """Imports an optional dependency, or raises an ImportError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"This needs {module.split('.')[0]} (not installed): "
            f"pip install 'keras-expface[{extra}]'."
        ) from error


def as_bool_array(values, what: str) -> np.ndarray:
    """`values` as a bool array; raises a ValueError naming `what` unless they are bools or 0/1."""
    array = np.asarray(values)
    if array.dtype != bool and not (
        np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()
    ):
        raise ValueError(f"{what} must hold booleans (or 0/1).")
    return array.astype(bool)
