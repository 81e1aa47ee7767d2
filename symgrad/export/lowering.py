"""How an activation becomes element-wise code: the one lowering that every export target reads.

An activation's ``f(z)`` becomes a small tree (:data:`Node`) over a closed vocabulary of
element-wise operations (:data:`OPS`: the arithmetic, the functions that ONNX, NumPy, C99's
``<math.h>`` and torch all have, comparisons and ``where``). A built-in comes from
:data:`BUILTINS`, written in numerically stable forms (``sigmoid`` and ``softplus`` stay named
operations, which each target writes without overflow; ``elu`` takes ``expm1`` of ``min(z,
0)``); a user formula is lowered from its SymPy expression by :func:`lower`, which refuses a
function outside the vocabulary with a SpecError naming it. Each target then folds the tree
(:func:`fold`) with its own table of operations: ONNX nodes, NumPy or C text, torch calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import SpecError

if TYPE_CHECKING:
    import sympy as sp

    from ..net.activations import Activation

Node = tuple[Any, ...]
"""``("z",)``, ``("const", value)`` or ``(op, *operands)`` with ``op`` one of :data:`OPS`."""
T = TypeVar("T")

Z: Node = ("z",)
ZERO: Node = ("const", 0.0)
LEAKY_SLOPE = 0.01
"""leaky_relu's slope for z <= 0 (symgrad.net.ops: ``Rational(1, 100) z``)."""

UNARY = (
    "neg", "exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
    "asin", "acos", "atan", "asinh", "acosh", "atanh", "erf", "abs", "sigmoid", "softplus", "not",
)  # fmt: skip
BINARY = (
    "add", "sub", "mul", "div", "pow", "max", "min", "gt", "ge", "lt", "le", "eq", "and", "or",
)  # fmt: skip
OPS = (*UNARY, *BINARY, "where")
"""Every operation a tree may hold; each target's table has one entry per name (and ``const``)."""

BUILTINS: dict[str, Node | None] = {
    "identity": Z,
    "sigmoid": ("sigmoid", Z),
    "tanh": ("tanh", Z),
    "relu": ("max", Z, ZERO),
    "leaky_relu": ("where", ("gt", Z, ZERO), Z, ("mul", ("const", LEAKY_SLOPE), Z)),
    "softplus": ("softplus", Z),
    "silu": ("mul", Z, ("sigmoid", Z)),
    # min(z, 0): exp of the branch not taken never overflows
    "elu": ("where", ("gt", Z, ZERO), Z, ("expm1", ("min", Z, ZERO))),
    "softmax": None,  # couples the units: each target writes exp(z - max z) / sum out
}
"""Each built-in activation's ``f(z)`` in a stable form (tests/test_export.py checks each against
its SymPy formula); None for softmax."""


def native(act: Activation) -> str | None:
    """The registry name of a built-in (for a target's own op: ``nn.Tanh``, ONNX ``Relu``), or
    None for a user formula."""
    return act.name if act.builtin else None


def elementwise(act: Activation) -> Node | None:
    """``f(z)`` of an activation as a tree; None for softmax (not element-wise)."""
    if act.is_softmax:
        return None
    if act.builtin:
        return BUILTINS[act.name]
    return lower(formula_expr(act), act.name)


def formula_expr(act: Activation) -> sp.Expr:
    """A user activation's SymPy expression as written: ``abs``, ``max`` and ``min`` kept (every
    target has them), not the Piecewise that the derivation rewrites them into."""
    if act.formula is None:
        return act.expr
    from ..net.formula import parse_formula

    return parse_formula(act.formula, {"z"}, what=f"activation {act.name!r}")


def _functions() -> dict[type, str]:
    """SymPy's function classes and the operation each lowers to."""
    import sympy as sp

    from ..codegen.printer import sigmoid, softplus

    return {
        sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan",
        sp.sinh: "sinh", sp.cosh: "cosh", sp.tanh: "tanh", sp.asin: "asin", sp.acos: "acos",
        sp.atan: "atan", sp.asinh: "asinh", sp.acosh: "acosh", sp.atanh: "atanh",
        sp.erf: "erf", sp.Abs: "abs", sigmoid: "sigmoid", softplus: "softplus",
    }  # fmt: skip


def lower(expr: sp.Expr, name: str) -> Node:
    """``expr``, a SymPy expression in ``z``, as a tree of :data:`OPS`.

    ``1/(1 + exp(-u))`` and ``log(1 + exp(u))`` become ``sigmoid`` and ``softplus`` first
    (:func:`symgrad.codegen.printer.stabilise`), so that no target overflows on them.

    Raises:
        SpecError: ``expr`` holds a function with no ONNX op (and so no place in :data:`OPS`),
            named in the message.
    """
    import sympy as sp

    from ..codegen.printer import stabilise

    functions = _functions()
    relations = {
        sp.StrictGreaterThan: "gt", sp.GreaterThan: "ge", sp.StrictLessThan: "lt",
        sp.LessThan: "le", sp.Equality: "eq",
    }  # fmt: skip

    def const(value: sp.Expr) -> Node:
        number = float(value)
        if not math.isfinite(number):
            raise SpecError(f"activation {name!r}: the constant {value} is not a finite number")
        return ("const", number)

    def folded(op: str, args: Sequence[sp.Basic]) -> Node:
        """An n-ary product, max, min, and or or as nested binary operations, left to right."""
        node = visit(args[0])
        for arg in args[1:]:
            node = (op, node, visit(arg))
        return node

    def visit(e: sp.Basic) -> Node:
        if isinstance(e, sp.Symbol):
            if e.name != "z":
                raise SpecError(f"activation {name!r}: unknown variable {e.name!r}; write f(z)")
            return Z
        if e.is_number and not isinstance(e, sp.Piecewise):
            return const(e)
        if isinstance(e, sp.Add):
            # a - b rather than a + (-1)*b; SymPy's order of the terms is kept
            first, *rest = e.args
            node = ("neg", visit(-first)) if first.could_extract_minus_sign() else visit(first)
            for term in rest:
                negative = term.could_extract_minus_sign()
                node = ("sub", node, visit(-term)) if negative else ("add", node, visit(term))
            return node
        if isinstance(e, sp.Mul):
            coeff, factors = e.as_coeff_mul()
            if coeff < 0:
                return ("neg", visit(-e))
            numer = [sp.S(coeff)] if coeff != 1 else []
            denom = []
            for f in factors:
                if isinstance(f, sp.Pow) and f.exp.is_number and f.exp < 0:
                    denom.append(f.base ** (-f.exp))
                else:
                    numer.append(f)
            top = folded("mul", numer) if numer else ("const", 1.0)
            return ("div", top, folded("mul", denom)) if denom else top
        if isinstance(e, sp.Pow):
            base, exponent = e.args
            if exponent.is_number and exponent < 0:
                return ("div", ("const", 1.0), visit(base ** (-exponent)))
            if exponent == sp.S.Half:
                return ("sqrt", visit(base))
            if exponent == 2:
                b = visit(base)
                return ("mul", b, b)
            return ("pow", visit(base), visit(exponent))
        if isinstance(e, sp.Max | sp.Min):
            return folded("max" if isinstance(e, sp.Max) else "min", e.args)
        if isinstance(e, sp.Piecewise):
            node = ("const", math.nan)  # no branch holds: NaN, as the generated code
            for value, cond in reversed(e.args):
                node = (
                    visit(value) if cond == sp.true else ("where", visit(cond), visit(value), node)
                )
            return node
        if type(e) in relations:
            return (relations[type(e)], visit(e.lhs), visit(e.rhs))
        if isinstance(e, sp.Ne):
            return ("not", ("eq", visit(e.lhs), visit(e.rhs)))
        if isinstance(e, sp.And | sp.Or):
            return folded("and" if isinstance(e, sp.And) else "or", e.args)
        if isinstance(e, sp.Not):
            return ("not", visit(e.args[0]))
        fn = functions.get(type(e))
        if fn is not None and len(e.args) == 1:
            return (fn, visit(e.args[0]))
        shown = getattr(e.func, "__name__", type(e).__name__)
        known = ", ".join(sorted({*functions.values(), "max", "min", "sqrt"}))
        raise SpecError(
            f"activation {name!r}: {shown} has no ONNX op, so it cannot be exported; write the "
            f"formula with + - * / ** and {known}"
        )

    return visit(stabilise(expr))


def fold(node: Node, z: T, ops: Mapping[str, Callable[..., T]]) -> T:
    """Evaluate a tree bottom-up with a target's table (``ops[op](*operands)``,
    ``ops["const"](value)``), ``z`` for the variable. A subtree met twice is folded once (an
    ONNX node or a torch tensor is then shared)."""
    memo: dict[Node, T] = {}

    def visit(n: Node) -> T:
        if n == Z:
            return z
        if n in memo:
            return memo[n]
        op, *operands = n
        value = ops["const"](*operands) if op == "const" else ops[op](*map(visit, operands))
        memo[n] = value
        return value

    return visit(node)


def uses(node: Node, op: str) -> bool:
    """Whether the tree holds operation ``op`` (a target includes a helper only when used)."""
    return node[0] == op or any(isinstance(c, tuple) and uses(c, op) for c in node[1:])


__all__ = [
    "BUILTINS",
    "LEAKY_SLOPE",
    "OPS",
    "Node",
    "Z",
    "elementwise",
    "fold",
    "formula_expr",
    "lower",
    "native",
    "uses",
]
