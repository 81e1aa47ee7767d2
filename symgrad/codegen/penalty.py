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
from ..net.optim import Optimizer
from ..net.regularization import Regularization
from ..net.regularization import symbols as regularization_symbols
from .comments import text
from .printer import numba_code, number


def penalty_unit(reg: Regularization) -> sp.Expr:
    """The penalty of one parameter ``w`` over ``lam`` (``w**2/2``): what a sum adds up."""
    return sp.cancel(reg.penalty() / regularization_symbols()[1])


def derivative_code(reg: Regularization, w: str, lam: str) -> str:
    """The penalty's derivative as code, its parameter and strength named ``w`` and ``lam``."""
    w_sym, lam_sym = regularization_symbols()
    return numba_code(reg.derivative(), {w_sym: w, lam_sym: lam})


def lam_line(opt: Optimizer) -> str:
    """``lam = hyper[n]``: the penalty's strength, after the optimiser's values in ``hyper``."""
    return f"lam = hyper[{len(opt.settings())}]"


def penalty_data(net: Network, opt: Optimizer) -> dict[str, Any] | None:
    """The penalty on the weights as code, or None. Its derivative joins the gradient in the
    optimiser's step (``gi = g[i] + decay*w[i]``, one multiply-add per entry), and the step
    sums the penalty of the weights it reads (what the loss of a batch adds): ``backward`` and
    ``gradients`` stay those of the data cost C_0. ``decay`` is ``lam`` (the run-time value
    after the optimiser's in ``hyper``) for the arrays it covers, else 0."""
    reg = net.regularization
    if reg is None:
        return None
    w_sym = regularization_symbols()[0]
    unit = penalty_unit(reg)
    return {
        "what": reg.what,
        "name": reg.name,
        "formula": f"g + {text(reg.derivative())}",
        "grad_code": f"{derivative_code(reg, 'w[i]', 'decay')} + g[i]",
        "penalty_code": numba_code(unit, {w_sym: "w[i]"}),
        "penalty_formula": text(reg.penalty()),
        "penalty_unit": text(unit),
        "unpack": lam_line(opt),
        "decay": {p: "lam" if reg.covers(p) else number("0.0") for p in net.param_names},
        "biases": reg.biases,
    }


def canonical(net: Network) -> Network:
    """``net`` with its penalty's ``lam`` 0: what the cache's copy of its module declares."""
    reg = net.regularization
    if reg is None or reg.lam == 0:
        return net
    return dataclasses.replace(net, regularization=dataclasses.replace(reg, lam=0.0))


__all__ = ["canonical", "derivative_code", "lam_line", "penalty_data", "penalty_unit"]
