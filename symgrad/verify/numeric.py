"""A plain-NumPy reference: forward pass, mean cost, backprop gradients, finite differences.

Built from the network's backprop representation (:mod:`symgrad.calculus.backprop`: each
activation's forward-form derivative, the cost's, BP1's and BP2's templates), lambdified to
NumPy over whole batches. It is the numerical judge for the derivation and
the generated code, and the source of the numbers a learner plugs into the chain-rule steps.
Parameters are a dict ``{"W1": (n1, n0), "b1": (n1,), ...}``; data are batch-major.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from ..calculus.backprop import D, F, G, S, backprop
from ..errors import SpecError
from ..net.network import Network
from ..net.ops import Activation, a, y, z
from ..net.regularization import Regularization, symbols

Array = np.ndarray[Any, np.dtype[np.float64]]
Params = dict[str, Array]


def numpy_function(args: Any, expr: sp.Expr) -> Callable[..., Any]:
    """``expr`` as a function of NumPy arrays (``sympy.lambdify``, every function element-wise).

    SymPy's NumPy printer maps ``erf`` to ``math.erf``, which takes one number, not an array;
    SciPy's ``erf`` is the element-wise one.
    """
    modules: list[Any] = ["numpy"]
    if sp.sympify(expr).has(sp.erf):
        from scipy.special import erf

        modules.insert(0, {"erf": erf})
    fn: Callable[..., Any] = sp.lambdify(args, expr, modules)
    return fn


@cache
def _act_fn(act: Activation) -> Callable[[Array], Array]:
    return numpy_function(z, act.expr)


@cache
def _backprop_fns(net: Network) -> _Fns:
    """The templates of the network's backprop representation as NumPy functions."""
    bp = backprop(net)
    out = bp.output
    return _Fns(
        cost=numpy_function((a, y), out.cost),
        dC_da=numpy_function((a, y), out.dC_da),
        delta_out=numpy_function((a, y, G, S, F), out.delta),
        fprimes=tuple(numpy_function((a, z), layer.fprime) for layer in bp.layers),
        delta_hidden=tuple(numpy_function((D, F), layer.delta) for layer in bp.layers),
    )


@dataclass(frozen=True)
class _Fns:
    cost: Callable[[Array, Array], Array]
    dC_da: Callable[[Array, Array], Array]
    delta_out: Callable[..., Array]
    fprimes: tuple[Callable[[Array, Array], Array], ...]
    delta_hidden: tuple[Callable[[Array, Array], Array], ...]


def _activate(act: Activation, zl: Array) -> Array:
    if act.is_softmax:
        e = np.exp(zl - zl.max(axis=1, keepdims=True))
        out: Array = e / e.sum(axis=1, keepdims=True)
        return out
    return np.broadcast_to(_act_fn(act)(zl), zl.shape).astype(np.float64)


def init_params(net: Network, seed: int = 0, scale: float = 0.5) -> Params:
    """Random parameters, normal with standard deviation ``scale`` (for checks, not training)."""
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0.0, scale, net.param_shape(name)) for name in net.param_names}


Masks = dict[int, Array]
"""Dropout masks by layer: ``{l: (B, n_l) array of 1 (kept) and 0 (dropped)}``."""


def forward(
    net: Network, params: Params, X: Array, masks: Masks | None = None
) -> tuple[list[Array], list[Array]]:
    """``(zs, acts)``: ``zs[l-1]`` is z^(l) of shape (B, n_l); ``acts[0]`` is X, ``acts[l]`` is a^(l).

    With ``masks``, the layers with dropout drop units as in training, ``a = m f(z)/(1 - p)``;
    without, none does (as ``predict``)."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    acts, zs = [X], []
    for l, layer in enumerate(net.layers, start=1):
        zl = acts[-1] @ params[f"W{l}"].T
        if layer.bias:
            zl = zl + params[f"b{l}"]
        zs.append(zl)
        a_l = _activate(layer.act, zl)
        if masks is not None and layer.dropout:
            a_l = masks[l] * a_l / (1.0 - layer.dropout)
        acts.append(acts[-1] + a_l if layer.residual else a_l)  # a = a_prev + f(z)
    return zs, acts


def targets(net: Network, Y: Array) -> Array:
    """Targets as a float (B, n_L) array; integer class labels become one-hot rows."""
    Y = np.asarray(Y)
    n_out = net.sizes[-1]
    if Y.ndim == 1 and np.issubdtype(Y.dtype, np.integer) and n_out > 1:
        if Y.min(initial=0) < 0 or Y.max(initial=0) >= n_out:
            raise SpecError(f"class labels must lie in 0..{n_out - 1}")
        onehot: Array = np.eye(n_out)[Y]
        return onehot
    return np.asarray(Y, dtype=np.float64).reshape(-1, n_out)


def cost(
    net: Network,
    params: Params,
    X: Array,
    Y: Array,
    regularized: bool = True,
    masks: Masks | None = None,
) -> float:
    """Mean over the batch of the per-example cost C_x, plus the penalty on the weights when
    the network has one (and ``regularized``); with dropout ``masks``, as in training."""
    Y = targets(net, Y)
    aL = forward(net, params, X, masks)[1][-1]
    per_unit = np.broadcast_to(_backprop_fns(net).cost(aL, Y), aL.shape)  # scaled: mse's 1/n_L
    data = float(per_unit.sum(axis=1).mean())
    return data + penalty(net, params) if regularized else data


@cache
def _penalty_fns(reg: Regularization) -> tuple[Callable[..., Array], Callable[..., Array]]:
    """The penalty of one parameter and its derivative, as NumPy functions of ``(w, lam)``."""
    w, lam = symbols()
    return numpy_function((w, lam), reg.penalty()), numpy_function((w, lam), reg.derivative())


def penalty(net: Network, params: Params) -> float:
    """The penalty on the parameters (``lam/2 sum w^2``); 0 without one."""
    reg = net.regularization
    if reg is None:
        return 0.0
    value, _ = _penalty_fns(reg)
    return float(sum(np.sum(value(params[p], reg.lam)) for p in net.param_names if reg.covers(p)))


def deltas(
    net: Network, params: Params, X: Array, Y: Array, masks: Masks | None = None
) -> tuple[list[Array], list[Array]]:
    """``(deltas, acts)``: delta^(l) = dC_x/dz^(l) per example (BP1, BP2), and the activations."""
    Y = targets(net, Y)
    zs, acts = forward(net, params, X, masks)
    fns = _backprop_fns(net)
    aL, zL, L = acts[-1], zs[-1], net.L

    def full(values: Array) -> Array:  # a constant template gives a number: one per entry
        return np.broadcast_to(values, aL.shape)

    # BP1, as the representation forms it: the arrays of a, y, dC/da, sum_i a_i dC/da_i, f'
    g = full(fns.dC_da(aL, Y))
    coupling = (aL * g).sum(axis=1, keepdims=True)
    delta = full(fns.delta_out(aL, Y, g, coupling, fns.fprimes[L - 1](aL, zL)))
    ds = [delta]
    dC_da = None  # dC/da^(l+1), which a skip connection around layer l+1 brings down
    for l in range(L - 1, 0, -1):
        layer = net.layers[l - 1]
        f_out = acts[l]
        if layer.residual or (masks is not None and layer.dropout):  # f(z^(l)) itself
            f_out = _activate(layer.act, zs[l - 1])
        fp = np.broadcast_to(fns.fprimes[l - 1](f_out, zs[l - 1]), acts[l].shape)
        if masks is not None and layer.dropout:  # da/dz = m f'(z) / (1 - p)
            fp = masks[l] * fp / (1.0 - layer.dropout)
        back = ds[0] @ params[f"W{l + 1}"]  # sum_i w^(l+1)_ij delta^(l+1)_i
        if net.layers[l].residual:
            assert dC_da is not None
            back = back + dC_da
        dC_da = back
        ds.insert(0, np.broadcast_to(fns.delta_hidden[l - 1](back, fp), back.shape))  # BP2
    return ds, acts


def gradients(
    net: Network, params: Params, X: Array, Y: Array, masks: Masks | None = None
) -> Params:
    """Gradients of the mean batch cost by backpropagation (BP1-BP4); with dropout ``masks``,
    as in training."""
    ds, acts = deltas(net, params, X, Y, masks)
    B = acts[0].shape[0]
    grads: Params = {}
    for l, layer in enumerate(net.layers, start=1):
        grads[f"W{l}"] = ds[l - 1].T @ acts[l - 1] / B  # BP4
        if layer.bias:
            grads[f"b{l}"] = ds[l - 1].sum(axis=0) / B  # BP3
    reg = net.regularization
    if reg is not None:  # the penalty's derivative, beside the paths through z
        _, derivative = _penalty_fns(reg)
        for p in net.param_names:
            if reg.covers(p):
                grads[p] = grads[p] + derivative(params[p], reg.lam)
    return grads


def finite_differences(
    net: Network,
    params: Params,
    X: Array,
    Y: Array,
    eps: float = 1e-6,
    which: list[tuple[str, tuple[int, ...]]] | None = None,
    masks: Masks | None = None,
) -> Params:
    """Central differences of the mean cost, for every parameter entry or those in ``which``."""
    work = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    grads = {k: np.full_like(v, np.nan) for k, v in work.items()}
    entries = (
        which
        if which is not None
        else [(name, idx) for name, arr in work.items() for idx in np.ndindex(arr.shape)]
    )
    for name, idx in entries:
        old = work[name][idx]
        work[name][idx] = old + eps
        up = cost(net, work, X, Y, masks=masks)
        work[name][idx] = old - eps
        down = cost(net, work, X, Y, masks=masks)
        work[name][idx] = old
        grads[name][idx] = (up - down) / (2 * eps)
    return grads


def random_masks(net: Network, batch: int, rng: np.random.Generator) -> Masks:
    """Dropout masks of the layers with dropout, each unit kept with probability ``1 - p``."""
    return {
        l: (rng.random((batch, layer.n_out)) >= layer.dropout).astype(np.float64)
        for l, layer in enumerate(net.layers, start=1)
        if layer.dropout
    }


def random_targets(net: Network, batch: int, rng: np.random.Generator) -> Array:
    """Targets a cost accepts: one-hot rows for cross-entropy, values in (0, 1) for log costs."""
    n = net.sizes[-1]
    if net.layers[-1].act.is_softmax and net.cost.needs_probability:
        return np.eye(n)[rng.integers(0, n, batch)]
    if net.cost.needs_probability:
        return rng.uniform(0.05, 0.95, (batch, n))
    return rng.normal(0.0, 1.0, (batch, n))
