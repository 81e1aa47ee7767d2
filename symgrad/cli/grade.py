"""``symgrad grade SHEET ANSWERS.toml``: each blank right or wrong, with a hint; exit status 0
when every answer is right, 1 when not, 2 for bad input."""

from __future__ import annotations

import argparse
import tomllib

from ..errors import SpecError
from ..files import read_input
from .common import EXIT_FAILED, EXIT_OK

MAX_ANSWERS_BYTES = 1 << 20


def run(args: argparse.Namespace) -> int:
    """``symgrad grade SHEET ANSWERS``."""
    from ..views.sheet import read_sheet

    ex = read_sheet(args.sheet)
    raw = read_input(args.answers, limit=MAX_ANSWERS_BYTES, what="an answers file")
    try:
        answers = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(
            f"{args.answers}: not a TOML file of answers ({exc}); write one line per blank, "
            "such as b1 = 0.25"
        ) from None
    for key, value in answers.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(
                f"{args.answers}: {key} must be a number, got {value!r}; write e.g. {key} = 0.25"
            )
    try:
        report = ex.grade(answers)
    except SpecError as exc:
        raise SpecError(f"{args.answers}: {exc}") from None
    print(report.to_text(), end="")
    return EXIT_OK if report.all_correct else EXIT_FAILED
