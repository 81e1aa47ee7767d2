"""The benchmark workloads: network, data, batch order and initial weights.

Every framework in the benchmark trains from the same :class:`Case` (the same data arrays, the
same initial weights, the batches taken in order, the last one possibly short) with plain SGD
and the mean-over-batch cost of DESIGN.md. ``final_loss`` is the one judge of the result: the
mean cost over the whole training set, computed in float64 NumPy from each framework's final
weights, so no framework grades itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: Activation of every layer, cost, and which dtypes are measured, per workload.
FLOAT_BOTH = ("float32", "float64")


@dataclass(frozen=True)
class Workload:
    """A network, its data and its training schedule (plain SGD)."""

    name: str
    sizes: tuple[int, ...]
    acts: tuple[str, ...]  # one per layer, "softmax" only last
    cost: str  # quadratic | mse | cross_entropy
    n_samples: int
    batch_size: int  # 0 means full batch
    epochs: int
    lr: float
    dtypes: tuple[str, ...] = FLOAT_BOTH
    bias: bool = True
    note: str = ""
    l2: float = 0.0  # the L2 penalty lam/2 sum w^2 on the weights (0: none)
    residual: tuple[int, ...] = ()  # layers with a skip connection, a = a_prev + f(z)

    @property
    def batch(self) -> int:
        return self.batch_size or self.n_samples

    @property
    def n_batches(self) -> int:
        """Batches per epoch (the last one may be short)."""
        return -(-self.n_samples // self.batch)

    @property
    def steps(self) -> int:
        return self.n_batches * self.epochs

    def gemm_flops(self) -> int:
        """Exact floating-point operations of the matrix products of the whole run.

        Per batch of m rows and layer l (n_l x n_{l-1}): forward ``Z = A W^T`` and the weight
        gradient ``dW = delta^T A`` cost 2 m n_l n_{l-1} each; the back-propagated
        ``delta W`` costs the same for every layer but the first (nobody needs dC/dx).
        """
        per_row = 0
        for l in range(1, len(self.sizes)):
            mults = self.sizes[l] * self.sizes[l - 1]
            per_row += 2 * mults * (3 if l > 1 else 2)
        return per_row * self.n_samples * self.epochs

    def gemm_shapes(self) -> list[tuple[int, int, int]]:
        """(m, n, k) of the matrix products of one full batch: C(m x n) = A(m x k) B(k x n)."""
        m = self.batch
        shapes = []
        for l in range(1, len(self.sizes)):
            n_out, n_in = self.sizes[l], self.sizes[l - 1]
            shapes.append((m, n_out, n_in))  # Z = A W^T
            shapes.append((n_out, n_in, m))  # dW = delta^T A
            if l > 1:
                shapes.append((m, n_in, n_out))  # delta_prev = delta W
        return shapes


@dataclass
class Case:
    """One workload at one dtype: the arrays every framework starts from."""

    workload: Workload
    dtype: str
    X: np.ndarray
    Y: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """Class indices of one-hot targets (for torch's CrossEntropyLoss)."""
        return np.argmax(self.Y, axis=1)

    def fresh_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def batches(self) -> list[tuple[int, int]]:
        b, n = self.workload.batch, self.workload.n_samples
        return [(s, min(s + b, n)) for s in range(0, n, b)]


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "chain",
            (1, 1, 1, 1),
            ("sigmoid",) * 3,
            "quadratic",
            10_000,
            1,
            1,
            0.5,
            note="3Blue1Brown's chain, 10,000 random samples, size 1, one epoch",
        ),
        Workload(
            "xor",
            (2, 4, 1),
            ("tanh", "sigmoid"),
            "mse",
            4,
            0,
            5_000,
            0.5,
            note="the 4 XOR points, full batch, 5,000 steps",
        ),
        Workload(
            "tiny-121",
            (1, 2, 1),
            ("tanh", "sigmoid"),
            "quadratic",
            20_000,
            1,
            1,
            0.5,
            note="20,000 random points, y = 0.5 + 0.4 tanh(x), batches of one, one epoch",
        ),
        Workload(
            "tiny-241",
            (2, 4, 1),
            ("tanh", "sigmoid"),
            "quadratic",
            20_000,
            1,
            1,
            0.5,
            note="20,000 random points, y = 0.5 + 0.4 tanh(x1 x2), batches of one, one epoch",
        ),
        Workload(
            "digits",
            (64, 32, 10),
            ("sigmoid", "softmax"),
            "cross_entropy",
            1797,
            32,
            10,
            0.5,
            note="UCI digits (bundled with symgrad) scaled to [0, 1], batch 32, ten epochs",
        ),
        Workload(
            "wide-res",
            (784, 256, 256, 256, 10),
            ("relu", "relu", "relu", "softmax"),
            "cross_entropy",
            8192,
            128,
            2,
            0.02,
            dtypes=("float32",),
            residual=(2, 3),
            note="8,192 x 784 random, batch 128, two epochs; layers 2 and 3 residual",
        ),
        Workload(
            "wide",
            (784, 512, 256, 10),
            ("relu", "relu", "softmax"),
            "cross_entropy",
            8192,
            128,
            2,
            0.05,
            dtypes=("float32",),
            note="8,192 x 784 random, batch 128, two epochs",
        ),
        Workload(
            "linreg",
            (2, 1),
            ("identity",),
            "mse",
            100,
            0,
            100,
            0.1,
            bias=False,
            note="y = X a with X = [x, 1], 100 noisy points, full batch, 100 steps",
        ),
    )
}

# the same runs with the L2 penalty lam/2 sum w^2 on the weights
for _name, _lam in (("digits", 1e-3), ("wide", 1e-4)):
    _w = replace(WORKLOADS[_name], name=f"{_name}-l2", l2=_lam)
    WORKLOADS[_w.name] = replace(_w, note=f"{_name} with the L2 penalty {_lam:g}/2 sum w^2")


#: Quick mode (CI): the same networks on tiny data, so every code path runs in seconds.
QUICK: dict[str, dict[str, int]] = {
    "chain": {"n_samples": 50},
    "xor": {"epochs": 20},
    "tiny-121": {"n_samples": 50},
    "tiny-241": {"n_samples": 50},
    "digits": {"n_samples": 100, "epochs": 2},
    "wide": {"n_samples": 64, "batch_size": 16, "epochs": 1},
    "digits-l2": {"n_samples": 100, "epochs": 2},
    "wide-l2": {"n_samples": 64, "batch_size": 16, "epochs": 1},
    "wide-res": {"n_samples": 64, "batch_size": 16, "epochs": 1},
    "linreg": {"epochs": 10},
}


def quick(w: Workload) -> Workload:
    """The quick-mode variant of a workload (same network, tiny run)."""
    return replace(w, **QUICK.get(w.name, {}))  # type: ignore[arg-type]


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((labels.size, n))
    out[np.arange(labels.size), labels] = 1.0
    return out


def make_data(w: Workload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Float64 training data of a workload (cast per case)."""
    rng = np.random.default_rng(seed)
    n = w.n_samples
    if w.name == "chain":
        x = rng.uniform(-2.0, 2.0, (n, 1))
        return x, (x > 0).astype(np.float64)  # learn a step with one sigmoid chain
    if w.name.startswith("tiny"):
        x = rng.uniform(-2.0, 2.0, (n, w.sizes[0]))
        return x, 0.5 + 0.4 * np.tanh(np.prod(x, axis=1, keepdims=True))  # smooth: no chaos
    if w.name == "xor":
        x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        return x, np.array([[0.0], [1.0], [1.0], [0.0]])
    if w.name.startswith("digits"):
        from symgrad.io.data import bundled

        pixels, labels = bundled("digits")  # UCI's, as published (and as scikit-learn ships it)
        return pixels[:n] / 16.0, _one_hot(labels[:n], 10)  # pixels 0..16 -> [0, 1]
    if w.name.startswith(("wide", "shape-")):
        x = rng.random((n, w.sizes[0]))
        teacher = rng.standard_normal((w.sizes[0], w.sizes[-1]))
        labels = np.argmax((x - 0.5) @ teacher, axis=1)  # learnable, balanced-ish labels
        return x, _one_hot(labels, w.sizes[-1])
    if w.name.startswith("sweep"):
        return rng.uniform(-1.0, 1.0, (n, w.sizes[0])), rng.uniform(0.0, 1.0, (n, w.sizes[-1]))
    if w.name == "linreg":
        x = rng.uniform(-1.0, 1.0, n)
        y = 3.0 * x - 0.5 + 0.1 * rng.standard_normal(n)
        return np.column_stack([x, np.ones(n)]), y[:, None]
    raise KeyError(w.name)


def init_params(w: Workload, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded initial weights: W ~ N(0, g^2 / n_in) (g = sqrt 2 before relu), small biases."""
    rng = np.random.default_rng(seed + 1)
    params: dict[str, np.ndarray] = {}
    for l in range(1, len(w.sizes)):
        n_out, n_in = w.sizes[l], w.sizes[l - 1]
        gain = np.sqrt(2.0) if w.acts[l - 1] == "relu" else 1.0
        params[f"W{l}"] = rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)
        if w.bias:
            params[f"b{l}"] = 0.1 * rng.standard_normal(n_out)
    return params


def make_case(w: Workload, dtype: str, seed: int = 0) -> Case:
    x, y = make_data(w, seed)
    params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in init_params(w, seed).items()}
    return Case(w, dtype, np.ascontiguousarray(x, dtype), np.ascontiguousarray(y, dtype), params)


# ---------------------------------------------------------------------------------------------
# The judge: float64 forward pass and mean cost over the whole training set.


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "identity":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise KeyError(name)


def mean_cost(cost: str, a: np.ndarray, y: np.ndarray) -> float:
    """Mean over the batch of the per-example cost C_x (DESIGN.md's table)."""
    if cost == "quadratic":
        per = ((a - y) ** 2).sum(axis=1)
    elif cost == "mse":
        per = ((a - y) ** 2).mean(axis=1)
    elif cost == "cross_entropy":
        per = -(y * np.log(np.maximum(a, 1e-300))).sum(axis=1)
    else:
        raise KeyError(cost)
    return float(per.mean())


def final_loss(case: Case, params: dict[str, np.ndarray]) -> float:
    """Mean training cost of ``params`` on the case's data, in float64 (with the L2 penalty on
    the weights when the workload has one)."""
    w = case.workload
    a = case.X.astype(np.float64)
    for l in range(1, len(w.sizes)):
        z = a @ np.asarray(params[f"W{l}"], np.float64).T
        if w.bias:
            z = z + np.asarray(params[f"b{l}"], np.float64)
        f = activate(w.acts[l - 1], z)
        a = a + f if l in w.residual else f
    penalty = sum(
        0.5 * w.l2 * float((np.asarray(params[f"W{l}"], np.float64) ** 2).sum())
        for l in range(1, len(w.sizes))
    )
    return mean_cost(w.cost, a, case.Y.astype(np.float64)) + penalty
