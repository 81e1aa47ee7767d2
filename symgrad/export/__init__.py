"""Export: a trained network's forward pass as an ONNX graph, a NumPy module, a C99 header or a
torch network, for prediction without symgrad.

:func:`export` picks the format from the file's suffix (:data:`FORMATS`) and writes the file
atomically; :func:`to_torch` returns a ``torch.nn.Sequential``. Both read a model's ``net``,
``params`` and ``dtype`` (a :class:`~symgrad.runtime.model.Model`, or a weights file as
:func:`~symgrad.runtime.weights.read_weights` returns it). How each activation becomes
element-wise code is said once, in :mod:`symgrad.export.lowering`; onnx and torch are imported
only by the targets that need them (``pip install 'symgrad[export]'``, ``'symgrad[torch]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..files import atomic_write, output_problem
from ..net.network import Network

FORMATS = {".onnx": "an ONNX graph", ".py": "a NumPy module", ".h": "a C99 header"}
"""Each suffix :func:`export` writes, and what it writes there."""
SUFFIXES = tuple(FORMATS)


def _parts(model: Any) -> tuple[Network, dict[str, Any], np.dtype[Any]]:
    """A model's network, parameters and dtype, checked: finite weights of the declared shapes."""
    net: Network = model.net
    dtype = np.dtype(model.dtype)
    if dtype not in (np.float32, np.float64):
        raise SpecError(f"dtype {dtype.name!r} cannot be exported; use float32 or float64")
    params = {name: np.asarray(arr) for name, arr in model.params.items()}
    for name in net.param_names:
        arr = params.get(name)
        if arr is None or arr.shape != net.param_shape(name):
            raise SpecError(f"parameter {name} is missing or has the wrong shape; set every one")
        if not np.all(np.isfinite(arr)):
            raise SpecError(f"parameter {name} holds NaN or infinity; export finite weights")
    return net, params, dtype


def check_target(path: str | Path) -> Path:
    """The output path of an export, checked before any work: a known suffix, an existing folder,
    and a regular file or a new path."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(f"{s} ({what})" for s, what in FORMATS.items())
        raise SpecError(
            f"{path}: cannot export to {suffix or 'a file without a suffix'!r}; use {known}"
        )
    parent = target.parent
    if not parent.is_dir():
        raise SpecError(f"{path}: folder {str(parent)!r} does not exist; create it first")
    problem = output_problem(target)
    if problem is not None:
        raise SpecError(f"{path}: {problem}")
    return target


def export_bytes(model: Any, suffix: str, stem: str = "model") -> bytes:
    """The exported file's contents for ``suffix`` (``".onnx"``, ``".py"``, ``".h"``)."""
    net, params, dtype = _parts(model)
    suffix = suffix.lower()
    if suffix == ".onnx":
        from .onnx_graph import onnx_bytes

        return onnx_bytes(net, params, dtype)
    if suffix == ".py":
        from .numpy_module import numpy_source

        return numpy_source(net, params, dtype).encode("utf-8")
    if suffix == ".h":
        from .c_header import c_source

        return c_source(net, params, dtype, stem).encode("utf-8")
    raise SpecError(f"cannot export to {suffix!r}; use {', '.join(SUFFIXES)}")


def export(model: Any, path: str | Path) -> Path:
    """Write the model's forward pass to ``path``, in the format of its suffix (:data:`FORMATS`).

    The file is written whole or not at all (atomically), once everything else has succeeded.

    Raises:
        SpecError: an unknown suffix, a missing folder, an activation with no ONNX op, a
            missing optional dependency (which ``pip install`` to run).
    """
    target = check_target(path)
    data = export_bytes(model, target.suffix, target.stem)
    atomic_write(target, data)
    return target


def to_torch(model: Any) -> Any:
    """The model as a ``torch.nn.Sequential`` with its weights copied, in its dtype."""
    from .torch_module import to_torch as build

    return build(*_parts(model))


__all__ = ["FORMATS", "SUFFIXES", "check_target", "export", "export_bytes", "to_torch"]
