"""A network's layer quantities written in inputs and parameters: ``z = W a + b``, ``a = f(z)``
substituted down to the inputs, and the size of what that substitution writes.

Small nets only: the symbolic judge, ``Partial.expanded()`` and ``--expand`` read it.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..net.network import Network
from ..net.ops import z as Z_SYM
from .symbols import Symbols


def forward_sizes(net: Network, s: Symbols) -> dict[sp.Basic, int]:
    """Tree size of each ``z`` and ``a`` written in inputs and parameters.

    Each layer quantity stands for its whole forward expression, copied wherever it occurs.
    """
    out: dict[sp.Basic, int] = {s.x(k): 1 for k in range(net.sizes[0])}
    for l, layer in enumerate(net.layers, start=1):
        below = sum(2 + out[s.a(l - 1, k)] for k in range(layer.n_in))
        tz = below + (2 if layer.bias else 0)
        f = layer.act.expr
        uses = sum(1 for e in sp.preorder_traversal(f) if e == Z_SYM) or 1
        rest = sum(1 for _ in sp.preorder_traversal(f)) - uses
        for j in range(layer.n_out):
            out[s.z(l, j)] = tz
            # softmax: exp(z_j) / sum_i exp(z_i) holds every z of the layer
            out[s.a(l, j)] = (
                layer.n_out * (tz + 2) + 3 if layer.act.is_softmax else uses * tz + rest
            )
            if layer.dropout:  # a = m f(z) / (1 - p)
                out[s.a(l, j)] += 6
            if layer.residual:  # a = a_prev + f(z)
                out[s.a(l, j)] += 1 + out[s.a(l - 1, j)]
    return out


def forward_map(
    net: Network, s: Symbols, branch: Callable[[sp.Expr, sp.Symbol], sp.Expr] | None = None
) -> dict[sp.Symbol, sp.Expr]:
    """``{z^(l)_j: expr, a^(l)_j: expr}`` in inputs and parameters, for every unit.

    ``branch(f, z_symbol)``, when given, may replace a piecewise activation ``f(z)`` by one of
    its branches (the symbolic check splits relu-like nets by the sign of each ``z``).
    """
    mapping: dict[sp.Symbol, sp.Expr] = {}
    prev = [s.x(k) for k in range(net.sizes[0])]
    for l, layer in enumerate(net.layers, start=1):
        zs = []
        for j in range(layer.n_out):
            zj = sp.Add(*[s.w(l, j, k) * prev[k] for k in range(layer.n_in)])
            if layer.bias:
                zj += s.b(l, j)
            zs.append(zj)
            mapping[s.z(l, j)] = zj
        if layer.act.is_softmax:
            total = sp.Add(*[sp.exp(zj) for zj in zs])
            acts = [sp.exp(zj) / total for zj in zs]
        else:
            acts = []
            for j, zj in enumerate(zs):
                f = layer.act.expr if branch is None else branch(layer.act.expr, s.z(l, j))
                value = f.xreplace({Z_SYM: zj})
                if layer.dropout:  # while training, a = m f(z) / (1 - p)
                    value = s.mask(l, j) * value / (1 - s.drop(l))
                # a residual layer adds its input: a = a_prev + f(z)
                acts.append(value + (prev[j] if layer.residual else 0))
        for j, aj in enumerate(acts):
            mapping[s.a(l, j)] = aj
        prev = acts
    return mapping


__all__ = ["forward_map", "forward_sizes"]
