"""``symgrad derive SPEC``: the derivation in text, Markdown, LaTeX or HTML, with one
example's numbers on request (``--explain``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import SpecError
from .common import (
    EXIT_OK,
    about,
    check_output,
    load_spec_file,
    write_atomic,
)


def run(args: argparse.Namespace) -> int:
    """``symgrad derive SPEC``."""
    if args.graph:  # the computation graph (symgrad.cli.graph)
        from .graph import run as run_graph

        return run_graph(args)
    from ..calculus.derivation import derive

    output = check_output(
        args.output, "-o", inputs=[("the spec", args.spec), ("the weights file", args.weights)]
    )
    spec = load_spec_file(args.spec)
    fmt = args.format
    if fmt is None:
        suffix = output.suffix.lower() if output is not None else ""
        fmt = {".md": "markdown", ".tex": "latex", ".html": "html", ".htm": "html"}.get(
            suffix, "text"
        )
    if args.explain and args.sample is None:
        raise SpecError(
            f"{args.spec}: --explain needs one example: add --sample 'X;Y', e.g. '0.5,1;1'"
        )
    if args.sample is not None and not args.explain:
        raise SpecError(f"{args.spec}: --sample is for --explain; add --explain")
    if args.local_steps and args.explain and fmt != "html":
        raise SpecError(
            f"{args.spec}: --local-steps with --explain is shown in HTML only; add --format html, "
            "or leave out --explain"
        )
    if args.index is not None and args.param is None:
        raise SpecError(
            f"{args.spec}: --index selects one entry of an array; give --param too, e.g. --param W2"
        )
    options: dict[str, Any] = {
        "param": args.param,
        "layer": args.layer,
        "index": args.index,
        "expand": args.expand,
        "equations": not args.no_equations,
        "max_partials": args.max_partials,
        "advice": "cli",
        "local_steps": args.local_steps,
    }
    net = spec.network
    if args.param is not None:
        with about(f"{args.spec}: --param"):
            net.layer_of(args.param)
    if args.layer is not None and args.layer > net.L:
        raise SpecError(
            f"{args.spec}: --layer: layer {args.layer} does not exist; this network has layers 1..{net.L}"
        )
    d = derive(net)
    if args.index is not None:
        with about(f"{args.spec}: --index"):
            d.symbol(args.param, *args.index)
    explanation = explained(args, d) if args.explain else None
    with about(f"{args.spec}: --expand" if args.expand else args.spec):
        if fmt == "html":
            from ..views.html import to_html

            text = to_html(d, explanation, **options)
        elif explanation is not None:
            if fmt == "text":
                text = explanation.to_text()
            elif fmt == "markdown":
                text = explanation.to_markdown()
            else:
                document = args.document or (output is not None and output.suffix.lower() == ".tex")
                text = explanation.to_latex(document=document)
        elif fmt == "text":
            text = d.to_text(**options)
        elif fmt == "markdown":
            text = d.to_markdown(**options)
        else:
            document = args.document or (output is not None and output.suffix.lower() == ".tex")
            text = d.to_latex(document=document, **options)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text.encode("utf-8"))
        print(f"wrote {output} ({fmt}, {text.count(chr(10))} lines)")
    return EXIT_OK


def explained(args: argparse.Namespace, d: Any) -> Any:
    """``derive --explain``: the numbers of the ``--sample`` example in every step."""
    from ..views.teach import explain

    x, y, params = example(args, d.net)
    with about(f"{args.spec}: --sample"):
        return explain(
            d,
            x,
            y,
            params,
            param=args.param,
            layer=args.layer,
            index=args.index,
            max_partials=args.max_partials,
            advice="cli",
        )


def example(args: argparse.Namespace, net: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The ``--sample`` example ``(x, y)`` checked against ``net``, and the parameters:
    ``--weights``, else random from ``--seed``."""
    import numpy as np

    from ..verify import numeric

    where = f"{args.spec}: --sample"
    parts = args.sample.split(";")
    if len(parts) != 2:
        raise SpecError(f"{where}: write inputs, then targets, separated by ';', e.g. '0.5,1;1'")
    try:
        x = [float(v) for v in parts[0].split(",")]
        y = [float(v) for v in parts[1].split(",")]
    except ValueError:
        raise SpecError(
            f"{where}: {args.sample!r} is not a list of numbers, e.g. '0.5,1;1'"
        ) from None
    if not all(np.isfinite(x + y)):
        raise SpecError(f"{where}: the numbers must be finite")
    if len(x) != net.sizes[0]:
        raise SpecError(f"{where}: {len(x)} inputs given, the network takes {net.sizes[0]}")
    if len(y) == 1 and net.sizes[-1] > 1 and net.layers[-1].act.is_softmax:
        label = y[0]
        if label != int(label) or not 0 <= label < net.sizes[-1]:
            raise SpecError(f"{where}: class label {label:g} must be one of 0..{net.sizes[-1] - 1}")
        y = list(np.eye(net.sizes[-1])[int(label)])
    if len(y) != net.sizes[-1]:
        raise SpecError(f"{where}: {len(y)} targets given, the network has {net.sizes[-1]} outputs")
    if args.weights is not None:
        from ..runtime.model import read_weights

        with about(f"{args.spec}: --weights"):
            saved = read_weights(args.weights)  # checked, and nothing compiled
        same_network(saved.net, net, args.weights, args.spec)
        params = {k: np.asarray(v, dtype=np.float64) for k, v in saved.params.items()}
    else:
        params = numeric.init_params(net, args.seed)
    return np.array(x), np.array(y), params


def same_network(saved: Any, net: Any, weights: str, spec: str) -> None:
    """Weights are for the spec's network when the whole declaration is the same but the name:
    sizes, activations, biases, cost and their formulas."""
    theirs = {k: v for k, v in saved.to_dict().items() if k != "name"}
    ours = {k: v for k, v in net.to_dict().items() if k != "name"}
    differ = [key for key in ours.keys() | theirs.keys() if ours.get(key) != theirs.get(key)]
    if differ:
        order = list(ours) + [key for key in theirs if key not in ours]
        what = "; ".join(
            f"{key} {theirs.get(key)!r} in the weights, {ours.get(key)!r} in the spec"
            for key in sorted(differ, key=order.index)
        )
        raise SpecError(
            f"{weights}: these weights are for another network than {spec} ({what}); "
            "give weights saved for this spec (symgrad train SPEC --save FILE)"
        )
