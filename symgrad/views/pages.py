"""A document's sections written out as plain text, Markdown or LaTeX: the explained steps of
:mod:`symgrad.views.teach` and the exercise sheets of :mod:`symgrad.views.exercise` alike."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from .layout import (
    Equation,
    Section,
    heading,
    latex_escape,
    latex_rows,
    rule_latex,
    rule_markdown,
    rule_text,
    text_equation,
)


def render_sections(title: str, secs: Sequence[Section], fmt: str, width: int) -> str:
    """Sections under a title in ``fmt``: "text", "markdown" or "latex" (a document's body)."""
    if fmt == "text":
        out = [title, "=" * len(title)]
    elif fmt == "markdown":
        out = [f"# {title}"]
    else:
        out = [f"\\section*{{{latex_escape(title)}}}"]
    for sec in secs:
        out.append("")
        out += heading(sec, fmt)
        rows: list[str] = []  # equations without a rule of their own share one block
        for item in sec.items:
            rule = item if not isinstance(item, Equation) else item.rule
            if fmt == "text":
                margin = "" if not isinstance(item, Equation) else "  # "
                if rule:
                    out += textwrap.wrap(rule_text(rule), width, initial_indent=margin,
                                         subsequent_indent=margin, break_on_hyphens=False)  # fmt: skip
                if isinstance(item, Equation):
                    out += text_equation(item.lhs, item.rhss, width, "  ")
                continue
            if rule or not isinstance(item, Equation):
                out += _block(rows, fmt)
                rows = []
                text = rule_markdown(rule) if fmt == "markdown" else rule_latex(rule)
                out += [
                    "",
                    text
                    if not isinstance(item, Equation)
                    else f"*{text}*"
                    if fmt == "markdown"
                    else text,
                ]
            if isinstance(item, Equation):
                rows += latex_rows(item.lhs, item.rhss, width)
        out += _block(rows, fmt)
    return "\n".join(out) + "\n"


def _block(rows: list[str], fmt: str) -> list[str]:
    """Aligned rows as a Markdown ``$$`` block or a LaTeX ``align*`` (nothing for no rows)."""
    if not rows:
        return []
    if fmt == "markdown":
        return ["", "$$", "\\begin{aligned}", " \\\\\n".join(rows), "\\end{aligned}", "$$"]
    return ["\\begin{align*}", " \\\\\n".join(rows), "\\end{align*}"]


__all__ = ["render_sections"]
