"""Derivation steps as plain data: what was differentiated, by which rule, with what result.

A right-hand side is a :data:`Form`: a sum of products, each product an ordered tuple of
factors, so a step keeps the order the lesson reads in (``dz/dw * da/dz * dC/da``) whatever
order SymPy would sort a ``Mul`` into. The renderers and the code generator both read these.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

Form = tuple[tuple[sp.Expr, ...], ...]
"""A sum of ordered products: ``((f1, f2), (g1,))`` reads ``f1 * f2 + g1``."""


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
        rule: why, in words.
    """

    kind: str
    lhs: sp.Expr
    forms: tuple[Form, ...]
    rule: str

    @property
    def expr(self) -> sp.Expr:
        """The value of the last right-hand side."""
        return value(self.forms[-1])

    @property
    def factors(self) -> tuple[sp.Expr, ...]:
        """The factors of the last right-hand side when it is a single product."""
        last = self.forms[-1]
        return last[0] if len(last) == 1 else (value(last),)
