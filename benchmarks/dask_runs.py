"""symgrad on Dask: a 16-configuration sweep, and data-parallel fit, beside one process.

* **Sweep**: the digits workload's network (64-32-10, sigmoid/softmax, cross-entropy, SGD,
  float32, batch 32) over lr x seed = 4 x 4 configurations, run one after another in this
  process (``workers=0``) and on a two-worker LocalCluster. Cold (fresh processes and caches:
  the compile share), then warm (the cluster up and every module compiled), in alternating
  rounds. Every run's final loss must agree between the two.
* **Data-parallel**: one epoch of the wide workload (784-512-256-10, relu/softmax, float32,
  8,192 rows) with ``fit`` and with ``fit_distributed`` on the cluster, at several batch sizes;
  beside them the single-threaded gradient of half a batch (a worker's share) and the round
  trip of a step of a 1-1 network (the messaging floor). From these: the messaging cost per
  step, the break-even batch size, and a projection to a cluster (README, "Beyond one machine").

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dask_runs.py
    python benchmarks/dask_runs.py --quick      # small sizes: checks that it runs

Writes its section of ``benchmarks/RESULTS.md`` (between the ``dask`` markers) and
``benchmarks/dask_runs.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

START, END = "<!-- dask:start -->", "<!-- dask:end -->"
GRID = {"lr": [0.1, 0.2, 0.5, 1.0], "seed": [0, 1, 2, 3]}


def digits() -> tuple[Any, np.ndarray, np.ndarray]:
    from workloads import WORKLOADS, make_data

    import symgrad as sg

    x, y = make_data(WORKLOADS["digits"])
    net = sg.Network.mlp([64, 32, 10], hidden="sigmoid", output="softmax", cost="cross_entropy")
    return net, x.astype(np.float32), y.astype(np.float32)


def sweep_once(workers: int, epochs: int, client: Any = None) -> dict[str, Any]:
    """One sweep; its wall time, the workers' compile and training seconds, the final losses."""
    import symgrad as sg

    net, x, y = digits()
    started = time.perf_counter()
    result = sg.sweep(
        net, GRID, x, y, epochs=epochs, batch_size=32, dtype="float32", optimizer=sg.SGD(),
        client=client, workers=None if client is not None else workers, progress=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "compile_s": sum(r["compile_seconds"] for r in result),
        "train_s": sum(r["seconds"] for r in result),
        "losses": [r["loss"] for r in result],
        "workers": sorted({r["worker"] for r in result}),
    }


def cold(kind: str, epochs: int) -> dict[str, Any]:
    """A sweep in a fresh process with fresh caches: ``seq`` in the process, ``dask`` on a new
    two-worker cluster (its start-up timed apart)."""
    code = (
        "import json, sys, time; t0 = time.perf_counter(); "
        "sys.path[:0] = [sys.argv[1]]; import distributed as d; import dask_runs as b\n"
        "if __name__ == '__main__':\n"
        "    cl = c = None; t1 = time.perf_counter()\n"
        "    if sys.argv[2] == 'dask':\n"
        "        cl = d.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=':0', "
        "silence_logs=50); c = d.Client(cl)\n"
        "    t2 = time.perf_counter(); r = b.sweep_once(0, int(sys.argv[3]), c)\n"
        "    r['start_s'] = t2 - t1; r['process_s'] = time.perf_counter() - t0\n"
        "    print(json.dumps(r))\n"
        "    if c is not None: c.close(); cl.close()\n"
    )
    with tempfile.TemporaryDirectory(prefix="symgrad-dask-bench-") as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": f"{tmp}/numba", "SYMGRAD_CACHE_DIR": f"{tmp}/sg"}
        proc = subprocess.run(
            [sys.executable, "-c", code, str(HERE), kind, str(epochs)],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def warm(client: Any, epochs: int, rounds: int) -> dict[str, Any]:
    sweep_once(0, epochs)  # compile here
    sweep_once(0, epochs, client)  # and on every worker
    seq, par = [], []
    for _ in range(rounds):
        seq.append(sweep_once(0, epochs))
        par.append(sweep_once(0, epochs, client))
    agree = all(
        math.isclose(a, b, rel_tol=1e-5) for s, p in zip(seq, par, strict=True)
        for a, b in zip(s["losses"], p["losses"], strict=True)
    )  # fmt: skip
    ratios = [s["wall_s"] / p["wall_s"] for s, p in zip(seq, par, strict=True)]
    return {
        "seq_s": [s["wall_s"] for s in seq],
        "dask_s": [p["wall_s"] for p in par],
        "speedup": ratios,
        "agree": agree,
        "train_s": statistics.median(s["train_s"] for s in seq),
    }


def data_parallel(client: Any, batches: list[int], rows: int, rounds: int) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits
    from workloads import WORKLOADS, make_data

    import symgrad as sg

    w = WORKLOADS["wide"]
    x, y = make_data(w)
    x, y = x[:rows].astype(np.float32), y[:rows].astype(np.float32)
    net = sg.Network.mlp([784, 512, 256, 10], hidden="relu", output="softmax", cost="cross_entropy")
    model = sg.compile(net, sg.SGD(lr=0.05), "float32")
    tiny = sg.compile(
        sg.Network.mlp([1, 1], output="identity", cost="mse"), sg.SGD(lr=0.01), "float32"
    )
    xt = np.zeros((rows, 1), np.float32)
    out: dict[str, Any] = {"rows": rows, "params": sum(p.size for p in model.params.values())}
    sg.fit_distributed(model, x, y, epochs=1, batch_size=batches[0], client=client)  # compile
    sg.fit_distributed(tiny, xt, xt, epochs=1, batch_size=rows // 8, client=client)
    model.fit(x, y, epochs=1, batch_size=batches[0], progress=False)
    with threadpool_limits(1):
        model.gradients(x[:4], y[:4])
    table = []

    def per_step(m: Any, xs: np.ndarray, ys: np.ndarray, b: int, steps: int) -> tuple[float, float]:
        """(seconds per step, seconds of set-up per call): one epoch against three."""
        t = time.perf_counter()
        sg.fit_distributed(m, xs, ys, epochs=1, batch_size=b, client=client)
        one = time.perf_counter() - t
        t = time.perf_counter()
        sg.fit_distributed(m, xs, ys, epochs=3, batch_size=b, client=client)
        three = time.perf_counter() - t
        step = max(three - one, 0.0) / (2 * steps)
        return step, one - steps * step

    for b in batches:
        steps = math.ceil(rows / b)
        fit_s, dp_s, setup_s, grad_s, floor_s = [], [], [], [], []
        for _ in range(rounds):
            t = time.perf_counter()
            model.fit(x, y, epochs=1, batch_size=b, progress=False)
            fit_s.append((time.perf_counter() - t) / steps)
            step, setup = per_step(model, x, y, b, steps)
            dp_s.append(step)
            setup_s.append(setup)
            with threadpool_limits(1):
                t = time.perf_counter()
                for _ in range(3):
                    model.gradients(x[: b // 2], y[: b // 2])
                grad_s.append((time.perf_counter() - t) / 3)
            floor_s.append(per_step(tiny, xt, xt, b, steps)[0])
        table.append({
            "batch": b, "steps": steps,
            "fit_s": statistics.median(fit_s), "dp_s": statistics.median(dp_s),
            "setup_s": statistics.median(setup_s),
            "grad_half_1t_s": statistics.median(grad_s), "floor_s": statistics.median(floor_s),
            "ratio": statistics.median(d / f for d, f in zip(dp_s, fit_s, strict=True)),
        })  # fmt: skip
        print(f"data-parallel batch {b}: {table[-1]}", flush=True)
    out["table"] = table
    return out


def render(res: dict[str, Any]) -> str:
    sc, sd, wm = res["cold_seq"], res["cold_dask"], res["warm"]
    lines = [
        START,
        "## Beyond one process: Dask (`benchmarks/dask_runs.py`)",
        "",
        f"Command: `{res['command']}`; {res['machine']}; dask {res['dask']}. Ratios are taken "
        "side by side in one run; above 1, the cluster is faster.",
        "",
        f"### A 16-configuration sweep (digits, 64-32-10, lr x seed = 4 x 4, {res['epochs']} "
        "epochs each, batch 32, float32)",
        "",
        "| | one process (`workers=0`) | two-worker LocalCluster | speed-up |",
        "|---|---:|---:|---:|",
        f"| cold: fresh processes and caches, wall | {sc['process_s']:.2f} s | "
        f"{sd['process_s']:.2f} s (cluster start {sd['start_s']:.2f} s) | "
        f"{sc['process_s'] / sd['process_s']:.2f}x |",
        f"| cold: the sweep alone | {sc['wall_s']:.2f} s | {sd['wall_s']:.2f} s | "
        f"{sc['wall_s'] / sd['wall_s']:.2f}x |",
        f"| cold: compiling, of the runs' own time | {sc['compile_s']:.2f} s of "
        f"{sc['compile_s'] + sc['train_s']:.2f} s "
        f"({sc['compile_s'] / (sc['compile_s'] + sc['train_s']):.0%}) | {sd['compile_s']:.2f} s of "
        f"{sd['compile_s'] + sd['train_s']:.2f} s "
        f"({sd['compile_s'] / (sd['compile_s'] + sd['train_s']):.0%}), both workers | |",
        f"| warm: the cluster up, modules compiled (median of {len(wm['speedup'])} rounds) | "
        f"{statistics.median(wm['seq_s']):.3f} s | {statistics.median(wm['dask_s']):.3f} s | "
        f"{statistics.median(wm['speedup']):.2f}x (spread {min(wm['speedup']):.2f}-"
        f"{max(wm['speedup']):.2f}) |",
        "",
        f"Final losses of every configuration agree between the two: {wm['agree']}. The runs' own "
        f"training time is {wm['train_s']:.3f} s in all; the rest of the warm cluster's wall time "
        "is Dask's: scheduling 16 tasks and their results on 2 shared cores.",
        "",
    ]
    dp = res["data_parallel"]
    lines += [
        f"### Data-parallel `fit_distributed` against `fit` (wide, 784-512-256-10, float32, "
        f"{dp['rows']:,} rows, {dp['params']:,} parameters, one epoch)",
        "",
        "| batch | steps | `fit` per step | `fit_distributed` per step | ratio | a worker's "
        "gradient (B/2 rows, 1 thread) | messaging per step | 1-1 net's step (floor) | set-up "
        "per call |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in dp["table"]:
        msg = r["dp_s"] - r["grad_half_1t_s"]
        lines.append(
            f"| {r['batch']} | {r['steps']} | {r['fit_s'] * 1e3:.2f} ms | {r['dp_s'] * 1e3:.2f} ms "
            f"| {r['ratio']:.2f}x | {r['grad_half_1t_s'] * 1e3:.2f} ms | {msg * 1e3:.2f} ms "
            f"| {r['floor_s'] * 1e3:.2f} ms | {r['setup_s']:.2f} s |"
        )
    lines += ["", "(Per step: the difference between a call of three epochs and one of one, "
              "over the steps between. ratio: `fit_distributed`'s step over `fit`'s; messaging: "
              "the step less a worker's gradient; set-up: placing the rows on the workers and "
              "starting their shards, once per call.)", "", END]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    from run import atomic_write, write_section  # a temporary file, then a rename

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    p.add_argument("--json", default=str(HERE / "dask_runs.json"))
    args = p.parse_args()
    import dask
    import distributed

    epochs = 5 if args.quick else 100
    rounds = 1 if args.quick else 5
    res: dict[str, Any] = {
        "command": "python benchmarks/dask_runs.py" + (" --quick" if args.quick else ""),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "dask": dask.__version__,
        "epochs": epochs,
    }
    res["cold_seq"] = cold("seq", epochs)
    print("cold sequential", res["cold_seq"]["process_s"], flush=True)
    res["cold_dask"] = cold("dask", epochs)
    print("cold dask", res["cold_dask"]["process_s"], flush=True)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                                 silence_logs=50) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        res["warm"] = warm(client, epochs, rounds)
        print("warm", res["warm"]["speedup"], flush=True)
        batches = [64, 256] if args.quick else [128, 512, 2048, 8192]
        res["data_parallel"] = data_parallel(
            client, batches, 1024 if args.quick else 8192, 1 if args.quick else 3
        )
    atomic_write(Path(args.json), json.dumps(res, indent=1, default=str))
    if not args.quick:
        write_section(Path(args.out), "dask", render(res))
        print(f"wrote {args.out}")
    else:
        print(render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
