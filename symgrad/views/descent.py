"""The nudge view and one-variable gradient descent: the linear approximation, seen at work.

:func:`nudge` moves one parameter a little and sets the predicted change of the cost
(``dC/dw * nudge``) beside the measured one, and checks the local linear approximation of a
gradient-descent step for a few learning rates. :func:`descend` runs gradient descent on a
formula in ``x``, with the tangent line at each step.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from .. import validate
from ..errors import SpecError
from ..files import atomic_write
from ..net.formula import parse_formula
from ..net.network import Network
from ..verify import numeric
from .numbers import Array, check_params
from .teach import number

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation


# ------------------------------------------------------------------------------------------------
# The nudge view
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepCheck:
    """One gradient-descent step at rate ``lr``: ``C(w - lr g)`` predicted and measured.

    The linear prediction is ``C(w) - lr |g|^2``; ``verdict`` says how it fared: ``linear``
    (within 10% of the predicted drop), ``curved`` (off, but the cost fell) or ``too large``
    (the cost went up: the step overshot).
    """

    lr: float
    before: float
    predicted: float
    actual: float

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.actual) or self.actual > self.before:
            return "too large"
        drop = self.before - self.predicted
        return "linear" if abs(self.actual - self.predicted) <= 0.1 * drop else "curved"


@dataclass(frozen=True)
class Nudge:
    """The nudge view of one parameter entry.

    Attributes:
        name: the parameter array, e.g. ``"W1"``; ``index``: the entry.
        size: the nudge added to the entry.
        cost: ``C(w)``, the mean cost of the data.
        grad: ``dC/dw`` of that entry.
        predicted: ``dC/dw * size``, the change the derivative predicts.
        actual: ``C(w + size) - C(w)``, from running the forward pass again.
        grad_norm2: ``|grad C|^2`` over every parameter.
        steps: gradient-descent steps ``w - lr grad C`` at a few learning rates.
    """

    name: str
    index: tuple[int, ...]
    size: float
    cost: float
    grad: float
    predicted: float
    actual: float
    grad_norm2: float
    steps: tuple[StepCheck, ...]

    def to_text(self) -> str:
        """Plain-text rendering: the nudge, then a table of steps."""
        entry = f"{self.name}[{', '.join(map(str, self.index))}]"
        g = number
        lines = [
            f"Nudge w = {entry} by {g(self.size)}; C is the mean cost of the data:",
            f"  C(w)                                  = {g(self.cost, 10)}",
            f"  dC/dw                                 = {g(self.grad, 10)}",
            f"  predicted change  dC/dw * nudge       = {g(self.predicted)}",
            f"  actual change     C(w + nudge) - C(w) = {g(self.actual)}",
            "",
            "One gradient-descent step on every parameter, w <- w - lr * grad C, "
            f"with |grad C|^2 = {g(self.grad_norm2)}:",
            f"  {'lr':>10}  {'C(w) - lr|g|^2':>16}  {'C(w - lr g)':>16}  verdict",
        ]
        for st in self.steps:
            lines.append(
                f"  {g(st.lr):>10}  {g(st.predicted):>16}  {g(st.actual):>16}  {st.verdict}"
            )
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


def nudge(
    net: Network | Derivation,
    x: Any,
    y: Any,
    params: dict[str, Any],
    param: str,
    *index: int,
    size: float = 0.01,
    lrs: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0),
) -> Nudge:
    """Nudge one parameter entry and set the derivative's prediction beside the real change.

    ``x``, ``y`` are one example or a batch (the cost is the batch mean). Also checks the local
    linear approximation of a gradient-descent step, ``C(w - lr g) ~ C(w) - lr |g|^2``, at each
    learning rate in ``lrs``, so the rate at which a step overshoots shows.
    """
    net = net if isinstance(net, Network) else net.net  # a Derivation carries its Network
    values = check_params(net, params)
    shape = net.param_shape(param)
    if len(index) != len(shape) or not all(
        validate.whole(i, "index") < n for i, n in zip(index, shape, strict=True)
    ):
        raise SpecError(f"{param} has shape {shape}; index {index} is not an entry of it")
    size = validate.real(size, "size")
    lrs = [validate.real(lr, "lrs", positive=True) for lr in lrs]
    X = np.atleast_2d(validate.array(x, "x").astype(np.float64))
    Y = numeric.targets(net, np.asarray(y) if np.ndim(y) else np.asarray(y).reshape(1))
    c0 = numeric.cost(net, values, X, Y)
    grads = numeric.gradients(net, values, X, Y)
    g = float(grads[param][index])
    moved = {k: v.copy() for k, v in values.items()}
    moved[param][index] += size
    actual = numeric.cost(net, moved, X, Y) - c0
    norm2 = float(sum(np.sum(v * v) for v in grads.values()))
    checks = []
    with np.errstate(all="ignore"):
        for lr in lrs:
            stepped = {k: values[k] - lr * grads[k] for k in values}
            checks.append(
                StepCheck(float(lr), c0, c0 - lr * norm2, numeric.cost(net, stepped, X, Y))
            )
    return Nudge(param, tuple(index), float(size), c0, g, g * size, actual, norm2, tuple(checks))


# ------------------------------------------------------------------------------------------------
# Gradient descent on a function of one variable
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Descent:
    """A gradient-descent trajectory ``x <- x - lr f'(x)`` on a function of one variable.

    Attributes:
        formula: the function, as given; ``expr``, ``derivative``: f and f' in SymPy.
        lr: the learning rate.
        xs, fs, slopes: the iterates and f, f' there (finite values only).
        diverged: the iterates left the finite range (or ``|x| > limit``).
        diverged_at: the step whose iterate blew up, else None.
        reason: what happened, in words.
    """

    formula: str
    expr: sp.Expr
    derivative: sp.Expr
    lr: float
    xs: Array
    fs: Array
    slopes: Array
    diverged: bool
    diverged_at: int | None
    reason: str
    limit: float = 1e6

    def tangent(self, t: int) -> tuple[float, float]:
        """``(slope, intercept)`` of the tangent line at iterate ``t``: ``f(x_t) + f'(x_t)(x - x_t)``."""
        return float(self.slopes[t]), float(self.fs[t] - self.slopes[t] * self.xs[t])

    def table(self, digits: int = 6) -> str:
        """A text table: each step's x, f(x), f'(x), and the predicted and actual change of f."""

        def g(v: Any) -> str:
            return number(float(v), digits)

        head = f"{'step':>4}  {'x':>12}  {'f(x)':>12}  {'slope':>12}  {'pred. df':>12}  {'actual df':>12}"
        lines = [f"gradient descent on f(x) = {self.formula}, lr = {g(self.lr)}", head]
        for t in range(len(self.xs)):
            row = f"{t:>4}  {g(self.xs[t]):>12}  {g(self.fs[t]):>12}  {g(self.slopes[t]):>12}"
            if t + 1 < len(self.xs):  # tangent line: df ~ f'(x) * dx = -lr f'(x)^2
                pred = -self.lr * self.slopes[t] ** 2
                row += f"  {g(pred):>12}  {g(self.fs[t + 1] - self.fs[t]):>12}"
            lines.append(row)
        lines.append(self.reason)
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str], max_tangents: int = 25) -> Path:
        """Draw f, the tangent line at each iterate and the iterates; write ``path`` (png, svg, pdf)."""
        from matplotlib.figure import Figure

        target = Path(path)
        xs, fs = self.xs, self.fs
        lo, hi = float(xs.min()), float(xs.max())
        pad = max(0.25 * (hi - lo), 0.5)
        grid = np.linspace(lo - pad, hi + pad, 400)
        f = _numpy_fn(self.expr)
        with np.errstate(all="ignore"):
            curve = np.broadcast_to(f(grid), grid.shape).astype(np.float64)
        fig = Figure(figsize=(7, 4.5), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(grid, curve, color="black", lw=1.5, label=f"f(x) = {self.formula}")
        for t in range(min(len(xs) - 1, max_tangents)):
            # the step walks down the tangent line to x_{t+1}; the curve then says where f really is
            slope, icept = self.tangent(t)
            dx = xs[t + 1] - xs[t]
            seg = np.array([xs[t] - 0.25 * dx, xs[t + 1] + 0.25 * dx])
            ax.plot(seg, slope * seg + icept, color="tab:orange", lw=1.2,
                    label="tangent line at each step" if t == 0 else None)  # fmt: skip
            ax.plot([xs[t + 1]] * 2, [slope * xs[t + 1] + icept, fs[t + 1]], ls=":", color="grey", lw=1,
                    label="tangent's prediction vs f" if t == 0 else None)  # fmt: skip
        ax.plot(xs, fs, "o", color="tab:blue", ms=4, label="iterates", zorder=3)
        finite = curve[np.isfinite(curve)]
        if finite.size:
            span = [min(finite.min(), fs.min()), max(finite.max(), fs.max())]
            margin = 0.05 * (span[1] - span[0] or 1.0)
            ax.set_ylim(span[0] - margin, span[1] + margin)
        status = f" - diverged at step {self.diverged_at}" if self.diverged else ""
        ax.set_title(f"gradient descent, lr = {number(self.lr)}{status}")
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.legend(loc="best", fontsize=8)
        suffix = target.suffix.lstrip(".").lower() or "png"
        buf = io.BytesIO()
        fig.savefig(buf, format=suffix, dpi=110)
        return atomic_write(target, buf.getvalue())

    def __str__(self) -> str:
        return self.table()


def _numpy_fn(expr: sp.Expr) -> Callable[[Any], Any]:
    return numeric.numpy_function(sp.Symbol("x", real=True), expr)


MAX_STEPS = 100_000
"""Most steps :func:`descend` takes: a table or a plot of more says nothing more."""


def descend(formula: str, x0: float, lr: float, steps: int = 20, *, limit: float = 1e6) -> Descent:
    """Gradient descent ``x <- x - lr f'(x)`` on ``f`` given as a formula in ``x``.

    Returns the trajectory with the tangent line at each iterate; when an iterate or ``f`` there
    stops being finite, or ``|x|`` exceeds ``limit``, the walk stops and the result says it
    diverged (and at which step) rather than raising.
    """
    x0 = validate.real(x0, "x0")
    lr = validate.real(lr, "lr", positive=True)
    steps = validate.whole(steps, "steps", 0, MAX_STEPS)
    limit = validate.real(limit, "limit", positive=True, finite=False)
    expr = parse_formula(formula, {"x"}, what="descend's formula")
    x_sym = sp.Symbol("x", real=True)
    if not expr.free_symbols <= {x_sym}:
        raise SpecError(f"descend's formula must be in x alone, got {formula!r}")
    deriv = sp.diff(expr, x_sym)
    f, df = _numpy_fn(expr), _numpy_fn(deriv)
    xs: list[float] = []
    fs: list[float] = []
    slopes: list[float] = []
    x, diverged_at, reason = float(x0), None, ""
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            fx, gx = float(f(np.float64(x))), float(df(np.float64(x)))
            if not all(map(math.isfinite, (x, fx, gx))) or abs(x) > limit:
                diverged_at = t
                what = (
                    f"x = {number(x)}"
                    if math.isfinite(x) and abs(x) > limit
                    else f"x = {number(x)}, f(x) = {number(fx)}"
                )
                reason = f"diverged at step {t}: {what} (lr = {number(lr)} is too large for this function)"
                break
            xs.append(x)
            fs.append(fx)
            slopes.append(gx)
            if t < steps:
                x = x - lr * gx  # gradient descent: step against the slope
    if diverged_at is None:
        reason = f"after {steps} steps: x = {number(xs[-1])}, f(x) = {number(fs[-1])}, f'(x) = {number(slopes[-1])}"
    elif not xs:
        raise SpecError(f"f or f' is not finite at x0 = {x0}; start where the function is defined")
    return Descent(
        formula,
        expr,
        deriv,
        float(lr),
        np.asarray(xs, dtype=np.float64),
        np.asarray(fs, dtype=np.float64),
        np.asarray(slopes, dtype=np.float64),
        diverged_at is not None,
        diverged_at,
        reason,
        limit,
    )
