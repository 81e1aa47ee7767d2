"""Template data of the "unrolled" shape: every unit and every weight a scalar line of code.

For tiny networks the generated module handles one example at a time with the parameters held
in scalar locals (``w2_0_1`` is ``W2[0, 1]``), so there are no arrays to index and no calls into
BLAS. The lines come from the derivation's own quantities (:meth:`Derivation.delta_out`,
:meth:`Derivation.fprime`, the placeholder names ``dC/dz2_0``): BP1 and BP2 give the per-unit
deltas, shared terms are factored out by ``sympy.cse``, and BP3/BP4 accumulate the gradient of
each parameter, each step headed by its equation. The lines are :class:`~symgrad.codegen.ir.Line`
objects that know what they read, so the assignments no later line needs are dropped without
reading any text; :func:`unrolled_data` prints them and ``templates/unrolled.py.jinja`` places
them in the functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sympy as sp

from ..calculus.backprop import BELOW, FUSED, JACOBIAN, cost_scale, output_kind
from ..calculus.derivation import Derivation, derive
from ..net.network import Network
from ..net.ops import a as A_SYM
from ..net.ops import y as Y_SYM
from ..net.ops import z as Z_SYM
from ..net.optim import Optimizer
from .comments import bp_comments, text
from .ir import Line, assign, code, comment, live, printed
from .printer import as_factor, hyper_locals, numba_code, number, stabilise
from .unrolled_step import grad_name, penalty_lines, plain_steps, step_lines, unpack, wrapped_sum


def unrolled_data(net: Network, opt: Optimizer) -> dict[str, Any]:
    """The lines of the unrolled module of ``net`` trained by ``opt`` (see the module docstring)."""
    d = derive(net)
    params = _scalar_params(net)
    state = [(f"{s}_{name}", f"{s}_{entry}") for s in opt.state for _, name, entry in params]
    inputs = [code(f"x_{k}", "=", f"X[r, {k}]", ["X", "r"]) for k in range(net.sizes[0])]
    targets = [code(f"y_{j}", "=", f"Y[r, {j}]", ["Y", "r"]) for j in range(net.sizes[-1])]
    L = net.L
    outputs = [
        code(f"out[r, {j}]", "=", f"a{L}_{j}", ["out", "r", f"a{L}_{j}"])
        for j in range(net.sizes[-1])
    ]
    forward, cost, backward = _forward_lines(net), _cost_lines(net), _backward_lines(d)
    names = [name for _, name, _ in params]
    dropout = any(layer.dropout for layer in net.layers)
    # while training, dropout's masks are drawn (train_epochs) or given (dropout_gradients)
    drawn, given = _forward_lines(net, masks="draw"), _forward_lines(net, masks="given")
    trained = _backward_lines(d, train=True)
    return {
        "load_params": [f"{name} = {entry}" for _, name, entry in params],
        "store_params": [f"{entry} = {name}" for _, name, entry in params],
        "load_state": [f"{scalar} = {entry}" for scalar, entry in state],
        "store_state": [f"{entry} = {scalar}" for scalar, entry in state],
        "predict": _live(inputs + forward + outputs),
        "loss": _live(inputs + targets + forward + cost),
        "backward": _live(inputs + targets + forward + backward),
        "train": _live(inputs + targets + (drawn if dropout else forward) + cost + trained),
        "dropout_gradients": _live(inputs + targets + given + trained) if dropout else None,
        "masks": [f"M{l}" for l, layer in enumerate(net.layers, 1) if layer.dropout],
        "zero_grads": [f"{grad_name(name)} = {number('0.0')}" for _, name, _ in params],
        "mean_grads": [f"{grad_name(name)} *= inv_b" for _, name, _ in params],
        "store_grads": [f"d{entry} = {grad_name(name)}" for _, name, entry in params],
        **step_lines(opt, params, net),
        "unpack": unpack(opt, net),
        "one": _one_lines(net, d, opt, names, targets, cost),
        "penalty": penalty_lines(net, params),
        "params_sum": wrapped_sum(names),
        "n_scalars": len(params),
    }


def _live(lines: list[Line]) -> list[str]:
    """The lines of one example's work that matter, printed: what a block leaves behind is in
    the gradient sums (``dC_d...``), ``total`` and array entries (``out[r, j]``); an assignment
    to another name that no later line reads is dead (e.g. ``a2_0`` when the cost is written in
    ``z2_0``), see :func:`~symgrad.codegen.ir.live`."""
    return printed(live(lines, _is_result))


def _is_result(target: str) -> bool:
    return target.startswith("dC_d") or target == "total" or not target.isidentifier()


def _scalar_params(net: Network) -> list[tuple[str, str, str]]:
    """``(array, scalar, array entry)`` of every parameter: ``("W2", "w2_0_1", "W2[0, 1]")``."""
    out = []
    for l, layer in enumerate(net.layers, start=1):
        for j in range(layer.n_out):
            out += [(f"W{l}", f"w{l}_{j}_{k}", f"W{l}[{j}, {k}]") for k in range(layer.n_in)]
        if layer.bias:
            out += [(f"b{l}", f"b{l}_{j}", f"b{l}[{j}]") for j in range(layer.n_out)]
    return out


# --------------------------------------------------------------------------------------------
# Forward and cost
# --------------------------------------------------------------------------------------------
def _forward_lines(net: Network, first_z: bool = True, masks: str | None = None) -> list[Line]:
    """One example's forward pass; without ``first_z`` it starts from ``z1_j`` already set. With
    ``masks``, dropout as in training: each mask ``"draw"``n, or ``"given"`` in ``M{l}[r, j]``
    (``m / (1 - p)``)."""
    lines: list[Line] = []
    prev = [f"x_{k}" for k in range(net.sizes[0])]
    for l, layer in enumerate(net.layers, start=1):
        act = layer.act
        below = "x_k" if l == 1 else f"a{l - 1}_k"
        bias = f" + b{l}_j" if layer.bias else ""
        shown = "softmax(z)_j" if act.is_softmax else text(act.expr)
        if layer.residual:
            shown = f"{below[:-2]}_j + {shown}"
        lines += comment(
            f"layer {l}: z{l}_j = sum_k w{l}_j_k*{below}{bias}, a{l}_j = {act.name}(z{l}_j) = {shown}"
        )
        for j in range(layer.n_out):
            if first_z or l > 1:
                lines.append(_z_line(net, l, j, prev))
            if not act.is_softmax and masks and layer.dropout:  # a = [a_prev +] m f(z)/(1 - p)
                if j == 0:
                    lines += comment(
                        f"dropout: a{l}_j = {'a_prev + ' * layer.residual}m*f(z)/(1 - p)"
                    )
                f, m = f"f{l}_{j}", f"mask{l}_{j}"
                lines.append(assign(f, act.expr, names={Z_SYM: f"z{l}_{j}"}))
                if masks == "draw":
                    keep, p = number(repr(1.0 / (1.0 - layer.dropout))), number(repr(layer.dropout))
                    draw = f"{keep} if np.random.random() >= {p} else {number('0.0')}"
                    lines.append(code(m, "=", draw, ["np"]))
                else:
                    lines.append(code(m, "=", f"M{l}[r, {j}]", [f"M{l}", "r"]))
                below = f"{prev[j]} + " if layer.residual else ""
                reads = [f, m, *([prev[j]] if layer.residual else [])]
                lines.append(code(f"a{l}_{j}", "=", f"{below}{f}*{m}", reads))
            elif not act.is_softmax and layer.residual:  # a = a_prev + f(z)
                value = act.expr + BELOW
                lines.append(assign(f"a{l}_{j}", value, names={Z_SYM: f"z{l}_{j}", BELOW: prev[j]}))
            elif not act.is_softmax:
                lines.append(assign(f"a{l}_{j}", act.expr, names={Z_SYM: f"z{l}_{j}"}))
        if act.is_softmax:
            zs = [f"z{l}_{j}" for j in range(layer.n_out)]
            outs = [f"a{l}_{j}" for j in range(layer.n_out)]
            lines += comment("softmax shifted by max_j z_j, so that exp cannot overflow")
            lines.append(code("z_max", "=", f"max({', '.join(zs)})", zs))
            lines += [
                code(a, "=", f"_exp({z} - z_max)", [z, "z_max"])
                for a, z in zip(outs, zs, strict=True)
            ]
            lines.append(code("sum_exp", "=", " + ".join(outs), outs))
            lines += [code(a, "/=", "sum_exp", ["sum_exp"]) for a in outs]
        prev = [f"a{l}_{j}" for j in range(layer.n_out)]
    return lines


def _z_line(
    net: Network, l: int, j: int, below: list[str], less: tuple[str, str] | None = None
) -> Line:
    """``z{l}_{j} = w{l}_{j}_0*below[0] + ... + b{l}_{j}``: unit j of layer l on the values below,
    less the product of the two names ``less`` (``("q", "delta1_0")``)."""
    layer = net.layers[l - 1]
    weights = [f"w{l}_{j}_{k}" for k in range(layer.n_in)]
    terms = [f"{w}*{below[k]}" for k, w in enumerate(weights)]
    reads = [*weights, *below[: layer.n_in]]
    if layer.bias:
        terms.append(f"b{l}_{j}")
        reads.append(f"b{l}_{j}")
    minus = ""
    if less is not None:
        reads += less
        minus = f" - {less[0]}*{less[1]}"
    return code(f"z{l}_{j}", "=", " + ".join(terms) + minus, reads)


def _cost_lines(net: Network) -> list[Line]:
    """Lines adding this example's cost C_x to ``total`` (stable forms as in the blas shape)."""
    L, n = net.L, net.sizes[-1]
    out, cost = net.layers[-1].act, net.cost
    fused = output_kind(net) == FUSED
    zs, ys = [f"z{L}_{j}" for j in range(n)], [f"y_{j}" for j in range(n)]
    if fused and out.is_softmax:
        terms = " + ".join(f"{y}*({z} - lse)" for z, y in zip(zs, ys, strict=True))
        return [
            *comment(
                "log-sum-exp: C_x = -sum_j y_j log a_j = -sum_j y_j (z_j - log sum_i exp(z_i))"
            ),
            code("lse", "=", "z_max + math.log(sum_exp)", ["z_max", "sum_exp"]),
            code("total", "-=", terms, [*zs, *ys, "lse"]),
        ]
    if fused:
        terms = " + ".join(f"_softplus({z}) - {y}*{z}" for z, y in zip(zs, ys, strict=True))
        return [
            *comment("-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] = softplus(z) - y z"),
            code("total", "+=", terms, [*zs, *ys]),
        ]
    scale = cost_scale(net)
    outs = [f"a{L}_{j}" for j in range(n)]
    units = [numba_code(cost.expr, {A_SYM: a, Y_SYM: y}) for a, y in zip(outs, ys, strict=True)]
    summed = " + ".join(f"({u})" if len(units) > 1 and scale != 1 else u for u in units)
    head = "" if scale == 1 else f"{numba_code(scale)}*"
    body = f"{head}({summed})" if head and len(units) > 1 else f"{head}{summed}"
    shown = "" if scale == 1 else f"{scale} "
    return [
        *comment(f"C_x = {shown}sum_j {text(cost.expr)}"),
        code("total", "+=", body, [*outs, *ys]),
    ]


# --------------------------------------------------------------------------------------------
# Backward: BP1/BP2 per unit, CSE for shared terms, BP3/BP4 accumulated
# --------------------------------------------------------------------------------------------
def _fprime(d: Derivation, l: int, k: int, train: bool) -> sp.Expr:
    """``da/dz`` of unit k of layer l in code's names: with dropout while training
    ``mask*f'``, f' written in ``f{l}_k`` (the unit's f(z)); without, ``f'`` alone."""
    layer, s = d.net.layers[l - 1], d.sym
    if not layer.dropout:
        return d.fprime(l, k)
    if train:
        f, m = sp.Symbol(f"f{l}_{k}", real=True), sp.Symbol(f"mask{l}_{k}", real=True)
        return m * d.bp.layer(l).fprime.xreplace({A_SYM: f, Z_SYM: s.z(l, k)})
    below = s.a(l - 1, k) if layer.residual else None
    return d.bp.fprime_at(l, s.a(l, k), s.z(l, k), below)  # no unit dropped


def _backward_lines(d: Derivation, op: str = "+=", train: bool = False) -> list[Line]:
    """BP1/BP2 per unit, then BP3/BP4 added to the gradient sums (``op`` "+=") or, for a
    batch of one, assigned to them (``op`` "="). Each step is headed by the network's equation
    (:func:`~symgrad.codegen.comments.bp_comments`), then its value at every unit. ``train``:
    dropout's masks in force (``mask{l}_k``)."""
    net, L = d.net, d.net.L
    bp = bp_comments(net)
    temps = sp.numbered_symbols("_tmp", real=True)
    lines: list[Line] = comment(bp[("BP1", L)])
    out_act, cost = net.layers[-1].act, net.cost
    n_out = net.sizes[-1]
    kind = output_kind(net)
    if kind == FUSED:
        lines += comment(
            f"({out_act.name} with {cost.name}: the output's derivative cancels against the cost's)"
        )
        notes = [f"delta{L}_{j} = dC/dz{L}_{j} = {text(d.delta_out(j))}" for j in range(n_out)]
    elif kind == JACOBIAN:
        dcost = d.scale * cost.dC_da.xreplace(
            {A_SYM: sp.Symbol(f"a{L}_i", real=True), Y_SYM: sp.Symbol("y_i", real=True)}
        )
        lines += comment(
            f"through the softmax: delta{L}_j = sum_i da{L}_i/dz{L}_j * dC/da{L}_i"
            f" = a{L}_j*(dC/da{L}_j - sum_i a{L}_i*dC/da{L}_i), dC/da{L}_i = {text(sp.factor(dcost))}"
        )
        notes = ["" for _ in range(n_out)]
    else:
        notes = [
            f"delta{L}_{j} = dC/dz{L}_{j} = da{L}_{j}/dz{L}_{j} * dC/da{L}_{j}\n"
            f"  = ({text(d.fprime(L, j))}) * ({text(d.dcost(j))})"
            for j in range(n_out)
        ]
    exprs = [d.delta_out(j) for j in range(n_out)]
    lines += _assign(exprs, [f"delta{L}_{j}" for j in range(n_out)], notes, temps, kind == FUSED)
    lines += _accumulate(d, L, op)
    for l in range(L - 1, 0, -1):
        n_next = net.sizes[l + 1]
        lines += comment(bp[("BP2", l)])
        shown = [_fprime(d, l, k, train) for k in range(net.sizes[l])]
        fprimes = [stabilise(fprime) for fprime in shown]
        shared, reduced = sp.cse(fprimes, symbols=temps, order="none")
        if shared:
            lines += comment("shared terms (common subexpressions)")
            lines += [assign(str(sym), expr) for sym, expr in shared]
        skip = net.layers[l].residual  # layer l+1 adds a^(l) to its output
        if skip:
            lines += comment(bp[("skip", l + 1)])
        for k, fprime in enumerate(reduced):
            paths_shown = f"sum_i dz{l + 1}_i/da{l}_{k} * dC/dz{l + 1}_i"
            sum_shown = f"sum_i w{l + 1}_i_{k}*delta{l + 1}_i"
            if skip:
                paths_shown = f"({paths_shown} + dC/da{l + 1}_{k})"
                sum_shown = f"({sum_shown} + g{l + 1}_{k})"
            lines += comment(
                f"delta{l}_{k} = dC/dz{l}_{k} = da{l}_{k}/dz{l}_{k} * {paths_shown}\n"
                f"  = ({text(shown[k])}) * {sum_shown}"
            )
            ws = [f"w{l + 1}_{i}_{k}" for i in range(n_next)]
            deltas = [f"delta{l + 1}_{i}" for i in range(n_next)]
            paths = " + ".join(f"{w}*{dl}" for w, dl in zip(ws, deltas, strict=True))
            reads = [*ws, *deltas, *(str(s) for s in fprime.free_symbols)]
            if skip:  # the skip path: dC/da^(l+1)_k, kept as g{l+1}_k
                paths += f" + g{l + 1}_{k}"
                reads.append(f"g{l + 1}_{k}")
            if l > 1 and net.layers[l - 1].residual:  # dC/da^(l)_k, for the skip around layer l
                lines.append(code(f"g{l}_{k}", "=", paths, reads))
                paths, reads = f"g{l}_{k}", [f"g{l}_{k}", *(str(s) for s in fprime.free_symbols)]
            if fprime == 1:
                rhs = paths
            elif n_next == 1 or " + " not in paths:
                # (f' * w) * delta: delta comes last of all, and then only one product waits on
                # it (with a batch of one, the next example waits on this)
                rhs = f"{as_factor(numba_code(fprime))}*{paths}"
            else:
                rhs = f"{as_factor(numba_code(fprime))}*({paths})"
            lines.append(code(f"delta{l}_{k}", "=", rhs, reads))
        lines += _accumulate(d, l, op)
    return lines


def _assign(
    exprs: list[sp.Expr],
    names: list[str],
    notes: list[str],
    temps: Iterator[sp.Symbol],
    notes_first: bool,
) -> list[Line]:
    """``name = expr`` lines after common subexpressions are pulled out into ``_tmp`` lines."""
    shared, reduced = sp.cse([stabilise(e) for e in exprs], symbols=temps, order="none")
    lines: list[Line] = []
    if notes_first:
        lines += [line for note in notes for line in comment(note)]
        notes = ["" for _ in notes]
    if shared:
        lines += comment("shared terms (common subexpressions)")
        lines += [assign(str(sym), expr) for sym, expr in shared]
    for name, expr, note in zip(names, reduced, notes, strict=True):
        if note:
            lines += comment(note)
        lines.append(assign(name, expr))
    return lines


def _accumulate(d: Derivation, l: int, op: str = "+=") -> list[Line]:
    """BP3 and BP4 of layer ``l``: add this example's dC_x/db and dC_x/dw to the sums (``op``
    "+="), or make them the gradient (``op`` "=")."""
    layer = d.net.layers[l - 1]
    bp = bp_comments(d.net)
    lines: list[Line] = []
    if layer.bias:
        lines += comment(bp[("BP3", l)])
        for j in range(layer.n_out):
            lines.append(code(grad_name(f"b{l}_{j}"), op, f"delta{l}_{j}", [f"delta{l}_{j}"]))
    lines += comment(bp[("BP4", l)])
    for j in range(layer.n_out):
        for k in range(layer.n_in):
            below = f"x_{k}" if l == 1 else f"a{l - 1}_{k}"
            grad, delta = grad_name(f"w{l}_{j}_{k}"), f"delta{l}_{j}"
            lines.append(code(grad, op, f"{delta}*{below}", [delta, below]))
    return lines


def _one_lines(
    net: Network,
    d: Derivation,
    opt: Optimizer,
    scalars: list[str],
    targets: list[Line],
    cost: list[Line],
) -> dict[str, list[str]] | None:
    """The lines of ``train_epochs_one`` (batches of one, plain step ``w <- w - k g``), else None.

    Each example's step follows it at once, and the next example's ``z1_j`` is taken ahead,
    from the weights before the step: with ``step = k``,

        z1_j(next) = sum_k (w1_j_k - step*delta1_j*x_k)*xn_k + (b1_j - step*delta1_j)
                   = [sum_k w1_j_k*xn_k + b1_j] - step*delta1_j*[sum_k x_k*xn_k + 1],

    so one product waits on ``delta1_j``, where the step, then the next example's sum, would
    wait on it in turn (measured in benchmarks/FINDINGS.md).
    Keys: ``step`` (before the loop), ``first`` (z1 of row r, before an epoch's first example),
    ``train`` (one example: forward from z1, cost, gradient), ``next`` (z1 of row rn),
    ``steps`` (the step on every parameter).
    """
    k = opt.plain_step()
    if k is None or net.regularization is not None:  # a penalty's step is not w - k g
        return None
    if any(layer.dropout for layer in net.layers):  # the next example's z1 is not its own
        return None
    n_in, units = net.sizes[0], range(net.sizes[1])
    x = [f"x_{i}" for i in range(n_in)]
    xn = [f"xn_{i}" for i in range(n_in)]
    bias = f" + {number('1')}" if net.layers[0].bias else ""
    overlap = " + ".join(f"{a}*{b}" for a, b in zip(x, xn, strict=True))
    first = [code(x[i], "=", f"X[r, {i}]", ["X", "r"]) for i in range(n_in)]
    ahead = [code(xn[i], "=", f"X[rn, {i}]", ["X", "rn"]) for i in range(n_in)]
    ahead.append(code("q", "=", f"step*({overlap}{bias})", ["step", *x, *xn]))
    ahead += [_z_line(net, 1, j, xn, ("q", f"delta1_{j}")) for j in units]
    ahead += [code(x[i], "=", xn[i], [xn[i]]) for i in range(n_in)]
    return {
        "step": [f"step = {numba_code(k, hyper_locals(opt))}"],
        "first": printed(first + [_z_line(net, 1, j, x) for j in units]),
        "train": _live(
            targets + _forward_lines(net, first_z=False) + cost + _backward_lines(d, "=")
        ),
        "next": printed(ahead),
        "steps": plain_steps(scalars),
    }


__all__ = ["unrolled_data"]
