"""The four equations of backpropagation (Nielsen's BP1-BP4) for one network.

Index form uses SymPy ``IndexedBase`` objects and ``Sum`` over a symbolic unit index; matrix
form uses ``MatrixSymbol``s with the Hadamard product. Both are written for this network's
activations and cost, so BP1 reads ``delta = a - y`` for softmax + cross-entropy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..errors import SpecError
from .backprop import FUSED, JACOBIAN

if TYPE_CHECKING:
    from .derivation import Derivation

Labelled = list[tuple[str, int, sp.Eq]]

j, k, i = sp.symbols("j k i", integer=True)


def bp_equations(d: Derivation, form: str = "index") -> Labelled:
    """``(label, layer, Eq)`` for BP1 (layer L), BP2 (L-1..1), BP3 (1..L), BP4 (1..L)."""
    if form == "index":
        return _index_form(d)
    if form == "matrix":
        return _matrix_form(d)
    raise SpecError(f"unknown equation form {form!r}; use 'index' or 'matrix'")


def _index_form(d: Derivation) -> Labelled:
    net, s, L, bp = d.net, d.sym, d.net.L, d.bp
    delta = {l: s.indexed("delta", l) for l in range(1, L + 1)}
    A = {l: s.indexed("a", l) for l in range(1, L + 1)}
    Z = {l: s.indexed("z", l) for l in range(1, L + 1)}
    W = {l: s.indexed("w", l) for l in range(1, L + 1)}
    Y = s.indexed("y")
    x = s.indexed("x")
    out: Labelled = []
    coupling = None
    if bp.output.kind == JACOBIAN:
        coupling = sp.Sum(A[L][i] * bp.dC_da_at(A[L][i], Y[i]), (i, 0, net.sizes[-1] - 1))
    bp1 = bp.delta_out_at(A[L][j], Y[j], Z[L][j], coupling)
    out.append(("BP1", L, sp.Eq(delta[L][j], bp1)))
    for l in range(L - 1, 0, -1):
        back = sp.Sum(W[l + 1][i, j] * delta[l + 1][i], (i, 0, net.sizes[l + 1] - 1))
        if net.layers[l].residual:  # the skip connection around layer l+1 brings dC/da^(l+1)
            back += s.indexed("dCda", l + 1)[j]
            out.append(("skip", l + 1, _skip_equation(d, l + 1)))
        below = x[j] if l == 1 else A[l - 1][j]
        mask = (s.indexed("m", l)[j], s.drop(l)) if net.layers[l - 1].dropout else None
        bp2 = bp.delta_hidden_at(l, back, bp.fprime_at(l, A[l][j], Z[l][j], below, mask))
        out.append(("BP2", l, sp.Eq(delta[l][j], bp2)))
    reg = net.regularization
    for l, layer in enumerate(net.layers, start=1):
        if layer.bias:
            db = delta[l][j]
            if reg is not None and reg.covers("b"):
                db += d.penalty_derivative(s.indexed("b", l)[j])
            out.append(("BP3", l, sp.Eq(s.indexed("dCdb", l)[j], db)))
    for l in range(1, L + 1):
        prev = x[k] if l == 1 else A[l - 1][k]
        dw = prev * delta[l][j]
        if reg is not None:  # the penalty's derivative, beside the paths through z
            dw += d.penalty_derivative(W[l][j, k])
        out.append(("BP4", l, sp.Eq(s.indexed("dCdw", l)[j, k], dw)))
    return out


def _skip_equation(d: Derivation, m: int) -> sp.Eq:
    """``dC/da^(m)_j = sum_i w^(m+1)_ij delta^(m+1)_i [+ dC/da^(m+1)_j]``: what a skip connection
    around layer ``m`` brings down to the layer below it (``m`` is hidden: so is every residual
    layer)."""
    s, net = d.sym, d.net
    back = sp.Sum(
        s.indexed("w", m + 1)[i, j] * s.indexed("delta", m + 1)[i], (i, 0, net.sizes[m + 1] - 1)
    )
    if net.layers[m].residual:
        back += s.indexed("dCda", m + 1)[j]
    return sp.Eq(s.indexed("dCda", m)[j], back)


def _matrix_form(d: Derivation) -> Labelled:
    net, L, sizes = d.net, d.net.L, d.net.sizes
    latex = d.sym.latex

    def msym(name: str, shown: str, rows: int, cols: int = 1) -> sp.MatrixSymbol:
        m = sp.MatrixSymbol(name, rows, cols)
        latex[m] = shown
        return m

    delta = {l: msym(f"delta{l}", rf"\delta^{{({l})}}", sizes[l]) for l in range(1, L + 1)}
    A = {l: msym(f"a{l}", f"a^{{({l})}}", sizes[l]) for l in range(1, L + 1)}
    A[0] = msym("x", "x", sizes[0])
    W = {l: msym(f"W{l}", f"W^{{({l})}}", sizes[l], sizes[l - 1]) for l in range(1, L + 1)}
    Fp: dict[int, sp.MatrixExpr] = {
        l: msym(f"fprime{l}", f"{net.layers[l - 1].act.latex}'(z^{{({l})}})", sizes[l])
        for l in range(1, L + 1)
    }
    for l, layer in enumerate(net.layers, start=1):
        if layer.dropout:  # da/dz = m f'(z) / (1 - p), the mask m^(l) of the units
            mask = msym(f"m{l}", f"m^{{({l})}}", sizes[l])
            Fp[l] = sp.HadamardProduct(mask, Fp[l]) / (1 - d.sym.drop(l))
    y = msym("y", "y", sizes[-1])
    grad = msym("grad_a_C", r"\nabla_{a} C", sizes[-1])
    out: Labelled = []
    # the kind of BP1 is the backprop representation's (one decision, symgrad.calculus.backprop)
    kind = d.bp.output.kind
    if kind == FUSED:
        bp1: sp.MatrixExpr = d.scale * (A[L] - y)
    elif kind == JACOBIAN:
        bp1 = (sp.DiagMatrix(A[L]) - A[L] * A[L].T) * grad
    else:
        bp1 = sp.HadamardProduct(grad, Fp[L])
    out.append(("BP1", L, sp.Eq(delta[L], bp1, evaluate=False)))
    grad_a = {l: msym(f"grad_a{l}", rf"\nabla_{{a^{{({l})}}}} C", sizes[l]) for l in range(1, L)}
    for l in range(L - 1, 0, -1):
        back: sp.MatrixExpr = W[l + 1].T * delta[l + 1]
        if net.layers[l].residual:  # the skip connection around layer l+1
            skip = W[l + 2].T * delta[l + 2]
            if net.layers[l + 1].residual:
                skip = sp.MatAdd(skip, grad_a[l + 2])
            out.append(("skip", l + 1, sp.Eq(grad_a[l + 1], skip, evaluate=False)))
            back = sp.MatAdd(back, grad_a[l + 1])
        out.append(("BP2", l, sp.Eq(delta[l], sp.HadamardProduct(back, Fp[l]), evaluate=False)))
    reg = net.regularization

    def penalty(name: str, l: int, m: sp.MatrixSymbol) -> sp.MatrixExpr:
        """The penalty's derivative for a whole array: ``lambda W`` or ``lambda sign(W)``."""
        assert reg is not None and d.sym.lam is not None
        if reg.name == "l2":
            return d.sym.lam * m
        shown = "W" if name == "W" else "b"
        signed = msym(f"sign_{name}{l}", rf"\operatorname{{sign}}({shown}^{{({l})}})", *m.shape)
        return d.sym.lam * signed

    for l, layer in enumerate(net.layers, start=1):
        if layer.bias:
            db = msym(f"dC_db{l}", rf"\frac{{\partial C}}{{\partial b^{{({l})}}}}", sizes[l])
            rhs: sp.MatrixExpr = delta[l]
            if reg is not None and reg.covers("b"):
                rhs = sp.MatAdd(rhs, penalty("b", l, msym(f"b{l}", f"b^{{({l})}}", sizes[l])))
            out.append(("BP3", l, sp.Eq(db, rhs, evaluate=False)))
    for l in range(1, L + 1):
        dw = msym(
            f"dC_dW{l}", rf"\frac{{\partial C}}{{\partial W^{{({l})}}}}", sizes[l], sizes[l - 1]
        )
        rhs = delta[l] * A[l - 1].T
        if reg is not None:
            rhs = sp.MatAdd(rhs, penalty("W", l, W[l]))
        out.append(("BP4", l, sp.Eq(dw, rhs, evaluate=False)))
    return out
