"""The one representation of backpropagation for a network: every view and every generated line
reads it, and none derives again.

For each layer it holds the local derivative of the activation in forward terms (``f'(z)``
written with ``a = f(z)`` where possible) and BP2's template; for the output, the cost's share
of one unit, ``dC/da`` and BP1's template, with the kind of the output delta decided in one
place (:func:`output_kind`): *fused* (``delta = a - y``: softmax with cross-entropy, sigmoid with
binary cross-entropy), *jacobian* (softmax with any other cost: the outputs are coupled) or
*elementwise* (``delta = dC/da * f'(z)``), and the cost's scale (``1/n_L`` for ``mse``).

Templates are SymPy expressions in placeholder symbols, the same for every unit of a layer:
:data:`A`, :data:`Z`, :data:`Y` (the unit's activation, pre-activation and target), :data:`G`
(its ``dC/da``), :data:`S` (``sum_i a_i dC/da_i``, which the softmax couples the outputs by),
:data:`D` (BP2's ``sum_i w_ij delta_i`` from the layer above). The derivation substitutes a
unit's symbols, the NumPy judge whole arrays, the code generator the names of its variables.
Each template carries its rule (:data:`~symgrad.calculus.steps.Prose`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from ..net.network import Network
from ..net.ops import Activation
from ..net.ops import a as A
from ..net.ops import y as Y
from ..net.ops import z as Z
from .steps import Formula, Prose, prose

G = sp.Symbol("g", real=True)
"""Placeholder: ``dC/da`` of the output unit."""
S = sp.Symbol("s", real=True)
"""Placeholder: ``sum_i a_i dC/da_i`` over the output layer (the softmax's coupling)."""
D = sp.Symbol("d", real=True)
"""Placeholder: ``sum_i w^(l+1)_ij delta^(l+1)_i``, what BP2 brings down from the layer above."""
BELOW = sp.Symbol("below", real=True)
"""Placeholder: the unit's input from the layer below, in a residual layer's ``a = below + f(z)``."""
F = sp.Symbol("f'", real=True)
"""Placeholder: the unit's ``f'(z)`` (the layer's :attr:`LayerCalculus.fprime` there)."""

FUSED, JACOBIAN, ELEMENTWISE = "fused", "jacobian", "elementwise"

SOFTMAX_JACOBIAN = Formula(
    "da_i/dz_j = a_i (delta_ij - a_j)", r"\partial a_i/\partial z_j = a_i (\delta_{ij} - a_j)"
)
"""The softmax's Jacobian, as a rule shows it."""


@dataclass(frozen=True)
class LayerCalculus:
    """The local derivatives of one layer.

    Attributes:
        l: the layer's number (1..L).
        act: its activation.
        fprime: ``f'(z)`` in :data:`A` and :data:`Z` (forward form).
        fprime_rule: why (``derivative of tanh, written with its output a``).
        delta: BP2's ``delta^(l)_j`` in :data:`D` and :data:`F` (hidden layers).
    """

    l: int
    act: Activation
    fprime: sp.Expr
    fprime_rule: Prose
    delta: sp.Expr


@dataclass(frozen=True)
class OutputCalculus:
    """What the cost brings to the output layer.

    Attributes:
        kind: ``"fused"``, ``"jacobian"`` or ``"elementwise"`` (see the module docstring).
        scale: the cost's scale: ``1/n_L`` for ``mse``, else 1.
        cost: one unit's share of ``C_x``, ``scale * c(a, y)``, in :data:`A` and :data:`Y`.
        dC_da: ``scale * dc/da`` in :data:`A` and :data:`Y`, factored (``2*(a - y)``).
        dC_da_rule: why (``derivative of the quadratic cost``).
        delta: BP1's ``delta^(L)_j`` in :data:`A`, :data:`Y`, :data:`F`, :data:`G`, :data:`S`.
        delta_rule: why, for the fused and jacobian kinds (the elementwise one is the chain rule).
    """

    kind: str
    scale: sp.Rational
    cost: sp.Expr
    dC_da: sp.Expr
    dC_da_rule: Prose
    delta: sp.Expr
    delta_rule: Prose


@dataclass(frozen=True)
class Backprop:
    """Backpropagation of one network: a :class:`LayerCalculus` per layer and the output's."""

    net: Network
    layers: tuple[LayerCalculus, ...]
    output: OutputCalculus

    def layer(self, l: int) -> LayerCalculus:
        return self.layers[l - 1]

    @property
    def fused(self) -> bool:
        return self.output.kind == FUSED

    def fprime_at(
        self,
        l: int,
        a: sp.Expr,
        z: sp.Expr,
        below: sp.Expr | None = None,
        mask: tuple[sp.Expr, sp.Expr] | None = None,
    ) -> sp.Expr:
        """``f_l'(z)`` at one unit, given its ``a`` and ``z``: ``da/dz`` of the unit. A residual
        layer's output is ``a = below + f(z)``: its ``f'`` written in the output reads
        ``f(z) = a - below``, the unit's ``a`` in the layer below (given as ``below``). With
        ``mask = (m, p)``, the unit of a dropout layer while training, ``a = m f(z)/(1 - p)``:
        ``da/dz = m f'(z)/(1 - p)``, ``f'`` written in ``z`` (a dropped unit's ``a`` is 0)."""
        if mask is not None and self.net.layers[l - 1].dropout:
            m, p = mask
            return m * self.layer(l).act.derivative_z.xreplace({Z: z}) / (1 - p)
        fprime = self.layer(l).fprime
        if self.net.layers[l - 1].residual and fprime.has(A):
            assert below is not None, "a residual layer's f' needs a^(l-1) of the unit"
            a = a - below
        return fprime.xreplace({A: a, Z: z})

    def dC_da_at(self, a: sp.Expr, y: sp.Expr) -> sp.Expr:
        """``dC/da`` of one output unit, given its ``a`` and ``y``, factored (``2*(a - y)``: a
        substitution alone would distribute the 2)."""
        return sp.factor(self.output.dC_da.xreplace({A: a, Y: y}))

    def delta_out_at(
        self, a: sp.Expr, y: sp.Expr, z: sp.Expr, coupling: sp.Expr | None = None
    ) -> sp.Expr:
        """BP1 at one output unit. ``coupling`` is ``sum_i a_i dC/da_i`` (the jacobian kind)."""
        out = self.output
        values: dict[sp.Basic, sp.Expr] = {A: a, Y: y, G: self.dC_da_at(a, y)}
        if out.kind == ELEMENTWISE:
            values[F] = self.fprime_at(self.net.L, a, z)
        if out.kind == JACOBIAN:
            assert coupling is not None, "the softmax's delta needs sum_i a_i dC/da_i"
            values[S] = coupling
        return out.delta.xreplace(values)

    def delta_hidden_at(self, l: int, back: sp.Expr, fprime: sp.Expr) -> sp.Expr:
        """BP2 at one unit of hidden layer ``l``, given the sum ``back`` from the layer above and
        the unit's ``f'(z)`` (:meth:`fprime_at`, or an opaque function where that is better)."""
        return self.layer(l).delta.xreplace({D: back, F: fprime})


def output_kind(net: Network) -> str:
    """How the output delta is formed: the one place that decides it (see the module docstring)."""
    out = net.layers[-1].act
    if net.cost.fuses_with(out):
        return FUSED
    return JACOBIAN if out.is_softmax else ELEMENTWISE


def cost_scale(net: Network) -> sp.Rational:
    """``1/n_L`` when the cost is the mean over the output units (``mse``), else 1."""
    return sp.Rational(1, net.sizes[-1]) if net.cost.mean_over_units else sp.Integer(1)


@cache
def backprop(net: Network) -> Backprop:
    """The backpropagation of ``net`` (built once per network)."""
    layers = tuple(
        _layer(l, layer.act, layer.residual, layer.dropout > 0)
        for l, layer in enumerate(net.layers, start=1)
    )
    return Backprop(net, layers, _output(net, layers[-1]))


def _layer(l: int, act: Activation, residual: bool, dropout: bool) -> LayerCalculus:
    fprime = sp.sympify(act.derivative)
    rule = prose(f"derivative of {act.name}")
    if dropout:  # a = m f(z) / (1 - p)
        rule = prose(
            f"derivative of {act.name} under dropout: ",
            Formula("a = m f(z)/(1 - p)", r"a = m\,f(z)/(1 - p)"),
            ", so ",
            Formula("da/dz = m f'(z)/(1 - p)", r"\partial a/\partial z = m\,f'(z)/(1 - p)"),
            ", with the unit's mask m (1 kept, 0 dropped)",
        )
    elif fprime.has(A) and residual:  # a = a_prev + f(z)
        rule = prose(
            f"derivative of {act.name}, written with its output f(z) = ",
            Formula("a^(l) - a^(l-1)", r"a^{(l)} - a^{(l-1)}"),
            " (the layer adds its input)",
        )
    elif fprime.has(A):
        rule = prose(f"derivative of {act.name}, written with its output a")
    # BP2: delta^(l)_j = (sum_i w^(l+1)_ij delta^(l+1)_i [+ dC/da^(l+1)_j]) f'(z^(l)_j)
    return LayerCalculus(l, act, fprime, rule, D * F)


def _output(net: Network, last: LayerCalculus) -> OutputCalculus:
    kind, scale, cost = output_kind(net), cost_scale(net), net.cost
    dC_da = sp.factor(scale * cost.dC_da)
    act = last.act
    if kind == FUSED:
        # the derivative of the output cancels against the cost's: delta = scale (a - y)
        delta = scale * (A - Y)
        note = " (the targets sum to 1)" if act.is_softmax else ""
        rule = prose(
            f"{act.name} and {cost.name} combine: the derivative of the output cancels against "
            f"the cost's{note}"
        )
    elif kind == JACOBIAN:
        # da_i/dz_j = a_i (delta_ij - a_j): delta_j = a_j (dC/da_j - sum_i a_i dC/da_i)
        delta = A * (G - S)
        rule = prose("softmax couples the outputs: ", SOFTMAX_JACOBIAN)
    else:
        delta = G * F  # BP1: dC/da * f'(z)
        rule = prose()
    return OutputCalculus(
        kind,
        scale,
        scale * cost.expr,
        dC_da,
        prose(f"derivative of the {cost.name} cost"),
        delta,
        rule,
    )


__all__ = [
    "BELOW",
    "ELEMENTWISE",
    "FUSED",
    "JACOBIAN",
    "Backprop",
    "D",
    "F",
    "G",
    "LayerCalculus",
    "OutputCalculus",
    "S",
    "backprop",
    "cost_scale",
    "output_kind",
]
