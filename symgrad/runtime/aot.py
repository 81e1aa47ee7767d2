"""Ahead-of-time builds: a generated module's compiled functions as a C extension module.

Numba's on-disk cache spares a second process the compilation, not Numba's own start-up:
``import numba``, then on the first call its registries, which import SciPy's linear algebra.
That floor is 0.5-0.8 s on the benchmark machine (``benchmarks/RESULTS.md``), more than a
cached model needs for everything else. An extension built ahead of time by Numba's ``pycc``
imports in a millisecond and needs neither Numba nor SciPy at run time.

:func:`build` compiles the functions the runtime calls (:data:`EXPORTS`) for the arrays it
passes them: C-contiguous, in the model's dtype. Each export calls the module's own jitted
function, so the extension runs the very code of the module, with its options (error model,
FMA contraction) and so the same numbers. A blas-shape module that calls NumPy's BLAS links
the same library file, so NumPy and the extension share one BLAS and one pool of threads.

The extension is compiled for this machine's CPU; its file name holds a hash of the CPU, so a
cache folder shared between machines never hands one the other's code.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from ..errors import CodegenError
from ..net.network import Network
from ..net.optim import Optimizer

#: The functions of a generated module that the runtime calls, in an extension when built.
EXPORTS = (
    "train_epochs",
    "train_epochs_one",
    "_all_finite",
    "predict",
    "loss",
    "accuracy",
    "gradients",
)


def extension_path(module_path: Path) -> Path:
    """Where the extension of the generated module at ``module_path`` goes: beside it."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return module_path.with_name(f"{_extension_name(module_path)}{suffix}")


def _extension_name(module_path: Path) -> str:
    return f"aot_{module_path.stem}_{_host_tag()}"


def _module_name(path: Path) -> str:
    """The extension's module name (its PyInit_ symbol): the file name before its suffix."""
    return path.name.split(".")[0]


@cache
def _host_tag() -> str:
    """A short hash of this machine's CPU: its architecture, model and instruction-set flags."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    cpu += line
    except OSError:
        cpu += platform.processor()
    return hashlib.sha256(cpu.encode()).hexdigest()[:8]


def load(path: Path, shape: str) -> SimpleNamespace | None:
    """The exported functions of the extension at ``path`` (and ``SHAPE``), or None when there
    is none or it does not load here (then the runtime takes the module's jitted functions)."""
    if not path.is_file():
        return None
    name = _module_name(path)
    try:
        loader = importlib.machinery.ExtensionFileLoader(name, str(path))
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        assert spec is not None
        extension = importlib.util.module_from_spec(spec)
        loader.exec_module(extension)
    except (ImportError, OSError):
        return None
    functions = {n: getattr(extension, n) for n in EXPORTS if hasattr(extension, n)}
    return SimpleNamespace(SHAPE=shape, __file__=str(path), **functions)


def build(
    module: ModuleType,
    net: Network,
    optimizer: Optimizer,
    dtype: str,
    path: Path,
    record: Callable[[Path], None] | None = None,
) -> Path:
    """Compile the :data:`EXPORTS` of the imported generated ``module`` into an extension at
    ``path`` (written atomically: built in a temporary folder beside it, then renamed).

    ``record`` is called with the built file before it is renamed into place: the cache writes
    its hash then, so that no process finds the extension without it.

    Needs a C compiler and setuptools, as Numba's ``pycc`` does; raises CodegenError without.
    """
    # imported as Any: pycc and Numba's typing carry no type hints
    signature = importlib.import_module("numba.core.typing").signature
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc is marked for deprecation; it still builds
        try:
            CC: Any = importlib.import_module("numba.pycc").CC
        except ImportError as exc:  # pycc imports setuptools
            raise CodegenError(
                f"building ahead of time needs Numba's pycc and setuptools ({exc}): "
                "pip install 'symgrad[aot]'"
            ) from exc

    class Extension(CC):  # type: ignore[misc]  # CC is Any
        """pycc's module, linked against the libraries the module's external functions live in."""

        def _get_extra_ldflags(self) -> list[str]:
            return list(super()._get_extra_ldflags()) + _link_flags(module)

    path.parent.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".aot-", dir=path.parent)
    try:
        try:
            cc = Extension(_module_name(path))  # finds the C compiler, or raises
        except Exception as exc:
            raise _build_error(path, exc) from exc
        cc.target_cpu = "host"
        cc.output_dir = folder
        cc.output_file = path.name
        for name, args in _arguments(net, optimizer, dtype).items():
            jitted = getattr(module, name, None)
            if jitted is None:
                continue  # train_epochs_one: the unrolled shape with a plain step only
            jitted.compile(args)  # or loads it from Numba's cache: the code the export calls
            result = jitted.overloads[args].signature.return_type
            cc.export(name, signature(result, *args))(_caller(jitted, len(args)))
        try:
            cc.compile()
        except Exception as exc:  # distutils' CompileError, LinkError, a missing compiler ...
            raise _build_error(path, exc) from exc
        built = Path(folder) / path.name
        if record is not None:
            record(built)
        os.replace(built, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return path


def _build_error(path: Path, exc: Exception) -> CodegenError:
    reason = " ".join(str(exc).split())[:200]  # one line
    return CodegenError(
        f"building {path.name} ahead of time failed ({type(exc).__name__}: {reason}); "
        "it needs a C compiler (cc, or $CC) and Python's headers"
    )


def _arguments(net: Network, optimizer: Optimizer, dtype: str) -> dict[str, tuple[Any, ...]]:
    """The argument types of every export: what the runtime passes (C-contiguous arrays in
    the model's dtype, int64 counts and float64 losses)."""
    from numba import types

    number = types.float32 if dtype == "float32" else types.float64
    matrix = types.Array(number, 2, "C")
    params = tuple(types.Array(number, len(net.param_shape(p)), "C") for p in net.param_names)
    state = tuple(params[i] for _ in optimizer.state for i in range(len(params)))
    orders, count = types.Array(types.int64, 2, "C"), types.int64
    hyper = types.Array(number, 1, "C")  # the optimiser's values, in the model's dtype
    train = (matrix, matrix, orders, count, count, *params, *state, count, hyper)
    # the losses of each epoch: with a penalty, two columns (C, then the data cost C_0)
    train += (types.Array(types.float64, 2 if net.regularization is not None else 1, "C"),)
    if any(layer.dropout for layer in net.layers):  # dropout's masks: a seed per epoch
        train += (types.Array(types.int64, 1, "C"),)
    return {
        "train_epochs": train,
        "train_epochs_one": train,
        "_all_finite": (types.Array(number, 1, "C"),),
        "predict": (matrix, *params),
        "loss": (matrix, matrix, *params),
        "accuracy": (matrix, matrix, *params),
        "gradients": (matrix, matrix, *params),
    }


def _caller(jitted: Any, n_args: int) -> Any:
    """A function of ``n_args`` arguments that calls ``jitted``: what pycc compiles and exports.
    Made from a fixed line of source (no user text in it)."""
    names = ", ".join(f"a{i}" for i in range(n_args))
    scope: dict[str, Any] = {"jitted": jitted}
    exec(f"def call({names}):\n    return jitted({names})\n", scope)
    return scope["call"]


def _link_flags(module: ModuleType) -> list[str]:
    """The linker flags for NumPy's BLAS when the module calls it (its ``_NUMPY_CBLAS``): the
    library file that holds the symbol, and where to find it at run time."""
    name = getattr(module, "_NUMPY_CBLAS", None)
    if not name:
        return []
    library = _library_of(name)
    # pycc puts these flags before the objects: GNU ld's --as-needed (the default of some
    # systems) would drop a library that no object before it asked for
    keep = ["-Wl,--no-as-needed"] if sys.platform.startswith("linux") else []
    return [*keep, library, f"-Wl,-rpath,{Path(library).parent}"]


def _library_of(symbol: str) -> str:
    """The shared library file that defines NumPy's BLAS ``symbol`` (dladdr)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    address = ctypes.cast(
        getattr(ctypes.CDLL(core._multiarray_umath.__file__), symbol), ctypes.c_void_p
    )

    class DlInfo(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    info = DlInfo()
    try:
        found = ctypes.CDLL(None).dladdr(address, ctypes.byref(info))
    except (OSError, AttributeError, TypeError):  # no dladdr here (Windows)
        found = 0
    if not found or not info.dli_fname:
        raise CodegenError(f"cannot find the library of NumPy's {symbol} to link ahead of time")
    return os.fsdecode(info.dli_fname)


__all__ = ["EXPORTS", "build", "extension_path", "load"]
