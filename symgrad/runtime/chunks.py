"""How :meth:`Model.fit` cuts its epochs into calls of the compiled ``train_epochs``.

Many epochs run in one call, so that Python is entered a few times a second, not once per
batch or epoch; the calls are sized from the time of the epochs so far, so that the progress bar
(and Ctrl-C, which waits for the compiled call) still answers.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

IN_ORDER = np.empty((0, 0), np.int64)
"""The ``orders`` of ``train_epochs`` that takes the rows in order (it has no rows)."""
CHUNK_SECONDS = 0.2
"""Aim of one compiled call of ``train_epochs`` in :meth:`Model.fit`: the progress bar (and
Ctrl-C, which waits for the compiled call) answers a few times per second."""
MAX_ORDER_ENTRIES = 1 << 22
"""At most this many row indices of shuffled orders are made for one call (32 MiB)."""


def epochs_per_call(epoch_seconds: float, rows: int) -> int:
    """Epochs for the next call of ``train_epochs``, from the time of one epoch so far.

    The first call of a model runs one epoch (it may include loading or compiling the
    module); later calls aim at :data:`CHUNK_SECONDS`.
    """
    most = max(1, MAX_ORDER_ENTRIES // max(rows, 1))
    if epoch_seconds <= 0:
        return most
    return max(1, min(most, int(CHUNK_SECONDS / epoch_seconds)))


def progress_bar(epochs: int, show: bool, name: str, unit: str = "epoch") -> Any:
    """A tqdm bar of ``epochs`` on standard error, or None when not shown."""
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=epochs, desc=name, unit=unit, file=sys.stderr, leave=True)


__all__ = ["CHUNK_SECONDS", "IN_ORDER", "MAX_ORDER_ENTRIES", "epochs_per_call", "progress_bar"]
