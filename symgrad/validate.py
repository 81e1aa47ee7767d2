"""Checks of arguments at the public edge: each wrong value is one SpecError naming the argument.

Python's own errors for a wrong type (``TypeError: SeedSequence expects int``, ``ValueError:
setting an array element with a sequence``, ``OverflowError``) name no argument and suggest no
fix; these helpers turn them into :class:`~symgrad.errors.SpecError` lines that do.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import SpecError

MAX_SEED = 2**63 - 1


def whole(value: Any, name: str, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int in ``low..high``: a Python or NumPy integer, never a bool or a float."""
    if type(value) is int and low <= value and (high is None or value <= high):
        return value  # the common case, without the abstract-class checks below
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(f"{name} must be a whole number, got {_show(value)}")
    number = int(value)
    if number < low or (high is not None and number > high):
        limit = f">= {low:,}" if high is None else f"from {low:,} to {high:,}"
        raise SpecError(f"{name} must be a whole number {limit}, got {number:,}")
    return number


def seed(value: Any, name: str = "seed") -> int:
    """A seed for ``numpy.random.default_rng``: a whole number from 0 to 2**63 - 1."""
    return whole(value, name, 0, MAX_SEED)


def real(value: Any, name: str, *, positive: bool = False, finite: bool = True) -> float:
    """``value`` as a float (Python or NumPy number, never a bool): finite unless ``finite`` is
    False (never NaN); ``positive``: > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{name} must be a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number) or (finite and math.isinf(number)):
        raise SpecError(f"{name} must be a finite number, got {_show(value)}")
    if positive and number <= 0:
        raise SpecError(f"{name} must be a positive number, got {number:g}")
    return number


def flag(value: Any, name: str) -> bool:
    """``value`` as a bool: True or False (NumPy's too), nothing else."""
    if value is True or value is False:
        return value
    if not isinstance(value, bool | np.bool_):
        raise SpecError(f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def array(value: Any, name: str) -> np.ndarray[Any, Any]:
    """``value`` as a NumPy array of numbers: ragged lists and text are refused by name."""
    try:
        arr = value if type(value) is np.ndarray else np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise SpecError(
            f"{name} is not a rectangular array of numbers ({_reason(exc)}); give every row "
            "the same length"
        ) from None
    if arr.dtype.kind not in "biuf":
        what = "complex numbers" if arr.dtype.kind == "c" else f"dtype {arr.dtype}"
        raise SpecError(f"{name} must hold real numbers, got {what}")
    return arr


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'lr'?)`` when ``word`` is close to one of ``choices``, else ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _reason(exc: Exception) -> str:
    text = str(exc).split(".")[0]
    return text[:80]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["array", "flag", "real", "seed", "whole"]
