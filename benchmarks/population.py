"""Many small nets at once: K configurations of a 2-4-1 net, one after another or in lanes.

8 configurations (seeds x learning rates) of a 2-4-1 tanh/sigmoid net, quadratic cost, SGD,
on 256 points in batches of 8 taken in order (32 steps an epoch), 100 epochs each:

* ``symgrad``: ``fit`` of each configuration in turn, through the public API (the optimiser's
  values set on one compiled model, ``set_params`` from ``init(seed)``);
* ``jax-vmap``: one ``jit`` of ``vmap`` over the configurations of a ``lax.scan`` over the steps;
* ``jax-loop``: the same ``jit`` + ``lax.scan`` of one configuration, called for each in turn;
* ``lanes``: a hand-written Numba prototype (``lanes.py``) that trains all 8 at once, each value
  an array over the configurations, the loops over them innermost: what a generated K-lane
  module could gain.

Same data, batches and initial weights; the final losses must agree. Timed in alternating rounds
in one process; the median and spread of the ratios over symgrad are reported (above 1: symgrad
is faster). Writes its section of ``benchmarks/RESULTS.md`` between the ``population`` markers.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/population.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE.parent))
START, END = "<!-- population:start -->", "<!-- population:end -->"
K, ROWS, BATCH = 8, 256, 8


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (ROWS, 2))
    return x, ((x[:, 0] * x[:, 1]) > 0).astype(np.float64)[:, None]  # XOR of the signs


def configs() -> list[tuple[int, float]]:
    return [(seed, lr) for seed in range(K // 2) for lr in (0.5, 1.0)]


def symgrad_runner(dtype: str, epochs: int) -> tuple[Any, list[dict[str, np.ndarray]]]:
    import symgrad as sg

    net = sg.Network.mlp([2, 4, 1], hidden="tanh", output="sigmoid", cost="quadratic")
    model = sg.compile(net, sg.SGD(lr=0.5), dtype)
    starts = [model.init(seed).params for seed, _ in configs()]
    x, y = (a.astype(dtype) for a in data())

    def run() -> list[float]:
        out = []
        for (_, lr), p0 in zip(configs(), starts, strict=True):
            model.optimizer = sg.SGD(lr=lr)
            model.set_params(p0)
            model.reset_optimizer()
            model.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=False, progress=False)
            out.append(model.loss(x, y))
        return out

    return run, starts


def jax_runners(dtype: str, epochs: int, starts: list[dict[str, np.ndarray]]) -> tuple[Any, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x, y = (a.astype(dtype) for a in data())
    xb = jnp.asarray(x.reshape(ROWS // BATCH, BATCH, 2))
    yb = jnp.asarray(y.reshape(ROWS // BATCH, BATCH, 1))
    lrs = jnp.asarray(np.array([lr for _, lr in configs()], dtype))

    def loss(p: dict[str, Any], xs: Any, ys: Any) -> Any:
        a = jnp.tanh(xs @ p["W1"].T + p["b1"])
        a = jax.nn.sigmoid(a @ p["W2"].T + p["b2"])
        return jnp.mean(jnp.sum((a - ys) ** 2, axis=1))

    grad = jax.grad(loss)

    def one(p: dict[str, Any], lr: Any) -> Any:
        def step(q: dict[str, Any], xy: tuple[Any, Any]) -> tuple[dict[str, Any], None]:
            g = grad(q, *xy)
            return jax.tree_util.tree_map(lambda w, gw: w - lr * gw, q, g), None

        def epoch(q: dict[str, Any], _: Any) -> tuple[dict[str, Any], None]:
            return jax.lax.scan(step, q, (xb, yb))[0], None

        q = jax.lax.scan(epoch, p, None, length=epochs)[0]
        return loss(q, jnp.asarray(x), jnp.asarray(y))

    stacked = {k: jnp.asarray(np.stack([s[k] for s in starts])) for k in starts[0]}
    singles = [{k: jnp.asarray(v) for k, v in s.items()} for s in starts]
    vmapped, single = jax.jit(jax.vmap(one)), jax.jit(one)

    def run_vmap() -> list[float]:
        return [float(v) for v in jax.block_until_ready(vmapped(stacked, lrs))]

    def run_loop() -> list[float]:
        return [float(jax.block_until_ready(single(p, lrs[i]))) for i, p in enumerate(singles)]

    return run_vmap, run_loop


def measure(dtype: str, epochs: int, rounds: int) -> dict[str, Any]:
    sym, starts = symgrad_runner(dtype, epochs)
    vmap, loop = jax_runners(dtype, epochs, starts)
    import lanes

    x, y = data()
    lrs = [lr for _, lr in configs()]
    runners = {
        "symgrad": sym,
        "jax-vmap": vmap,
        "jax-loop": loop,
        "lanes": lanes.runner(x, y, starts, lrs, epochs, BATCH, dtype),
    }
    losses = {name: fn() for name, fn in runners.items()}  # compile, and the numbers to compare
    tol = 1e-9 if dtype == "float64" else 2e-3
    agree = all(
        np.allclose(losses[name], losses["symgrad"], rtol=tol, atol=tol) for name in runners
    )
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    ratios = {
        name: [t / s for t, s in zip(times[name], times["symgrad"], strict=True)]
        for name in runners
        if name != "symgrad"
    }
    return {"dtype": dtype, "times": times, "ratios": ratios, "agree": agree, "losses": losses}


def render(results: list[dict[str, Any]], epochs: int, command: str) -> str:
    steps = epochs * ROWS // BATCH
    lines = [
        START,
        "## Many small nets at once (`benchmarks/population.py`)",
        "",
        f"Command: `{command}`. {K} configurations (4 seeds x 2 learning rates) of a 2-4-1 "
        f"tanh/sigmoid net, quadratic cost, SGD, {ROWS} points in batches of {BATCH} in order, "
        f"{epochs} epochs ({steps:,} steps each). symgrad trains them one after another through "
        "`fit`; JAX `vmap`s one jitted `lax.scan` over the configurations, or calls it for each "
        "in turn; `lanes` is a hand-written Numba prototype (`benchmarks/lanes.py`, not "
        "generated code) that trains all of them at once, each value an array over the "
        "configurations with that loop innermost, with symgrad's vectorisable exp and tanh. "
        "Ratios over symgrad, in the same rounds (above 1: symgrad is faster).",
        "",
        "| dtype | symgrad, all 8 | JAX vmap, all 8 | JAX vmap / symgrad | JAX one by one / "
        "symgrad | lanes prototype / symgrad | lanes / JAX vmap | losses agree |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        vm, lp, ln = r["ratios"]["jax-vmap"], r["ratios"]["jax-loop"], r["ratios"]["lanes"]
        lv = [a / b for a, b in zip(r["times"]["lanes"], r["times"]["jax-vmap"], strict=True)]
        lines.append(
            f"| {r['dtype']} | {statistics.median(r['times']['symgrad']) * 1e3:.1f} ms | "
            f"{statistics.median(r['times']['jax-vmap']) * 1e3:.1f} ms | "
            f"{statistics.median(vm):.2f}x ({min(vm):.2f}-{max(vm):.2f}) | "
            f"{statistics.median(lp):.2f}x ({min(lp):.2f}-{max(lp):.2f}) | "
            f"{statistics.median(ln):.2f}x ({min(ln):.2f}-{max(ln):.2f}) | "
            f"{statistics.median(lv):.2f}x ({min(lv):.2f}-{max(lv):.2f}) | {r['agree']} |"
        )
    lines += ["", END]
    return "\n".join(lines) + "\n"


def main() -> int:
    from run import write_section  # a temporary file, then a rename

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    epochs, rounds = (5, 1) if args.quick else (100, 9)
    results = [measure(dtype, epochs, rounds) for dtype in ("float64", "float32")]
    command = "python benchmarks/population.py" + (" --quick" if args.quick else "")
    block = render(results, epochs, command)
    print(block)
    if not all(r["agree"] for r in results):
        print("DISAGREEMENT: the final losses differ", file=sys.stderr)
        return 1
    if not args.quick:
        write_section(Path(args.out), "population", block)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
