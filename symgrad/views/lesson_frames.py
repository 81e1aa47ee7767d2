"""The frames of a lesson (:mod:`.lesson`): what one press of "next" shows.

One training step is: its start (the example, the current weights), the forward pass node by
node (each ``z`` and ``a`` with its value, then C), the backward pass edge by edge from C to the
parameters (each edge's local derivative, and ``dC/dsource`` grown by the product of that
derivative and ``dC/ddestination``: the chain rule, summed over paths), the update of each
parameter entry (``w <- w - lr dC/dw``) and its end (the costs after the update). Every number
comes from the step's computation graph (:mod:`.graph`) or the NumPy reference; nothing here
derives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .graph_labels import Labels, number

if TYPE_CHECKING:
    from .graph import Graph
    from .graph_build import Node, Value
    from .lesson import TrainingStep

Shown = tuple[str, float | None]
"""What an element shows: its text, and the number behind it (its ``data-value``)."""
MINUS, TIMES = "\u2212", "\u00d7"
LABEL_CHARS = 18
"""The longest edge label drawn; the caption holds it whole."""
SPELLED_TERMS = 4
"""A ``z`` of at most this many inputs is written term by term in its caption."""


@dataclass(frozen=True)
class Frame:
    """One view: ``step`` (from 0) and ``phase`` (start, forward, backward, update, done), the
    caption ``text``, the element ids lit up (``lit``), the texts set from this frame on (until
    the step ends; ``show``: element id -> (text, value)) and the panel's index ``panel`` (the
    cost and boundary after that many updates)."""

    step: int
    phase: str
    text: str
    lit: tuple[str, ...] = ()
    show: dict[str, Shown] = field(default_factory=dict)
    panel: int = 0


def node_id(graph_id: str) -> str:
    """The HTML id of a graph node (its symbol's name, made safe): ``w1_0_1`` -> ``n-w1_0_1``."""
    return "n-" + re.sub(r"[^A-Za-z0-9_-]", "_", graph_id)


def entry_id(name: str, index: tuple[int, ...]) -> str:
    """``("W1", (0, 1))`` -> ``W1-0-1``: the suffix of a parameter entry's table cells."""
    return "-".join([name, *map(str, index)])


def param_entry(n: Node) -> tuple[str, tuple[int, ...]]:
    """The parameter array and index of a ``w`` or ``b`` node."""
    return ("b" if n.kind == "b" else "W") + str(n.layer), n.index


def _f(v: Value) -> float:
    """A unit graph's number (a lesson's graph is drawn by unit, with an example)."""
    assert v is not None, "a lesson's graph has the numbers of its example"
    return float(np.asarray(v))


def _num(v: float) -> str:
    return number(v, 4)


def _par(v: float) -> str:
    """A factor in a product: a negative number in parentheses."""
    return f"({_num(v)})" if v < 0 else _num(v)


def _value(v: float | None) -> Shown:
    return ("", None) if v is None else ("= " + _num(v), float(v))


def step_frames(g: Graph, t: int, step: TrainingStep, lr: float) -> list[Frame]:
    """The frames of training step ``t`` on ``g``, the graph at the step's example and weights."""
    lab = Labels(g)
    by_id = {n.id: n for n in g.nodes}
    at: dict[tuple[str, int, tuple[int, ...]], Node] = {
        (n.kind, n.layer, n.index): n for n in g.nodes
    }
    into: dict[str, list[int]] = {}
    for i, e in enumerate(g.edges):
        into.setdefault(e.dst, []).append(i)
    name = lab.name
    frames: list[Frame] = []

    # the start: the example and the current weights
    show: dict[str, Shown] = {}
    for n in g.nodes:
        if n.kind in "xywb":
            show["v-" + node_id(n.id)] = _value(None if n.value is None else _f(n.value))
        if n.kind in "wb":
            key = entry_id(*param_entry(n))
            show["old-" + key] = (_num(_f(n.value)), _f(n.value))
    xs = ", ".join(_num(v) for v in step.x)
    ys = ", ".join(_num(v) for v in step.y)
    inputs = tuple(node_id(n.id) for n in g.nodes if n.kind in "xy")
    frames.append(Frame(
        t, "start",
        f"Step {t + 1}: the example of row {step.row}, x = ({xs}), target y = ({ys}). "
        "The forward pass computes each z and a from the current weights.",
        inputs, show, t,
    ))  # fmt: skip

    # forward, node by node: z then a of each unit (a softmax layer: every z first)
    net = g.derivation.net
    for l, layer in enumerate(net.layers, start=1):
        js = range(layer.n_out)
        order = (
            [("z", j) for j in js] + [("a", j) for j in js]
            if layer.act.is_softmax
            else [(kind, j) for j in js for kind in ("z", "a")]
        )
        for kind, j in order:
            n = at[(kind, l, (j,))]
            text = _z_text(lab, at, l, j) if kind == "z" else _a_text(lab, at, l, j)
            edges = into.get(n.id, [])
            lit = (node_id(n.id), *(f"e-{i}" for i in edges),
                   *(node_id(g.edges[i].src) for i in edges))  # fmt: skip
            frames.append(
                Frame(t, "forward", text, lit, {"v-" + node_id(n.id): _value(_f(n.value))}, t)
            )
    c = at[("C", net.L + 1, ())]
    c_value = _f(c.value)
    edges = into.get(c.id, [])
    penalty = " + the penalty on the weights" if net.regularization is not None else ""
    frames.append(Frame(
        t, "forward",
        f"{name(c)} = the {net.cost.name} cost of a⁽{net.L}⁾ against y{penalty} = {_num(c_value)}",
        (node_id(c.id), *(f"e-{i}" for i in edges)), {"v-" + node_id(c.id): _value(c_value)}, t,
    ))  # fmt: skip

    # backward, edge by edge from C: dC/dsrc += d dst/d src * dC/ddst
    running: dict[str, float] = {c.id: 1.0}
    frames.append(Frame(
        t, "backward",
        f"Backward: ∂{name(c)}/∂{name(c)} = 1. Each edge, from C back to the weights, multiplies "
        "its local derivative into ∂C/∂(its source); a node with several edges out sums them "
        "(the sum over paths).",
        (node_id(c.id),), {"g-" + node_id(c.id): ("∂C/∂· = 1", 1.0)}, t,
    ))  # fmt: skip
    edges_back = sorted(
        (i for i, e in enumerate(g.edges) if e.partial is not None and by_id[e.src].kind != "x"),
        key=lambda i: -by_id[g.edges[i].dst].column,
    )
    for i in edges_back:
        e = g.edges[i]
        src, dst = by_id[e.src], by_id[e.dst]
        local, up = _f(e.value), running[e.dst]
        first = e.src not in running
        running[e.src] = running.get(e.src, 0.0) + local * up
        lhs = f"∂C/∂{name(src)}"
        text = (
            f"{lab.edge(e)} = {_num(local)}.  {lhs} {'=' if first else '+='} "
            f"{_par(local)} {TIMES} {_par(up)}"
            + (f" = {_num(running[e.src])}" if first else f", so {lhs} = {_num(running[e.src])}")
        )
        label = f"{lab.rhs(e)} = {_num(local)}"
        if len(label) > LABEL_CHARS:
            label = _num(local)
        frames.append(Frame(
            t, "backward", text, (f"e-{i}", f"l-{i}", node_id(src.id), node_id(dst.id)),
            {f"l-{i}": (label, local),
             "g-" + node_id(src.id): (f"∂C/∂· = {_num(running[e.src])}", running[e.src])},
            t,
        ))  # fmt: skip

    # the update of each parameter entry, in the order of the parameter arrays
    for pname in net.param_names:
        kind, l = ("b" if pname[0] == "b" else "w"), int(pname[1:])
        for index in np.ndindex(net.param_shape(pname)):
            n = at[(kind, l, tuple(index))]
            old, grad = float(step.before[pname][index]), float(step.grads[pname][index])
            new = float(step.after[pname][index])
            key = entry_id(pname, tuple(index))
            text = (
                f"Update: {name(n)} ← {name(n)} {MINUS} lr·∂C/∂{name(n)} = {_num(old)} {MINUS} "
                f"{_num(lr)} {TIMES} {_par(grad)} = {_num(new)}"
            )
            frames.append(Frame(
                t, "update", text, (node_id(n.id),),
                {"v-" + node_id(n.id): _value(new), "grad-" + key: (_num(grad), grad),
                 "new-" + key: (_num(new), new)},
                t,
            ))  # fmt: skip
    frames.append(Frame(
        t, "done",
        f"Step {t + 1} done: this example's cost went from {_num(step.cost)} to "
        f"{_num(step.cost_after)}; the mean cost over the data is now {_num(step.data_cost)}.",
        (), {}, t + 1,
    ))  # fmt: skip
    return frames


def _z_text(lab: Labels, at: dict[tuple[str, int, tuple[int, ...]], Node], l: int, j: int) -> str:
    z = at[("z", l, (j,))]
    n_in = sum(1 for key in at if key[0] == "w" and key[1] == l and key[2][0] == j)
    below = "x" if l == 1 else "a"
    b = at.get(("b", l, (j,)))
    terms, numbers = [], []
    for k in range(n_in):
        w, a = at[("w", l, (j, k))], at[(below, l - 1, (k,))]
        terms.append(f"{lab.name(w)}·{lab.name(a)}")
        numbers.append(f"{_par(_f(w.value))}·{_par(_f(a.value))}")
    if b is not None:
        terms.append(lab.name(b))
        numbers.append(_par(_f(b.value)))
    value = _num(_f(z.value))
    if n_in > SPELLED_TERMS:
        bias = f" + b⁽{l}⁾ⱼ" if b is not None else ""
        return f"{lab.name(z)} = Σₖ w⁽{l}⁾ⱼₖ·{below}ₖ{bias} (j = {j}) = {value}"
    return f"{lab.name(z)} = {' + '.join(terms)} = {' + '.join(numbers)} = {value}"


def _a_text(lab: Labels, at: dict[tuple[str, int, tuple[int, ...]], Node], l: int, j: int) -> str:
    z, a = at[("z", l, (j,))], at[("a", l, (j,))]
    layer = lab.d.net.layers[l - 1]
    zv, av = _f(z.value), _f(a.value)
    f = layer.act.name
    if layer.act.is_softmax:
        return f"{lab.name(a)} = softmax(z⁽{l}⁾)_{j} = {_num(av)}"
    if layer.residual:
        below = at[("x" if l == 1 else "a", l - 1, (j,))]
        return (
            f"{lab.name(a)} = {lab.name(below)} + {f}({lab.name(z)}) = "
            f"{_num(_f(below.value))} + {f}({_num(zv)}) = {_num(av)}"
        )
    return f"{lab.name(a)} = {f}({lab.name(z)}) = {f}({_num(zv)}) = {_num(av)}"


__all__ = ["Frame", "entry_id", "node_id", "param_entry", "step_frames"]
