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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy as sp

from ..calculus.steps import Form, Prose, Step, prose
from ..verify import numeric
from .document import MAX_PARTIALS, select_partials
from .layout import (
    MATH_WIDTH,
    TEXT_WIDTH,
    Chunk,
    Equation,
    Math,
    Paragraph,
    Section,
)
from .numbers import Array, Evaluator, check_params, one_example
from .pages import render_sections

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation, Partial

Values = tuple[tuple[float | None, ...], ...]
"""The numbers of one form, laid out like it: one tuple of factor values per product."""


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
    ev = Evaluator(d, xs, ys, values)
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


def _form_values(ev: Evaluator, form: Form) -> Values:
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
                chunks.append(Chunk(sign + s, sign + s, numbers=True))
                continue
            t = f"({s})" if many and s.startswith("-") else s
            join = (" * ", " \\cdot ") if i else ("", "")
            chunks.append(Chunk(join[0] + t, join[1] + t, numbers=True))
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
            rhss.append((Chunk(last, last, numbers=True),))
    return Equation(m.both(lhs), tuple(rhss), m.prose(rule))


def _example_section(ex: Explanation, m: Math, width: int) -> Section:
    """The forward pass at the example: each z as its sum with numbers, each a, then C."""
    d, s, dg = ex.derivation, ex.derivation.sym, ex.digits
    items: list[Paragraph | Equation] = []
    example: list[str | sp.Basic] = ["the training example: "]
    for k, v in enumerate(ex.x):
        example += [", " if k else "", s.x(k), f" = {number(v, dg)}"]
    example.append("; its target: ")
    for j, v in enumerate(ex.y):
        example += [", " if j else "", s.y(j), f" = {number(v, dg)}"]
    items.append(m.prose(prose(*example)))
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
            if layer.dropout:  # while training, a = m f(z) / (1 - p); here every unit kept
                mask, p = m.both(s.mask(l, j)), m.both(s.drop(l))
                f = Chunk(
                    f"{mask.text}*{f.text}/(1 - {p.text})",
                    f"{mask.latex}\\,{f.latex}/(1 - {p.latex})",
                )
            if layer.residual:  # a = a_prev + f(z)
                below = m.both(s.a(l - 1, j))
                f = Chunk(f"{below.text} + {f.text}", f"{below.latex} + {f.latex}")
            a_val = number(float(ex.a[l][j]), dg)
            items.append(
                Equation(m.both(s.a(l, j)), ((f,), (Chunk(a_val, a_val, numbers=True),)), "")
            )
    items.append(
        _equation(m, s.C, [((d.cost(),),)], [], ex.cost, dg, width, "the cost of this example")
    )
    reg = d.net.regularization
    if reg is not None:
        text, latex = reg.shown
        penalty = numeric.penalty(d.net, ex.params)
        sums = f"{number(ex.cost, dg)} + {number(penalty, dg)}"
        total = number(ex.cost + penalty, dg)
        rhss = (
            (Chunk(f"C_0 + {text}", f"C_0 + {latex}"),),
            (Chunk(sums, sums, numbers=True),),
            (Chunk(total, total, numbers=True),),
        )
        rule = m.prose(f"with the {reg.what}, lambda = {reg.lam:g}")
        items.append(Equation(m.both(s.total), rhss, rule))
    return Section(
        Chunk("Forward pass at one example", "Forward pass at one example"), 1, tuple(items)
    )


def _partial_section(
    ex: Explanation, pn: PartialNumbers, m: Math, width: int, position: int
) -> Section:
    items: list[Paragraph | Equation] = []
    for sn in pn.steps:
        st = sn.step
        items.append(_equation(m, st.lhs, st.forms, sn.values, sn.value, ex.digits, width, st.rule))
    head = m.both(pn.steps[-1].step.lhs)  # dC/dw (the chain's is dC_0/dw with a penalty)
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
    return render_sections(title, sections(ex, width), fmt, width)
