"""What the tests of network features share: data a net's cost accepts, ``nn.Linear`` layers
holding a model's weights, and a spec taken through every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import symgrad as sg
from symgrad.cli import main


def data(net: sg.Network, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs, and one-hot rows (cross-entropy) or normal targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (rows, net.sizes[0]))
    if net.cost.name == "cross_entropy":
        return X, np.eye(net.sizes[-1])[rng.integers(0, net.sizes[-1], rows)]
    return X, rng.normal(0.0, 1.0, (rows, net.sizes[-1]))


def linears(net: sg.Network, params: dict[str, np.ndarray]) -> list[Any]:
    """One float64 ``nn.Linear`` per layer (with a bias), holding ``params``."""
    import torch

    layers = []
    for l, layer in enumerate(net.layers, start=1):
        lin = torch.nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            lin.bias.copy_(torch.from_numpy(params[f"b{l}"]))
        layers.append(lin)
    return layers


def every_command(spec: Path, capsys: Any) -> tuple[str, str]:
    """``derive --explain`` of W1[0, 0], ``check``, ``generate`` and ``train`` on ``spec``, each
    asserted to succeed: (what derive printed, the generated module's source)."""
    sample = ["--param", "W1", "--index", "0,0", "--explain", "--sample", "1,0;1"]
    assert main(["derive", str(spec), *sample]) == 0
    derived = capsys.readouterr().out
    assert main(["check", str(spec), "--no-torch"]) == 0
    module = spec.with_name("generated_module.py")
    assert main(["generate", str(spec), "-o", str(module)]) == 0
    assert main(["train", str(spec), "--no-progress"]) == 0
    capsys.readouterr()
    return derived, module.read_text()


def refused(spec: Path, capsys: Any) -> str:
    """``derive`` on a bad ``spec``: exit status 2 and one line naming the file; that line."""
    assert main(["derive", str(spec)]) == 2
    err: str = capsys.readouterr().err.strip()
    assert str(spec) in err and "\n" not in err and "Traceback" not in err
    return err
