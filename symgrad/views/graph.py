"""The computation graph of a network: nodes, edges with their local derivatives, and the paths
from one parameter to the cost (3Blue1Brown's sum over paths, drawn).

Nodes are the inputs ``x_k``, the weights and biases, each ``z^(l)_j`` and ``a^(l)_j``, the
targets ``y_j`` and the cost ``C``. Every edge carries the local derivative ``d dst / d src`` as
the backprop representation gives it (``dz/da = w``, ``dz/dw = a``, ``da/dz = f'(z)`` in forward
terms, ``dC/da`` from the cost), read from the :class:`~symgrad.calculus.derivation.Derivation`,
never derived again; with an example, its value and each node's forward value and ``dC/dnode``
(from :mod:`symgrad.verify.numeric` and the explain numbers of :mod:`.numbers`). A net wider than
:data:`MAX_UNITS` units or of more than :data:`MAX_NODES` nodes collapses into layer nodes
(``z^(l)``, ``a^(l)``, ``W^(l)``) with matrix-form local derivatives, as BP1-BP4 write them.
The nodes and edges are built in :mod:`.graph_build`, labelled by :mod:`.graph_labels` and
written (SVG, Graphviz DOT, TikZ) by :mod:`.graph_draw`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import sympy as sp

from .. import validate
from ..calculus.derivation import Derivation, derive
from ..errors import SpecError
from ..net.network import Network
from ..verify import numeric
from . import graph_draw
from .graph_build import Build, Edge, Node, Value, array_of
from .numbers import Array, Evaluator, check_params, one_example

MAX_UNITS = 8
"""A layer wider than this collapses the graph into layer nodes (``collapse=None``)."""
MAX_NODES = 60
"""A unit graph of more nodes collapses (``collapse=None``); no collapsed graph has more."""
MAX_UNIT_NODES = 300
"""The largest unit graph drawn at all (``collapse=False``)."""
MAX_PATHS = 512
"""The most paths from the selected parameter to C that are listed with their products."""


@dataclass(frozen=True)
class Path:
    """One path from a parameter entry to C: ``edges`` index :attr:`Graph.edges` in order from the
    parameter, ``factors`` are their local derivatives and ``value`` their product at the example
    (an array in a collapsed graph: the path's share of the whole gradient, or of ``entry``)."""

    entry: tuple[str, tuple[int, ...]]
    edges: tuple[int, ...]
    factors: tuple[sp.Expr, ...]
    value: Value = None

    @property
    def product(self) -> sp.Expr:
        """The product of the local derivatives (a unit graph's; a collapsed one's do not commute)."""
        return sp.Mul(*self.factors)


@dataclass(frozen=True)
class Graph:
    """The computation graph of one network (:func:`graph`)."""

    derivation: Derivation
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    paths: tuple[Path, ...]
    param: tuple[str, tuple[int, ...]] | None
    collapsed: bool
    numbers: bool

    def node(self, id: str) -> Node:
        for n in self.nodes:
            if n.id == id:
                return n
        raise KeyError(id)

    def path_sum(self, name: str, *index: int) -> Value:
        """The sum of the path products of one entry (``"W1", 0, 1``): the partial derivative.
        ``("W1",)`` in a collapsed graph: the whole gradient array."""
        values = [p.value for p in self.paths if p.entry == (name, tuple(index))]
        if not values or any(v is None for v in values):
            return None
        if all(isinstance(v, float) for v in values):
            return math.fsum(values)  # type: ignore[arg-type]
        total: Array = sum(np.asarray(v) for v in values)  # type: ignore[assignment]
        return total

    def to_svg(self) -> str:
        """A self-contained SVG drawing (no external references, no scripts)."""
        return graph_draw.to_svg(self)

    def to_dot(self) -> str:
        """Graphviz source (``dot -Tsvg``)."""
        return graph_draw.to_dot(self)

    def to_tikz(self, document: bool = False) -> str:
        """A ``tikzpicture`` (``\\usepackage{tikz}``); ``document=True``: a standalone document
        with the derivation's preamble."""
        return graph_draw.to_tikz(self, document)

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def __repr__(self) -> str:
        how = "layers" if self.collapsed else "units"
        return (
            f"<Graph of {self.derivation.net.describe()}: {len(self.nodes)} nodes, "
            f"{len(self.edges)} edges ({how}), {len(self.paths)} paths>"
        )


def graph(
    net: Network,
    param: str | Sequence[Any] | None = None,
    sample: Sequence[Any] | None = None,
    params: dict[str, Any] | None = None,
    *,
    collapse: bool | None = None,
    seed: int = 0,
) -> Graph:
    """The computation graph of ``net``.

    Args:
        net: the network.
        param: ``"W1"`` (every entry) or one entry, ``("W1", 0, 1)`` or ``("b1", 2)``: the paths
            from it to C are highlighted and listed with their products.
        sample: one example ``(x, y)``: every node and edge gets its number.
        params: the parameters, ``{"W1": array, ...}`` (default: random from ``seed``, as
            ``derive --explain`` takes them).
        collapse: draw layer nodes (True), unit nodes (False), or decide by size (None:
            layers when a layer has more than :data:`MAX_UNITS` units or the unit graph more
            than :data:`MAX_NODES` nodes).
        seed: the seed of the random parameters.
    """
    if not isinstance(net, Network):
        raise SpecError(f"graph() takes a Network, got {type(net).__name__}")
    d = derive(net)
    entry = _entry(d, param)
    collapsed = _collapsed(net, collapse)
    ev = None
    if sample is not None:
        x, y = _sample(net, sample)
        values = (
            check_params(net, params)
            if params is not None
            else numeric.init_params(net, validate.seed(seed))
        )
        ev = Evaluator(d, x, y, values)
    elif params is not None:
        raise SpecError("graph(params=...) gives numbers only with an example: pass sample=(x, y)")
    build = Build(d, ev)
    build.layers() if collapsed else build.units()
    return _finish(build, entry, collapsed)


def figure(d: Derivation, explain: Any = None, param: str | None = None, index: Any = None) -> str:
    """The graph as an HTML ``<figure>`` of inline SVG, for the derivation page: ``param``
    (``index``) highlighted, the numbers of ``explain``'s example; empty when it is too large."""
    names = {pn.partial.name for pn in explain.partials} if explain is not None else set()
    if param is None and len(names) == 1:  # the page explains one array: its paths
        param = names.pop()
        index = explain.partials[0].partial.index if len(explain.partials) == 1 else None
    entry: Any = param
    if param is not None and index is not None:
        entry = (param, *((index,) if isinstance(index, int) else index))
    sample = None if explain is None else (explain.x, explain.y)
    try:
        g = graph(d.net, entry, sample, None if explain is None else explain.params)
    except SpecError:
        return ""  # too large to draw, or too many paths: the page goes without
    svg = g.to_svg().replace("<svg ", '<svg style="max-width: 100%; height: auto" ', 1)
    caption = (
        "the computation graph: each edge carries its local derivative (hover over an edge)"
        + ("; the highlighted paths lead from the parameter to C" if param is not None else "")
        + ("; the sum of their products is the partial derivative" if param is not None else "")
    )
    return f'<figure class="graph">\n{svg}<figcaption>{caption}</figcaption>\n</figure>'


def unit_nodes(net: Network) -> int:
    """The nodes of the unit graph: x, every parameter, z and a of each unit, y and C."""
    count = net.sizes[0] + net.sizes[-1] + 1
    for layer in net.layers:
        count += layer.n_out * (layer.n_in + (1 if layer.bias else 0) + 2)
    return count


def layer_nodes(net: Network) -> int:
    """The nodes of the collapsed graph: x, W, b, z and a of each layer, y and C."""
    return 3 + sum(3 + (1 if layer.bias else 0) for layer in net.layers)


def _collapsed(net: Network, collapse: bool | None) -> bool:
    if collapse not in (None, True, False):
        raise SpecError(f"collapse must be None, True or False, got {collapse!r}")
    units = unit_nodes(net)
    if collapse is None:
        collapse = max(net.sizes) > MAX_UNITS or units > MAX_NODES
    if not collapse and units > MAX_UNIT_NODES:
        raise SpecError(
            f"drawn unit by unit, this network's graph has {units:,} nodes (at most "
            f"{MAX_UNIT_NODES}); pass collapse=True (or leave collapse=None) to draw it by layers"
        )
    if collapse and layer_nodes(net) > MAX_NODES:
        raise SpecError(
            f"this network is too large to draw: even collapsed into layers its graph has "
            f"{layer_nodes(net)} nodes (at most {MAX_NODES}: about {(MAX_NODES - 3) // 4} "
            "layers); draw a network of fewer layers"
        )
    return bool(collapse)


def _entry(d: Derivation, param: str | Sequence[Any] | None) -> tuple[str, tuple[int, ...]] | None:
    """``"W1"`` -> ``("W1", ())``; ``("W1", 0, 1)`` -> ``("W1", (0, 1))``, checked."""
    if param is None:
        return None
    index: tuple[Any, ...] = ()
    if isinstance(param, str):
        name = param
    elif isinstance(param, tuple | list) and param and isinstance(param[0], str):
        name, index = param[0], tuple(param[1:])
    else:
        raise SpecError(
            f"param must be a name such as 'W1' or an entry such as ('W1', 0, 1), got {param!r}"
        )
    d.net.layer_of(name)  # unknown parameter 'W9'; this network has W1, b1, ...
    if index:
        d.symbol(name, *index)  # the indices' count and range
    return name, tuple(int(i) for i in index)


def _sample(net: Network, sample: Sequence[Any]) -> tuple[Array, Array]:
    if not isinstance(sample, tuple | list) or len(sample) != 2:
        raise SpecError("sample must be a pair (x, y): one input and its target")
    xs, ys = validate.array(sample[0], "sample x"), validate.array(sample[1], "sample y")
    n_in, n_out = net.sizes[0], net.sizes[-1]
    if xs.size != n_in:
        raise SpecError(f"sample x needs {n_in} numbers (the network's inputs), got {xs.size}")
    label = ys.size == 1 and n_out > 1 and np.issubdtype(ys.dtype, np.integer)
    if ys.size != n_out and not label:
        raise SpecError(f"sample y needs {n_out} numbers (the network's outputs), got {ys.size}")
    return one_example(net, xs, ys)


def _finish(b: Build, entry: tuple[str, tuple[int, ...]] | None, collapsed: bool) -> Graph:
    """The graph, with the paths from the selected parameter to C highlighted and listed."""
    nodes, edges, paths = b.nodes, b.edges, []
    if entry is not None:
        name, index = entry
        sources = [
            n
            for n in nodes
            if n.kind in "wWb"
            and array_of(n) == name
            and (collapsed or not index or n.index == index)
        ]
        out: dict[str, list[int]] = {}
        for i, e in enumerate(edges):
            if e.local is not None:
                out.setdefault(e.src, []).append(i)
        dst, end = [e.dst for e in edges], str(b.C.name)
        memo: dict[str, int] = {}
        total = sum((_count(n.id, end, out, dst, memo) for n in sources), 0)
        if total > MAX_PATHS:
            example = "0, 0" if name[0] == "W" else "0"
            raise SpecError(
                f"{name} reaches C along {total:,} paths (at most {MAX_PATHS} are listed); "
                f"pass one entry, e.g. param=({name!r}, {example})"
            )
        found = [(n, p) for n in sources for p in _walk(n.id, end, out, dst)]
        on = {i for _, p in found for i in p}
        lit = {n.id for n, _ in found} | {edges[i].dst for i in on}
        edges = [Edge(**{**_fields(e), "highlighted": i in on}) for i, e in enumerate(edges)]
        nodes = [Node(**{**_fields(n), "highlighted": n.id in lit}) for n in nodes]
        for source, p in found:
            key = (name, index if collapsed else source.index)
            value = _path_value([edges[i] for i in p], key[1], collapsed, b.ev is not None)
            paths.append(Path(key, p, tuple(edges[i].local for i in p), value))  # type: ignore[misc]
    return Graph(b.d, tuple(nodes), tuple(edges), tuple(paths), entry, collapsed, b.ev is not None)


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _walk(start: str, end: str, out: dict[str, list[int]], dst: list[str]) -> list[tuple[int, ...]]:
    """Every path of edges from ``start`` to ``end`` (the graph is layered: no cycles)."""
    if start == end:
        return [()]
    return [(i, *rest) for i in out.get(start, []) for rest in _walk(dst[i], end, out, dst)]


def _count(start: str, end: str, out: dict[str, list[int]], dst: list[str],
           memo: dict[str, int]) -> int:  # fmt: skip
    """The number of paths from ``start`` to ``end``, without listing them."""
    if start == end:
        return 1
    if start not in memo:
        memo[start] = sum(_count(dst[i], end, out, dst, memo) for i in out.get(start, []))
    return memo[start]


def _path_value(edges: list[Edge], index: tuple[int, ...], collapsed: bool, numbers: bool) -> Value:
    """The product of the local derivatives along a path, at the example."""
    if not numbers:
        return None
    if not collapsed:
        return math.prod(float(np.asarray(e.value)) for e in edges)
    first = edges[0]
    if len(edges) == 1:  # the penalty's direct edge
        value = np.asarray(first.value)
    else:
        # vector-Jacobian products from C back to z^(l): the path's share of dC/dz^(l)
        row = np.ones((1, 1))
        for e in reversed(edges[1:]):
            row = row @ np.atleast_2d(np.asarray(e.value))
        value = np.outer(row[0], np.asarray(first.value)) if first.form == "T" else row[0]
    return float(value[index]) if index else value
