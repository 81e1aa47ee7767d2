"""The optimiser's step in the "unrolled" shape: every scalar parameter's update as a line.

After a batch's gradient sums (``dC_dw2_0_1``), :func:`step_lines` takes the mean and the step:
a plain step ``w <- w - k g`` folds the mean into its factor, any other optimiser's rules are
printed for each scalar parameter, its quantities named by that parameter's locals. A penalty
on the weights adds its derivative (``lam*w``) to the gradient of each parameter it covers, and
:func:`penalty_lines` sums its value for the loss.
"""

from __future__ import annotations

from ..net.network import Network
from ..net.optim import Optimizer, element_symbols
from ..net.regularization import symbols as regularization_symbols
from .comments import rule_text, text
from .penalty import derivative_code, lam_line, penalty_unit
from .printer import as_factor, hyper_locals, numba_code, unpack_lines

# an optimiser's element-wise quantities: weight, gradient, state, step count
_E = element_symbols()
w, g, m, v, t = _E["w"], _E["g"], _E["m"], _E["v"], _E["t"]

WRAP = 8
"""Names per line in the long sums the template writes over several lines."""


def grad_name(scalar: str) -> str:
    """The gradient accumulator of a scalar parameter: ``w2_0_1`` -> ``dC_dw2_0_1``."""
    return f"dC_d{scalar}"


def wrapped_sum(names: list[str]) -> list[str]:
    """``a + b + ...`` split into lines of :data:`WRAP` names (the template parenthesises)."""
    rows = [names[i : i + WRAP] for i in range(0, len(names), WRAP)]
    return [("" if i == 0 else "+ ") + " + ".join(row) for i, row in enumerate(rows)]


# --------------------------------------------------------------------------------------------
# The optimiser's step on scalars
# --------------------------------------------------------------------------------------------
def step_lines(
    opt: Optimizer, params: list[tuple[str, str, str]], net: Network
) -> dict[str, list[str]]:
    """train_epochs' lines after the sums of a batch: ``mean_step``, which takes the mean
    (``inv_b`` is 1/B), and ``optimizer_step``.

    A plain step ``w <- w - k g`` takes the mean in its factor, ``step = k/B`` once per batch:
    ``w -= step*dC_dw`` puts one multiplication less per parameter between one example's
    gradient and the next example's forward pass, which is what a batch of one waits on. A
    penalty's derivative (``lam*w``) joins the gradient of each parameter it covers.
    """
    scalars = [name for _, name, _ in params]
    k = opt.plain_step()
    reg = net.regularization
    extra = {
        name: _penalty_term(net, name) for array, name, _ in params if reg and reg.covers(array)
    }
    if k is None:
        mean = [f"{grad_name(name)} *= inv_b" for name in scalars]
        if reg is not None and extra:
            mean.append(
                f"# the {reg.what}'s derivative: dC/dw = dC_0/dw + {text(reg.derivative())}"
            )
            mean += [f"{grad_name(name)} += {term}" for name, term in extra.items()]
        return {"mean_step": mean, "optimizer_step": _update_lines(opt, scalars)}
    lines = [
        f"# {type(opt).__name__}, for every parameter: w <- w - {k}*g, g = (1/B) dC_dw:",
        f"#   w <- w - step*dC_dw, step = {k}/B",
    ]
    if reg is not None and extra:
        lines.append(f"#   and, with the {reg.what}, - {text(k * reg.derivative())}")
    lr = as_factor(numba_code(k, hyper_locals(opt)))
    steps = [
        f"{name} -= step*{grad_name(name)}" + (f" + {lr}*{extra[name]}" if name in extra else "")
        for name in scalars
    ]
    return {"mean_step": [f"step = {lr}*inv_b"], "optimizer_step": lines + steps}


def _penalty_term(net: Network, scalar: str) -> str:
    """The penalty's derivative at one scalar parameter, as code: ``lam*w1_0_1``."""
    assert net.regularization is not None
    return derivative_code(net.regularization, scalar, "lam")


def penalty_lines(net: Network, params: list[tuple[str, str, str]]) -> list[str] | None:
    """``penalty = lam*(...)``: the penalty at the parameters before a step, or None."""
    reg = net.regularization
    if reg is None:
        return None
    w_sym = regularization_symbols()[0]
    unit = penalty_unit(reg)
    terms = [numba_code(unit, {w_sym: name}) for array, name, _ in params if reg.covers(array)]
    return [
        f"# the {reg.what}, {text(reg.penalty())}, at the weights before the step",
        "penalty = lam*(",
        *(f"    {line}" for line in wrapped_sum(terms)),
        ")",
    ]


def unpack(opt: Optimizer, net: Network) -> list[str]:
    """The first lines of ``train_epochs`` (and ``train_epochs_one``): the hyperparameters its
    steps read, from the run-time array ``hyper`` into locals (the penalty's ``lam`` last)."""
    k = opt.plain_step()
    lines = (
        unpack_lines(opt, [k])
        if k is not None
        else unpack_lines(opt, [r.expr for r in opt.rules()] + [e for _, e in opt.scalars()])
    )
    if net.regularization is not None:
        lines.append(lam_line(opt))
    return lines


def plain_steps(scalars: list[str]) -> list[str]:
    """A plain step on every scalar parameter: ``w -= step*dC_dw``."""
    return [f"{name} -= step*{grad_name(name)}" for name in scalars]


def _update_lines(opt: Optimizer, scalars: list[str]) -> list[str]:
    """Each rule printed for every scalar parameter, its quantities named by that parameter's
    locals (``w2_0_1``, ``dC_dw2_0_1``, ``m_w2_0_1``...)."""
    names = {**hyper_locals(opt), t: "t", **{sym: sym.name for sym, _ in opt.scalars()}}
    lines = [f"# {type(opt).__name__}, for every parameter:"]
    lines += [f"#   {rule_text(r)}" for r in opt.rules()]
    for scalar in scalars:
        local = {**names, w: scalar, g: grad_name(scalar), m: f"m_{scalar}", v: f"v_{scalar}"}
        for r in opt.rules():
            lines.append(
                f"{local[r.target]} {'-=' if r.decrement else '='} {numba_code(r.expr, local)}"
            )
    return lines


__all__ = [
    "WRAP",
    "grad_name",
    "penalty_lines",
    "plain_steps",
    "step_lines",
    "unpack",
    "wrapped_sum",
]
