"""What the first compile of a blas-shape module pays for: the first call of ``train_epochs``,
each in a fresh process on a fresh Numba cache, for the module as generated and with one part
taken out, beside the hand-written minimal trainer of the same net.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compile_parts.py [digits|wide] [ROUNDS]

The variants are measuring devices only, never modules to train with:

* ``without_guard``: no copy of the weights before each epoch, no finiteness check after it,
  nothing put back (a diverging run keeps its NaN);
* ``without_gather``: the batch is always a view of consecutive rows (shuffled orders ignored);
* ``unchecked_gemm``: ``gemm`` takes the leading dimensions as the row lengths, without checking
  the strides (wrong for arrays whose rows do not have unit stride);
* ``minimal``: ``prototypes.minimal_source``, no guard, no gather, no checks, ``np.dot(out=)``.

Each process first calls the module's ``_all_finite`` (as ``fit`` does on its inputs, which also
starts Numba up; ``minimal``: a one-line function), then ``train_epochs`` (``minimal``:
``train``) on one batch, and reports the time of that second call. The processes take turns,
round after round, and the medians are printed with each one's difference from the module as
generated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # symgrad from this checkout when it is not installed


def _cut(source: str, start: str, end: str, put: str = "") -> str:
    """``source`` with the text from ``start`` up to ``end`` (kept) replaced by ``put``."""
    i = source.find(start)
    j = source.find(end, i + 1)
    if i < 0 or j < 0:
        raise ValueError(f"the module has no {start.strip()!r} ... {end.strip()!r}")
    return source[:i] + put + source[j:]


def variants(source: str) -> dict[str, str]:
    """The generated blas-shape module and its variants with one part taken out."""
    guardless = _cut(
        source, "    # the weights and optimiser state from", "    for e in range(epochs):"
    )
    guardless = _cut(guardless, "        _copy(saved_", "        t_before = t")
    guardless = _cut(guardless, "        if not (np.isfinite(losses[e])", "    return epochs, t\n")
    gatherless = _cut(  # the gather and the else: line; the else branch's view stays
        source, "            if shuffled:  # gather", "                x, y = X[start"
    )
    gatherless = gatherless.replace(
        "\n                x, y = X[start", "\n            x, y = X[start"
    )
    unchecked = _cut(
        source,
        "    size = C.itemsize\n",
        "    _gemm(trans_a, trans_b,",
        "    lda, ldb, ldc = A.shape[1], B.shape[1], C.shape[1]\n",
    )
    return {
        "generated": source,
        "without_guard": guardless,
        "without_gather": gatherless,
        "unchecked_gemm": unchecked,
    }


def _child(path: str, wname: str) -> None:
    """Time the first calls of one module file (this process is fresh)."""
    import importlib.util

    import numpy as np
    from prototypes import one_batch
    from workloads import WORKLOADS

    spec = importlib.util.spec_from_file_location("compile_parts_module", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    w = WORKLOADS[wname]
    x, y, params = one_batch(w, "float32")
    t0 = time.perf_counter()
    if hasattr(mod, "train_epochs"):
        mod._all_finite(x.reshape(-1))
        t1 = time.perf_counter()
        orders = np.zeros((0, 0), np.int64)
        mod.train_epochs(x, y, orders, 1, w.batch, *params, 0, np.empty(1))
    else:  # the minimal trainer: Numba started up by a one-line function first
        import numba

        numba.njit(lambda v: v + 1)(1)
        t1 = time.perf_counter()
        mod.train(x, y, *params, np.float32(w.lr), w.batch, 1)
    print(json.dumps({"start": t1 - t0, "first_call": time.perf_counter() - t1}))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", nargs="?", default="digits", choices=("digits", "wide"))
    parser.add_argument("rounds", nargs="?", type=int, default=3, help="processes per variant")
    args = parser.parse_args()
    wname, rounds = args.workload, args.rounds
    from prototypes import minimal_source
    from workloads import WORKLOADS

    import symgrad as sg

    w = WORKLOADS[wname]
    layers = [sg.Dense(w.sizes[l - 1], w.sizes[l], w.acts[l - 1]) for l in range(1, len(w.sizes))]
    net = sg.Network(layers, cost=w.cost)
    source = sg.generate(net, sg.SGD(w.lr), "float32", shape="blas").source
    sources = {**variants(source), "minimal": minimal_source(w, "float32")}
    folder = Path(tempfile.mkdtemp(prefix="symgrad-compile-parts-"))
    for name, text in sources.items():
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    times: dict[str, list[float]] = {name: [] for name in sources}
    names = list(sources)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            env = {**os.environ, "NUMBA_CACHE_DIR": str(folder / f"numba-{name}-{i}")}
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(folder / f"{name}.py"), wname],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            times[name].append(json.loads(proc.stdout.strip().splitlines()[-1])["first_call"])
    base = statistics.median(times["generated"])
    print(f"{wname}, float32: first call of train_epochs, median of {rounds} fresh processes")
    for name, ts in times.items():
        m = statistics.median(ts)
        spread = ", ".join(f"{t:.2f}" for t in ts)
        print(f"{name:15s} {m:6.2f} s  ({m - base:+.2f} s; {spread})")


if __name__ == "__main__":
    main()
