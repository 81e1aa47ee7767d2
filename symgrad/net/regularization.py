"""Penalties on the weights: the regularised cost of Nielsen's chapter 3, as data.

A network may carry one :class:`Regularization`: ``C = C_0 + lam/2 sum w^2`` (:class:`L2`) or
``C = C_0 + lam sum |w|`` (:class:`L1`), where ``C_0`` is the data cost of one example (so the
mean over a batch is the mean data cost plus the penalty) and the sum runs over every weight,
and over the biases too with ``biases=True``. Each kind says its penalty and its derivative,
``lam w`` or ``lam sign(w)`` (0 at 0, as ``torch.sign``), once, as SymPy formulas in one
parameter ``w`` and the strength ``lambda`` (:func:`symbols`); the derivation, the NumPy judge and the code
generator all read them here. ``lam`` itself is a run-time value of the compiled code, like an
optimiser's learning rate.

Nielsen writes the L2 penalty as ``lmbda/(2n) sum w^2`` over ``n`` training examples: that is
``L2(lmbda / n)`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import SpecError
from .optim import finite_real, shown

if TYPE_CHECKING:
    import sympy as sp


@cache
def symbols() -> tuple[sp.Symbol, sp.Symbol]:
    """``(w, lam)``: one parameter and the penalty's strength, in the formulas of every kind."""
    import sympy as sp

    return sp.Symbol("w", real=True), sp.Symbol("lambda", positive=True)


@dataclass(frozen=True, slots=True)
class Regularization:
    """A penalty on the weights (and, with ``biases``, the biases), of strength ``lam >= 0``."""

    lam: float
    biases: bool = False
    name: ClassVar[str]
    what: ClassVar[str]
    """In words, for the derivation: ``"L2 penalty"``."""
    shown: ClassVar[tuple[str, str]]
    """The whole penalty in plain text and LaTeX: ``lambda/2 sum w^2``."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        value = finite_real(self.lam)
        if value is None or value < 0:
            raise SpecError(
                f"{owner} lam must be a finite number >= 0 (0 turns the penalty off), "
                f"got {shown(self.lam)}"
            )
        if not isinstance(self.biases, bool):
            raise SpecError(f"{owner} biases must be True or False, got {shown(self.biases)}")
        object.__setattr__(self, "lam", value)

    def covers(self, param: str) -> bool:
        """True when the penalty includes the parameter array ``param`` (``"W2"``, ``"b1"``)."""
        return param.startswith("W") or self.biases

    def penalty(self) -> sp.Expr:
        """The penalty of one parameter ``w``, in ``w`` and ``lam`` (:func:`symbols`)."""
        raise NotImplementedError

    def derivative(self) -> sp.Expr:
        """``d penalty / d w``, in ``w`` and ``lam``."""
        raise NotImplementedError

    def value(self, w: Any) -> float:
        """The penalty of the NumPy array ``w`` (what the runtime adds to the data cost)."""
        raise NotImplementedError

    def gradient(self, w: Any) -> Any:
        """The penalty's derivative at every entry of the NumPy array ``w``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"name": "l2", "lam": 0.01, "biases": False}``."""
        return {"name": self.name, "lam": self.lam, "biases": self.biases}

    def describe(self) -> str:
        biases = ", biases=True" if self.biases else ""
        return f"{type(self).__name__}({self.lam!r}{biases})"


REGULARIZERS: dict[str, type[Regularization]] = {}
"""Every kind of penalty by its name (``"l2"``, ``"l1"``)."""


def _register(cls: type[Regularization]) -> type[Regularization]:
    REGULARIZERS[cls.name] = cls
    return cls


@_register
@dataclass(frozen=True, slots=True)
class L2(Regularization):
    """``lam/2 sum w^2``: each ``dC/dw`` gains ``lam w``, the gradient of
    ``torch.optim.SGD(weight_decay=lam)``."""

    name: ClassVar[str] = "l2"
    what: ClassVar[str] = "L2 penalty"
    shown: ClassVar[tuple[str, str]] = ("lambda/2 sum w^2", r"\frac{\lambda}{2} \sum w^{2}")

    def penalty(self) -> sp.Expr:
        w, lam = symbols()
        return lam * w**2 / 2

    def derivative(self) -> sp.Expr:
        w, lam = symbols()
        return lam * w

    def value(self, w: Any) -> float:
        return 0.5 * self.lam * float((w * w).sum(dtype=float))

    def gradient(self, w: Any) -> Any:
        return self.lam * w


@_register
@dataclass(frozen=True, slots=True)
class L1(Regularization):
    """``lam sum |w|``: each ``dC/dw`` gains ``lam sign(w)`` (0 at ``w = 0``)."""

    name: ClassVar[str] = "l1"
    what: ClassVar[str] = "L1 penalty"
    shown: ClassVar[tuple[str, str]] = ("lambda sum |w|", r"\lambda \sum \left|w\right|")

    def penalty(self) -> sp.Expr:
        import sympy as sp

        w, lam = symbols()
        return lam * sp.Abs(w)

    def derivative(self) -> sp.Expr:
        import sympy as sp

        w, lam = symbols()
        return lam * sp.sign(w)

    def value(self, w: Any) -> float:
        return self.lam * float(abs(w).sum(dtype=float))

    def gradient(self, w: Any) -> Any:
        import numpy as np

        return self.lam * np.sign(w)


def regularization_from_dict(data: Any, where: str = "regularization") -> Regularization | None:
    """Inverse of :meth:`Regularization.to_dict` (None stays None); SpecError on anything else."""
    if data is None:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in REGULARIZERS:
        raise SpecError(
            f"{where} must be a mapping with name one of {', '.join(REGULARIZERS)}, "
            f"got {shown(data)}"
        )
    assert isinstance(data, dict)
    extra = sorted(str(k) for k in data if k not in ("name", "lam", "biases"))
    if extra:
        raise SpecError(f"{where} has unknown field {extra[0]!r}; it takes name, lam and biases")
    if "lam" not in data:
        raise SpecError(f"{where} lacks lam, the penalty's strength (a number >= 0)")
    return REGULARIZERS[name](data["lam"], data.get("biases", False))


__all__ = ["L1", "L2", "REGULARIZERS", "Regularization", "regularization_from_dict", "symbols"]
