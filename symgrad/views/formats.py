"""The formats of a rendering: one emitter each, from the same :class:`Document`.

:data:`FORMATS` names them (``"text"``, ``"markdown"``, ``"latex"``, ``"jupyter"``): each is the
width its equations break at and the function that writes a document. Adding a format is one
emitter and one entry here; HTML, which also draws the network, is :mod:`symgrad.views.html`.

Plain text spells the notation in ASCII: ``w^(2)_01`` is the weight joining unit 1 of layer 1 to
unit 0 of layer 2 (subscripts with a two-digit index are bracketed, ``w^(2)_(10,3)``), ``x_0`` and
``y_0`` are the input and the target, ``dC/dw^(2)_01`` is a partial derivative, ``sigmoid'(z)``
the derivative of an activation, ``*`` a product and ``**`` a power. Entries with a generic index
(in BP1-BP4 and in the sums of wide networks) print as arrays: ``w^(2)[i, j]``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from .document import Document
from .layout import (
    MATH_WIDTH,
    TEXT_WIDTH,
    Equation,
    heading,
    latex_escape,
    latex_rows,
    rule_latex,
    rule_markdown,
    rule_math,
    rule_text,
    text_equation,
)


def emit_text(doc: Document, width: int = TEXT_WIDTH) -> str:
    """Plain text for a terminal (``width`` columns)."""
    out = [doc.title, "=" * len(doc.title)]
    for section in doc.sections:
        out.append("")
        out += heading(section, "text")
        for item in section.items:
            if not isinstance(item, Equation):
                out += textwrap.wrap(rule_text(item), width, break_on_hyphens=False)
                continue
            margin = "  "
            if item.rule:
                out += textwrap.wrap(
                    rule_text(item.rule), width, initial_indent=f"{margin}# ",
                    subsequent_indent=f"{margin}#   ", break_on_hyphens=False,
                )  # fmt: skip
            out += text_equation(item.lhs, item.rhss, width, margin)
    return "\n".join(out) + "\n"


def emit_markdown(doc: Document) -> str:
    """Markdown: headings, the rules as text and the equations as ``$$`` display math."""
    out = [f"# {doc.title}"]
    for section in doc.sections:
        out.append("")
        out += heading(section, "markdown")
        rows: list[str] = []
        for item in section.items:
            if isinstance(item, Equation) and not item.rule:
                rows += latex_rows(item.lhs, item.rhss, MATH_WIDTH)  # joins the block above
                continue
            out += _display(rows)
            rows = []
            if not isinstance(item, Equation):
                out += ["", rule_markdown(item)]
                continue
            if item.rule:
                out += ["", f"*{rule_markdown(item.rule)}*"]
            rows = latex_rows(item.lhs, item.rhss, MATH_WIDTH)
        out += _display(rows)
    return "\n".join(out) + "\n"


def _display(rows: list[str]) -> list[str]:
    """A Markdown ``$$`` block of ``aligned`` rows (nothing for no rows)."""
    if not rows:
        return []
    return ["", "$$", "\\begin{aligned}", " \\\\\n".join(rows), "\\end{aligned}", "$$"]


PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
"""


def emit_latex(doc: Document, document: bool = False) -> str:
    """LaTeX: a fragment for a document's body, or with ``document=True`` a standalone article.

    The standalone document needs only ``amsmath`` and ``geometry`` (both in TeX Live's
    ``latex-base``) and compiles with ``pdflatex``.
    """
    out = [f"\\section*{{{latex_escape(doc.title)}}}"]
    for section in doc.sections:
        out.append("")
        out += heading(section, "latex")
        rows: list[str] = []
        for item in section.items:
            if not isinstance(item, Equation):
                if rows:
                    out += _align(rows)
                    rows = []
                out.append(rule_latex(item) + "\n")
                continue
            # \intertext keeps every step of a section aligned on its = sign
            rule = f"\\intertext{{\\emph{{{rule_latex(item.rule)}}}}}\n" if item.rule else ""
            rows.append(rule + " \\\\\n".join(latex_rows(item.lhs, item.rhss, MATH_WIDTH)))
        if rows:
            out += _align(rows)
    body = "\n".join(out) + "\n"
    if not document:
        return body
    return PREAMBLE + "\\begin{document}\n\n" + body + "\n\\end{document}\n"


def _align(rows: list[str]) -> list[str]:
    return ["\\begin{align*}", " \\\\\n".join(rows), "\\end{align*}"]


def emit_jupyter(doc: Document) -> str:
    """One ``$$\\begin{aligned}...\\end{aligned}$$`` block: what notebooks' MathJax shows."""
    # the arrows between the layers are math, between bold text: 2 -> 3 sigmoid -> 1 sigmoid
    parts = doc.title_parts or (doc.title,)
    title = "\\to".join(f"\\textbf{{{latex_escape(part)}}}" for part in parts)
    rows = [f"&{title}"]
    for section in doc.sections:
        lead = f"\\text{{{section.label}: }}" if section.label else ""
        title = (
            lead + section.title.latex
            if section.level == 2
            else f"\\textbf{{{section.title.latex}}}"
        )
        rows.append(f"&{title}")
        for item in section.items:
            if not isinstance(item, Equation):
                rows.append(f"&{rule_math(item)}")
                continue
            if item.rule:
                rows.append(f"&\\quad {rule_math(item.rule)}")
            rows += latex_rows(item.lhs, item.rhss, MATH_WIDTH)
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


@dataclass(frozen=True)
class Format:
    """A format of rendering: the width its equations break at, and its emitter."""

    width: int
    emit: Callable[[Document], str]


FORMATS: dict[str, Format] = {
    "text": Format(TEXT_WIDTH, emit_text),
    "markdown": Format(MATH_WIDTH, emit_markdown),
    "latex": Format(MATH_WIDTH, emit_latex),
    "latex-document": Format(MATH_WIDTH, lambda doc: emit_latex(doc, document=True)),
    "jupyter": Format(MATH_WIDTH, emit_jupyter),
}
"""Every format by its name."""


__all__ = [
    "FORMATS",
    "PREAMBLE",
    "Format",
    "emit_jupyter",
    "emit_latex",
    "emit_markdown",
    "emit_text",
]
