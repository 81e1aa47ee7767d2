"""Baselines: hand-written NumPy, PyTorch eager and JAX (the whole run in one jitted scan).

Each runner trains a :class:`~workloads.Case` from its initial weights for the whole schedule
with plain SGD on the mean-over-batch cost, taking the batches in order (the last one possibly
short). ``run()`` is what the harness times; ``final(result)`` turns its result into a dict of
NumPy arrays for the judge, outside the timed region.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
from workloads import Case, activate

#: Threads every framework may use (BLAS pools, torch intra-op); run.py --threads sets it.
THREADS = os.cpu_count() or 1


class Runner:
    """One framework on one case: ``run()`` trains from the initial weights and returns."""

    name = "?"

    def __init__(self, case: Case) -> None:
        self.case = case
        self.w = case.workload

    def run(self) -> Any:
        raise NotImplementedError

    def final(self, result: Any) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in result.items()}


# ---------------------------------------------------------------------------------------------
# NumPy: vectorised per batch, Python loop over batches.


def _fprime_from_a(name: str, a: np.ndarray) -> np.ndarray:
    """f'(z) written in the forward value a (sigmoid' = a(1-a), tanh' = 1-a^2)."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "identity":
        return np.ones_like(a)
    raise KeyError(name)


class NumpyRunner(Runner):
    name = "numpy"

    def run(self) -> dict[str, np.ndarray]:
        w, case = self.w, self.case
        p = case.fresh_params()
        L = len(w.sizes) - 1
        lr = np.asarray(w.lr, dtype=case.dtype)
        l2 = np.asarray(w.l2, dtype=case.dtype)
        batches = case.batches()
        for _ in range(w.epochs):
            for s, e in batches:
                x, y = case.X[s:e], case.Y[s:e]
                acts, fs = [x], [x]  # a^(l), and f(z^(l)) (a^(l) less the skip's input)
                for l in range(1, L + 1):
                    z = acts[-1] @ p[f"W{l}"].T
                    if w.bias:
                        z += p[f"b{l}"]
                    fs.append(activate(w.acts[l - 1], z))
                    acts.append(acts[-1] + fs[-1] if l in w.residual else fs[-1])
                a = acts[-1]
                # BP1: delta^L = dC/da * f'(z); softmax with cross-entropy gives a - y
                if w.cost == "cross_entropy":
                    delta = a - y
                else:
                    dcda = 2.0 * (a - y)
                    if w.cost == "mse":
                        dcda /= a.shape[1]
                    delta = dcda * _fprime_from_a(w.acts[-1], a)
                delta /= e - s  # mean over the batch
                dC_da = None  # dC/da^(l), which the skip around a residual layer l brings down
                for l in range(L, 0, -1):
                    W = p[f"W{l}"]
                    prev = None
                    if l > 1:
                        back = delta @ W
                        if l in w.residual:
                            back += dC_da
                        dC_da = back
                        prev = back * _fprime_from_a(w.acts[l - 2], fs[l - 1])
                    if w.l2:  # BP4 with the L2 penalty's lam W
                        W -= lr * (delta.T @ acts[l - 1] + l2 * W)
                    else:
                        W -= lr * (delta.T @ acts[l - 1])  # BP4
                    if w.bias:
                        p[f"b{l}"] -= lr * delta.sum(axis=0)  # BP3
                    if prev is not None:
                        delta = prev  # BP2
        return p


# ---------------------------------------------------------------------------------------------
# PyTorch eager: F.linear layers, the torch loss functions, torch.optim.SGD.


class TorchRunner(Runner):
    name = "torch"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        import torch

        torch.set_num_threads(THREADS)
        self.torch = torch
        w = self.w
        self.init = {k: torch.from_numpy(v.copy()) for k, v in case.params.items()}
        self.params = {k: v.clone().requires_grad_(True) for k, v in self.init.items()}
        # the L2 penalty as torch users write it: weight_decay on the weights' param group
        weights = [v for k, v in self.params.items() if k.startswith("W")]
        biases = [v for k, v in self.params.items() if k.startswith("b")]
        groups = [{"params": weights, "weight_decay": w.l2}]
        if biases:
            groups.append({"params": biases})
        self.opt = torch.optim.SGD(groups, lr=w.lr)
        labels = torch.from_numpy(case.labels)
        X, Y = torch.from_numpy(case.X), torch.from_numpy(case.Y)
        # batches sliced once, as a DataLoader over in-memory tensors would hand them out
        self.batches = [
            (X[s:e], labels[s:e] if w.cost == "cross_entropy" else Y[s:e])
            for s, e in case.batches()
        ]

    def _loss(self, x: Any, y: Any) -> Any:
        torch, F, w, p = self.torch, self.torch.nn.functional, self.w, self.params
        a = x
        L = len(w.sizes) - 1
        for l in range(1, L + 1):
            z = F.linear(a, p[f"W{l}"], p.get(f"b{l}"))
            act = w.acts[l - 1]
            if l == L and w.cost == "cross_entropy":
                return F.cross_entropy(z, y)  # softmax + CE on the logits
            f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}.get(
                act, lambda t: t
            )(z)
            a = a + f if l in w.residual else f  # a skip connection
        if w.cost == "mse":
            return F.mse_loss(a, y)
        return ((a - y) ** 2).sum(dim=1).mean()  # quadratic

    def run(self) -> dict[str, Any]:
        torch = self.torch
        with torch.no_grad():
            for k, v in self.params.items():
                v.copy_(self.init[k])
        opt = self.opt
        for _ in range(self.w.epochs):
            for x, y in self.batches:
                opt.zero_grad(set_to_none=True)
                self._loss(x, y).backward()
                opt.step()
        return self.params

    def final(self, result: Any) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy().copy() for k, v in result.items()}


# ---------------------------------------------------------------------------------------------
# JAX: jax.grad of the mean cost, the whole run (epochs x batches) in one jit + lax.scan.


class JaxRunner(Runner):
    name = "jax"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 cases; float32 arrays stay float32
        import jax.numpy as jnp

        self.jax = jax
        w = self.w
        B = w.batch
        n_full = w.n_samples // B
        X, Y = case.X, case.Y
        xb = jnp.asarray(X[: n_full * B].reshape(n_full, B, -1))
        yb = jnp.asarray(Y[: n_full * B].reshape(n_full, B, -1))
        xr, yr = jnp.asarray(X[n_full * B :]), jnp.asarray(Y[n_full * B :])
        has_rest = xr.shape[0] > 0
        L = len(w.sizes) - 1
        lr = w.lr

        def loss(p: dict[str, Any], x: Any, y: Any) -> Any:
            penalty = sum(0.5 * w.l2 * jnp.sum(p[f"W{l}"] ** 2) for l in range(1, L + 1))
            return data_loss(p, x, y) + penalty if w.l2 else data_loss(p, x, y)

        def data_loss(p: dict[str, Any], x: Any, y: Any) -> Any:
            a = x
            for l in range(1, L + 1):
                z = a @ p[f"W{l}"].T
                if w.bias:
                    z = z + p[f"b{l}"]
                act = w.acts[l - 1]
                if l == L and w.cost == "cross_entropy":
                    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z, axis=1), axis=1))
                f = {
                    "sigmoid": jax.nn.sigmoid,
                    "tanh": jnp.tanh,
                    "relu": jax.nn.relu,
                }.get(act, lambda t: t)(z)
                a = a + f if l in w.residual else f  # a skip connection
            per = jnp.sum((a - y) ** 2, axis=1)
            if w.cost == "mse":
                per = per / a.shape[1]
            return jnp.mean(per)

        grad = jax.grad(loss)

        def step(p: dict[str, Any], xy: tuple[Any, Any]) -> tuple[dict[str, Any], None]:
            g = grad(p, *xy)
            return jax.tree_util.tree_map(lambda q, gq: q - lr * gq, p, g), None

        def whole_run(p: dict[str, Any], xb: Any, yb: Any, xr: Any, yr: Any) -> Any:
            def epoch(p: dict[str, Any], _: Any) -> tuple[dict[str, Any], None]:
                p, _ = jax.lax.scan(step, p, (xb, yb))
                if has_rest:
                    p, _ = step(p, (xr, yr))
                return p, None

            p, _ = jax.lax.scan(epoch, p, None, length=w.epochs)
            return p

        self.fn = jax.jit(whole_run)
        self.args = (xb, yb, xr, yr)
        self.p0 = {k: jnp.asarray(v) for k, v in case.params.items()}

    def run(self) -> Any:
        out = self.fn(self.p0, *self.args)
        return self.jax.block_until_ready(out)

    def final(self, result: Any) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in result.items()}


# the machine's reference rate, for the wide workload's fraction of it
def matmul_rate(m: int, n: int, k: int, dtype: str = "float32", min_time: float = 0.2) -> float:
    """GFLOP/s of ``np.matmul`` on C(m x n) = A(m x k) B(k x n), best of repeats."""
    rng = np.random.default_rng(0)
    a = rng.random((m, k)).astype(dtype)
    b = rng.random((k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    np.matmul(a, b, out=c)
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        dt = time.perf_counter() - t0
        if dt > min_time / 5 or reps > 1 << 20:
            break
        reps *= 4
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2.0 * m * n * k / best / 1e9


class MatmulRunner(Runner):
    """The machine's reference rate, timed in the same rounds as the frameworks: ``np.matmul``
    of 1024 x 1024 matrices in the case's dtype, as many products as the workload has GEMM
    FLOPs (at least one)."""

    trains = False

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        self.name = "matmul-1024"
        self.count = max(1, round(self.w.gemm_flops() / (2 * 1024**3)))
        self.flops = 2 * 1024**3 * self.count
        rng = np.random.default_rng(0)
        self.a = rng.random((1024, 1024)).astype(case.dtype)
        self.b = rng.random((1024, 1024)).astype(case.dtype)
        self.c = np.empty((1024, 1024), case.dtype)

    def run(self) -> None:
        for _ in range(self.count):
            np.matmul(self.a, self.b, out=self.c)
