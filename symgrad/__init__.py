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
    "ACTIVATIONS": "ops",
    "COSTS": "ops",
    "Activation": "ops",
    "Cost": "ops",
    "SGD": "optim",
    "Adam": "optim",
    "Momentum": "optim",
    "CodegenError": "errors",
    "DerivationError": "errors",
    "DivergenceError": "errors",
    "SpecError": "errors",
    "SymgradError": "errors",
    "Dataset": "data",
    "load_data": "data",
    "Dense": "spec",
    "Network": "spec",
    "Derivation": "derivation",
    "Partial": "derivation",
    "derive": "derivation",
    "descend": "descent",
    "nudge": "descent",
    "GeneratedModule": "codegen",
    "compile": "codegen",
    "generate": "codegen",
    "History": "runtime",
    "Model": "runtime",
    "SpecFile": "specfile",
    "load_spec": "specfile",
    "Step": "steps",
}

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "SGD",
    "Activation",
    "Adam",
    "CodegenError",
    "Cost",
    "Dataset",
    "Dense",
    "Derivation",
    "DerivationError",
    "DivergenceError",
    "GeneratedModule",
    "History",
    "Model",
    "Momentum",
    "Network",
    "Partial",
    "SpecError",
    "SpecFile",
    "Step",
    "SymgradError",
    "__version__",
    "compile",
    "derive",
    "descend",
    "generate",
    "load_data",
    "load_spec",
    "nudge",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule: sg.numeric
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and editors: the same names, eagerly
    from .codegen import GeneratedModule, compile, generate
    from .data import Dataset, load_data
    from .derivation import Derivation, Partial, derive
    from .descent import descend, nudge
    from .errors import CodegenError, DerivationError, DivergenceError, SpecError, SymgradError
    from .ops import ACTIVATIONS, COSTS, Activation, Cost
    from .optim import SGD, Adam, Momentum
    from .runtime import History, Model
    from .spec import Dense, Network
    from .specfile import SpecFile, load_spec
    from .steps import Step
