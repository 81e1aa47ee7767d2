"""Optimisers as data: hyperparameters plus update rules written once as SymPy formulas.

One registry (:data:`OPTIMIZERS`, filled by :func:`register`): each optimiser is one frozen
dataclass whose fields are its hyperparameters, with their defaults and the check each must
pass (``field(metadata=...)``); the spec loader, the command line and the weights files read
them from here. An optimiser lists its per-parameter state arrays (``v`` for momentum, ``m``
and ``v`` for Adam), the scalars computed once per step (Adam's bias corrections) and the
element-wise rules that the code generator prints. The semantics are PyTorch's: the same data
and initial weights give the same trajectory as ``torch.optim``.

SymPy is imported only when a rule is asked for: a process that trains a saved model reads
hyperparameters here and never builds a formula.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import SpecError

if TYPE_CHECKING:
    import sympy as sp

POSITIVE = {"check": "positive"}
"""A field's metadata: the value must be a positive number (a learning rate, an epsilon)."""
UNIT = {"check": "unit"}
"""A field's metadata: the value must lie in [0, 1) (a momentum, a decay)."""
NONNEGATIVE = {"check": "nonnegative"}
"""A field's metadata: the value must be a number >= 0 (a weight decay, which 0 turns off)."""

CHECKS: dict[str, tuple[Callable[[float], bool], str]] = {
    "positive": (lambda x: x > 0, "a positive number"),
    "unit": (lambda x: 0 <= x < 1, "a number in [0, 1)"),
    "nonnegative": (lambda x: x >= 0, "a number >= 0"),
}
"""Each check of a field: the test a finite number must pass, and what it must be, in words."""


def value_problem(check: str | None, value: float) -> str | None:
    """``"must be a positive number"`` when the finite ``value`` fails ``check``, else None."""
    if check is None:
        return None
    passes, wanted = CHECKS[check]
    return None if passes(value) else f"must be {wanted}"


@dataclass(frozen=True, slots=True)
class Rule:
    """``target <- target - expr`` when ``decrement``, else ``target <- expr``."""

    target: sp.Symbol
    expr: sp.Expr
    decrement: bool = False

    @property
    def new_value(self) -> sp.Expr:
        return self.target - self.expr if self.decrement else self.expr


@cache
def element_symbols() -> dict[str, sp.Symbol]:
    """The quantities at one array entry: weight ``w``, gradient ``g``, state ``m`` and ``v``,
    and the step count ``t`` (from 1)."""
    import sympy as sp

    return {name: sp.Symbol(name, real=True) for name in ("w", "g", "m", "v", "t")}


def hyper(name: str) -> sp.Symbol:
    """The symbol of a hyperparameter in the rules (``lr``, ``beta1``...)."""
    import sympy as sp

    return sp.Symbol(name, positive=True)


class Optimizer:
    """Common interface of the registered optimisers (:data:`OPTIMIZERS`)."""

    name: ClassVar[str]
    state: ClassVar[tuple[str, ...]] = ()
    """Names of the per-parameter state arrays (zeros at the start)."""
    lr: float
    """The learning rate: every optimiser has one (a field of each subclass)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            number = finite_real(value)
            check = f.metadata.get("check")
            if check is not None and (number is None or value_problem(check, number)):
                wanted = CHECKS[check][1]
                raise SpecError(f"{owner} {f.name} must be {wanted}, got {shown(value)}")
            if number is not None and type(value) not in (int, float):  # NumPy's: Python's
                object.__setattr__(self, f.name, type(value).item(value))  # type: ignore[attr-defined]

    @classmethod
    def checks(cls) -> dict[str, str | None]:
        """Hyperparameter name -> its check: ``"positive"``, ``"unit"`` or None."""
        return {f.name: f.metadata.get("check") for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def defaults(cls) -> dict[str, float]:
        """Hyperparameter name -> default, in declaration order (what a spec may leave out)."""
        return {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type,misc]

    def settings(self) -> dict[str, float]:
        """Hyperparameter name -> value, in declaration order."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    def constants(self) -> dict[sp.Symbol, float]:
        """Hyperparameter symbol -> value, in declaration order."""
        return {hyper(name): val for name, val in self.settings().items()}

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
        import sympy as sp

        e = element_symbols()
        rules = self.rules()
        if self.state or self.scalars() or len(rules) != 1:
            return None
        (rule,) = rules
        k = sp.simplify(rule.expr / e["g"])
        if (
            rule.target != e["w"]
            or not rule.decrement
            or not k.free_symbols <= set(self.constants())
        ):
            return None
        return k

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"name": "adam", "lr": 0.001, ...}``."""
        return {"name": self.name, **self.settings()}

    def describe(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.settings())
        return f"{type(self).__name__}({args})"


OPTIMIZERS: dict[str, type[Optimizer]] = {}
"""Every optimiser by its name (``"sgd"``, ``"momentum"``, ``"adam"``, ``"rmsprop"``,
``"adamw"``)."""

T = TypeVar("T", bound=type[Optimizer])


def register(cls: T) -> T:
    """Class decorator: put an optimiser in :data:`OPTIMIZERS` under its ``name``, its
    constructor refusing a field it does not have with a SpecError (not Python's TypeError)."""
    OPTIMIZERS[cls.name] = cls
    init = cls.__init__
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]

    @functools.wraps(init)
    def checked(self: Optimizer, *args: Any, **kwargs: Any) -> None:
        unknown = sorted(k for k in kwargs if k not in names)
        if unknown or len(args) > len(names):
            what = repr(unknown[0]) if unknown else f"for {len(args)} values"
            hint = (
                "; for weight decay use sg.AdamW(weight_decay=...), or put sg.L2(lam) on the "
                "network (torch.optim.SGD's weight_decay)"
                if "weight_decay" in unknown
                else ""
            )
            raise SpecError(
                f"{cls.__name__} has no setting {what}; it takes {', '.join(names)}{hint}"
            )
        init(self, *args, **kwargs)

    cls.__init__ = checked  # type: ignore[method-assign,assignment]
    return cls


@register
@dataclass(frozen=True, slots=True)
class SGD(Optimizer):
    """Plain gradient descent: ``w <- w - lr * g`` (``torch.optim.SGD(lr)``)."""

    lr: float = field(default=0.1, metadata=POSITIVE)
    name: ClassVar[str] = "sgd"

    def rules(self) -> list[Rule]:
        e = element_symbols()
        return [Rule(e["w"], hyper("lr") * e["g"], decrement=True)]


@register
@dataclass(frozen=True, slots=True)
class Momentum(Optimizer):
    """Heavy-ball momentum as ``torch.optim.SGD(lr, momentum=beta)``: ``v <- beta v + g``,
    ``w <- w - lr v``."""

    lr: float = field(default=0.1, metadata=POSITIVE)
    beta: float = field(default=0.9, metadata=UNIT)
    name: ClassVar[str] = "momentum"
    state: ClassVar[tuple[str, ...]] = ("v",)

    def rules(self) -> list[Rule]:
        e = element_symbols()
        return [
            Rule(e["v"], hyper("beta") * e["v"] + e["g"]),
            Rule(e["w"], hyper("lr") * e["v"], decrement=True),
        ]


@register
@dataclass(frozen=True, slots=True)
class Adam(Optimizer):
    """``torch.optim.Adam``: moving averages ``m``, ``v`` of ``g`` and ``g**2``, with bias
    correction."""

    lr: float = field(default=0.001, metadata=POSITIVE)
    beta1: float = field(default=0.9, metadata=UNIT)
    beta2: float = field(default=0.999, metadata=UNIT)
    eps: float = field(default=1e-8, metadata=POSITIVE)
    name: ClassVar[str] = "adam"
    state: ClassVar[tuple[str, ...]] = ("m", "v")

    def scalars(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        import sympy as sp

        t = element_symbols()["t"]
        # torch: step_size = lr / (1 - beta1**t); denominator sqrt(v) / sqrt(1 - beta2**t) + eps
        return [
            (sp.Symbol("step_size", positive=True), hyper("lr") / (1 - hyper("beta1") ** t)),
            (sp.Symbol("bc2_sqrt", positive=True), sp.sqrt(1 - hyper("beta2") ** t)),
        ]

    def rules(self) -> list[Rule]:
        import sympy as sp

        e = element_symbols()
        step_size, bc2_sqrt = (s for s, _ in self.scalars())
        beta1, beta2 = hyper("beta1"), hyper("beta2")
        return [
            Rule(e["m"], beta1 * e["m"] + (1 - beta1) * e["g"]),
            Rule(e["v"], beta2 * e["v"] + (1 - beta2) * e["g"] ** 2),
            Rule(
                e["w"],
                step_size * e["m"] / (sp.sqrt(e["v"]) / bc2_sqrt + hyper("eps")),
                decrement=True,
            ),
        ]


@register
@dataclass(frozen=True, slots=True)
class RMSprop(Optimizer):
    """``torch.optim.RMSprop`` (no momentum, not centred): ``v <- alpha v + (1 - alpha) g**2``,
    ``w <- w - lr g / (sqrt(v) + eps)``."""

    lr: float = field(default=0.01, metadata=POSITIVE)
    alpha: float = field(default=0.99, metadata=UNIT)
    eps: float = field(default=1e-8, metadata=POSITIVE)
    name: ClassVar[str] = "rmsprop"
    state: ClassVar[tuple[str, ...]] = ("v",)

    def rules(self) -> list[Rule]:
        import sympy as sp

        e = element_symbols()
        alpha = hyper("alpha")
        return [
            Rule(e["v"], alpha * e["v"] + (1 - alpha) * e["g"] ** 2),
            Rule(e["w"], hyper("lr") * e["g"] / (sp.sqrt(e["v"]) + hyper("eps")), decrement=True),
        ]


@register
@dataclass(frozen=True, slots=True)
class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay. Each step first shrinks every
    parameter, ``w <- w (1 - lr weight_decay)``, then takes Adam's step; the decay is no part of
    the gradient, so the moments never see it."""

    weight_decay: float = field(default=0.01, metadata=NONNEGATIVE)
    name: ClassVar[str] = "adamw"

    def rules(self) -> list[Rule]:
        e = element_symbols()
        decay = Rule(e["w"], e["w"] * (1 - hyper("lr") * hyper("weight_decay")))
        return [decay, *Adam.rules(self)]


def optimizer_from_dict(data: Any) -> Optimizer:
    """Inverse of :meth:`Optimizer.to_dict`; SpecError on anything malformed."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in OPTIMIZERS:
        known = ", ".join(OPTIMIZERS)
        raise SpecError(f"optimizer must be a mapping with name one of {known}, got {shown(data)}")
    assert isinstance(data, dict)
    cls = OPTIMIZERS[name]
    names = set(cls.defaults())
    extra = [key for key in data if key not in names and key != "name"]
    if extra:
        raise SpecError(
            f"optimizer {name!r} has no setting {shown(min(extra, key=str))}; "
            f"it takes {sorted(names)}"
        )
    return cls(**{k: val for k, val in data.items() if k != "name"})


def finite_real(value: object) -> float | None:
    """``value`` as a finite float when it is a real number (Python's or NumPy's, not a bool),
    else None: 10**400 overflows a float, so it is no number an optimiser can use either."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's are Real too
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def shown(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        return "a number too large to show"
    return text if len(text) <= 40 else f"{text[:37]}..."


__all__ = [
    "CHECKS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Momentum",
    "Optimizer",
    "RMSprop",
    "Rule",
    "element_symbols",
    "finite_real",
    "hyper",
    "optimizer_from_dict",
    "register",
    "shown",
    "value_problem",
]
