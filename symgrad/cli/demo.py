"""``symgrad demo``: the chain rule on 3Blue1Brown's 1-1-1-1 net, then a digits classifier trained."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from ..errors import SpecError
from .common import (
    EXIT_OK,
    report_fit,
    since_start,
)


def run(args: argparse.Namespace) -> int:
    """``symgrad demo``: the chain rule on 3Blue1Brown's 1-1-1-1 net, then a digits classifier."""
    from ..calculus.derivation import derive
    from ..codegen.generate import generate
    from ..io.data import load_data
    from ..net.network import Network
    from ..net.optim import Adam
    from ..views.layout import TextNotation

    out_dir = Path(args.out) if args.out else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise SpecError(
            f"{args.out}: --out must be a folder, and this is a file; give a folder name"
        )
    chain = Network.mlp(
        [1, 1, 1, 1], hidden="sigmoid", output="sigmoid", cost="quadratic", name="chain"
    )
    print(
        "Part 1. 3Blue1Brown's chain: one neuron per layer, x -> a^(1) -> a^(2) -> a^(3), "
        "cost C = (a^(3)_0 - y_0)**2."
    )
    print("Each partial derivative is a product of local derivatives, one per link of the chain.\n")
    print(derive(chain).to_text(param="W1", equations=False))

    net = Network.mlp(
        [64, 16, 10], hidden="tanh", output="softmax", cost="cross_entropy", name="digits_demo"
    )
    ds = load_data("digits", network=net)
    optimizer = Adam(lr=0.01)
    print(f"Part 2. A classifier of the built-in digits: {ds.description}.")
    print(f"network    {net.describe()}")
    d = derive(net)
    example = d.partial(f"W{net.L}", 0, 0)  # the same chain rule, at the output layer
    shown = TextNotation(d.sym.meta)
    n_params = sum(math.prod(net.param_shape(p)) for p in net.param_names)
    print(
        f"derived    {n_params} partial derivatives, e.g. "
        f"{shown.doprint(example.steps[-1].lhs)} = {shown.doprint(example.expr)},"
    )
    print("           vectorised as BP1-BP4 in the generated code")
    code = generate(net, optimizer, "float64")
    print(
        f"generated  {code.source.count(chr(10))} lines of Python ({code.shape} shape); "
        "Numba compiles them on the first epoch"
    )
    started = time.perf_counter()
    model = code.compile()
    model.init(seed=0)
    model.fit(
        ds.X,
        ds.Y,
        epochs=args.epochs,
        batch_size=32,
        shuffle=True,
        seed=0,
        progress=False if args.no_progress else None,
    )
    print(
        f"trained    {args.epochs} epochs, batch 32, {optimizer.describe()}: "
        f"{time.perf_counter() - started:.1f} s, compiling included"
    )
    for line in report_fit(model, ds):
        print(line)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        module_path = code.write(out_dir / f"{net.name}.py")
    else:
        module_path = code.cache_path()
    print(f"module     {module_path}")
    print(
        f"done in {since_start():.1f} s. Next: symgrad derive SPEC, symgrad train SPEC --data NAME"
    )
    return EXIT_OK
