"""The layout of derivations: symbol names, the two spellings of an equation, line breaking.

Shared by :mod:`symgrad.views.render` (text, Markdown, LaTeX), :mod:`symgrad.views.teach` (numbers in every
factor) and :mod:`symgrad.views.html` (the standalone page). An equation is a left-hand side and one
or more right-hand sides, each a sequence of :class:`Chunk` (a piece with both its plain-text
and its LaTeX spelling, and the operator that joins it to the previous piece), so that every
format breaks long lines at the same places. :class:`Math` builds chunks from SymPy
expressions; :class:`Equation` and :class:`Section` are the format-neutral document.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from ..calculus.steps import Form, Formula, Prose

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation

TEXT_WIDTH = 88
"""Columns of plain text; longer equations break between terms or factors."""

MATH_WIDTH = 72
"""Width of a LaTeX or Markdown display line, measured on the plain-text spelling."""


# ------------------------------------------------------------------------------------------------
# Symbol names: code name -> plain text (w2_0_1 -> w^(2)_01) and LaTeX (w^{(2)}_{01})
# ------------------------------------------------------------------------------------------------
_LAYER_SYMBOL = re.compile(r"^([wbza]|delta|dCd[wb])(\d+)(?:_(\w+?))?(?:_(\w+))?$")
_PLAIN_SYMBOL = re.compile(r"^([xy])(?:_(\w+))?$")
_PLACEHOLDER = re.compile(r"^d(.+)/d(.+)$")
_DERIVATIVE = re.compile(r"^(\w+)'\((.+)\)$")


def _sub_text(parts: Sequence[str]) -> str:
    """Plain-text subscript: ``01`` when every index is one character, else ``(10,3)``."""
    return "".join(parts) if all(len(p) == 1 for p in parts) else "(" + ",".join(parts) + ")"


def text_name(name: str) -> str:
    """The plain-text spelling of a symbol's code name: ``w2_0_1`` -> ``w^(2)_01``."""
    m = _LAYER_SYMBOL.match(name)
    if m:
        head, layer = m.group(1), m.group(2)
        idx = [g for g in m.group(3, 4) if g is not None]
        base = {"delta": "delta", "dCdw": "dC/dw", "dCdb": "dC/db"}.get(head, head)
        return f"{base}^({layer})" + (f"_{_sub_text(idx)}" if idx else "")
    m = _PLAIN_SYMBOL.match(name)
    if m:
        return m.group(1) + (f"_{m.group(2)}" if m.group(2) else "")
    m = _PLACEHOLDER.match(name)
    if m:
        return f"d{text_name(m.group(1))}/d{text_name(m.group(2))}"
    m = _DERIVATIVE.match(name)
    if m:
        return f"{m.group(1)}'({text_name(m.group(2))})"
    return name


def latex_name(name: str) -> str:
    """LaTeX of a code name missing from the derivation's table (``a2_0`` -> ``a^{(2)}_{0}``)."""
    m = _LAYER_SYMBOL.match(name)
    if m and m.group(1) in "wbza":
        idx = [g for g in m.group(3, 4) if g is not None]
        sub = "".join(idx) if all(len(p) == 1 for p in idx) else ",".join(idx)
        return f"{m.group(1)}^{{({m.group(2)})}}" + (f"_{{{sub}}}" if idx else "")
    m = _PLAIN_SYMBOL.match(name)
    if m:
        return m.group(1) + (f"_{{{m.group(2)}}}" if m.group(2) else "")
    return str(sp.latex(sp.Symbol(name)))


class TextNotation(StrPrinter):  # type: ignore[misc]
    """Plain-text printer: symbols in the ASCII notation of this module's docstring."""

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return text_name(expr.name)

    def _print_Dummy(self, expr: sp.Dummy) -> str:
        return text_name(expr.name)

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return text_name(expr.label.name)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # (a^(1)_0)**2, not a^(1)_0**2: the layer superscript is not a power
        base = expr.base
        if (
            isinstance(base, sp.Symbol)
            and "^" in text_name(base.name)
            and expr.exp.is_Integer
            and expr.exp > 0
        ):
            return f"({self._print(base)})**{self.parenthesize(expr.exp, PRECEDENCE['Pow'])}"
        out: str = super()._print_Pow(expr, rational)
        return out

    def _print_Exp1(self, expr: sp.Expr) -> str:
        return "e"

    def _print_Sum(self, expr: sp.Sum) -> str:
        # sum_(i=0..n) (term): the bounds read like Python's range, inclusive
        limits = ", ".join(
            f"{self._print(i)}={self._print(lo)}..{self._print(hi)}" for i, lo, hi in expr.limits
        )
        return f"sum_({limits}) ({self._print(expr.function)})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # (z if z > 0 else 0.01*z), as Python would read it
        out = ""
        branches: list[tuple[sp.Expr, sp.Basic]] = [tuple(arg.args) for arg in expr.args]  # type: ignore[misc]
        for value, cond in branches[:-1]:
            out += f"{self._print(value)} if {self._print(cond)} else "
        last_value, last_cond = branches[-1]
        out += (
            self._print(last_value)
            if last_cond == sp.true
            else f"{self._print(last_value)} if {self._print(last_cond)} else nan"
        )
        return f"({out})"


class LatexNotation(LatexPrinter):  # type: ignore[misc]
    """LaTeX printer reading the derivation's table: ``w2_0_1`` prints ``w^{(2)}_{01}``.

    Layer indices are parenthesised superscripts, never powers. Opaque derivatives such as the
    function ``relu'`` (kept unevaluated inside index-form sums) print with the activation's name.
    """

    def __init__(self, names: Mapping[sp.Basic, str], functions: Mapping[str, str]) -> None:
        super().__init__({"symbol_names": names})
        self.functions = functions

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = self._settings["symbol_names"].get(expr)
        return name if name is not None else latex_name(expr.name)

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        fname = type(expr).__name__
        if fname.endswith("'") and fname[:-1] in self.functions:
            args = ", ".join(self._print(arg) for arg in expr.args)
            tex = f"{self.functions[fname[:-1]]}'\\left({args}\\right)"
            return tex if exp is None else f"\\left({tex}\\right)^{{{exp}}}"
        result: str = super()._print_Function(expr, exp)
        return result


# ------------------------------------------------------------------------------------------------
# Chunks of an equation: what may go on one line, in both spellings
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """A piece of a right-hand side, with the operator that joins it to the previous piece."""

    text: str
    latex: str

    def lstrip(self) -> Chunk:
        return Chunk(self.text.lstrip(), self.latex.lstrip())


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

    def __init__(self, d: Derivation, extra: dict[sp.Basic, str]) -> None:
        functions = {layer.act.name: layer.act.latex for layer in d.net.layers}
        # the derivation's table grows as partials are derived, so it is read live
        table = d.sym.latex
        self.latex_printer = LatexNotation(ChainMap(extra, table), functions)
        self.text_printer = TextNotation()
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


def _layout(lhs: Chunk, rhss: Sequence[Sequence[Chunk]], width: int) -> list[tuple[str, Chunk]]:
    """Break ``lhs = rhs_1 = rhs_2 ...`` into lines of at most ``width`` plain-text columns.

    Returns ``(kind, content)`` pairs; kind is ``"first"`` (holds the lhs), ``"eq"`` (starts a
    new right-hand side) or ``"cont"`` (continues the last one).
    """
    joined = [Chunk("".join(c.text for c in rhs), "".join(c.latex for c in rhs)) for rhs in rhss]
    if len(lhs.text) + sum(3 + len(r.text) for r in joined) <= width:
        return [
            (
                "first",
                Chunk(" = ".join(r.text for r in joined), " = ".join(r.latex for r in joined)),
            )
        ]
    indent = lhs_indent(lhs)
    lines: list[tuple[str, Chunk]] = []
    for n, rhs in enumerate(rhss):
        kind = "first" if n == 0 else "eq"
        avail = width - indent
        text, latex = "", ""
        for chunk in rhs:
            if text and len(text) + len(chunk.text) > avail:
                lines.append((kind, Chunk(text, latex)))
                kind, avail = "cont", width - indent - 2
                chunk = chunk.lstrip()  # the joiner opens the new line
                text, latex = "", ""
            text, latex = text + chunk.text, latex + chunk.latex
        lines.append((kind, Chunk(text, latex)))
    return lines


def text_equation(
    lhs: Chunk, rhss: Sequence[Sequence[Chunk]], width: int, margin: str
) -> list[str]:
    """Plain-text lines of an equation, continuation lines indented under its right-hand side."""
    col = lhs_indent(lhs)  # where a right-hand side starts
    out = []
    for kind, content in _layout(lhs, rhss, width - len(margin)):
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
    for kind, content in _layout(lhs, rhss, width):
        if kind == "first":
            rows.append(f"{lhs.latex} &= {content.latex}")
        elif kind == "eq":
            rows.append(f"&= {content.latex}")
        else:
            rows.append(f"&\\qquad {content.latex}")
    return rows


# ------------------------------------------------------------------------------------------------
# Rules: prose with symbols in it ("w1_0_0 changes C only through z1_0")
# ------------------------------------------------------------------------------------------------
_RULE_TOKEN = re.compile(
    r"(?<![\w^'/])("
    r"[wbza]\d+_\d+(?:_\d+)?|[xy]_\d+"  # code names: w1_0_0, x_1
    r"|[wbza]\^\((?:\d+|[lL](?:-1)?)\)_\w+"  # notation: a^(1)_0, a^(2)_j
    r"|d[a-zC](?:_[a-z0-9]{1,3})?/d[a-z](?:_[a-z0-9]{1,3})?"  # derivatives: dz/da, da_i/dz_j
    r"|(?:delta|sum|[a-z])_[a-z0-9]{1,3}"  # generic indices: w_jk, delta_ij, sum_k
    r"|f\([a-z]\)|[zwbxyC]"  # f(z) and lone letters that are always symbols here
    r"|a(?=\s*[=+*/-])|(?<=[=+*/-] )a"  # 'a' is an English word too: a symbol beside operators
    r")(?![\w'(])"
)
_JOINS_MATH = re.compile(r"^[\s+\-=*/()]*$")
_NOTATION_TOKEN = re.compile(r"^([wbza])\^\(([^)]*)\)_(\w+)$")
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


def latex_escape(text: str) -> str:
    """Text for LaTeX's text mode: specials escaped, ``->`` as an arrow."""
    parts = text.split("->")
    escaped = ["".join(_LATEX_SPECIALS.get(ch, ch) for ch in part) for part in parts]
    return r"$\to$".join(escaped)


def _token_latex(token: str) -> str:
    nm = _NOTATION_TOKEN.match(token)
    if nm:
        return f"{nm.group(1)}^{{({nm.group(2)})}}_{{{nm.group(3)}}}"
    if re.match(r"^[wbza]\d|^[xy]_\d", token):
        return latex_name(token)
    if "/" in token:
        num, den = (_token_latex(part[1:]) for part in token.split("/"))
        return f"\\partial {num}/\\partial {den}"
    if "_" in token:
        base, sub = token.split("_", 1)
        return {"delta": r"\delta", "sum": r"\sum"}.get(base, base) + f"_{{{sub}}}"
    return token


Pieces = tuple[tuple[bool, str, str], ...]
"""A rule ready to show: ``(is_math, text, latex)`` pieces, from :meth:`Math.prose`."""


def rule_pieces(rule: str | Pieces) -> list[tuple[bool, str, str]]:
    """``(is_math, text, latex)`` pieces of a rule; symbols joined by operators share a piece."""
    if isinstance(rule, tuple):
        return list(rule)
    pieces: list[tuple[bool, str, str]] = []
    pos = 0
    for m in _RULE_TOKEN.finditer(rule):
        token = m.group(1)
        text = text_name(token) if re.match(r"^[wbza]\d|^[xy]_\d", token) else token
        between = rule[pos : m.start()]
        if (
            pieces
            and pieces[-1][0]
            and between.startswith(")")
            and pieces[-1][2].count("(") > pieces[-1][2].count(")")
        ):
            _, t, tex = pieces.pop()  # close the bracket inside the math it opened in
            pieces.append((True, t + ")", tex + ")"))
            between = between[1:]
        if pieces and pieces[-1][0] and _JOINS_MATH.match(between):
            _, t, tex = pieces.pop()
            pieces.append((True, t + between + text, tex + between + _token_latex(token)))
        else:
            if between:
                pieces.append((False, between, between))
            pieces.append((True, text, _token_latex(token)))
        pos = m.end()
    rest = rule[pos:]
    if (
        pieces
        and pieces[-1][0]
        and rest.startswith(")")
        and pieces[-1][2].count("(") > pieces[-1][2].count(")")
    ):
        _, t, tex = pieces.pop()
        pieces.append((True, t + ")", tex + ")"))
        rest = rest[1:]
    if rest:
        pieces.append((False, rest, rest))
    return pieces


def rule_text(rule: str | Pieces) -> str:
    """A rule with symbols in the plain-text notation."""
    return "".join(text for _, text, _ in rule_pieces(rule))


def rule_latex(rule: str | Pieces) -> str:
    """A rule for LaTeX (and Markdown) text: prose escaped, symbols in ``$...$``."""
    return "".join(
        f"${tex}$" if is_math else latex_escape(tex) for is_math, _, tex in rule_pieces(rule)
    )


def rule_markdown(rule: str | Pieces) -> str:
    """A rule for Markdown: prose as is, symbols in ``$...$``."""
    return "".join(f"${tex}$" if is_math else tex for is_math, _, tex in rule_pieces(rule))


def rule_math(rule: str | Pieces) -> str:
    """A rule inside a math block (Jupyter): prose in ``\\text{}``, symbols as math."""
    out = []
    for is_math, _, tex in rule_pieces(rule):
        out.append(tex if is_math else r"\text{" + latex_escape(tex).replace("$", "") + "}")
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
    items: tuple[str | Equation, ...]  # str: a paragraph of prose with symbols (a rule)
    label: str = ""  # "Partial 3": how a reader refers to it, shown before the title


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
    "heading",
    "latex_escape",
    "latex_name",
    "latex_rows",
    "lhs_indent",
    "rule_latex",
    "rule_markdown",
    "rule_math",
    "rule_pieces",
    "rule_text",
    "text_equation",
    "text_name",
]
