"""How much of a generated module's training time goes to ``exp``: the digits workload, timed
as generated and with the module's ``_exp`` swapped for a cheap clipped line (wrong numbers,
same loops, no exponential), side by side with JAX, whose compiler vectorises its ``exp``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/exp_share.py [float32|float64]

Prints the medians and the share of ``exp`` (1 - without / with). The second module is only a
measuring device: it trains to a different loss.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # symgrad from this checkout when it is not installed

CHEAP_EXP = "return max(DTYPE(1.0) + u, DTYPE(0.001))"


def without_exp(source: str) -> str:
    """The module with the body of ``_exp``, which every exponential goes through, made one line
    of arithmetic in the module's dtype (as the generated arithmetic is)."""
    head, sep, rest = source.partition("\ndef _exp(u):\n")
    if not sep:
        raise ValueError("the module defines no _exp")
    _, _, tail = rest.partition("\n\n\n")  # the rest of the module after _exp
    return f"{head}{sep}    {CHEAP_EXP}\n\n\n{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dtype", nargs="?", default="float32", choices=("float32", "float64"))
    dtype = parser.parse_args().dtype
    from baselines import JaxRunner
    from workloads import WORKLOADS, make_case

    import symgrad as sg
    from symgrad.codegen.generate import import_path

    case = make_case(WORKLOADS["digits"], dtype)
    w = case.workload
    net = sg.Network.mlp(list(w.sizes), w.acts[0], w.acts[-1], cost=w.cost)
    source = sg.generate(net, sg.SGD(w.lr), dtype, shape="blas").source
    cheap = without_exp(source)
    folder = Path(tempfile.mkdtemp(prefix="symgrad-exp-"))
    modules = {}
    for name, text in (("generated", source), ("without_exp", cheap)):
        path = folder / f"digits_{name}.py"
        path.write_text(text)
        modules[name] = import_path(path, f"digits_{name}")

    def runner(mod: object) -> object:
        def run() -> None:
            p = case.fresh_params()
            args = [p[n] for n in mod.PARAMS]  # type: ignore[attr-defined]
            orders = np.empty((0, case.X.shape[0]), np.int64)
            mod.train_epochs(
                case.X, case.Y, orders, w.epochs, w.batch, *args, 0, np.empty(w.epochs)
            )  # type: ignore[attr-defined]

        return run

    runs = {name: runner(mod) for name, mod in modules.items()}
    runs["jax"] = JaxRunner(case).run
    for run in runs.values():
        run()  # compile, warm up
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(21):
        for name in names[i % 3 :] + names[: i % 3]:
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, m in med.items():
        print(f"{name:12s} {m * 1e3:8.2f} ms")
    print(f"exp share of the generated module: {1 - med['without_exp'] / med['generated']:.0%}")
    print(
        f"jax / generated: {med['jax'] / med['generated']:.2f}x; "
        f"jax / without exp: {med['jax'] / med['without_exp']:.2f}x"
    )


if __name__ == "__main__":
    main()
