"""A derivation as one standalone HTML page: diagram, forward pass, chain-rule steps, BP1-BP4.

The page is built from the same sections :mod:`symgrad.views.render` prints (and, with an
:class:`~symgrad.views.teach.Explanation`, the numbers of one example). Every equation is the LaTeX
those renderers produce, converted to MathML with ``latex2mathml``; the network is an inline
SVG drawing and the style sheet is inline, so the file needs no network access and no scripts.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..files import atomic_write
from .document import DocumentBuilder, RenderOptions, build_document
from .graph import figure as graph_figure
from .layout import (
    Equation,
    Paragraph,
    Pieces,
    equation_lines,
    rule_pieces,
)

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation
    from ..net.network import Network
    from .teach import Explanation

ToMath = Callable[[str], str]
"""LaTeX in, MathML out."""

HTML_WIDTH = 96
"""Width (in plain-text columns) at which a long equation breaks onto a new row."""

MAX_DRAWN_UNITS = 8
"""Layers wider than this are drawn with their first units, an ellipsis and the last unit."""

STYLE = """
body { font-family: system-ui, "DejaVu Sans", sans-serif; color: #1b1b1b; background: #fff;
       max-width: 64rem; margin: 0 auto; padding: 1.5rem 2rem 4rem; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #3465a4; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; color: #204a87; }
h3 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
nav ol { columns: 2; font-size: .95rem; }
math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", math; font-size: 1.12em; }
p.rule { margin: .9rem 0 .2rem; color: #4e4e4e; font-style: italic; }
table.eq { border-collapse: collapse; margin: .1rem 0 .3rem 1.2rem; }
table.eq td { padding: .22rem .3rem; vertical-align: middle; }
table.eq td.lhs { text-align: right; }
table.eq td.op { text-align: center; width: 1.2rem; }
table.eq td.cont { padding-left: 2.4rem; }
table.eq tr.numbers td { color: #a40000; }
article.partial { border-left: 3px solid #d3d7cf; padding-left: 1rem; margin: 1.2rem 0; }
details.local { border-left: 3px solid #e9b96e; padding-left: 1rem; margin: 1rem 0; }
details.local summary { cursor: pointer; font-weight: 600; }
figure { margin: 1rem 0; text-align: center; }
figcaption { font-size: .9rem; color: #555; }
svg text { font-family: "DejaVu Sans", system-ui, sans-serif; }
footer { margin-top: 3rem; font-size: .85rem; color: #777; }
""".strip()

_SUP = str.maketrans("0123456789()-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁻")
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def to_html(d: Derivation, explain: Explanation | None = None, **options: Any) -> str:
    """The page as a string.

    Args:
        d: the derivation.
        explain: an :class:`~symgrad.views.teach.Explanation` of ``d``: its partials are shown with the
            numbers of its example (the selection options then come from it).
        options: the fields of :class:`~symgrad.views.document.RenderOptions` (``param``,
            ``layer``, ``index``, ``expand``, ``equations``, ``max_partials``), as for
            :func:`symgrad.views.render.to_text`.
    """
    from latex2mathml.converter import convert

    chosen = RenderOptions(**options)  # a TypeError for an option no format takes
    if explain is None:
        doc = build_document(d, HTML_WIDTH, chosen)
        title, sections = doc.title, list(doc.sections)
    else:
        from .teach import sections as explained

        if explain.derivation is not d:
            raise SpecError("to_html(d, explain=...) needs an explanation of the same derivation d")
        b = DocumentBuilder(d, HTML_WIDTH)
        sections = [*b.definitions(chosen.local_steps), *explained(explain, HTML_WIDTH)]
        if chosen.equations:
            kind = "index" if chosen.equations is True else str(chosen.equations)
            sections.append(b.equations(kind))
        title = f"Backpropagation in {d.net.describe()}, with numbers"

    def math(tex: str) -> str:
        return str(convert(tex.strip(), display="inline"))

    toc, body = [], []
    open_section = False
    for n, sec in enumerate(sections):
        if sec.level == 1:
            if open_section:
                body.append("</section>")
            anchor = f"s{n}"
            toc.append(f'<li><a href="#{anchor}">{html.escape(sec.title.text)}</a></li>')
            body.append(f'<section id="{anchor}">\n<h2>{html.escape(sec.title.text)}</h2>')
            open_section = True
        elif sec.folded:  # a local derivative rule by rule, folded
            lead = f"{html.escape(sec.label)}: " if sec.label else ""
            summary = f"<summary>{lead}{math(sec.title.latex)}</summary>"
            body.append(f'<details class="local" id="p{n}">\n{summary}')
        elif sec.title.text == sec.title.latex:  # a note in words, such as what was left out
            body.append(f'<article class="note" id="p{n}">\n<h3>{html.escape(sec.title.text)}</h3>')
        else:
            lead = f"{html.escape(sec.label)}: " if sec.label else ""
            anchor = sec.label.lower().replace(" ", "-") if sec.label else f"p{n}"
            body.append(
                f'<article class="partial" id="{anchor}">\n<h3>{lead}{math(sec.title.latex)}</h3>'
            )
        body += [_item(item, math) for item in sec.items]
        if sec.level != 1:
            body.append("</details>" if sec.folded else "</article>")
    if open_section:
        body.append("</section>")
    figure = _diagram(d.net, explain) + "\n" + graph_figure(d, explain, chosen.param, chosen.index)
    page = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        '<nav><ol>\n<li><a href="#network">The network</a></li>',
        *toc,
        "</ol></nav>",
        '<section id="network">\n<h2>The network</h2>',
        figure,
        "</section>",
        *body,
        "<footer>Generated by symgrad from the network's declaration.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(page) + "\n"


def write_html(
    path: str | os.PathLike[str],
    d: Derivation,
    explain: Explanation | None = None,
    **options: object,
) -> Path:
    """Write :func:`to_html` to ``path`` atomically (a temporary file, then a rename)."""
    return atomic_write(path, to_html(d, explain, **options))  # type: ignore[arg-type]


def _rule(rule: str | Pieces, convert: ToMath) -> str:
    """Prose escaped, the symbols in it as inline MathML."""
    return "".join(
        convert(tex) if is_math else html.escape(text) for is_math, text, tex in rule_pieces(rule)
    )


def _item(item: Paragraph | Equation, convert: ToMath) -> str:
    """A paragraph, or an equation as a table aligned on its ``=`` signs."""
    if not isinstance(item, Equation):
        return f"<p>{_rule(item, convert)}</p>"
    out = [f'<p class="rule">{_rule(item.rule, convert)}</p>'] if item.rule else []
    out.append('<table class="eq">')
    for kind, content in equation_lines(item.lhs, item.rhss, HTML_WIDTH):
        lhs = convert(item.lhs.latex) if kind == "first" else ""
        cls = ' class="numbers"' if content.numbers else ""
        rhs = convert(content.latex.strip())
        if kind == "cont":
            out.append(f'<tr{cls}><td class="lhs"></td><td></td><td class="cont">{rhs}</td></tr>')
        else:
            op = '<td class="op">=</td>'
            out.append(f'<tr{cls}><td class="lhs">{lhs}</td>{op}<td>{rhs}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# The network as an SVG drawing
# ------------------------------------------------------------------------------------------------
def _label(kind: str, layer: int, unit: int) -> str:
    """``x₀``, ``a⁽²⁾₁``: the notation in Unicode, for SVG text."""
    if kind == "x":
        return f"x{str(unit).translate(_SUB)}"
    return f"{kind}{f'({layer})'.translate(_SUP)}{str(unit).translate(_SUB)}"


def _shown(n: int) -> list[int | None]:
    """The units drawn for a layer of n units (None is the ellipsis)."""
    if n <= MAX_DRAWN_UNITS:
        return list(range(n))
    return [*range(MAX_DRAWN_UNITS - 2), None, n - 1]


def _diagram(net: Network, ex: Explanation | None) -> str:
    """Units as circles in columns, one line per weight, the cost on the right."""
    from .teach import number

    cols = [_shown(n) for n in net.sizes]
    gap_x, gap_y, r = 170, 66, 25
    height = gap_y * max(len(c) for c in cols) + 90
    width = gap_x * (len(cols) + 1) + 20
    x_of = [70 + gap_x * c for c in range(len(cols) + 1)]

    def y_of(col: int, row: int) -> float:
        top = (height - 60 - gap_y * len(cols[col])) / 2
        return top + gap_y * (row + 0.5)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="diagram of the network">'
    ]
    # weights: w^(l)_jk joins unit k of layer l-1 to unit j of layer l
    for l in range(1, len(cols)):
        label = net.sizes[l] * net.sizes[l - 1] <= 4
        for rj, j in enumerate(cols[l]):
            for rk, k in enumerate(cols[l - 1]):
                if j is None or k is None:
                    continue
                x1, y1, x2, y2 = x_of[l - 1] + r, y_of(l - 1, rk), x_of[l] - r, y_of(l, rj)
                out.append(
                    f'<line x1="{x1}" y1="{y1:.1f}" x2="{x2}" y2="{y2:.1f}" stroke="#888a85"/>'
                )
                if label:
                    text = _label("w", l, j) + str(k).translate(_SUB)
                    if ex is not None:
                        text += f" = {number(float(ex.params[f'W{l}'][j, k]), 3)}"
                    lx, ly = x1 + 0.62 * (x2 - x1), y1 + 0.62 * (y2 - y1) - 6
                    out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" text-anchor="middle" '
                               f'fill="#204a87">{html.escape(text)}</text>')  # fmt: skip
    # the cost, fed by every output unit
    L, cx = net.L, x_of[-1]
    cy = (height - 60) / 2
    for rj, j in enumerate(cols[L]):
        if j is not None:
            out.append(f'<line x1="{x_of[L] + r}" y1="{y_of(L, rj):.1f}" x2="{cx - r}" y2="{cy:.1f}" '
                       f'stroke="#c17d11" stroke-dasharray="4 3"/>')  # fmt: skip
    out.append(f'<rect x="{cx - r}" y="{cy - r}" width="{2 * r}" height="{2 * r}" rx="6" '
               f'fill="#fcf3e3" stroke="#c17d11"/>')  # fmt: skip
    out.append(f'<text x="{cx}" y="{cy + 5}" font-size="15" text-anchor="middle">C</text>')
    if ex is not None:
        out.append(f'<text x="{cx}" y="{cy + r + 15}" font-size="11" text-anchor="middle">'
                   f"{number(ex.cost, 4)}</text>")  # fmt: skip
    # units
    for c, col in enumerate(cols):
        for row, unit in enumerate(col):
            x, y = x_of[c], y_of(c, row)
            if unit is None:
                out.append(
                    f'<text x="{x}" y="{y + 6:.1f}" font-size="22" text-anchor="middle">⋮</text>'
                )
                continue
            fill = "#eef3fa" if c else "#f3f3f1"
            out.append(f'<circle cx="{x}" cy="{y:.1f}" r="{r}" fill="{fill}" stroke="#3465a4"/>')
            name = _label("x", 0, unit) if c == 0 else _label("a", c, unit)
            dy = -2 if ex is not None else 5
            out.append(
                f'<text x="{x}" y="{y + dy:.1f}" font-size="14" text-anchor="middle">{name}</text>'
            )
            if ex is not None:
                out.append(f'<text x="{x}" y="{y + 13:.1f}" font-size="9.5" text-anchor="middle" '
                           f'fill="#a40000">{number(float(ex.a[c][unit]), 3)}</text>')  # fmt: skip
    # captions under the columns
    base = height - 22
    for c in range(len(cols)):
        if c == 0:
            caption = f"input: {net.sizes[0]}"
        else:
            layer = net.layers[c - 1]
            caption = f"layer {c}: {layer.n_out} {layer.act.name}"
        out.append(
            f'<text x="{x_of[c]}" y="{base}" font-size="12" text-anchor="middle">{html.escape(caption)}</text>'
        )
    out.append(
        f'<text x="{cx}" y="{base}" font-size="12" text-anchor="middle">cost: {html.escape(net.cost.name)}</text>'
    )
    out.append("</svg>")
    bias = "each unit also adds its bias b⁽ˡ⁾ⱼ; " if any(layer.bias for layer in net.layers) else ""
    caption = (
        f"{bias}the line from unit k of layer l-1 to unit j of layer l is the weight w⁽ˡ⁾ⱼₖ"
        + ("; the numbers are the example's activations" if ex is not None else "")
    )
    return (
        f"<figure>\n{chr(10).join(out)}\n<figcaption>{html.escape(caption)}</figcaption>\n</figure>"
    )


__all__ = ["to_html", "write_html"]
