"""A spec's ``[sweep]`` table: the grid of ``symgrad sweep`` and ``sg.sweep(spec, None, ...)``.

::

    [sweep]
    lr = [0.01, 0.03, 0.1]      # any grid key (symgrad.net.grid): the optimiser's values,
    seed = [0, 1, 2]            # batch_size, seed, lam, sizes, width, hidden
    sizes = [[64, 32, 10], [64, 64, 10]]
    metric = "val_loss"         # optional: what ranks the runs (loss, val_loss, accuracy, ...)
    workers = 2                 # optional: a local cluster's processes (default: one per core)

The grid is checked against the spec's network and optimiser when the spec is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from ..net.grid import NETWORK_KEYS, OPTIMIZER_KEYS, RUN_KEYS, check_grid
from ..net.network import Network
from ..net.optim import Optimizer
from ..net.stopping import check_monitor
from .spec_words import show, suggest

OPTIONS = ("metric", "workers")
"""The fields of ``[sweep]`` that are not grid keys."""
FIELDS = (*OPTIMIZER_KEYS, *RUN_KEYS, *NETWORK_KEYS, *OPTIONS)


@dataclass(frozen=True)
class SweepSettings:
    """The ``[sweep]`` table: the grid (empty without one), and its options."""

    grid: dict[str, list[Any]] = field(default_factory=dict)
    metric: str | None = None
    workers: int | None = None


def read_sweep(
    table: dict[str, Any],
    network: Network,
    optimizer: Optimizer,
    fail: Callable[[str, str | None, str], SpecError],
) -> SweepSettings:
    """``[sweep]`` checked; ``fail(section, key, what)`` makes the error naming the field."""
    sec = "sweep"
    for key in table:
        if key not in FIELDS:
            raise fail(
                sec, key,
                f"unknown field{suggest(key, FIELDS)}; [sweep] takes the grid's keys (the "
                f"optimiser's values, {', '.join(RUN_KEYS + NETWORK_KEYS)}) and "
                f"{', '.join(OPTIONS)}",
            )  # fmt: skip
    metric = table.get("metric")
    if metric is not None:
        try:
            metric = check_monitor(metric, "metric")
        except SpecError as exc:
            raise fail(sec, None, str(exc)) from None
    workers = table.get("workers")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise fail(sec, "workers", f"must be a whole number >= 1, got {show(workers)}")
    grid = {k: v for k, v in table.items() if k not in OPTIONS}
    if not grid:
        return SweepSettings({}, metric, workers)
    try:
        checked = check_grid(grid, network, optimizer)
    except SpecError as exc:
        raise fail(sec, None, str(exc)) from None
    return SweepSettings(checked, metric, workers)


__all__ = ["FIELDS", "SweepSettings", "read_sweep"]
