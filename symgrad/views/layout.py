"""The layout of derivations: symbol names, the two spellings of an equation, line breaking.

Shared by :mod:`symgrad.views.render` (text, Markdown, LaTeX), :mod:`symgrad.views.teach` (numbers in every
factor) and :mod:`symgrad.views.html` (the standalone page). An equation is a left-hand side and one
or more right-hand sides, each a sequence of :class:`Chunk` (a piece with both its plain-text
and its LaTeX spelling, and the operator that joins it to the previous piece), so that every
format breaks long lines at the same places. :class:`Math` builds chunks from SymPy
expressions; :class:`Equation` and :class:`Section` are the format-neutral document.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence

from ..calculus.steps import Form, Formula, Prose
from ..calculus.symbols import Meta
from .notation import LatexNotation, TextNotation

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation

TEXT_WIDTH = 88
"""Columns of plain text; longer equations break between terms or factors."""

MATH_WIDTH = 72
"""Width of a LaTeX or Markdown display line, measured on the plain-text spelling."""


# ------------------------------------------------------------------------------------------------
# Chunks of an equation: what may go on one line, in both spellings
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """A piece of a right-hand side, with the operator that joins it to the previous piece;
    ``numbers`` when it holds numbers only (a step evaluated), which some formats colour."""

    text: str
    latex: str
    numbers: bool = False

    def lstrip(self) -> Chunk:
        return Chunk(self.text.lstrip(), self.latex.lstrip(), self.numbers)


def _joined(chunks: Sequence[Chunk], sep: str = "") -> Chunk:
    return Chunk(
        sep.join(c.text for c in chunks),
        sep.join(c.latex for c in chunks),
        bool(chunks) and all(c.numbers for c in chunks),
    )


_LATEX_FUNCTIONS = frozenset({"exp", "log", "tanh", "sinh", "cosh", "sin", "cos", "tan"})


def _lead(text: str, latex: str, chunks: list[Chunk]) -> list[Chunk]:
    """Chunks with ``text``/``latex`` put before the first one (a joiner or an opening)."""
    return [Chunk(text + chunks[0].text, latex + chunks[0].latex), *chunks[1:]]


def _paren(chunks: list[Chunk]) -> list[Chunk]:
    """Chunks in parentheses; ``\\left(`` cannot span lines, so split ones get ``\\Bigl(``."""
    if len(chunks) == 1:
        c = chunks[0]
        return [Chunk(f"({c.text})", f"\\left({c.latex}\\right)")]
    last = chunks[-1]
    return _lead("(", "\\Bigl(", [*chunks[:-1], Chunk(last.text + ")", last.latex + "\\Bigr)")])


class Math:
    """Both printers of one derivation, and the helpers that turn forms into chunks."""

    def __init__(
        self,
        d: Derivation,
        extra: dict[sp.Basic, str],
        extra_meta: dict[sp.Basic, Meta] | None = None,
    ) -> None:
        functions = {layer.act.name: layer.act.latex for layer in d.net.layers}
        # the derivation's tables grow as partials are derived, so they are read live
        self.latex_printer = LatexNotation(ChainMap(extra, d.sym.latex), functions)
        self.text_printer = TextNotation(ChainMap(extra_meta or {}, d.sym.meta))
        self._memo: dict[sp.Basic, Chunk] = {}

    def text(self, expr: sp.Basic) -> str:
        out: str = self.text_printer.doprint(expr)
        return out

    def latex(self, expr: sp.Basic) -> str:
        out: str = self.latex_printer.doprint(expr)
        return out

    def prose(self, text: Prose | str) -> Pieces | str:
        """Prose as pieces in both spellings (words as they are, maths printed)."""
        if isinstance(text, str):
            return text
        return tuple(
            (False, part, part)
            if isinstance(part, str)
            else (True, part.text, part.latex)
            if isinstance(part, Formula)
            else (True, self.text(part), self.latex(part))
            for part in text
        )

    def both(self, expr: sp.Basic) -> Chunk:
        # splitting a long expression prints its subexpressions again: remember them
        chunk = self._memo.get(expr)
        if chunk is None:
            chunk = self._memo[expr] = Chunk(self.text(expr), self.latex(expr))
        return chunk

    def term(self, factors: Sequence[sp.Expr], first: bool, width: int) -> list[Chunk]:
        """An ordered product as chunks, led by its ``+``/``-`` joiner unless it comes first."""
        chunks: list[Chunk] = []
        for i, f in enumerate(factors):
            part = self.expression(f, width)
            if len(factors) > 1 and (
                precedence(f) < PRECEDENCE["Mul"] or (i and part[0].text.startswith("-"))
            ):
                part = _paren(part)
            chunks += _lead(" * ", " \\cdot ", part) if i else part
        if first:
            return chunks
        if chunks[0].text.startswith("-") and chunks[0].latex.startswith("-"):
            # a - b reads better than a + -b
            head = Chunk(chunks[0].text[1:].lstrip(), chunks[0].latex[1:].lstrip())
            if head.text == "1" and len(chunks) > 1:  # -1 * x: drop the 1
                return _lead(" - ", " - ", [chunks[1].lstrip(), *chunks[2:]])
            return _lead(" - ", " - ", [head, *chunks[1:]])
        return _lead(" + ", " + ", chunks)

    def form(self, form: Form, width: int) -> list[Chunk]:
        """A sum of ordered products as chunks, in the order the form gives."""
        chunks: list[Chunk] = []
        for i, term in enumerate(form):
            chunks += self.term(term, i == 0, width)
        return chunks

    def expression(self, expr: sp.Expr, width: int) -> list[Chunk]:
        """One expression as chunks: whole when it fits, else split at its outermost operator.

        The split follows the expression's tree (terms, factors, the body of a sum, the argument
        of a function), so every line break falls between operands, never inside a name.
        """
        whole = self.both(expr)
        if len(whole.text) <= width or not isinstance(expr, sp.Expr):
            return [whole]
        if isinstance(expr, sp.Add):
            terms = expr.as_ordered_terms()
            return [c for i, t in enumerate(terms) for c in self.term((t,), i == 0, width)]
        if expr.could_extract_minus_sign():
            return _lead("-", "-", self.expression(-expr, width))
        if isinstance(expr, sp.Mul):
            return self.term(tuple(expr.as_ordered_factors()), True, width)
        if isinstance(expr, sp.Pow) and expr.exp == -1:
            # 1/(...) in text; (...)^{-1} in LaTeX, where \\frac cannot span lines
            inner = _paren(self.expression(expr.base, width))
            inner[-1] = Chunk(inner[-1].text, inner[-1].latex + "^{-1}")
            return _lead("1/", "", inner)
        if isinstance(expr, sp.Sum) and len(expr.limits) == 1:
            i, lo, hi = expr.limits[0]
            head = Chunk(
                f"sum_({self.text(i)}={self.text(lo)}..{self.text(hi)}) ",
                f"\\sum_{{{self.latex(i)}={self.latex(lo)}}}^{{{self.latex(hi)}}} ",
            )
            return _lead(head.text, head.latex, _paren(self.expression(expr.function, width)))
        if isinstance(expr, sp.Function) and len(expr.args) == 1:
            name = type(expr).__name__
            tex = f"\\{name}" if name in _LATEX_FUNCTIONS else f"\\operatorname{{{name}}}"
            return _lead(name, tex, _paren(self.expression(expr.args[0], width)))
        return [whole]


def lhs_indent(lhs: Chunk) -> int:
    """Columns before a continued right-hand side: under the ``=`` unless the lhs is long."""
    return len(lhs.text) + 3 if len(lhs.text) <= 24 else 6


def equation_lines(
    lhs: Chunk, rhss: Sequence[Sequence[Chunk]], width: int
) -> list[tuple[str, Chunk]]:
    """Break ``lhs = rhs_1 = rhs_2 ...`` into lines of at most ``width`` plain-text columns.

    Returns ``(kind, content)`` pairs; kind is ``"first"`` (holds the lhs), ``"eq"`` (starts a
    new right-hand side) or ``"cont"`` (continues the last one).
    """
    joined = [_joined(rhs) for rhs in rhss]
    if len(lhs.text) + sum(3 + len(r.text) for r in joined) <= width:
        return [("first", _joined(joined, " = "))]
    indent = lhs_indent(lhs)
    lines: list[tuple[str, Chunk]] = []
    for n, rhs in enumerate(rhss):
        kind = "first" if n == 0 else "eq"
        avail = width - indent
        line: list[Chunk] = []
        for chunk in rhs:
            if line and sum(len(c.text) for c in line) + len(chunk.text) > avail:
                lines.append((kind, _joined(line)))
                kind, avail = "cont", width - indent - 2
                chunk = chunk.lstrip()  # the joiner opens the new line
                line = []
            line.append(chunk)
        lines.append((kind, _joined(line)))
    return lines


def text_equation(
    lhs: Chunk, rhss: Sequence[Sequence[Chunk]], width: int, margin: str
) -> list[str]:
    """Plain-text lines of an equation, continuation lines indented under its right-hand side."""
    col = lhs_indent(lhs)  # where a right-hand side starts
    out = []
    for kind, content in equation_lines(lhs, rhss, width - len(margin)):
        if kind == "first":
            out.append(f"{margin}{lhs.text} = {content.text}")
        elif kind == "eq":
            out.append(f"{margin}{' ' * (col - 2)}= {content.text}")
        else:
            out.append(f"{margin}{' ' * (col + 2)}{content.text}")
    return out


def latex_rows(lhs: Chunk, rhss: Sequence[Sequence[Chunk]], width: int) -> list[str]:
    """Rows of an ``align*`` / ``aligned`` block, aligned on ``=``."""
    rows = []
    for kind, content in equation_lines(lhs, rhss, width):
        if kind == "first":
            rows.append(f"{lhs.latex} &= {content.latex}")
        elif kind == "eq":
            rows.append(f"&= {content.latex}")
        else:
            rows.append(f"&\\qquad {content.latex}")
    return rows


# ------------------------------------------------------------------------------------------------
# Rules: words and maths side by side, each spelled for its format
# ------------------------------------------------------------------------------------------------
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\^{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "~": r"\~{}",
    "<": r"$<$",
    ">": r"$>$",
}


_MATH_TEXT_SPECIALS = {**_LATEX_SPECIALS, "<": "<", ">": ">"}


def latex_escape(text: str, in_math: bool = False) -> str:
    """Text for LaTeX's text mode: specials escaped, ``->`` as an arrow; ``in_math`` for the
    ``\\text{}`` of a math block, where the arrow and ``<``, ``>`` need no ``$``."""
    specials = _MATH_TEXT_SPECIALS if in_math else _LATEX_SPECIALS
    parts = text.split("->")
    escaped = ["".join(specials.get(ch, ch) for ch in part) for part in parts]
    return (r"\to" if in_math else r"$\to$").join(escaped)


Pieces = tuple[tuple[bool, str, str], ...]
"""A rule ready to show: ``(is_math, text, latex)`` pieces, from :meth:`Math.prose`."""

Paragraph = str | Pieces
"""A paragraph of a section: words alone, or words and maths as :data:`Pieces`."""


def rule_pieces(rule: Paragraph) -> list[tuple[bool, str, str]]:
    """``(is_math, text, latex)`` pieces of a rule: words alone are one piece of words (a rule
    with maths in it comes as :data:`Pieces`, from :class:`~symgrad.calculus.steps.Prose`)."""
    if isinstance(rule, tuple):
        return list(rule)
    return [(False, rule, rule)] if rule else []


def rule_text(rule: Paragraph) -> str:
    """A rule with symbols in the plain-text notation."""
    return "".join(text for _, text, _ in rule_pieces(rule))


def rule_latex(rule: Paragraph) -> str:
    """A rule for LaTeX (and Markdown) text: prose escaped, symbols in ``$...$``."""
    return "".join(
        f"${tex}$" if is_math else latex_escape(tex) for is_math, _, tex in rule_pieces(rule)
    )


def rule_markdown(rule: Paragraph) -> str:
    """A rule for Markdown: prose as is, symbols in ``$...$``."""
    return "".join(f"${tex}$" if is_math else tex for is_math, _, tex in rule_pieces(rule))


def rule_math(rule: Paragraph) -> str:
    """A rule inside a math block (Jupyter): prose in ``\\text{}``, symbols as math."""
    out = []
    for is_math, _, tex in rule_pieces(rule):
        out.append(tex if is_math else r"\text{" + latex_escape(tex, in_math=True) + "}")
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# The document, format-neutral: sections of paragraphs and equations
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Equation:
    lhs: Chunk
    rhss: tuple[tuple[Chunk, ...], ...]
    rule: str | Pieces = ""  # prose with symbols, shown with the equation


@dataclass(frozen=True)
class Section:
    title: Chunk
    level: int  # 1: section, 2: subsection
    items: tuple[Paragraph | Equation, ...]
    label: str = ""  # "Partial 3": how a reader refers to it, shown before the title
    folded: bool = False  # HTML shows it folded in <details> (a local derivative rule by rule)


KEEP_WITH_NEXT = (
    r"\par\vspace{0pt plus 8\baselineskip}\penalty-200\vspace{0pt plus -8\baselineskip}"
)
"""LaTeX: a page break here when fewer than about 8 lines are left, so that a heading is never
left alone at the foot of a page, its steps on the next (what ``needspace`` does, inline)."""


def heading(section: Section, fmt: str) -> list[str]:
    """The heading lines of a section in ``fmt``: "text", "markdown" or "latex"."""
    title, level = section.title, section.level
    lead = f"{section.label}: " if section.label else ""
    if fmt == "text":
        return [title.text, "-" * len(title.text)] if level == 1 else [f"* {lead}{title.text}"]
    math = title.latex if level == 1 else f"${title.latex}$"
    if title.text == title.latex:  # words, not math ("Left out")
        math = title.latex
    if fmt == "markdown":
        return [f"## {title.text}"] if level == 1 else [f"### {lead}{math}"]
    if level == 1:
        return [KEEP_WITH_NEXT, f"\\subsection*{{{title.latex}}}"]
    return [KEEP_WITH_NEXT, f"\\subsubsection*{{{latex_escape(lead)}{math}}}"]


__all__ = [
    "MATH_WIDTH",
    "TEXT_WIDTH",
    "Chunk",
    "Equation",
    "LatexNotation",
    "Math",
    "Pieces",
    "Section",
    "TextNotation",
    "equation_lines",
    "heading",
    "latex_escape",
    "latex_rows",
    "lhs_indent",
    "rule_latex",
    "rule_markdown",
    "rule_math",
    "rule_pieces",
    "rule_text",
    "text_equation",
]
