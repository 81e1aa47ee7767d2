"""``sigmoid`` and ``softplus`` kept by name, for a derivation that reads as the formula was written.

The whitelist parser (:mod:`symgrad.net.formula`) writes ``sigmoid(u)`` as ``1/(1 + exp(-u))``
and ``softplus(u)`` as ``log(1 + exp(u))``: that is what every other layer computes with. Asked
for ``named=True``, it builds these SymPy functions instead, so that a derivative taken rule by
rule (:mod:`symgrad.calculus.local`) can use ``sigmoid' = sigmoid (1 - sigmoid)`` and
``softplus' = sigmoid``. :func:`expand_named` turns them back into their definitions.
"""

from __future__ import annotations

from typing import Any

import sympy as sp


class sigmoid(sp.Function):  # type: ignore[misc]
    """The logistic function ``1/(1 + exp(-u))``, kept by name."""

    nargs = 1

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        if arg.is_Number:  # sigmoid(0) = 1/2
            return 1 / (1 + sp.exp(-arg))
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # sigmoid'(u) = sigmoid(u) (1 - sigmoid(u))
        return self * (1 - self)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real  # type: ignore[no-any-return]

    def _eval_rewrite_as_exp(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return 1 / (1 + sp.exp(-arg))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    def _latex(self, printer: Any) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class softplus(sp.Function):  # type: ignore[misc]
    """``log(1 + exp(u))``, kept by name."""

    nargs = 1

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        if arg.is_Number:
            return sp.log(1 + sp.exp(arg))
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # softplus'(u) = sigmoid(u)
        return sigmoid(self.args[0])

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real  # type: ignore[no-any-return]

    def _eval_rewrite_as_exp(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.log(1 + sp.exp(arg))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"


NAMED: dict[str, type[sp.Function]] = {"sigmoid": sigmoid, "softplus": softplus}
"""The functions the parser keeps by name when asked (``parse_formula(..., named=True)``)."""


def expand_named(expr: sp.Basic) -> sp.Basic:
    """``expr`` with every ``sigmoid`` and ``softplus`` written as its definition in ``exp``."""
    if not expr.has(sigmoid, softplus):
        return expr
    return expr.replace(softplus, lambda u: sp.log(1 + sp.exp(u))).replace(
        sigmoid, lambda u: 1 / (1 + sp.exp(-u))
    )


__all__ = ["NAMED", "expand_named", "sigmoid", "softplus"]
