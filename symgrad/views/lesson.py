"""A lesson: a few steps of gradient descent, each shown forward, backward and as its update.

:func:`lesson` trains a network by plain gradient descent, ``w <- w - lr dC/dw``, on **one
example per step** (the step-th row of the data, cycling), with the NumPy reference of
:mod:`symgrad.verify.numeric` (forward, gradients, cost). Each step's computation graph
(:func:`~symgrad.views.graph.graph`, unit by unit) gives the local derivative of every edge at
that step's example. The frames of the page are built here, as data: the forward pass node by
node, the backward pass edge by edge (each edge's local derivative and the running ``dC/dnode``),
the update of each parameter entry; :mod:`.lesson_page` writes them as one HTML file whose small
script only shows them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import validate
from ..errors import SpecError
from ..files import atomic_write
from ..net.network import Network
from ..verify import numeric
from .graph import MAX_UNIT_NODES, graph, unit_nodes
from .lesson_frames import Frame, step_frames
from .lesson_page import draw_graph, param_labels
from .numbers import Array, check_params

MAX_ROWS = 300
"""A data set of more rows is sampled (seeded) down to this many for the lesson."""
MAX_STEPS = 100
"""The most training steps one lesson shows."""
GRID = 24
"""The decision boundary's grid: GRID x GRID predictions per step, for networks of 2 inputs."""


@dataclass(frozen=True)
class TrainingStep:
    """One step of gradient descent on the example ``row`` of the lesson's data: the parameters
    before and after it, the gradient of that example's cost, its cost before and after the
    update, and the mean cost over the lesson's rows after it."""

    row: int
    x: Array
    y: Array
    before: dict[str, Array]
    grads: dict[str, Array]
    after: dict[str, Array]
    cost: float
    cost_after: float
    data_cost: float


@dataclass(frozen=True)
class Lesson:
    """A few steps of gradient descent, ready to be shown (:func:`lesson`)."""

    net: Network
    X: Array
    Y: Array
    lr: float
    seed: int
    steps: tuple[TrainingStep, ...]
    start_cost: float
    frames: tuple[Frame, ...]
    graph_svg: str = field(repr=False)
    param_labels: dict[tuple[str, tuple[int, ...]], str] = field(repr=False)
    grids: tuple[Array, ...] | None = field(default=None, repr=False)
    bounds: tuple[float, float, float, float] | None = None
    notes: tuple[str, ...] = ()

    @property
    def costs(self) -> list[float]:
        """The mean cost over the lesson's rows before the first step and after each one."""
        return [self.start_cost, *(s.data_cost for s in self.steps)]

    def to_html(self) -> str:
        """One self-contained page: inline SVG, an inline script, no external file."""
        from .lesson_page import to_html

        return to_html(self)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_html` to ``path`` atomically."""
        atomic_write(path, self.to_html().encode("utf-8"))

    def _repr_html_(self) -> str:
        return self.to_html()


def lesson(
    net: Network,
    X: Any,
    Y: Any,
    params: dict[str, Any] | None = None,
    steps: int = 5,
    lr: float = 0.1,
    seed: int = 0,
) -> Lesson:
    """``steps`` steps of plain gradient descent on ``net``, one example per step.

    Step ``t`` (from 0) takes row ``t mod n`` of the data and updates every parameter by
    ``w <- w - lr dC_x/dw``, the gradient of that one example's cost (not of a batch mean).

    Args:
        net: the network (unit by unit: at most a few dozen nodes draw well).
        X: inputs, shape ``(n, n_in)``.
        Y: targets, shape ``(n, n_out)``, or class labels of shape ``(n,)``.
        params: the initial parameters ``{"W1": array, ...}`` (default: random from ``seed``,
            as :func:`~symgrad.views.graph.graph` takes them).
        steps: training steps to show, 1..:data:`MAX_STEPS`.
        lr: the learning rate.
        seed: the random parameters' seed, and the sample of a data set of more than
            :data:`MAX_ROWS` rows (the lesson then says so in :attr:`Lesson.notes`).
    """
    if not isinstance(net, Network):
        raise SpecError(f"lesson() takes a Network, got {type(net).__name__}")
    if any(layer.dropout for layer in net.layers):
        raise SpecError(
            "a lesson steps through plain gradient descent, and dropout makes every step random; "
            "declare the network without dropout"
        )
    if unit_nodes(net) > MAX_UNIT_NODES:
        raise SpecError(
            f"a lesson draws every unit, weight and bias, and this network has {unit_nodes(net):,} "
            f"of them (at most {MAX_UNIT_NODES}); use a smaller network"
        )
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise SpecError(f"steps must be a whole number of at least 1, got {steps!r}")
    if steps > MAX_STEPS:
        raise SpecError(f"a lesson shows at most {MAX_STEPS} steps, got steps={steps}")
    lr = validate.real(lr, "lr", positive=True)
    seed = validate.seed(seed)
    X, Y = _data(net, X, Y)
    notes: list[str] = []
    if len(X) > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), MAX_ROWS, replace=False))
        notes.append(
            f"the data has {len(X):,} rows; the lesson uses {MAX_ROWS} of them, drawn at "
            f"random (seed {seed})"
        )
        X, Y = X[rows], Y[rows]
    current = check_params(net, params) if params is not None else numeric.init_params(net, seed)
    done: list[TrainingStep] = []
    frames: list[Frame] = []
    start_cost = numeric.cost(net, current, X, Y)
    for t in range(int(steps)):
        row = t % len(X)
        x, y = X[row], Y[row]
        g = graph(net, sample=(x, y), params=current, collapse=False)
        grads = numeric.gradients(net, current, x[None, :], y[None, :])
        after = {name: current[name] - lr * grads[name] for name in net.param_names}
        step = TrainingStep(
            row, x, y, current, grads, after,
            cost=numeric.cost(net, current, x[None, :], y[None, :]),
            cost_after=numeric.cost(net, after, x[None, :], y[None, :]),
            data_cost=numeric.cost(net, after, X, Y),
        )  # fmt: skip
        if not all(math.isfinite(c) for c in (step.cost, step.cost_after, step.data_cost)):
            raise SpecError(
                f"the cost is not finite after step {t + 1} (lr={lr:g}); use a smaller lr"
            )
        frames += step_frames(g, t, step, lr)
        if t == 0:  # the drawing: every step's graph has the same nodes and edges
            svg, labels = draw_graph(g), param_labels(g)
        done.append(step)
        current = after
    grids, bounds = _grids(net, X, [done[0].before, *(s.after for s in done)])
    return Lesson(
        net, X, Y, lr, seed, tuple(done), start_cost, tuple(frames), svg, labels,
        grids, bounds, tuple(notes),
    )  # fmt: skip


def _data(net: Network, X: Any, Y: Any) -> tuple[Array, Array]:
    """Inputs ``(n, n_in)`` and float targets ``(n, n_out)``, checked against the network."""
    n_in, n_out = net.sizes[0], net.sizes[-1]
    xs = validate.array(X, "X")
    if xs.ndim == 1 and n_in == 1:
        xs = xs.reshape(-1, 1)
    if xs.ndim != 2 or xs.shape[1] != n_in or xs.shape[0] == 0:
        raise SpecError(
            f"X has shape {xs.shape}; this network takes {n_in} input{'s' * (n_in != 1)}: "
            f"give X of shape (n, {n_in}) with n >= 1"
        )
    ys = validate.array(Y, "Y")
    labels = ys.ndim == 1 and n_out > 1 and np.issubdtype(ys.dtype, np.integer)
    if ys.ndim == 1 and n_out == 1:
        ys = ys.reshape(-1, 1)
    if not labels and (ys.ndim != 2 or ys.shape[1] != n_out):
        raise SpecError(
            f"Y has shape {ys.shape}; this network gives {n_out} output{'s' * (n_out != 1)}: "
            f"give Y of shape (n, {n_out})"
            + (" or class labels of shape (n,)" if n_out > 1 else "")
        )
    if ys.shape[0] != xs.shape[0]:
        raise SpecError(
            f"X has {xs.shape[0]} rows but Y has {ys.shape[0]}; give one target per row"
        )
    xf = xs.astype(np.float64)
    if not np.isfinite(xf).all():
        raise SpecError("X holds a value that is not finite (nan or inf)")
    yf = numeric.targets(net, ys)
    if not np.isfinite(yf).all():
        raise SpecError("Y holds a value that is not finite (nan or inf)")
    return xf, yf


def _grids(
    net: Network, X: Array, params: list[dict[str, Array]]
) -> tuple[tuple[Array, ...] | None, tuple[float, float, float, float] | None]:
    """For 2 inputs: the predictions on a GRID x GRID grid over the data (with a margin), for
    each set of parameters: one output's value, or the class (argmax) of several."""
    if net.sizes[0] != 2:
        return None, None
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, 0.15 * (hi - lo), 0.5)
    lo, hi = lo - pad, hi + pad
    # cell centres, row by row from the top (largest x1) down
    u = lo[0] + (np.arange(GRID) + 0.5) * (hi[0] - lo[0]) / GRID
    v = hi[1] - (np.arange(GRID) + 0.5) * (hi[1] - lo[1]) / GRID
    points = np.array([(a, b) for b in v for a in u])
    out = []
    for p in params:
        a = numeric.forward(net, p, points)[1][-1]
        out.append(a[:, 0] if a.shape[1] == 1 else np.argmax(a, axis=1).astype(np.float64))
    return tuple(out), (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


__all__ = ["GRID", "MAX_ROWS", "MAX_STEPS", "Lesson", "TrainingStep", "lesson"]
