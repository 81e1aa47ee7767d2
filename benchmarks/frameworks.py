"""symgrad through its public API, and the table of every runner the harness knows.

``symgrad`` is ``sg.compile(net, optimizer=sg.SGD(lr), dtype)`` (the shape the generator picks),
then per run ``model.set_params(initial)`` and ``model.fit(X, Y, epochs, batch_size,
shuffle=False, progress=False)``; ``symgrad-<shape>`` forces one emitted shape;
``symgrad-aot`` trains with the extension built ahead of time (``sg.compile(..., aot=True)``).
``symgrad-fixed`` (nets trained in batches of one) is ``fit`` on the first row alone: fit's
fixed cost per call and one step, timed in the same rounds. ``symgrad-per-epoch`` is ``symgrad``
on fit's per-epoch path (a callback that does nothing: one
compiled call per epoch, Python between them), and ``symgrad-validation`` that path as a
practitioner uses it: validation cost and accuracy on 20% more rows after each epoch, and
accuracy on the training rows.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
from baselines import JaxRunner, MatmulRunner, NumpyRunner, Runner, TorchRunner
from workloads import Case


def symgrad_status() -> str:
    """'' when ``sg.compile`` is usable, else why not."""
    try:
        import symgrad as sg
    except Exception as exc:  # pragma: no cover - reported, never fatal
        return f"import symgrad failed: {exc}"
    if not hasattr(sg, "compile"):
        return "symgrad has no compile() yet"
    return ""


class SymgradRunner(Runner):
    """``sg.compile`` + ``Model.fit``: the generated code through the public API only."""

    def __init__(
        self, case: Case, shape: str = "auto", aot: bool = False, path: str = "fast"
    ) -> None:
        super().__init__(case)
        import symgrad as sg

        w = self.w
        self.name = "symgrad-aot" if aot else "symgrad" if shape == "auto" else f"symgrad-{shape}"
        self.controls: dict[str, Any] = {}
        self.rows = len(case.X)
        if path == "fixed":  # one row: what a call costs besides its steps (not a training run)
            self.name, self.rows = "symgrad-fixed", 1
            self.trains, self.flops = False, 0
        elif path == "per-epoch":  # fit's slow path and nothing else: a callback that does nothing
            self.name = "symgrad-per-epoch"
            self.controls = {"callbacks": [lambda epoch, logs: None]}
        elif path == "validation":  # as a practitioner runs it: held-out rows and accuracy
            self.name = "symgrad-validation"
            held = max(1, len(case.X) // 5)
            self.controls = {
                "validation": (case.X[:held], case.Y[:held]),
                "metrics": ["accuracy"],
            }
        layers = [
            sg.Dense(w.sizes[l - 1], w.sizes[l], w.acts[l - 1], w.bias, l in w.residual)
            for l in range(1, len(w.sizes))
        ]
        # a network of its own name for the extension, so that the jitted runners never find it
        reg = sg.L2(w.l2) if w.l2 else None
        net = sg.Network(
            layers, cost=w.cost, name="network_aot" if aot else "network", regularization=reg
        )
        self.model = sg.compile(
            net, optimizer=sg.SGD(lr=w.lr), dtype=case.dtype, shape=shape, aot=aot
        )  # with aot, the extension is built here, outside the timed calls
        self.shape = getattr(getattr(self.model, "module", None), "SHAPE", shape)

    def run(self) -> Any:
        w, case, model = self.w, self.case, self.model
        model.set_params(case.params)
        n = self.rows
        model.fit(
            case.X[:n], case.Y[:n], epochs=w.epochs, batch_size=min(w.batch, n), shuffle=False,
            progress=False, **self.controls,
        )  # fmt: skip
        return model  # its weights are copied out in final(), untimed, as torch's are

    def final(self, result: Any) -> dict[str, np.ndarray]:
        return result.params  # copies


def available() -> dict[str, bool]:
    """Which optional frameworks can be imported here."""
    return {
        "torch": importlib.util.find_spec("torch") is not None,
        "jax": importlib.util.find_spec("jax") is not None,
        "symgrad": symgrad_status() == "",
    }


def runner_factories(case: Case, which: list[str]) -> list[tuple[str, Callable[[], Runner]]]:
    """(name, constructor) of the runners asked for that apply to this case."""
    w = case.workload
    have = available()
    n_params = sum(w.sizes[l] * (w.sizes[l - 1] + w.bias) for l in range(1, len(w.sizes)))
    # the unrolled shape writes one line per weight: past a few hundred weights it compiles for
    # minutes and runs slower than the blas shape (benchmarks/FINDINGS.md)
    tiny = w.cost != "cross_entropy" and n_params <= 250
    out: list[tuple[str, Callable[[], Runner]]] = []
    for name in which:
        if name == "symgrad" and have["symgrad"]:
            out.append(("symgrad", lambda: SymgradRunner(case)))
        elif name == "symgrad-aot" and have["symgrad"]:
            out.append(("symgrad-aot", lambda: SymgradRunner(case, aot=True)))
        elif name == "symgrad-per-epoch" and have["symgrad"] and w.name == "digits":
            out.append((name, lambda: SymgradRunner(case, path="per-epoch")))
        elif name == "symgrad-validation" and have["symgrad"] and w.name == "digits":
            out.append((name, lambda: SymgradRunner(case, path="validation")))
        elif name == "symgrad-fixed" and have["symgrad"] and w.batch == 1:
            out.append((name, lambda: SymgradRunner(case, path="fixed")))
        elif name == "symgrad-unrolled" and have["symgrad"] and tiny:
            out.append(("symgrad-unrolled", lambda: SymgradRunner(case, "unrolled")))
        elif name == "numpy":
            out.append(("numpy", lambda: NumpyRunner(case)))
        elif name == "torch" and have["torch"]:
            out.append(("torch", lambda: TorchRunner(case)))
        elif name == "jax" and have["jax"]:
            out.append(("jax", lambda: JaxRunner(case)))
        elif name == "matmul-1024" and (w.name == "wide" or w.name.startswith("shape-")):
            out.append((name, lambda: MatmulRunner(case)))
    return out


FRAMEWORKS = [
    "symgrad",
    "symgrad-unrolled",
    "symgrad-aot",
    "symgrad-fixed",
    "symgrad-per-epoch",
    "symgrad-validation",
    "numpy",
    "torch",
    "jax",
    "matmul-1024",
]


def as_numpy(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in params.items()}
