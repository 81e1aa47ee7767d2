"""The labels of a computation graph (:mod:`.graph`): its nodes, edges and path products in the
derivation's notation, Unicode for SVG and DOT (``∂z⁽²⁾₀/∂a⁽¹⁾₁ = w⁽²⁾₀₁``) and LaTeX for TikZ,
printed by the notation's printers (:mod:`.notation`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from .notation import LatexNotation, TextNotation

if TYPE_CHECKING:
    from .graph import Graph
    from .graph_build import Edge, Node, Value

MAX_LINES = 40
"""The most lines of path products written under a drawing."""

_SUP = str.maketrans("0123456789()-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁻⁺")
_SUB = str.maketrans("0123456789()", "₀₁₂₃₄₅₆₇₈₉₍₎")
_UNIT_KINDS = ("w", "b", "z", "a", "x", "y", "W", "m")


class UnicodeNotation(TextNotation):
    """The plain-text notation with Unicode super- and subscripts: ``w⁽²⁾₀₁``, ``∂C/∂a⁽²⁾₀``."""

    def spell(self, sym: sp.Basic) -> str:
        meta = self.meta.get(sym)
        if meta is None:
            return super().spell(sym)
        if meta.kind == "partial":
            num, den = meta.of
            return f"∂{self._print(num)}/∂{self._print(den)}"
        if meta.kind == "fprime":
            return f"{meta.name}'({self._print(meta.of[0])})"
        if meta.kind == "lambda":
            return "λ"
        if meta.kind in _UNIT_KINDS and all(isinstance(i, int) for i in meta.index):
            head = meta.kind + ("" if meta.layer is None else f"({meta.layer})".translate(_SUP))
            parts = [str(i) for i in meta.index]
            sub = "".join(parts) if all(len(p) == 1 for p in parts) else f"({','.join(parts)})"
            return head + sub.translate(_SUB)
        return super().spell(sym)


def pretty(text: str, elementwise: bool = False) -> str:
    """``a**2*(1 - a)`` -> ``a²·(1 - a)``; ``elementwise``: vectors multiply with ``⊙``."""
    text = re.sub(r"\*\*(\d+)", lambda m: m.group(1).translate(_SUP), text).replace("**", "^")
    if elementwise:
        text = re.sub(r"(?<=\d)\*", "·", text)
    return text.replace("*", "⊙" if elementwise else "·")


def number(v: float, digits: int = 4) -> str:
    return format(float(v) + 0.0, f".{digits}g")


class Labels:
    """The labels of one graph's nodes and edges, in Unicode and in LaTeX."""

    def __init__(self, g: Graph) -> None:
        d = g.derivation
        self.g, self.d = g, d
        self.uni = UnicodeNotation(d.sym.meta)
        functions = {layer.act.name: layer.act.latex for layer in d.net.layers}
        self.tex = LatexNotation(d.sym.latex, functions)

    def text(self, expr: sp.Basic) -> str:
        return pretty(str(self.uni.doprint(expr)), self.g.collapsed)

    def latex(self, expr: sp.Basic) -> str:
        return str(self.tex.doprint(expr))

    def name(self, node: Node) -> str:
        return self.text(node.symbol)

    def rhs(self, e: Edge, tex: bool = False) -> str:
        """The local derivative of ``e`` as its form writes it (``diag(...)``, ``...ᵀ``)."""
        assert e.local is not None
        body = self.latex(e.local) if tex else self.text(e.local)
        if e.form == "T":
            return f"{{{body}}}^{{\\top}}" if tex else f"{body}ᵀ"
        if e.form == "diag":
            return f"\\operatorname{{diag}}\\left({body}\\right)" if tex else f"diag({body})"
        if e.form == "I":
            return "I"
        if e.form == "softmax":
            if tex:
                return f"\\operatorname{{diag}}({body}) - {body}\\,{{{body}}}^{{\\top}}"
            return f"diag({body}) - {body}{body}ᵀ"
        return body

    def factor(self, e: Edge, tex: bool = False) -> str:
        """The local derivative as a factor of a product: in parentheses unless it is one term."""
        assert e.local is not None
        rhs = self.rhs(e, tex)
        bare = e.form in ("T", "diag", "I") or not (
            isinstance(e.local, sp.Add) or e.form == "softmax" or rhs.startswith("-")
        )
        return rhs if bare else (f"\\left({rhs}\\right)" if tex else f"({rhs})")

    def equals(self, v: Value, tex: bool = False) -> str:
        """`` = 0.0123`` for a number, ``, ‖·‖ = 1.2`` for an array, nothing without one."""
        if v is None:
            return ""
        return f" = {self.value(v, tex)}" if np.ndim(v) == 0 else f", {self.value(v, tex)}"

    def edge(self, e: Edge, tex: bool = False) -> str:
        """``∂dst/∂src = local`` (empty for a target's edge: C is not differentiated by y)."""
        if e.partial is None:
            return ""
        lhs = self.latex(e.partial) if tex else self.text(e.partial)
        return f"{lhs} = {self.rhs(e, tex)}"

    def value(self, v: Value, tex: bool = False) -> str:
        """A unit graph's number, or an array's norm (``‖·‖ = 1.2``)."""
        if v is None:
            return ""
        arr = np.asarray(v)
        if arr.ndim == 0:
            return number(float(arr))
        norm = number(float(np.linalg.norm(arr)), 3)
        return f"\\lVert\\cdot\\rVert = {norm}" if tex else f"‖·‖ = {norm}"

    def path_lines(self, tex: bool = False) -> list[str]:
        """The paths from the selected parameter to C with their products, grouped by entry."""
        g, s = self.g, self.d.sym
        if g.param is None:
            return []
        lines: list[str] = []
        entries = list(dict.fromkeys(p.entry for p in g.paths))
        dot = " \\cdot " if tex else " · "
        for name, index in entries:
            paths = [p for p in g.paths if p.entry == (name, index)]
            whole = s.indexed(name[0], int(name[1:])).label if g.collapsed else None
            param = whole if whole is not None else s.get(name, *index)
            lhs = s.d(s.total, param)
            head = self.latex(lhs) if tex else self.text(lhs)
            if g.collapsed and index:
                head += f"[{', '.join(map(str, index))}]"
            total = g.path_sum(name, *index)
            for n, p in enumerate(paths, start=1):
                product = dot.join(self.factor(g.edges[i], tex) for i in p.edges)
                value = self.equals(p.value, tex)
                lead = f"{head} = " if len(paths) == 1 else f"path {n}: " if not tex else ""
                lines.append(f"{lead}{product}{value}")
            if len(paths) > 1:
                shown = self.equals(total, tex)
                words = f"sum of the {len(paths)} paths"
                said = "\\text{" + words + "}" if tex else words
                lines.append(f"{head} = {said}{shown}")
        if len(lines) > MAX_LINES:
            more = f"{len(lines) - MAX_LINES + 1} more lines"
            lines = [*lines[: MAX_LINES - 1], f"\\ldots\\text{{ {more}}}" if tex else f"… {more}"]
        return lines

    def title(self) -> str:
        g = self.g
        how = "by layer (matrix form)" if g.collapsed else "by unit"
        return f"computation graph of {self.d.net.describe()}, {how}"


__all__ = ["MAX_LINES", "Labels", "UnicodeNotation", "number", "pretty"]
