"""symgrad's benchmark: symgrad, NumPy, PyTorch eager and JAX side by side.

Every framework trains the same workload from the same initial weights, in the same batch
order, in one process. Each is called once (the first call, compile included, is reported
apart), warmed up, then timed over repeats taken round-robin across frameworks, so that the
machine's load falls on all of them alike; the median is reported. Every final loss is
recomputed in float64 from the final weights and must agree across frameworks.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py --all  # + SECTIONS
    python benchmarks/run.py --quick          # tiny sizes, checks agreement, times nothing

``--all`` then runs the scripts that write their own sections of the report (``SECTIONS``),
one after another, so that one run gives every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # symgrad from this checkout when it is not installed

#: Relative tolerance on the final loss between frameworks, per dtype.
RTOL = {"float32": 2e-3, "float64": 1e-6}

#: Issue targets: symgrad must be this many times faster than the framework.
TARGETS: dict[str, dict[str, float]] = {
    "chain": {"torch": 1000.0, "jax": 1.5},
    "xor": {"torch": 1000.0, "jax": 1.5},
    "tiny-121": {"jax": 1.5},
    "tiny-241": {"jax": 1.5},
    "digits": {"torch": 20.0, "jax": 1.1},
}


#: Scripts that write their own sections of RESULTS.md, run after this one by ``--all``.
SECTIONS = ("shapes.py", "first_step.py", "population.py")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from frameworks import FRAMEWORKS
    from workloads import WORKLOADS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat, no timing table")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated names")
    p.add_argument("--dtypes", default="float32,float64", help="comma-separated dtypes")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated runners")
    p.add_argument("--repeats", type=int, default=15, help="timed repeats after warm-up")
    p.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds of timed repeats per runner and case at most (slow runners)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads for every framework (BLAS pools, torch, XLA); default: all cores",
    )
    p.add_argument("--no-probes", action="store_true", help="skip compile/memory probes")
    p.add_argument(
        "--all", action="store_true", help=f"then run {', '.join(SECTIONS)} (their sections)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="Markdown report (default benchmarks/RESULTS.md; none in --quick mode)",
    )
    p.add_argument("--json", default=None, help="raw results as JSON")
    p.add_argument(
        "--keep-cache",
        action="store_true",
        help="use the existing Numba/symgrad caches instead of fresh ones",
    )
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# The machine


def machine_info() -> dict[str, Any]:
    import numba
    import numpy as np
    import scipy.linalg  # noqa: F401 - Numba's np.dot calls SciPy's BLAS: load it to list it
    from threadpoolctl import threadpool_info

    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }
    try:
        fields = {}
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = (s.strip() for s in line.split(":", 1))
                    fields.setdefault(k, v)
        info["cpu"] = fields.get("model name", info["cpu"])
        info["cpu_family_model"] = f"family {fields.get('cpu family')}, model {fields.get('model')}"
        flags = fields.get("flags", "").split()
        info["simd"] = " ".join(f for f in ("avx2", "fma", "avx512f") if f in flags)
    except OSError:
        pass
    with contextlib.suppress(AttributeError):
        info["affinity"] = len(os.sched_getaffinity(0))
    for mod in ("torch", "jax", "jaxlib", "scipy"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = "not installed"
    try:
        import baselines
        import torch

        torch.set_num_threads(baselines.THREADS)
        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "other"
    except ImportError:
        pass
    info["blas"] = []
    for d in threadpool_info():
        path = str(d.get("filepath", ""))
        owner = next((o for o in ("numpy", "scipy", "torch", "jaxlib") if f"/{o}" in path), "")
        if d.get("user_api") == "blas":
            what = f"{d['internal_api']} {d['version']}, kernel {d['architecture']}"
        else:
            what = f"{d['internal_api']} runtime ({d['prefix']})"
        info["blas"].append({"what": what, "threads": d["num_threads"], "owner": owner})
    info["env"] = {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "NUMBA_NUM", "XLA_"))
    }
    info["loadavg_start"] = os.getloadavg()
    return info


# ---------------------------------------------------------------------------------------------
# Measuring


def measure_case(case: Any, names: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """First call, warm-up, then round-robin timed repeats of every runner on one case."""
    from frameworks import runner_factories
    from workloads import final_loss

    recs: list[dict[str, Any]] = []
    live: list[tuple[dict[str, Any], Any]] = []
    w = case.workload
    for name, make in runner_factories(case, names):
        rec: dict[str, Any] = {"workload": w.name, "dtype": case.dtype, "framework": name}
        recs.append(rec)
        try:
            t0 = time.perf_counter()
            runner = make()
            res = runner.run()
            rec["first_call_s"] = time.perf_counter() - t0
            if getattr(runner, "trains", True):
                rec["loss"] = final_loss(case, runner.final(res))
            else:  # a reference rate (matmul-1024): no weights to judge
                rec["flops"] = runner.flops
        except Exception as exc:  # reported in the table; the others still run
            rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        if not args.quick:
            warm = rec["first_call_s"]
            # a slow first call of an eager framework is its own warm-up: no JIT to amortise
            if warm < 2.0 or name not in ("torch", "numpy"):
                t0 = time.perf_counter()
                runner.run()  # warm-up
                warm = time.perf_counter() - t0
            rec["repeats_planned"] = max(1, min(args.repeats, int(args.budget / max(warm, 1e-9))))
        else:
            rec["repeats_planned"] = 0
        rec["times"] = []
        live.append((rec, runner))
    for i in range(max((r["repeats_planned"] for r, _ in live), default=0)):
        # each round in its own (seeded) order, so no runner always follows the same one (a
        # BLAS pool still spinning after its last call, a cold cache): that cost falls on all
        order = list(live)
        random.Random(i).shuffle(order)
        for rec, runner in order:
            if i < rec["repeats_planned"]:
                t0 = time.perf_counter()
                runner.run()
                rec["times"].append(time.perf_counter() - t0)
    for rec, _ in live:
        t = rec["times"]
        if t:
            rec["median_s"] = statistics.median(t)
            rec["min_s"], rec["max_s"] = min(t), max(t)
            rec["spread"] = (max(t) - min(t)) / rec["median_s"]
    # agreement: every final loss within the dtype's tolerance of the NumPy reference
    ref = next((r["loss"] for r in recs if r["framework"] == "numpy" and "loss" in r), None)
    for rec in recs:
        if ref is not None and "loss" in rec:
            rec["rel_diff"] = abs(rec["loss"] - ref) / max(abs(ref), 1e-300)
            rec["agrees"] = rec["rel_diff"] <= RTOL[case.dtype]
    sym = next((r for r in recs if r["framework"] == "symgrad" and "median_s" in r), None)
    for rec in recs:
        if sym is not None and "median_s" in rec:
            rec["vs_symgrad"] = paired_ratio(rec["times"], sym["times"])
    return recs


def paired_ratio(times: list[float], ref_times: list[float]) -> float:
    """Median over the rounds of ``times[i] / ref_times[i]``: the two times of each ratio come
    from the same round, so a change of the machine's load between rounds cancels out."""
    n = min(len(times), len(ref_times))
    return statistics.median(times[i] / ref_times[i] for i in range(n))


def matmul_rates(wide: Any) -> dict[str, Any]:
    """Float32 np.matmul GFLOP/s on 1024^3 and on the wide workload's own GEMM shapes."""
    from baselines import matmul_rate

    out: dict[str, Any] = {"square_1024": matmul_rate(1024, 1024, 1024)}
    shapes = []
    total_flops = total_time = 0.0
    for m, n, k in wide.gemm_shapes():
        r = matmul_rate(m, n, k, min_time=0.1)
        flops = 2.0 * m * n * k
        total_flops += flops
        total_time += flops / (r * 1e9)
        shapes.append({"m": m, "n": n, "k": k, "gflops": r})
    out["shapes"] = shapes
    out["workload_mix"] = total_flops / total_time / 1e9
    return out


def run_probes(workloads: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Compile (cold, then from the cache in a second process), generate, memory."""
    out: dict[str, Any] = {"compile": [], "generate": None, "memory": None}
    script = str(HERE / "probes.py")

    def probe(*argv: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        e = {**env, **(extra or {})}
        proc = subprocess.run(
            [sys.executable, script, *argv], env=e, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))

    with tempfile.TemporaryDirectory(prefix="symgrad-probe-") as tmp:
        cache = {"NUMBA_CACHE_DIR": f"{tmp}/numba", "SYMGRAD_CACHE_DIR": f"{tmp}/symgrad"}
        for wname in workloads:
            cold = probe("compile", wname, "float32", extra=cache)
            warm = probe("compile", wname, "float32", extra=cache)
            new_lr = probe("lr", wname, "float32", extra=cache)
            build = probe("aot", wname, "float32", extra=cache)
            ahead = (
                probe("compile", wname, "float32", extra=cache) if "error" not in build else build
            )
            out["compile"].append(
                {
                    "workload": wname,
                    "cold": cold,
                    "cached": warm,
                    "new_lr": new_lr,
                    "aot_build": build,
                    "aot": ahead,
                }
            )
        out["floor"] = [probe("floor", f"{tmp}/floor", "-", extra=cache) for _ in range(2)]
        if "wide" in workloads:
            out["generate"] = probe("generate", "wide", "float32", extra=cache)
            # a cache of its own: the one above holds wide's extension by now, and the jitted
            # module's allocations are what Numba's runtime counts
            jitted = {**cache, "SYMGRAD_CACHE_DIR": f"{tmp}/symgrad-jit"}
            out["memory"] = probe(
                "memory", "wide", "float32", extra={**jitted, "NUMBA_NRT_STATS": "1"}
            )
    return out


# ---------------------------------------------------------------------------------------------
# The report


def _ms(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def _ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x"


def report(
    recs: list[dict[str, Any]],
    machine: dict[str, Any],
    extra: dict[str, Any],
    command: str,
    quick: bool,
) -> str:
    from workloads import WORKLOADS

    L: list[str] = ["# Benchmark results", ""]
    L += [
        "Produced by (the repository root, the OpenBLAS variables unset in this command only):",
        "",
        "```",
        command,
        "```",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Run time: {extra['elapsed_s']:.0f} s. Every number below is from this one run.",
        "",
    ]
    if machine["env"].get("OPENBLAS_NUM_THREADS"):
        L += [
            f"Threads limited to {machine['env']['OPENBLAS_NUM_THREADS']} for every framework "
            "(`--threads`): other jobs share this machine, and multi-threaded BLAS pools "
            "spin-wait on a descheduled worker, which makes multi-threaded times swing by "
            "large factors between repeats. The matrix-multiply rate below is measured at the "
            "same thread count.",
            "",
        ]
    if quick:
        L += [
            "**Quick mode**: tiny sizes, nothing timed; only the agreement of losses is checked.",
            "",
        ]
    if extra.get("symgrad_status"):
        L += [
            f"**symgrad column pending**: {extra['symgrad_status']}. The baselines below "
            "are measured; no symgrad figure is given.",
            "",
        ]
    m = machine
    L += ["## Machine", "", "| | |", "|---|---|"]
    L += [f"| CPU | {m['cpu']} ({m.get('cpu_family_model', '')}; {m.get('simd', '')}) |"]
    L += [
        f"| cores | {m['cores']} (usable: {m.get('affinity', '?')}); torch threads "
        f"{m.get('torch_threads', '-')} |"
    ]
    L += [
        f"| versions | Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, scipy "
        f"{m['scipy']}, torch {m['torch']}, jax {m['jax']} / jaxlib {m['jaxlib']} |"
    ]
    for b in m["blas"]:
        use = {
            "numpy": " (NumPy's: the one symgrad's blas shape calls)",
            "scipy": " (SciPy's: the one Numba's np.dot calls)",
        }
        L += [
            f"| BLAS / threads | {b['what']}, {b['threads']} threads"
            f"{use.get(b['owner'], ' (' + b['owner'] + ')' if b['owner'] else '')} |"
        ]
    if m.get("torch_blas"):
        L += [f"| torch BLAS | {m['torch_blas']} |"]
    env = ", ".join(f"{k}={v}" for k, v in m["env"].items()) or "none set"
    L += [f"| environment | {env} |"]
    L += [
        f"| load average | {m['loadavg_start'][0]:.2f} at start, "
        f"{extra['loadavg_end'][0]:.2f} at the end (1-minute) |",
        "",
    ]

    cases = sorted(
        {(r["workload"], r["dtype"]) for r in recs if r["workload"] in WORKLOADS},
        key=lambda c: (list(WORKLOADS).index(c[0]), c[1]),
    )
    spreads = [r["spread"] for r in recs if "spread" in r]
    if spreads:
        L += [
            "## Noise",
            "",
            "The machine is shared; spread = (slowest - fastest) / median over the repeats of "
            f"one row. Median spread {statistics.median(spreads):.0%}, largest "
            f"{max(spreads):.0%}. The repeats are taken in rounds, every runner once per "
            "round in a new order, and a ratio is the median over the rounds of the two times "
            "of one round: load that changes between rounds cancels out.",
            "",
        ]
    L += ["## Results", ""]
    L += [
        "Time of the whole training run (all epochs); median of the repeats after one warm-up. "
        "`first call` is the first run including compilation (JIT, tracing), apart. "
        "`x symgrad` is the median over the rounds of this row's time over symgrad's in the "
        "same round: above 1 means symgrad is faster. "
        "`loss` is the final mean training cost recomputed in float64 from the final "
        f"weights; it must agree with NumPy's within rtol {RTOL['float32']:g} (float32) / "
        f"{RTOL['float64']:g} (float64).",
        "",
    ]
    for wname, dtype in cases:
        w = WORKLOADS[wname]
        rows = [r for r in recs if r["workload"] == wname and r["dtype"] == dtype]
        L += [
            f"### {wname}, {dtype}: {'-'.join(map(str, w.sizes))} "
            f"{'/'.join(w.acts)}, {w.cost}; {w.note}",
            "",
        ]
        L += [
            "| framework | median | min - max (n) | first call | x symgrad | loss | agrees |",
            "|---|---:|---:|---:|---:|---:|:---:|",
        ]
        for r in rows:
            if "error" in r:
                L += [f"| {r['framework']} | failed: {r['error']} | | | | | |"]
                continue
            n = len(r.get("times", []))
            mm = f"{_ms(r.get('min_s'))} - {_ms(r.get('max_s'))} ({n})" if n else "-"
            agrees = {True: "yes", False: "**NO**"}.get(r.get("agrees"), "-")  # type: ignore[arg-type]
            loss = f"{r['loss']:.8g}" if "loss" in r else "-"  # matmul-1024 trains nothing
            L += [
                f"| {r['framework']} | {_ms(r.get('median_s'))} | {mm} | "
                f"{_ms(r.get('first_call_s'))} | {_ratio(r.get('vs_symgrad'))} | "
                f"{loss} | {agrees} |"
            ]
        L += [""]
    L += targets_section(recs, extra)
    L += fixed_cost_section(recs)
    L += slow_path_section(recs)
    L += wide_section(recs, extra)
    L += probes_section(extra)
    L += findings_section()
    return "\n".join(L) + "\n"


def _record(recs: list[dict[str, Any]], wname: str, dtype: str, fw: str) -> dict[str, Any]:
    """The record of one runner on one case ({} when it did not run)."""
    return next(
        (r for r in recs if (r["workload"], r["dtype"], r["framework"]) == (wname, dtype, fw)), {}
    )


def _median(recs: list[dict[str, Any]], wname: str, dtype: str, fw: str) -> float | None:
    return _record(recs, wname, dtype, fw).get("median_s")


def _times(recs: list[dict[str, Any]], wname: str, dtype: str, fw: str) -> list[float] | None:
    return _record(recs, wname, dtype, fw).get("times") or None


def targets_section(recs: list[dict[str, Any]], extra: dict[str, Any]) -> list[str]:
    L = [
        "## Targets",
        "",
        "How many times faster symgrad is, against the target: the median over the rounds "
        "of the other's time over symgrad's in the same round (as in the `x symgrad` columns "
        "above).",
        "",
        "| workload | dtype | vs torch (target) | vs jax (target) | symgrad-unrolled vs torch | "
        "symgrad-unrolled vs jax |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for wname, tg in TARGETS.items():
        for dtype in ("float32", "float64"):
            sym = _times(recs, wname, dtype, "symgrad")
            unr = _times(recs, wname, dtype, "symgrad-unrolled")
            torch_t = _times(recs, wname, dtype, "torch")
            jax_t = _times(recs, wname, dtype, "jax")
            if torch_t is None and jax_t is None:
                continue

            def cell(
                t: list[float] | None, ref: list[float] | None, target: float | None = None
            ) -> str:
                if t is None or ref is None:
                    return "-"
                r = paired_ratio(t, ref)
                mark = "" if target is None else (" ok" if r >= target else " **missed**")
                return f"{_ratio(r)}{mark}" + (f" ({_ratio(target)})" if target else "")

            L += [
                f"| {wname} | {dtype} | {cell(torch_t, sym, tg.get('torch'))} | "
                f"{cell(jax_t, sym, tg['jax'])} | {cell(torch_t, unr)} | {cell(jax_t, unr)} |"
            ]
    return [*L, ""]


def fixed_cost_section(recs: list[dict[str, Any]]) -> list[str]:
    """fit's fixed cost per call on the nets trained in batches of one, beside JAX."""
    rows = sorted({(r["workload"], r["dtype"]) for r in recs if r["framework"] == "symgrad-fixed"})
    L = []
    for wname, dtype in rows:
        sym = _times(recs, wname, dtype, "symgrad")
        fixed = _times(recs, wname, dtype, "symgrad-fixed")
        jax_t = _times(recs, wname, dtype, "jax")
        if sym is None or fixed is None:
            continue
        n = min(len(sym), len(fixed), len(jax_t or sym))
        share = statistics.median(fixed[i] / sym[i] for i in range(n))
        if jax_t is not None:
            now = paired_ratio(jax_t, sym)
            bound = statistics.median(jax_t[i] / (sym[i] - fixed[i]) for i in range(n))
            cells = f"{_ratio(now)} | {_ratio(bound)}"
        else:
            cells = "- | -"
        L.append(
            f"| {wname} | {dtype} | {_ms(statistics.median(sym))} | "
            f"{_ms(statistics.median(fixed))} | {share:.1%} | {cells} |"
        )
    if not L:
        return []
    head = [
        "## fit's fixed cost on the tiniest nets",
        "",
        "`symgrad-fixed` is `fit` on the first row alone, in the same rounds: what a call costs "
        "besides its steps (the checks of the data and the optimiser's values, the choice of "
        "path, the compiled call itself) and one step. `without it`: JAX's time over symgrad's "
        "less that cost, per round, the lead symgrad would have if a call cost nothing but "
        "its steps.",
        "",
        "| workload | dtype | symgrad | fixed cost | share | x jax | x jax without it |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    return [*head, *L, ""]


def slow_path_section(recs: list[dict[str, Any]]) -> list[str]:
    """What fit's per-epoch path costs on digits, beside the fast path in the same rounds."""
    from workloads import WORKLOADS

    epochs = WORKLOADS["digits"].epochs
    rows = []
    for dtype in ("float32", "float64"):
        for fw, what in (
            ("symgrad-per-epoch", "one compiled call per epoch: a callback that does nothing"),
            ("symgrad-validation", "per epoch: validation cost and accuracy, training accuracy"),
        ):
            r = _record(recs, "digits", dtype, fw)
            if r.get("vs_symgrad") is not None:
                extra = (r["vs_symgrad"] - 1) * 100
                rows.append(
                    f"| {dtype} | `{fw}`: {what} | {r['vs_symgrad']:.3f}x | {extra:+.1f}% |"
                )
    if not rows:
        return []
    return [
        "## The per-epoch path of fit (digits)",
        "",
        "Without validation, metrics, a schedule, early stopping or callbacks, `fit` runs many "
        "epochs per compiled call. With any of them it makes one call per epoch, and Python runs "
        f"between epochs. Each row is the whole {epochs}-epoch run over `symgrad`'s fast path "
        "in the same rounds, and that ratio less one is the path's cost per epoch, as a share "
        "of a fast epoch.",
        "",
        "| dtype | path | time over the fast path | cost per epoch |",
        "|---|---|---:|---:|",
        *rows,
        "",
    ]


def wide_section(recs: list[dict[str, Any]], extra: dict[str, Any]) -> list[str]:
    from workloads import WORKLOADS

    mm = extra.get("matmul")
    if not mm:
        return []
    w = WORKLOADS["wide"]
    flops = w.gemm_flops()
    L = [
        "## wide: fraction of the machine's float32 matrix-multiply rate",
        "",
        f"GEMM FLOPs of the run, counted exactly: {flops:,} (per row and layer l: 2 n_l n_(l-1) "
        "for z = a W^T, the same for dW = delta^T a, and the same for delta W in every layer "
        "but the first; times 8,192 rows and 2 epochs). Element-wise work is not counted.",
        "",
        f"np.matmul float32 rate measured in this run: {mm['square_1024']:.1f} GFLOP/s on "
        f"1024 x 1024 x 1024; {mm['workload_mix']:.1f} GFLOP/s on the workload's own "
        "GEMM shapes, weighted by their FLOPs ("
        + ", ".join(f"{s['m']}x{s['n']}x{s['k']}: {s['gflops']:.0f}" for s in mm["shapes"])
        + ").",
        "",
    ]
    ref = next((r for r in recs if r["framework"] == "matmul-1024" and "median_s" in r), None)
    side = ref["flops"] / ref["median_s"] / 1e9 if ref else None

    def frac(r: dict[str, Any]) -> float:
        """This framework's GEMM rate over matmul-1024's, per round (median over rounds)."""
        assert ref is not None
        return paired_ratio(ref["times"], r["times"]) * flops / ref["flops"]

    if side:
        L += [
            f"The same rate timed side by side, in the rounds of the wide runs: {ref['flops']:,} "
            f"FLOPs of 1024^3 products (as many as the workload's) in a median "
            f"{_ms(ref['median_s'])}: {side:.1f} GFLOP/s. The side-by-side fraction is the "
            "median over the rounds of a framework's rate over this one's in the same round; "
            "it is the one the target is "
            "judged against; the figures above were taken alone, before.",
            "",
        ]
    L += [
        "| framework | median | GFLOP/s | of 1024^3 rate, side by side | of 1024^3 rate, alone "
        "| of own-shape rate |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in recs:
        if r["workload"] == "wide" and "median_s" in r and r["framework"] != "matmul-1024":
            g = flops / r["median_s"] / 1e9
            L += [
                f"| {r['framework']} | {_ms(r['median_s'])} | {g:.1f} | "
                f"{f'{frac(r):.2f}' if side else '-'} | "
                f"{g / mm['square_1024']:.2f} | {g / mm['workload_mix']:.2f} |"
            ]
    L += ["", "Target: symgrad at 0.85 or more of the machine's rate.", ""]
    return L


def _cold_parts(compiles: list[dict[str, Any]]) -> list[str]:
    """Where the cold process's time to its first step goes, from the compile probe."""
    rows = []
    for c in compiles:
        cold = c["cold"]
        times = cold.get("numba_compile_s")
        if "error" in cold or not times:
            continue
        own = {k: v for k, v in times.items() if k.startswith("train_epochs")}
        others = sum(v for k, v in times.items() if k not in own and k != "numba")
        compiled = sum(times.values())
        rows.append(
            f"| {c['workload']} | {_ms(cold['to_first_step_s'])} | {_ms(cold['compile_s'])} | "
            f"{_ms(sum(own.values()))} ({', '.join(sorted(own))}) | {_ms(others)} | "
            f"{_ms(times.get('numba', 0.0))} | {_ms(cold['first_step_s'] - compiled)} |"
        )
    if not rows:
        return []
    return [
        "",
        "Where the cold time goes. `sg.compile`: derive, generate and import the module (and "
        "Numba). Then the first step: Numba's compilations, each without those nested in it "
        "(its `numba:compile` events): the training function itself, the module's other "
        "functions (gemm, activations, the finiteness check), and Numba's own implementations "
        "of the NumPy functions and builtins they use; the rest is Numba's start-up on its "
        "first call (the floor below) and the step itself.",
        "",
        "| workload | cold, to first step | sg.compile | training function | other functions | "
        "Numba's implementations | the rest |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def _new_lr_lines(compiles: list[dict[str, Any]]) -> list[str]:
    """A new learning rate after a model has trained: from the same compiled module."""
    rows = []
    for c in compiles:
        r = c.get("new_lr") or {}
        if "error" in r or "compile_new_lr_to_step_s" not in r:
            rows.append(f"| {c['workload']} | failed: {r.get('error', '?')} | | |")
            continue
        same = "yes" if r.get("same_module") else "no"
        rows.append(
            f"| {c['workload']} | {_ms(r['compile_new_lr_to_step_s'])} | "
            f"{_ms(r['assign_new_lr_to_step_s'])} | {same} |"
        )
    return [
        "",
        "A new learning rate, in a process whose model has trained once: `sg.compile` with "
        "another `lr` of the same optimiser, then its first training step; and "
        "`model.optimizer = sg.SGD(lr=...)` in place, then a step (hyperparameters are run-time "
        "arguments: neither compiles).",
        "",
        "| workload | sg.compile(new lr) + step | model.optimizer = ... + step | same module |",
        "|---|---:|---:|:---:|",
        *rows,
    ]


def probes_section(extra: dict[str, Any]) -> list[str]:
    pr = extra.get("probes")
    if not pr:
        return []
    L = [
        "## Compile, cache, memory",
        "",
        "Fresh processes on fresh cache folders, float32. `cold`: the first process generates, "
        "imports and compiles (Numba), then takes one training step; `cached`: a second process "
        "on the same caches. Times after `import symgrad` (which itself took the `import` "
        "column); targets: cold under 3 s, cached under 0.5 s to the first step.",
        "",
        "`ahead of time`: a third process calls `sg.compile(..., aot=True)`, which builds the "
        "module's compiled functions into a C extension in the cache (`symgrad.runtime.aot`, Numba's "
        "pycc; `build` is that call's time, on the warm Numba cache); a fourth process then "
        "finds the extension and trains with it, without importing Numba (`numba` says whether "
        "it was imported).",
        "",
        "| workload | import | cold: compile + first step | cached: to first step | "
        "cached, whole process | ahead of time: build | ahead of time: to first step | "
        "ahead of time, whole process | numba |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for c in pr["compile"]:
        cold, cached = c["cold"], c["cached"]
        if "error" in cold or "error" in cached:
            L += [
                f"| {c['workload']} | failed: {cold.get('error') or cached.get('error')} |"
                + " |" * 7
            ]
            continue
        build, ahead = c.get("aot_build") or {}, c.get("aot") or {}
        if "to_first_step_s" in ahead and "build_s" in build:
            aot_cells = (
                f"{_ms(build['build_s'])} | {_ms(ahead['to_first_step_s'])} | "
                f"{_ms(ahead['process_to_first_step_s'])} | "
                f"{'imported' if ahead.get('numba_imported') else 'no'}"
            )
        else:
            aot_cells = f"failed: {build.get('error') or ahead.get('error') or '?'} | | |"
        L += [
            f"| {c['workload']} | {_ms(cached['import_s'])} | {_ms(cold['to_first_step_s'])} | "
            f"{_ms(cached['to_first_step_s'])} | {_ms(cached['process_to_first_step_s'])} | "
            f"{aot_cells} |"
        ]
    L += _cold_parts(pr["compile"])
    L += _new_lr_lines(pr["compile"])
    floor = pr.get("floor") or []
    if len(floor) == 2 and not any("error" in f for f in floor):
        L += [
            "",
            f"Numba's own floor, in a fresh process: `import numba` {_ms(floor[1]['import_numba_s'])}, "
            f"then the first call of a one-line `@njit(cache=True)` function "
            f"{_ms(floor[0]['first_call_s'])} compiled, {_ms(floor[1]['first_call_s'])} loaded "
            "from the cache. Every cached model pays this before its first step.",
        ]
    g = pr.get("generate")
    if g and "error" not in g:
        L += [
            "",
            f"derive + generate of the wide net: {_ms(g['total_s'])} (derive "
            f"{_ms(g['derive_s'])}, generate {_ms(g['generate_s'])}); target under 1 s.",
        ]
    elif g:
        L += ["", f"derive + generate of the wide net failed: {g['error']}"]
    mem = pr.get("memory")
    if mem and "error" not in mem:
        mb = 1 / 2**20
        L += [
            "",
            f"Memory of the wide run (float32): peak resident from the data's creation to the "
            f"end of training {mem['peak_bytes'] * mb:.0f} "
            f"MiB against a budget of {mem['budget_bytes'] * mb:.0f} MiB = 1.2 x (runtime "
            f"baseline {mem['baseline_bytes'] * mb:.0f} + data {mem['data_bytes'] * mb:.1f} + "
            f"parameters {mem['param_bytes'] * mb:.2f} + optimiser state 0 + one batch of "
            f"activations {mem['activation_bytes'] * mb:.2f}) MiB. Numba runtime allocations: "
            f"{mem['nrt_allocs_one_epoch']} in an epoch of {mem['batches_per_epoch']} batches, "
            f"{mem.get('nrt_allocs_two_batches', '?')} in an epoch of 2, so "
            f"{mem['allocs_per_batch']:.2f} per batch (target 0): the work arrays are made once "
            "per call. Resident memory "
            f"before the data {mem['baseline_bytes'] * mb:.0f} MiB (peak before it, while "
            f"loading or compiling: {mem['peak_before_data_bytes'] * mb:.0f}), after one epoch "
            f"{mem['rss_after_one_epoch_bytes'] * mb:.0f}, at the end "
            f"{mem['rss_end_bytes'] * mb:.0f} MiB.",
        ]
    elif mem:
        L += ["", f"Memory probe failed: {mem['error']}"]
    return [*L, ""]


def findings_section() -> list[str]:
    """The findings of the investigations behind the generated code (benchmarks/FINDINGS.md),
    carried into every report as written: they were measured once, not in this run."""
    path = HERE / "FINDINGS.md"
    return [path.read_text(encoding="utf-8").rstrip(), ""] if path.exists() else []


def kept_sections(path: Path) -> str:
    """The sections that other scripts write into the report between their markers
    (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``: dask_runs.py, population.py), kept when
    this one rewrites it."""
    if not path.exists():
        return ""
    text = path.read_text()
    found = re.findall(r"<!-- (\w+):start -->.*?<!-- \1:end -->", text, flags=re.S)
    blocks = []
    for name in dict.fromkeys(found):
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        blocks.append(text[text.index(start) : text.index(end) + len(end)])
    return "\n\n".join(blocks)


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_section(path: Path, name: str, block: str) -> None:
    """Put ``block`` (which starts and ends with the ``name`` markers) into the report at
    ``path`` in place of the old one, or at its end; atomically."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        text = text[: text.index(start)] + block.rstrip("\n") + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    atomic_write(path, text.rstrip("\n") + "\n")


def command_line(argv: list[str] | None) -> str:
    """The command as typed from the repository root, with the OpenBLAS variables unset."""
    args = sys.argv[1:] if argv is None else argv
    unset = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
    return unset + "python benchmarks/run.py" + "".join(" " + shlex.quote(a) for a in args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if not args.keep_cache:  # fresh caches: the first call pays the real compile
        tmp = tempfile.mkdtemp(prefix="symgrad-bench-")
        os.environ["NUMBA_CACHE_DIR"] = f"{tmp}/numba"
        os.environ["SYMGRAD_CACHE_DIR"] = f"{tmp}/symgrad"
    if args.threads:  # before numpy, torch and jax are loaded, and for the probes
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
        if args.threads == 1:
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
            ).strip()
        import baselines
        from threadpoolctl import threadpool_limits

        baselines.THREADS = args.threads
        threadpool_limits(limits=args.threads)
        with contextlib.suppress(AttributeError, OSError):  # XLA sizes its pools by the cores
            cores = sorted(os.sched_getaffinity(0))[: args.threads]
            os.sched_setaffinity(0, cores)  # threads started from here on inherit it
    probe_env = dict(os.environ)
    from frameworks import symgrad_status
    from workloads import WORKLOADS, make_case, quick

    machine = machine_info()
    names = [s for s in args.frameworks.split(",") if s]
    dtypes = [s for s in args.dtypes.split(",") if s]
    wnames = [s for s in args.workloads.split(",") if s]
    for s in wnames:
        if s not in WORKLOADS:
            raise SystemExit(f"unknown workload {s!r}; choose from {', '.join(WORKLOADS)}")
    recs: list[dict[str, Any]] = []
    for wname in wnames:
        w = quick(WORKLOADS[wname]) if args.quick else WORKLOADS[wname]
        for dtype in w.dtypes:
            if dtype not in dtypes:
                continue
            case = make_case(w, dtype)
            case_recs = measure_case(case, names, args)
            recs += case_recs
            for r in case_recs:
                t = _ms(r.get("median_s")) if "median_s" in r else r.get("error", "")
                print(
                    f"{wname:7s} {dtype:8s} {r['framework']:26s} {t:>12s} "
                    f"loss {r.get('loss', float('nan')):.8g} "
                    f"{'' if r.get('agrees', True) else 'DISAGREES'}",
                    flush=True,
                )
    extra: dict[str, Any] = {"symgrad_status": symgrad_status()}
    if not args.quick and "wide" in wnames:
        extra["matmul"] = matmul_rates(WORKLOADS["wide"])
    if not args.quick and not args.no_probes and not extra["symgrad_status"]:
        extra["probes"] = run_probes([w for w in wnames if w != "linreg"], probe_env)
    extra["loadavg_end"] = os.getloadavg()
    extra["elapsed_s"] = time.perf_counter() - started
    out = args.out or (None if args.quick else str(HERE / "RESULTS.md"))
    if out:
        text = report(recs, machine, extra, command_line(argv), args.quick)
        kept = kept_sections(Path(out))
        if kept:
            text = text.rstrip("\n") + "\n\n" + kept + "\n"
        atomic_write(Path(out), text)
        print(f"wrote {out}")
    if args.json:
        atomic_write(
            Path(args.json),
            json.dumps(
                {"machine": machine, "results": recs, "extra": extra}, indent=1, default=str
            ),
        )
    bad = [r for r in recs if r.get("agrees") is False]
    failed = []
    if args.all and not args.quick:
        for script in SECTIONS:  # each in a process of its own, as its docstring runs it
            print(f"--- {script}", flush=True)
            done = subprocess.run([sys.executable, str(HERE / script)], env=probe_env, check=False)
            if done.returncode:
                failed.append(script)
    for script in failed:
        print(f"FAILED: {script}", file=sys.stderr)
    for r in bad:
        print(
            f"DISAGREEMENT: {r['workload']} {r['dtype']} {r['framework']}: loss {r['loss']!r}, "
            f"relative difference {r['rel_diff']:.3g}",
            file=sys.stderr,
        )
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
