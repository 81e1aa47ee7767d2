"""A trained network as a ``torch.nn.Sequential`` with its weights copied, in its dtype.

Each layer is an ``nn.Linear`` and its activation: torch's own module for a built-in
(``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``, ``nn.LeakyReLU(0.01)``, ``nn.ELU``, ``nn.Softplus``,
``nn.SiLU``, ``nn.Softmax(dim=-1)``; identity adds none), a :class:`~symgrad.export.torch_nn.Formula`
for a user formula. A residual layer is a :class:`~symgrad.export.torch_nn.Residual` around the
two; dropout, which drops nothing at prediction, adds no module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SpecError
from ..net.network import Network
from .lowering import LEAKY_SLOPE, elementwise, native

INSTALL = "pip install 'symgrad[torch]'"


def need_torch() -> Any:
    """The ``torch`` module, or a SpecError saying which extra to install."""
    try:
        import torch
    except ImportError:
        raise SpecError(f"to_torch() needs PyTorch: {INSTALL}") from None
    return torch


def to_torch(net: Network, params: dict[str, Any], dtype: np.dtype[Any]) -> Any:
    """The network as ``torch.nn.Sequential`` holding ``params``, in ``dtype``."""
    torch = need_torch()
    from torch import nn

    from .torch_nn import Formula, Residual

    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    # nn.Softplus returns u itself beyond its threshold: 20 leaves exp(-20) out, below float32's
    # rounding of u but not float64's; exp(-40) is below both
    threshold = 20.0 if dtype == np.float32 else 40.0
    builtins: dict[str, Any] = {
        "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU,
        "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE), "elu": lambda: nn.ELU(alpha=1.0),
        "softplus": lambda: nn.Softplus(threshold=threshold),
        "softmax": lambda: nn.Softmax(dim=-1),
    }  # fmt: skip
    modules: list[Any] = []
    for l, layer in enumerate(net.layers, start=1):
        linear = nn.Linear(layer.n_in, layer.n_out, bias=layer.bias, dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.asarray(params[f"W{l}"], dtype=dtype)))
            if layer.bias:
                linear.bias.copy_(torch.from_numpy(np.asarray(params[f"b{l}"], dtype=dtype)))
        parts: list[Any] = [linear]
        act = layer.act
        name = native(act)
        if name in builtins:
            parts.append(builtins[name]())
        elif name != "identity":
            tree = elementwise(act)
            assert tree is not None
            parts.append(Formula(act.name, act.formula or str(act.expr), tree, threshold))
        modules += [Residual(nn.Sequential(*parts))] if layer.residual else parts
    return nn.Sequential(*modules)


__all__ = ["need_torch", "to_torch"]
