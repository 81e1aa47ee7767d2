"""``symgrad exercise SPEC -o sheet.html``: an exercise sheet with blanks, and its answer key."""

from __future__ import annotations

import argparse
from typing import Any

from .common import EXIT_OK, about, check_output, load_spec_file, write_atomic

SUFFIXES = (".html", ".tex", ".md", ".txt")


def add_commands(sub: Any) -> None:
    """The ``exercise`` and ``grade`` subcommands and their options (called by
    :func:`.parser.build_parser`)."""
    from .parser import _index, _positive_int, _seed, _subparser

    p = _subparser(
        sub,
        "exercise",
        "write an exercise sheet: one partial derivative worked at an example, with blanks",
        "symgrad exercise examples/xor.toml --seed 3 --blanks 4 -o sheet.html\n"
        "symgrad exercise examples/chain.toml --param W2 -o sheet.tex",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument("--seed", type=_seed, default=0, help="the numbers and the blanks (default 0)")
    p.add_argument(
        "--blanks", type=_positive_int, default=4, help="values to leave blank (default 4)"
    )
    p.add_argument("--param", metavar="NAME", help="the parameter, e.g. W2 (default: drawn)")
    p.add_argument("--index", type=_index, metavar="I[,J]", help="its entry, e.g. 0,1")
    p.add_argument(
        "-o", "--output", metavar="FILE", required=True,
        help="the sheet: .html (hints and answers folded), .tex (answer key on its own page), "
        ".md or .txt",
    )  # fmt: skip
    p.set_defaults(run="exercise")  # symgrad.cli.exercise.run

    p = _subparser(
        sub,
        "grade",
        "grade a student's answers to an exercise sheet (exit 0: all right, 1: not all)",
        "symgrad grade sheet.html answers.toml   # answers.toml holds lines such as b1 = 0.25",
    )
    p.add_argument("sheet", metavar="SHEET", help="a sheet written by 'symgrad exercise'")
    p.add_argument("answers", metavar="ANSWERS", help="a TOML file: one line per blank, b1 = 0.25")
    p.set_defaults(run="grade")  # symgrad.cli.grade.run


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
