"""BP1-BP4: the index form and the matrix form agree with each other and with backprop."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.net import ops
from symgrad.verify import numeric


def _values(d: sg.Derivation, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    """Numbers for every IndexedBase / MatrixSymbol the equations use, from one forward pass."""
    net, s = d.net, d.sym
    zs, acts = numeric.forward(net, params, x)
    deltas, _ = numeric.deltas(net, params, x, y)
    yt = numeric.targets(net, y)
    index: dict[sp.Basic, float] = {}
    for k in range(net.sizes[0]):
        index[s.indexed("x")[k]] = x[0, k]
    for j in range(net.sizes[-1]):
        index[s.indexed("y")[j]] = yt[0, j]
    for l in range(1, net.L + 1):
        for j in range(net.sizes[l]):
            index[s.indexed("a", l)[j]] = acts[l][0, j]
            index[s.indexed("z", l)[j]] = zs[l - 1][0, j]
            index[s.indexed("delta", l)[j]] = deltas[l - 1][0, j]
            for k in range(net.sizes[l - 1]):
                index[s.indexed("w", l)[j, k]] = params[f"W{l}"][j, k]
    return index, zs, acts, deltas, yt


@pytest.mark.parametrize(
    "sizes,hidden,output,cost",
    [
        ([2, 3, 2], "tanh", "sigmoid", "quadratic"),
        ([3, 4, 3], "sigmoid", "softmax", "cross_entropy"),
        ([2, 3, 3], "relu", "softmax", "mse"),
        ([2, 2, 2, 1], "softplus", "identity", "half_quadratic"),
    ],
    ids=str,
)
def test_index_and_matrix_forms_agree_with_backprop(sizes, hidden, output, cost) -> None:
    net = sg.Network.mlp(sizes, hidden, output, cost)
    d = sg.derive(net)
    rng = np.random.default_rng(0)
    params = numeric.init_params(net, 3)
    x = rng.normal(size=(1, sizes[0]))
    y = numeric.random_targets(net, 1, rng)
    values, zs, acts, deltas, yt = _values(d, params, x, y)
    j = sp.Symbol("j", integer=True)
    index_eqs = d.labelled_equations("index")
    matrix_eqs = d.labelled_equations("matrix")
    assert [(lab, l) for lab, l, _ in index_eqs] == [(lab, l) for lab, l, _ in matrix_eqs]
    assert [lab for lab, _, _ in index_eqs][:1] == ["BP1"]

    # matrix form, evaluated with explicit matrices
    msubs: dict[sp.Basic, sp.Matrix] = {}
    for _, _, eq in matrix_eqs:
        for m in eq.atoms(sp.MatrixSymbol):
            name = m.name
            col = lambda v: sp.Matrix(np.asarray(v, dtype=float).reshape(-1, 1))  # noqa: E731
            if name == "x":
                msubs[m] = col(x[0])
            elif name == "y":
                msubs[m] = col(yt[0])
            elif name.startswith("delta"):
                msubs[m] = col(deltas[int(name[5:]) - 1][0])
            elif name.startswith("fprime"):
                l = int(name[6:])
                act = net.layers[l - 1].act
                fp = sp.lambdify((ops.a, ops.z), act.derivative)(acts[l][0], zs[l - 1][0])
                msubs[m] = col(np.broadcast_to(fp, acts[l][0].shape))
            elif name == "grad_a_C":
                g = sp.lambdify((ops.a, ops.y), net.cost.dC_da)(acts[-1][0], yt[0])
                msubs[m] = col(float(d.scale) * np.broadcast_to(g, acts[-1][0].shape))
            elif name.startswith("a"):
                msubs[m] = col(acts[int(name[1:])][0])
            elif name.startswith("W"):
                msubs[m] = sp.Matrix(params[name])
    for (label, l, ieq), (_, _, meq) in zip(index_eqs, matrix_eqs, strict=True):
        if label in ("BP3", "BP4"):
            # gradients of C_x for one example: dC/db = delta, dC/dW = delta a_prev^T
            prev = x[0] if l == 1 else acts[l - 1][0]
            want = np.outer(deltas[l - 1][0], prev) if label == "BP4" else deltas[l - 1][0]
            got_m = np.array(meq.rhs.xreplace(msubs).doit(), dtype=float).reshape(want.shape)
            np.testing.assert_allclose(got_m, want, rtol=1e-12, atol=1e-14)
            continue
        want = deltas[l - 1][0]
        got_m = np.array(sp.Matrix(meq.rhs.xreplace(msubs).doit()), dtype=float).ravel()
        got_i = np.array(
            [float(ieq.rhs.xreplace({j: jj}).doit().xreplace(values)) for jj in range(sizes[l])]
        )
        np.testing.assert_allclose(got_m, want, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(got_i, want, rtol=1e-10, atol=1e-13)


def test_unknown_form_is_a_spec_error() -> None:
    with pytest.raises(sg.SpecError, match="index"):
        sg.derive(sg.Network.mlp([1, 1])).equations("tensor")
