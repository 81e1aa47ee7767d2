"""Activations: ``a = f(z)`` as a formula, its derivative found when first needed.

An :class:`Activation` is a name, its LaTeX, and a formula in ``z`` (a built-in's SymPy builder,
or a user's text). Its SymPy forms (``expr``, ``derivative`` in forward terms, whether it gives
probabilities) are found once, on first use, by :mod:`symgrad.net.analysis`: a process that
trains a saved model of built-in activations never imports SymPy. ``Activation.from_formula``
parses and validates a user's formula at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import SpecError

if TYPE_CHECKING:
    import sympy as sp

    from .analysis import ActivationForms

MAX_NAME = 64


class Activation:
    """An element-wise activation ``a = f(z)`` (or ``softmax``, which couples the units).

    Attributes:
        name: registry name, e.g. ``"sigmoid"``.
        latex: LaTeX name of ``f``, e.g. ``r"\\sigma"``.
        formula: the user's formula text, for user activations (None for a built-in).
        expr: ``f(z)`` as a SymPy expression in ``z`` (for softmax: ``exp(z)``, normalised later).
        derivative: ``f'(z)`` written in ``a`` where possible, else in ``z`` (or both).
        probability: the output lies in (0, 1), so a log-based cost may follow it.
    """

    def __init__(
        self,
        name: str,
        latex: str,
        *,
        formula: str | None = None,
        build: Callable[[], tuple[sp.Expr, sp.Expr | None]] | None = None,
        probability: bool | None = None,
    ) -> None:
        self.name = name
        self.latex = latex
        self.formula = formula
        self._build = build
        self._probability = probability
        self._forms: ActivationForms | None = None

    # -- the SymPy forms, found once -------------------------------------------------------------
    def _found(self) -> ActivationForms:
        if self._forms is None:
            from .analysis import analyse_activation, bounded

            if self._build is not None:  # a built-in: its formula and a hand-chosen f'
                expr, derivative = self._build()
                self._forms = analyse_activation(self.name, expr, derivative=derivative)
            else:
                assert self.formula is not None
                from .formula import parse_formula

                what = f"activation {self.name!r}"
                with bounded(what, self.formula):
                    expr = parse_formula(self.formula, {"z"}, what=what)
                    self._forms = analyse_activation(self.name, expr, formula=self.formula)
        return self._forms

    @property
    def expr(self) -> sp.Expr:
        return self._found().expr

    @property
    def derivative(self) -> sp.Expr:
        return self._found().derivative

    @property
    def probability(self) -> bool:
        return self._found().probability if self._probability is None else self._probability

    @property
    def derivative_z(self) -> sp.Expr:
        """``f'(z)`` in ``z`` alone (the forward value substituted back)."""
        import sympy as sp

        from .variables import a

        return sp.sympify(self.derivative).xreplace({a: self.expr})

    # -- identity ---------------------------------------------------------------------------------
    @property
    def builtin(self) -> bool:
        """This is the registry's own activation of its name (a user formula never is)."""
        from .ops import ACTIVATIONS

        return ACTIVATIONS.get(self.name) is self

    @property
    def is_softmax(self) -> bool:
        from .ops import ACTIVATIONS

        return self is ACTIVATIONS["softmax"]

    def __reduce__(self) -> tuple[Any, ...]:
        # a built-in unpickles as the registry's own object, so that identity still tells it
        from .ops import get_activation

        if self.builtin:
            return (get_activation, (self.name,))
        return (Activation.from_formula, (self.name, self.formula))

    # -- user formulas --------------------------------------------------------------------------
    @classmethod
    def from_formula(cls, name: str, formula: str) -> Activation:
        """A user activation from a formula in ``z``, e.g. ``from_formula("swish", "z*sigmoid(z)")``,
        parsed by the whitelist, differentiated and validated at once (SpecError saying what to
        change)."""
        from .ops import ACTIVATIONS

        check_name(name, "activation", ACTIVATIONS)
        act = cls(name, latex_name(name), formula=formula)
        act._found()
        return act

    def __repr__(self) -> str:
        shown = self.formula if self.formula is not None else self.name
        return f"Activation({self.name!r}, {shown!r})"


def check_name(name: object, what: str, builtin: dict[str, Any]) -> None:
    """A user formula's name: a plain ASCII identifier that no built-in has."""
    if (
        not isinstance(name, str)
        or not name.isascii()
        or not name.isidentifier()
        or name.startswith("_")
        or len(name) > MAX_NAME
    ):
        raise SpecError(f"{what} name {name!r} must be an identifier such as 'swish'")
    if name in builtin:
        raise SpecError(
            f"{what} name {name!r} is built in; give your formula another name, e.g. 'my_{name}'"
        )


def latex_name(name: str) -> str:
    """``\\operatorname{name}``, underscores escaped."""
    return r"\operatorname{" + name.replace("_", r"\_") + "}"


__all__ = ["Activation", "check_name", "latex_name"]
