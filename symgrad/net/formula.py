"""Whitelist parser for user formulas: untrusted text in, a SymPy expression out.

The text is parsed with :func:`ast.parse` (which only builds a syntax tree and runs nothing) and
every node is checked against a short whitelist: numbers, the allowed variable names, ``+ - * /
**``, unary minus and a fixed set of functions. Nothing is passed to ``eval``, ``sympify`` or
``parse_expr``. Anything else raises :class:`~symgrad.errors.SpecError` saying what to change.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..validate import did_you_mean

if TYPE_CHECKING:
    import sympy as sp

MAX_LENGTH = 500
MAX_DEPTH = 40
MAX_EXPONENT = 64
MAX_DIGITS = 1000  # a power of numbers may not exceed 10**1000: (10**12)**64**4 would never finish
MAX_BRANCHES = 3
"""abs, max and min each split a formula in two branches, which the derivation and its proof
follow one by one: three of them are up to 8 branches, four nested ones took over 10 s to fold."""


FUNCTIONS: dict[str, int] = {
    # name -> number of arguments (the SymPy builders: _sympy_functions)
    "exp": 1, "log": 1, "log1p": 1, "sqrt": 1, "sin": 1, "cos": 1, "tan": 1, "sinh": 1,
    "cosh": 1, "tanh": 1, "atan": 1, "asinh": 1, "erf": 1, "abs": 1, "sigmoid": 1,
    "softplus": 1, "max": 2, "min": 2,
}  # fmt: skip
CONSTANTS = ("pi", "e")


@cache
def _sympy_functions() -> dict[str, Callable[..., Any]]:
    """Each whitelisted function's SymPy builder (SymPy is imported here, when a formula is built)."""
    import sympy as sp

    return {
        "exp": sp.exp, "log": sp.log, "log1p": lambda u: sp.log(1 + u), "sqrt": sp.sqrt,
        "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "sinh": sp.sinh, "cosh": sp.cosh,
        "tanh": sp.tanh, "atan": sp.atan, "asinh": sp.asinh, "erf": sp.erf, "abs": sp.Abs,
        "sigmoid": lambda u: 1 / (1 + sp.exp(-u)), "softplus": lambda u: sp.log(1 + sp.exp(u)),
        "max": sp.Max, "min": sp.Min, "pi": sp.pi, "e": sp.E,
    }  # fmt: skip


STEP_FUNCTIONS = frozenset(
    {"heaviside", "step", "sign", "sgn", "threshold", "floor", "ceil", "round"}
)

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda u, v: u + v,
    ast.Sub: lambda u, v: u - v,
    ast.Mult: lambda u, v: u * v,
    ast.Div: lambda u, v: u / v,
}


def parse_formula(
    text: str, variables: Iterable[str], *, what: str = "formula", named: bool = False
) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in the given variables.

    Args:
        text: the formula, e.g. ``"z*sigmoid(z)"``.
        variables: the names the formula may use (``{"z"}`` for an activation, ``{"a", "y"}`` for a cost).
        what: how to name the formula in error messages.
        named: keep ``sigmoid`` and ``softplus`` as the functions of :mod:`symgrad.net.named`
            (for a derivation rule by rule) rather than writing out their definitions.

    Returns:
        The expression, written in real SymPy symbols of the same names.
    """
    import sympy as sp

    names = sorted(variables)
    tree = _syntax_tree(text, names, what)
    builder = _Builder(text, {name: sp.Symbol(name, real=True) for name in names}, what, named)
    expr = _walk(builder, tree)
    if expr.has(sp.I, sp.zoo, sp.nan, sp.oo):
        raise SpecError(
            f"{what} {text!r} is not a real number everywhere (it has {_non_real(expr)}); "
            "write a formula whose constants are real, e.g. sqrt(1 + x**2) rather than sqrt(-1)"
        )
    return sp.sympify(expr)


def _syntax_tree(text: str, names: list[str], what: str) -> ast.Expression:
    if not isinstance(text, str):
        raise SpecError(
            f"{what} must be a string such as 'z*sigmoid(z)', got {type(text).__name__}"
        )
    if not text.strip():
        raise SpecError(f"{what} is empty; write a formula in {', '.join(names)}")
    if len(text) > MAX_LENGTH:
        raise SpecError(
            f"{what} is {len(text)} characters long; the limit is {MAX_LENGTH}: write a shorter formula"
        )
    if "^" in text:
        raise SpecError(f"{what} {text!r} uses '^'; write powers as '**', e.g. 'z**2'")
    try:
        with warnings.catch_warnings():  # "1in" warns before it fails; the error says enough
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        msg = exc.msg if isinstance(exc, SyntaxError) else "cannot be parsed"
        raise SpecError(f"{what} {text!r} is not a valid formula ({msg})") from None


def _walk(builder: _Builder, tree: ast.Expression) -> Any:
    try:
        expr = builder.build(tree.body, 0)
    except RecursionError:
        raise SpecError(f"{builder.what} {builder.text!r} is nested too deeply") from None
    if builder.branches > MAX_BRANCHES:
        raise SpecError(
            f"{builder.what} {builder.text!r} uses abs, max or min {builder.branches} times; each "
            f"doubles the branches the derivation follows, and the limit is {MAX_BRANCHES}: write "
            "a simpler formula"
        )
    return expr


def _non_real(expr: sp.Expr) -> str:
    """What makes ``expr`` not real, in words."""
    import sympy as sp

    if expr.has(sp.I):
        return "the imaginary unit, e.g. from sqrt(-1) or log(-1)"
    return "an infinite or undefined constant, e.g. from 1/0 or log(0)"


def _digits(number: sp.Expr) -> float:
    """``|log10|number||``: how many digits a number has (before or after the point)."""
    try:
        if number.is_Rational:
            p, q = abs(int(number.p)), int(number.q)  # type: ignore[attr-defined]
            return abs(math.log10(p) - math.log10(q)) if p else 0.0
        value = abs(complex(number.evalf(30)))
        return abs(math.log10(value)) if value else 0.0
    except (OverflowError, TypeError, ValueError):
        return math.inf


class _Builder:
    """Turns a whitelisted :mod:`ast` tree into SymPy, node by node."""

    def __init__(self, text: str, symbols: dict[str, Any], what: str, named: bool = False) -> None:
        self.text = text
        self.named = named
        self.symbols = symbols
        self.what = what
        self.branches = 0  # calls of abs, max and min

    def fail(self, why: str) -> SpecError:
        return SpecError(f"{self.what} {self.text!r}: {why}")

    def build(self, node: ast.expr, depth: int) -> sp.Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep; simplify it")
        if isinstance(node, ast.Constant):
            return self.number(node.value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.build(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left = self.build(node.left, depth + 1)
            right = self.build(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                return self.power(left, right)
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.fail(f"operator {type(node.op).__name__} is not allowed; use + - * / **")
            return op(left, right)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Attribute):
            raise self.fail(
                f"attribute access '.{node.attr}' is not allowed; write plain function names like 'exp(z)'"
            )
        raise self.fail(
            f"{type(node).__name__} is not allowed; use numbers, {self.allowed_names()}, "
            "+ - * / ** and functions such as exp, log, tanh, sigmoid"
        )

    def allowed_names(self) -> str:
        return ", ".join(repr(n) for n in self.symbols)

    def number(self, value: object) -> sp.Expr:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"constant {value!r} is not a number")
        if abs(value) > 1e12:
            raise self.fail(f"constant {value!r} is too large (limit 1e12)")
        import sympy as sp

        return sp.Integer(value) if isinstance(value, int) else sp.Float(value)

    def name(self, name: str) -> sp.Expr:
        if name in self.symbols:
            return self.symbols[name]
        if name in CONSTANTS:
            return _sympy_functions()[name]
        if name.startswith("__"):
            raise self.fail(f"name {name!r} is not allowed")
        if name in FUNCTIONS:
            raise self.fail(f"function {name!r} must be called, e.g. '{name}(...)'")
        raise self.fail(
            f"unknown name {name!r}{did_you_mean(name, [*self.symbols, *CONSTANTS])}; "
            f"the formula may use {self.allowed_names()}, pi and e"
        )

    def power(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_number and abs(float(exponent)) > MAX_EXPONENT:
            raise self.fail(f"exponent {exponent} is too large (limit {MAX_EXPONENT})")
        if (
            base.is_number
            and exponent.is_number
            and _digits(base) * abs(float(exponent)) > MAX_DIGITS
        ):
            raise self.fail(
                f"a power of numbers there has more than {MAX_DIGITS} digits; write a smaller one"
            )
        import sympy as sp

        return sp.Pow(base, exponent)

    def call(self, node: ast.Call, depth: int) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.fail(
                    f"attribute access '.{node.func.attr}' is not allowed; call plain functions like 'exp(z)'"
                )
            raise self.fail("only named functions such as exp(z) may be called")
        fname = node.func.id
        if fname.lower() in STEP_FUNCTIONS:
            raise self.fail(
                f"{fname}() is a step function: its derivative is zero almost everywhere, so gradient "
                "descent cannot learn through it; use a smooth one such as sigmoid(z) or tanh(z)"
            )
        if fname not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.fail(
                f"function {fname!r} is not allowed{did_you_mean(fname, FUNCTIONS)}; "
                f"the allowed functions are {known}"
            )
        if node.keywords:
            raise self.fail(f"{fname}() takes no keyword arguments")
        arity = FUNCTIONS[fname]
        if len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(f"{fname}() takes {arity} argument{'s' if arity > 1 else ''}")
        args = [self.build(arg, depth + 1) for arg in node.args]
        if fname in ("abs", "max", "min"):
            self.branches += 1
        if self.named and fname in ("sigmoid", "softplus"):
            from .named import NAMED

            return NAMED[fname](*args)
        return _sympy_functions()[fname](*args)
