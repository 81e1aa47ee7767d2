"""An :class:`~symgrad.views.exercise.Exercise` written as a sheet: plain text, Markdown, LaTeX
(the answer key on its own page) or one self-contained HTML page (each blank's hints, one at a
time, and its answer folded in ``<details>``).

Every sheet carries its exercise's recipe (the network, the seed, the blanks) on one line marked
``symgrad-exercise``: :func:`read_sheet` finds it, and the grader rebuilds the very same exercise
from it.
"""

from __future__ import annotations

import html
import json
import os
from typing import TYPE_CHECKING

from ..errors import SpecError
from ..files import read_input
from .layout import MATH_WIDTH, TEXT_WIDTH, Chunk, Equation, Math, Paragraph, Section
from .pages import render_sections
from .teach import _equation, _example_section, number

if TYPE_CHECKING:
    from .exercise import Blank, Exercise

MARK = "symgrad-exercise"
"""The word that marks a sheet's recipe line."""
MAX_SHEET_BYTES = 4 << 20


def _box(blank: Blank) -> Chunk:
    return Chunk(f"[{blank.id}]", f"\\boxed{{\\mathrm{{{blank.id}}}}}", numbers=True)


def sections(ex: Exercise, width: int) -> list[Section]:
    """The forward pass with its numbers, then the partial's steps with the blanks."""
    m = Math(ex.explanation.derivation, {})
    pn, digits = ex.partial, ex.explanation.digits
    by_step = {b.step: b for b in ex.blanks}
    final = ex.blanks[-1]
    items: list[Paragraph | Equation] = [
        "Fill in each box: work out its value at this example, to 3 significant digits or more."
    ]
    for n, sn in enumerate(pn.steps):
        st = sn.step
        if n == 0 or st.kind in ("closed", "expanded"):  # their numbers would give blanks away
            eq = _equation(m, st.lhs, st.forms, [], None, digits, width, st.rule)
            boxes = ((_box(final),),) if n == 0 else ()
            items.append(Equation(eq.lhs, eq.rhss + boxes, eq.rule))
        elif n in by_step:
            eq = _equation(m, st.lhs, st.forms, [], None, digits, width, st.rule)
            items.append(Equation(eq.lhs, (*eq.rhss, (_box(by_step[n]),)), eq.rule))
        else:
            items.append(
                _equation(m, st.lhs, st.forms, sn.values, sn.value, digits, width, st.rule)
            )
    head = m.both(pn.steps[-1].step.lhs)
    title = Chunk(f"Find {head.text}", f"Find ${head.latex}$")
    return [
        _example_section(ex.explanation, m, width),
        Section(title, 1, tuple(items)),
    ]


def answer_lines(ex: Exercise) -> list[tuple[Blank, str]]:
    """Each blank with its answer as the key shows it."""
    return [(b, number(b.value, 6)) for b in ex.blanks]


def render(ex: Exercise, fmt: str) -> str:
    """The sheet as plain text, Markdown, or a standalone LaTeX document."""
    width = TEXT_WIDTH if fmt == "text" else MATH_WIDTH
    title = f"Exercise: backpropagation in {ex.net.describe()} (seed {ex.seed})"
    body = render_sections(title, sections(ex, width), fmt, width)
    recipe = json.dumps(ex.recipe, sort_keys=True)
    key = answer_lines(ex)
    if fmt == "text":
        lines = ["", "Answers", "-------", *(f"{b.id} = {v}" for b, v in key)]
        return f"# {MARK} {recipe}\n{body}" + "\n".join(lines) + "\n"
    if fmt == "markdown":
        lines = ["", "## Answers", "", *(f"- {b.id} = {v}" for b, v in key)]
        return f"<!-- {MARK} {recipe} -->\n{body}" + "\n".join(lines) + "\n"
    rows = " \\\\\n".join(f"\\mathrm{{{b.id}}} &= {v}" for b, v in key)
    return (
        f"% {MARK} {recipe}\n"
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\allowdisplaybreaks\n"
        f"\\begin{{document}}\n{body}\n\\newpage\n\\section*{{Answer key}}\n"
        f"\\begin{{align*}}\n{rows}\n\\end{{align*}}\n\\end{{document}}\n"
    )


def to_html(ex: Exercise) -> str:
    """One self-contained page: MathML, no script, no external file."""
    from latex2mathml.converter import convert

    from .html import STYLE, _item

    def math(tex: str) -> str:
        # a blank's box: MathML's menclose, which browsers do not draw, as a styled mrow
        mathml = str(convert(tex.strip(), display="inline"))
        return mathml.replace('<menclose notation="box">', '<mrow class="blank">').replace(
            "</menclose>", "</mrow>"
        )

    title = f"Exercise: backpropagation in {ex.net.describe()} (seed {ex.seed})"
    body = []
    for sec in sections(ex, 96):
        body.append(f"<section>\n<h2>{html.escape(sec.title.text)}</h2>")
        body += [_item(item, math) for item in sec.items]
        body.append("</section>")
    body.append("<section>\n<h2>Hints and answers</h2>")
    for b in ex.blanks:
        folds = [
            f"<details><summary>hint {n}</summary><p>{html.escape(h)}</p>"
            for n, h in enumerate(b.hints, start=1)
        ]
        folds.append(
            f"<details><summary>answer</summary><p>{html.escape(b.id)} = "
            f"{html.escape(number(b.value, 6))}</p></details>"
        )
        body.append(
            f'<div class="blank" id="{b.id}"><strong>{html.escape(b.id)}</strong> '
            + "".join(folds)
            + "</details>" * len(b.hints)
            + "</div>"
        )
    body.append("</section>")
    recipe = html.escape(json.dumps(ex.recipe, sort_keys=True), quote=False)
    page = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{STYLE}\ndiv.blank {{ margin: .6rem 0; }}\ndetails {{ margin-left: 1rem; }}\n"
        "mrow.blank { border: 1.5px solid #a40000; padding: 0 .3em; }\n</style>",
        f'<script type="application/json" id="{MARK}">{recipe}</script>',
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        *body,
        "<footer>Generated by symgrad. Grade answers with: symgrad grade SHEET ANSWERS.toml"
        "</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(page) + "\n"


def read_sheet(path: str | os.PathLike[str]) -> Exercise:
    """The exercise a sheet (any of its formats) was written from."""
    from .exercise import from_recipe

    raw = read_input(path, limit=MAX_SHEET_BYTES, what="an exercise sheet")
    text = raw.decode("utf-8", errors="replace")
    for line in text.splitlines():
        if MARK in line and "{" in line:
            start = line.index("{", line.index(MARK))
            end = line.rindex("}") + 1
            try:
                data = json.loads(html.unescape(line[start:end]))
            except ValueError:
                break
            try:
                return from_recipe(data, str(path))
            except SpecError as exc:
                raise SpecError(f"{path}: {exc}") from None
    raise SpecError(f"{path}: no exercise record found; give a sheet written by 'symgrad exercise'")


__all__ = ["MARK", "read_sheet", "render", "sections", "to_html"]
