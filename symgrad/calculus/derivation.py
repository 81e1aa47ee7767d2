"""Symbolic derivation of dC/dw and dC/db for every parameter, by local derivatives and the chain rule.

Differentiating the fully expanded cost explodes (a 4-16-16-3 net does not finish), so, as
backpropagation does, each local derivative is taken once by SymPy (``dC/da`` from the cost,
``f'`` from the activation, ``dz/dw = a``, ``dz/da_prev = w``) and composed by the chain rule.
A :class:`Partial` is built on demand and records its :class:`~symgrad.calculus.steps.Step` list in
3Blue1Brown's order; nothing is expanded unless asked, so :func:`derive` costs the same for any
width. Closed forms are explicit sums over paths while they stay small, else SymPy ``Sum``s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from ..errors import DerivationError, SpecError
from ..net.network import Network
from ..net.ops import a as A_SYM
from ..net.ops import y as Y_SYM
from ..net.regularization import symbols as regularization_symbols
from .backprop import JACOBIAN, backprop
from .chain import compose
from .expansion import forward_map, forward_sizes
from .steps import Form, Formula, Step, prose, single
from .symbols import Symbols

if TYPE_CHECKING:
    from ..verify.check import CheckReport
    from ..views.teach import Explanation

EXPLICIT_TERMS = 256
"""Largest number of paths written out term by term in a closed form; beyond it, ``Sum``."""

EXPAND_PARAMETERS = 200
"""Largest network (in parameters) that :meth:`Partial.expanded` will expand."""

EXPAND_NODES = 20_000
"""Largest expression (in nodes, see :meth:`Derivation.expanded_size`) that ``expanded()`` writes:
a 1-2-2-2-2-2-2-1 net's 37 parameters make 237,000 nodes, 0.6 MB of text that took 7 s just to
print, and minutes to lay out."""


@dataclass(frozen=True)
class Partial:
    """The partial derivative of the cost with respect to one parameter.

    Attributes:
        name: ``"W2"`` or ``"b1"``.
        index: ``(j, k)`` for a weight, ``(j,)`` for a bias.
        param: the parameter's symbol, e.g. ``w2_0_1``.
        expr: the closed form in layer quantities (``a``, ``z``, ``w``, ``y``).
        steps: the chain-rule steps, in 3Blue1Brown's order.
    """

    name: str
    index: tuple[int, ...]
    param: sp.Symbol
    expr: sp.Expr
    steps: tuple[Step, ...]
    derivation: Derivation = field(repr=False, compare=False)

    @property
    def layer(self) -> int:
        return int(self.name[1:])

    def expanded(self) -> sp.Expr:
        """The closed form in inputs ``x``, targets ``y`` and parameters only (small nets)."""
        return self.derivation.expand(self.expr)

    def expanded_step(self) -> Step:
        """The step that writes :attr:`expr` in inputs and parameters."""
        return Step(
            "expanded",
            self.steps[-1].lhs,
            (single(self.expanded()),),
            prose(
                "substitute ",
                Formula("a = f(z)", "a = f(z)"),
                " and ",
                Formula("z = w a + b", "z = w a + b"),
                ", layer by layer, down to the inputs",
            ),
        )


class Derivation:
    """The derivation of every partial derivative of one network's cost.

    Cheap to build: partials are derived when asked for, with :meth:`partial`.
    """

    def __init__(self, net: Network) -> None:
        if not isinstance(net, Network):
            raise SpecError(f"derive() takes a Network, got {type(net).__name__}")
        self.net = net
        self.sym = Symbols(net)
        self.bp = backprop(net)
        self.scale = self.bp.output.scale

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------
    def symbol(self, name: str, *index: int) -> sp.Symbol:
        """The SymPy symbol of ``("W2", j, k)``, ``("b1", j)``, ``("x", k)``, ``("y", j)``, ``("z2", j)``...

        ``("a2", j)`` likewise: the symbols that :attr:`Partial.expr` and ``expanded()`` are written in.
        """
        return self.sym.get(name, *index)

    def partial(self, name: str, *index: int) -> Partial:
        """The partial derivative of C with respect to parameter ``name[index]``."""
        l = self.net.layer_of(name)
        param = self.sym.get(name, *index)
        j = index[0]
        is_w = name[0] == "W"
        dz_dp = self.sym.a(l - 1, index[1]) if is_w else sp.Integer(1)
        closed, steps = compose(self, l, j, param, dz_dp)
        return Partial(name, tuple(index), param, closed, tuple(steps), self)

    def partials(self, layer: int | None = None, param: str | None = None) -> list[Partial]:
        """Every partial of one parameter array (``param="W2"``), one layer, or the whole net."""
        names = [param] if param is not None else list(self.net.param_names)
        if param is not None:
            self.net.layer_of(param)
        if layer is not None:
            if not 1 <= layer <= self.net.L:
                raise SpecError(
                    f"layer {layer} does not exist; this network has layers 1..{self.net.L}"
                )
            names = [n for n in names if int(n[1:]) == layer]
        out: list[Partial] = []
        for n in names:
            shape = self.net.param_shape(n)
            if len(shape) == 2:
                out += [self.partial(n, j, k) for j in range(shape[0]) for k in range(shape[1])]
            else:
                out += [self.partial(n, j) for j in range(shape[0])]
        return out

    @property
    def fused(self) -> bool:
        """``delta^(L) = a - y``: softmax + cross-entropy, or sigmoid + binary cross-entropy."""
        return self.bp.fused

    def penalty_of(self, param: sp.Symbol) -> sp.Expr:
        """The penalty's share of one parameter (``lambda*w**2/2``); 0 without a penalty."""
        reg = self.net.regularization
        return sp.Integer(0) if reg is None else self._at_param(reg.penalty(), param)

    def penalty_derivative(self, param: sp.Symbol) -> sp.Expr:
        """``d penalty / d param`` (``lambda*w``), whether or not the penalty covers it."""
        reg = self.net.regularization
        assert reg is not None
        return self._at_param(reg.derivative(), param)

    def _at_param(self, formula: sp.Expr, param: sp.Basic) -> sp.Expr:
        """A penalty's formula in ``w`` and ``lambda`` (:func:`~symgrad.net.regularization.symbols`)
        written for ``param`` and this derivation's ``lambda``."""
        w, lam = regularization_symbols()
        return formula.xreplace({w: param, lam: self.sym.lam})

    def penalty(self) -> sp.Expr:
        """The whole penalty ``lambda/2 sum w^2`` over the parameters it covers (small nets)."""
        reg = self.net.regularization
        if reg is None:
            return sp.Integer(0)
        terms = []
        for name in self.net.param_names:
            if reg.covers(name):
                for index in np.ndindex(self.net.param_shape(name)):
                    terms.append(self.penalty_of(self.sym.get(name, *index)))
        return sp.Add(*terms)

    def cost(self) -> sp.Expr:
        """The per-example cost C in output activations and targets (the data cost ``C_0``
        when the network has a penalty: :meth:`penalty` is the rest)."""
        n = self.net.sizes[-1]
        L = self.net.L
        return self.scale * sp.Add(
            *[
                self.net.cost.expr.xreplace({A_SYM: self.sym.a(L, j), Y_SYM: self.sym.y(j)})
                for j in range(n)
            ]
        )

    def expanded_cost(self) -> sp.Expr:
        """The per-example cost, penalty included, in inputs, targets and parameters (small
        nets)."""
        return self.expand(self.cost()) + self.penalty()

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """Substitute ``a = f(z)``, ``z = W a + b`` down to the inputs (small nets only)."""
        self.check_expandable()
        size = self.expanded_size(expr)
        if size > EXPAND_NODES:
            raise DerivationError(
                f"written in inputs and parameters, this expression would have about {size:,} "
                f"terms (the limit is {EXPAND_NODES:,}): the network is too deep or wide to "
                "expand; leave out --expand (expand=False), or expand a smaller network"
            )
        return expr.xreplace(self._forward_map)

    def check_expandable(self) -> None:
        """Refuse to expand a network of more than :data:`EXPAND_PARAMETERS` parameters."""
        n_params = sum(int(sp.prod(self.net.param_shape(p))) for p in self.net.param_names)
        if n_params > EXPAND_PARAMETERS:
            raise DerivationError(
                f"expanding a network of {n_params} parameters would explode; "
                f"expanded() is for networks of up to {EXPAND_PARAMETERS} parameters"
            )

    def expanded_size(self, expr: sp.Expr) -> int:
        """The number of nodes ``expr`` would have, written in inputs and parameters.

        Each layer quantity stands for its whole forward expression, copied wherever it occurs:
        printing, differentiating and proving walk that tree, whose size grows with the depth
        (twice per layer for a width of 2) even where the parameters are few.
        """
        sizes = self._forward_sizes
        memo: dict[sp.Basic, int] = {}

        def size(e: sp.Basic) -> int:
            if e not in memo:
                memo[e] = sizes.get(e) or (1 + sum(size(arg) for arg in e.args) if e.args else 1)
            return memo[e]

        return size(sp.sympify(expr))

    @cached_property
    def _forward_sizes(self) -> dict[sp.Basic, int]:
        return forward_sizes(self.net, self.sym)

    def equations(self, form: str = "index") -> list[sp.Eq]:
        """This network's BP1-BP4 as SymPy equations, in ``"index"`` or ``"matrix"`` form.

        Ordered BP1 (layer L), BP2 (layers L-1..1), BP3 (layers 1..L), BP4 (layers 1..L); see
        :meth:`labelled_equations` for the labels.
        """
        return [eq for _, _, eq in self.labelled_equations(form)]

    def labelled_equations(self, form: str = "index") -> list[tuple[str, int, sp.Eq]]:
        """``(label, layer, equation)`` for BP1-BP4."""
        from .equations import bp_equations

        return bp_equations(self, form)

    def check(self, **kwargs: Any) -> CheckReport:
        """Prove that the steps multiply out to ``sympy.diff`` of the expanded cost.

        Symbolically for small nets, numerically at random points (and against central finite
        differences) for any net. See :func:`symgrad.verify.check.check_derivation` for the options.
        """
        from ..verify.check import check_derivation

        return check_derivation(self, **kwargs)

    def to_text(self, **options: Any) -> str:
        """Plain-text rendering; see :func:`symgrad.views.render.to_text`."""
        from ..views.render import to_text

        return to_text(self, **options)

    def to_markdown(self, **options: Any) -> str:
        """Markdown rendering with ``$...$`` math; see :func:`symgrad.views.render.to_markdown`."""
        from ..views.render import to_markdown

        return to_markdown(self, **options)

    def to_latex(self, **options: Any) -> str:
        """LaTeX rendering (``document=True`` for a standalone document); see :mod:`symgrad.views.render`."""
        from ..views.render import to_latex

        return to_latex(self, **options)

    def explain(self, x: Any, y: Any, params: dict[str, Any], **options: Any) -> Explanation:
        """The chain-rule steps with one example's numbers; see :func:`symgrad.views.teach.explain`."""
        from ..views.teach import explain

        return explain(self, x, y, params, **options)

    def _repr_latex_(self) -> str:
        from ..views.render import to_latex

        return to_latex(
            self, param=self.net.param_names[-2] if self.net.L > 1 else None, jupyter=True
        )

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"<Derivation of {self.net.describe()}>"

    # ----------------------------------------------------------------------------------------
    # Local derivatives (each taken once by SymPy, in ops.py) placed at one unit
    # ----------------------------------------------------------------------------------------
    def fprime(self, l: int, j: int) -> sp.Expr:
        """``f_l'(z^(l)_j)`` in forward terms, at unit j of layer l."""
        s, layer = self.sym, self.net.layers[l - 1]
        below = s.a(l - 1, j) if layer.residual else None
        mask = (s.mask(l, j), s.drop(l)) if layer.dropout else None
        return self.bp.fprime_at(l, s.a(l, j), s.z(l, j), below, mask)

    def dcost(self, j: int) -> sp.Expr:
        """``dC/da^(L)_j`` from the cost formula, factored so it reads ``2 (a - y)``."""
        return self.bp.dC_da_at(self.sym.a(self.net.L, j), self.sym.y(j))

    def delta_out(self, j: int) -> sp.Expr:
        """``dC/dz^(L)_j`` in layer quantities (BP1 at unit j)."""
        s, L = self.sym, self.net.L
        coupling = None
        if self.bp.output.kind == JACOBIAN:
            coupling = sp.Add(*[s.a(L, i) * self.dcost(i) for i in range(self.net.sizes[-1])])
        return self.bp.delta_out_at(s.a(L, j), s.y(j), s.z(L, j), coupling)

    # ----------------------------------------------------------------------------------------
    # Composition
    # ----------------------------------------------------------------------------------------
    def n_terms(self, l: int) -> int:
        """Number of paths from a unit of layer l to the cost (terms of its explicit dC/dz): one
        through each unit of every layer above, and one more along each skip connection."""
        L, sizes = self.net.L, self.net.sizes
        at_a = sizes[-1] if self.bp.output.kind == JACOBIAN else 1  # dC/dz^(L), then dC/da^(m)
        at_z = at_a
        for m in range(L - 1, l - 1, -1):
            at_a = sizes[m + 1] * at_z + (at_a if self.net.layers[m].residual else 0)
            at_z = at_a
        return at_z

    def explicit(self, l: int) -> bool:
        return self.n_terms(l) <= EXPLICIT_TERMS

    def dC_dz(
        self, l: int, j: int | sp.Expr, memo: dict[tuple[int, Any], sp.Expr] | None = None
    ) -> sp.Expr:
        """``dC/dz^(l)_j`` in layer quantities: explicit sums while small, else ``Sum`` objects."""
        memo = {} if memo is None else memo
        key = (l, j)
        if key not in memo:
            if l == self.net.L:
                memo[key] = self.delta_out(j) if isinstance(j, int) else self._indexed_delta_out(j)
            else:
                memo[key] = self.bp.delta_hidden_at(l, self.dC_da(l, j, memo), self._fprime(l, j))
        return memo[key]

    def dC_da(
        self, l: int, j: int | sp.Expr, memo: dict[tuple[int, Any], sp.Expr] | None = None
    ) -> sp.Expr:
        """``dC/da^(l)_j``: from the cost at the output, else the sum over paths into layer l+1."""
        memo = {} if memo is None else memo
        if l == self.net.L:
            return self.dcost(j) if isinstance(j, int) else self._at(l, j, "dcost")
        n_next = self.net.sizes[l + 1]
        # a residual layer l+1 adds a^(l) to its output: the skip path, da^(l+1)_j/da^(l)_j = 1
        skip = self.dC_da(l + 1, j, memo) if self.net.layers[l].residual else sp.Integer(0)
        if self.explicit(l) and isinstance(j, int):
            paths = [self.sym.w(l + 1, i, j) * self.dC_dz(l + 1, i, memo) for i in range(n_next)]
            return sp.Add(*paths, skip)
        i = sp.Symbol(f"i_{l + 1}", integer=True)
        w = self.sym.indexed("w", l + 1)
        return sp.Sum(w[i, j] * self.dC_dz(l + 1, i, memo), (i, 0, n_next - 1)) + skip

    def _fprime(self, l: int, j: int | sp.Expr) -> sp.Expr:
        """``f'`` at unit j of layer l, which may be a symbolic index: then an opaque ``relu'(z)``
        for a piecewise one (SymPy would fold a Piecewise out through every enclosing Sum,
        exponentially)."""
        if isinstance(j, int):
            return self.fprime(l, j)
        a_j, z_j = self.sym.indexed("a", l)[j], self.sym.indexed("z", l)[j]
        layer = self.net.layers[l - 1]
        act = layer.act
        mask = (self.sym.indexed("m", l)[j], self.sym.drop(l)) if layer.dropout else None
        if act.derivative.has(sp.Piecewise):
            opaque = sp.Function(f"{act.name}'", real=True)(z_j)
            return opaque if mask is None else mask[0] * opaque / (1 - mask[1])
        below = self.sym.indexed("a", l - 1)[j] if l > 1 else self.sym.indexed("x")[j]
        return self.bp.fprime_at(l, a_j, z_j, below if layer.residual else None, mask)

    def _at(self, l: int, j: int | sp.Expr, what: str) -> sp.Expr:
        """``dC/da`` at output unit j, which may be a symbolic index (indexed form)."""
        if isinstance(j, int):
            return self.dcost(j)
        return self.bp.dC_da_at(self.sym.indexed("a", l)[j], self.sym.indexed("y")[j])

    def _indexed_delta_out(self, j: sp.Expr) -> sp.Expr:
        s, L = self.sym, self.net.L
        a_L, z_L, y = s.indexed("a", L), s.indexed("z", L), s.indexed("y")
        coupling = None
        if self.bp.output.kind == JACOBIAN:
            i = sp.Symbol("i_out", integer=True)
            coupling = sp.Sum(a_L[i] * self._at(L, i, "dcost"), (i, 0, self.net.sizes[-1] - 1))
        return self.bp.delta_out_at(a_L[j], y[j], z_L[j], coupling)

    @cached_property
    def _forward_map(self) -> dict[sp.Symbol, sp.Expr]:
        return self.forward_map()

    def forward_map(
        self, branch: Callable[[sp.Expr, sp.Symbol], sp.Expr] | None = None
    ) -> dict[sp.Symbol, sp.Expr]:
        """``{z^(l)_j: expr, a^(l)_j: expr}`` in inputs and parameters, for every unit.

        ``branch(f, z_symbol)``, when given, may replace a piecewise activation ``f(z)`` by one
        of its branches (the symbolic check splits relu-like nets by the sign of each ``z``).
        """
        return forward_map(self.net, self.sym, branch)


def derive(net: Network) -> Derivation:
    """Derive every partial derivative of ``net``'s cost (lazily; see :class:`Derivation`)."""
    return Derivation(net)


__all__ = ["Derivation", "Form", "Partial", "derive"]
