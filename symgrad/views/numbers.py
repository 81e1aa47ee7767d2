"""The numbers of a derivation at one training example: the inputs checked, and every symbol of
the chain-rule steps given its value.

Layer quantities (x, y, w, b, z, a) come from the forward pass of the NumPy reference
(:mod:`symgrad.verify.numeric`); a placeholder ``dN/dD`` is the local derivative it names; each
symbol is known by its :class:`~symgrad.calculus.symbols.Meta`, never by its name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from .. import validate
from ..calculus.steps import Step
from ..calculus.symbols import Meta
from ..errors import DerivationError, SpecError
from ..net.network import Network
from ..verify import numeric

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation

Array = np.ndarray[Any, np.dtype[np.float64]]


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
def check_params(net: Network, params: dict[str, Any]) -> dict[str, Array]:
    """Parameters as float64 arrays of the declared shapes, or a SpecError naming the one to fix."""
    if not isinstance(params, dict):
        raise SpecError(
            f"params must be a dict like {{'W1': array, 'b1': array}}, got {type(params).__name__}"
        )
    missing = [n for n in net.param_names if n not in params]
    if missing:
        raise SpecError(
            f"params lacks {', '.join(missing)}; give every one of {', '.join(net.param_names)}"
        )
    out: dict[str, Array] = {}
    for name in net.param_names:
        arr = validate.array(params[name], f"params[{name!r}]").astype(np.float64)
        if arr.shape != net.param_shape(name):
            raise SpecError(
                f"params[{name!r}] has shape {arr.shape}; this network needs {net.param_shape(name)}"
            )
        out[name] = arr
    return out


def one_example(net: Network, x: Any, y: Any) -> tuple[Array, Array]:
    """One training example as ``(x, y)`` of shapes ``(n_0,)`` and ``(n_L,)``."""
    xs = validate.array(x, "x").astype(np.float64)
    if xs.size != net.sizes[0]:
        raise SpecError(
            f"explain takes one example: x needs {net.sizes[0]} numbers, got shape {xs.shape}"
        )
    ys = validate.array(y, "y")
    if ys.ndim == 0 and np.issubdtype(ys.dtype, np.integer) and net.sizes[-1] > 1:
        ys = ys.reshape(1)  # a class label
    yt = numeric.targets(net, ys)
    if yt.shape[0] != 1:
        raise SpecError(
            f"explain takes one example: y needs {net.sizes[-1]} numbers, got shape {ys.shape}"
        )
    return xs.reshape(-1), yt[0]


# ------------------------------------------------------------------------------------------------
# Evaluating the factors of the steps
# ------------------------------------------------------------------------------------------------
class Evaluator:
    """Numbers for the symbols of a derivation at one example.

    Layer quantities (x, y, w, b, z, a) come from the forward pass. A placeholder ``dN/dD`` is the
    local derivative it names (``dz/dw = a``, ``dz/da = w``, ``da/dz = f'(z)``); ``dC/dq`` is
    evaluated from the step that defines it in the derivation, else from the derivation's own
    closed form, so the numbers are the derivation's, and the reference backprop can judge them.
    """

    def __init__(self, d: Derivation, x: Array, y: Array, params: dict[str, Array]) -> None:
        self.d = d
        net, s = d.net, d.sym
        # dropout as in training with every unit kept (m = 1): the derivation's a = m f(z)/(1 - p)
        self.masks = {
            l: np.ones((1, layer.n_out)) for l, layer in enumerate(net.layers, 1) if layer.dropout
        }
        zs, acts = numeric.forward(net, params, x[None, :], self.masks)
        self.z = [np.zeros(0)] + [zl[0] for zl in zs]
        self.a = [act[0] for act in acts]
        self.params, self.y = params, y
        self.cost = numeric.cost(
            net, params, x[None, :], y[None, :], regularized=False, masks=self.masks
        )
        self.penalty = numeric.penalty(net, params)  # 0 without a penalty
        self.defs: dict[sp.Symbol, sp.Expr] = {}
        self.memo: dict[sp.Symbol, float] = {s.C: self.cost, s.total: self.cost + self.penalty}

    def define(self, steps: Sequence[Step]) -> None:
        for step in steps:
            if step.kind not in ("closed", "expanded") and step.lhs not in self.defs:
                self.defs[step.lhs] = step.expr

    def of(self, expr: sp.Expr) -> float | None:
        """The value of ``expr``, or None when it is written for a symbolic unit index."""
        expr = sp.sympify(expr)
        if any(getattr(sym, "is_integer", False) for sym in expr.free_symbols):
            return None  # a step over "unit j" of a wide layer: no one number
        with np.errstate(all="ignore"):
            try:
                return self._eval(expr, {})
            except (OverflowError, ZeroDivisionError, ValueError):
                return math.nan

    def _eval(self, e: sp.Basic, env: dict[sp.Symbol, int]) -> float:
        """Walk the tree in float64; sums loop over their index (nothing is expanded)."""
        if e.is_Number or (isinstance(e, sp.Expr) and e.is_number):  # 2, pi, sqrt(2)/2
            return float(e)
        if isinstance(e, sp.Symbol):
            return float(env[e]) if e in env else self.symbol(e)
        if isinstance(e, sp.Add):
            return math.fsum(self._eval(t, env) for t in e.args)
        if isinstance(e, sp.Mul):
            return math.prod(self._eval(f, env) for f in e.args)
        if isinstance(e, sp.Pow):
            base, ex = self._eval(e.base, env), self._eval(e.exp, env)
            return float(base ** int(ex)) if ex == int(ex) else math.pow(base, ex)
        if isinstance(e, sp.Sum):
            (i, lo, hi), body = e.limits[0], e.function
            inner = sp.Sum(body, *e.limits[1:]) if len(e.limits) > 1 else body
            start, stop = int(self._eval(lo, env)), int(self._eval(hi, env))
            return math.fsum(self._eval(inner, {**env, i: n}) for n in range(start, stop + 1))
        if isinstance(e, sp.Indexed):
            meta = self.d.sym.meta[e.base.label]  # the array: its quantity and layer
            idx = tuple(int(self._eval(i, env)) for i in e.indices)
            return self.quantity(meta.kind, meta.layer or 0, idx)
        if isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                if cond == sp.true or self._truth(cond, env):
                    return self._eval(value, env)
            return math.nan
        if isinstance(e, sp.core.function.AppliedUndef) and e.func.__name__.endswith("'"):
            (z,) = e.args  # the opaque f'(z^(l)[j]) of an index-form sum
            l, j = self.d.sym.meta[z.base.label].layer, int(self._eval(z.indices[0], env))
            assert l is not None
            return self._value(self.d.fprime(l, j))
        if isinstance(e, sp.Function):
            args = [self._eval(arg, env) for arg in e.args]
            fn = getattr(math, e.func.__name__, None)
            if fn is not None and len(args) == 1:
                return float(fn(args[0]))
            return float(e.func(*[sp.Float(v) for v in args]).evalf())
        raise DerivationError(f"explain cannot evaluate {e}")

    def _truth(self, cond: sp.Basic, env: dict[sp.Symbol, int]) -> bool:
        if isinstance(cond, sp.core.relational.Relational):
            lhs, rhs = self._eval(cond.lhs, env), self._eval(cond.rhs, env)
            return bool(sp.sympify(cond.func(sp.Float(lhs), sp.Float(rhs))))
        if isinstance(cond, sp.And):
            return all(self._truth(c, env) for c in cond.args)
        if isinstance(cond, sp.Or):
            return any(self._truth(c, env) for c in cond.args)
        raise DerivationError(f"explain cannot decide {cond}")

    def symbol(self, sym: sp.Symbol) -> float:
        if sym not in self.memo:
            self.memo[sym] = self._resolve(sym)
        return self.memo[sym]

    def quantity(self, kind: str, l: int, idx: tuple[int, ...]) -> float:
        if kind in "wb":
            return float(self.params[f"{kind.upper()}{l}"][idx])
        if kind == "x":
            return float(self.a[0][idx[0]])
        if kind == "y":
            return float(self.y[idx[0]])
        return float((self.z if kind == "z" else self.a)[l][idx[0]])

    def _resolve(self, sym: sp.Symbol) -> float:
        meta = self.d.sym.meta.get(sym)
        q = _quantity(meta)
        if q is not None and q[0] != "C":
            return self.quantity(*q)
        if meta is not None and meta.kind == "m":  # a dropout mask: every unit kept
            return 1.0
        if meta is not None and meta.kind == "p":
            assert meta.layer is not None
            return self.d.net.layers[meta.layer - 1].dropout
        if meta is not None and meta.kind == "lambda":
            reg = self.d.net.regularization
            assert reg is not None
            return reg.lam
        if meta is not None and meta.kind == "fprime":
            assert meta.layer is not None
            return self._value(self.d.fprime(meta.layer, meta.index[0]))
        if sym in self.defs:
            return self._value(self.defs[sym])
        if meta is not None and meta.kind == "partial":
            num, den = (_quantity(self.d.sym.meta.get(part)) for part in meta.of)
            if num is not None and den is not None:
                return self._local(num, den)
        raise DerivationError(f"explain cannot give a value to {sym.name!r}")

    def _value(self, expr: sp.Expr) -> float:
        v = self.of(expr)
        if v is None:
            raise DerivationError(f"explain cannot evaluate {expr} at one unit")
        return v

    def _local(
        self, num: tuple[str, int, tuple[int, ...]], den: tuple[str, int, tuple[int, ...]]
    ) -> float:
        """The value of the placeholder ``d num / d den``."""
        (kn, ln, jn), (kd, ld, jd) = num, den
        if kd == "x":
            kd, ld = "a", 0
        if kn == "C":  # a partial of the cost not spelled out in these steps: its closed form
            l, j = ld, jd[0]
            if kd == "a":
                return self._value(self.d.dC_da(l, j))
            if kd == "z":
                return self._value(self.d.dC_dz(l, j))
            steps = self.d.partial(f"{kd.upper()}{l}", *jd).steps
            closed = next(step for step in steps if step.kind == "closed")  # dC_0/dw, no penalty
            return self._value(closed.expr)
        if kn == "z" and kd in "wb":  # z = sum_k w_jk a_k + b_j
            if (ld, jd[0]) != (ln, jn[0]):
                return 0.0
            return 1.0 if kd == "b" else self.quantity("a", ln - 1, jd[1:])
        if kn == "z" and kd == "a" and ld == ln - 1:  # dz^(l)_j / da^(l-1)_k = w^(l)_jk
            return self.quantity("w", ln, (jn[0], jd[0]))
        if kn == "a" and kd == "a" and ld == ln - 1:  # a skip: a^(l) = a^(l-1) + f(z^(l))
            return 1.0 if self.d.net.layers[ln - 1].residual and jn == jd else 0.0
        if kn == "a" and kd == "z" and ld == ln:
            i, j = jn[0], jd[0]
            if self.d.net.layers[ln - 1].act.is_softmax:  # da_i/dz_j = a_i (delta_ij - a_j)
                a_l = self.a[ln]
                return float(a_l[i] * ((i == j) - a_l[j]))
            return self._value(self.d.fprime(ln, j)) if i == j else 0.0
        raise DerivationError(f"explain cannot give a value to d{num}/d{den}")


def _quantity(meta: Meta | None) -> tuple[str, int, tuple[int, ...]] | None:
    """``w^(2)_01`` -> ``("w", 2, (0, 1))``; ``x_3`` -> ``("x", 0, (3,))``; ``C``; None for
    anything else (a placeholder, a generic unit), from the symbol's metadata."""
    if meta is None or meta.kind not in ("w", "b", "z", "a", "x", "y", "C"):
        return None
    if not all(isinstance(i, int) for i in meta.index):
        return None
    return (meta.kind, meta.layer or 0, tuple(meta.index))


__all__ = ["Array", "Evaluator", "check_params", "one_example"]
