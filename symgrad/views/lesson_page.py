"""A lesson (:mod:`.lesson`) as one self-contained HTML page: the network drawn as inline SVG,
a panel of the cost and (for 2 inputs) the decision boundary, a table of the parameters, and a
small inline script that steps through the frames (buttons, arrow keys).

Every element a frame changes has an id: a graph node ``n-<symbol>`` (its value ``v-n-...``, its
``dC/dnode`` ``g-n-...``), an edge ``e-<i>`` (its label ``l-<i>``, ``i`` indexing the graph's
edges), a parameter entry's cells ``old-W1-0-1``, ``grad-W1-0-1`` and ``new-W1-0-1``; each number
shown carries its full value in ``data-value``. The numbers are embedded as JSON; the script
computes nothing, it only shows them.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from .graph_draw import GAP_X, R, layout
from .graph_labels import Labels, number
from .lesson_assets import SCRIPT, STYLE
from .lesson_frames import entry_id, node_id, param_entry

if TYPE_CHECKING:
    from .graph import Graph
    from .lesson import Lesson

CLASS_COLORS = ("#3465a4", "#f57900", "#4e9a06", "#75507b", "#c4a000", "#cc0000", "#06989a")
"""The colours of classes in the decision-boundary panel (a class past the last reuses them)."""
PANEL_W, PANEL_H = 300, 190
"""The cost panel's size in SVG pixels (the boundary panel is PANEL_W square)."""


def draw_graph(g: Graph) -> str:
    """The network drawn unit by unit (the graph's layout), every node and edge with an id and
    empty texts for the values, local derivatives and ``dC/dnode`` the frames show."""
    lab, lay = Labels(g), layout(g)
    width, height = lay.width, lay.height + 10
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{esc(lab.title())}" style="max-width: 100%; height: auto">',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    labels = []
    for i, e in enumerate(g.edges):
        (x1, y1), (x2, y2) = lay.pos[e.src], lay.pos[e.dst]
        length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1.0)
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        x1, y1, x2, y2 = x1 + R * ux, y1 + R * uy, x2 - (R + 1) * ux, y2 - (R + 1) * uy
        bx, by = x2 - 7 * ux, y2 - 7 * uy
        tip = f"{x2:.1f},{y2:.1f} {bx - 3 * uy:.1f},{by + 3 * ux:.1f} {bx + 3 * uy:.1f},{by - 3 * ux:.1f}"
        dash = ' stroke-dasharray="4 3"' if e.partial is None else ""
        title = lab.edge(e) or "the target enters C"
        out.append(
            f'<g class="edge" id="e-{i}"><title>{esc(title)}</title><line x1="{x1:.1f}" '
            f'y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"{dash}/><polygon points="{tip}"/></g>'
        )
        # the label half way across the first gap between columns
        t = 0.5 if abs(x2 - x1) < GAP_X else 0.5 * (GAP_X - 2 * R) / abs(x2 - x1)
        lx, ly = x1 + t * (x2 - x1), y1 + t * (y2 - y1) - 4
        labels.append(
            f'<text class="elabel" id="l-{i}" data-shows="" x="{lx:.1f}" y="{ly:.1f}" '
            'text-anchor="middle"></text>'
        )
    for n in g.nodes:
        x, y = lay.pos[n.id]
        nid = node_id(n.id)
        if n.kind in "wb":
            kind, half = "param", 13
            shape = f'<rect x="{x - 30:.1f}" y="{y - 13:.1f}" width="60" height="26" rx="6"/>'
        elif n.kind == "C":
            kind, half = "cost", R
            shape = (
                f'<rect x="{x - R:.1f}" y="{y - R:.1f}" width="{2 * R}" height="{2 * R}" rx="5"/>'
            )
        else:
            kind, half = ("io" if n.kind in "xy" else "unit"), R
            shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{R}"/>'
        below = y + half + 10
        if n.kind == "C":  # above: a target sits below C
            below = y - half - 17
        out.append(
            f'<g class="node {kind}" id="{nid}"><title>{esc(lab.name(n))}</title>{shape}'
            f'<text x="{x:.1f}" y="{y + 4.5:.1f}" font-size="12.5" text-anchor="middle">'
            f"{esc(lab.name(n))}</text>"
            f'<text class="val" id="v-{nid}" data-shows="" x="{x:.1f}" y="{below:.1f}" '
            'text-anchor="middle"></text>'
            f'<text class="grad" id="g-{nid}" data-shows="" x="{x:.1f}" y="{below + 11:.1f}" '
            'text-anchor="middle"></text></g>'
        )
    out += labels  # over the nodes: the lit edge's label stays readable
    out.append("</svg>")
    return "\n".join(out)


def _cost_panel(costs: list[float]) -> str:
    pad, w, h = 34, PANEL_W, PANEL_H
    lo, hi = min(costs), max(costs)
    span = hi - lo if hi > lo else 1.0
    n = max(len(costs) - 1, 1)

    def at(k: int, c: float) -> tuple[float, float]:
        return pad + k * (w - pad - 10) / n, h - pad - (c - lo) / span * (h - pad - 16)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="cost-panel" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="the mean cost over the steps">',
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - 6}" y2="{h - pad}" stroke="#888"/>',
        f'<line x1="{pad}" y1="8" x2="{pad}" y2="{h - pad}" stroke="#888"/>',
        f'<text x="{pad - 4}" y="20" font-size="9" text-anchor="end">{number(hi, 3)}</text>',
        f'<text x="{pad - 4}" y="{h - pad}" font-size="9" text-anchor="end">{number(lo, 3)}</text>',
        f'<text x="{w / 2:.0f}" y="{h - 16}" font-size="10" text-anchor="middle">updates</text>',
        f'<text id="cost-now" x="{w / 2:.0f}" y="{h - 3}" font-size="10.5" '
        'text-anchor="middle" fill="#a40000"></text>',
    ]
    for k in range(1, len(costs)):
        (x1, y1), (x2, y2) = at(k - 1, costs[k - 1]), at(k, costs[k])
        out.append(
            f'<line id="cost-seg-{k}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            'stroke="#3465a4" stroke-width="1.6"/>'
        )
    for k, c in enumerate(costs):
        x, y = at(k, c)
        out.append(
            f'<circle class="pt" id="cost-{k}" cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="#3465a4">'
            f"<title>after {k} updates: {number(c, 6)}</title></circle>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _palette(lesson: Lesson) -> dict[str, Any]:
    if lesson.Y.shape[1] > 1:
        return {"kind": "class", "colors": list(CLASS_COLORS)}
    lo, hi = float(lesson.Y.min()), float(lesson.Y.max())
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    return {"kind": "value", "lo": lo, "hi": hi, "colors": ["#3465a4", "#f57900"]}


def _boundary_panel(lesson: Lesson, palette: dict[str, Any]) -> str:
    assert lesson.grids is not None and lesson.bounds is not None
    from .lesson import GRID

    size, x0, x1, y0, y1 = PANEL_W, *lesson.bounds
    cell = size / GRID
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="boundary-panel" width="{size}" '
        f'height="{size}" viewBox="0 0 {size} {size}" role="img" '
        'aria-label="the predictions over the inputs">',
    ]
    for c in range(GRID * GRID):
        r, q = divmod(c, GRID)
        out.append(
            f'<rect id="cell-{c}" x="{q * cell:.2f}" y="{r * cell:.2f}" width="{cell + 0.3:.2f}" '
            f'height="{cell + 0.3:.2f}" fill="#ffffff" shape-rendering="crispEdges"/>'
        )
    for row, (x, y) in enumerate(zip(lesson.X, lesson.Y, strict=True)):
        px = (x[0] - x0) / (x1 - x0) * size
        py = (y1 - x[1]) / (y1 - y0) * size
        if palette["kind"] == "class":
            fill = CLASS_COLORS[int(np.argmax(y)) % len(CLASS_COLORS)]
        else:
            fill = palette["colors"][int(y[0] >= (palette["lo"] + palette["hi"]) / 2)]
        out.append(
            f'<circle class="pt" id="pt-{row}" cx="{px:.1f}" cy="{py:.1f}" r="4.5" '
            f'fill="{fill}"><title>row {row}</title></circle>'
        )
    out.append("</svg>")
    return "\n".join(out)


def param_labels(g: Graph) -> dict[tuple[str, tuple[int, ...]], str]:
    """Each parameter entry's name in the notation (``w⁽¹⁾₀₁``), in the order of the arrays."""
    lab = Labels(g)
    names = {param_entry(n): lab.name(n) for n in g.nodes if n.kind in "wb"}
    net = g.derivation.net
    return {
        (p, tuple(i)): names[(p, tuple(i))]
        for p in net.param_names
        for i in np.ndindex(net.param_shape(p))
    }


def _table(lesson: Lesson, g_names: dict[tuple[str, tuple[int, ...]], str]) -> str:
    rows = [
        '<table class="params" id="params"><tr><th>parameter</th><th>before</th>'
        "<th>∂C/∂w</th><th>after</th></tr>"
    ]
    for (name, index), label in g_names.items():
        key = entry_id(name, index)
        cells = "".join(
            f'<td id="{what}-{key}" data-shows=""></td>' for what in ("old", "grad", "new")
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _data(lesson: Lesson, palette: dict[str, Any]) -> str:
    def arrays(d: dict[str, Any]) -> dict[str, Any]:
        return {k: np.asarray(v).tolist() for k, v in d.items()}

    data = {
        "lr": lesson.lr,
        "params": list(lesson.net.param_names),
        "costs": lesson.costs,
        "steps": [
            {
                "row": s.row,
                "x": s.x.tolist(),
                "y": s.y.tolist(),
                "before": arrays(s.before),
                "grads": arrays(s.grads),
                "after": arrays(s.after),
                "cost": s.cost,
                "cost_after": s.cost_after,
                "data_cost": s.data_cost,
            }
            for s in lesson.steps
        ],
        "frames": [
            {
                "step": f.step,
                "phase": f.phase,
                "text": f.text,
                "lit": list(f.lit),
                "show": {k: list(v) for k, v in f.show.items()},
                "panel": f.panel,
            }
            for f in lesson.frames
        ],
        "grids": None if lesson.grids is None else [np.round(g, 4).tolist() for g in lesson.grids],
        "bounds": lesson.bounds,
        "palette": palette,
    }
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")  # nothing in the JSON may close the script element


def to_html(lesson: Lesson) -> str:
    """The page as a string (:meth:`~symgrad.views.lesson.Lesson.to_html`)."""
    net, esc = lesson.net, html.escape
    palette = _palette(lesson)
    notes = "".join(f'<p class="note">{esc(n)}.</p>\n' for n in lesson.notes)
    n_rows = len(lesson.X)
    boundary = ""
    if lesson.grids is not None:
        boundary = (
            f'<figure>{_boundary_panel(lesson, palette)}<figcaption id="boundary-title">'
            "</figcaption></figure>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>symgrad lesson: {esc(net.describe())}</title>
<style>
{STYLE}
</style>
</head>
<body>
<h1>Backpropagation, step by step: {esc(net.describe())}</h1>
<p>{len(lesson.steps)} steps of plain gradient descent, w ← w &minus; lr·∂C/∂w with lr = {lesson.lr:g},
on one example per step (step t takes row t of the {n_rows} rows, cycling). Each step shows the
forward pass node by node, the backward pass edge by edge (each edge's local derivative, and
∂C/∂node summed over the paths), then the update of every parameter. Use the buttons or the
← → keys.</p>
{notes}<div class="controls"><button id="prev" type="button">◀ prev</button>
<button id="next" type="button">next ▶</button>
<button id="next-step" type="button">next training step ▶▶</button>
<span id="status"></span></div>
<p id="caption"></p>
<div class="layout">
<div class="main">
<figure>{lesson.graph_svg}</figure>
{_table(lesson, lesson.param_labels)}
</div>
<div class="side">
<figure>{_cost_panel(lesson.costs)}<figcaption>the mean cost over the {n_rows} rows</figcaption></figure>
{boundary}
</div>
</div>
<script type="application/json" id="lesson-data">{_data(lesson, palette)}</script>
<script>
{SCRIPT}
</script>
</body>
</html>
"""


__all__ = ["draw_graph", "to_html"]
