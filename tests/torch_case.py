"""What the tests of network features against PyTorch share: data a net's cost accepts, and
``nn.Linear`` layers holding a model's weights."""

from __future__ import annotations

from typing import Any

import numpy as np

import symgrad as sg


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
