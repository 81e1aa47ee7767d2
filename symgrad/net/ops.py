"""Registry of activations and costs: each a SymPy formula plus how to show it.

An :class:`Activation` is a formula in ``z``; its derivative is taken by SymPy and rewritten in
terms of the forward value ``a`` where that is possible (``sigmoid' = a(1-a)``), so generated code
reuses ``a``. A :class:`Cost` is a per-unit formula in ``a`` and ``y``, summed over output units.
User formulas come in through :mod:`symgrad.net.formula` (a whitelist parser, never ``eval``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from ..errors import SpecError
from ..limits import FORMULA_SECONDS, work_limit
from .formula import parse_formula

z = sp.Symbol("z", real=True)
a = sp.Symbol("a", real=True)
y = sp.Symbol("y", real=True)

LEAKY_SLOPE = sp.Rational(1, 100)

MAX_DERIVATIVE_OPS = 2000
"""Largest derivative (in SymPy operations) a user formula may have: every layer of every view
and of the generated code carries it, once per unit."""


@dataclass(frozen=True, eq=False)
class Activation:
    """An element-wise activation ``a = f(z)`` (or ``softmax``, which couples the units).

    Attributes:
        name: registry name, e.g. ``"sigmoid"``.
        expr: ``f(z)`` as a SymPy expression in :data:`z` (for softmax: ``exp(z)``, normalised later).
        derivative: ``f'(z)`` written in :data:`a` where possible, else in :data:`z` (or both).
        latex: LaTeX name of ``f``, e.g. ``r"\\sigma"``.
        probability: the output lies in (0, 1), so a log-based cost may follow it.
        formula: the user's formula text, for user activations.
    """

    name: str
    expr: sp.Expr
    derivative: sp.Expr
    latex: str
    probability: bool = False
    formula: str | None = None

    @property
    def builtin(self) -> bool:
        """This is the registry's own activation of its name (a user formula never is)."""
        return ACTIVATIONS.get(self.name) is self

    @property
    def is_softmax(self) -> bool:
        return self is ACTIVATIONS["softmax"]

    def __reduce__(self) -> tuple[Any, ...]:
        # a built-in unpickles as the registry's own object, so that identity still tells it
        if self.builtin:
            return (get_activation, (self.name,))
        return (Activation.from_formula, (self.name, self.formula))

    @property
    def derivative_z(self) -> sp.Expr:
        """``f'(z)`` in ``z`` alone (the forward value substituted back)."""
        return sp.sympify(self.derivative).xreplace({a: self.expr})

    @classmethod
    def from_formula(cls, name: str, formula: str) -> Activation:
        """A user activation from a formula in ``z``, e.g. ``from_formula("swish", "z*sigmoid(z)")``."""
        _check_name(name, "activation", ACTIVATIONS)
        what = f"activation {name!r}"
        with _bounded(what, formula):
            expr = parse_formula(formula, {"z"}, what=what)
            return make_activation(name, expr, latex=_latex_name(name), formula=formula)

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, {self.expr})"


@dataclass(frozen=True, eq=False)
class Cost:
    """A per-example cost ``C_x = scale * sum_j c(a_j, y_j)``.

    Attributes:
        name: registry name, e.g. ``"quadratic"``.
        expr: ``c(a, y)`` for one output unit.
        latex: how the per-unit term reads in LaTeX.
        mean_over_units: ``scale = 1 / n_L`` (``mse``) instead of 1.
        fused: output activations for which ``delta^(L) = a - y`` exactly.
        formula: the user's formula text, for user costs.
    """

    name: str
    expr: sp.Expr
    latex: str
    mean_over_units: bool = False
    fused: frozenset[str] = field(default_factory=frozenset)
    formula: str | None = None

    @property
    def builtin(self) -> bool:
        """This is the registry's own cost of its name (a user formula never is)."""
        return COSTS.get(self.name) is self

    def fuses_with(self, act: Activation) -> bool:
        """``delta^(L) = a - y`` exactly: built-in softmax with cross-entropy, sigmoid with binary
        cross-entropy. Decided by identity, never by name: a user formula named "sigmoid" is not
        the sigmoid."""
        return self.builtin and act.builtin and act.name in self.fused

    def __reduce__(self) -> tuple[Any, ...]:
        if self.builtin:
            return (get_cost, (self.name,))
        return (Cost.from_formula, (self.name, self.formula))

    @property
    def dC_da(self) -> sp.Expr:
        """Derivative of the per-unit term with respect to ``a``."""
        return sp.diff(self.expr, a)

    @property
    def needs_probability(self) -> bool:
        """The formula takes the log of something in ``a`` that is not always positive (``log a``).

        ``log(cosh(a - y))`` and ``log(1 + exp(a))`` are defined for every real ``a``, so they
        need no probability output.
        """
        return any(
            arg.has(a) and arg.is_positive is not True
            for fn in self.expr.atoms(sp.log)
            for arg in fn.args
        )

    @classmethod
    def from_formula(cls, name: str, formula: str) -> Cost:
        """A user cost from a per-unit formula in ``a`` and ``y``, e.g. ``"log(cosh(a - y))"``."""
        _check_name(name, "cost", COSTS)
        what = f"cost {name!r}"
        with _bounded(what, formula):
            expr = parse_formula(formula, {"a", "y"}, what=what)
            if not expr.has(a):
                raise SpecError(
                    f"{what} = {formula!r} does not depend on 'a', so it cannot be minimised"
                )
            da = sp.diff(expr, a)
            if da.has(sp.DiracDelta):
                raise SpecError(f"{what} = {formula!r} has a step in 'a'; use a smooth formula")
            _check_size(what, formula, da)
            return cls(name, expr, latex=sp.latex(expr), formula=formula)

    def __repr__(self) -> str:
        return f"Cost({self.name!r}, {self.expr})"


@contextmanager
def _bounded(what: str, formula: str) -> Iterator[None]:
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


def _check_name(name: str, what: str, builtin: dict[str, Any]) -> None:
    """A user formula's name: a plain ASCII identifier that no built-in has."""
    if (
        not isinstance(name, str)
        or not name.isascii()
        or not name.isidentifier()
        or name.startswith("_")
        or len(name) > 64
    ):
        raise SpecError(f"{what} name {name!r} must be an identifier such as 'swish'")
    if name in builtin:
        raise SpecError(
            f"{what} name {name!r} is built in; give your formula another name, e.g. 'my_{name}'"
        )


def _check_size(what: str, formula: str, derivative: sp.Expr) -> None:
    ops = sp.count_ops(derivative)
    if ops > MAX_DERIVATIVE_OPS:
        raise SpecError(
            f"{what} = {formula!r} has a derivative of {ops} operations (the limit is "
            f"{MAX_DERIVATIVE_OPS}); write a simpler formula"
        )


def _latex_name(name: str) -> str:
    return r"\operatorname{" + name.replace("_", r"\_") + "}"


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


def make_activation(
    name: str,
    expr: sp.Expr,
    *,
    latex: str,
    probability: bool | None = None,
    formula: str | None = None,
    derivative: sp.Expr | None = None,
) -> Activation:
    """Build an activation from its formula in ``z``: differentiate, rewrite, validate.

    ``derivative`` gives a hand-chosen forward form for display (``a(1-a)`` reads better than
    ``-a(a-1)``); the tests prove it equal to SymPy's derivative.
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
    if probability is None:
        probability = _in_unit_interval(expr)
    if derivative is None:
        derivative = forward_form(expr, df)
    return Activation(name, expr, derivative, latex, probability, formula)


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


def _softmax() -> Activation:
    # a_j = exp(z_j) / sum_i exp(z_i); the Jacobian da_i/dz_j = a_i (delta_ij - a_j) is built in derive.
    return Activation(
        "softmax", sp.exp(z), a * (1 - a), r"\operatorname{softmax}", probability=True
    )


ACTIVATIONS: dict[str, Activation] = {}
COSTS: dict[str, Cost] = {}


def _register_activation(
    name: str, expr: sp.Expr, latex: str, derivative: sp.Expr | None = None
) -> None:
    ACTIVATIONS[name] = make_activation(name, expr, latex=latex, derivative=derivative)


_register_activation("identity", z, r"\operatorname{id}")
_register_activation("sigmoid", 1 / (1 + sp.exp(-z)), r"\sigma", a * (1 - a))
_register_activation("tanh", sp.tanh(z), r"\tanh")
_register_activation("relu", sp.Piecewise((z, z > 0), (0, True)), r"\operatorname{ReLU}")
_register_activation(
    "leaky_relu", sp.Piecewise((z, z > 0), (LEAKY_SLOPE * z, True)), r"\operatorname{LeakyReLU}"
)
_register_activation("softplus", sp.log(1 + sp.exp(z)), r"\operatorname{softplus}")
# silu' = s + z s (1 - s) with s = sigmoid(z) and z s = a
_register_activation(
    "silu", z / (1 + sp.exp(-z)), r"\operatorname{SiLU}", a + (1 - a) / (1 + sp.exp(-z))
)
_register_activation("elu", sp.Piecewise((z, z > 0), (sp.exp(z) - 1, True)), r"\operatorname{ELU}")
ACTIVATIONS["softmax"] = _softmax()
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]
ACTIVATIONS["linear"] = ACTIVATIONS["identity"]

COSTS["quadratic"] = Cost("quadratic", (a - y) ** 2, r"\left(a - y\right)^{2}")
COSTS["half_quadratic"] = Cost(
    "half_quadratic", (a - y) ** 2 / 2, r"\tfrac{1}{2}\left(a - y\right)^{2}"
)
COSTS["mse"] = Cost("mse", (a - y) ** 2, r"\left(a - y\right)^{2}", mean_over_units=True)
COSTS["cross_entropy"] = Cost(
    "cross_entropy", -y * sp.log(a), r"-y \log a", fused=frozenset({"softmax"})
)
COSTS["binary_cross_entropy"] = Cost(
    "binary_cross_entropy",
    -(y * sp.log(a) + (1 - y) * sp.log(1 - a)),
    r"-\left[y \log a + (1 - y) \log(1 - a)\right]",
    fused=frozenset({"sigmoid"}),
)


def get_activation(
    spec: str | Activation, *, user: dict[str, Activation] | None = None
) -> Activation:
    """Look up an activation by name (built-in or user), or pass an :class:`Activation` through."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        if user and spec in user:
            return user[spec]
        if spec in ACTIVATIONS:
            return ACTIVATIONS[spec]
    known = ", ".join(sorted(ACTIVATIONS))
    raise SpecError(
        f"unknown activation {spec!r}; use one of {known}, or Activation.from_formula(name, 'formula in z')"
    )


def get_cost(spec: str | Cost, *, user: dict[str, Cost] | None = None) -> Cost:
    """Look up a cost by name (built-in or user), or pass a :class:`Cost` through."""
    if isinstance(spec, Cost):
        return spec
    if isinstance(spec, str):
        if user and spec in user:
            return user[spec]
        if spec in COSTS:
            return COSTS[spec]
    known = ", ".join(sorted(COSTS))
    raise SpecError(
        f"unknown cost {spec!r}; use one of {known}, or Cost.from_formula(name, 'formula in a and y')"
    )
