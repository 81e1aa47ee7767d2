"""``symgrad export SPEC --weights w.npz -o model.onnx|model.py|model.h``: a trained network's
forward pass for prediction without symgrad (:mod:`symgrad.export`)."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

from .common import EXIT_OK, about, check_output, load_spec_file, write_atomic
from .derive import same_network


def run(args: argparse.Namespace) -> int:
    """``symgrad export SPEC --weights FILE -o FILE``."""
    from ..export import FORMATS, SUFFIXES, check_target, export_bytes
    from ..runtime.weights import read_weights

    inputs = [("the spec", args.spec), ("the weights file", args.weights)]
    output = check_output(args.output, "-o", SUFFIXES, inputs)
    assert output is not None  # -o is required
    check_target(output)
    spec = load_spec_file(args.spec)
    with about(f"{args.spec}: --weights"):
        saved = read_weights(args.weights)  # checked, and nothing compiled
    same_network(saved.net, spec.network, args.weights, args.spec)
    # the spec's network (the same declaration, and the spec's name) with the file's weights
    trained = SimpleNamespace(net=spec.network, params=saved.params, dtype=saved.dtype)
    data = export_bytes(trained, output.suffix, output.stem)
    write_atomic(output, data)
    suffix = output.suffix.lower()
    print(f"wrote {output}: {FORMATS[suffix]} of {spec.network.describe_layers()}, {saved.dtype}")
    return EXIT_OK
