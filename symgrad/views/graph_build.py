"""Building a computation graph (:mod:`.graph`): its nodes and edges, one per unit or one per
layer quantity, each edge with the local derivative the backprop representation gives, and the
numbers of one example when there is one.

Forward values come from the explain numbers (:class:`~.numbers.Evaluator`, which runs the NumPy
reference's forward pass); ``dC/dz`` and the gradients from :mod:`symgrad.verify.numeric`'s
backpropagation; ``dC/da`` is BP2's sum ``W^T delta`` over the layer above. Nothing here derives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..calculus.derivation import Derivation
from ..net.regularization import symbols as penalty_symbols
from ..verify import numeric
from .numbers import Array, Evaluator

Value = float | Array | None
"""A node's or an edge's number: a float in a unit graph, an array in a collapsed one."""


@dataclass(frozen=True)
class Node:
    """One node. ``kind``: ``x w b z a y C`` (collapsed: ``x W b z a y C``); ``column`` and ``row``
    place it (columns by layer, rows by unit); ``value`` is its forward value and ``grad`` its
    ``dC/dnode`` at the example (None without one, and for the targets, which C is not
    differentiated by)."""

    id: str
    kind: str
    layer: int
    index: tuple[int, ...]
    symbol: sp.Symbol
    column: int
    row: int
    value: Value = None
    grad: Value = None
    highlighted: bool = False


@dataclass(frozen=True)
class Edge:
    """``src -> dst`` with its local derivative ``local`` = ``d dst / d src`` (``partial`` is the
    placeholder symbol ``d dst / d src``; both None for a target's edge into C). ``form`` says how
    a collapsed graph's matrix form reads ``local``: ``""`` as it is, ``"T"`` transposed,
    ``"diag"`` the diagonal matrix of an elementwise vector, ``"I"`` the identity, ``"softmax"``
    the softmax's Jacobian ``diag(a) - a a^T``."""

    src: str
    dst: str
    partial: sp.Symbol | None
    local: sp.Expr | None
    form: str = ""
    value: Value = None
    highlighted: bool = False


class Build:
    """Nodes and edges of one graph, with the example's numbers when there is one."""

    def __init__(self, d: Derivation, ev: Evaluator | None) -> None:
        self.d, self.ev = d, ev
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.symbols: dict[str, sp.Symbol] = {}  # node id -> its symbol
        self.C = d.sym.total  # the regularised cost when there is a penalty
        if ev is None:
            return
        net, X, Y = d.net, ev.a[0][None, :], ev.y[None, :]
        ds, _ = numeric.deltas(net, ev.params, X, Y, ev.masks)
        self.dz = [np.zeros(0)] + [delta[0] for delta in ds]
        self.grads = numeric.gradients(net, ev.params, X, Y, ev.masks)
        # dC/da: the cost's at the output; BP2's sum over the next layer (and a skip) below it
        da: list[Array] = [np.array([self._of(d.dcost(j)) for j in range(net.sizes[-1])])]
        for l in range(net.L - 1, -1, -1):
            back = ds[l][0] @ ev.params[f"W{l + 1}"]
            da.insert(0, back + da[0] if net.layers[l].residual else back)
        self.da = da

    def _of(self, expr: sp.Expr | None) -> float | None:
        if self.ev is None or expr is None:
            return None
        v = self.ev.of(expr)
        return math.nan if v is None else v

    def node(self, sym: sp.Symbol, kind: str, layer: int, index: tuple[int, ...], col: int,
             row: int, value: Value = None, grad: Value = None) -> str:  # fmt: skip
        self.nodes.append(Node(sym.name, kind, layer, index, sym, col, row, value, grad))
        self.symbols[sym.name] = sym
        return str(sym.name)

    def edge(
        self, src: str, dst: str, local: sp.Expr | None, form: str = "", value: Value = None
    ) -> None:
        partial = None if local is None else self.d.sym.d(self.symbols[dst], self.symbols[src])
        if value is None and not form:
            value = self._of(local)
        self.edges.append(Edge(src, dst, partial, local, form, value))

    # --------------------------------------------------------------------------------------------
    # One node per unit and per parameter entry
    # --------------------------------------------------------------------------------------------
    def units(self) -> None:
        d, s, net, ev = self.d, self.d.sym, self.d.net, self.ev
        num = ev is not None
        prev = [
            self.node(s.x(k), "x", 0, (k,), 0, k, *self._at(0, k, "a")) for k in range(net.sizes[0])
        ]
        for l, layer in enumerate(net.layers, start=1):
            per = layer.n_in + (1 if layer.bias else 0)
            zs, acts = [], []
            for j in range(layer.n_out):
                z = self.node(s.z(l, j), "z", l, (j,), 3 * l - 1, j, *self._at(l, j, "z"))
                for k in range(layer.n_in):
                    w = self.node(s.w(l, j, k), "w", l, (j, k), 3 * l - 2, j * per + k,
                                  *self._param(f"W{l}", (j, k)))  # fmt: skip
                    self.edge(w, z, s.a(l - 1, k))  # dz/dw = a
                    self.edge(prev[k], z, s.w(l, j, k))  # dz/da = w
                if layer.bias:
                    b = self.node(s.b(l, j), "b", l, (j,), 3 * l - 2, j * per + layer.n_in,
                                  *self._param(f"b{l}", (j,)))  # fmt: skip
                    self.edge(b, z, sp.Integer(1))
                zs.append(z)
                acts.append(self.node(s.a(l, j), "a", l, (j,), 3 * l, j, *self._at(l, j, "a")))
            for j, z in enumerate(zs):
                if layer.act.is_softmax:  # the representation's SOFTMAX_JACOBIAN, per pair
                    for i, a in enumerate(acts):
                        self.edge(z, a, s.a(l, i) * (int(i == j) - s.a(l, j)))
                else:
                    self.edge(z, acts[j], d.fprime(l, j))
                if layer.residual:  # a^(l) = a^(l-1) + f(z^(l))
                    self.edge(prev[j], acts[j], sp.Integer(1))
            prev = acts
        L, col = net.L, 3 * net.L + 1
        cost = (ev.cost + ev.penalty) if ev is not None else None
        c = self.node(self.C, "C", L + 1, (), col, 0, cost, 1.0 if num else None)
        for j, a in enumerate(prev):
            self.edge(a, c, d.dcost(j))
        for j in range(net.sizes[-1]):
            yv = float(ev.y[j]) if ev is not None else None
            self.edge(self.node(s.y(j), "y", L + 1, (j,), col, j + 1, yv), c, None)
        reg = net.regularization
        if reg is not None:  # the penalty reaches C directly: dC/dw = ... + lambda w
            for n in [n for n in self.nodes if n.kind in "wb" and reg.covers(array_of(n))]:
                self.edge(n.id, c, d.penalty_derivative(n.symbol))

    def _at(self, l: int, j: int, kind: str) -> tuple[Value, Value]:
        if self.ev is None:
            return None, None
        if kind == "z":
            return float(self.ev.z[l][j]), float(self.dz[l][j])
        return float(self.ev.a[l][j]), float(self.da[l][j])

    def _param(self, name: str, index: tuple[int, ...]) -> tuple[Value, Value]:
        if self.ev is None:
            return None, None
        return float(self.ev.params[name][index]), float(self.grads[name][index])

    # --------------------------------------------------------------------------------------------
    # One node per layer quantity: BP1-BP4's matrix form
    # --------------------------------------------------------------------------------------------
    def layers(self) -> None:
        d, s, net, ev = self.d, self.d.sym, self.d.net, self.ev

        def vec(name: str, l: int | None = None) -> sp.Symbol:
            label: sp.Symbol = s.indexed(name, l).label
            return label

        def arrays(value: Any, grad: Any) -> tuple[Value, Value]:
            return (None, None) if ev is None else (np.asarray(value), np.asarray(grad))

        prev_sym = vec("x")
        prev = self.node(prev_sym, "x", 0, (), 0, 0, *arrays(*self._layer(0, "a")))
        for l, layer in enumerate(net.layers, start=1):
            z_sym, a_sym, w_sym = vec("z", l), vec("a", l), vec("W", l)
            W = self.node(w_sym, "W", l, (), 3 * l - 2, 0, *self._param_array(f"W{l}"))
            z = self.node(z_sym, "z", l, (), 3 * l - 1, 0, *arrays(*self._layer(l, "z")))
            a = self.node(a_sym, "a", l, (), 3 * l, 0, *arrays(*self._layer(l, "a")))
            a_prev = None if ev is None else ev.a[l - 1]
            eye = None if ev is None else np.eye(layer.n_out)
            self.edge(W, z, prev_sym, "T", a_prev)  # BP4: dC/dW = delta a^T
            if layer.bias:
                b = self.node(vec("b", l), "b", l, (), 3 * l - 2, 2, *self._param_array(f"b{l}"))
                self.edge(b, z, sp.Integer(1), "I", eye)  # BP3: dC/db = delta
            self.edge(prev, z, w_sym, "", None if ev is None else ev.params[f"W{l}"])
            if layer.act.is_softmax:
                jac = None if ev is None else np.diag(ev.a[l]) - np.outer(ev.a[l], ev.a[l])
                self.edge(z, a, a_sym, "softmax", jac)
            else:
                below = prev_sym if layer.residual else None
                fp = d.bp.fprime_at(l, a_sym, z_sym, below)
                fps = None
                if ev is not None:
                    fps = np.diag([self._of(d.fprime(l, j)) for j in range(layer.n_out)])
                self.edge(z, a, fp, "diag", fps)
            if layer.residual:
                self.edge(prev, a, sp.Integer(1), "I", eye)
            prev, prev_sym = a, a_sym
        L = net.L
        cost = (ev.cost + ev.penalty) if ev is not None else None
        c = self.node(self.C, "C", L + 1, (), 3 * L + 1, 0, cost, 1.0 if ev is not None else None)
        grad_a = None if ev is None else self.da[L][None, :]
        self.edge(prev, c, d.bp.dC_da_at(prev_sym, vec("y")), "", grad_a)
        y = self.node(vec("y"), "y", L + 1, (), 3 * L + 1, 1, None if ev is None else ev.y)
        self.edge(y, c, None)
        reg = net.regularization
        if reg is not None:
            w, lam = penalty_symbols()
            fn = numeric.numpy_function((w, lam), reg.derivative())
            for n in [n for n in self.nodes if n.kind in "Wb" and reg.covers(array_of(n))]:
                value = None if ev is None else fn(ev.params[array_of(n)], reg.lam)
                local = reg.derivative().xreplace({w: n.symbol, lam: s.lam})
                self.edge(n.id, c, local, "", value)

    def _layer(self, l: int, kind: str) -> tuple[Any, Any]:
        if self.ev is None:
            return None, None
        if kind == "z":
            return self.ev.z[l], self.dz[l]
        return self.ev.a[l], self.da[l]

    def _param_array(self, name: str) -> tuple[Value, Value]:
        if self.ev is None:
            return None, None
        return self.ev.params[name], self.grads[name]


def array_of(n: Node) -> str:
    """The parameter array of a parameter node: ``w^(2)_01`` -> ``"W2"``."""
    return f"{'b' if n.kind == 'b' else 'W'}{n.layer}"
