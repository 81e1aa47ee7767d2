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


def loss_plot(curves: dict[str, list[float]], title: str, suffix: str) -> bytes:
    buf = io.BytesIO()
    loss_figure(curves, title).savefig(buf, format=suffix.lstrip(".").replace("jpg", "jpeg"))
    return buf.getvalue()


def loss_figure(curves: dict[str, list[float]], title: str) -> Any:
    """The loss curves as a matplotlib Figure."""
    import textwrap

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, loss in curves.items():
        ax.plot(range(1, len(loss) + 1), loss, label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.set_ylabel("mean cost")
    ax.set_yscale("log" if min(min(v) for v in curves.values()) > 0 else "linear")
    ax.legend()
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)  # a long title on two lines
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
