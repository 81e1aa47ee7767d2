"""Early stopping as data, and the keys of what ``fit`` measures each epoch.

:class:`EarlyStopping` follows Keras's callback of that name: after each epoch it compares the
monitored value (``val_loss`` unless told otherwise) with the best so far; ``patience`` epochs in a
row without an improvement of more than ``min_delta`` end the run, and with ``restore_best`` the
model ends with the weights and optimiser state of its best epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from .. import validate
from ..errors import SpecError

MONITOR_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")
"""What early stopping and ReduceLROnPlateau may watch: the per-epoch figures of a History."""

METRICS = ("accuracy",)
"""The metrics ``fit(..., metrics=[...])`` and ``evaluate`` compute, besides the loss."""


def check_monitor(key: Any, what: str = "monitor") -> str:
    """``key`` when it is one of :data:`MONITOR_KEYS`, else a SpecError naming them."""
    if not isinstance(key, str) or key not in MONITOR_KEYS:
        close = get_close_matches(key, MONITOR_KEYS, n=1) if isinstance(key, str) else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(
            f"{what}: unknown key {key!r}{hint}; the keys are {', '.join(MONITOR_KEYS)}"
        )
    return key


def check_metrics(metrics: Any, what: str = "metrics") -> tuple[str, ...]:
    """``metrics`` (a list of names from :data:`METRICS`) as a tuple; a SpecError otherwise."""
    if metrics is None:
        return ()
    if isinstance(metrics, str) or not isinstance(metrics, list | tuple):
        raise SpecError(f'{what} must be a list of names such as ["accuracy"], got {metrics!r}')
    for name in metrics:
        if name not in METRICS:
            raise SpecError(
                f"{what}: unknown metric {name!r}; the metrics are {', '.join(METRICS)} "
                "(the loss is always recorded)"
            )
    return tuple(dict.fromkeys(metrics))


def maximized(key: str) -> bool:
    """True for a figure that is better larger (an accuracy), False for a loss."""
    return key.endswith("accuracy")


def worst(key: str) -> float:
    """The starting "best so far" of ``key``: infinitely bad."""
    return -math.inf if maximized(key) else math.inf


def improves(key: str, value: float, best: float, threshold: float, mode: str = "abs") -> bool:
    """``value`` beats ``best`` of ``key`` by more than ``threshold``: absolute (``"abs"``, Keras's
    ``min_delta``) or relative (``"rel"``, torch's ReduceLROnPlateau default)."""
    if maximized(key):
        return value > (best * (1 + threshold) if mode == "rel" else best + threshold)
    return value < (best * (1 - threshold) if mode == "rel" else best - threshold)


@dataclass(frozen=True, slots=True)
class EarlyStopping:
    """Stop ``fit`` when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row; ``restore_best``: end with the weights and optimiser state of the best epoch
    (``hist.best_epoch``), as Keras's ``EarlyStopping(restore_best_weights=True)``."""

    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True
    monitor: str = "val_loss"

    def __post_init__(self) -> None:
        owner = "EarlyStopping"
        delta = validate.real(self.min_delta, f"{owner} min_delta")
        if delta < 0:
            raise SpecError(f"{owner} min_delta must be a number >= 0, got {delta:g}")
        object.__setattr__(self, "patience", validate.whole(self.patience, f"{owner} patience"))
        object.__setattr__(self, "min_delta", delta)
        object.__setattr__(
            self, "restore_best", validate.flag(self.restore_best, f"{owner} restore_best")
        )
        object.__setattr__(self, "monitor", check_monitor(self.monitor, f"{owner} monitor"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "restore_best": self.restore_best,
            "monitor": self.monitor,
        }

    def describe(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta!r}, "
            f"restore_best={self.restore_best}, monitor={self.monitor!r})"
        )


def early_stopping_from_dict(data: Any, where: str = "early_stopping") -> EarlyStopping:
    """An EarlyStopping from plain data, ``{"patience": 5}``; a SpecError naming the field."""
    if isinstance(data, EarlyStopping):
        return data
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a table such as {{ patience = 5 }}, got {data!r}")
    known = ("patience", "min_delta", "restore_best", "monitor")
    for key in data:
        if key not in known:
            raise SpecError(
                f"{where}: unknown setting {key!r}; the settings are {', '.join(known)}"
            )
    try:
        return EarlyStopping(**data)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None


__all__ = [
    "METRICS",
    "MONITOR_KEYS",
    "EarlyStopping",
    "check_metrics",
    "check_monitor",
    "early_stopping_from_dict",
    "improves",
    "maximized",
    "worst",
]
