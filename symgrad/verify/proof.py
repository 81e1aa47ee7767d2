"""The symbolic judge: ``expanded(partial) - diff(expanded cost, w)`` shown to be zero, or not.

``simplify`` does not finish on a 3-4-3 net, so the difference is tested as a rational function:
transcendental atoms (``exp(u)``, ``tanh(u)``, ``log(u)``) become fresh symbols (``exp(-u)`` the
reciprocal of ``exp(u)``'s), algebraic ones (``sqrt(u)``) a symbol ``t`` with ``t**2 = u`` that
the numerator is reduced by, and ``cancel(together(.))`` decides. Piecewise activations (relu,
elu, user formulas with abs, max or min) are split first: each unit's ``z`` is given one value
per interval between the activation's break points, which decides every branch.

A difference that does not cancel is not yet a failure: it is evaluated at random points to 50
digits. A point where it is not zero is a failure found; otherwise the partial is "not proven
symbolically", with the reason, and the numeric judges give the verdict. The judge never reports
a failure it has not found.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from ..limits import PROOF_SECONDS, WorkLimitExceeded, work_limit

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation, Partial

MAX_BRANCHES = 512
"""Most combinations of activation branches the proof walks (each is a full proof)."""

PROBE_POINTS = 3
PROBE_DIGITS = 50


@dataclass(frozen=True, slots=True)
class Verdict:
    """``status``: "ok" (proved zero), "failed" (a point where it is not) or "unproven"."""

    status: str
    note: str = ""
    error: float = 0.0


def prove(d: Derivation, partials: list[Partial]) -> list[Verdict]:
    """A verdict for each partial: its composition against ``sympy.diff`` of the expanded cost."""
    out: list[Verdict | None] = [None] * len(partials)
    try:
        with work_limit(PROOF_SECONDS, "the symbolic proof took too long"):
            for branch in _branches(d):
                if isinstance(branch, str):  # no split: every partial stays unproven
                    return [Verdict("unproven", branch) for _ in partials]
                fmap = d.forward_map(branch.activation)
                cost = d.cost().xreplace(fmap) + d.penalty()
                constraint = _target_constraint(d)
                for i, p in enumerate(partials):
                    if out[i] is not None and out[i].status != "ok":  # type: ignore[union-attr]
                        continue
                    got = branch.resolve(p.expr).xreplace(fmap).xreplace(constraint)
                    want = sp.diff(cost, p.param).xreplace(constraint)
                    out[i] = _zero(got, want)
    except WorkLimitExceeded:
        note = f"took more than {PROOF_SECONDS:g} s"
        return [v if v is not None and v.status != "ok" else Verdict("unproven", note) for v in out]
    except RecursionError:
        return [Verdict("unproven", "the expression is nested too deeply") for _ in partials]
    return [v if v is not None else Verdict("ok") for v in out]


# ------------------------------------------------------------------------------------------------
# Branches of piecewise activations
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Branch:
    """One value of ``z`` per piecewise unit: every branch condition decided."""

    values: dict[sp.Symbol, sp.Rational]

    def resolve(self, expr: sp.Expr) -> sp.Expr:
        for zsym, value in self.values.items():
            expr = _decided(expr, zsym, value)
        return expr

    def activation(self, f: sp.Expr, zsym: sp.Symbol) -> sp.Expr:
        """``f(z)`` of the unit ``zsym`` with its branch chosen (for ``Derivation.forward_map``)."""
        value = self.values.get(zsym)
        return f if value is None else _decided(f, _Z, value)


_Z = sp.Symbol("z", real=True)
"""The variable of activation formulas (:data:`symgrad.net.ops.z`)."""


def _branches(d: Derivation) -> Iterator[_Branch | str]:
    """Every combination of intervals of the piecewise units, or one reason why not."""
    units: list[tuple[sp.Symbol, list[sp.Rational]]] = []
    for l, layer in enumerate(d.net.layers, start=1):
        act = layer.act
        if not (act.expr.has(sp.Piecewise) or sp.sympify(act.derivative).has(sp.Piecewise)):
            continue
        points = _interval_points(act.expr, sp.sympify(act.derivative))
        if points is None:
            yield f"the branches of {act.name} are not decided by intervals of z"
            return
        units += [(d.sym.z(l, j), points) for j in range(layer.n_out)]
    count = 1
    for _, points in units:
        count *= len(points)
    if count > MAX_BRANCHES:
        yield f"{count} combinations of branches, more than {MAX_BRANCHES}"
        return
    syms = [zsym for zsym, _ in units]
    for values in itertools.product(*(points for _, points in units)):
        yield _Branch(dict(zip(syms, values, strict=True)))


def _interval_points(*exprs: sp.Expr) -> list[sp.Rational] | None:
    """One point inside each interval of z between the break points of the conditions."""
    breaks: set[sp.Rational] = set()
    for expr in exprs:
        for rel in expr.atoms(sp.core.relational.Relational):
            v = sp.expand(rel.lhs - rel.rhs)
            if v.free_symbols - {_Z}:
                return None
            roots = sp.solveset(v, _Z, sp.S.Reals)
            if not isinstance(roots, sp.FiniteSet) or not all(r.is_Rational for r in roots):
                return None
            breaks |= set(roots)
    cuts = sorted(breaks)
    if not cuts:
        return [sp.Integer(0)]
    points = [cuts[0] - 1, *((lo + hi) / 2 for lo, hi in itertools.pairwise(cuts)), cuts[-1] + 1]
    return [sp.Rational(p) for p in points]


def _decided(expr: sp.Expr, u: sp.Symbol, value: sp.Rational) -> sp.Expr:
    """``expr`` with every Piecewise condition that depends on ``u`` alone decided at ``value``."""

    def pick(pw: sp.Piecewise) -> sp.Expr:
        kept: list[tuple[sp.Expr, sp.Basic]] = []
        for val, cond in pw.args:
            truth = {
                rel: sp.true if rel.xreplace({u: value}) == sp.true else sp.false
                for rel in cond.atoms(sp.core.relational.Relational)
                if rel.free_symbols == {u}
            }
            decided = cond.xreplace(truth)
            if decided is sp.false:
                continue
            if decided is sp.true and not kept:
                return val
            kept.append((val, decided))
            if decided is sp.true:
                break
        return sp.Piecewise(*kept) if kept else pw

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), pick)


def _target_constraint(d: Derivation) -> dict[sp.Basic, sp.Basic]:
    """Softmax + cross-entropy's ``delta = a - y`` holds because the targets sum to 1."""
    if d.fused and d.net.layers[-1].act.is_softmax:
        n = d.net.sizes[-1]
        return {d.sym.y(n - 1): 1 - sp.Add(*[d.sym.y(j) for j in range(n - 1)])}
    return {}


# ------------------------------------------------------------------------------------------------
# Zero testing
# ------------------------------------------------------------------------------------------------
def _zero(got: sp.Expr, want: sp.Expr) -> Verdict:
    """Whether ``got - want`` is zero: proved, refuted at a point, or neither."""
    diff = got - want
    if diff.has(sp.Piecewise):
        reason = "a branch of a piecewise unit could not be decided"
    elif _rational_zero(diff):
        return Verdict("ok")
    else:
        reason = "the difference did not cancel as a rational function"
    error = _probe(got, want)
    if error is None:
        return Verdict(
            "unproven", f"{reason}; it is 0 to {PROBE_DIGITS - 10} digits at random points"
        )
    if error == 0.0:
        return Verdict("unproven", f"{reason}, and it could not be evaluated at random points")
    return Verdict("failed", f"differs by {error:.2e} at a random point", error)


def _probe(got: sp.Expr, want: sp.Expr) -> float | None:
    """The relative difference at the first of a few random points where it is not zero to
    ``PROBE_DIGITS - 10`` digits; None when it is zero at all of them; 0.0 when none evaluates."""
    syms = sorted(got.free_symbols | want.free_symbols, key=sp.default_sort_key)
    rng = random.Random(0)
    try:
        f: Callable[..., Any] = sp.lambdify(syms, [got, want], "mpmath")
    except Exception:  # a function mpmath has no name for
        return 0.0
    evaluated = 0
    with mpmath.workdps(PROBE_DIGITS):
        for _ in range(PROBE_POINTS):
            point = [mpmath.mpf(rng.uniform(0.1, 0.9)) for _ in syms]
            try:
                values = f(*point)
            except (ValueError, ZeroDivisionError, TypeError, OverflowError):
                continue
            evaluated += 1
            error = abs(values[0] - values[1]) / max(1, abs(values[1]))
            if error > mpmath.mpf(10) ** (10 - PROBE_DIGITS):
                return float(error)
    return None if evaluated else 0.0


def _rational_zero(expr: sp.Expr) -> bool:
    """Zero as a rational function once transcendental atoms are fresh symbols and algebraic
    ones are reduced by their defining relation."""
    made: dict[sp.Basic, sp.Symbol] = {}

    def fresh(key: sp.Basic) -> sp.Symbol:
        if key not in made:
            made[key] = sp.Dummy(f"t{len(made)}")
        return made[key]

    # logs become symbols; u**v with symbolic v becomes exp(v * log(u)) over the same symbol, and
    # exp of a sum splits into a product, so SymPy's two spellings of softplus chains agree
    for atom in expr.atoms(sp.log):
        fresh(atom)
    expr = expr.replace(
        lambda e: isinstance(e, sp.Pow) and not e.exp.is_Number,
        lambda e: sp.exp(e.exp * fresh(sp.log(e.base))),
    )
    expr = expr.xreplace({atom: made[atom] for atom in expr.atoms(sp.log) if atom in made})
    expr = expr.replace(lambda e: isinstance(e, sp.exp), sp.expand_power_exp)
    # exp(c*u) -> t**(c*q) with t standing for exp(u/q): exp(u), exp(-u), exp(2u) stay related
    exps: dict[sp.Basic, tuple[sp.Expr, sp.Rational]] = {}
    for atom in expr.atoms(sp.exp):
        arg = sp.expand(atom.args[0])
        content, prim = arg.primitive() if isinstance(arg, sp.Add) else arg.as_coeff_Mul()
        if prim.could_extract_minus_sign():
            content, prim = -content, -prim
        exps[atom] = (prim, sp.Rational(content))
    denominators: dict[sp.Expr, int] = {}
    for prim, content in exps.values():
        denominators[prim] = int(sp.ilcm(denominators.get(prim, 1), content.q))
    mapping: dict[sp.Basic, sp.Expr] = {
        atom: fresh(prim) ** int(content * denominators[prim])
        for atom, (prim, content) in exps.items()
    }
    for atom in sorted(expr.atoms(sp.Function), key=sp.default_sort_key):
        if not isinstance(atom, sp.exp):
            mapping[atom] = fresh(atom)
    rational = expr.xreplace(mapping)
    # u**(p/q) -> t**p with t**q = u: the numerator is then reduced modulo t**q - u
    roots: dict[sp.Expr, tuple[sp.Symbol, int]] = {}

    def root(e: sp.Pow) -> sp.Expr:
        ratio = sp.Rational(e.exp)
        base = sp.expand(e.base)  # one symbol for every spelling of the same radicand
        t, q = roots.setdefault(base, (sp.Dummy(f"r{len(roots)}"), int(ratio.q)))
        if ratio.q != q:
            return e  # another root of the same base: left as it is
        return t ** int(ratio.p)

    rational = rational.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp.is_Rational and not e.exp.is_Integer, root
    )
    numerator = sp.numer(sp.cancel(sp.together(rational)))
    for base, (t, q) in roots.items():
        if not numerator.has(t):
            continue
        try:
            numerator = sp.rem(sp.expand(numerator), t**q - base, t)
        except sp.PolynomialError:
            return False
    return bool(sp.expand(numerator) == 0)


__all__ = ["Verdict", "prove"]
