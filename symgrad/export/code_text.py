"""Element-wise formulas as source text, for the NumPy module and the C header.

:class:`Infix` is the table that :func:`symgrad.export.lowering.fold` reads to print a tree in
an infix language: each value is ``(text, precedence)``, and an operand is parenthesised when it
binds less tightly than its operator (or as tightly, on the right: ``a - (b - c)``), so that
the text computes the tree's operations in the tree's order. The spellings (function names,
numbers, ``where``, powers) are the language's: :func:`numpy_spelling`, :func:`c_spelling`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .lowering import BINARY, UNARY, Node, fold

Code = tuple[str, int]
"""Source text and how tightly it binds (:data:`ATOM` for a name, a call, parentheses)."""

ATOM = 100
_PREC = {"or": 1, "and": 2, "gt": 5, "ge": 5, "lt": 5, "le": 5, "eq": 5, "add": 10, "sub": 10,
         "mul": 20, "div": 20, "neg": 30, "pow": 40}  # fmt: skip
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "gt": ">", "ge": ">=",
           "lt": "<", "le": "<=", "eq": "==", "and": "&&", "or": "||"}  # fmt: skip


@dataclass(frozen=True)
class Spelling:
    """How a language writes the lowering's operations.

    Attributes:
        number: a finite float as a literal of the target's type.
        nan: the literal for NaN (a Piecewise with no branch that holds).
        calls: each operation written as a call, by name (``"exp": "np.exp"``); the others are
            infix (``+``, ``>``, ``&&``...).
        where: ``where(c, u, v)`` from the operands' text.
        helpers: operations printed as calls of the module's own helpers (``_sigmoid``): what
            a printout used is recorded, so that only those are defined.
    """

    number: Callable[[float], str]
    nan: str
    calls: dict[str, str]
    where: Callable[[str, str, str], str]
    helpers: frozenset[str] = field(default_factory=frozenset)


class Infix:
    """Prints trees in one :class:`Spelling`; :attr:`used` collects the helpers called."""

    def __init__(self, spelling: Spelling) -> None:
        self.spelling = spelling
        self.used: set[str] = set()

    def code(self, tree: Node, z: str) -> str:
        """The tree as one expression, with ``z`` for the variable."""
        return fold(tree, (z, ATOM), self._table())[0]

    def _table(self) -> dict[str, Callable[..., Code]]:
        table: dict[str, Callable[..., Code]] = {"const": self._const, "where": self._where}
        for op in (*UNARY, *BINARY):
            if op in self.spelling.calls:
                table[op] = lambda *args, op=op: self._call(op, *args)
            elif op == "neg":
                table[op] = self._neg
            else:
                table[op] = lambda u, v, op=op: self._infix(op, u, v)
        return table

    def _const(self, value: float) -> Code:
        if math.isnan(value):
            return self.spelling.nan, ATOM
        text = self.spelling.number(value)
        return text, _PREC["neg"] if text.startswith("-") else ATOM

    def _call(self, op: str, *args: Code) -> Code:
        name = self.spelling.calls[op]
        if op in self.spelling.helpers:
            self.used.add(op)
        return f"{name}({', '.join(text for text, _ in args)})", ATOM

    def _neg(self, u: Code) -> Code:
        # -(-u), never --u (C's decrement)
        return f"-{_wrap(u, _PREC['neg'] + 1)}", _PREC["neg"]

    def _infix(self, op: str, u: Code, v: Code) -> Code:
        prec = _PREC[op]
        if op in ("and", "or"):  # each side in parentheses: C warns of a || b && c
            return f"{_wrap(u, ATOM)} {_SYMBOL[op]} {_wrap(v, ATOM)}", prec
        if op == "pow":  # right-associative, and -u**2 is -(u**2): operands kept whole
            return f"{_wrap(u, ATOM)} ** {_wrap(v, ATOM)}", prec
        if prec == _PREC["gt"]:  # never chained: Python reads a > b == c as a > b and b == c
            return f"{_wrap(u, prec + 1)} {_SYMBOL[op]} {_wrap(v, prec + 1)}", prec
        return f"{_wrap(u, prec)} {_SYMBOL[op]} {_wrap(v, prec + 1)}", prec

    def _where(self, c: Code, u: Code, v: Code) -> Code:
        return self.spelling.where(c[0], u[0], v[0]), ATOM


def _wrap(code: Code, need: int) -> str:
    """The text, in parentheses when it binds less tightly than ``need``."""
    text, prec = code
    return text if prec >= need else f"({text})"


_NUMPY_CALLS = {
    "exp": "np.exp", "expm1": "np.expm1", "log": "np.log", "log1p": "np.log1p",
    "sqrt": "np.sqrt", "sin": "np.sin", "cos": "np.cos", "tan": "np.tan", "sinh": "np.sinh",
    "cosh": "np.cosh", "tanh": "np.tanh", "asin": "np.arcsin", "acos": "np.arccos",
    "atan": "np.arctan", "asinh": "np.arcsinh", "acosh": "np.arccosh", "atanh": "np.arctanh",
    "erf": "_erf", "abs": "np.abs", "sigmoid": "_sigmoid", "softplus": "_softplus",
    "max": "np.maximum", "min": "np.minimum", "and": "np.logical_and", "or": "np.logical_or",
    "not": "np.logical_not",
}  # fmt: skip


def numpy_spelling() -> Spelling:
    """NumPy on whole arrays; numbers are Python floats (NumPy keeps the arrays' dtype)."""
    return Spelling(
        number=repr,
        nan="np.nan",
        calls=_NUMPY_CALLS,
        where=lambda c, u, v: f"np.where({c}, {u}, {v})",
        helpers=frozenset({"erf", "sigmoid", "softplus"}),
    )


_C_FUNCTIONS = (
    "exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin",
    "acos", "atan", "asinh", "acosh", "atanh", "erf",
)  # fmt: skip


def c_spelling(single: bool) -> Spelling:
    """C99 on one value of type double (``single``: float, with ``expf``, ``1.5f``)."""
    f = "f" if single else ""
    calls = {op: f"{op}{f}" for op in _C_FUNCTIONS}
    calls |= {"abs": f"fabs{f}", "max": f"fmax{f}", "min": f"fmin{f}", "pow": f"pow{f}"}
    calls |= {"sigmoid": "symgrad_sigmoid", "softplus": "symgrad_softplus", "not": "!"}
    return Spelling(
        number=lambda value: c_number(value, single),
        nan="NAN",
        calls=calls,
        where=lambda c, u, v: f"({c} ? {u} : {v})",
        helpers=frozenset({"sigmoid", "softplus"}),
    )


def c_number(value: float, single: bool) -> str:
    """A C literal of exactly ``value`` (repr round-trips; a float's digits name its float)."""
    text = repr(float(value))
    if "e" not in text and "." not in text:
        text += ".0"
    return text + ("f" if single else "")


__all__ = ["Infix", "Spelling", "c_number", "c_spelling", "numpy_spelling"]
