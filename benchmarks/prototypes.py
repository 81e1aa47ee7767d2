"""Hand-written Numba prototypes of the shapes the generator can emit, measured side by side.

* ``unrolled``: every weight a scalar local for the whole run, every unit a scalar line, the
  epochs and batches in one compiled call (tiny nets: chain, xor, linreg). The source is
  written out for the network (the way the generator would) and imported from a file.
* ``blas``: batch-major, ``np.dot(A, W.T, out)`` on preallocated buffers, element-wise work
  (bias, activation, f', softmax, dC/da) fused into one loop per layer, ``dW`` in a buffer and
  a fused update loop.
* ``gemm``: as ``blas`` but the BLAS ``?gemm`` called directly: transposes by flags instead of
  copies, and the update ``W <- W - lr delta^T A`` as one GEMM with beta = 1 (no dW buffer,
  no extra pass over W).
* ``loops``: as ``blas`` with the products as plain loops (no BLAS call overhead).
* ``mixed``: the forward products by ``?gemm``, the backward ones as fused loops (the update
  written straight into W while delta^T a is formed).

All run the whole schedule (epochs x batches, the last batch possibly short) in one compiled
call, allocate their buffers once per run and nothing per batch.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import tempfile
from pathlib import Path
from typing import Any

import numba
import numpy as np
from baselines import Runner
from numba.extending import get_cython_function_address
from numba.typed import List
from workloads import Case, Workload

ACT_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "softmax": 4}
COST_CODES = {"quadratic": 0, "mse": 1, "cross_entropy": 2}
MODES = {"blas": 0, "loops": 1, "gemm": 2, "mixed": 3}

_vp = ctypes.c_void_p


def _fortran_gemm(kind: str) -> tuple[Any, Any]:
    """(?gemm, its integer type): NumPy's own BLAS where it exports it (64-bit integers), as the
    generated code does, so that NumPy and the kernels share one BLAS thread pool; else SciPy's."""
    core = getattr(np, "_core", None) or np.core
    numpy_blas = ctypes.CDLL(core._multiarray_umath.__file__)
    for name in (f"scipy_{kind}gemm_64_", f"{kind}gemm_64_"):
        if hasattr(numpy_blas, name):
            address = ctypes.cast(getattr(numpy_blas, name), _vp).value
            return ctypes.CFUNCTYPE(None, *([_vp] * 13))(address), np.int64
    address = get_cython_function_address("scipy.linalg.cython_blas", f"{kind}gemm")
    return ctypes.CFUNCTYPE(None, *([_vp] * 13))(address), np.int32


_GEMM = {"float32": _fortran_gemm("s"), "float64": _fortran_gemm("d")}


def _make_mlp_kernel(dtype: str) -> Any:
    """The batch-major kernel of one dtype (the BLAS entry point is bound per dtype)."""
    T = np.float32 if dtype == "float32" else np.float64
    fgemm, gemm_int = _GEMM[dtype]

    @numba.njit(inline="always")
    def gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ib, fb, cb):  # type: ignore[no-untyped-def]
        # row-major C(m x n) = alpha op(A) op(B) + beta C, as column-major C^T = op(B)^T op(A)^T
        cb[0] = tb
        cb[1] = ta
        ib[0] = n
        ib[1] = m
        ib[2] = k
        ib[3] = ldb
        ib[4] = lda
        ib[5] = ldc
        fb[0] = alpha
        fb[1] = beta
        fgemm(
            cb[0:].ctypes,
            cb[1:].ctypes,
            ib[0:].ctypes,
            ib[1:].ctypes,
            ib[2:].ctypes,
            fb[0:].ctypes,
            B.ctypes,
            ib[3:].ctypes,
            A.ctypes,
            ib[4:].ctypes,
            fb[1:].ctypes,
            C.ctypes,
            ib[5:].ctypes,
        )

    @numba.njit(cache=False)
    def train(X, Y, Ws, bs, has_bias, acts, cost, lr, batch, epochs, mode, As, Ds, dWs):  # type: ignore[no-untyped-def]
        n = X.shape[0]
        L = len(Ws)
        n_out = Y.shape[1]
        ib = np.zeros(8, gemm_int)
        fb = np.zeros(4, X.dtype)
        cb = np.zeros(4, np.uint8)
        N, Tr = np.uint8(78), np.uint8(84)  # 'N', 'T'
        one, zero = T(1.0), T(0.0)
        for _ep in range(epochs):
            for s in range(0, n, batch):
                e = min(s + batch, n)
                m = e - s
                x = X[s:e]
                y = Y[s:e]
                inv_m = one / T(m)
                # ---- forward: z = a W^T + b, a = f(z) (stored in place of z)
                for l in range(L):
                    W = Ws[l]
                    b = bs[l]
                    Z = As[l][:m]
                    A_in = x if l == 0 else As[l - 1][:m]
                    no, ni = W.shape
                    if mode == 0:
                        np.dot(A_in, W.T, Z)
                    elif mode >= 2:
                        gemm(N, Tr, m, no, ni, one, A_in, ni, W, ni, zero, Z, no, ib, fb, cb)
                    else:
                        for r in range(m):
                            for j in range(no):
                                acc = zero
                                for k in range(ni):
                                    acc += A_in[r, k] * W[j, k]
                                Z[r, j] = acc
                    code = acts[l]
                    if has_bias:
                        for r in range(m):
                            for j in range(no):
                                Z[r, j] += b[j]
                    if code == 1:
                        for r in range(m):
                            for j in range(no):
                                Z[r, j] = one / (one + np.exp(-Z[r, j]))
                    elif code == 2:
                        for r in range(m):
                            for j in range(no):
                                Z[r, j] = np.tanh(Z[r, j])
                    elif code == 3:
                        for r in range(m):
                            for j in range(no):
                                Z[r, j] = max(Z[r, j], zero)
                    elif code == 4:
                        for r in range(m):
                            mx = Z[r, 0]
                            for j in range(1, no):
                                mx = max(mx, Z[r, j])
                            ssum = zero
                            for j in range(no):
                                v = np.exp(Z[r, j] - mx)
                                Z[r, j] = v
                                ssum += v
                            inv = one / ssum
                            for j in range(no):
                                Z[r, j] *= inv
                # ---- BP1: delta^L = dC/da * f'(z) / m  (softmax + cross-entropy: (a - y) / m)
                aL = As[L - 1][:m]
                D = Ds[L - 1][:m]
                code = acts[L - 1]
                scale = inv_m if cost == 2 else (2 * inv_m / n_out if cost == 1 else 2 * inv_m)
                for r in range(m):
                    for j in range(n_out):
                        D[r, j] = (aL[r, j] - y[r, j]) * scale
                if cost != 2:
                    if code == 1:
                        for r in range(m):
                            for j in range(n_out):
                                D[r, j] *= aL[r, j] * (one - aL[r, j])
                    elif code == 2:
                        for r in range(m):
                            for j in range(n_out):
                                D[r, j] *= one - aL[r, j] * aL[r, j]
                    elif code == 3:
                        for r in range(m):
                            for j in range(n_out):
                                if aL[r, j] <= zero:
                                    D[r, j] = zero
                # ---- backward, layer by layer: BP2 before the update of W, then BP3/BP4
                for l in range(L - 1, -1, -1):
                    W = Ws[l]
                    b = bs[l]
                    D = Ds[l][:m]
                    A_in = x if l == 0 else As[l - 1][:m]
                    no, ni = W.shape
                    if l > 0:
                        Dp = Ds[l - 1][:m]
                        Ap = As[l - 1][:m]
                        if mode == 0:
                            np.dot(D, W, Dp)
                        elif mode == 2:
                            gemm(N, N, m, ni, no, one, D, no, W, ni, zero, Dp, ni, ib, fb, cb)
                        else:
                            for r in range(m):
                                for k in range(ni):
                                    Dp[r, k] = zero
                                for j in range(no):
                                    d = D[r, j]
                                    for k in range(ni):
                                        Dp[r, k] += d * W[j, k]
                        pc = acts[l - 1]  # BP2: times f'(z^(l-1)) written in a
                        if pc == 1:
                            for r in range(m):
                                for k in range(ni):
                                    Dp[r, k] *= Ap[r, k] * (one - Ap[r, k])
                        elif pc == 2:
                            for r in range(m):
                                for k in range(ni):
                                    Dp[r, k] *= one - Ap[r, k] * Ap[r, k]
                        elif pc == 3:
                            for r in range(m):
                                for k in range(ni):
                                    if Ap[r, k] <= zero:
                                        Dp[r, k] = zero
                    # BP4 + SGD: W <- W - lr delta^T a^(l-1)
                    if mode == 0:
                        dW = dWs[l]
                        np.dot(D.T, A_in, dW)
                        for j in range(no):
                            for k in range(ni):
                                W[j, k] -= lr * dW[j, k]
                    elif mode == 2:
                        gemm(Tr, N, no, ni, m, -lr, D, no, A_in, ni, one, W, ni, ib, fb, cb)
                    else:
                        for r in range(m):
                            for j in range(no):
                                d = lr * D[r, j]
                                for k in range(ni):
                                    W[j, k] -= d * A_in[r, k]
                    if has_bias:  # BP3 + SGD: b <- b - lr sum_r delta
                        for j in range(no):
                            acc = zero
                            for r in range(m):
                                acc += D[r, j]
                            b[j] -= lr * acc

    return train


_KERNELS: dict[str, Any] = {}


class MlpRunner(Runner):
    """The ``blas`` / ``gemm`` / ``loops`` shapes on any MLP of the workloads."""

    def __init__(self, case: Case, shape: str) -> None:
        super().__init__(case)
        self.name = f"numba-{shape}"
        self.mode = MODES[shape]
        if case.dtype not in _KERNELS:
            _KERNELS[case.dtype] = _make_mlp_kernel(case.dtype)
        self.kernel = _KERNELS[case.dtype]
        w = self.w
        T = np.dtype(case.dtype).type
        self.lr = T(w.lr)
        self.acts = np.array([ACT_CODES[a] for a in w.acts], np.int64)
        L = len(w.sizes) - 1
        self.As = List([np.zeros((w.batch, w.sizes[l]), case.dtype) for l in range(1, L + 1)])
        self.Ds = List([np.zeros((w.batch, w.sizes[l]), case.dtype) for l in range(1, L + 1)])
        self.dWs = List([np.zeros_like(case.params[f"W{l}"]) for l in range(1, L + 1)])

    def run(self) -> dict[str, np.ndarray]:
        w, case = self.w, self.case
        L = len(w.sizes) - 1
        p = case.fresh_params()
        Ws = List([p[f"W{l}"] for l in range(1, L + 1)])
        empty = np.zeros(0, case.dtype)
        bs = List([p.get(f"b{l}", empty) for l in range(1, L + 1)])
        self.kernel(
            case.X,
            case.Y,
            Ws,
            bs,
            w.bias,
            self.acts,
            COST_CODES[w.cost],
            self.lr,
            w.batch,
            w.epochs,
            self.mode,
            self.As,
            self.Ds,
            self.dWs,
        )
        return p


# ---------------------------------------------------------------------------------------------
# The unrolled shape: source written for the network, every weight a scalar local.

_F = {
    "sigmoid": ("one / (one + math.exp(-{z}))", "{a} * (one - {a})"),
    "tanh": ("math.tanh({z})", "(one - {a} * {a})"),
    "relu": ("max({z}, zero)", "(one if {a} > zero else zero)"),
    "identity": ("{z}", "one"),
}


def unrolled_source(w: Workload, dtype: str) -> str:
    """Source of ``train(X, Y, P, lr, batch, epochs)`` for a tiny net: scalar code throughout.

    ``P`` holds the parameters flat (W1 row-major, b1, W2, b2, ...); they are read into scalar
    locals once, trained for the whole run, and written back at the end.
    """
    if w.cost not in ("quadratic", "mse") or "softmax" in w.acts:
        raise ValueError("the unrolled prototype covers scalar activations with (m)se costs")
    sizes, L = w.sizes, len(w.sizes) - 1
    names: list[str] = []
    for l in range(1, L + 1):
        names += [f"w{l}_{j}_{k}" for j in range(sizes[l]) for k in range(sizes[l - 1])]
        if w.bias:
            names += [f"b{l}_{j}" for j in range(sizes[l])]
    T = "np.float32" if dtype == "float32" else "np.float64"
    out = [
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
        "",
        "@numba.njit(cache=False)",
        "def train(X, Y, P, lr, batch, epochs):",
        f"    one = {T}(1.0)",
        f"    zero = {T}(0.0)",
        "    n = X.shape[0]",
    ]
    out += [f"    {nm} = P[{i}]" for i, nm in enumerate(names)]
    out += [
        "    for _ep in range(epochs):",
        "        for s in range(0, n, batch):",
        "            e = min(s + batch, n)",
        f"            step = lr / {T}(e - s)",
    ]
    out += [f"            g_{nm} = zero" for nm in names]
    out += ["            for r in range(s, e):"]
    body = [f"x_{k} = X[r, {k}]" for k in range(sizes[0])]
    a_prev = [f"x_{k}" for k in range(sizes[0])]
    for l in range(1, L + 1):
        fwd = _F[w.acts[l - 1]][0]
        for j in range(sizes[l]):
            terms = [f"w{l}_{j}_{k} * {a_prev[k]}" for k in range(sizes[l - 1])]
            if w.bias:
                terms.append(f"b{l}_{j}")
            body.append(f"z{l}_{j} = " + " + ".join(terms))
            body.append(f"a{l}_{j} = " + fwd.format(z=f"z{l}_{j}"))
        a_prev = [f"a{l}_{j}" for j in range(sizes[l])]
    c = "2.0" if w.cost == "quadratic" else f"{2.0 / sizes[L]!r}"
    for j in range(sizes[L]):  # BP1: delta = dC/da * f'(z)
        fp = _F[w.acts[L - 1]][1].format(a=f"a{L}_{j}")
        body.append(f"d{L}_{j} = {T}({c}) * (a{L}_{j} - Y[r, {j}]) * {fp}")
    for l in range(L - 1, 0, -1):  # BP2: delta^l = (W^{l+1 T} delta^{l+1}) * f'(z^l)
        for k in range(sizes[l]):
            s = " + ".join(f"w{l + 1}_{j}_{k} * d{l + 1}_{j}" for j in range(sizes[l + 1]))
            fp = _F[w.acts[l - 1]][1].format(a=f"a{l}_{k}")
            body.append(f"d{l}_{k} = ({s}) * {fp}")
    for l in range(1, L + 1):  # BP3, BP4 accumulated over the batch
        prev = [f"x_{k}" for k in range(sizes[0])] if l == 1 else None
        for j in range(sizes[l]):
            for k in range(sizes[l - 1]):
                ak = prev[k] if prev else f"a{l - 1}_{k}"
                body.append(f"g_w{l}_{j}_{k} += d{l}_{j} * {ak}")
            if w.bias:
                body.append(f"g_b{l}_{j} += d{l}_{j}")
    out += [f"                {line}" for line in body]
    out += [f"            {nm} -= step * g_{nm}" for nm in names]
    out += [f"    P[{i}] = {nm}" for i, nm in enumerate(names)]
    return "\n".join(out) + "\n"


_A = {  # a = f(z) in place of z, and f'(z) read off a
    "sigmoid": ("{T}(1.0) / ({T}(1.0) + np.exp(-{z}))", "{a} * ({T}(1.0) - {a})"),
    "tanh": ("np.tanh({z})", "({T}(1.0) - {a} * {a})"),
    "relu": ("max({z}, {T}(0.0))", "({T}(1.0) if {a} > {T}(0.0) else {T}(0.0))"),
    "identity": ("{z}", None),
}


def minimal_source(w: Workload, dtype: str) -> str:
    """Source of the least code a hand-written Numba trainer of a dense net needs:
    ``train(X, Y, W1, b1, ..., lr, batch, epochs)``, batch-major, the products by
    ``np.dot(out=)``, one loop per element-wise step, the step taken in place.

    No shuffling, no divergence guard, no checks of its arguments: the compile probe times
    its first call in a fresh process, the floor under any Numba code that trains this net.
    """
    sizes, L = w.sizes, len(w.sizes) - 1
    T = "np.float32" if dtype == "float32" else "np.float64"
    params = [f"W{l}" + (f", b{l}" if w.bias else "") for l in range(1, L + 1)]
    out = [
        "import numba",
        "import numpy as np",
        "",
        "",
        "@numba.njit(cache=False)",
        f"def train(X, Y, {', '.join(params)}, lr, batch, epochs):",
        "    n = X.shape[0]",
    ]
    for l in range(1, L + 1):
        out += [
            f"    a{l}_work = np.empty((batch, {sizes[l]}), {T})",
            f"    d{l}_work = np.empty((batch, {sizes[l]}), {T})",
            f"    gW{l} = np.empty(({sizes[l]}, {sizes[l - 1]}), {T})",
        ]
    out += [
        "    for _ep in range(epochs):",
        "        for s in range(0, n, batch):",
        "            m = min(batch, n - s)",
        "            a0, y = X[s : s + m], Y[s : s + m]",
    ]
    body = []
    for l in range(1, L + 1):
        body += [f"a{l}, d{l} = a{l}_work[:m], d{l}_work[:m]", f"np.dot(a{l - 1}, W{l}.T, a{l})"]
        act = w.acts[l - 1]
        z = f"a{l}[r, j]" + (f" + b{l}[j]" if w.bias else "")
        body += ["for r in range(m):"]
        if act == "softmax":
            body += [
                f"    for j in range({sizes[l]}):",
                f"        a{l}[r, j] = {z}",
                f"    top = a{l}[r, 0]",
                f"    for j in range(1, {sizes[l]}):",
                f"        top = max(top, a{l}[r, j])",
                f"    total = {T}(0.0)",
                f"    for j in range({sizes[l]}):",
                f"        a{l}[r, j] = np.exp(a{l}[r, j] - top)",
                f"        total += a{l}[r, j]",
                f"    for j in range({sizes[l]}):",
                f"        a{l}[r, j] /= total",
            ]
        else:
            f = _A[act][0].format(T=T, z=f"({z})")
            body += [f"    for j in range({sizes[l]}):", f"        a{l}[r, j] = {f}"]
    # BP1: delta^L = dC/da f'(z) / m; softmax with cross-entropy: (a - y) / m
    scale = {"quadratic": "2.0", "mse": f"{2.0 / sizes[L]!r}", "cross_entropy": "1.0"}[w.cost]
    fp = "" if w.acts[L - 1] in ("softmax", "identity") else _A[w.acts[L - 1]][1]
    factor = f" * {fp.format(T=T, a=f'a{L}[r, j]')}" if fp else ""
    body += [
        f"scale = {T}({scale}) / {T}(m)",
        "for r in range(m):",
        f"    for j in range({sizes[L]}):",
        f"        d{L}[r, j] = (a{L}[r, j] - y[r, j]) * scale{factor}",
    ]
    for l in range(L, 0, -1):
        if l > 1:  # BP2 from the old W^(l), before its step
            body.append(f"np.dot(d{l}, W{l}, d{l - 1})")
            fp = _A[w.acts[l - 2]][1]
            if fp:
                fpa = fp.format(T=T, a=f"a{l - 1}[r, k]")
                body += [
                    "for r in range(m):",
                    f"    for k in range({sizes[l - 1]}):",
                    f"        d{l - 1}[r, k] *= {fpa}",
                ]
        body += [  # BP4 and the step
            f"np.dot(d{l}.T, a{l - 1}, gW{l})",
            f"for j in range({sizes[l]}):",
            f"    for k in range({sizes[l - 1]}):",
            f"        W{l}[j, k] -= lr * gW{l}[j, k]",
        ]
        if w.bias:  # BP3 and the step
            body += [
                f"for j in range({sizes[l]}):",
                f"    g = {T}(0.0)",
                "    for r in range(m):",
                f"        g += d{l}[r, j]",
                f"    b{l}[j] -= lr * g",
            ]
    out += [f"            {line}" for line in body]
    return "\n".join(out) + "\n"


def one_batch(w: Workload, dtype: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(x, y, parameters): one batch of random rows and zero weights, in the order W1, b1, ...,
    for the first call of a trainer of the net (what it is compiled for, not what it learns)."""
    rng = np.random.default_rng(0)
    x = rng.random((w.batch, w.sizes[0])).astype(dtype)
    y = rng.random((w.batch, w.sizes[-1])).astype(dtype)
    params = []
    for l in range(1, len(w.sizes)):
        params.append(np.zeros((w.sizes[l], w.sizes[l - 1]), dtype))
        if w.bias:
            params.append(np.zeros(w.sizes[l], dtype))
    return x, y, params


_TMP = Path(tempfile.mkdtemp(prefix="bench-unrolled-"))


def _import_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class UnrolledRunner(Runner):
    """The ``unrolled`` shape; ``per_epoch=True`` enters the compiled code once per epoch."""

    def __init__(self, case: Case, per_epoch: bool = False) -> None:
        super().__init__(case)
        w = self.w
        self.name = "numba-unrolled" + ("-per-epoch" if per_epoch else "")
        self.per_epoch = per_epoch
        path = _TMP / f"unrolled_{w.name}_{case.dtype}_{len(w.sizes)}.py"
        path.write_text(unrolled_source(w, case.dtype), encoding="utf-8")
        self.fn = _import_file(path).train
        self.lr = np.dtype(case.dtype).type(w.lr)

    def _flat(self, p: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([v.ravel() for v in p.values()])

    def run(self) -> np.ndarray:
        w, case = self.w, self.case
        P = self._flat(case.params)
        if self.per_epoch:
            for _ in range(w.epochs):
                self.fn(case.X, case.Y, P, self.lr, w.batch, 1)
        else:
            self.fn(case.X, case.Y, P, self.lr, w.batch, w.epochs)
        return P

    def final(self, result: Any) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for k, v in self.case.params.items():
            out[k] = result[i : i + v.size].reshape(v.shape)
            i += v.size
        return out


def matmul_rate(m: int, n: int, k: int, dtype: str = "float32", min_time: float = 0.2) -> float:
    """GFLOP/s of ``np.matmul`` on C(m x n) = A(m x k) B(k x n), best of repeats."""
    rng = np.random.default_rng(0)
    a = rng.random((m, k)).astype(dtype)
    b = rng.random((k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    np.matmul(a, b, out=c)
    import time

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
    """The machine's reference rate, timed in the same rounds as the frameworks: float32
    ``np.matmul`` of 1024 x 1024 matrices, as many products as the workload has GEMM FLOPs."""

    trains = False

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        self.name = "matmul-1024"
        self.count = max(1, round(self.w.gemm_flops() / (2 * 1024**3)))
        self.flops = 2 * 1024**3 * self.count
        rng = np.random.default_rng(0)
        self.a = rng.random((1024, 1024), dtype=np.float32)
        self.b = rng.random((1024, 1024), dtype=np.float32)
        self.c = np.empty((1024, 1024), np.float32)

    def run(self) -> None:
        for _ in range(self.count):
            np.matmul(self.a, self.b, out=self.c)
