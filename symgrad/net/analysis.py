"""The SymPy work on an activation or a cost formula: differentiate, rewrite, validate.

:func:`analyse_activation` differentiates ``f(z)``, refuses what gradient descent cannot use
(a step, a constant, a value or slope that is not finite and real at some ``z``, zero
included) and rewrites ``f'(z)`` in terms of the forward value ``a`` where that is possible
(``sigmoid' = a(1-a)``), so that generated code reuses ``a``. :func:`analyse_cost` does the
same for a cost's ``c(a, y)``. Both are called when an expression is first needed
(:mod:`symgrad.net.activations`, :mod:`symgrad.net.costs`), within the bounds of
:mod:`symgrad.limits`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..errors import SpecError
from ..limits import FORMULA_SECONDS, work_limit
from .variables import a, z

MAX_DERIVATIVE_OPS = 2000
"""Largest derivative (in SymPy operations) a user formula may have: every layer of every view
and of the generated code carries it, once per unit."""


@dataclass(frozen=True)
class ActivationForms:
    """What SymPy finds of an activation: ``f(z)``, ``f'(z)`` in forward terms, and whether the
    output lies in (0, 1)."""

    expr: sp.Expr
    derivative: sp.Expr
    probability: bool


@dataclass(frozen=True)
class CostForms:
    """What SymPy finds of a cost: ``c(a, y)``, ``dc/da``, its LaTeX, and whether it takes the
    log of the output (so the output must be a probability)."""

    expr: sp.Expr
    dC_da: sp.Expr
    latex: str
    needs_probability: bool


@contextmanager
def bounded(what: str, formula: str) -> Iterator[None]:
    """The work of accepting a user formula, bounded in time (:func:`work_limit`) and depth
    (SymPy recurses through a formula's tree: a deeply nested one ends its recursion)."""
    slow = f"{what} = {formula!r} takes too long to differentiate; write a simpler formula"
    try:
        with work_limit(FORMULA_SECONDS, slow):
            yield
    except RecursionError:
        raise SpecError(
            f"{what} = {formula!r} is nested too deeply to differentiate; write a simpler formula"
        ) from None


def analyse_activation(
    name: str,
    expr: sp.Expr,
    *,
    formula: str | None = None,
    derivative: sp.Expr | None = None,
) -> ActivationForms:
    """Differentiate, validate and rewrite an activation given as ``f(z)``.

    ``derivative`` gives a hand-chosen forward form for display (``a(1-a)`` reads better than
    ``-a(a-1)``); the tests prove it equal to SymPy's derivative. ``formula``: the user's text,
    for messages and the size limit (a built-in has none).
    """
    expr = expr.rewrite(sp.Piecewise) if expr.has(sp.Max, sp.Min, sp.Abs) else expr
    expr = sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr
    if not expr.has(z):
        raise SpecError(
            f"activation {name!r} does not depend on 'z'; write a formula in z such as 'tanh(z)'"
        )
    df = sp.diff(expr, z)
    if formula is not None:
        _check_size(f"activation {name!r}", formula, df)
    if df.has(sp.DiracDelta, sp.Heaviside):
        raise SpecError(
            f"activation {name!r} has a step: its derivative is zero almost everywhere; use a smooth one"
        )
    # (z + abs(z))/(2*abs(z)) is a threshold too: SymPy folds its derivative to a plain 0
    if df == 0 or (
        isinstance(df, sp.Piecewise) and all(not v.has(z) and v == 0 for v, _ in df.args)
    ):
        raise SpecError(
            f"activation {name!r} is piecewise constant; gradient descent cannot learn through it: "
            "use a smooth one such as sigmoid(z) or tanh(z)"
        )
    _check_real(name, formula or str(expr), expr, df)
    probability = _in_unit_interval(expr)
    if derivative is None:
        derivative = forward_form(expr, df)
    return ActivationForms(expr, derivative, probability)


def analyse_cost(name: str, expr: sp.Expr, *, formula: str | None = None) -> CostForms:
    """Differentiate and validate a cost given as ``c(a, y)`` for one output unit."""
    what = f"cost {name!r}"
    if not expr.has(a):
        raise SpecError(f"{what} = {formula!r} does not depend on 'a', so it cannot be minimised")
    da = sp.diff(expr, a)
    if da.has(sp.DiracDelta):
        raise SpecError(f"{what} = {formula!r} has a step in 'a'; use a smooth formula")
    if formula is not None:
        _check_size(what, formula, da)
    # the log of something in a that is not always positive: log(a), not log(cosh(a - y))
    needs_probability = any(
        arg.has(a) and arg.is_positive is not True for fn in expr.atoms(sp.log) for arg in fn.args
    )
    return CostForms(expr, da, sp.latex(expr), needs_probability)


def _check_size(what: str, formula: str, derivative: sp.Expr) -> None:
    ops = sp.count_ops(derivative)
    if ops > MAX_DERIVATIVE_OPS:
        raise SpecError(
            f"{what} = {formula!r} has a derivative of {ops} operations (the limit is "
            f"{MAX_DERIVATIVE_OPS}); write a simpler formula"
        )


def forward_form(f: sp.Expr, df: sp.Expr) -> sp.Expr:
    """Rewrite ``df = f'(z)`` in terms of ``a = f(z)`` where a low-degree form exists.

    Tries, in order: a structural substitution of ``f`` by ``a``; a polynomial of degree <= 2 in
    ``a`` (``a(1-a)``, ``1-a**2``, ``a+1``) found at sample points and verified at others to 40
    digits; ``1 - exp(-a)`` (softplus). Piecewise formulas are rewritten branch by branch.
    Falls back to ``df`` in ``z``.
    """
    same_pieces = (
        isinstance(f, sp.Piecewise)
        and isinstance(df, sp.Piecewise)
        and len(f.args) == len(df.args)
        and all(fc == dc for (_, fc), (_, dc) in zip(f.args, df.args, strict=True))
    )
    if same_pieces:
        pieces = zip(f.args, df.args, strict=True)
        return sp.Piecewise(*[(forward_form(fv, dv), c) for (fv, c), (dv, _) in pieces])
    if not df.has(z):
        return df
    direct = df.subs(f, a)
    if not direct.has(z):
        return direct
    fn = sp.lambdify(z, f, "mpmath")
    dfn = sp.lambdify(z, df, "mpmath")
    rng = random.Random(0)
    with mpmath.workdps(60):
        points = [mpmath.mpf(rng.uniform(-3, 3)) for _ in range(9)]
        try:
            fs = [fn(p) for p in points]
            ds = [dfn(p) for p in points]
        except (TypeError, ValueError, ZeroDivisionError):
            return df
        if any(not mpmath.isfinite(v) or mpmath.im(v) != 0 for v in fs + ds):
            return df
        candidates: list[Callable[[mpmath.mpf], mpmath.mpf]] = []
        coeffs = _fit_quadratic(fs[:3], ds[:3])
        if coeffs is not None:
            c0, c1, c2 = coeffs
            candidates.append(lambda v: c0 + c1 * v + c2 * v**2)
        candidates.append(lambda v: 1 - mpmath.exp(-v))
        for i, cand in enumerate(candidates):
            if all(
                abs(cand(fv) - dv) < mpmath.mpf(10) ** -40 for fv, dv in zip(fs, ds, strict=True)
            ):
                if i == 0 and coeffs is not None:
                    c0, c1, c2 = (
                        sp.nsimplify(float(c), rational=True, tolerance=1e-12) for c in coeffs
                    )
                    return sp.factor(c0 + c1 * a + c2 * a**2)
                return 1 - sp.exp(-a)
    return df


def _fit_quadratic(fs: list[mpmath.mpf], ds: list[mpmath.mpf]) -> tuple[mpmath.mpf, ...] | None:
    try:
        m = mpmath.matrix([[1, v, v**2] for v in fs])
        sol = mpmath.lu_solve(m, mpmath.matrix(ds))
    except ZeroDivisionError:
        return None
    return tuple(sol)


def _check_real(name: str, shown: str, expr: sp.Expr, derivative: sp.Expr) -> None:
    """An activation and its derivative must be real and finite for every real z: ``sqrt(z)``
    is not real below 0, ``1/z`` and ``log(abs(z))`` are not finite at 0 (where training starts
    more often than anywhere: zero biases), ``sqrt(abs(z))`` has an infinite slope there."""
    for what, f in (("", expr), ("the derivative of ", derivative)):
        fn = sp.lambdify(z, f, "math")
        for v in (0.0, -10.0, -2.5, -1.0, -0.5, -1e-3, 1e-3, 0.5, 1.0, 2.5, 10.0):
            try:
                value = fn(v)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                value = None
            if not isinstance(value, float | int) or not math.isfinite(value):
                raise SpecError(
                    f"{what}activation {name!r} = {shown} is not a finite real number at z = {v:g}; "
                    "an activation and its slope must be defined for every real z "
                    "(try softplus(z) or abs(z) + 1 inside it)"
                )


def _in_unit_interval(expr: sp.Expr) -> bool:
    fn = sp.lambdify(z, expr, "math")
    try:
        values = [fn(v / 8) for v in range(-80, 81)]
    except (OverflowError, ValueError, ZeroDivisionError, TypeError):
        return False
    return all(isinstance(v, float | int) and 0 < v < 1 for v in values)
