"""A sweep of wide-net shapes: symgrad beside JAX, PyTorch eager and the matrix-multiply rate.

Each shape is a 256-W-10 net (hidden ``relu`` or ``tanh``, softmax output, cross-entropy) on
4,096 random rows, trained one epoch per call with SGD in batches of B, taken in order, for
W in 128..1024, B in 32..512 and float32 and float64. symgrad is ``model.fit`` (one epoch per
call, as a user runs it); JAX a jitted ``lax.scan`` over the batches; PyTorch eager; and
``matmul-1024`` the machine's rate, ``np.matmul`` of 1024 x 1024 matrices in the same dtype.
All are timed in the same rounds (``run.measure_case``), and each ratio is the median over
the rounds of the two times of one round.

Where the time goes, per shape: the GEMMs of the run alone (``np.matmul`` at the run's own
shapes and transposes, through the same BLAS, with its threads and with one), and the rest of
symgrad's time (element-wise passes, fit's fixed cost per call).

Writes its section of ``benchmarks/RESULTS.md`` between the ``shapes`` markers.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/shapes.py
    python benchmarks/shapes.py --quick      # two small shapes, checks agreement
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

IN, OUT, ROWS = 784, 10, 4096
WIDTHS = (128, 256, 512, 1024)
BATCHES = (32, 128, 256, 512)
ACTS = ("relu", "tanh")
DTYPES = ("float32", "float64")
RUNNERS = ["symgrad", "jax", "torch", "matmul-1024"]
#: The issue's targets: symgrad's speed-up over JAX, over eager PyTorch (batch <= 256), and
#: the fraction of the matmul rate where the GEMMs dominate (the GEMMs alone >= 80% of the run).
JAX_TARGET, TORCH_TARGET, TORCH_BATCH, RATE_TARGET, GEMM_BOUND = 1.1, 1.5, 256, 0.85, 0.8


def workload(width: int, batch: int, act: str) -> Any:
    from workloads import Workload

    return Workload(
        f"shape-{width}-{batch}-{act}",
        (IN, width, OUT),
        (act, "softmax"),
        "cross_entropy",
        ROWS,
        batch,
        1,
        0.05,
        note=f"{ROWS:,} x {IN} random, batch {batch}, one epoch per call",
    )


def gemm_alone(case: Any, threads: int | None, engine: str = "numpy") -> float:
    """Seconds of the run's GEMMs alone: every product of every batch (forward, BP2, BP4) at
    the run's shapes, median of 5. ``numpy``: ``np.matmul`` (the BLAS symgrad calls, limited to
    ``threads``); ``jax``: the same products in one jitted function per batch (XLA's own GEMM)."""
    from threadpoolctl import threadpool_limits

    w = case.workload
    rng = np.random.default_rng(0)
    mats = []
    for m, n, k in w.gemm_shapes():
        a, b = rng.random((m, k)).astype(case.dtype), rng.random((k, n)).astype(case.dtype)
        mats.append((a, b, np.empty((m, n), case.dtype)))
    tail = w.n_samples % w.batch
    calls = w.n_samples // w.batch + (tail > 0)  # a short last batch counted as a full one
    if engine == "jax":
        import jax

        ins = [(jax.numpy.asarray(a), jax.numpy.asarray(b)) for a, b, _ in mats]
        products = jax.jit(lambda ins: [a @ b for a, b in ins])

        def once() -> float:
            t0 = time.perf_counter()
            for _ in range(calls):
                jax.block_until_ready(products(ins))
            return time.perf_counter() - t0

        once()
        return statistics.median(once() for _ in range(5))

    def once_np() -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            for a, b, c in mats:
                np.matmul(a, b, out=c)
        return time.perf_counter() - t0

    with threadpool_limits(limits=threads, user_api="blas"):
        once_np()
        return statistics.median(once_np() for _ in range(5))


def measure(width: int, batch: int, act: str, dtype: str, repeats: int) -> dict[str, Any]:
    from run import measure_case
    from workloads import make_case

    case = make_case(workload(width, batch, act), dtype)
    args = argparse.Namespace(quick=repeats == 0, repeats=repeats, budget=4.0)
    recs = {r["framework"]: r for r in measure_case(case, RUNNERS, args)}
    out: dict[str, Any] = {
        "width": width,
        "batch": batch,
        "act": act,
        "dtype": dtype,
        "gemm_flops": case.workload.gemm_flops(),
        "recs": recs,
    }
    losses = [r["loss"] for r in recs.values() if "loss" in r]
    ref = recs.get("torch", {}).get("loss", losses[0] if losses else None)
    tol = 2e-3 if dtype == "float32" else 1e-6
    out["agrees"] = bool(losses) and all(abs(x - ref) <= tol * abs(ref) for x in losses)
    if repeats:
        out["gemm_s"] = gemm_alone(case, None)
        out["gemm_1t_s"] = gemm_alone(case, 1)
        out["gemm_jax_s"] = gemm_alone(case, None, "jax")
    return out


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """The ratios of one shape (above 1: symgrad is faster; rate: a fraction of matmul-1024's)."""
    recs = row["recs"]
    sym = recs.get("symgrad", {})
    s: dict[str, Any] = {"symgrad_s": sym.get("median_s")}
    for fw in ("jax", "torch"):
        s[fw] = recs.get(fw, {}).get("vs_symgrad")
    mm = recs.get("matmul-1024", {})
    if "times" in mm and "times" in sym:
        n = min(len(mm["times"]), len(sym["times"]))
        s["rate"] = statistics.median(
            (row["gemm_flops"] / sym["times"][i]) / (mm["flops"] / mm["times"][i]) for i in range(n)
        )
    if sym.get("median_s") and "gemm_s" in row:
        s["gemm_share"] = row["gemm_s"] / sym["median_s"]
    return s


def render(rows: list[dict[str, Any]], command: str, elapsed: float) -> str:
    from run import _ms

    def r2(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    L = [
        "<!-- shapes:start -->",
        "## A sweep of wide shapes (`benchmarks/shapes.py`)",
        "",
        f"Command: `{command}` ({elapsed:.0f} s). Each shape is a {IN}-W-{OUT} net (hidden "
        f"relu or tanh, softmax, cross-entropy) on {ROWS:,} random rows, one epoch per call, "
        "SGD in batches of B taken in order. `x jax`, `x torch`: the other's time over "
        "symgrad's `fit`, the median over the rounds of one run (above 1: symgrad is faster). "
        "`rate`: symgrad's GEMM FLOPs per second over `np.matmul`'s on 1024 x 1024 matrices of "
        "the same dtype, in the same rounds. `GEMMs alone`: the run's matrix products by "
        "themselves (NumPy's `matmul` at the same shapes, same BLAS and threads), as a share of "
        "symgrad's time; `1 thread`: the same products on one BLAS thread, over those on two "
        "(below 1: one thread is faster at this shape); `XLA`: the same products in JAX (XLA's "
        "own GEMM), over NumPy's (below 1: XLA's is faster, a bound on symgrad's lead where "
        "the GEMMs dominate). Targets: JAX "
        f"{JAX_TARGET}x, PyTorch {TORCH_TARGET}x at batch <= {TORCH_BATCH}, rate "
        f"{RATE_TARGET} where the GEMMs alone are {GEMM_BOUND:.0%} of the run or more.",
        "",
    ]
    for dtype in DTYPES:
        sub = [r for r in rows if r["dtype"] == dtype]
        if not sub:
            continue
        L += [
            f"### {dtype}",
            "",
            "| W | B | hidden | symgrad | x jax | x torch | rate | GEMMs alone | 1 thread "
            "| XLA | agree |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
        ]
        for r in sub:
            s = summary(r)
            one = f"{r['gemm_1t_s'] / r['gemm_s']:.2f}" if r.get("gemm_s") else "-"
            xla = f"{r['gemm_jax_s'] / r['gemm_s']:.2f}" if r.get("gemm_jax_s") else "-"
            jx = s["jax"]
            tc = s["torch"]
            jmark = "" if jx is None or jx >= JAX_TARGET else " **"
            tmark = "" if tc is None or r["batch"] > TORCH_BATCH or tc >= TORCH_TARGET else " **"
            gs = s.get("gemm_share")
            rmark = (
                " **"
                if gs is not None and gs >= GEMM_BOUND and (s.get("rate") or 0) < RATE_TARGET
                else ""
            )
            L.append(
                f"| {r['width']} | {r['batch']} | {r['act']} | {_ms(s['symgrad_s'])} | "
                f"{r2(jx)}x{jmark} | {r2(tc)}x{tmark} | {r2(s.get('rate'))}{rmark} | "
                f"{'-' if gs is None else f'{gs:.0%}'} | {one} | {xla} | "
                f"{'yes' if r['agrees'] else 'NO'} |"
            )
        L.append("")
    tally = [summary(r) for r in rows]
    jx = [t["jax"] for t in tally if t["jax"] is not None]
    tc = [
        t["torch"] for t, r in zip(tally, rows, strict=True)
        if t["torch"] is not None and r["batch"] <= TORCH_BATCH
    ]  # fmt: skip
    if jx and tc:
        L += [
            f"`**`: short of its target. Over all {len(rows)} shapes: x jax median "
            f"{statistics.median(jx):.2f} (range {min(jx):.2f}-{max(jx):.2f}), "
            f"{sum(x >= JAX_TARGET for x in jx)} of {len(jx)} at {JAX_TARGET}x or more; "
            f"x torch at batch <= {TORCH_BATCH} median {statistics.median(tc):.2f} "
            f"(range {min(tc):.2f}-{max(tc):.2f}), {sum(x >= TORCH_TARGET for x in tc)} of "
            f"{len(tc)} at {TORCH_TARGET}x or more.",
            "",
        ]
    L.append("<!-- shapes:end -->")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    from run import atomic_write, write_section

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="two small shapes, nothing timed")
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    p.add_argument("--batches", default=",".join(map(str, BATCHES)))
    p.add_argument("--acts", default=",".join(ACTS))
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument("--repeats", type=int, default=7, help="timed rounds per shape")
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    p.add_argument("--json", default=str(HERE / "shapes.json"))
    args = p.parse_args(argv)
    started = time.perf_counter()
    if args.quick:
        grid = [(128, 32, "relu", "float64"), (128, 64, "tanh", "float32")]
    else:
        grid = [
            (int(w), int(b), a, d)
            for d in args.dtypes.split(",")
            for a in args.acts.split(",")
            for w in args.widths.split(",")
            for b in args.batches.split(",")
        ]
    rows = []
    for width, batch, act, dtype in grid:
        row = measure(width, batch, act, dtype, 0 if args.quick else args.repeats)
        rows.append(row)
        s = summary(row) if not args.quick else {}
        print(
            f"{dtype} W={width:5d} B={batch:4d} {act:5s} "
            + " ".join(f"{k}={v:.3g}" for k, v in s.items() if isinstance(v, float))
            + ("" if row["agrees"] else " DISAGREES"),
            flush=True,
        )
    bad = [r for r in rows if not r["agrees"]]
    if args.quick:
        return 1 if bad else 0
    argv_s = "" if argv is None else " ".join(argv)
    extra = " " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else argv_s
    command = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/shapes.py" + extra
    block = render(rows, command, time.perf_counter() - started)
    print(block)
    atomic_write(Path(args.json), json.dumps(rows, indent=1, default=str))
    write_section(Path(args.out), "shapes", block)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
