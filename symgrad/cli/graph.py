"""``symgrad derive SPEC --graph -o graph.svg|graph.dot|graph.tex``: the computation graph, with
the paths of ``--param`` (``--index``) highlighted and the numbers of ``--sample``."""

from __future__ import annotations

import argparse

from ..errors import SpecError
from .common import EXIT_OK, about, check_output, load_spec_file, write_atomic

FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot", ".tex": "tikz"}
"""The output's suffix picks the format."""


def run(args: argparse.Namespace) -> int:
    """``symgrad derive SPEC --graph``."""
    from ..calculus.derivation import derive
    from ..views.graph import graph
    from .derive import example

    output = check_output(
        args.output,
        "-o",
        tuple(FORMATS),
        inputs=[("the spec", args.spec), ("the weights file", args.weights)],
    )
    if output is None:
        raise SpecError(
            f"{args.spec}: --graph writes a file: add -o graph.svg, graph.dot or graph.tex"
        )
    others = [
        option
        for option, given in (
            ("--explain", args.explain),
            ("--format", args.format is not None),
            ("--layer", args.layer is not None),
            ("--expand", args.expand),
        )
        if given
    ]
    if others:
        raise SpecError(
            f"{args.spec}: {', '.join(others)} is not for --graph (the -o suffix picks the format)"
        )
    if args.index is not None and args.param is None:
        raise SpecError(
            f"{args.spec}: --index selects one entry of an array; give --param too, e.g. --param W1"
        )
    if args.weights is not None and args.sample is None:
        raise SpecError(f"{args.spec}: --weights gives the numbers of --sample; add --sample 'X;Y'")
    net = load_spec_file(args.spec).network
    param = None
    if args.param is not None:
        with about(f"{args.spec}: --param"):
            net.layer_of(args.param)
        param = (args.param, *args.index) if args.index is not None else args.param
        if args.index is not None:
            with about(f"{args.spec}: --index"):
                derive(net).symbol(args.param, *args.index)
    sample, params = None, None
    if args.sample is not None:
        x, y, params = example(args, net)
        sample = (x, y)
    with about(args.spec):
        g = graph(net, param=param, sample=sample, params=params)
    fmt = FORMATS[output.suffix.lower()]
    text = g.to_svg() if fmt == "svg" else g.to_dot() if fmt == "dot" else g.to_tikz(document=True)
    write_atomic(output, text.encode("utf-8"))
    how = "layers" if g.collapsed else "units"
    paths = f"{len(g.paths)} path{'' if len(g.paths) == 1 else 's'}"
    print(f"wrote {output} ({fmt}: {len(g.nodes)} nodes by {how}, {paths})")
    return EXIT_OK
