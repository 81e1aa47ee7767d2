"""Rendering a :class:`~symgrad.derive.Derivation` as plain text, Markdown or LaTeX.

A rendering reads like 3Blue1Brown's lesson: the forward pass and the cost, then for each
selected partial derivative its chain-rule steps (the product of local derivatives, each local
derivative evaluated, a hidden ``dC/da`` as a sum over paths, the closed form, and on request the
form expanded in inputs and parameters), then the network's BP1-BP4. Math is printed by SymPy
printers: :class:`LatexNotation` (a ``LatexPrinter`` whose ``symbol_names`` is the derivation's
LaTeX table, so ``w2_0_1`` prints ``w^{(2)}_{01}``) and :class:`TextNotation` (a ``StrPrinter``).

Plain text spells the notation in ASCII: ``w^(2)_01`` is the weight joining unit 1 of layer 1 to
unit 0 of layer 2 (subscripts with a two-digit index are bracketed, ``w^(2)_(10,3)``), ``x_0`` and
``y_0`` are the input and the target, ``dC/dw^(2)_01`` is a partial derivative, ``sigmoid'(z)``
the derivative of an activation, ``*`` a product and ``**`` a power. Entries with a generic index
(in BP1-BP4 and in the sums of wide networks) print as arrays: ``w^(2)[i, j]``.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .errors import SpecError
from .ops import a as A_SYM
from .ops import y as Y_SYM
from .steps import Form, Step

if TYPE_CHECKING:
    from .derive import Derivation, Partial

TEXT_WIDTH = 88
"""Columns of plain text; longer equations break between terms or factors."""

MATH_WIDTH = 72
"""Width of a LaTeX or Markdown display line, measured on the plain-text spelling."""

MAX_PARTIALS = 50
"""Default number of partial derivatives rendered before the rest are left out."""

EXPLICIT_COST_UNITS = 4
"""Output layers up to this width have their cost written out unit by unit."""

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
class _Chunk:
    """A piece of a right-hand side, with the operator that joins it to the previous piece."""

    text: str
    latex: str

    def lstrip(self) -> _Chunk:
        return _Chunk(self.text.lstrip(), self.latex.lstrip())


_LATEX_FUNCTIONS = frozenset({"exp", "log", "tanh", "sinh", "cosh", "sin", "cos", "tan"})


def _lead(text: str, latex: str, chunks: list[_Chunk]) -> list[_Chunk]:
    """Chunks with ``text``/``latex`` put before the first one (a joiner or an opening)."""
    return [_Chunk(text + chunks[0].text, latex + chunks[0].latex), *chunks[1:]]


def _paren(chunks: list[_Chunk]) -> list[_Chunk]:
    """Chunks in parentheses; ``\\left(`` cannot span lines, so split ones get ``\\Bigl(``."""
    if len(chunks) == 1:
        c = chunks[0]
        return [_Chunk(f"({c.text})", f"\\left({c.latex}\\right)")]
    last = chunks[-1]
    return _lead("(", "\\Bigl(", [*chunks[:-1], _Chunk(last.text + ")", last.latex + "\\Bigr)")])


class _Math:
    """Both printers of one derivation, and the helpers that turn forms into chunks."""

    def __init__(self, d: Derivation, extra: dict[sp.Basic, str]) -> None:
        functions = {layer.act.name: layer.act.latex for layer in d.net.layers}
        # the derivation's table grows as partials are derived, so it is read live
        table = d.sym.latex
        self.latex_printer = LatexNotation(ChainMap(extra, table), functions)
        self.text_printer = TextNotation()
        self._memo: dict[sp.Basic, _Chunk] = {}

    def text(self, expr: sp.Basic) -> str:
        out: str = self.text_printer.doprint(expr)
        return out

    def latex(self, expr: sp.Basic) -> str:
        out: str = self.latex_printer.doprint(expr)
        return out

    def both(self, expr: sp.Basic) -> _Chunk:
        # splitting a long expression prints its subexpressions again: remember them
        chunk = self._memo.get(expr)
        if chunk is None:
            chunk = self._memo[expr] = _Chunk(self.text(expr), self.latex(expr))
        return chunk

    def term(self, factors: Sequence[sp.Expr], first: bool, width: int) -> list[_Chunk]:
        """An ordered product as chunks, led by its ``+``/``-`` joiner unless it comes first."""
        chunks: list[_Chunk] = []
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
            head = _Chunk(chunks[0].text[1:].lstrip(), chunks[0].latex[1:].lstrip())
            if head.text == "1" and len(chunks) > 1:  # -1 * x: drop the 1
                return _lead(" - ", " - ", [chunks[1].lstrip(), *chunks[2:]])
            return _lead(" - ", " - ", [head, *chunks[1:]])
        return _lead(" + ", " + ", chunks)

    def form(self, form: Form, width: int) -> list[_Chunk]:
        """A sum of ordered products as chunks, in the order the form gives."""
        chunks: list[_Chunk] = []
        for i, term in enumerate(form):
            chunks += self.term(term, i == 0, width)
        return chunks

    def expression(self, expr: sp.Expr, width: int) -> list[_Chunk]:
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
            inner[-1] = _Chunk(inner[-1].text, inner[-1].latex + "^{-1}")
            return _lead("1/", "", inner)
        if isinstance(expr, sp.Sum) and len(expr.limits) == 1:
            i, lo, hi = expr.limits[0]
            head = _Chunk(
                f"sum_({self.text(i)}={self.text(lo)}..{self.text(hi)}) ",
                f"\\sum_{{{self.latex(i)}={self.latex(lo)}}}^{{{self.latex(hi)}}} ",
            )
            return _lead(head.text, head.latex, _paren(self.expression(expr.function, width)))
        if isinstance(expr, sp.Function) and len(expr.args) == 1:
            name = type(expr).__name__
            tex = f"\\{name}" if name in _LATEX_FUNCTIONS else f"\\operatorname{{{name}}}"
            return _lead(name, tex, _paren(self.expression(expr.args[0], width)))
        return [whole]


def _indent(lhs: _Chunk) -> int:
    """Columns before a continued right-hand side: under the ``=`` unless the lhs is long."""
    return len(lhs.text) + 3 if len(lhs.text) <= 24 else 6


def _layout(lhs: _Chunk, rhss: Sequence[Sequence[_Chunk]], width: int) -> list[tuple[str, _Chunk]]:
    """Break ``lhs = rhs_1 = rhs_2 ...`` into lines of at most ``width`` plain-text columns.

    Returns ``(kind, content)`` pairs; kind is ``"first"`` (holds the lhs), ``"eq"`` (starts a
    new right-hand side) or ``"cont"`` (continues the last one).
    """
    joined = [_Chunk("".join(c.text for c in rhs), "".join(c.latex for c in rhs)) for rhs in rhss]
    if len(lhs.text) + sum(3 + len(r.text) for r in joined) <= width:
        return [
            (
                "first",
                _Chunk(" = ".join(r.text for r in joined), " = ".join(r.latex for r in joined)),
            )
        ]
    indent = _indent(lhs)
    lines: list[tuple[str, _Chunk]] = []
    for n, rhs in enumerate(rhss):
        kind = "first" if n == 0 else "eq"
        avail = width - indent
        text, latex = "", ""
        for chunk in rhs:
            if text and len(text) + len(chunk.text) > avail:
                lines.append((kind, _Chunk(text, latex)))
                kind, avail = "cont", width - indent - 2
                chunk = chunk.lstrip()  # the joiner opens the new line
                text, latex = "", ""
            text, latex = text + chunk.text, latex + chunk.latex
        lines.append((kind, _Chunk(text, latex)))
    return lines


def _text_equation(
    lhs: _Chunk, rhss: Sequence[Sequence[_Chunk]], width: int, margin: str
) -> list[str]:
    col = _indent(lhs)  # where a right-hand side starts
    out = []
    for kind, content in _layout(lhs, rhss, width - len(margin)):
        if kind == "first":
            out.append(f"{margin}{lhs.text} = {content.text}")
        elif kind == "eq":
            out.append(f"{margin}{' ' * (col - 2)}= {content.text}")
        else:
            out.append(f"{margin}{' ' * (col + 2)}{content.text}")
    return out


def _latex_rows(lhs: _Chunk, rhss: Sequence[Sequence[_Chunk]], width: int) -> list[str]:
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


def _rule_pieces(rule: str) -> list[tuple[bool, str, str]]:
    """``(is_math, text, latex)`` pieces of a rule; symbols joined by operators share a piece."""
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


def rule_text(rule: str) -> str:
    """A rule with symbols in the plain-text notation."""
    return "".join(text for _, text, _ in _rule_pieces(rule))


def rule_latex(rule: str) -> str:
    """A rule for LaTeX (and Markdown) text: prose escaped, symbols in ``$...$``."""
    return "".join(
        f"${tex}$" if is_math else latex_escape(tex) for is_math, _, tex in _rule_pieces(rule)
    )


def rule_markdown(rule: str) -> str:
    """A rule for Markdown: prose as is, symbols in ``$...$``."""
    return "".join(f"${tex}$" if is_math else tex for is_math, _, tex in _rule_pieces(rule))


def rule_math(rule: str) -> str:
    """A rule inside a math block (Jupyter): prose in ``\\text{}``, symbols as math."""
    out = []
    for is_math, _, tex in _rule_pieces(rule):
        out.append(tex if is_math else r"\text{" + latex_escape(tex).replace("$", "") + "}")
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# The document, format-neutral: sections of paragraphs and equations
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Equation:
    lhs: _Chunk
    rhss: tuple[tuple[_Chunk, ...], ...]
    rule: str = ""  # prose with symbols, shown with the equation


@dataclass(frozen=True)
class _Section:
    title: _Chunk
    level: int  # 1: section, 2: subsection
    items: tuple[str | _Equation, ...]  # str: a paragraph of prose with symbols (a rule)


@dataclass(frozen=True)
class _Selection:
    partials: tuple[Partial, ...]
    total: int
    hint: str


def _select(
    d: Derivation,
    param: str | None,
    layer: int | None,
    index: int | Sequence[int] | None,
    max_partials: int,
) -> _Selection:
    """The partials the options ask for, derived lazily: at most ``max_partials`` are built."""
    net = d.net
    if isinstance(max_partials, bool) or not isinstance(max_partials, int) or max_partials < 0:
        raise SpecError(f"max_partials must be a whole number >= 0, got {max_partials!r}")
    if layer is not None and (
        isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= net.L
    ):
        raise SpecError(f"layer={layer!r} does not exist; this network has layers 1..{net.L}")
    if param is not None:
        l = net.layer_of(param)
        if layer is not None and layer != l:
            raise SpecError(f"param={param!r} is in layer {l}, not layer={layer}; give one of them")
        names = [param]
    else:
        names = [n for n in net.param_names if layer is None or net.layer_of(n) == layer]
    if index is not None:
        if param is None:
            raise SpecError(
                "index= selects one entry of a parameter; give param= too, "
                "e.g. param='W2', index=(0, 1)"
            )
        idx = (index,) if isinstance(index, int) else tuple(index)
        p = d.partial(param, *idx)
        return _Selection((p,) if max_partials else (), 1, "")

    def indices(name: str) -> Iterator[tuple[int, ...]]:
        shape = net.param_shape(name)
        if len(shape) == 2:
            return ((j, k) for j in range(shape[0]) for k in range(shape[1]))
        return ((j,) for j in range(shape[0]))

    total = sum(math.prod(net.param_shape(n)) for n in names)
    chosen: list[Partial] = []
    for name in names:
        for idx in indices(name):
            if len(chosen) >= max_partials:
                break
            chosen.append(d.partial(name, *idx))
    hint = ""
    if total > len(chosen):
        example = names[0]
        ex_idx = "(0, 0)" if example[0] == "W" else "0"
        hint = (
            f"{total - len(chosen)} more partial derivatives are left out. Select fewer with "
            f"param='{example}' (one array), param='{example}', index={ex_idx} (one entry) or "
            f"layer={net.layer_of(example)}, or raise max_partials (now {max_partials})."
        )
    return _Selection(tuple(chosen), total, hint)


class _Builder:
    """Builds the format-neutral sections of a derivation's rendering."""

    def __init__(self, d: Derivation, width: int) -> None:
        self.d = d
        self.width = width
        self.extra: dict[sp.Basic, str] = {}
        self.m = _Math(d, self.extra)

    def sym(self, name: str, latex: str) -> sp.Symbol:
        """A display symbol of this rendering only (``a2_j``, ``z``), with its LaTeX."""
        s = sp.Symbol(name, real=True)
        self.extra[s] = latex
        return s

    def eq(self, lhs: sp.Basic, *rhss: Form | sp.Basic, rule: str = "") -> _Equation:
        head = self.m.both(lhs)
        # the room a right-hand side has: the line, less the margin, the lhs and a continuation
        room = self.width - 2 - _indent(head) - 2
        forms = []
        for rhs in rhss:
            form = rhs if isinstance(rhs, tuple) else ((cast("sp.Expr", rhs),),)
            forms.append(tuple(self.m.form(form, room)))
        return _Equation(head, tuple(forms), rule)

    def raw(self, lhs: tuple[str, str], *rhss: tuple[str, str], rule: str = "") -> _Equation:
        return _Equation(_Chunk(*lhs), tuple((_Chunk(*r),) for r in rhss), rule)

    # -- sections -------------------------------------------------------------------------------
    def forward(self) -> _Section:
        net = self.d.net
        items: list[str | _Equation] = []
        for l, layer in enumerate(net.layers, start=1):
            j = "0" if layer.n_out == 1 else "j"
            prev_t = "x" if l == 1 else f"a^({l - 1})"
            prev_l = "x" if l == 1 else f"a^{{({l - 1})}}"
            if layer.n_in == 1:
                sum_t, sum_l = f"w^({l})_{j}0 {prev_t}_0", f"w^{{({l})}}_{{{j}0}} {prev_l}_{{0}}"
            else:
                k_hi = layer.n_in - 1
                sum_t = f"sum_(k=0..{k_hi}) w^({l})_{j}k {prev_t}_k"
                sum_l = f"\\sum_{{k=0}}^{{{k_hi}}} w^{{({l})}}_{{{j}k}} {prev_l}_{{k}}"
            if layer.bias:
                sum_t += f" + b^({l})_{j}"
                sum_l += f" + b^{{({l})}}_{{{j}}}"
            z_t, z_l = f"z^({l})_{j}", f"z^{{({l})}}_{{{j}}}"
            a_t, a_l = f"a^({l})_{j}", f"a^{{({l})}}_{{{j}}}"
            units = f"layer {l}, {layer.n_out} unit{'s' if layer.n_out > 1 else ''}"
            if layer.n_out > 1:
                units += f": j = 0..{layer.n_out - 1}"
            if layer.act.is_softmax:
                act_t = f"exp({z_t}) / sum_(i=0..{layer.n_out - 1}) exp(z^({l})_i)"
                sum_exp = f"\\sum_{{i=0}}^{{{layer.n_out - 1}}} e^{{z^{{({l})}}_{{i}}}}"
                act_l = f"\\frac{{e^{{{z_l}}}}}{{{sum_exp}}}"
            else:
                act_t = f"{layer.act.name}({z_t})"
                act_l = f"{layer.act.latex}\\left({z_l}\\right)"
            items.append(units)
            items.append(self.raw((z_t, z_l), (sum_t, sum_l)))
            items.append(self.raw((a_t, a_l), (act_t, act_l)))
        seen: set[str] = set()
        for layer in net.layers:
            act = layer.act
            if act.name in seen:
                continue
            seen.add(act.name)
            items += self.activation(act)
        return _Section(_Chunk("Forward pass", "Forward pass"), 1, tuple(items))

    def activation(self, act: Any) -> list[str | _Equation]:
        """``f(z) = ...`` and ``f'(z) = ...`` for one activation."""
        f_t, f_l = f"{act.name}(z)", f"{act.latex}\\left(z\\right)"
        df_t, df_l = f"{act.name}'(z)", f"{act.latex}'\\left(z\\right)"
        if act.is_softmax:
            return [
                "softmax couples the units of its layer: da_i/dz_j = a_i (delta_ij - a_j)",
            ]
        uses_a = act.derivative.has(A_SYM)
        rule = f"{act.name} and its derivative" + (
            ", written with its output a = f(z)" if uses_a else ""
        )
        out: list[str | _Equation] = []
        if self.m.text(act.expr) != f_t:  # tanh(z) = tanh(z) says nothing
            out.append(
                self.raw((f_t, f_l), (self.m.text(act.expr), self.m.latex(act.expr)), rule=rule)
            )
            rule = ""
        out.append(
            self.raw(
                (df_t, df_l), (self.m.text(act.derivative), self.m.latex(act.derivative)), rule=rule
            )
        )
        return out

    def cost(self) -> _Section:
        d, net = self.d, self.d.net
        L, n = net.L, net.sizes[-1]
        C = d.sym.C
        if n <= EXPLICIT_COST_UNITS:
            rhs = d.cost()
        else:
            aj = self.sym(f"a{L}_j", f"a^{{({L})}}_{{j}}")
            yj = self.sym("y_j", "y_{j}")
            j = sp.Symbol("j", integer=True)
            rhs = d.scale * sp.Sum(net.cost.expr.xreplace({A_SYM: aj, Y_SYM: yj}), (j, 0, n - 1))
        rule = (
            f"the {net.cost.name} cost of one example x with target y; "
            "the cost of a batch is the mean over its examples"
        )
        return _Section(_Chunk("Cost", "Cost"), 1, (self.eq(C, rhs, rule=rule),))

    def partial(self, p: Partial, expand: bool) -> _Section:
        steps: list[Step] = list(p.steps)
        if expand:
            steps.append(p.expanded_step())
        items: list[str | _Equation] = []
        for step in steps:
            items.append(self.eq(step.lhs, *step.forms, rule=step.rule))
        title = self.m.both(p.steps[0].lhs)
        return _Section(title, 2, tuple(items))

    def equations(self, form: str) -> _Section:
        items: list[str | _Equation] = []
        for label, layer, equation in self.d.labelled_equations(form):
            items.append(self.eq(equation.lhs, equation.rhs, rule=f"{label} (layer {layer})"))
        title = "The four equations of backpropagation (BP1-BP4)"
        return _Section(_Chunk(title, latex_escape(title)), 1, tuple(items))


@dataclass(frozen=True)
class _Document:
    title: str
    sections: tuple[_Section, ...]


def _build(
    d: Derivation,
    width: int,
    *,
    param: str | None,
    layer: int | None,
    index: int | Sequence[int] | None,
    expand: bool,
    equations: bool | str,
    max_partials: int,
) -> _Document:
    if equations not in (True, False, "index", "matrix"):
        raise SpecError(f"equations must be True, False, 'index' or 'matrix', got {equations!r}")
    selection = _select(d, param, layer, index, max_partials)
    b = _Builder(d, width)
    sections = [b.forward(), b.cost()]
    count = len(selection.partials)
    intro = f"{selection.total} partial derivative{'s' if selection.total != 1 else ''} selected"
    intro += "" if count == selection.total else f", {count} shown"
    intro += (
        ": each is the chain rule written out as a product of local derivatives, "
        "each local derivative evaluated, then multiplied out."
    )
    items: tuple[str, ...] = (intro,) if not selection.hint else (intro, selection.hint)
    sections.append(_Section(_Chunk("Partial derivatives", "Partial derivatives"), 1, items))
    sections += [b.partial(p, expand) for p in selection.partials]
    if selection.hint and selection.partials:
        sections.append(_Section(_Chunk("Left out", "Left out"), 2, (selection.hint,)))
    if equations:
        sections.append(b.equations("index" if equations is True else str(equations)))
    return _Document(f"Backpropagation in {d.net.describe()}", tuple(sections))


# ------------------------------------------------------------------------------------------------
# The three formats
# ------------------------------------------------------------------------------------------------
def to_text(
    d: Derivation,
    *,
    param: str | None = None,
    layer: int | None = None,
    index: int | Sequence[int] | None = None,
    expand: bool = False,
    equations: bool | str = True,
    max_partials: int = MAX_PARTIALS,
    width: int = TEXT_WIDTH,
) -> str:
    """Plain text for a terminal (``width`` columns).

    Args:
        d: the derivation.
        param: show only the partials of this array, e.g. ``"W2"``.
        layer: show only the partials of this layer's weights and biases.
        index: with ``param``, one entry, e.g. ``(0, 1)`` for ``W2[0, 1]`` or ``0`` for ``b2[0]``.
        expand: also write each partial in inputs and parameters only (small networks).
        equations: add BP1-BP4 (``True`` or ``"index"``; ``"matrix"`` for the vector form).
        max_partials: show at most this many partials and say how many were left out.
        width: columns to wrap equations at.
    """
    doc = _build(d, width, param=param, layer=layer, index=index, expand=expand,
                 equations=equations, max_partials=max_partials)  # fmt: skip
    out = [doc.title, "=" * len(doc.title)]
    for section in doc.sections:
        out.append("")
        if section.level == 1:
            out += [section.title.text, "-" * len(section.title.text)]
        else:
            out.append(f"* {section.title.text}")
        for item in section.items:
            if isinstance(item, str):
                out += textwrap.wrap(rule_text(item), width, break_on_hyphens=False)
                continue
            margin = "  "
            if item.rule:
                out += textwrap.wrap(
                    rule_text(item.rule), width, initial_indent=f"{margin}# ",
                    subsequent_indent=f"{margin}#   ", break_on_hyphens=False,
                )  # fmt: skip
            out += _text_equation(item.lhs, item.rhss, width, margin)
    return "\n".join(out) + "\n"


def to_markdown(
    d: Derivation,
    *,
    param: str | None = None,
    layer: int | None = None,
    index: int | Sequence[int] | None = None,
    expand: bool = False,
    equations: bool | str = True,
    max_partials: int = MAX_PARTIALS,
) -> str:
    """Markdown: headings, the rules as text and the equations as ``$$`` display math.

    The options are those of :func:`to_text`.
    """
    doc = _build(d, MATH_WIDTH, param=param, layer=layer, index=index, expand=expand,
                 equations=equations, max_partials=max_partials)  # fmt: skip
    out = [f"# {doc.title}"]
    for section in doc.sections:
        out.append("")
        if section.level == 1:
            out.append(f"## {section.title.text}")
        else:
            out.append(f"### ${section.title.latex}$")
        rows: list[str] = []
        for item in section.items:
            if isinstance(item, _Equation) and not item.rule:
                rows += _latex_rows(item.lhs, item.rhss, MATH_WIDTH)  # joins the block above
                continue
            out += _display(rows)
            rows = []
            if isinstance(item, str):
                out += ["", rule_markdown(item)]
                continue
            if item.rule:
                out += ["", f"*{rule_markdown(item.rule)}*"]
            rows = _latex_rows(item.lhs, item.rhss, MATH_WIDTH)
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


def to_latex(
    d: Derivation,
    *,
    param: str | None = None,
    layer: int | None = None,
    index: int | Sequence[int] | None = None,
    expand: bool = False,
    equations: bool | str = True,
    max_partials: int = MAX_PARTIALS,
    document: bool = False,
    jupyter: bool = False,
) -> str:
    """LaTeX: a fragment for a document's body, or with ``document=True`` a standalone article.

    The standalone document needs only ``amsmath`` and ``geometry`` (both in TeX Live's
    ``latex-base``) and compiles with ``pdflatex``. ``jupyter=True`` gives one ``$$...$$``
    block of ``aligned`` rows, the form Jupyter's MathJax shows. The other options are those of
    :func:`to_text`.
    """
    if document and jupyter:
        raise SpecError("to_latex() takes document=True or jupyter=True, not both")
    doc = _build(d, MATH_WIDTH, param=param, layer=layer, index=index, expand=expand,
                 equations=equations, max_partials=max_partials)  # fmt: skip
    if jupyter:
        return _jupyter(doc)
    out = [f"\\section*{{{latex_escape(doc.title)}}}"]
    for section in doc.sections:
        out.append("")
        if section.level == 1:
            out.append(f"\\subsection*{{{section.title.latex}}}")
        else:
            out.append(f"\\subsubsection*{{${section.title.latex}$}}")
        rows: list[str] = []
        for item in section.items:
            if isinstance(item, str):
                if rows:
                    out += _align(rows)
                    rows = []
                out.append(rule_latex(item) + "\n")
                continue
            # \intertext keeps every step of a section aligned on its = sign
            rule = f"\\intertext{{\\emph{{{rule_latex(item.rule)}}}}}\n" if item.rule else ""
            rows.append(rule + " \\\\\n".join(_latex_rows(item.lhs, item.rhss, MATH_WIDTH)))
        if rows:
            out += _align(rows)
    body = "\n".join(out) + "\n"
    if not document:
        return body
    return PREAMBLE + "\\begin{document}\n\n" + body + "\n\\end{document}\n"


def _align(rows: list[str]) -> list[str]:
    return ["\\begin{align*}", " \\\\\n".join(rows), "\\end{align*}"]


def _jupyter(doc: _Document) -> str:
    """One ``$$\\begin{aligned}...\\end{aligned}$$`` block: what notebooks' MathJax shows."""
    # \\to is math: close the bold text around each arrow of "2 -> 3 sigmoid -> 1 sigmoid"
    title = latex_escape(doc.title).replace("$\\to$", "}\\to\\textbf{")
    rows = [f"&\\textbf{{{title}}}"]
    for section in doc.sections:
        title = section.title.latex if section.level == 2 else f"\\textbf{{{section.title.latex}}}"
        rows.append(f"&{title}")
        for item in section.items:
            if isinstance(item, str):
                rows.append(f"&{rule_math(item)}")
                continue
            if item.rule:
                rows.append(f"&\\quad {rule_math(item.rule)}")
            rows += _latex_rows(item.lhs, item.rhss, MATH_WIDTH)
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


__all__ = [
    "LatexNotation",
    "TextNotation",
    "latex_name",
    "text_name",
    "to_latex",
    "to_markdown",
    "to_text",
]
