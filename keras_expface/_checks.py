"""Argument checks shared by the layers and models (private)."""

from __future__ import annotations

import numbers


def check_positive_int(owner: str, arg_name: str, value) -> int:
    """Returns `value` if it is a positive int, else raises a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {arg_name} must be a positive integer; got {value!r}.")
    return int(value)
