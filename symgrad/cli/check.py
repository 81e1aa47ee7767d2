"""``symgrad check SPEC``: the derivation against sympy.diff, finite differences and PyTorch."""

from __future__ import annotations

import argparse
import sys

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    about,
    load_spec_file,
)


def run(args: argparse.Namespace) -> int:
    """``symgrad check SPEC``."""
    from ..calculus.derivation import derive

    spec = load_spec_file(args.spec)
    net = spec.network
    print(f"checking   {net.describe()}")
    with about(args.spec):
        d = derive(net)
        report = d.check(
            symbolic=args.symbolic,
            numeric_points=args.points,
            seed=args.seed,
            tolerance=args.tolerance,
            torch=False if args.no_torch else None,  # None: when PyTorch is installed
        )
    print(report.table())
    if not report.ok:
        worst = report.worst()
        where = f" at {worst.label} ({worst.method})" if worst is not None and not worst.ok else ""
        print(f"symgrad: check failed{where}", file=sys.stderr)
        return EXIT_FAILED
    print("all checks passed")
    return EXIT_OK
