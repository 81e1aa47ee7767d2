"""Derivation steps as plain data: what was differentiated, by which rule, with what result.

A right-hand side is a :data:`Form`: a sum of products, each product an ordered tuple of
factors, so a step keeps the order the lesson reads in (``dz/dw * da/dz * dC/da``) whatever
order SymPy would sort a ``Mul`` into. A rule is :data:`Prose`: words and symbols side by side
(``("chain rule: ", w, " changes ", C, " only through ", z)``), so every view spells the symbols
in its own notation and nothing ever searches a sentence for maths. The renderers and the code
generator both read these.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

Form = tuple[tuple[sp.Expr, ...], ...]
"""A sum of ordered products: ``((f1, f2), (g1,))`` reads ``f1 * f2 + g1``."""


@dataclass(frozen=True, slots=True)
class Formula:
    """A rule's generic formula, spelled by its writer in both notations: ``z = sum_k w_jk a_k +
    b_j`` holds for every unit of every layer, and reads best as written, not as SymPy orders it."""

    text: str
    latex: str


Prose = tuple[str | sp.Basic | Formula, ...]
"""Words and maths in reading order: a ``str`` is words, a :class:`Formula` or a SymPy expression
maths (a network's own symbols, spelled by each view in its notation)."""


def prose(*parts: str | sp.Basic | Formula) -> Prose:
    """Prose from its parts, adjacent words joined."""
    out: list[str | sp.Basic | Formula] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif part != "":
            out.append(part)
    return tuple(out)


def words(text: Prose | str) -> str:
    """The words of some prose, each expression in SymPy's plain spelling (for messages, tests)."""
    if isinstance(text, str):
        return text
    return "".join(
        part if isinstance(part, str) else part.text if isinstance(part, Formula) else str(part)
        for part in text
    )


def product(*factors: sp.Expr) -> Form:
    """A form that is one ordered product."""
    return (tuple(sp.sympify(f) for f in factors),)


def single(expr: sp.Expr) -> Form:
    """A form that is one expression."""
    return ((sp.sympify(expr),),)


def value(form: Form) -> sp.Expr:
    """The SymPy value of a form."""
    return sp.Add(*[sp.Mul(*term) for term in form])


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a derivation: ``lhs = forms[0] = forms[1] = ...``.

    Attributes:
        kind: ``"chain"`` (the chain rule written out), ``"local"`` (one local derivative),
            ``"cost"`` (the derivative of the cost), ``"paths"`` (a hidden ``dC/da`` as a sum over
            the paths into the next layer), ``"closed"`` (the product multiplied out in layer
            quantities) or ``"expanded"`` (in inputs and parameters only).
        lhs: the quantity being found, e.g. the placeholder symbol ``dC/dw2_0_1``.
        forms: successive right-hand sides, each equal to the last.
        rule: why, in words and symbols.
    """

    kind: str
    lhs: sp.Expr
    forms: tuple[Form, ...]
    rule: Prose

    @property
    def expr(self) -> sp.Expr:
        """The value of the last right-hand side."""
        return value(self.forms[-1])

    @property
    def factors(self) -> tuple[sp.Expr, ...]:
        """The factors of the last right-hand side when it is a single product."""
        last = self.forms[-1]
        return last[0] if len(last) == 1 else (value(last),)
