"""A hand-written prototype of training K configurations of a 2-4-1 net at once, in SIMD lanes.

Not generated code: a measurement of what a generated K-lane module could gain
(``population.py`` times it beside symgrad's one-after-another ``fit`` and JAX's ``vmap``).
Every value of the net is an array of K lanes, the last axis, so that each line of the step is
a loop over the lanes that LLVM vectorises; the K configurations differ in their initial
weights and learning rate. tanh hidden layer, sigmoid output, quadratic cost, SGD, the batches
taken in order. exp and tanh are those of symgrad's blas shape (arithmetic alone, no call, so
the loops over the lanes vectorise); with libm's, which are calls, the lanes ran 2x slower than
one configuration after another.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


def make_train(exp: Any, tanh: Any, dtype: str) -> Any:
    """train_lanes with these exp and tanh (jitted functions of one value), in dtype."""
    one, two = np.dtype(dtype).type(1.0), np.dtype(dtype).type(2.0)

    @numba.njit(error_model="numpy", fastmath={"contract"})
    def train_lanes(X, Y, W1, b1, W2, b2, lr, epochs, batch):  # type: ignore[no-untyped-def]
        """W1 (4, 2, K), b1 (4, K), W2 (1, 4, K), b2 (1, K), lr (K,): trained in place. The
        loop over the lanes k is the innermost everywhere: it is the one that vectorises."""
        n, K = X.shape[0], lr.shape[0]
        H, I = W1.shape[0], W1.shape[1]
        gW1, gb1 = np.empty_like(W1), np.empty_like(b1)
        gW2, gb2 = np.empty_like(W2), np.empty_like(b2)
        a1 = np.empty((H, K), W1.dtype)
        z = np.empty(K, W1.dtype)
        d2 = np.empty(K, W1.dtype)
        step = np.empty(K, W1.dtype)
        for _ in range(epochs):
            for start in range(0, n, batch):
                rows = min(batch, n - start)
                gW1[...] = 0
                gb1[...] = 0
                gW2[...] = 0
                gb2[...] = 0
                for s in range(start, start + rows):
                    for j in range(H):
                        for k in range(K):
                            z[k] = b1[j, k]
                        for i in range(I):
                            xi = X[s, i]
                            for k in range(K):
                                z[k] += W1[j, i, k] * xi
                        for k in range(K):
                            a1[j, k] = tanh(z[k])
                    for k in range(K):
                        z[k] = b2[0, k]
                    for j in range(H):
                        for k in range(K):
                            z[k] += W2[0, j, k] * a1[j, k]
                    ys = Y[s, 0]
                    for k in range(K):
                        a = one / (one + exp(-z[k]))
                        d2[k] = two * (a - ys) * a * (one - a)
                        gb2[0, k] += d2[k]
                    for j in range(H):
                        for k in range(K):
                            gW2[0, j, k] += d2[k] * a1[j, k]
                            z[k] = (one - a1[j, k] * a1[j, k]) * W2[0, j, k] * d2[k]  # delta1_j
                            gb1[j, k] += z[k]
                        for i in range(I):
                            xi = X[s, i]
                            for k in range(K):
                                gW1[j, i, k] += z[k] * xi
                for k in range(K):
                    step[k] = lr[k] / rows
                for j in range(H):
                    for i in range(I):
                        for k in range(K):
                            W1[j, i, k] -= step[k] * gW1[j, i, k]
                    for k in range(K):
                        b1[j, k] -= step[k] * gb1[j, k]
                        W2[0, j, k] -= step[k] * gW2[0, j, k]
                for k in range(K):
                    b2[0, k] -= step[k] * gb2[0, k]

    return train_lanes


def runner(
    x: np.ndarray, y: np.ndarray, starts: list[dict[str, np.ndarray]], lrs: list[float],
    epochs: int, batch: int, dtype: str,
) -> Any:  # fmt: skip
    """A function that trains every configuration from its start at once, and returns each
    configuration's final mean cost (computed in NumPy from the lanes' weights)."""
    import symgrad as sg

    net = sg.Network.mlp([2, 4, 1], hidden="tanh", output="sigmoid", cost="quadratic")
    blas = sg.compile(net, sg.SGD(lr=0.5), dtype, shape="blas").module
    train_lanes = make_train(blas._exp, blas._tanh, dtype)
    x, y = x.astype(dtype), y.astype(dtype)
    lanes0 = {k: np.ascontiguousarray(np.stack([s[k] for s in starts], axis=-1)) for k in starts[0]}
    lr = np.array(lrs, dtype)

    def run() -> list[float]:
        p = {k: v.copy() for k, v in lanes0.items()}
        train_lanes(x, y, p["W1"], p["b1"], p["W2"], p["b2"], lr, epochs, batch)
        out = []
        for k in range(lr.size):
            a = np.tanh(x @ p["W1"][..., k].T + p["b1"][:, k])
            a = 1.0 / (1.0 + np.exp(-(a @ p["W2"][..., k].T + p["b2"][:, k])))
            out.append(float(np.mean(np.sum((a - y) ** 2, axis=1))))
        return out

    return run
