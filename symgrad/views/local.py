"""A local derivative derived rule by rule (:class:`~symgrad.calculus.local.LocalDerivation`),
as a section of the document model, so that every format shows it.

:func:`local_section` builds one section: a paragraph on the function, then every step of the
rules' tree in reading order, numbered as an outline (``1.2`` is the second part of step 1),
each an equation ``d/dz (expr) = result`` under its rule, then the rewrites (``f'(z) = ...``).
A derivation's documents put these under the activations' and the cost's definitions on request
(``local_steps=True``); HTML folds them in ``<details>``. :func:`render_local` and
:func:`local_html` show one on its own.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import sympy as sp

from ..calculus.steps import Prose, prose, single
from ..errors import SpecError
from .document import Document
from .formats import FORMATS
from .layout import Chunk, Equation, Math, Paragraph, Section, lhs_indent
from .notation import LatexNotation, TextNotation

if TYPE_CHECKING:
    from ..calculus.local import LocalDerivation
    from ..calculus.rules import LocalStep


class _PlainMath(Math):
    """Both printers without a derivation: every symbol prints as its name (``z``, ``a``, ``u``)."""

    def __init__(self) -> None:
        self.latex_printer = LatexNotation({}, {})
        self.text_printer = TextNotation()
        self._memo: dict[sp.Basic, Chunk] = {}


def _head(ld: LocalDerivation) -> Chunk:
    """How the derivative is named: ``sigmoid'(z)``, ``dc/da`` (a cost), ``f'(z)``."""
    x = ld.var.name
    if ld.kind == "cost":
        return Chunk(f"dc/d{x}", rf"\frac{{\partial c}}{{\partial {x}}}")
    return Chunk(f"{ld.name}'({x})", rf"{ld.latex_name}'\left({x}\right)")


def _lhs(m: Math, step: LocalStep) -> Chunk:
    """``d/dz (expr)``: parentheses unless the expression is one symbol or number."""
    x, e = step.var, step.expr
    dx = Chunk(f"d/d{m.text(x)}", rf"\frac{{d}}{{d{m.latex(x)}}}")
    if e.is_Atom or isinstance(e, sp.Function):
        return Chunk(f"{dx.text} {m.text(e)}", f"{dx.latex} {m.latex(e)}")
    return Chunk(f"{dx.text} ({m.text(e)})", rf"{dx.latex} \left({m.latex(e)}\right)")


def _intro(m: Math, ld: LocalDerivation) -> Prose:
    x = ld.var.name
    if ld.kind == "cost":
        what = prose(f"The {ld.name} cost's term c(a, y) = ", ld.function)
    elif ld.kind == "activation" and m.text(ld.function) == f"{ld.name}({x})":
        what = prose(f"{ld.name}({x})")  # tanh(z) = tanh(z) says nothing
    else:
        what = prose(f"{ld.name}({x}) = ", ld.function)
    what = prose(*what, ", differentiated rule by rule (1.2 is the second part of step 1).")
    return prose(*what, f" {ld.note}") if ld.note else what


def local_section(m: Math, ld: LocalDerivation, width: int) -> Section:
    """The steps of ``ld`` as one (folded) section, its equations broken at ``width``."""
    items: list[Paragraph | Equation] = [m.prose(_intro(m, ld))]
    head = _head(ld)
    for n, root in enumerate(ld.steps, start=1):
        for number, step in root.walk((n,)):
            lhs = head if step.rewrite else _lhs(m, step)
            room = width - 2 - lhs_indent(lhs) - 2
            rhs = tuple(m.form(single(step.result), room))
            rule = prose(".".join(str(k) for k in number) + ": ", *step.why)
            items.append(Equation(lhs, (rhs,), m.prose(rule)))
    title = Chunk(head.text, head.latex)
    return Section(title, 2, tuple(items), "Rule by rule", folded=True)


def render_local(ld: LocalDerivation, fmt: str, *, width: int | None = None) -> str:
    """``ld`` on its own in ``fmt``: ``"text"``, ``"markdown"``, ``"latex"``,
    ``"latex-document"`` or ``"jupyter"``."""
    if fmt not in FORMATS:
        raise SpecError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    spec = FORMATS[fmt]
    section = local_section(_PlainMath(), ld, spec.width if width is None else width)
    title = f"The derivative of {_named(ld)}, rule by rule"
    return spec.emit(Document(title, (section,)))


def _named(ld: LocalDerivation) -> str:
    x = ld.var.name
    if ld.kind == "formula":
        return f"f({x}) = {TextNotation().doprint(ld.function)}"
    return f"the {ld.name} {ld.kind}"


def local_html(ld: LocalDerivation) -> str:
    """``ld`` as an HTML fragment: its steps in an open ``<details>``, equations as MathML."""
    from latex2mathml.converter import convert

    from .html import HTML_WIDTH, _item

    def math(tex: str) -> str:
        return str(convert(tex.strip(), display="inline"))

    section = local_section(_PlainMath(), ld, HTML_WIDTH)
    summary = f"{html.escape(section.label)}: {math(section.title.latex)}"
    body = [_item(item, math) for item in section.items]
    return (
        "\n".join(
            ['<details class="local" open>', f"<summary>{summary}</summary>", *body, "</details>"]
        )
        + "\n"
    )


__all__ = ["local_html", "local_section", "render_local"]
