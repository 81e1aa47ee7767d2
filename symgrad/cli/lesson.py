"""``symgrad lesson SPEC --data xor|FILE --steps 5 -o lesson.html``: a page that steps through a
few steps of gradient descent, forward, backward and update (:func:`symgrad.views.lesson.lesson`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import SpecError
from .common import EXIT_OK, about, check_output, data_input, load_spec_file, write_atomic


def add_command(sub: Any) -> None:
    """The ``lesson`` subcommand and its options (called by :func:`.parser.build_parser`)."""
    from .parser import _positive_float, _positive_int, _seed, _subparser

    p = _subparser(
        sub,
        "lesson",
        "write a page that steps through gradient descent: forward, backward, update",
        "symgrad lesson examples/xor.toml --data xor --steps 5 -o lesson.html\n"
        "symgrad lesson net.toml --data points.csv --steps 10 --lr 0.5 --seed 1 -o lesson.html",
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec file")
    p.add_argument(
        "--data", metavar="FILE|NAME",
        help="a .csv or .npz file, or xor, linreg, digits, iris (default: the spec's [train] "
        "data); more than 300 rows are sampled (seeded)",
    )  # fmt: skip
    p.add_argument("--targets", metavar="COLS", help="CSV target columns, as for 'symgrad train'")
    p.add_argument(
        "--steps", type=_positive_int, default=5, help="training steps, one row each (default 5)"
    )
    p.add_argument(
        "--lr", type=_positive_float, default=0.1, help="learning rate of w <- w - lr dC/dw (0.1)"
    )
    p.add_argument("--seed", type=_seed, default=0, help="initial weights and sampling (default 0)")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the page: lesson.html")
    p.set_defaults(run="lesson")  # symgrad.cli.lesson.run


def run(args: argparse.Namespace) -> int:
    """``symgrad lesson SPEC``."""
    from ..io.data import load_data
    from ..views.lesson import lesson

    output = check_output(
        args.output,
        "-o",
        (".html", ".htm"),
        [("the spec", args.spec), ("the data file", data_input(args.data))],
    )
    assert output is not None  # -o is required
    spec = load_spec_file(args.spec)
    net = spec.network
    source = args.data or spec.data_source()
    if source is None:
        raise SpecError(
            f'{args.spec}: no data; give --data FILE|NAME, or add [train] data = "..." to the spec'
        )
    ds = load_data(source, network=net, targets=args.targets or spec.train.targets, seed=args.seed)
    with about(args.spec):
        page = lesson(net, ds.X, ds.Y, steps=args.steps, lr=args.lr, seed=args.seed)
    for note in page.notes:
        print(f"note       {note}")
    write_atomic(output, page.to_html().encode("utf-8"))
    costs = page.costs
    print(
        f"wrote {output} ({len(page.steps)} steps of gradient descent, lr {args.lr:g}, on "
        f"{len(page.X)} rows of {ds.name}: mean cost {costs[0]:.4g} -> {costs[-1]:.4g}; "
        f"{len(page.frames)} views)"
    )
    return EXIT_OK
