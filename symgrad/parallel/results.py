"""A sweep's results: one row per configuration, the best by a metric, CSV, curves, the best model."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..files import atomic_write
from ..net.grid import show_value
from ..net.stopping import MONITOR_KEYS, check_monitor

LOWER_IS_BETTER = ("loss", "val_loss")
FIGURES = ("loss", "val_loss", "accuracy", "val_accuracy")
"""The per-epoch figures a row reports, final and best, when its runs recorded them."""


def summary(raw: dict[str, Any], index: int) -> dict[str, Any]:
    """A row of the table from what a worker returned (:func:`symgrad.parallel.worker.train_config`)."""
    hist = raw["history"]
    row: dict[str, Any] = {"config": index, **raw["values"], "status": raw["status"]}
    row["epochs"] = len(hist.get("loss", []))
    for key in FIGURES:
        values = hist.get(key)
        if values:
            finite = [v for v in values if math.isfinite(v)]
            best = min if key in LOWER_IS_BETTER else max
            row[key] = values[-1]
            row[f"best_{key}"] = best(finite) if finite else math.nan
    row["seconds"] = raw["seconds"]
    row["compile_seconds"] = raw["compile_seconds"]
    row["worker"] = raw["worker"]
    return row


class SweepResult:
    """The rows of a sweep (one per configuration, in the grid's order), with what came back:
    each run's per-epoch history and final weights.

    ``result.best("val_loss")`` is the best row; ``result.best_model()`` a compiled model with
    its weights; ``result.to_csv(path)`` writes the table; ``result.plot(path)`` the curves.
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        histories: list[dict[str, list[float]]],
        params: list[dict[str, np.ndarray[Any, Any]]],
        plans: list[dict[str, Any]],
        keys: list[str],
        metric: str,
        seconds: float = math.nan,
    ) -> None:
        self.rows, self.histories, self.params, self.plans = rows, histories, params, plans
        self.keys = keys
        self.metric = metric
        self.seconds = seconds  # the sweep's wall-clock time

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def best_index(self, metric: str | None = None) -> int:
        """The row whose run did best by ``metric`` (its best epoch; default: the sweep's)."""
        key = check_monitor(metric if metric is not None else self.metric, "metric")
        column = f"best_{key}"
        scored = [
            (row[column], i)
            for i, row in enumerate(self.rows)
            if row["status"] == "ok" and column in row and math.isfinite(row[column])
        ]
        if not scored:
            known = [k for k in MONITOR_KEYS if any(f"best_{k}" in r for r in self.rows)]
            raise SpecError(
                f"no run of the sweep recorded {key!r} to rank by"
                + (f"; use one of {', '.join(known)}" if known else " (every run failed)")
            )
        return (min if key in LOWER_IS_BETTER else max)(scored)[1]

    def best(self, metric: str | None = None) -> dict[str, Any]:
        """The best row by ``metric`` (``"loss"``, ``"val_loss"``, ``"accuracy"``, ``"val_accuracy"``)."""
        return self.rows[self.best_index(metric)]

    def best_params(self, metric: str | None = None) -> dict[str, np.ndarray[Any, Any]]:
        """The final weights of the best run."""
        return {k: v.copy() for k, v in self.params[self.best_index(metric)].items()}

    def best_model(self, metric: str | None = None) -> Any:
        """A compiled :class:`~symgrad.runtime.model.Model` of the best run's network and
        optimiser, holding its final weights."""
        from .worker import model_of

        i = self.best_index(metric)
        model, _ = model_of(self.plans[i])
        model.set_params(self.params[i])
        return model

    def columns(self) -> list[str]:
        """The table's columns, in order: the grid's keys, then the figures."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def to_csv(self, path: str | Path | None = None) -> str:
        """The table as CSV text; with ``path``, also written there atomically."""
        columns = self.columns()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in self.rows:
            writer.writerow([_cell(row.get(c, ""), exact=True) for c in columns])
        text = buf.getvalue()
        if path is not None:
            atomic_write(path, text)
        return text

    def table(self, limit: int = 20, metric: str | None = None) -> str:
        """A text table of the rows, best first by ``metric``, at most ``limit`` of them."""
        key = metric if metric is not None else self.metric
        column = f"best_{key}"
        sign = 1 if key in LOWER_IS_BETTER else -1
        order = sorted(
            range(len(self.rows)),
            key=lambda i: (
                self.rows[i]["status"] != "ok",
                sign * self.rows[i].get(column, math.inf) if column in self.rows[i] else math.inf,
            ),
        )
        shown = [*self.keys, column, "epochs", "seconds", "status"]
        lines = [list(shown)]
        for i in order[:limit]:
            lines.append([_cell(self.rows[i].get(c, "")) for c in shown])
        widths = [max(len(line[j]) for line in lines) for j in range(len(shown))]
        text = [
            "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
        ]
        if len(order) > limit:
            text.append(f"... and {len(order) - limit} more rows")
        return "\n".join(text)

    def plot(self, path: str | Path | None = None, metric: str | None = None) -> Any:
        """Every run's curve of ``metric`` (default: the sweep's) per epoch, the best one drawn
        bold: a matplotlib Figure; with ``path`` (.png, .pdf, .svg), also written there."""
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise SpecError(
                "the sweep's plot draws with matplotlib, which is not installed: "
                "pip install 'symgrad[plot]'"
            ) from None
        key = check_monitor(metric if metric is not None else self.metric, "metric")
        best = self.best_index(key)
        figure, ax = plt.subplots(figsize=(7, 4.2))
        for i, hist in enumerate(self.histories):
            curve = hist.get(key)
            if not curve:
                continue
            epochs = np.arange(1, len(curve) + 1)
            if i == best:
                continue
            ax.plot(epochs, curve, color="0.6", linewidth=0.8, alpha=0.7)
        curve = self.histories[best][key]
        label = ", ".join(f"{k}={show_value(self.rows[best][k])}" for k in self.keys)
        ax.plot(
            np.arange(1, len(curve) + 1), curve, color="C3", linewidth=2, label=f"best: {label}"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        if key in LOWER_IS_BETTER and all(v > 0 for h in self.histories for v in h.get(key, [1])):
            ax.set_yscale("log")
        ax.set_title(f"{len(self.rows)} configurations")
        ax.legend(loc="best", fontsize=8)
        figure.tight_layout()
        if path is not None:
            buf = io.BytesIO()
            figure.savefig(buf, format=Path(path).suffix.lstrip(".").lower() or "png")
            atomic_write(path, buf.getvalue())
        return figure

    def __repr__(self) -> str:
        if not self.rows:
            return "<SweepResult: no rows>"
        return f"<SweepResult: {len(self.rows)} configurations, by {self.metric}>\n{self.table()}"


def _cell(value: Any, exact: bool = False) -> str:
    """A value as a cell: a float to 6 digits, or every digit (``repr``) when ``exact``."""
    if isinstance(value, float):
        return repr(value) if exact else f"{value:.6g}"
    return show_value(value)


__all__ = ["FIGURES", "SweepResult", "summary"]
