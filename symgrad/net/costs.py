"""Costs: one output unit's share ``c(a, y)`` as a formula, its derivative found when first needed.

A :class:`Cost` is a name and a formula in ``a`` and ``y`` (a built-in's SymPy builder, or a
user's text), summed over the output units, times ``1/n_L`` for ``mse``. Its SymPy forms are
found once, on first use, by :mod:`symgrad.net.analysis`; a built-in's flags (does it take the
log of the output? which output does it fuse with?) are known without SymPy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .activations import Activation, check_name

if TYPE_CHECKING:
    import sympy as sp

    from .analysis import CostForms


class Cost:
    """A per-example cost ``C_x = scale * sum_j c(a_j, y_j)``.

    Attributes:
        name: registry name, e.g. ``"quadratic"``.
        mean_over_units: ``scale = 1 / n_L`` (``mse``) instead of 1.
        fused: the built-in output activations for which ``delta^(L) = a - y`` exactly.
        formula: the user's formula text, for user costs (None for a built-in).
        expr: ``c(a, y)`` for one output unit.
        dC_da: ``dc/da``.
        latex: how the per-unit term reads in LaTeX.
        needs_probability: it takes the log of the output (``log a``), which must be in (0, 1).
    """

    def __init__(
        self,
        name: str,
        *,
        formula: str | None = None,
        build: Callable[[], tuple[sp.Expr, str]] | None = None,
        needs_probability: bool | None = None,
        mean_over_units: bool = False,
        fused: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.formula = formula
        self.mean_over_units = mean_over_units
        self.fused = fused
        self._build = build
        self._needs_probability = needs_probability
        self._forms: CostForms | None = None
        self._latex: str | None = None

    def _found(self) -> CostForms:
        if self._forms is None:
            from .analysis import analyse_cost, bounded

            if self._build is not None:
                expr, self._latex = self._build()
                self._forms = analyse_cost(self.name, expr)
            else:
                assert self.formula is not None
                from .formula import parse_formula

                what = f"cost {self.name!r}"
                with bounded(what, self.formula):
                    expr = parse_formula(self.formula, {"a", "y"}, what=what)
                    self._forms = analyse_cost(self.name, expr, formula=self.formula)
        return self._forms

    @property
    def expr(self) -> sp.Expr:
        return self._found().expr

    @property
    def dC_da(self) -> sp.Expr:
        """Derivative of the per-unit term with respect to ``a``."""
        return self._found().dC_da

    @property
    def latex(self) -> str:
        forms = self._found()
        return self._latex if self._latex is not None else forms.latex

    @property
    def needs_probability(self) -> bool:
        """The formula takes the log of something in ``a`` that is not always positive (``log a``).

        ``log(cosh(a - y))`` and ``log(1 + exp(a))`` are defined for every real ``a``, so they
        need no probability output.
        """
        if self._needs_probability is not None:
            return self._needs_probability
        return self._found().needs_probability

    @property
    def builtin(self) -> bool:
        """This is the registry's own cost of its name (a user formula never is)."""
        from .ops import COSTS

        return COSTS.get(self.name) is self

    def fuses_with(self, act: Activation) -> bool:
        """``delta^(L) = a - y`` exactly: built-in softmax with cross-entropy, sigmoid with binary
        cross-entropy. Decided by identity, never by name: a user formula named "sigmoid" is not
        the sigmoid."""
        return self.builtin and act.builtin and act.name in self.fused

    def __reduce__(self) -> tuple[Any, ...]:
        from .ops import get_cost

        if self.builtin:
            return (get_cost, (self.name,))
        return (Cost.from_formula, (self.name, self.formula))

    @classmethod
    def from_formula(cls, name: str, formula: str) -> Cost:
        """A user cost from a per-unit formula in ``a`` and ``y``, e.g. ``"log(cosh(a - y))"``,
        validated at once."""
        from .ops import COSTS

        check_name(name, "cost", COSTS)
        cost = cls(name, formula=formula)
        cost._found()
        return cost

    def __repr__(self) -> str:
        shown = self.formula if self.formula is not None else self.name
        return f"Cost({self.name!r}, {shown!r})"


__all__ = ["Cost"]
