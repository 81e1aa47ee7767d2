"""Proof that the chain-rule composition equals ``sympy.diff`` of the expanded cost.

Three judges, strongest first:

1. **symbolic** (small nets): ``expanded(partial) - diff(expanded cost, w)`` is shown to be zero.
   ``simplify`` does not finish on a 3-4-3 net, so transcendental atoms (``exp(u)``, ``tanh(u)``,
   ``log(u)``) are replaced by fresh symbols (``exp(-u)`` by ``1/exp(u)``'s symbol) and the
   difference, now a rational function, is put over one denominator with ``cancel(together(.))``.
   Piecewise activations (relu, elu) are split by the sign of each ``z`` first.
2. **numeric** (any net with explicit closed forms): the closed form evaluated at a random point,
   against central finite differences of the cost in float64.
3. **backprop** (wide nets): the NumPy backpropagation built from the same local derivatives,
   against central finite differences.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from . import numeric
from .errors import DerivationError

if TYPE_CHECKING:
    from .derive import Derivation, Partial

SYMBOLIC_PARAMETERS = 40
"""Networks up to this many parameters are proved symbolically by default."""

MAX_BRANCHES = 512


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One parameter entry checked by one judge."""

    name: str
    index: tuple[int, ...]
    method: str
    error: float
    ok: bool

    @property
    def label(self) -> str:
        return f"{self.name}[{', '.join(map(str, self.index))}]"


@dataclass(frozen=True)
class CheckReport:
    """Every check made; truthy when all passed."""

    results: tuple[CheckResult, ...]
    tolerance: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def __bool__(self) -> bool:
        return self.ok

    def worst(self, method: str | None = None) -> CheckResult | None:
        rows = [r for r in self.results if method is None or r.method == method]
        return max(rows, key=lambda r: (not r.ok, r.error), default=None)

    def methods(self) -> list[str]:
        return sorted({r.method for r in self.results})

    def table(self) -> str:
        """Worst error per judge, as a small text table."""
        lines = [f"{'check':<10} {'entries':>8} {'worst error':>12}  {'at':<12} result"]
        for method in self.methods():
            rows = [r for r in self.results if r.method == method]
            worst = self.worst(method)
            assert worst is not None
            verdict = "ok" if all(r.ok for r in rows) else "FAILED"
            lines.append(
                f"{method:<10} {len(rows):>8} {worst.error:>12.2e}  {worst.label:<12} {verdict}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def check_derivation(
    d: Derivation,
    *,
    params: Iterable[tuple[str, tuple[int, ...]]] | None = None,
    symbolic: bool | None = None,
    numeric_points: int = 2,
    seed: int = 0,
    tolerance: float = 1e-6,
    raise_on_failure: bool = False,
) -> CheckReport:
    """Check the derivation of ``d`` by the judges described in the module docstring.

    Args:
        params: ``(name, index)`` entries to check; default all (a sample of 24 on wide nets).
        symbolic: force the symbolic proof on or off; default on for small nets.
        numeric_points: random points for the numeric judges.
        tolerance: largest relative error accepted by the numeric judges.
        raise_on_failure: raise :class:`DerivationError` instead of returning a failed report.
    """
    net = d.net
    n_params = sum(int(np.prod(net.param_shape(p))) for p in net.param_names)
    entries = list(params) if params is not None else _entries(d, seed)
    do_symbolic = n_params <= SYMBOLIC_PARAMETERS if symbolic is None else symbolic
    results: list[CheckResult] = []
    if do_symbolic:
        proved = _prove_partials(d, [d.partial(name, *index) for name, index in entries])
        for (name, index), ok in zip(entries, proved, strict=True):
            results.append(
                CheckResult(name, tuple(index), "symbolic", 0.0 if ok else float("inf"), ok)
            )
    rng = np.random.default_rng(seed)
    for _ in range(numeric_points):
        vals = numeric.init_params(net, int(rng.integers(1 << 30)))
        x = rng.normal(0.0, 1.0, (1, net.sizes[0]))
        y = numeric.random_targets(net, 1, rng)
        fd = numeric.finite_differences(net, vals, x, y, which=[(n, tuple(i)) for n, i in entries])
        explicit = all(d.explicit(net.layer_of(n)) for n, _ in entries)
        if explicit:
            subs = _layer_values(d, vals, x, y)
            for name, index in entries:
                got = float(d.partial(name, *index).expr.xreplace(subs))
                results.append(
                    _numeric_result(name, index, "numeric", got, fd[name][index], tolerance)
                )
        bp = numeric.gradients(net, vals, x, y)
        for name, index in entries:
            results.append(
                _numeric_result(
                    name, index, "backprop", bp[name][index], fd[name][index], tolerance
                )
            )
    report = CheckReport(tuple(results), tolerance)
    if raise_on_failure and not report.ok:
        worst = report.worst()
        assert worst is not None
        raise DerivationError(
            f"derivation check failed at {worst.label} ({worst.method}, error {worst.error:.2e})"
        )
    return report


def _prove_partials(d: Derivation, partials: list[Partial]) -> list[bool]:
    """``p.expanded() == diff(expanded cost, w)`` for each p, on every sign pattern of the piecewise units."""
    constraint = _target_constraint(d)
    z_syms = [
        d.sym.z(l, j)
        for l, layer in enumerate(d.net.layers, start=1)
        if layer.act.expr.has(sp.Piecewise)
        for j in range(layer.n_out)
    ]
    if 2 ** len(z_syms) > MAX_BRANCHES:
        raise DerivationError(
            f"{len(z_syms)} piecewise units make too many sign patterns; use symbolic=False"
        )
    ops_z = sp.Symbol("z", real=True)
    proved = [True] * len(partials)
    for signs in itertools.product((True, False), repeat=len(z_syms)):
        sign_of = dict(zip(z_syms, signs, strict=True))

        def branch(
            f: sp.Expr, zsym: sp.Symbol, sign_of: dict[sp.Symbol, bool] = sign_of
        ) -> sp.Expr:
            return _resolve(f, ops_z, sign_of[zsym]) if zsym in sign_of else f

        fmap = d.forward_map(branch if z_syms else None)
        cost = d.cost().xreplace(fmap)
        for i, p in enumerate(partials):
            if not proved[i]:
                continue
            expr = p.expr
            for zsym, positive in sign_of.items():
                expr = _resolve(expr, zsym, positive)
            diff = (expr.xreplace(fmap) - sp.diff(cost, p.param)).xreplace(constraint)
            proved[i] = _rational_zero(diff)
    return proved


def _resolve(expr: sp.Expr, u: sp.Expr, positive: bool) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: _pick(e, u, positive))


def _entries(d: Derivation, seed: int) -> list[tuple[str, tuple[int, ...]]]:
    everything = [(p, idx) for p in d.net.param_names for idx in np.ndindex(d.net.param_shape(p))]
    if len(everything) <= 200:
        return everything
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(everything), 24, replace=False)
    return [everything[i] for i in sorted(picks)]


def _numeric_result(
    name: str, index: tuple[int, ...], method: str, got: float, want: float, tol: float
) -> CheckResult:
    err = abs(got - want) / max(1.0, abs(want))
    return CheckResult(name, tuple(index), method, err, bool(np.isfinite(err) and err <= tol))


def _layer_values(
    d: Derivation, params: numeric.Params, x: np.ndarray, y: np.ndarray
) -> dict[sp.Basic, sp.Basic]:
    """Float values of every layer quantity and parameter of one example, for ``xreplace``."""
    net, s = d.net, d.sym
    zs, acts = numeric.forward(net, params, x)
    subs: dict[sp.Basic, sp.Basic] = {}
    for k in range(net.sizes[0]):
        subs[s.x(k)] = sp.Float(x[0, k])
    for j in range(net.sizes[-1]):
        subs[s.y(j)] = sp.Float(y[0, j])
    for l, layer in enumerate(net.layers, start=1):
        for j in range(layer.n_out):
            subs[s.z(l, j)] = sp.Float(zs[l - 1][0, j])
            subs[s.a(l, j)] = sp.Float(acts[l][0, j])
            if layer.bias:
                subs[s.b(l, j)] = sp.Float(params[f"b{l}"][j])
            for k in range(layer.n_in):
                subs[s.w(l, j, k)] = sp.Float(params[f"W{l}"][j, k])
    return subs


def _target_constraint(d: Derivation) -> dict[sp.Basic, sp.Basic]:
    """Softmax + cross-entropy's ``delta = a - y`` holds because the targets sum to 1."""
    if d.fused and d.net.layers[-1].act.is_softmax:
        n = d.net.sizes[-1]
        return {d.sym.y(n - 1): 1 - sp.Add(*[d.sym.y(j) for j in range(n - 1)])}
    return {}


# ------------------------------------------------------------------------------------------------
# Zero testing
# ------------------------------------------------------------------------------------------------
def _pick(pw: sp.Piecewise, u: sp.Expr, positive: bool) -> sp.Expr:
    """``pw`` with every condition on the sign of ``u`` decided (``u > 0`` when ``positive``)."""
    kept: list[tuple[sp.Expr, sp.Basic]] = []
    for val, cond in pw.args:
        decided = _decide(cond, u, positive)
        if decided is sp.false:
            continue
        if decided is sp.true:
            if not kept:
                return val
            kept.append((val, sp.true))
            break
        kept.append((val, decided))
    return sp.Piecewise(*kept) if kept else pw


def _decide(cond: sp.Basic, u: sp.Expr, positive: bool) -> sp.Basic:
    truth: dict[sp.Basic, sp.Basic] = {}
    for rel in cond.atoms(sp.core.relational.Relational):
        v = rel.lhs - rel.rhs
        if sp.expand(v - u) == 0:
            sign = 1 if positive else -1
        elif sp.expand(v + u) == 0:
            sign = -1 if positive else 1
        else:
            continue
        holds = sign > 0 if rel.rel_op in (">", ">=") else sign < 0
        truth[rel] = sp.true if holds else sp.false
    return cond.xreplace(truth) if truth else cond


def _rational_zero(expr: sp.Expr) -> bool:
    """Zero as a rational function once transcendental atoms are fresh symbols."""
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
    return bool(sp.cancel(sp.together(rational)) == 0)
