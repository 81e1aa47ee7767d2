"""The notation, spelled: SymPy printers for plain text and LaTeX that read what each symbol is
from the derivation's table of :class:`~symgrad.calculus.symbols.Meta`, never from its name.

Plain text spells the notation in ASCII: ``w^(2)_01`` is the weight joining unit 1 of layer 1 to
unit 0 of layer 2 (subscripts with a two-digit index are bracketed, ``w^(2)_(10,3)``), ``x_0`` and
``y_0`` are the input and the target, ``dC/dw^(2)_01`` is a partial derivative, ``sigmoid'(z)``
the derivative of an activation. A symbol the table does not know (a rule's generic ``z``, a
summation index) prints as its name. The generated code's comments and the command line's
messages spell equations through :func:`text` and :func:`equation_text`, as the text rendering
does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from ..calculus.symbols import Meta

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation

_ARRAYS = {"delta": "delta", "dCdw": "dC/dw", "dCdb": "dC/db", "dCda": "dC/da"}
"""The plain spelling of the index forms' arrays that are not a layer's quantity."""


def _sub_text(parts: Sequence[str]) -> str:
    """Plain-text subscript: ``01`` when every index is one character, else ``(10,3)``."""
    return "".join(parts) if all(len(p) == 1 for p in parts) else "(" + ",".join(parts) + ")"


class TextNotation(StrPrinter):  # type: ignore[misc]
    """Plain-text printer: symbols in the ASCII notation of this module's docstring, by their
    :class:`~symgrad.calculus.symbols.Meta` in ``meta`` (a derivation's ``d.sym.meta``)."""

    def __init__(self, meta: Mapping[sp.Basic, Meta] | None = None) -> None:
        super().__init__()
        self.meta: Mapping[sp.Basic, Meta] = meta if meta is not None else {}

    def spell(self, sym: sp.Basic) -> str:
        """The plain spelling of one symbol (or an ``IndexedBase``'s label)."""
        meta = self.meta.get(sym)
        name = str(getattr(sym, "name", sym))
        if meta is None:
            return name
        kind, layer = meta.kind, meta.layer
        if kind == "partial":
            num, den = meta.of
            if isinstance(den, sp.Indexed):  # a wide layer's generic unit: dC/dz^(2)_j
                index = ",".join(self._print(i) for i in den.indices)
                return f"d{self._print(num)}/d{self.spell(den.base.label)}_{index}"
            return f"d{self._print(num)}/d{self._print(den)}"
        if kind == "fprime":
            return f"{meta.name}'({self._print(meta.of[0])})"
        if kind == "C" and meta.name:  # the data cost C_0 of a regularised network
            return meta.name
        if kind == "cost":
            return "C"
        head = _ARRAYS.get(kind, kind)
        if layer is not None:
            head = f"{head}^({layer})"
        if not meta.index:
            return head
        return f"{head}_{_sub_text([self._print(i) for i in meta.index])}"

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return self.spell(expr)

    def _print_Dummy(self, expr: sp.Dummy) -> str:
        return str(expr.name)

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return self.spell(expr.label)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # (a^(1)_0)**2, not a^(1)_0**2: the layer superscript is not a power
        base = expr.base
        if (
            isinstance(base, sp.Symbol)
            and "^" in self.spell(base)
            and expr.exp.is_Integer
            and expr.exp > 0
        ):
            return f"({self._print(base)})**{self.parenthesize(expr.exp, PRECEDENCE['Pow'])}"
        out: str = super()._print_Pow(expr, rational)
        return out

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"|{self._print(expr.args[0])}|"

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
    A symbol the table does not know prints as SymPy prints its name.
    """

    def __init__(self, names: Mapping[sp.Basic, str], functions: Mapping[str, str]) -> None:
        super().__init__({"symbol_names": names})
        self.functions = functions

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = self._settings["symbol_names"].get(expr)
        return name if name is not None else str(super()._print_Symbol(expr, style))

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        fname = type(expr).__name__
        if fname.endswith("'") and fname[:-1] in self.functions:
            args = ", ".join(self._print(arg) for arg in expr.args)
            tex = f"{self.functions[fname[:-1]]}'\\left({args}\\right)"
            return tex if exp is None else f"\\left({tex}\\right)^{{{exp}}}"
        result: str = super()._print_Function(expr, exp)
        return result


def text(expr: sp.Basic, d: Derivation | None = None) -> str:
    """``expr`` in the plain-text notation (``w^(2)_01``, ``sigmoid'(z^(1)_0)``, ``delta^(2)[j]``).

    ``d``: the derivation whose symbols ``expr`` is written in (their metadata spells them);
    without it, every symbol prints as its name (``a1_0``, as generated code names it).
    """
    return str(TextNotation(d.sym.meta if d is not None else None).doprint(expr))


def equation_text(eq: sp.Eq, d: Derivation | None = None) -> str:
    """``lhs = rhs`` in the plain-text notation, as the text rendering prints an equation."""
    return f"{text(eq.lhs, d)} = {text(eq.rhs, d)}"


__all__ = ["LatexNotation", "TextNotation", "equation_text", "text"]
