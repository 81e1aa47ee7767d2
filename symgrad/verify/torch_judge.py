"""The PyTorch judge: autograd through the same forward pass, against symgrad's backpropagation.

Independent of the backprop representation: PyTorch differentiates the network's forward pass
(each activation's formula, softmax, the cost's formula) by itself, at random parameters and a
random batch; its gradients are set against :func:`symgrad.verify.numeric.gradients`, which reads
the representation. Used by ``check(torch=True)`` and ``symgrad check``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ..net.network import Network
from ..net.ops import a, y, z
from ..net.regularization import symbols
from . import numeric

BATCH = 4


def available() -> bool:
    """PyTorch can be imported here."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def gradients(
    net: Network, params: numeric.Params, X: Any, Y: Any, masks: numeric.Masks | None = None
) -> numeric.Params:
    """The gradient of the mean cost by PyTorch's autograd (float64); with dropout ``masks``,
    as in training."""
    import torch

    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    act = torch.tensor(X, dtype=torch.float64)
    for l, layer in enumerate(net.layers, start=1):
        zl = act @ tp[f"W{l}"].T + (tp[f"b{l}"] if layer.bias else 0.0)
        if layer.act.is_softmax:
            act = torch.softmax(zl, dim=1)
            continue
        f_z = sp.lambdify(z, _floats(layer.act.expr), "torch")(zl) + 0 * zl  # 0 * zl: constants
        if masks is not None and layer.dropout:  # inverted dropout, as torch.nn.Dropout
            f_z = f_z * torch.from_numpy(masks[l]) / (1.0 - layer.dropout)
        act = act + f_z if layer.residual else f_z  # a skip connection: a = a_prev + f(z)
    per_unit = sp.lambdify((a, y), _floats(net.cost.expr), "torch")(
        act, torch.tensor(np.asarray(Y), dtype=torch.float64)
    )
    scale = 1.0 / net.sizes[-1] if net.cost.mean_over_units else 1.0
    total = (scale * per_unit.sum(dim=1)).mean()
    reg = net.regularization
    if reg is not None:  # the penalty's formula, differentiated by autograd
        penalty = sp.lambdify(symbols(), _floats(reg.penalty()), "torch")
        for name in net.param_names:
            if reg.covers(name):
                total = total + penalty(tp[name], reg.lam).sum()
    total.backward()
    out: numeric.Params = {}
    for name, tensor in tp.items():
        assert tensor.grad is not None
        out[name] = tensor.grad.numpy()
    return out


def judge(net: Network, seed: int) -> tuple[numeric.Params, numeric.Params]:
    """``(torch's gradients, symgrad's)`` at random parameters and a random batch from ``seed``."""
    rng = np.random.default_rng(seed)
    params = numeric.init_params(net, seed)
    X = rng.normal(0.0, 1.0, (BATCH, net.sizes[0]))
    Y = numeric.random_targets(net, BATCH, rng)
    masks = numeric.random_masks(net, BATCH, rng)
    return gradients(net, params, X, Y, masks), numeric.gradients(net, params, X, Y, masks)


def _floats(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every constant subexpression a float: ``torch.sqrt(2)`` takes only a tensor."""
    return expr.replace(lambda e: e.is_number and not e.is_Atom, lambda e: e.evalf())


__all__ = ["available", "gradients", "judge"]
