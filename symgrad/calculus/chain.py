"""The chain rule written out for one parameter: the steps of a :class:`~.derivation.Partial`.

In 3Blue1Brown's order: the chain ``dC/dw = dz/dw * da/dz * dC/da``, each local derivative
(``dz/dw = a``, ``f'`` from :mod:`.backprop`, the output's ``dC/dz`` or ``dC/da``), ``dC/da`` of a
hidden unit as the sum over the paths into the next layer, then the local derivatives multiplied
out. Every local derivative comes from the backprop representation (:func:`.backprop.backprop`);
nothing here differentiates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy as sp

from .backprop import ELEMENTWISE
from .steps import Form, Formula, Step, product, prose, single

if TYPE_CHECKING:
    from .derivation import Derivation

Z_LINEAR = Formula("z = sum_k w_jk a_k + b_j", r"z = \sum_{k} w_{jk} a_{k} + b_{j}")
DZ_DA = Formula("dz/da = w", r"\partial z/\partial a = w")
SKIP = Formula(
    "a^(l+1) = a^(l) + f(z^(l+1)): da^(l+1)_j/da^(l)_j = 1",
    r"a^{(l+1)} = a^{(l)} + f(z^{(l+1)}),\ \partial a^{(l+1)}_{j}/\partial a^{(l)}_{j} = 1",
)


def compose(
    d: Derivation, l: int, j: int, param: sp.Symbol, dz_dp: sp.Expr
) -> tuple[sp.Expr, list[Step]]:
    """Steps and closed form of ``dC/dparam`` for a parameter feeding ``z^(l)_j``."""
    s, L = d.sym, d.net.L
    z_j, a_j = s.z(l, j), s.a(l, j)
    target = s.d(s.C, param)
    dz = s.d(z_j, param)
    through_z = l == L and d.bp.output.kind != ELEMENTWISE
    steps: list[Step] = []
    memo: dict[tuple[int, Any], sp.Expr] = {}
    if through_z:
        steps.append(
            Step(
                "chain",
                target,
                (product(dz, s.d(s.C, z_j)),),
                prose("chain rule: ", param, " changes ", s.C, " only through ", z_j),
            )
        )
    else:
        steps.append(
            Step(
                "chain",
                target,
                (product(dz, s.d(a_j, z_j), s.d(s.C, a_j)),),
                prose(
                    "chain rule: ",
                    param,
                    " changes ",
                    s.C,
                    " only through ",
                    z_j,
                    ", then ",
                    a_j,
                ),
            )
        )
    what = " is linear in the " + ("weight" if dz_dp != 1 else "bias")
    steps.append(Step("local", dz, (single(dz_dp),), prose(Z_LINEAR, what)))
    if through_z:
        steps += output_delta_steps(d, j)
        closed_rest = d.dC_dz(l, j, memo)
        closed = product(dz_dp, closed_rest)
    else:
        shown = s.fprime(l, j)
        if d.net.layers[l - 1].dropout:  # m f'(z) / (1 - p)
            shown = s.mask(l, j) * shown / (1 - s.drop(l))
        steps.append(
            Step(
                "local",
                s.d(a_j, z_j),
                (single(shown), single(d.fprime(l, j))),
                d.bp.layer(l).fprime_rule,
            )
        )
        steps += dC_da_steps(d, l, j)
        closed = product(dz_dp, d.fprime(l, j), *dC_da_factors(d, l, j, memo))
    value = sp.Mul(*closed[0])
    steps.append(Step("closed", target, (closed,), prose("multiply the local derivatives")))
    if d.net.regularization is not None:
        value, step = penalty_step(d, param, value, closed)
        steps.append(step)
    return value, steps


def penalty_step(
    d: Derivation, param: sp.Symbol, value: sp.Expr, closed: Form
) -> tuple[sp.Expr, Step]:
    """``dC/dw = dC_0/dw + lam w``: the penalty reaches C directly, not through any z (or, for a
    parameter it leaves alone, ``dC/db = dC_0/db``). Returns the closed form and the step."""
    s, reg = d.sym, d.net.regularization
    assert reg is not None and s.lam is not None
    target, data = s.d(s.total, param), s.d(s.C, param)
    name = s.meta[param].kind  # "w" or "b"
    if not reg.covers("W" if name == "w" else "b"):
        rule = prose(f"the {reg.what} leaves the biases alone: only ", s.C, " depends on ", param)
        return value, Step("penalty", target, (single(data), closed), rule)
    term = d.penalty_derivative(param)
    rule = prose(
        f"the {reg.what}, ",
        d.penalty_of(param),
        f" for this {'weight' if name == 'w' else 'bias'}, reaches ",
        s.total,
        " directly, not through any z: add its derivative",
    )
    factors = tuple(sorted(sp.Mul.make_args(term), key=lambda f: f != s.lam))  # lambda w
    forms = (((data,), factors), (*closed, factors))
    return value + term, Step("penalty", target, forms, rule)


def dC_da_factors(
    d: Derivation, l: int, j: int, memo: dict[tuple[int, Any], sp.Expr]
) -> list[sp.Expr]:
    """``dC/da^(l)_j`` as ordered factors: along the chain when one path leads to C (w, f', ..., dC/da)."""
    factors: list[sp.Expr] = []
    unit = j
    L = d.net.L
    while (
        l < L
        and d.net.sizes[l + 1] == 1
        and not d.net.layers[l].act.is_softmax
        and not d.net.layers[l].residual  # a skip connection is a second path
    ):
        if l + 1 == L and d.fused:
            # the output's step is dC/dz = a - y: its factors as that step derived them
            return [*factors, d.sym.w(L, 0, unit), d.dC_dz(L, 0, memo)]
        factors += [d.sym.w(l + 1, 0, unit), d.fprime(l + 1, 0)]
        l, unit = l + 1, 0
    return [*factors, d.dC_da(l, unit, memo)]


def output_delta_steps(d: Derivation, j: int) -> list[Step]:
    s, L = d.sym, d.net.L
    target = s.d(s.C, s.z(L, j))
    rule = d.bp.output.delta_rule
    if d.fused:
        return [Step("cost", target, (single(d.delta_out(j)),), rule)]
    n = d.net.sizes[-1]
    paths = tuple((s.d(s.a(L, i), s.z(L, j)), s.d(s.C, s.a(L, i))) for i in range(n))
    steps = [Step("paths", target, (paths, single(d.delta_out(j))), rule)]
    steps += [cost_step(d, i) for i in range(n)]
    return steps


def cost_step(d: Derivation, j: int) -> Step:
    s, L = d.sym, d.net.L
    rule = d.bp.output.dC_da_rule
    return Step("cost", s.d(s.C, s.a(L, j)), (single(d.dcost(j)),), rule)


def dC_da_steps(d: Derivation, l: int, j: int) -> list[Step]:
    """Steps for ``dC/da^(l)_j``: the cost at the output, else sums over paths, layer by layer."""
    L = d.net.L
    if l == L:
        return [cost_step(d, j)]
    if not d.explicit(l):
        return generic_paths_steps(d, l)
    steps: list[Step] = []
    frontier = [j]
    for m in range(l, L):
        nxt = d.net.sizes[m + 1]
        for unit in frontier:
            steps.append(paths_step(d, m, unit))
        frontier = list(range(nxt))
    if d.bp.output.kind != ELEMENTWISE:
        for i in range(d.net.sizes[-1]):
            steps += output_delta_steps(d, i)[:1]
        if not d.fused:
            steps += [cost_step(d, i) for i in range(d.net.sizes[-1])]
    else:
        steps += [cost_step(d, i) for i in range(d.net.sizes[-1])]
    return steps


def paths_step(d: Derivation, l: int, j: int) -> Step:
    s, L = d.sym, d.net.L
    n = d.net.sizes[l + 1]
    a_j = s.a(l, j)
    target = s.d(s.C, a_j)
    through_z = l + 1 == L and d.bp.output.kind != ELEMENTWISE
    chain: Form
    local: Form
    if through_z:
        chain = tuple((s.d(s.z(l + 1, i), a_j), s.d(s.C, s.z(l + 1, i))) for i in range(n))
        local = tuple((s.w(l + 1, i, j), s.d(s.C, s.z(l + 1, i))) for i in range(n))
    else:
        chain = tuple(
            (
                s.d(s.z(l + 1, i), a_j),
                s.d(s.a(l + 1, i), s.z(l + 1, i)),
                s.d(s.C, s.a(l + 1, i)),
            )
            for i in range(n)
        )
        local = tuple(
            (s.w(l + 1, i, j), d.fprime(l + 1, i), s.d(s.C, s.a(l + 1, i))) for i in range(n)
        )
    if d.net.layers[l].residual:  # layer l+1 adds a^(l) to its output: one path more
        a_next = s.a(l + 1, j)
        chain += ((s.d(a_next, a_j), s.d(s.C, a_next)),)
        local += ((sp.Integer(1), s.d(s.C, a_next)),)
        rule = prose(
            a_j,
            " reaches ",
            s.C,
            f" through every unit of layer {l + 1}, and along the skip connection straight to ",
            a_next,
            ": add up the paths (",
            DZ_DA,
            "; the skip's ",
            SKIP,
            ")",
        )
        return Step("paths", target, (chain, local), rule)
    rule = prose(
        a_j,
        " reaches ",
        s.C,
        f" through every unit of layer {l + 1}: add up the paths (",
        DZ_DA,
        ")",
    )
    return Step("paths", target, (chain, local), rule)


def generic_paths_steps(d: Derivation, l: int) -> list[Step]:
    """One step per layer, with symbolic unit indices, for networks too wide to list unit by unit."""
    s, L = d.sym, d.net.L
    steps: list[Step] = []
    for m in range(l, L):
        j = sp.Symbol("j", integer=True)
        dC = s.generic_partial(s.C, "a", m)
        skip = " and along the skip connection" if d.net.layers[m].residual else ""
        rule = prose(
            s.indexed("a", m)[j],
            " reaches ",
            s.C,
            f" through all {d.net.sizes[m + 1]} units of layer {m + 1}{skip}: add up the paths",
        )
        steps.append(Step("paths", dC, (single(d.dC_da(m, j)),), rule))
    steps.append(
        Step(
            "cost",
            s.generic_partial(s.C, "a", L),
            (single(d.dC_da(L, sp.Symbol("j", integer=True))),),
            d.bp.output.dC_da_rule,
        )
    )
    return steps
