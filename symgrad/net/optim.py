"""Optimisers as data: hyperparameters plus update rules written once as SymPy formulas.

Each optimiser lists its per-parameter state arrays (``v`` for momentum, ``m`` and ``v`` for
Adam), the scalars computed once per step (Adam's bias corrections), and the element-wise rules
that :mod:`symgrad.codegen.generate` prints into the generated ``update`` function. The semantics are
PyTorch's: :class:`Momentum` is ``torch.optim.SGD(momentum=beta)`` and :class:`Adam` is
``torch.optim.Adam``, so the same data and initial weights give the same trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..errors import SpecError

# Element-wise quantities at one array entry: weight, gradient, state, and the step count t.
w, g, m, v, t = sp.symbols("w g m v t", real=True)
lr, beta, beta1, beta2, eps = sp.symbols("lr beta beta1 beta2 eps", positive=True)


@dataclass(frozen=True, slots=True)
class Rule:
    """``target <- target - expr`` when ``decrement``, else ``target <- expr``."""

    target: sp.Symbol
    expr: sp.Expr
    decrement: bool = False

    @property
    def new_value(self) -> sp.Expr:
        return self.target - self.expr if self.decrement else self.expr


def _number(value: object) -> float | None:
    """``value`` as a finite float when it is a real number (Python's or NumPy's, not a bool),
    else None: 10**400 overflows a float, so it is no number an optimiser can use either."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        return "a number too large to show"
    return text if len(text) <= 40 else f"{text[:37]}..."


def _check_positive(owner: str, name: str, value: object) -> None:
    number = _number(value)
    if number is None or number <= 0:
        raise SpecError(f"{owner} {name} must be a positive number, got {_shown(value)}")


def _check_unit(owner: str, name: str, value: object) -> None:
    number = _number(value)
    if number is None or not 0 <= number < 1:
        raise SpecError(f"{owner} {name} must be a number in [0, 1), got {_shown(value)}")


def _plain(self: Any) -> None:
    """Store NumPy scalars among the settings as Python numbers (their repr, their JSON)."""
    for f in fields(self):
        value = getattr(self, f.name)
        if isinstance(value, np.generic):
            object.__setattr__(self, f.name, value.item())


class Optimizer:
    """Common interface of :class:`SGD`, :class:`Momentum` and :class:`Adam`."""

    name: ClassVar[str]
    state: ClassVar[tuple[str, ...]] = ()
    """Names of the per-parameter state arrays (zeros at the start)."""

    def settings(self) -> dict[str, float]:
        """Hyperparameter name -> value, in declaration order."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    def constants(self) -> dict[sp.Symbol, float]:
        """Hyperparameter symbol -> value; emitted as module constants (``LR = 0.1``)."""
        return {sp.Symbol(name, positive=True): val for name, val in self.settings().items()}

    def scalars(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        """Quantities computed once per step from ``t`` (the step count, from 1)."""
        return []

    def rules(self) -> list[Rule]:
        """The element-wise update, in order (state first, then the weight)."""
        raise NotImplementedError

    def plain_step(self) -> sp.Expr | None:
        """k when the whole step is ``w <- w - k g`` with k a constant (plain SGD), else None.

        Such a step needs no state and is linear in g: generated code may fold the batch mean's
        1/B into k, or let the GEMM that forms dC/dW take the step itself.
        """
        rules = self.rules()
        if self.state or self.scalars() or len(rules) != 1:
            return None
        (rule,) = rules
        k = sp.simplify(rule.expr / g)
        if rule.target != w or not rule.decrement or not k.free_symbols <= set(self.constants()):
            return None
        return k

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"name": "adam", "lr": 0.001, ...}``."""
        return {"name": self.name, **self.settings()}

    def describe(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.settings())
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True, slots=True)
class SGD(Optimizer):
    """Plain gradient descent: ``w <- w - lr * g`` (``torch.optim.SGD(lr)``)."""

    lr: float = 0.1
    name: ClassVar[str] = "sgd"

    def __post_init__(self) -> None:
        _check_positive("SGD", "lr", self.lr)
        _plain(self)

    def rules(self) -> list[Rule]:
        return [Rule(w, lr * g, decrement=True)]


@dataclass(frozen=True, slots=True)
class Momentum(Optimizer):
    """Heavy-ball momentum as ``torch.optim.SGD(lr, momentum=beta)``: ``v <- beta v + g``, ``w <- w - lr v``."""

    lr: float = 0.1
    beta: float = 0.9
    name: ClassVar[str] = "momentum"
    state: ClassVar[tuple[str, ...]] = ("v",)

    def __post_init__(self) -> None:
        _check_positive("Momentum", "lr", self.lr)
        _check_unit("Momentum", "beta", self.beta)
        _plain(self)

    def rules(self) -> list[Rule]:
        return [Rule(v, beta * v + g), Rule(w, lr * v, decrement=True)]


@dataclass(frozen=True, slots=True)
class Adam(Optimizer):
    """``torch.optim.Adam``: moving averages ``m``, ``v`` of ``g`` and ``g**2``, with bias correction."""

    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name: ClassVar[str] = "adam"
    state: ClassVar[tuple[str, ...]] = ("m", "v")

    def __post_init__(self) -> None:
        _check_positive("Adam", "lr", self.lr)
        _check_unit("Adam", "beta1", self.beta1)
        _check_unit("Adam", "beta2", self.beta2)
        _check_positive("Adam", "eps", self.eps)
        _plain(self)

    def scalars(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        # torch: step_size = lr / (1 - beta1**t); denominator sqrt(v) / sqrt(1 - beta2**t) + eps
        return [
            (sp.Symbol("step_size", positive=True), lr / (1 - beta1**t)),
            (sp.Symbol("bc2_sqrt", positive=True), sp.sqrt(1 - beta2**t)),
        ]

    def rules(self) -> list[Rule]:
        step_size, bc2_sqrt = (s for s, _ in self.scalars())
        return [
            Rule(m, beta1 * m + (1 - beta1) * g),
            Rule(v, beta2 * v + (1 - beta2) * g**2),
            Rule(w, step_size * m / (sp.sqrt(v) / bc2_sqrt + eps), decrement=True),
        ]


OPTIMIZERS: dict[str, type[SGD] | type[Momentum] | type[Adam]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "adam": Adam,
}


def optimizer_from_dict(data: Any) -> Optimizer:
    """Inverse of :meth:`Optimizer.to_dict`; SpecError on anything malformed."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in OPTIMIZERS:
        known = ", ".join(OPTIMIZERS)
        raise SpecError(f"optimizer must be a mapping with name one of {known}, got {_shown(data)}")
    assert isinstance(data, dict)
    cls = OPTIMIZERS[name]
    names = {f.name for f in fields(cls)}
    extra = [key for key in data if key not in names and key != "name"]
    if extra:
        raise SpecError(
            f"optimizer {name!r} has no setting {_shown(min(extra, key=str))}; it takes {sorted(names)}"
        )
    return cls(**{k: val for k, val in data.items() if k != "name"})


__all__ = ["OPTIMIZERS", "SGD", "Adam", "Momentum", "Optimizer", "Rule", "optimizer_from_dict"]
