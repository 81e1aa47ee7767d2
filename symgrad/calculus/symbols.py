"""Symbols of a network, named after the notation, and their LaTeX spellings.

Layers are numbered 1..L and the input is layer 0 (``a^(0) = x``); units are numbered from 0 in
the maths and in the arrays alike, so the symbol ``w2_0_1`` is ``w^(2)_{01}`` and is the array
entry ``W2[0, 1]``: it joins unit 1 of layer 1 to unit 0 of layer 2 (3Blue1Brown's and
Nielsen's order). Symbols are made on demand, so a network of any width costs nothing here.
Derivative placeholders such as ``dC/dw2_0_1`` are symbols too, with their own LaTeX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import SpecError
from ..net.network import Network


def subscript(*index: int | sp.Expr) -> str:
    """LaTeX subscript of unit indices: ``01`` when every index is one digit, else ``10,3``."""
    parts = [sp.latex(i) if isinstance(i, sp.Basic) else str(i) for i in index]
    return ("" if all(len(p) == 1 for p in parts) else ",").join(parts)


@dataclass(frozen=True)
class Meta:
    """What a symbol stands for, so that no view ever parses its name back.

    Attributes:
        kind: ``"w"``, ``"b"``, ``"z"``, ``"a"``, ``"x"``, ``"y"``, ``"C"`` (the cost that the
            chain rule reaches: the data cost ``C_0``, named so in ``name``, when there is a
            penalty), ``"cost"`` (the regularised cost), ``"lambda"`` (the penalty's strength),
            ``"partial"`` (the placeholder ``d num/d den``), ``"fprime"`` (``f'(z)``), or for an
            ``IndexedBase`` of the index forms its quantity: ``"w"``, ``"delta"``, ``"dCdw"``...
        layer: the layer (None for x, y, C and the generic ones of a rule).
        index: the unit indices (``(j, k)`` of a weight), empty for an ``IndexedBase``.
        of: for ``"partial"``, ``(num, den)``; for ``"fprime"``, ``(z,)``.
        name: for ``"fprime"``, the activation's name.
    """

    kind: str
    layer: int | None = None
    index: tuple[Any, ...] = ()
    of: tuple[sp.Basic, ...] = ()
    name: str = ""


class Symbols:
    """Factory, metadata and LaTeX table for the symbols of one network."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.latex: dict[sp.Basic, str] = {}
        self.meta: dict[sp.Basic, Meta] = {}
        self._made: dict[str, sp.Symbol] = {}
        self.lam: sp.Symbol | None = None
        if net.regularization is None:
            self.C = self._make("C", "C", Meta("C"))
            self.total = self.C
        else:
            # the chain rule reaches the data cost C_0 of one example; C adds the penalty
            self.C = self._make("C_0", "C_0", Meta("C", name="C_0"))
            self.total = self._make("C", "C", Meta("cost"))
            from ..net.regularization import symbols

            self.lam = symbols()[1]
            self.latex[self.lam] = r"\lambda"
            self.meta[self.lam] = Meta("lambda")

    def _make(self, name: str, latex: str, meta: Meta) -> sp.Symbol:
        sym = self._made.get(name)
        if sym is None:
            sym = sp.Symbol(name, real=True)
            self._made[name] = sym
            self.latex[sym] = latex
            self.meta[sym] = meta
        return sym

    def _unit(self, l: int, j: int) -> None:
        if not 0 <= l <= self.net.L:
            raise SpecError(f"layer {l} does not exist; this network has layers 0..{self.net.L}")
        n = self.net.sizes[l]
        if not 0 <= j < n:
            raise SpecError(f"layer {l} has units 0..{n - 1}; unit {j} does not exist")

    def w(self, l: int, j: int, k: int) -> sp.Symbol:
        """``w^(l)_jk``: joins unit k of layer l-1 to unit j of layer l."""
        self._unit(l, j)
        self._unit(l - 1, k)
        return self._make(
            f"w{l}_{j}_{k}", f"w^{{({l})}}_{{{subscript(j, k)}}}", Meta("w", l, (j, k))
        )

    def b(self, l: int, j: int) -> sp.Symbol:
        self._unit(l, j)
        if not self.net.layers[l - 1].bias:
            raise SpecError(f"layer {l} has no bias (declared with bias=False)")
        return self._make(f"b{l}_{j}", f"b^{{({l})}}_{{{subscript(j)}}}", Meta("b", l, (j,)))

    def z(self, l: int, j: int) -> sp.Symbol:
        self._unit(l, j)
        if l == 0:
            raise SpecError("z is defined for layers 1..L; the input is x")
        return self._make(f"z{l}_{j}", f"z^{{({l})}}_{{{subscript(j)}}}", Meta("z", l, (j,)))

    def a(self, l: int, j: int) -> sp.Symbol:
        """``a^(l)_j``; ``a^(0)_k`` is the input ``x_k``."""
        if l == 0:
            return self.x(j)
        self._unit(l, j)
        return self._make(f"a{l}_{j}", f"a^{{({l})}}_{{{subscript(j)}}}", Meta("a", l, (j,)))

    def x(self, k: int) -> sp.Symbol:
        self._unit(0, k)
        return self._make(f"x_{k}", f"x_{{{subscript(k)}}}", Meta("x", None, (k,)))

    def y(self, j: int) -> sp.Symbol:
        self._unit(self.net.L, j)
        return self._make(f"y_{j}", f"y_{{{subscript(j)}}}", Meta("y", None, (j,)))

    def mask(self, l: int, j: int) -> sp.Symbol:
        """``m^(l)_j``: the dropout mask of unit j of layer l (1 kept, 0 dropped)."""
        self._unit(l, j)
        return self._make(f"m{l}_{j}", f"m^{{({l})}}_{{{subscript(j)}}}", Meta("m", l, (j,)))

    def drop(self, l: int) -> sp.Symbol:
        """``p^(l)``: the dropout probability of layer l."""
        return self._make(f"p{l}", f"p^{{({l})}}", Meta("p", l))

    def fprime(self, l: int, j: int) -> sp.Symbol:
        """Display symbol ``f'(z^(l)_j)``, e.g. ``\\sigma'(z^{(2)}_{0})``."""
        act = self.net.layers[l - 1].act
        z = self.z(l, j)
        return self._make(
            f"{act.name}'({z.name})",
            f"{act.latex}'\\left({self.latex[z]}\\right)",
            Meta("fprime", l, (j,), (z,), act.name),
        )

    def d(self, num: sp.Symbol, den: sp.Symbol) -> sp.Symbol:
        """Placeholder for the partial derivative ``d num / d den``."""
        return self._make(
            f"d{num.name}/d{den.name}",
            f"\\frac{{\\partial {self.latex[num]}}}{{\\partial {self.latex[den]}}}",
            Meta("partial", of=(num, den)),
        )

    def generic(self, name: str) -> sp.Symbol:
        """A rule's generic quantity, of no layer and no unit: ``z``, ``a``, ``w`` in ``dz/da = w``."""
        return self._make(name, name, Meta(name))

    def generic_partial(self, num: sp.Symbol, name: str, l: int) -> sp.Symbol:
        """The placeholder ``d num / d name^(l)_j`` for a generic unit j (a wide layer's step)."""
        j = sp.Symbol("j", integer=True)
        den = self.indexed(name, l)[j]
        return self._make(
            f"d{num.name}/d{name}{l}_j",
            f"\\frac{{\\partial {self.latex[num]}}}{{\\partial {name}^{{({l})}}_{{j}}}}",
            Meta("partial", of=(num, den)),
        )

    def get(self, name: str, *index: int) -> sp.Symbol:
        """Symbol by array name: ``("W2", j, k)``, ``("b1", j)``, ``("x", k)``, ``("y", j)``, ``("z2", j)``..."""
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
            raise SpecError(f"indices of {name!r} must be whole numbers, got {index}")
        head, tail = name[:1], name[1:]
        want = {"W": 2, "w": 2, "b": 1, "z": 1, "a": 1, "x": 1, "y": 1}.get(head)
        if (
            want is None
            or (head in "xy" and tail)
            or (head not in "xy" and not (tail.isascii() and tail.isdigit()))
        ):
            raise SpecError(f"unknown symbol {name!r}; use W<l>, b<l>, z<l>, a<l>, x or y")
        if len(index) != want:
            raise SpecError(
                f"{name!r} takes {want} index{'es' if want > 1 else ''}, got {len(index)}"
            )
        if head in "Wb":
            self.net.layer_of("W" + tail if head == "W" else name)
        if head in "Ww":
            return self.w(int(tail), *index)
        if head == "b":
            return self.b(int(tail), *index)
        if head == "z":
            return self.z(int(tail), *index)
        if head == "a":
            return self.a(int(tail), *index)
        return self.x(*index) if head == "x" else self.y(*index)

    def indexed(self, name: str, l: int | None = None) -> sp.IndexedBase:
        """IndexedBase for index-form equations (``w^{(l)}_{ij}`` with symbolic i, j)."""
        label = f"{name}{'' if l is None else l}"
        shown = name if l is None else f"{name}^{{({l})}}"
        shown = {
            "delta": r"\delta",
            "dCdb": r"\frac{\partial C}{\partial b}",
            "dCdw": r"\frac{\partial C}{\partial w}",
            "dCda": r"\frac{\partial C}{\partial a}",
        }.get(name, shown) + (
            "" if l is None or name not in ("delta", "dCdb", "dCdw", "dCda") else f"^{{({l})}}"
        )
        base = sp.IndexedBase(sp.Symbol(label, real=True), real=True)
        self.latex[base.label] = shown
        self.meta[base.label] = Meta(name, l)
        return base
