"""A penalty on the weights in the generated module: its derivative and its value as code.

The optimiser's step takes the penalty's derivative with the gradient (``gi = g[i] +
decay*w[i]``); ``_penalty`` sums its value for the loss. ``lam`` is a run-time value, the last of
the array ``hyper``, so the cache's copy of a module declares ``lam`` 0 (:func:`canonical`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sympy as sp

from ..net.network import Network
from ..net.optim import Optimizer, element_symbols
from ..net.regularization import symbols as regularization_symbols
from .comments import text
from .printer import numba_code, number

g = element_symbols()["g"]


def penalty_data(net: Network, opt: Optimizer) -> dict[str, Any] | None:
    """The penalty on the weights as code, or None. Its derivative joins the gradient in the
    optimiser's step (``gi = g[i] + decay*w[i]``, one multiply-add per entry), and the step
    sums the penalty of the weights it reads (what the loss of a batch adds): ``backward`` and
    ``gradients`` stay those of the data cost C_0. ``decay`` is ``lam`` (the run-time value
    after the optimiser's in ``hyper``) for the arrays it covers, else 0."""
    reg = net.regularization
    if reg is None:
        return None
    w_sym, lam_sym = regularization_symbols()
    derivative, penalty = reg.derivative(), sp.cancel(reg.penalty() / lam_sym)
    return {
        "what": reg.what,
        "name": reg.name,
        "formula": f"g + {text(derivative)}",
        "grad_code": numba_code(g + derivative, {g: "g[i]", w_sym: "w[i]", lam_sym: "decay"}),
        "penalty_code": numba_code(penalty, {w_sym: "w[i]"}),
        "penalty_formula": text(reg.penalty()),
        "penalty_unit": text(penalty),
        "unpack": f"lam = hyper[{len(opt.settings())}]",
        "decay": {p: "lam" if reg.covers(p) else number("0.0") for p in net.param_names},
        "biases": reg.biases,
        "derivative": derivative,
        "penalty": penalty,
    }


def canonical(net: Network) -> Network:
    """``net`` with its penalty's ``lam`` 0: what the cache's copy of its module declares."""
    reg = net.regularization
    if reg is None or reg.lam == 0:
        return net
    return dataclasses.replace(net, regularization=dataclasses.replace(reg, lam=0.0))


__all__ = ["canonical", "penalty_data"]
