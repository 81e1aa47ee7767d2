"""Measurements that need a fresh process: compile and cache-load times, memory, allocations.

Run by ``run.py`` as ``python benchmarks/probes.py compile|generate|memory WORKLOAD DTYPE``
with the cache folders in the environment; prints one JSON object on its last line.

* ``compile``: time to import symgrad, then ``sg.compile`` and the first training step (one
  batch). Run twice on the same cache folders: the first process compiles, the second loads.
  The time of every Numba compilation in the first step is recorded apart (Numba's
  ``numba:compile`` events, each without the compilations nested in it).
* ``aot``: ``sg.compile(..., aot=True)``, which builds the extension ahead of time (after the
  two ``compile`` processes, on their caches); a third ``compile`` process then trains with it.
* ``generate``: ``sg.derive`` + ``sg.generate`` of the network (no Numba).
* ``floor``: Numba's own start-up, ``import numba`` and the first call of a one-line cached
  function (``probes.py floor FOLDER``, run twice: compiled, then loaded from the cache).
* ``hand-loops`` / ``hand-expressions``: a hand-written Numba trainer of the workload's net
  (``probes.py hand-loops WORKLOAD DTYPE FOLDER``), without shuffling, checks or a divergence
  guard: ``loops``, the least code (``np.dot(out=)`` and one loop per element-wise step, as in
  FINDINGS.md), and ``expressions``, the fewest lines (``@`` and NumPy array expressions).
  Written into FOLDER, imported, and its first step timed from before ``import numba``; run on
  a fresh folder and cache it compiles, run again on the same ones it loads from the cache.
* ``memory``: peak resident memory of the whole training run against the budget (data,
  parameters, optimiser state, one batch of activations, the runtime's own baseline, + 20 %),
  and Numba runtime allocations per batch (``NUMBA_NRT_STATS=1``): those of an epoch of all
  the batches less those of an epoch of two, over the batches between.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

T_START = time.perf_counter()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


FLOOR_MODULE = """import numba


@numba.njit(cache=True)
def one_more(x):
    return x + 1
"""


def numba_floor(folder: str) -> dict[str, object]:
    """Numba's own cost in a fresh process: ``import numba``, then the first call of a one-line
    cached function (compiled by the first process, loaded from the cache by the next)."""
    import importlib

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "floor_probe.py")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(FLOOR_MODULE)
    sys.path.insert(0, folder)
    t0 = time.perf_counter()
    import numba  # noqa: F401

    t1 = time.perf_counter()
    probe = importlib.import_module("floor_probe")
    probe.one_more(1)
    t2 = time.perf_counter()
    return {"mode": "floor", "import_numba_s": t1 - t0, "first_call_s": t2 - t1}


class CompileTimes:
    """Numba's compilations while it is registered: seconds by function, each without the
    compilations nested in it (a function compiles its callees while it types its calls).
    The module's own functions by name, Numba's implementations of NumPy and builtins together."""

    def __init__(self) -> None:
        from numba.core import event

        self.seconds: dict[str, float] = {}
        self._stack: list[list[float]] = []  # [start, seconds of the nested compilations]
        listener = self

        class _Listener(event.Listener):
            def on_start(self, ev: event.Event) -> None:
                listener._stack.append([time.perf_counter(), 0.0])

            def on_end(self, ev: event.Event) -> None:
                start, nested = listener._stack.pop()
                took = time.perf_counter() - start
                if listener._stack:
                    listener._stack[-1][1] += took
                fn = ev.data["dispatcher"].py_func
                name = fn.__name__ if fn.__module__.startswith("symgrad_generated") else "numba"
                listener.seconds[name] = listener.seconds.get(name, 0.0) + took - nested

        event.register("numba:compile", _Listener())


def expressions_source(w: Any, dtype: str) -> str:
    """A Numba trainer of one dense net in the fewest lines: one jitted SGD step on a batch,
    in NumPy array expressions (constants of the dtype, ``T(...)``, so float32 stays float32)."""
    sizes, acts, cost = w.sizes, w.acts, w.cost
    L = len(sizes) - 1
    ps = ", ".join(f"W{l}" + (f", b{l}" if w.bias else "") for l in range(1, L + 1))
    body = ["    a0 = x", "    inv_b = T(1.0) / T(x.shape[0])"]
    for l in range(1, L + 1):
        body.append(f"    z{l} = a{l - 1} @ W{l}.T" + (f" + b{l}" if w.bias else ""))
        act = acts[l - 1]
        if act == "softmax":
            body.append(f"    e = np.exp(z{l} - z{l}.max())")
            body.append(f"    a{l} = e / e.sum(axis=1).reshape(-1, 1)")
        else:
            f = {
                "sigmoid": f"T(1.0) / (T(1.0) + np.exp(-z{l}))",
                "tanh": f"np.tanh(z{l})",
                "relu": f"np.maximum(z{l}, T(0.0))",
                "identity": f"z{l}",
            }[act]
            body.append(f"    a{l} = {f}")
    if cost == "cross_entropy" or acts[-1] == "identity":  # softmax + cross-entropy, or linear
        body.append(f"    d{L} = (a{L} - y) * inv_b")
    else:  # the quadratic cost, sum over outputs
        body.append(f"    d{L} = T(2.0) * (a{L} - y) * {_fprime(acts[-1], f'a{L}')} * inv_b")
    for l in range(L, 0, -1):
        if l > 1:
            body.append(f"    d{l - 1} = (d{l} @ W{l}) * {_fprime(acts[l - 2], f'a{l - 1}')}")
        body.append(f"    W{l} -= lr * (d{l}.T @ a{l - 1})")
        if w.bias:
            body.append(f"    b{l} -= lr * d{l}.sum(axis=0)")
    return (
        f"import numba\nimport numpy as np\n\nT = np.{dtype}\n\n\n@numba.njit(cache=True)\n"
        f"def step(x, y, {ps}, lr):\n" + "\n".join(body) + "\n"
    )


_A = {  # a = f(z) in place of z, and f'(z) read off a
    "sigmoid": ("{T}(1.0) / ({T}(1.0) + np.exp(-{z}))", "{a} * ({T}(1.0) - {a})"),
    "tanh": ("np.tanh({z})", "({T}(1.0) - {a} * {a})"),
    "relu": ("max({z}, {T}(0.0))", "({T}(1.0) if {a} > {T}(0.0) else {T}(0.0))"),
    "identity": ("{z}", None),
}


def loops_source(w: Any, dtype: str) -> str:
    """Source of the least code a hand-written Numba trainer of a dense net needs:
    ``train(X, Y, W1, b1, ..., lr, batch, epochs)``, batch-major, the products by
    ``np.dot(out=)``, one loop per element-wise step, the step taken in place.

    No shuffling, no divergence guard, no checks of its arguments: the first call in a fresh
    process is the floor under any Numba code that trains this net (benchmarks/FINDINGS.md).
    """
    sizes, L = w.sizes, len(w.sizes) - 1
    T = "np.float32" if dtype == "float32" else "np.float64"
    params = [f"W{l}" + (f", b{l}" if w.bias else "") for l in range(1, L + 1)]
    out = [
        "import numba",
        "import numpy as np",
        "",
        "",
        "@numba.njit(cache=True)",
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


def _fprime(act: str, a: str) -> str:
    return {
        "sigmoid": f"{a} * (T(1.0) - {a})",
        "tanh": f"(T(1.0) - {a} * {a})",
        "relu": f"({a} > T(0.0))",
        "identity": "T(1.0)",
    }[act]


def hand(kind: str, wname: str, dtype: str, folder: str) -> dict[str, object]:
    """A hand-written trainer's first step in this process (see the module's docstring):
    ``loops`` is ``loops_source``'s whole run over one batch, ``expressions`` one step of
    ``expressions_source``."""
    import importlib

    from workloads import WORKLOADS

    w = WORKLOADS[wname]
    os.makedirs(folder, exist_ok=True)
    name = f"hand_{kind}_{wname.replace('-', '_')}_{dtype}"
    path = os.path.join(folder, name + ".py")
    if not os.path.exists(path):
        make = loops_source if kind == "loops" else expressions_source
        with open(path, "w") as f:
            f.write(make(w, dtype))
    sys.path.insert(0, folder)
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((w.batch, w.sizes[0])).astype(dtype)
    y = rng.random((w.batch, w.sizes[-1])).astype(dtype)
    params = []
    for l in range(1, len(w.sizes)):
        params.append(0.1 * rng.standard_normal((w.sizes[l], w.sizes[l - 1])).astype(dtype))
        if w.bias:
            params.append(np.zeros(w.sizes[l], dtype))
    lr = np.dtype(dtype).type(w.lr)
    t0 = time.perf_counter()
    import numba  # noqa: F401 - timed: symgrad's sg.compile imports it too

    trainer = importlib.import_module(name)
    if kind == "loops":
        trainer.train(x, y, *params, lr, w.batch, 1)
    else:
        trainer.step(x, y, *params, lr)
    t1 = time.perf_counter()
    return {"mode": f"hand-{kind}", "workload": wname, "to_first_step_s": t1 - t0}


def main() -> None:
    mode, wname, dtype = sys.argv[1:4]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    sys.path.insert(1, os.path.dirname(here))  # symgrad from this checkout when not installed
    from workloads import WORKLOADS

    if mode == "floor":
        print(json.dumps(numba_floor(wname)))
        return
    if mode in ("hand-loops", "hand-expressions"):
        print(json.dumps(hand(mode[5:], wname, dtype, sys.argv[4])))
        return
    w = WORKLOADS[wname]
    t0 = time.perf_counter()
    import numpy as np

    import symgrad as sg

    t_import = time.perf_counter() - t0
    layers = [
        sg.Dense(w.sizes[l - 1], w.sizes[l], w.acts[l - 1], bias=w.bias)
        for l in range(1, len(w.sizes))
    ]
    net = sg.Network(layers, cost=w.cost)
    opt = sg.SGD(lr=w.lr)
    out: dict[str, object] = {"mode": mode, "workload": wname, "dtype": dtype}
    if mode == "generate":
        t0 = time.perf_counter()
        sg.derive(net)
        t1 = time.perf_counter()
        sg.generate(net, optimizer=opt, dtype=dtype)
        t2 = time.perf_counter()
        out.update(derive_s=t1 - t0, generate_s=t2 - t1, total_s=t2 - t0)
    elif mode == "compile":
        rng = np.random.default_rng(0)
        x = rng.random((w.batch, w.sizes[0])).astype(dtype)
        y = rng.random((w.batch, w.sizes[-1])).astype(dtype)
        t0 = time.perf_counter()
        model = sg.compile(net, optimizer=opt, dtype=dtype)
        t1 = time.perf_counter()
        # numba is imported by now, unless the model runs an extension built ahead of time;
        # registering costs the step nothing
        times = CompileTimes() if "numba" in sys.modules else None
        model.fit(x, y, epochs=1, batch_size=w.batch, shuffle=False, progress=False)
        t2 = time.perf_counter()
        out.update(
            import_s=t_import,
            compile_s=t1 - t0,
            first_step_s=t2 - t1,
            to_first_step_s=t2 - t0,
            process_to_first_step_s=t2 - T_START,
            numba_compile_s=times.seconds if times is not None else {},
            aot=model.aot,
            numba_imported="numba" in sys.modules,
        )
    elif mode == "lr":
        # a model trained once (its module from the caches), then a new learning rate two ways:
        # sg.compile with another value of the same kind, and model.optimizer = ... in place
        rng = np.random.default_rng(0)
        x = rng.random((w.batch, w.sizes[0])).astype(dtype)
        y = rng.random((w.batch, w.sizes[-1])).astype(dtype)
        model = sg.compile(net, optimizer=opt, dtype=dtype)
        model.fit(x, y, epochs=1, batch_size=w.batch, shuffle=False, progress=False)
        t0 = time.perf_counter()
        other = sg.compile(net, optimizer=sg.SGD(lr=w.lr / 2), dtype=dtype)
        other.fit(x, y, epochs=1, batch_size=w.batch, shuffle=False, progress=False)
        t1 = time.perf_counter()
        model.optimizer = sg.SGD(lr=w.lr / 4)
        model.fit(x, y, epochs=1, batch_size=w.batch, shuffle=False, progress=False)
        t2 = time.perf_counter()
        out.update(
            compile_new_lr_to_step_s=t1 - t0,
            assign_new_lr_to_step_s=t2 - t1,
            same_module=other.module is model.module,
        )
    elif mode == "aot":
        t0 = time.perf_counter()
        sg.compile(net, optimizer=opt, dtype=dtype, aot=True)
        out.update(build_s=time.perf_counter() - t0)
    elif mode == "memory":
        from numba.core.runtime import rtsys

        itemsize = np.dtype(dtype).itemsize
        model = sg.compile(net, optimizer=opt, dtype=dtype)
        if model.aot:
            raise RuntimeError("the memory probe counts the jitted module's allocations")
        small = np.zeros((w.batch + 1, w.sizes[0]), dtype)  # two batches, one short: compiles all
        model.fit(
            small,
            np.zeros((w.batch + 1, w.sizes[-1]), dtype),
            epochs=1,
            batch_size=w.batch,
            shuffle=False,
            progress=False,
        )
        baseline = _rss_bytes()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to now
            f.write("5")
        rng = np.random.default_rng(0)
        X = rng.random((w.n_samples, w.sizes[0]), dtype=np.float32).astype(dtype, copy=False)
        Y = np.zeros((w.n_samples, w.sizes[-1]), dtype)
        Y[np.arange(w.n_samples), rng.integers(0, w.sizes[-1], w.n_samples)] = 1
        n_params = sum(int(np.prod(net.param_shape(p))) for p in net.param_names)
        s0 = rtsys.get_allocation_stats()
        model.fit(X, Y, epochs=1, batch_size=w.batch, shuffle=False, progress=False)
        s1 = rtsys.get_allocation_stats()
        rss_one_epoch = _rss_bytes()
        # the same call on two batches: what grows with the batches is the difference
        model.fit(
            X[: 2 * w.batch], Y[: 2 * w.batch], batch_size=w.batch, shuffle=False, progress=False
        )
        s2 = rtsys.get_allocation_stats()
        allocs_two = s2.alloc - s1.alloc
        model.fit(X, Y, epochs=w.epochs, batch_size=w.batch, shuffle=False, progress=False)
        peak = _hwm_bytes()  # peak resident since the reset: data and training only
        acts = w.batch * sum(w.sizes[1:]) * itemsize
        need = baseline + X.nbytes + Y.nbytes + n_params * itemsize + acts
        out.update(
            baseline_bytes=baseline,
            data_bytes=X.nbytes + Y.nbytes,
            param_bytes=n_params * itemsize,
            optimizer_bytes=0,
            activation_bytes=acts,
            budget_bytes=int(1.2 * need),
            peak_bytes=peak,
            peak_before_data_bytes=peak_before,
            rss_after_one_epoch_bytes=rss_one_epoch,
            rss_end_bytes=_rss_bytes(),
            nrt_allocs_one_epoch=s1.alloc - s0.alloc,
            nrt_allocs_two_batches=allocs_two,
            batches_per_epoch=w.n_batches,
            allocs_per_batch=(s1.alloc - s0.alloc - allocs_two) / (w.n_batches - 2),
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
