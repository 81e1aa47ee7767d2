"""NumbaPrinter: SymPy expressions to scalar Python that Numba compiles, numerically safe.

Only the element-wise formulas go through here (an activation, its derivative in forward
terms, ``dC/da``, an optimiser's update rule); the loops and the linear algebra live in the
templates. :func:`stabilise` first names two forms (``1/(1 + exp(-u))`` becomes ``sigmoid(u)``,
``log(1 + exp(u))`` becomes ``softplus(u)``), and the printer emits them, and ``exp`` and ``tanh``
themselves, as calls to small helpers defined in every generated module. ``softplus`` needs its
helper: ``log(1 + exp(u))`` overflows to inf for large u. ``sigmoid`` is one named line: IEEE
arithmetic already gives its limits (``1/(1 + inf) = 0``). ``_exp`` is chosen by the module's
shape: a polynomial that vectorises in the blas shape's loops, libm's ``exp`` in the unrolled
shape. ``_tanh`` is built on ``_exp``: libm's ``tanh`` takes twice as long as its ``exp``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..errors import CodegenError
from ..net.optim import Optimizer, hyper

_NARROW: ContextVar[bool] = ContextVar("symgrad_narrow_numbers", default=False)
_HELPERS_USED: ContextVar[set[str] | None] = ContextVar("symgrad_helpers_used", default=None)


@contextmanager
def numbers_for(dtype: str) -> Iterator[None]:
    """Within the block, code is printed for a module of ``dtype``.

    Numba, like NumPy's scalars, widens ``float32`` arithmetic to ``float64`` as soon as a
    Python number takes part (``1 - a`` is a float64 for a float32 ``a``). For ``float32``
    every number is therefore printed as ``DTYPE(...)`` (the module's dtype), so that the
    arithmetic stays in float32; integer exponents stay plain (``a**2`` keeps the dtype).
    """
    token = _NARROW.set(dtype == "float32")
    try:
        yield
    finally:
        _NARROW.reset(token)


def number(text: str) -> str:
    """A number for the module's arithmetic: ``1.0``, or ``DTYPE(1.0)`` in a float32 module.

    The sign stays outside (``-DTYPE(1)``), where the printers of sums look for it.
    """
    if not _NARROW.get():
        return text
    return f"-DTYPE({text[1:]})" if text.startswith("-") else f"DTYPE({text})"


class sigmoid(sp.Function):  # type: ignore[misc]  # lower case, like SymPy's own functions
    """``1 / (1 + exp(-u))``, printed as the helper ``_sigmoid(u)``."""

    nargs = 1


class softplus(sp.Function):  # type: ignore[misc]
    """``log(1 + exp(u))``, printed as the overflow-free helper ``_softplus(u)``."""

    nargs = 1


HELPERS = {"exp": "_exp", "sigmoid": "_sigmoid", "softplus": "_softplus", "tanh": "_tanh"}
"""Printed name of each helper function; the module template defines them (``_exp``: by shape,
a vectorisable polynomial in the blas shape, libm's exp in the unrolled one; ``_tanh``: from
``_exp``, with half the latency of libm's tanh)."""


def _exp_arg(expr: sp.Expr) -> sp.Expr | None:
    """``u`` when ``expr`` is ``1 + exp(u)`` (in either order), else None."""
    if isinstance(expr, sp.Add) and len(expr.args) == 2 and sp.S.One in expr.args:
        other = expr.args[0] if expr.args[1] == sp.S.One else expr.args[1]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def stabilise(expr: sp.Expr) -> sp.Expr:
    """Rewrite ``1/(1+exp(-u))`` as ``sigmoid(u)`` and ``log(1+exp(u))`` as ``softplus(u)``."""

    def visit(e: sp.Basic) -> sp.Basic:
        if not e.args:
            return e
        args = [visit(arg) for arg in e.args]
        if isinstance(e, sp.Pow) and args[1] == -1:
            u = _exp_arg(args[0])
            if u is not None:
                return sigmoid(-u)  # 1/(1 + exp(u)) = sigmoid(-u)
        if isinstance(e, sp.log):
            u = _exp_arg(args[0])
            if u is not None:
                return softplus(u)
        return e.func(*args, evaluate=False) if isinstance(e, sp.Mul | sp.Add) else e.func(*args)

    return sp.sympify(visit(sp.sympify(expr)))


class NumbaPrinter(PythonCodePrinter):  # type: ignore[misc]
    """Python code printer for scalar formulas inside ``@numba.njit`` functions.

    Differences from :class:`~sympy.printing.pycode.PythonCodePrinter`: a ``Piecewise`` is one
    conditional expression (``(z if z > 0 else 0.01*z)``, with NaN when no branch holds),
    ``exp``, ``tanh``, :class:`sigmoid` and :class:`softplus` print as calls to the module's
    helpers, and anything the printer does not know raises instead of printing a comment.
    """

    printmethod = "_numbacode"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__({"strict": True, "fully_qualified_modules": True, **(settings or {})})

    def _print_Piecewise(self, expr: sp.Piecewise, bare: bool = False) -> str:
        """``(x if c else y)``; with ``bare``, the outer parens left out (a call's sole argument)."""
        tail = "math.nan"
        for i, branch in enumerate(reversed(expr.args)):
            value = self._print(branch.expr)
            cond = branch.cond
            if cond == sp.true:
                tail = value
                continue
            tail = f"{value} if {self._print(cond)} else {tail}"
            if not (bare and i == len(expr.args) - 1):
                tail = f"({tail})"
        return tail

    def _print_Integer(self, expr: sp.Integer) -> str:
        return number(str(super()._print_Integer(expr)))

    def _print_Rational(self, expr: sp.Rational) -> str:
        if _NARROW.get():
            return number(f"{expr.p}/{expr.q}")
        return str(super()._print_Rational(expr))

    def _print_Float(self, expr: sp.Float) -> str:
        return number(str(super()._print_Float(expr)))

    def _print_Half(self, expr: sp.Rational) -> str:
        return self._print_Rational(expr)

    def _print_Zero(self, expr: sp.Integer) -> str:
        return self._print_Integer(expr)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if _NARROW.get() and expr.exp.is_Integer and expr.exp != -1:
            base = self.parenthesize(expr.base, sp.printing.precedence.precedence(expr))
            exp = int(expr.exp)
            return f"{base}**{exp}" if exp >= 0 else f"{base}**({exp})"
        return str(super()._print_Pow(expr, rational=rational))

    def _print_exp(self, expr: sp.exp) -> str:
        return self._helper("exp", expr)

    def _print_tanh(self, expr: sp.tanh) -> str:
        return self._helper("tanh", expr)

    def _print_sigmoid(self, expr: sp.Function) -> str:
        return self._helper("sigmoid", expr)

    def _print_softplus(self, expr: sp.Function) -> str:
        return self._helper("softplus", expr)

    def _helper(self, kind: str, expr: sp.Function) -> str:
        """A call of the module's helper for ``kind`` (recorded: see :func:`recording_helpers`)."""
        name = HELPERS[kind]
        used = _HELPERS_USED.get()
        if used is not None:
            used.add(name)
        return f"{name}({self._sole_argument(expr.args[0])})"

    def _print_known_func(self, expr: sp.Function) -> str:
        """``math.log(u)``: as SymPy's, a sole argument printed without a second pair of parens."""
        known = self.known_functions[expr.__class__.__name__]
        if len(expr.args) == 1:
            return f"{self._module_format(known)}({self._sole_argument(expr.args[0])})"
        return str(super()._print_known_func(expr))

    def _sole_argument(self, arg: sp.Basic) -> str:
        """A call's only argument: a conditional expression needs no parens of its own there."""
        if isinstance(arg, sp.Piecewise):
            return self._print_Piecewise(arg, bare=True)
        return str(self._print(arg))


# SymPy's printer prints its known functions (math.log, math.sqrt...) by one method it assigns to
# each of them; these are assigned the one above, the helpers and Piecewise keep their own
for _name in PythonCodePrinter._kf:
    if f"_print_{_name}" not in vars(NumbaPrinter):
        setattr(NumbaPrinter, f"_print_{_name}", NumbaPrinter._print_known_func)


def numba_code(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None) -> str:
    """Print ``expr`` for Numba, renaming symbols by ``names`` (e.g. ``z -> "z2[s, j]"``).

    Raises:
        CodegenError: the formula uses something the printer cannot emit.
    """
    expr = sp.sympify(expr)
    if names:
        expr = expr.xreplace({sym: sp.Symbol(code, real=True) for sym, code in names.items()})
    try:
        return str(NumbaPrinter().doprint(stabilise(expr)))
    except Exception as exc:  # sympy raises PrintMethodNotImplementedError, ValueError, ...
        raise CodegenError(f"cannot emit {expr} as Numba code: {exc}") from exc


@contextmanager
def recording_helpers() -> Iterator[set[str]]:
    """Within the block, the names of the helpers that printed code calls (``_exp``, ...) are
    added to the set it gives: what a module must define, recorded by the printer itself."""
    used: set[str] = set()
    token = _HELPERS_USED.set(used)
    try:
        yield used
    finally:
        _HELPERS_USED.reset(token)


def hyper_locals(opt: Optimizer) -> dict[sp.Symbol, str]:
    """Each hyperparameter's symbol -> its local name in a generated function (``lr``, ``beta1``).

    The values are run-time data: every function that needs them takes the array ``hyper`` (in
    the order of :meth:`Optimizer.settings`) and reads the ones it uses into locals of these
    names (:func:`unpack_lines`), so one compiled module serves every value of its optimiser.
    """
    return {hyper(name): name for name in opt.settings()}


def unpack_lines(opt: Optimizer, exprs: list[Any]) -> list[str]:
    """``lr = hyper[0]``, ... for the hyperparameters that ``exprs`` read, in settings order."""
    used: set[sp.Basic] = set()
    for expr in exprs:
        used |= sp.sympify(expr).free_symbols
    return [f"{name} = hyper[{i}]" for i, name in enumerate(opt.settings()) if hyper(name) in used]


def as_factor(code: str) -> str:
    """``code`` as a factor of a product: parenthesised unless it is one name, number or call."""
    depth = 0
    for i, ch in enumerate(code):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if depth == 0 and ch in "+-*/ " and i > 0:
            return f"({code})"
    return code


__all__ = [
    "HELPERS",
    "NumbaPrinter",
    "hyper_locals",
    "numba_code",
    "number",
    "numbers_for",
    "recording_helpers",
    "sigmoid",
    "softplus",
    "stabilise",
    "unpack_lines",
]
