"""Writers of a computation graph (:mod:`.graph`): SVG, Graphviz DOT and TikZ.

One small layered layout serves the SVG and the TikZ picture: columns by layer (the inputs, then
per layer its parameters, its ``z`` and its ``a``, then C with the targets), rows by unit. The
maths is the derivation's notation: Unicode for SVG and DOT (``∂z⁽²⁾₀/∂a⁽¹⁾₁ = w⁽²⁾₀₁``), LaTeX for
TikZ. Every edge carries its local derivative (in SVG as its tooltip, drawn where it is on a
highlighted path or the graph is small); the paths from the selected parameter to C are listed
with their products, whose sum is the partial derivative.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .formats import PREAMBLE
from .graph_labels import Labels, number

if TYPE_CHECKING:
    from .graph import Graph
    from .graph_build import Edge, Node

SMALL = 16
"""A graph of at most this many edges shows every edge's label; a larger one only those of the
highlighted paths (SVG and TikZ; DOT labels every edge, Graphviz places them)."""
LABEL_CHARS = 30
"""The longest edge label drawn in SVG; a longer one is cut (its tooltip holds it whole)."""
GAP_X, ROW, PARAM_ROW, MARGIN, R = 150, 64, 50, 30, 21
"""The layout, in SVG pixels: column pitch, row pitch of units and of parameters, margin, radius."""
TEXT_WIDTH_CM, TEXT_HEIGHT_CM = 16.5, 20.0
"""The largest TikZ picture, to fit the derivation document's text width and a page."""


# ------------------------------------------------------------------------------------------------
# Layout: columns by layer, rows by unit
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    pos: dict[str, tuple[float, float]]
    width: float
    height: float


def _is_param(n: Node) -> bool:
    return n.kind in ("w", "b", "W")


def layout(g: Graph) -> Layout:
    columns: dict[int, list[Node]] = {}
    for n in g.nodes:
        columns.setdefault(n.column, []).append(n)
    pitch = {c: PARAM_ROW if all(map(_is_param, ns)) else ROW for c, ns in columns.items()}
    span = {c: pitch[c] * (max(n.row for n in ns) + 1) for c, ns in columns.items()}
    height = max(span.values()) + 2 * MARGIN
    pos = {
        n.id: (
            float(MARGIN + R + GAP_X * n.column),
            MARGIN + (height - 2 * MARGIN - span[n.column]) / 2 + pitch[n.column] * (n.row + 0.5),
        )
        for n in g.nodes
    }
    return Layout(pos, 2 * (MARGIN + R) + GAP_X * max(columns), height)


def _ends(lay: Layout, e: Edge) -> tuple[float, float, float, float]:
    """The edge's line, cut back to the rims of its nodes."""
    (x1, y1), (x2, y2) = lay.pos[e.src], lay.pos[e.dst]
    length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1.0)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    return x1 + R * ux, y1 + R * uy, x2 - (R + 1) * ux, y2 - (R + 1) * uy


def _label_at(lay: Layout, e: Edge) -> tuple[float, float]:
    """Where an edge's label goes: half way across the first gap between columns, so that an
    edge that passes a column of parameters is labelled before it."""
    x1, y1, x2, y2 = _ends(lay, e)
    t = 0.5 if abs(x2 - x1) < GAP_X else 0.5 * (GAP_X - 2 * R) / abs(x2 - x1)
    return x1 + t * (x2 - x1), y1 + t * (y2 - y1)


def _shows_label(g: Graph, e: Edge) -> bool:
    return e.partial is not None and (e.highlighted or (g.param is None and len(g.edges) <= SMALL))


# ------------------------------------------------------------------------------------------------
# SVG
# ------------------------------------------------------------------------------------------------
RED, GREY, BLUE, DARK = "#cc0000", "#a7aba4", "#204a87", "#a40000"


def to_svg(g: Graph) -> str:
    lab, lay = Labels(g), layout(g)
    lines = [lab.title(), *lab.path_lines()]
    text_h = 16 * len(lines) + 12
    width = max(lay.width, 40 + 6.2 * max(len(line) for line in lines))
    height = lay.height + text_h
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, sans-serif" '
        f'role="img" aria-label="{esc(lab.title())}">',
        f"<title>{esc(lab.title())}</title>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    for e in g.edges:
        x1, y1, x2, y2 = _ends(lay, e)
        color, w = (RED, 2.2) if e.highlighted else (GREY, 1.0)
        dash = ' stroke-dasharray="4 3"' if e.partial is None else ""
        tip = _arrow(x1, y1, x2, y2)
        label = lab.edge(e) + lab.equals(e.value)
        out.append(
            f'<g class="edge"><title>{esc(label or "target")}</title>'
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{w}"{dash}/><polygon points="{tip}" fill="{color}"/></g>'
        )
    for e in g.edges:
        if _shows_label(g, e):
            lx, ly = _label_at(lay, e)
            text = lab.rhs(e) + (lab.equals(e.value) if isinstance(e.value, float) else "")
            if len(text) > LABEL_CHARS:  # the whole label is the edge's tooltip
                text = text[: LABEL_CHARS - 1] + "…"
            out.append(
                f'<text x="{lx:.1f}" y="{ly - 4:.1f}" font-size="9.5" '
                f'text-anchor="middle" fill="{RED if e.highlighted else BLUE}" '
                f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{esc(text)}</text>'
            )
    for n in g.nodes:
        out += _svg_node(lab, lay, n)
    y = lay.height + 4
    for i, line in enumerate(lines):
        y += 16
        color = "#333333" if i == 0 else RED
        out.append(
            f'<text x="20" y="{y:.0f}" font-size="{12 if i == 0 else 11}" fill="{color}">'
            f"{esc(line)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1.0)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    bx, by = x2 - 7 * ux, y2 - 7 * uy
    return (
        f"{x2:.1f},{y2:.1f} {bx - 3 * uy:.1f},{by + 3 * ux:.1f} {bx + 3 * uy:.1f},{by - 3 * ux:.1f}"
    )


def _svg_node(lab: Labels, lay: Layout, n: Node) -> list[str]:
    x, y = lay.pos[n.id]
    stroke, sw = (RED, 2.4) if n.highlighted else ("#3465a4", 1.2)
    fill = {"x": "#f3f3f1", "y": "#f3f3f1", "C": "#fcf3e3"}.get(n.kind, "#eef3fa")
    if _is_param(n):
        fill = "#fdf6e3" if not n.highlighted else "#fbe3e3"
        shape = (
            f'<rect x="{x - 30:.1f}" y="{y - 13:.1f}" width="60" height="26" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
        )
    elif n.kind == "C":
        shape = (
            f'<rect x="{x - R:.1f}" y="{y - R:.1f}" width="{2 * R}" height="{2 * R}" rx="5" '
            f'fill="{fill}" stroke="#c17d11" stroke-width="{sw}"/>'
        )
    else:
        shape = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{R}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{sw}"/>'
        )
    out = [f'<g class="node"><title>{html.escape(_tooltip(lab, n))}</title>{shape}',
           f'<text x="{x:.1f}" y="{y + 4.5:.1f}" font-size="12.5" text-anchor="middle">'
           f"{html.escape(lab.name(n))}</text>"]  # fmt: skip
    below = y + (13 if _is_param(n) else R) + 10
    for text, color in ((lab.value(n.value), DARK), (_grad(lab, n), BLUE)):
        if text:
            out.append(
                f'<text x="{x:.1f}" y="{below:.1f}" font-size="9.5" text-anchor="middle" '
                f'fill="{color}">{html.escape(text)}</text>'
            )
            below += 11
    out.append("</g>")
    return out


def _grad(lab: Labels, n: Node) -> str:
    if n.grad is None or n.kind == "C":
        return ""
    if np.ndim(n.grad) == 0:
        return f"∂C/∂· = {lab.value(n.grad)}"
    return f"‖∂C/∂·‖ = {number(float(np.linalg.norm(n.grad)), 3)}"


def _tooltip(lab: Labels, n: Node) -> str:
    parts = [lab.name(n)]
    if isinstance(n.value, np.ndarray):
        parts.append("shape " + "x".join(map(str, n.value.shape)))
    if n.value is not None:
        parts.append(f"value {lab.value(n.value)}")
    if n.grad is not None:
        parts.append(f"∂C/∂{lab.name(n)} = {lab.value(n.grad)}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------------
# Graphviz
# ------------------------------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: Graph) -> str:
    lab = Labels(g)
    caption = "\\l".join(
        s.replace("\\", "\\\\").replace('"', '\\"') for s in [lab.title(), *lab.path_lines()]
    )
    out = [
        "digraph computation {",
        f'  graph [rankdir=LR, fontname="DejaVu Sans", labelloc=b, labeljust=l, '
        f'label="{caption}\\l"];',
        '  node [fontname="DejaVu Sans", fontsize=11];',
        '  edge [fontname="DejaVu Sans", fontsize=9, color="#a7aba4"];',
    ]
    columns: dict[int, list[str]] = {}
    for n in g.nodes:
        columns.setdefault(n.column, []).append(_q(n.id))
    for ids in columns.values():
        out.append(f"  {{ rank=same; {'; '.join(ids)}; }}")
    for n in g.nodes:
        shape = "box" if _is_param(n) or n.kind == "C" else "circle"
        text = "\n".join(t for t in (lab.name(n), lab.value(n.value), _grad(lab, n)) if t)
        style = ', color="#cc0000", penwidth=2' if n.highlighted else ""
        out.append(f"  {_q(n.id)} [label={_q(text)}, shape={shape}{style}];")
    for e in g.edges:
        label = lab.edge(e)
        if label and e.value is not None and np.ndim(e.value) == 0:
            label += f"\n= {lab.value(e.value)}"
        attrs = [f"label={_q(label)}"] if label else ["style=dashed"]
        if e.highlighted:
            attrs += ['color="#cc0000"', 'fontcolor="#cc0000"', "penwidth=2"]
        out.append(f"  {_q(e.src)} -> {_q(e.dst)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# TikZ
# ------------------------------------------------------------------------------------------------
def to_tikz(g: Graph, document: bool = False) -> str:
    """A ``tikzpicture`` of core TikZ only (no libraries), which compiles inside the derivation's
    LaTeX document once it loads ``tikz``; ``document=True`` wraps it in that document."""
    lab, lay = Labels(g), layout(g)
    k = min(0.03, TEXT_WIDTH_CM / lay.width)  # cm per layout pixel, across
    ky = min(max(k, 0.022), TEXT_HEIGHT_CM / lay.height)  # and down: a page is taller than wide

    def at(node_id: str) -> str:
        x, y = lay.pos[node_id]
        return f"({x * k:.2f},{-y * ky:.2f})"

    ids = {n.id: f"n{i}" for i, n in enumerate(g.nodes)}
    out = [r"\begin{tikzpicture}[font=\scriptsize]"]
    for n in g.nodes:
        shape = "rectangle, rounded corners=2pt" if _is_param(n) or n.kind == "C" else "circle"
        color = "red!75!black" if n.highlighted else "blue!50!black"
        text = f"${lab.latex(n.symbol)}$"
        value = lab.value(n.value)
        if value and isinstance(n.value, float):
            text += f"\\\\{{\\tiny\\color{{red!60!black}}{value}}}"
        out.append(
            f"\\node[draw={color}, {shape}, align=center, inner sep=1.5pt, "
            f"minimum size={2 * R * k:.2f}cm{', very thick' if n.highlighted else ''}] "
            f"({ids[n.id]}) at {at(n.id)} {{{text}}};"
        )
    for e in g.edges:
        style = "->, red!75!black, thick" if e.highlighted else "->, black!35"
        if e.partial is None:
            style += ", dashed"
        label = ""
        roomy = len(g.edges) <= SMALL and GAP_X * k >= 2.4  # else the list below says them
        if e.partial is not None and roomy:
            label = f" node[midway, above, sloped, font=\\tiny] {{${lab.rhs(e, tex=True)}$}}"
        out.append(f"\\draw[{style}] ({ids[e.src]}) --{label} ({ids[e.dst]});")
    rows = " \\\\ ".join(f"${line}$" for line in lab.path_lines(tex=True))
    if rows:
        out.append(
            f"\\node[anchor=north west, align=left, font=\\footnotesize] at "
            f"(0,{-(lay.height + 10) * ky:.2f}) {{{rows}}};"
        )
    out.append(r"\end{tikzpicture}")
    picture = "\n".join(out) + "\n"
    if not document:
        return picture
    return PREAMBLE + "\\usepackage{tikz}\n\\begin{document}\n\n" + picture + "\n\\end{document}\n"


__all__ = ["Layout", "layout", "to_dot", "to_svg", "to_tikz"]
