"""Checking a derivation: the chain-rule composition against independent judges.

Three judges, strongest first:

1. **symbolic** (small nets): ``expanded(partial) - diff(expanded cost, w)`` is shown to be zero
   (:mod:`symgrad.verify.proof`); where it cannot be shown, the entry is "not proven" with the reason,
   and the other judges give the verdict.
2. **numeric** (any net with explicit closed forms): the closed form evaluated at a random point,
   against central finite differences of the cost in float64.
3. **backprop** (wide nets): the NumPy backpropagation built from the same local derivatives,
   against central finite differences.

A judge left out says so in the report, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from .. import validate
from ..errors import DerivationError, SpecError
from . import numeric, torch_judge
from .proof import prove

if TYPE_CHECKING:
    from ..calculus.derivation import Derivation

SYMBOLIC_PARAMETERS = 40
"""Networks up to this many parameters are proved symbolically by default."""

MAX_POINTS = 100
"""Most random points of the numeric judges: each costs two forward passes per entry."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One parameter entry checked by one judge.

    Attributes:
        status: "ok", "failed" (the judge found a difference) or "unproven" (the symbolic judge
            could not decide; ``note`` says why, and the other judges decide).
    """

    name: str
    index: tuple[int, ...]
    method: str
    error: float
    status: str
    note: str = ""

    @property
    def ok(self) -> bool:
        """Not failed: proved, or left to the other judges."""
        return self.status != "failed"

    @property
    def label(self) -> str:
        return f"{self.name}[{', '.join(map(str, self.index))}]"


@dataclass(frozen=True)
class CheckReport:
    """Every check made; truthy when none failed.

    Attributes:
        skipped: ``(judge, reason)`` for each judge left out.
    """

    results: tuple[CheckResult, ...]
    tolerance: float
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def __bool__(self) -> bool:
        return self.ok

    def worst(self, method: str | None = None) -> CheckResult | None:
        rows = [r for r in self.results if method is None or r.method == method]
        return max(rows, key=lambda r: (not r.ok, r.status == "ok", r.error), default=None)

    def unproven(self) -> list[CheckResult]:
        """The entries the symbolic judge could not decide."""
        return [r for r in self.results if r.status == "unproven"]

    def methods(self) -> list[str]:
        return sorted({r.method for r in self.results})

    def table(self) -> str:
        """Worst error per judge, as a small text table; a judge left out has a row saying why."""
        lines = [f"{'check':<10} {'entries':>8} {'worst error':>12}  {'at':<12} result"]
        for method in self.methods():
            rows = [r for r in self.results if r.method == method]
            worst = self.worst(method)
            assert worst is not None
            unproven = [r for r in rows if r.status == "unproven"]
            if not all(r.ok for r in rows):
                verdict, error = "FAILED" + (f" ({worst.note})" if worst.note else ""), worst.error
            elif unproven:
                proved = len(rows) - len(unproven)
                verdict = f"not proven symbolically for {len(unproven)} ({unproven[0].note})"
                verdict += f", {proved} proved" if proved else ""
                error = math.nan
            else:
                verdict, error = "ok", worst.error
            shown = f"{error:>12.2e}" if math.isfinite(error) or error == math.inf else f"{'-':>12}"
            lines.append(f"{method:<10} {len(rows):>8} {shown}  {worst.label:<12} {verdict}")
        for method, reason in self.skipped:
            lines.append(f"{method:<10} {'-':>8} {'-':>12}  {'':<12} skipped: {reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def check_derivation(
    d: Derivation,
    *,
    params: Iterable[tuple[str, tuple[int, ...]]] | None = None,
    symbolic: bool | None = None,
    numeric_points: int = 2,
    seed: int = 0,
    tolerance: float = 1e-6,
    torch: bool | None = False,
    raise_on_failure: bool = False,
) -> CheckReport:
    """Check the derivation of ``d`` by the judges described in the module docstring.

    Args:
        params: ``(name, index)`` entries to check; default all (a sample of 24 on wide nets).
        symbolic: force the symbolic proof on or off; default on for small nets.
        numeric_points: random points for the numeric judges.
        tolerance: largest relative error accepted by the numeric judges.
        torch: also PyTorch's autograd against the backpropagation (:mod:`.torch_judge`);
            None: when PyTorch is installed (a row says when it is not).
        raise_on_failure: raise :class:`DerivationError` instead of returning a failed report.
    """
    net = d.net
    numeric_points = validate.whole(numeric_points, "numeric_points", 0, MAX_POINTS)
    seed = validate.seed(seed)
    tolerance = validate.real(tolerance, "tolerance", positive=True)
    if symbolic is not None:
        symbolic = validate.flag(symbolic, "symbolic")
    n_params = sum(int(np.prod(net.param_shape(p))) for p in net.param_names)
    entries = _checked_entries(d, params) if params is not None else _entries(d, seed)
    do_symbolic = n_params <= SYMBOLIC_PARAMETERS if symbolic is None else symbolic
    results: list[CheckResult] = []
    skipped: list[tuple[str, str]] = []
    if do_symbolic:
        verdicts = prove(d, [d.partial(name, *index) for name, index in entries])
        for (name, index), verdict in zip(entries, verdicts, strict=True):
            results.append(
                CheckResult(
                    name, tuple(index), "symbolic", verdict.error, verdict.status, verdict.note
                )
            )
    elif symbolic is None:
        skipped.append(
            (
                "symbolic",
                f"the network has {n_params} parameters, more than {SYMBOLIC_PARAMETERS} "
                "(symbolic=True, or --symbolic, forces it)",
            )
        )
    rng = np.random.default_rng(seed)
    for _ in range(numeric_points):
        vals = numeric.init_params(net, int(rng.integers(1 << 30)))
        x = rng.normal(0.0, 1.0, (1, net.sizes[0]))
        y = numeric.random_targets(net, 1, rng)
        masks = numeric.random_masks(net, 1, rng)  # training's dropout, the same for every judge
        fd = numeric.finite_differences(
            net, vals, x, y, which=[(n, tuple(i)) for n, i in entries], masks=masks
        )
        explicit = all(d.explicit(net.layer_of(n)) for n, _ in entries)
        if explicit:
            subs = _layer_values(d, vals, x, y, masks)
            for name, index in entries:
                got = float(d.partial(name, *index).expr.xreplace(subs))
                results.append(
                    _numeric_result(name, index, "numeric", got, fd[name][index], tolerance)
                )
        bp = numeric.gradients(net, vals, x, y, masks)
        for name, index in entries:
            results.append(
                _numeric_result(
                    name, index, "backprop", bp[name][index], fd[name][index], tolerance
                )
            )
    if torch is not False:
        if torch_judge.available():
            by_torch, by_backprop = torch_judge.judge(net, seed)
            for name, index in entries:
                results.append(
                    _numeric_result(
                        name,
                        index,
                        "pytorch",
                        by_backprop[name][index],
                        by_torch[name][index],
                        tolerance,
                    )
                )
        else:
            skipped.append(("pytorch", "PyTorch is not installed (pip install torch)"))
    report = CheckReport(tuple(results), tolerance, tuple(skipped))
    if raise_on_failure and not report.ok:
        worst = report.worst()
        assert worst is not None
        raise DerivationError(
            f"derivation check failed at {worst.label} ({worst.method}, error {worst.error:.2e})"
        )
    return report


def _checked_entries(
    d: Derivation, params: Iterable[tuple[str, tuple[int, ...]]]
) -> list[tuple[str, tuple[int, ...]]]:
    """``params`` as a list of ``(name, index)`` entries that exist in the network."""
    entries = []
    for entry in params:
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise SpecError(f"params holds {entry!r}; give (name, index) pairs like ('W1', (0, 1))")
        name, index = entry
        index = (index,) if isinstance(index, int) else tuple(index)
        d.symbol(name, *index)  # a SpecError when there is no such entry
        entries.append((name, index))
    return entries


def _entries(d: Derivation, seed: int) -> list[tuple[str, tuple[int, ...]]]:
    everything = [(p, idx) for p in d.net.param_names for idx in np.ndindex(d.net.param_shape(p))]
    if len(everything) <= 200:
        return everything
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(everything), 24, replace=False)
    return [everything[i] for i in sorted(picks)]


def _numeric_result(
    name: str, index: tuple[int, ...], method: str, got: float, want: float, tol: float
) -> CheckResult:
    err = abs(got - want) / max(1.0, abs(want))
    ok = bool(np.isfinite(err) and err <= tol)
    return CheckResult(name, tuple(index), method, err, "ok" if ok else "failed")


def _layer_values(
    d: Derivation, params: numeric.Params, x: np.ndarray, y: np.ndarray, masks: numeric.Masks
) -> dict[sp.Basic, sp.Basic]:
    """Float values of every layer quantity and parameter of one example (dropout's masks and
    probabilities too), for ``xreplace``."""
    net, s = d.net, d.sym
    zs, acts = numeric.forward(net, params, x, masks)
    subs: dict[sp.Basic, sp.Basic] = {}
    for l, mask in masks.items():
        subs[s.drop(l)] = sp.Float(net.layers[l - 1].dropout)
        for j in range(mask.shape[1]):
            subs[s.mask(l, j)] = sp.Float(mask[0, j])
    if s.lam is not None and net.regularization is not None:
        subs[s.lam] = sp.Float(net.regularization.lam)
    for k in range(net.sizes[0]):
        subs[s.x(k)] = sp.Float(x[0, k])
    for j in range(net.sizes[-1]):
        subs[s.y(j)] = sp.Float(y[0, j])
    for l, layer in enumerate(net.layers, start=1):
        for j in range(layer.n_out):
            subs[s.z(l, j)] = sp.Float(zs[l - 1][0, j])
            subs[s.a(l, j)] = sp.Float(acts[l][0, j])
            if layer.bias:
                subs[s.b(l, j)] = sp.Float(params[f"b{l}"][j])
            for k in range(layer.n_in):
                subs[s.w(l, j, k)] = sp.Float(params[f"W{l}"][j, k])
    return subs
