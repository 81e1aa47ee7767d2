"""``symgrad exercise SPEC -o sheet.html``: an exercise sheet with blanks, and its answer key."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, about, check_output, load_spec_file, write_atomic

SUFFIXES = (".html", ".tex", ".md", ".txt")


def run(args: argparse.Namespace) -> int:
    """``symgrad exercise SPEC --seed S --blanks N -o FILE``."""
    from ..views.exercise import exercise

    output = check_output(args.output, "-o", SUFFIXES, [("the spec", args.spec)])
    assert output is not None  # -o is required
    spec = load_spec_file(args.spec)
    with about(args.spec):
        ex = exercise(spec.network, args.seed, args.blanks, param=args.param, index=args.index)
    suffix = output.suffix.lower()
    text = {
        ".html": ex.to_html,
        ".tex": ex.to_latex,
        ".md": ex.to_markdown,
        ".txt": ex.to_text,
    }[suffix]()
    write_atomic(output, text.encode("utf-8"))
    p = ex.partial.partial
    entry = ", ".join(map(str, p.index))
    print(f"wrote {output}: {len(ex.blanks)} blanks in dC/d{p.name}[{entry}] (seed {args.seed})")
    return EXIT_OK
