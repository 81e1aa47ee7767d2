"""The loss curves of ``symgrad train --plot``, drawn with matplotlib (an optional extra)."""

from __future__ import annotations

import io
from typing import Any

from ..errors import SpecError


def need_matplotlib(option: str) -> None:
    """Before any work: ``option`` draws with matplotlib, which is an optional extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SpecError(
            f"{option} draws with matplotlib, which is not installed: pip install 'symgrad[plot]' "
            "(or pip install matplotlib)"
        ) from None


def loss_plot(history: Any, title: str, suffix: str) -> bytes:
    """The loss curves of a :class:`~symgrad.runtime.history.History`, training beside
    validation, and beside them the accuracy curves when it has them, as an image file's bytes."""
    curves = {"training cost (mean over each epoch)": list(history.loss)}
    if history.val_loss:
        curves["validation cost (after each epoch)"] = list(history.val_loss)
    metrics = {}
    if history.accuracy:
        metrics["training accuracy"] = list(history.accuracy)
    if history.val_accuracy:
        metrics["validation accuracy"] = list(history.val_accuracy)
    buf = io.BytesIO()
    figure = loss_figure(curves, title, metrics)
    figure.savefig(buf, format=suffix.lstrip(".").replace("jpg", "jpeg"))
    return buf.getvalue()


def loss_figure(
    curves: dict[str, list[float]], title: str, metrics: dict[str, list[float]] | None = None
) -> Any:
    """The loss curves as a matplotlib Figure; with ``metrics``, a second panel of them."""
    import textwrap

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = Figure(figsize=(10, 4) if metrics else (6, 4))
    ax = fig.add_subplot(1, 2 if metrics else 1, 1)
    for label, loss in curves.items():
        ax.plot(range(1, len(loss) + 1), loss, label=label)
    ax.set_ylabel("mean cost")
    ax.set_yscale("log" if min(min(v) for v in curves.values()) > 0 else "linear")
    axes = [ax]
    if metrics:
        right = fig.add_subplot(1, 2, 2)
        for label, values in metrics.items():
            right.plot(range(1, len(values) + 1), values, label=label)
        right.set_ylabel("accuracy")
        right.yaxis.set_major_formatter(PercentFormatter(1.0))
        axes.append(right)
    for each in axes:
        each.set_xlabel("epoch")
        each.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        each.legend()
        each.grid(True, alpha=0.3)
    fig.suptitle("\n".join(textwrap.wrap(title, 60 if not metrics else 100)), fontsize=10)
    fig.tight_layout()
    return fig
