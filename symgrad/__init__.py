"""symgrad: see backpropagation step by step, and generate fast training code from it.

Declare a network (:class:`Network`, :class:`Dense`), derive every partial derivative of its
cost with the chain-rule steps (:func:`derive`), and generate a readable Numba module that
trains it (:func:`generate`, :func:`compile`, :class:`Model`).

The names are imported when first used (PEP 562), so ``import symgrad`` and ``symgrad
--version`` load neither SymPy, Numba nor Jinja2.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "ACTIVATIONS": "net.ops",
    "COSTS": "net.ops",
    "Activation": "net.ops",
    "Cost": "net.ops",
    "SGD": "net.optim",
    "Adam": "net.optim",
    "Momentum": "net.optim",
    "RMSprop": "net.optim",
    "AdamW": "net.optim",
    "L1": "net.regularization",
    "L2": "net.regularization",
    "EarlyStopping": "net.stopping",
    "StepLR": "net.schedules",
    "ExponentialLR": "net.schedules",
    "CosineLR": "net.schedules",
    "ReduceLROnPlateau": "net.schedules",
    "CodegenError": "errors",
    "DerivationError": "errors",
    "DivergenceError": "errors",
    "SpecError": "errors",
    "SymgradError": "errors",
    "Dataset": "io.data",
    "load_data": "io.data",
    "Dense": "net.network",
    "Network": "net.network",
    "Derivation": "calculus.derivation",
    "Partial": "calculus.derivation",
    "derive": "calculus.derivation",
    "LocalDerivation": "calculus.local",
    "differentiate": "calculus.local",
    "descend": "views.descent",
    "exercise": "views.exercise",
    "Exercise": "views.exercise",
    "Graph": "views.graph",
    "graph": "views.graph",
    "nudge": "views.descent",
    "Lesson": "views.lesson",
    "sweep": "parallel.sweep",
    "SweepResult": "parallel.results",
    "fit_distributed": "parallel.data_parallel",
    "lesson": "views.lesson",
    "GeneratedModule": "codegen.generate",
    "compile": "runtime.build",
    "generate": "codegen.generate",
    "History": "runtime.model",
    "Model": "runtime.model",
    "SpecFile": "io.specfile",
    "load_spec": "io.specfile",
    "Step": "calculus.steps",
}

# public submodules under their short names: sg.data.accuracy(...)
_MODULES: dict[str, str] = {"data": "io.data"}

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "L1",
    "L2",
    "SGD",
    "Activation",
    "Adam",
    "AdamW",
    "CodegenError",
    "CosineLR",
    "Cost",
    "Dataset",
    "Dense",
    "Derivation",
    "DerivationError",
    "DivergenceError",
    "EarlyStopping",
    "Exercise",
    "ExponentialLR",
    "GeneratedModule",
    "Graph",
    "History",
    "Lesson",
    "LocalDerivation",
    "Model",
    "Momentum",
    "Network",
    "Partial",
    "RMSprop",
    "ReduceLROnPlateau",
    "SpecError",
    "SpecFile",
    "Step",
    "StepLR",
    "SweepResult",
    "SymgradError",
    "__version__",
    "compile",
    "derive",
    "descend",
    "differentiate",
    "exercise",
    "fit_distributed",
    "generate",
    "graph",
    "lesson",
    "load_data",
    "load_spec",
    "nudge",
    "sweep",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f".{_MODULES[name]}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule: sg.numeric
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_MODULES))


if TYPE_CHECKING:  # for type checkers and editors: the same names, eagerly
    from .calculus.derivation import Derivation, Partial, derive
    from .calculus.local import LocalDerivation, differentiate
    from .calculus.steps import Step
    from .codegen.generate import GeneratedModule, generate
    from .errors import CodegenError, DerivationError, DivergenceError, SpecError, SymgradError
    from .io.data import Dataset, load_data
    from .io.specfile import SpecFile, load_spec
    from .net.network import Dense, Network
    from .net.ops import ACTIVATIONS, COSTS, Activation, Cost
    from .net.optim import SGD, Adam, AdamW, Momentum, RMSprop
    from .net.regularization import L1, L2
    from .net.schedules import CosineLR, ExponentialLR, ReduceLROnPlateau, StepLR
    from .net.stopping import EarlyStopping
    from .parallel.data_parallel import fit_distributed
    from .parallel.results import SweepResult
    from .parallel.sweep import sweep
    from .runtime.build import compile
    from .runtime.model import History, Model
    from .views.descent import descend, nudge
    from .views.exercise import Exercise, exercise
    from .views.graph import Graph, graph
    from .views.lesson import Lesson, lesson
