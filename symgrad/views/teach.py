"""Teaching views: the chain-rule steps with numbers, the nudge view, gradient descent in 1-D.

:func:`explain` evaluates, at one training example, every factor of every step that
:meth:`~symgrad.calculus.derivation.Derivation.partial` records, their products and each partial's value, and
renders them like the steps themselves. :func:`nudge` sets ``dC/dw * nudge`` beside the change of
the cost when the forward pass is run again, and the linear prediction of a gradient-descent step
beside the real one. :func:`descend` walks gradient descent on a function of one variable,
tangent line by tangent line, and reports divergence instead of failing.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from .. import validate
from ..calculus.steps import Form, Prose, Step
from ..errors import DerivationError, SpecError
from ..net.network import Network
from ..verify import numeric
from .layout import (
    MATH_WIDTH,
    TEXT_WIDTH,
    Chunk,
    Equation,
    Math,
    Section,
    heading,
    latex_escape,
    latex_rows,
    rule_latex,
    rule_markdown,
    rule_text,
    text_equation,
)
from .render import (
    MAX_PARTIALS,
    select_partials,
)

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation, Partial

Array = np.ndarray[Any, np.dtype[np.float64]]
Values = tuple[tuple[float | None, ...], ...]
"""The numbers of one form, laid out like it: one tuple of factor values per product."""

_QUANTITY = re.compile(r"^(?:([wbza])(\d+)_(\d+)(?:_(\d+))?|([xy])_(\d+)|(C))$")
_FPRIME = re.compile(r"^.+'\(z(\d+)_(\d+)\)$")


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
class _Evaluator:
    """Numbers for the symbols of a derivation at one example.

    Layer quantities (x, y, w, b, z, a) come from the forward pass. A placeholder ``dN/dD`` is the
    local derivative it names (``dz/dw = a``, ``dz/da = w``, ``da/dz = f'(z)``); ``dC/dq`` is
    evaluated from the step that defines it in the derivation, else from the derivation's own
    closed form, so the numbers are the derivation's, and the reference backprop can judge them.
    """

    def __init__(self, d: Derivation, x: Array, y: Array, params: dict[str, Array]) -> None:
        self.d = d
        net, s = d.net, d.sym
        zs, acts = numeric.forward(net, params, x[None, :])
        self.z = [np.zeros(0)] + [zl[0] for zl in zs]
        self.a = [act[0] for act in acts]
        self.params, self.y = params, y
        self.cost = numeric.cost(net, params, x[None, :], y[None, :])
        self.defs: dict[sp.Symbol, sp.Expr] = {}
        self.memo: dict[sp.Symbol, float] = {s.C: self.cost}

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
            label = str(e.base.label)
            idx = tuple(int(self._eval(i, env)) for i in e.indices)
            return self.quantity(label[0], int(label[1:] or 0), idx)
        if isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                if cond == sp.true or self._truth(cond, env):
                    return self._eval(value, env)
            return math.nan
        if isinstance(e, sp.core.function.AppliedUndef) and e.func.__name__.endswith("'"):
            (z,) = e.args  # the opaque f'(z^(l)[j]) of an index-form sum
            l, j = int(str(z.base.label)[1:]), int(self._eval(z.indices[0], env))
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
        name = sym.name
        q = _parse(name)
        if q is not None and q[0] != "C":
            return self.quantity(*q)
        m = _FPRIME.match(name)
        if m:
            return self._value(self.d.fprime(int(m[1]), int(m[2])))
        if sym in self.defs:
            return self._value(self.defs[sym])
        if name.startswith("d") and "/d" in name:
            num, den = name[1:].split("/d", 1)
            qn, qd = _parse(num), _parse(den)
            if qn is not None and qd is not None:
                return self._local(qn, qd)
        raise DerivationError(f"explain cannot give a value to {name!r}")

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
            return self._value(self.d.partial(f"{kd.upper()}{l}", *jd).expr)
        if kn == "z" and kd in "wb":  # z = sum_k w_jk a_k + b_j
            if (ld, jd[0]) != (ln, jn[0]):
                return 0.0
            return 1.0 if kd == "b" else self.quantity("a", ln - 1, jd[1:])
        if kn == "z" and kd == "a" and ld == ln - 1:  # dz^(l)_j / da^(l-1)_k = w^(l)_jk
            return self.quantity("w", ln, (jn[0], jd[0]))
        if kn == "a" and kd == "z" and ld == ln:
            i, j = jn[0], jd[0]
            if self.d.net.layers[ln - 1].act.is_softmax:  # da_i/dz_j = a_i (delta_ij - a_j)
                a_l = self.a[ln]
                return float(a_l[i] * ((i == j) - a_l[j]))
            return self._value(self.d.fprime(ln, j)) if i == j else 0.0
        raise DerivationError(f"explain cannot give a value to d{num}/d{den}")


def _parse(name: str) -> tuple[str, int, tuple[int, ...]] | None:
    """``"w2_0_1"`` -> ``("w", 2, (0, 1))``; ``"x_3"`` -> ``("x", 0, (3,))``; ``"C"``."""
    m = _QUANTITY.match(name)
    if m is None:
        return None
    if m[7]:
        return ("C", 0, ())
    if m[5]:
        return (m[5], 0, (int(m[6]),))
    idx = (int(m[3]),) if m[4] is None else (int(m[3]), int(m[4]))
    return (m[1], int(m[2]), idx)


# ------------------------------------------------------------------------------------------------
# explain
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepNumbers:
    """One step with a number for every factor of every right-hand side.

    Attributes:
        step: the step as the derivation records it.
        values: per right-hand side, per product, the value of each factor.
        value: the value of the left-hand side (None for a step over a symbolic unit index).
    """

    step: Step
    values: tuple[Values, ...]
    value: float | None


@dataclass(frozen=True)
class PartialNumbers:
    """A partial derivative explained at one example.

    Attributes:
        partial: the partial derivative.
        steps: its steps, with numbers.
        factors: the values of the chain-rule factors (the first step's product).
        product: their product.
        value: the value of the closed form, which the product equals.
    """

    partial: Partial
    steps: tuple[StepNumbers, ...]
    factors: tuple[float, ...]
    product: float
    value: float


@dataclass(frozen=True)
class Explanation:
    """The selected partial derivatives, step by step, with the numbers of one example.

    Attributes:
        derivation: the derivation explained.
        x: the example's input, shape ``(n_0,)``; ``y``: its target, shape ``(n_L,)``.
        params: the parameters, ``{"W1": (n1, n0), ...}``.
        z: ``z[l]`` is z^(l) (``z[0]`` is empty); ``a``: ``a[l]`` is a^(l), ``a[0]`` is x.
        cost: the example's cost C_x.
        partials: the explained partials.
        digits: significant digits shown.
        hint: what was left out, when more partials were selected than ``max_partials``.
    """

    derivation: Derivation
    x: Array
    y: Array
    params: dict[str, Array]
    z: list[Array]
    a: list[Array]
    cost: float
    partials: tuple[PartialNumbers, ...]
    digits: int = 6
    hint: str = ""

    def __getitem__(self, key: tuple[Any, ...] | str) -> PartialNumbers:
        """``ex["W2", 0, 1]`` or ``ex["b1", 0]``: the explained partial of that entry."""
        name, *index = (key,) if isinstance(key, str) else key
        for p in self.partials:
            if p.partial.name == name and p.partial.index == tuple(index):
                return p
        raise KeyError(f"{name}{list(index)} was not explained; pass param={name!r} to explain()")

    def gradients(self) -> dict[str, Array]:
        """The gradient at this example, every entry, as arrays like ``model.gradients``.

        The explained entries are the values of their closed forms; the rest (past
        ``max_partials``, or outside ``param``/``layer``) come from backpropagation of the same
        local derivatives at the same example, so no entry is ever left out.
        """
        net = self.derivation.net
        out = numeric.gradients(net, self.params, self.x[None, :], self.y[None, :])
        for p in self.partials:
            out[p.partial.name][p.partial.index] = p.value
        return out

    def to_text(self) -> str:
        """Plain-text rendering."""
        return _render(self, "text")

    def to_markdown(self) -> str:
        """Markdown rendering with ``$...$`` and ``$$...$$`` math."""
        return _render(self, "markdown")

    def to_latex(self, document: bool = False) -> str:
        """LaTeX rendering; ``document=True`` gives a standalone document."""
        body = _render(self, "latex")
        if not document:
            return body
        return (
            "\\documentclass{article}\n\\usepackage{amsmath}\n\\allowdisplaybreaks\n"
            f"\\begin{{document}}\n{body}\\end{{document}}\n"
        )

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_text()


def explain(
    d: Derivation,
    x: Any,
    y: Any,
    params: dict[str, Any],
    *,
    param: str | None = None,
    index: int | Sequence[int] | None = None,
    layer: int | None = None,
    max_partials: int = MAX_PARTIALS,
    advice: str = "python",
    digits: int = 6,
) -> Explanation:
    """Every chain-rule step of the selected partials, with the numbers of one training example.

    Args:
        d: the derivation (``sg.derive(net)``).
        x: one input, ``n_0`` numbers (or shape ``(1, n_0)``).
        y: its target, ``n_L`` numbers (or a class label for a softmax output).
        params: ``{"W1": (n1, n0), "b1": (n1,), ...}``.
        param: explain only this parameter array, e.g. ``"W2"``.
        index: with ``param``, one entry, e.g. ``(0, 1)`` for ``W2[0, 1]`` or ``0`` for ``b2[0]``.
        layer: explain only the parameters of this layer.
        max_partials: explain at most this many partials (the rendering says how many were left out).
        digits: significant digits in the renderings.
    """
    values = check_params(d.net, params)
    xs, ys = one_example(d.net, x, y)
    selection = select_partials(d, param, layer, index, max_partials, advice)
    partials = selection.partials
    ev = _Evaluator(d, xs, ys, values)
    for p in partials:
        ev.define(p.steps)
    explained = []
    for p in partials:
        steps = tuple(
            StepNumbers(st, tuple(_form_values(ev, f) for f in st.forms), ev.of(st.expr))
            for st in p.steps
        )
        factors = tuple(math.nan if v is None else v for v in steps[0].values[0][0])
        value = ev.of(p.expr)
        product = math.prod(factors)
        explained.append(
            PartialNumbers(p, steps, factors, product, math.nan if value is None else value)
        )
    return Explanation(
        d, xs, ys, values, ev.z, ev.a, ev.cost, tuple(explained), digits, selection.hint
    )


def _form_values(ev: _Evaluator, form: Form) -> Values:
    return tuple(tuple(ev.of(f) for f in term) for term in form)


# ------------------------------------------------------------------------------------------------
# Rendering: the sections of symgrad.views.render, with number lines added to every equation
# ------------------------------------------------------------------------------------------------
def number(v: float | None, digits: int = 6) -> str:
    """A value as the renderings show it: ``digits`` significant digits, no ``-0``."""
    return "?" if v is None else format(v + 0.0, f".{digits}g")


def _numbers(values: Values, digits: int) -> list[Chunk]:
    """The numbers of a form laid out like it, one chunk per factor, negatives in parentheses."""
    many = sum(len(t) for t in values) > 1
    chunks: list[Chunk] = []
    for n, term in enumerate(values):
        for i, v in enumerate(term):
            s = number(v, digits)
            if n and not i:  # a later term joins with its sign: "+ 0.2", "- 0.3"
                sign, s = (" - ", s[1:]) if s.startswith("-") else (" + ", s)
                chunks.append(Chunk(sign + s, sign + s))
                continue
            t = f"({s})" if many and s.startswith("-") else s
            join = (" * ", " \\cdot ") if i else ("", "")
            chunks.append(Chunk(join[0] + t, join[1] + t))
    return chunks


def _equation(
    m: Math,
    lhs: sp.Basic,
    forms: Sequence[Form],
    numbers: Sequence[Values],
    value: float | None,
    digits: int,
    width: int,
    rule: Prose | str = "",
) -> Equation:
    """``lhs = form = ... = numbers = value``, each distinct line once."""
    rhss = [tuple(m.form(f, width)) for f in forms]
    seen = {"".join(c.text for c in r) for r in rhss}
    if value is not None:
        for vals in numbers:
            chunks = tuple(_numbers(vals, digits))
            text = "".join(c.text for c in chunks)
            if text not in seen:
                seen.add(text)
                rhss.append(chunks)
        last = number(value, digits)
        if last not in seen:
            rhss.append((Chunk(last, last),))
    return Equation(m.both(lhs), tuple(rhss), m.prose(rule))


def _example_section(ex: Explanation, m: Math, width: int) -> Section:
    """The forward pass at the example: each z as its sum with numbers, each a, then C."""
    d, s, dg = ex.derivation, ex.derivation.sym, ex.digits
    items: list[str | Equation] = []
    shown = ", ".join(f"{m.text(s.x(k))} = {number(v, dg)}" for k, v in enumerate(ex.x))
    target = ", ".join(f"{m.text(s.y(j))} = {number(v, dg)}" for j, v in enumerate(ex.y))
    items.append(f"the training example: {shown}; its target: {target}")
    for l, layer in enumerate(d.net.layers, start=1):
        for j in range(layer.n_out):
            z = s.z(l, j)
            form: Form = tuple((s.w(l, j, k), s.a(l - 1, k)) for k in range(layer.n_in))
            vals: Values = tuple(
                (float(ex.params[f"W{l}"][j, k]), float(ex.a[l - 1][k])) for k in range(layer.n_in)
            )
            if layer.bias:
                form, vals = (*form, (s.b(l, j),)), (*vals, (float(ex.params[f"b{l}"][j]),))
            if layer.n_in > 4:  # a long sum reads worse than its value
                form, vals = (), ()
            items.append(
                _equation(
                    m,
                    z,
                    [form] if form else [],
                    [vals] if form else [],
                    float(ex.z[l][j]),
                    dg,
                    width,
                )
            )
            act, zt, zl = layer.act, m.text(z), m.latex(z)
            if act.is_softmax:
                f = Chunk(
                    f"softmax(z^({l}))_{j}",
                    f"\\operatorname{{softmax}}\\left(z^{{({l})}}\\right)_{{{j}}}",
                )
            else:
                f = Chunk(f"{act.name}({zt})", f"{act.latex}\\left({zl}\\right)")
            a_val = number(float(ex.a[l][j]), dg)
            items.append(Equation(m.both(s.a(l, j)), ((f,), (Chunk(a_val, a_val),)), ""))
    items.append(
        _equation(m, s.C, [((d.cost(),),)], [], ex.cost, dg, width, "the cost of this example")
    )
    return Section(
        Chunk("Forward pass at one example", "Forward pass at one example"), 1, tuple(items)
    )


def _partial_section(
    ex: Explanation, pn: PartialNumbers, m: Math, width: int, position: int
) -> Section:
    items: list[str | Equation] = []
    for sn in pn.steps:
        st = sn.step
        items.append(_equation(m, st.lhs, st.forms, sn.values, sn.value, ex.digits, width, st.rule))
    head = m.both(pn.steps[0].step.lhs)
    value = number(pn.value, ex.digits)
    title = Chunk(f"{head.text} = {value}", f"{head.latex} = {value}")
    return Section(title, 2, tuple(items), f"Partial {position}")


def sections(ex: Explanation, width: int = MATH_WIDTH) -> list[Section]:
    """The example's forward pass, then each explained partial, as :mod:`symgrad.views.render` sections."""
    m = Math(ex.derivation, {})
    n = len(ex.partials)
    intro = (
        f"{n} partial derivative{'s' if n != 1 else ''} at this example: the steps of each, every "
        "local derivative with its value, their product, and the value of the partial derivative."
    )
    items = (intro, ex.hint) if ex.hint else (intro,)
    head = Section(Chunk("Partial derivatives", "Partial derivatives"), 1, items)
    return [
        _example_section(ex, m, width),
        head,
        *(_partial_section(ex, pn, m, width, n) for n, pn in enumerate(ex.partials, start=1)),
    ]


def _render(ex: Explanation, fmt: str) -> str:
    width = TEXT_WIDTH if fmt == "text" else MATH_WIDTH
    title = f"Backpropagation with numbers in {ex.derivation.net.describe()}"
    if fmt == "text":
        out = [title, "=" * len(title)]
    elif fmt == "markdown":
        out = [f"# {title}"]
    else:
        out = [f"\\section*{{{latex_escape(title)}}}"]
    for sec in sections(ex, width):
        out.append("")
        out += heading(sec, fmt)
        rows: list[str] = []  # equations without a rule of their own share one block
        for item in sec.items:
            rule = item if isinstance(item, str) else item.rule
            if fmt == "text":
                margin = "" if isinstance(item, str) else "  # "
                if rule:
                    out += textwrap.wrap(rule_text(rule), width, initial_indent=margin,
                                         subsequent_indent=margin, break_on_hyphens=False)  # fmt: skip
                if isinstance(item, Equation):
                    out += text_equation(item.lhs, item.rhss, width, "  ")
                continue
            if rule or isinstance(item, str):
                out += _block(rows, fmt)
                rows = []
                text = rule_markdown(rule) if fmt == "markdown" else rule_latex(rule)
                out += [
                    "",
                    text if isinstance(item, str) else f"*{text}*" if fmt == "markdown" else text,
                ]
            if isinstance(item, Equation):
                rows += latex_rows(item.lhs, item.rhss, width)
        out += _block(rows, fmt)
    return "\n".join(out) + "\n"


def _block(rows: list[str], fmt: str) -> list[str]:
    """Aligned rows as a Markdown ``$$`` block or a LaTeX ``align*`` (nothing for no rows)."""
    if not rows:
        return []
    if fmt == "markdown":
        return ["", "$$", "\\begin{aligned}", " \\\\\n".join(rows), "\\end{aligned}", "$$"]
    return ["\\begin{align*}", " \\\\\n".join(rows), "\\end{align*}"]
