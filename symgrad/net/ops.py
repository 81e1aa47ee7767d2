"""The registries of activations and costs: one place to add a built-in.

:data:`ACTIVATIONS` and :data:`COSTS` map each built-in's name to its :class:`Activation` or
:class:`Cost`; :func:`get_activation` and :func:`get_cost` look a name up (a user's formulas
first). A built-in's SymPy formula is built on first use (:mod:`symgrad.net.analysis`), so
importing this module imports no SymPy. The formulas' variables ``z``, ``a`` and ``y`` are
:mod:`symgrad.net.variables`' (also importable from here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from .activations import Activation
from .costs import Cost

if TYPE_CHECKING:
    import sympy as sp

ACTIVATIONS: dict[str, Activation] = {}
COSTS: dict[str, Cost] = {}


def _activation_forms(name: str) -> tuple[sp.Expr, sp.Expr | None]:
    """A built-in activation's ``f(z)``, and its derivative in forward terms where a hand-chosen
    one reads better than SymPy's (``a(1-a)``, not ``-a(a-1)``); the tests prove them equal."""
    import sympy as sp

    from .variables import a, z

    exp = sp.exp
    forms: dict[str, tuple[sp.Expr, sp.Expr | None]] = {
        "identity": (z, None),
        "sigmoid": (1 / (1 + exp(-z)), a * (1 - a)),
        "tanh": (sp.tanh(z), None),
        "relu": (sp.Piecewise((z, z > 0), (0, True)), None),
        "leaky_relu": (sp.Piecewise((z, z > 0), (sp.Rational(1, 100) * z, True)), None),
        "softplus": (sp.log(1 + exp(z)), None),
        # silu' = s + z s (1 - s) with s = sigmoid(z) and z s = a
        "silu": (z / (1 + exp(-z)), a + (1 - a) / (1 + exp(-z))),
        "elu": (sp.Piecewise((z, z > 0), (exp(z) - 1, True)), None),
        # a_j = exp(z_j) / sum_i exp(z_i): its Jacobian is the backprop representation's
        "softmax": (exp(z), a * (1 - a)),
    }
    return forms[name]


def _cost_forms(name: str) -> tuple[sp.Expr, str]:
    """A built-in cost's ``c(a, y)`` for one output unit, and how it reads in LaTeX."""
    import sympy as sp

    from .variables import a, y

    forms: dict[str, tuple[sp.Expr, str]] = {
        "quadratic": ((a - y) ** 2, r"\left(a - y\right)^{2}"),
        "half_quadratic": ((a - y) ** 2 / 2, r"\tfrac{1}{2}\left(a - y\right)^{2}"),
        "mse": ((a - y) ** 2, r"\left(a - y\right)^{2}"),
        "cross_entropy": (-y * sp.log(a), r"-y \log a"),
        "binary_cross_entropy": (
            -(y * sp.log(a) + (1 - y) * sp.log(1 - a)),
            r"-\left[y \log a + (1 - y) \log(1 - a)\right]",
        ),
    }
    return forms[name]


def _register_activation(name: str, latex: str, *, probability: bool = False) -> None:
    ACTIVATIONS[name] = Activation(
        name, latex, build=lambda: _activation_forms(name), probability=probability
    )


def _register_cost(name: str, *, log: bool = False, mean: bool = False, fused: str = "") -> None:
    COSTS[name] = Cost(
        name,
        build=lambda: _cost_forms(name),
        needs_probability=log,
        mean_over_units=mean,
        fused=frozenset({fused} - {""}),
    )


_register_activation("identity", r"\operatorname{id}")
_register_activation("sigmoid", r"\sigma", probability=True)
_register_activation("tanh", r"\tanh")
_register_activation("relu", r"\operatorname{ReLU}")
_register_activation("leaky_relu", r"\operatorname{LeakyReLU}")
_register_activation("softplus", r"\operatorname{softplus}")
_register_activation("silu", r"\operatorname{SiLU}")
_register_activation("elu", r"\operatorname{ELU}")
_register_activation("softmax", r"\operatorname{softmax}", probability=True)
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]
ACTIVATIONS["linear"] = ACTIVATIONS["identity"]

_register_cost("quadratic")
_register_cost("half_quadratic")
_register_cost("mse", mean=True)
_register_cost("cross_entropy", log=True, fused="softmax")
_register_cost("binary_cross_entropy", log=True, fused="sigmoid")


def get_activation(
    spec: str | Activation, *, user: dict[str, Activation] | None = None
) -> Activation:
    """Look up an activation by name (built-in or user), or pass an :class:`Activation` through."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        if user and spec in user:
            return user[spec]
        if spec in ACTIVATIONS:
            return ACTIVATIONS[spec]
    known = ", ".join(sorted(ACTIVATIONS))
    raise SpecError(
        f"unknown activation {spec!r}; use one of {known}, or Activation.from_formula(name, 'formula in z')"
    )


def get_cost(spec: str | Cost, *, user: dict[str, Cost] | None = None) -> Cost:
    """Look up a cost by name (built-in or user), or pass a :class:`Cost` through."""
    if isinstance(spec, Cost):
        return spec
    if isinstance(spec, str):
        if user and spec in user:
            return user[spec]
        if spec in COSTS:
            return COSTS[spec]
    known = ", ".join(sorted(COSTS))
    raise SpecError(
        f"unknown cost {spec!r}; use one of {known}, or Cost.from_formula(name, 'formula in a and y')"
    )


def __getattr__(name: str) -> Any:
    # the formulas' variables, from the module that imports SymPy for them
    if name in ("a", "y", "z"):
        from . import variables

        return getattr(variables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ACTIVATIONS", "COSTS", "Activation", "Cost", "get_activation", "get_cost"]
