"""Weights files (``.npz``, as :meth:`~symgrad.runtime.model.Model.save` writes them), read as
untrusted input: the declaration is checked as strictly as a spec, then every array's shape and
dtype from its ``.npy`` header, before any data is read; pickles are refused."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..files import atomic_write, physical_memory
from ..net.network import Network
from ..net.optim import Optimizer, optimizer_from_dict
from ..npz import NpyHeader, NpzArchive

Array = np.ndarray[Any, Any]

META_KEY = "__symgrad__"
"""The member of a weights file that holds its declaration (JSON)."""
FORMAT = 1


# --------------------------------------------------------------------------------------------
# Reading weights files: everything in them is untrusted
# --------------------------------------------------------------------------------------------
MAX_WEIGHTS_BYTES = 1 << 34
"""The most bytes of arrays read from a weights file: 16 GiB (the largest network, of
:data:`~symgrad.net.network.MAX_PARAMETERS` float64 weights, with Adam's two moments is 12 GB)."""
MAX_DECLARATION_CHARS = 1 << 18
"""The longest declaration (JSON) a weights file may hold; a real one is some hundred characters."""
MAX_JSON_DEPTH = 16
MAX_JSON_INT = 10**18
MAX_STEP = 2**53
"""The most optimiser steps a weights file may declare (beyond it a float64 step count is inexact)."""
WEIGHTS_FIX = "save the weights with Model.save"
_META_FIELDS = ("format", "network", "optimizer", "dtype", "shape", "step", "symgrad")


@dataclass(frozen=True)
class Weights:
    """What a weights file holds, validated: the declaration and the arrays it declares."""

    net: Network
    optimizer: Optimizer
    dtype: str
    shape: str
    step: int
    params: dict[str, Array]
    state: dict[str, Array]


def read_weights(path: str | Path, *, finite: bool = True) -> Weights:
    """Read and check a file written by :meth:`Model.save`, compiling nothing.

    The declaration is checked first, as strictly as a TOML spec; then every array's shape and
    dtype against it from the ``.npy`` headers (and their sizes against :data:`MAX_WEIGHTS_BYTES`
    and the machine's memory), before any array is read. With ``finite``, also refuses NaN
    and infinity. Every problem is one SpecError line naming the file.
    """
    where = str(path)
    with NpzArchive(
        path, max_bytes=MAX_WEIGHTS_BYTES, what="a readable symgrad weights file", fix=WEIGHTS_FIX
    ) as npz:
        meta = npz.headers.get(META_KEY)
        if meta is None or meta.shape != () or meta.dtype.kind != "U":
            raise SpecError(f"{where}: no symgrad declaration ({META_KEY}); {WEIGHTS_FIX}")
        if meta.dtype.itemsize > 4 * MAX_DECLARATION_CHARS:
            raise SpecError(
                f"{where}: the symgrad declaration is {meta.dtype.itemsize // 4:,} characters "
                f"long; the limit is {MAX_DECLARATION_CHARS:,}; {WEIGHTS_FIX}"
            )
        net, optimizer, dtype, shape, step = _declaration(str(npz.read(META_KEY)[()]), where)
        shapes = {name: net.param_shape(name) for name in net.param_names}
        state_names = [f"{s}_{p}" for s in optimizer.state for p in net.param_names]
        shapes.update({name: shapes[name.split("_", 1)[1]] for name in state_names})
        _check_headers(npz.headers, shapes, dtype, where)
        need = sum(npz.headers[name].nbytes for name in shapes)
        have = physical_memory()
        if have is not None and need > have:
            raise SpecError(
                f"{where}: its arrays hold {need:,} bytes, more than this machine's memory "
                f"({have:,} bytes); load it on a larger machine"
            )
        npz.check_size(shapes)
        arrays = {name: npz.read(name) for name in shapes}
    try:
        bad = next((n for n, arr in arrays.items() if finite and not np.isfinite(arr).all()), None)
    except MemoryError:
        raise SpecError(
            f"{where}: out of memory while reading it; free some memory or use a smaller file"
        ) from None
    if bad is not None:
        raise SpecError(f"{where}: array {bad} contains NaN or infinity; {WEIGHTS_FIX}")
    return Weights(
        net,
        optimizer,
        dtype,
        shape,
        step,
        {name: arrays[name] for name in net.param_names},
        {name: arrays[name] for name in state_names},
    )


def n_params(net: Network) -> int:
    """The number of weights and biases of ``net``."""
    return sum(math.prod(net.param_shape(name)) for name in net.param_names)


def _check_headers(
    headers: dict[str, NpyHeader], shapes: dict[str, tuple[int, ...]], dtype: str, where: str
) -> None:
    """The arrays of a weights file are exactly those the declaration implies, in its dtype."""
    names = set(headers) - {META_KEY}
    missing = [name for name in shapes if name not in names]
    extra = sorted(name[:40] for name in names - shapes.keys())
    if missing or extra:
        raise SpecError(
            f"{where}: the arrays must be exactly {', '.join(shapes)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra[:10])}" if extra else "")
            + f"; {WEIGHTS_FIX}"
        )
    for name, shape in shapes.items():
        header = headers[name]
        if header.dtype != np.dtype(dtype):
            raise SpecError(
                f"{where}: array {name} has dtype {header.dtype}, the declaration says {dtype}; "
                f"{WEIGHTS_FIX}"
            )
        if header.shape != shape:
            raise SpecError(
                f"{where}: array {name} must have shape {shape} as the declaration says, "
                f"but has {header.shape}; {WEIGHTS_FIX}"
            )


def _declaration(text: str, where: str) -> tuple[Network, Optimizer, str, str, int]:
    """The network, optimiser, dtype, shape and step a weights file declares, each checked."""

    def bad(detail: str) -> SpecError:
        detail = " ".join(detail.split())[:300]
        return SpecError(f"{where}: the symgrad declaration is malformed ({detail}); {WEIGHTS_FIX}")

    try:
        meta = json.loads(
            text, parse_float=_json_float, parse_int=_json_int, parse_constant=_json_constant
        )
    except RecursionError:
        raise bad("it is nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError, and the numbers refused above
        raise bad(str(exc)) from None
    if _too_deep(meta, MAX_JSON_DEPTH):
        raise bad(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(meta, dict):
        raise bad(f"not a mapping but {type(meta).__name__}")
    unknown = sorted(key for key in meta if key not in _META_FIELDS)
    if unknown:
        raise bad(f"unknown field {_shown(unknown[0])}")
    for key in ("network", "optimizer", "dtype", "step"):
        if key not in meta:
            raise bad(f"no field {key!r}")
    version = meta.get("format", FORMAT)
    if type(version) is not int or version != FORMAT:
        raise bad(f"format {_shown(version)}; this symgrad reads format {FORMAT}")
    dtype, shape, step = meta["dtype"], meta.get("shape", "auto"), meta["step"]
    if not isinstance(dtype, str) or dtype not in ("float32", "float64"):
        raise bad(f"dtype {_shown(dtype)}; it must be 'float32' or 'float64'")
    if not isinstance(shape, str) or shape not in ("auto", "blas", "unrolled"):
        raise bad(f"shape {_shown(shape)}; it must be 'blas' or 'unrolled'")
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        raise bad(f"step {_shown(step)}; it must be a whole number in 0..{MAX_STEP}")
    made = meta.get("symgrad", "")
    if not isinstance(made, str) or len(made) > 40:
        raise bad(f"symgrad {_shown(made)}; it must be a version string")
    # whatever a malformed declaration makes them raise, it is one line naming the file
    try:
        net = Network.from_dict(meta["network"])
    except Exception as exc:
        raise bad(f"network: {exc}") from None
    try:
        optimizer = optimizer_from_dict(meta["optimizer"])
    except Exception as exc:
        raise bad(f"optimizer: {exc}") from None
    return net, optimizer, dtype, shape, step


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # json.loads would make 1e400 inf
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _json_int(text: str) -> int:
    # checked before int(): json.loads would make 10**400 an int that overflows every float()
    value = int(text) if len(text.lstrip("-")) <= 19 else None
    if value is None or abs(value) > MAX_JSON_INT:
        raise ValueError(f"number {text[:30]}{'...' if len(text) > 30 else ''} is too large")
    return value


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _too_deep(value: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return False


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def write_weights(
    path: str | Path,
    net: Network,
    optimizer: Optimizer,
    dtype: str,
    shape: str,
    step: int,
    arrays: dict[str, Any],
) -> Path:
    """Write one ``.npz`` file that :func:`read_weights` reads back: the arrays (parameters and
    optimiser state by name) and the declaration beside them, atomically."""
    from .. import __version__

    meta = {
        "format": FORMAT,
        "network": net.to_dict(),
        "optimizer": optimizer.to_dict(),
        "dtype": dtype,
        "shape": shape,
        "step": step,
        "symgrad": __version__,
    }
    buf = io.BytesIO()
    everything = {**arrays, META_KEY: np.array(json.dumps(meta, sort_keys=True))}
    np.savez(buf, **everything)
    target = Path(path)
    atomic_write(target, buf.getvalue())
    return target


__all__ = ["FORMAT", "META_KEY", "Weights", "n_params", "read_weights", "write_weights"]
