"""``symgrad generate SPEC``: the standalone training module's source."""

from __future__ import annotations

import argparse
import sys

from .common import (
    EXIT_OK,
    about,
    check_output,
    load_spec_file,
    spec_network,
    spec_optimizer,
    write_atomic,
)


def run(args: argparse.Namespace) -> int:
    """``symgrad generate SPEC -o model.py``."""
    from ..codegen.generate import generate

    output = check_output(args.output, "-o", (".py",), inputs=[("the spec", args.spec)])
    spec = load_spec_file(args.spec)
    with about(args.spec):
        optimizer = spec_optimizer(spec, args)
        dtype = args.dtype or spec.train.dtype
        net = spec_network(spec, args)
        code = generate(net, optimizer, dtype)
    if output is None:
        sys.stdout.write(code.source)
        return EXIT_OK
    write_atomic(output, code.source.encode("utf-8"))
    print(f"wrote {output}: {net.describe()}; {optimizer.describe()}, {dtype}")
    print(
        "  standalone (numpy and numba only): forward, backward, update, train_epoch, predict, loss"
    )
    return EXIT_OK
