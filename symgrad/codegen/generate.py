"""Code generation: a Network and an optimiser in, a readable Numba training module out.

The printer (:mod:`symgrad.codegen.printer`) turns each element-wise formula into a line of Python
(the activation, its derivative in forward terms, ``dC/da``, the optimiser's rules); the Jinja
templates in ``templates/`` place those lines in the module skeleton and the loops. Two shapes
of module: "blas" (whole mini-batches through BLAS ``?gemm``) and "unrolled" (one example at a time,
every unit and parameter a scalar line, from :mod:`symgrad.codegen.unrolled`); :func:`choose_shape`
picks one by the measurements in its docstring. :meth:`GeneratedModule.compile` writes the
source into a content-addressed cache folder (atomically), imports it by path and wraps it in a
:class:`~symgrad.runtime.model.Model`.

Nothing is loaded from the cache that does not verify: a manifest ``<stem>.json`` beside each
module ``<stem>.py`` holds the sha256 of the module, of its extension built ahead of time, and of
the files Numba caches its compiled functions in. A module that does not match is generated
again, an extension that does not match is deleted (a truncated one can crash the process when
it is opened), and Numba's files that do not match are deleted before the first call, so that
Numba compiles again. The hashes of Numba's files are recorded when a process that imported the
module ends normally (:func:`_record_numba_caches`).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import glob
import hashlib
import importlib.util
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import sympy as sp

from ..errors import CodegenError, SpecError
from ..files import atomic_write, read_input
from ..net.network import Network
from ..net.ops import a as A_SYM
from ..net.ops import y as Y_SYM
from ..net.ops import z as Z_SYM
from ..net.optim import SGD, Optimizer, element_symbols
from .printer import as_factor, helpers_used, numba_code, number, numbers_for
from .unrolled import unrolled_data

# an optimiser's element-wise quantities: weight, gradient, state, step count
_E = element_symbols()
w, g, m, v, t = _E["w"], _E["g"], _E["m"], _E["v"], _E["t"]


if TYPE_CHECKING:
    from ..runtime.model import Model

DTYPES = ("float64", "float32")
SHAPES = ("auto", "blas", "unrolled")
MAX_LINE = 100
"""Longest line before the generated module declares ``# ruff: noqa: E501``."""
SHAPE_NOTES = {
    "blas": "BLAS ?gemm on whole mini-batches, element-wise work in fused loops",
    "unrolled": "fully unrolled scalar code, one example at a time",
}


def _template_dir() -> Path:
    package = Path(__file__).resolve().parent.parent  # symgrad/
    for candidate in (package / "templates", package.parent / "templates"):  # wheel, checkout
        if (candidate / "module.py.jinja").is_file():
            return candidate
    raise CodegenError(f"symgrad's templates are missing (looked in {package / 'templates'})")


@cache
def jinja_env(template_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja environment for one template folder (strict: an unknown name is an error)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir or _template_dir())),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


# --------------------------------------------------------------------------------------------
# Shape choice
# --------------------------------------------------------------------------------------------
UNROLL_MAX_PARAMS = 64
"""``shape="auto"`` unrolls networks of at most this many parameters (see :func:`choose_shape`)."""
UNROLL_MAX_SCALARS = 96
"""... when their parameters and the optimiser's state (momentum, moments) are at most this many."""


def n_params(net: Network) -> int:
    """The number of weights and biases of ``net``."""
    return sum(layer.n_out * (layer.n_in + int(layer.bias)) for layer in net.layers)


def choose_shape(net: Network, optimizer: Optimizer | None = None) -> str:
    """The emitted shape for ``shape="auto"``: "unrolled" for tiny networks, else "blas".

    Unrolled when the network has at most :data:`UNROLL_MAX_PARAMS` (64) parameters and these
    with the optimiser's state hold at most :data:`UNROLL_MAX_SCALARS` (96) numbers: SGD up
    to 64 parameters, Momentum up to 48, Adam up to 32. Measured on a shared 2-core AMD EPYC
    (float64, ``Model.fit``, the two shapes side by side in one process, medians of 7 repeats;
    random data of 4,096 rows, one epoch, unless noted)::

        network (params)   optimiser  batch  unrolled  blas     compile: unrolled / blas
        1-1-1-1 chain (6)  SGD        1      0.83 ms   10.5 ms  (10,000 rows)
        2-1 linreg (2)     SGD        100    0.10 ms   0.21 ms  (100 epochs of 100 rows)
        2-4-1 xor (17)     SGD        4      2.5 ms    16.7 ms  (5,000 epochs of 4 rows)
        2-4-1 (17)         SGD        1      0.72 ms   4.5 ms   3.6 s / 5.5 s
                                      32     0.54 ms   0.64 ms
        4-8-2 (58)         SGD        1      1.3 ms    5.4 ms   4.2 s / 7.7 s
                                      32     1.0 ms    1.0 ms
        8-8-4 (108)        SGD        1      2.0 ms    5.5 ms   6.9 s / 3.7 s
                                      32     1.3 ms    1.2 ms
        16-16-4 (340)      SGD        1      6.0 ms    7.4 ms   45 s / 3.7 s
                                      32     3.7 ms    2.1 ms
        2-4-1 (17)         Adam                                 3.7 s / 7.5 s
        3-4-1 (21)         Adam                                 4.6 s / 7.0 s
        3-5-2 (32)         Adam                                 7.3 s / 6.8 s
        4-8-2 (58)         Momentum                             6.4 s / 9.0 s
        4-8-2 (58)         Adam                                 12.4 s / 6.7 s

    Scalar code wins by far where a batch holds few rows (no BLAS call or loop set-up per
    batch) and stays even at batch 32 up to about 60 parameters; beyond that BLAS on
    whole batches wins at ordinary batch sizes. Numba's compile time of straight-line code
    grows faster than linearly with its length, and each parameter brings a line per rule of
    the optimiser (Adam's three, with a square root), so the limit counts the optimiser's
    state too. The generator does not know the batch size: the rule is on sizes alone. (The
    compile times vary by about 30% with the load of the machine.)
    """
    state = len(optimizer.state) if optimizer is not None else 0
    count = n_params(net)
    return (
        "unrolled"
        if count <= UNROLL_MAX_PARAMS and count * (1 + state) <= UNROLL_MAX_SCALARS
        else "blas"
    )


# --------------------------------------------------------------------------------------------
# Template data: every formula printed here, templates only place the strings
# --------------------------------------------------------------------------------------------
def _layer_data(net: Network, l: int) -> dict[str, Any]:
    layer = net.layers[l - 1]
    act = layer.act
    at = {Z_SYM: f"z{l}[s, j]", A_SYM: f"a{l}[s, j]"}
    fprime = sp.sympify(act.derivative)
    return {
        "l": l,
        "n_in": layer.n_in,
        "n_out": layer.n_out,
        "bias": layer.bias,
        "act": act.name,
        "softmax": act.is_softmax,
        "prev": "x" if l == 1 else f"a{l - 1}",
        "act_code": None if act.is_softmax else numba_code(act.expr, at),
        "act_formula": str(act.expr),
        "fprime_code": numba_code(fprime, at),
        "fprime_formula": str(fprime),
        "fprime_one": fprime == 1,
        "fprime_factor": as_factor(numba_code(fprime, at)),
    }


def _output_data(net: Network) -> dict[str, Any]:
    L = net.L
    out, cost = net.layers[-1].act, net.cost
    scale = sp.Rational(1, net.sizes[-1]) if cost.mean_over_units else sp.Integer(1)
    at = {A_SYM: f"a{L}[s, j]", Y_SYM: "y[s, j]", Z_SYM: f"z{L}[s, j]"}
    if out.name in cost.fused:
        kind = "fused"
    elif out.is_softmax:
        kind = "softmax"
    else:
        kind = "elementwise"
    if kind == "fused" and out.is_softmax:
        loss = "lse"  # -sum_j y_j log softmax(z)_j = -sum_j y_j (z_j - logsumexp(z))
    elif kind == "fused":
        loss = "softplus"  # BCE of sigmoid(z): softplus(z) - y z, no log(0)
    else:
        loss = "generic"
    dcda = scale * cost.dC_da
    return {
        "kind": kind,
        "loss": loss,
        "n": net.sizes[-1],
        "scale_code": numba_code(scale),
        "scale_one": scale == 1,
        "dcda_code": numba_code(dcda, at),
        "dcda_factor": as_factor(numba_code(dcda, at)),
        "dcda_formula": str(dcda),
        "cost_code": numba_code(cost.expr, at),
        "cost_formula": str(cost.expr),
        "cost": cost.name,
    }


def _optimizer_data(opt: Optimizer, params: list[str]) -> dict[str, Any]:
    consts = opt.constants()
    names: dict[sp.Symbol, str] = {sym: sym.name.upper() for sym in consts}
    names.update({w: "w[i]", g: "g[i]", m: "m[i]", v: "v[i]", t: "t"})
    scalars = opt.scalars()
    names.update({sym: sym.name for sym, _ in scalars})
    rules = []
    for rule in opt.rules():
        target = names[rule.target]
        rules.append(
            {
                "target": target,
                "op": "-=" if rule.decrement else "=",
                "code": numba_code(rule.expr, names),
                "formula": f"{rule.target} <- {rule.target} - {rule.expr}"
                if rule.decrement
                else f"{rule.target} <- {rule.expr}",
            }
        )
    return {
        "name": opt.name,
        "gemm_step": _gemm_step(opt, names),
        "describe": opt.describe(),
        "constants": [(names[sym], number(repr(val))) for sym, val in consts.items()],
        "scalars": [
            (sym.name, numba_code(expr, names), f"{sym} = {expr}") for sym, expr in scalars
        ],
        "rules": rules,
        "state_names": list(opt.state),
        "state": [f"{s}_{p}" for s in opt.state for p in params],
    }


def _gemm_step(opt: Optimizer, names: dict[sp.Symbol, str]) -> str | None:
    """The code of k when the optimiser's whole step is ``w <- w - k g`` (plain SGD), else None.
    The blas shape's GEMM that forms dC/dW then takes the step itself (alpha = -k, beta = 1); any
    other rule needs the gradient in an array of its own."""
    k = opt.plain_step()
    return None if k is None else as_factor(numba_code(k, names))


_TAYLOR_DEGREE = 13  # 0.3466^14 / 14! < 2^-57: the series' remainder on |r| <= ln2/2, float64
_CEPHES_EXPF = ("1.9875691500e-4", "1.3981999507e-3", "8.3334519073e-3", "4.1665795894e-2",
                "1.6666665459e-1", "5.0000001201e-1")  # fmt: skip
"""Cephes' minimax fit of (exp(r) - 1 - r) / r^2 for float32 on |r| <= ln2/2 (near 1/7! ... 1/2!)."""


def _exp_data(dtype: str) -> dict[str, Any]:
    """The constants of the blas shape's vectorisable exp (templates/_exp.py.jinja), by dtype.

    Checked against np.exp to within one ulp, specials included, by tests/test_codegen.py.
    """
    if dtype == "float64":
        shift = 1.5 * 2.0**52  # EXP_ROUND: adding it rounds to a whole number
        coefficients = [
            (repr(1.0 / math.factorial(k)), f"1/{k}!") for k in range(_TAYLOR_DEGREE, -1, -1)
        ]
        return {
            "low": "-746.0", "high": "710.0", "log2e": repr(1 / math.log(2)),
            "ln2_hi": "0.6931471803691238", "ln2_lo": "1.9082149292705877e-10",
            "round": repr(shift), "bits": int(np.float64(shift).view(np.int64)) - 1023,
            "mantissa": 52, "int": "np.int64", "half": "0.5",
            "poly_note": f"its Taylor series to r^{_TAYLOR_DEGREE}/{_TAYLOR_DEGREE}!",
            "coefficients": coefficients,
        }  # fmt: skip
    shift = 1.5 * 2.0**23
    degree = len(_CEPHES_EXPF) + 1
    fitted = [(number(c), f"~1/{degree - i}!") for i, c in enumerate(_CEPHES_EXPF)]
    coefficients = [*fitted, (number("1.0"), "1/1!"), (number("1.0"), "1/0!")]
    return {
        "low": number("-104.0"), "high": number("89.0"), "log2e": number(repr(1 / math.log(2))),
        "ln2_hi": number("0.693359375"), "ln2_lo": number("-2.12194440e-4"),
        "round": number(repr(shift)), "bits": int(np.float32(shift).view(np.int32)) - 127,
        "mantissa": 23, "int": "np.int32", "half": number("0.5"),
        "poly_note": f"Cephes' minimax polynomial of degree {degree} (float32)",
        "coefficients": coefficients,
    }  # fmt: skip


_CEPHES_TANH = {
    # tanh(u) = u + u z P(z) / Q(z), z = u^2, |u| < 0.625 (Cephes' tanh.c; Q's leading 1 implied)
    "float64": (("-9.64399179425052238628E-1", "-9.92877231001918586564E1",
                 "-1.61468768441708447952E3"),
                ("1.12811678491632931402E2", "2.23548839060100448583E3",
                 "4.84406305325125486048E3")),
    # tanh(u) = u + u z P(z) (Cephes' tanhf.c)
    "float32": (("-5.70498872745E-3", "2.06390887954E-2", "-5.37397155531E-2",
                 "1.33314422036E-1", "-3.33332819422E-1"), ()),
}  # fmt: skip


def _tanh_data(dtype: str) -> dict[str, Any]:
    """The constants of the module's tanh (templates/module.py.jinja), by dtype.

    Checked against tanh in long double (float32: float64) by tests/test_codegen.py.
    """
    numerator, denominator = _CEPHES_TANH[dtype]

    def terms(coefficients: tuple[str, ...]) -> list[tuple[str, str]]:  # ("+" | "-", |c|)
        return [("-", number(c[1:])) if c[0] == "-" else ("+", number(c)) for c in coefficients]

    return {
        "small": number("0.625"),
        "numerator": [number(numerator[0]), *terms(numerator[1:])],
        "denominator": terms(denominator),
        "two": number("2.0"),
    }


def _module_data(net: Network, opt: Optimizer, dtype: str, shape: str) -> dict[str, Any]:
    params = list(net.param_names)
    layers = [_layer_data(net, l) for l in range(1, net.L + 1)]
    output = _output_data(net)
    optim = _optimizer_data(opt, params)
    codes = [x["act_code"] or "" for x in layers] + [x["fprime_code"] for x in layers]
    codes += [output["dcda_code"], output["cost_code"]] + [r["code"] for r in optim["rules"]]
    helpers = set(helpers_used(codes))
    if output["loss"] == "softplus":
        helpers.add("_softplus")
    if helpers & {"_sigmoid", "_softplus", "_tanh"} or any(layer["softmax"] for layer in layers):
        helpers.add("_exp")
    return {
        "net": net,
        "title": f"{net.name} ({net.describe().replace(', cost', '), cost:')}",
        "network_literal": py_literal(net.to_dict()),
        "optimizer_literal": py_literal(opt.to_dict()),
        "sizes": list(net.sizes),
        "sizes_literal": repr(tuple(net.sizes)),
        "params_literal": repr(tuple(params)),
        "state_literal": repr(tuple(optim["state_names"])),
        "L": net.L,
        "dtype": dtype,
        "shape": shape,
        "shape_note": SHAPE_NOTES[shape],
        "params": params,
        "grads": [f"d{p}" for p in params],
        "bias_grads": [f"d{p}" for p in params if p.startswith("b")],
        "layers": layers,
        "out": output,
        "opt": optim,
        "helpers": sorted(helpers),
        "exp": _exp_data(dtype) if shape == "blas" else None,
        "tanh": _tanh_data(dtype),
        "buffers": [name for l in range(1, net.L + 1) for name in (f"z{l}", f"a{l}")],
        "one": number("1.0"),  # in the module's dtype (see printer.numbers_for)
        "zero": number("0.0"),
        "deltas": [f"delta{l}" for l in range(1, net.L + 1)],
    }


def py_literal(value: Any, indent: int = 0) -> str:
    """A Python literal of JSON-like data, one dict entry per line, keys sorted (deterministic)."""
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{key!r}: {py_literal(value[key], indent + 4)}," for key in sorted(value)]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py_literal(item, indent) for item in value) + "]"
    if isinstance(value, bool | int | float | str) or value is None:
        return repr(value)
    raise CodegenError(f"cannot write {value!r} as a literal")


# --------------------------------------------------------------------------------------------
# The generated module
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedModule:
    """The source of one generated training module and what it was made from.

    Attributes:
        net: the network it trains.
        optimizer: the optimiser whose rules ``update`` applies.
        dtype: ``"float64"`` or ``"float32"``.
        shape: the emitted shape (``"blas"`` or ``"unrolled"``).
        source: the module's Python source.
        key: content hash naming the module in the cache (see :func:`compile`).
    """

    net: Network
    optimizer: Optimizer
    dtype: str
    shape: str
    source: str
    key: str

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the source to ``path`` atomically (a standalone module: NumPy, Numba and its SciPy BLAS)."""
        target = Path(path)
        atomic_write_text(target, self.source)
        return target

    def cache_path(self) -> Path:
        """Where :meth:`compile` keeps this module: ``<cache dir>/<name>_<hash>.py``."""
        return _cache_path(self.net, self.key)

    def load(self) -> ModuleType:
        """Write into the cache (once) and import by path; later calls reuse the import."""
        module = _import_cached(self.cache_path(), self.key, self.source)
        assert module is not None  # the source was written
        return module

    def compile(self, aot: bool = False) -> Model:
        """Write, import and wrap the module in a :class:`~symgrad.runtime.model.Model`; with ``aot``,
        also build its extension ahead of time (see :func:`compile`)."""
        return _model(
            self.net, self.optimizer, self.dtype, self.shape, self.cache_path(), self.load, aot
        )

    def __repr__(self) -> str:
        return f"<GeneratedModule {self.net.describe()}, {self.optimizer.describe()}, {self.dtype}, {self.shape}>"


_LOCK = threading.Lock()
_LOADED: dict[str, ModuleType] = {}
# module path -> (the folder of its Numba cache files, the module's sha256), for the exit hook
_NUMBA_CACHES: dict[Path, tuple[Path, str]] = {}
MAX_MODULE_BYTES = 1 << 26
"""A cached module larger than this (64 MiB) is not read: it is no module symgrad wrote."""
MAX_MANIFEST_BYTES = 1 << 20


def generate(
    net: Network,
    optimizer: Optimizer | None = None,
    dtype: str = "float64",
    *,
    shape: str = "auto",
    template_dir: str | os.PathLike[str] | None = None,
) -> GeneratedModule:
    """Generate the training module of ``net``.

    Args:
        net: the network.
        optimizer: ``SGD``, ``Momentum`` or ``Adam`` (default ``SGD(lr=0.1)``).
        dtype: ``"float64"`` or ``"float32"``.
        shape: ``"auto"`` (:func:`choose_shape`: unrolled for tiny nets), ``"blas"`` or
            ``"unrolled"``.
        template_dir: another folder of templates to render instead of symgrad's own.
    """
    optimizer, shape = _checked_recipe(net, optimizer, dtype, shape)
    folder = Path(template_dir).resolve() if template_dir is not None else _template_dir()
    env = jinja_env(folder)
    with numbers_for(dtype):  # float32 modules keep their arithmetic in float32
        data = _module_data(net, optimizer, dtype, shape)
        data["u"] = unrolled_data(net, optimizer) if shape == "unrolled" else None
    try:
        template = env.get_template("module.py.jinja")
        # Render once to see what the body needs (math, long lines), then render for real.
        draft = template.render(**data, import_math=True, long_lines=False)
        body = draft.split("import numpy as np", 1)[-1]
        data["import_math"] = re.search(r"\bmath\.", body) is not None
        data["long_lines"] = any(len(line) > MAX_LINE for line in draft.splitlines())
        source = template.render(**data)
    except jinja2.TemplateError as exc:
        raise CodegenError(f"rendering the module template failed: {exc}") from exc
    key = _recipe_key(net, optimizer, dtype, shape, folder)
    return GeneratedModule(net, optimizer, dtype, shape, source, key)


def compile(
    net: Network,
    optimizer: Optimizer | None = None,
    dtype: str = "float64",
    *,
    shape: str = "auto",
    aot: bool = False,
) -> Model:
    """``generate(net, ...).compile()``: a ready :class:`~symgrad.runtime.model.Model`.

    A module already in the cache is imported without generating it again (no SymPy work):
    its file name holds :func:`_recipe_key`, which changes with the network, the optimiser,
    the dtype, the shape and the generator's own code.

    With ``aot=True`` the module's compiled functions are also built ahead of time into a C
    extension beside it in the cache (:mod:`symgrad.runtime.aot`; needs a C compiler). A model whose
    extension is in the cache trains with it, ``aot`` or not: a new process then starts
    training without importing Numba (``Model.aot`` says which code runs).
    """
    optimizer, resolved = _checked_recipe(net, optimizer, dtype, shape)
    key = _recipe_key(net, optimizer, dtype, resolved, _template_dir())
    path = _cache_path(net, key)

    def module() -> ModuleType:
        cached = _import_cached(path, key)
        return (
            cached if cached is not None else generate(net, optimizer, dtype, shape=resolved).load()
        )

    return _model(net, optimizer, dtype, resolved, path, module, aot)


def _model(
    net: Network,
    optimizer: Optimizer,
    dtype: str,
    shape: str,
    path: Path,
    module: Callable[[], ModuleType],
    aot: bool,
) -> Model:
    """The Model of the module at ``path`` (``module()`` imports it): with the functions of its
    extension when one verifies and loads, else the module's own, after building the extension
    if ``aot``."""
    from ..runtime import aot as ahead
    from ..runtime.model import Model

    extension = ahead.extension_path(path)
    compiled = _load_extension(path, extension, shape)
    if compiled is not None:
        return Model(module, net, optimizer, dtype, compiled=compiled)  # the module when asked for
    loaded = module()
    if aot:

        def record(built: Path) -> None:  # before the build is renamed into place
            _record_extension(path, extension.name, built)

        ahead.build(loaded, net, optimizer, dtype, extension, record=record)
        compiled = _load_extension(path, extension, shape)
        if compiled is None:
            raise CodegenError(f"the extension built ahead of time does not load: {extension}")
    return Model(loaded, net, optimizer, dtype, compiled=compiled)


def _import_cached(path: Path, key: str, source: str | None = None) -> ModuleType | None:
    """The module at ``path``, imported once per process; with ``source``, first written there
    (and its manifest after it) unless the file already holds it. Without, None when the file
    is missing or does not match the sha256 its manifest records: the caller generates it again.

    What is imported is the verified bytes themselves, compiled here (no ``.pyc``, which nothing
    verifies); Numba's cache files of the module that do not verify are deleted before the
    first call (:func:`_heal_numba_cache`).
    """
    with _LOCK:
        module = _LOADED.get(str(path))
        if module is not None:
            return module
        manifest = _read_manifest(path)
        code = _verified(path, manifest.get("module"))
        if source is not None and code != source.encode("utf-8"):
            code = source.encode("utf-8")
            if _read_cached(path, len(code) + 1) != code:
                atomic_write(path, code)
            # a new module, or one nothing vouched for: so are Numba's files of it
            manifest = {**manifest, "module": _sha256_bytes(code), "numba": {}}
            _write_manifest(path, manifest)
        if code is None:
            return None
        module = import_path(path, f"symgrad_generated_{key[:20]}", code)
        _heal_numba_cache(module, path, manifest)
        _LOADED[str(path)] = module
    return module


# --------------------------------------------------------------------------------------------
# Verifying what the cache holds
# --------------------------------------------------------------------------------------------
def _manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the module at ``path``; empty when missing or damaged (nothing verifies)."""
    raw = _read_cached(_manifest_path(path), MAX_MANIFEST_BYTES)
    try:
        data = json.loads(raw) if raw is not None else {}
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    atomic_write(_manifest_path(path), json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _read_cached(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file of at most ``limit`` bytes in the cache, else None."""
    try:
        return read_input(path, limit=limit)
    except SpecError:
        return None


def _verified(path: Path, digest: object) -> bytes | None:
    """The bytes of ``path`` when their sha256 is ``digest``, else None."""
    if not isinstance(digest, str):
        return None
    code = _read_cached(path, MAX_MODULE_BYTES)
    return code if code is not None and _sha256_bytes(code) == digest else None


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256(path: Path) -> str | None:
    """The sha256 of a file's bytes, None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def _load_extension(path: Path, extension: Path, shape: str) -> Any:
    """The functions of the extension of the module at ``path`` when the extension's sha256 is
    the one its manifest records, else None: one that does not verify is deleted unopened (a
    truncated shared library can be a bus error when it is opened, which nothing can catch)."""
    from ..runtime import aot as ahead

    if not extension.is_file():
        return None
    recorded = _read_manifest(path).get("extensions")
    digest = recorded.get(extension.name) if isinstance(recorded, dict) else None
    if digest is None or digest != _sha256(extension):
        with contextlib.suppress(OSError):
            extension.unlink()
        return None
    return ahead.load(extension, shape)


def _record_extension(path: Path, name: str, built: Path) -> None:
    """Record in the manifest of the module at ``path`` the sha256 of its extension ``name``
    (the file ``built``, before it is renamed into place)."""
    with _LOCK:
        manifest = _read_manifest(path)
        extensions = manifest.get("extensions")
        extensions = dict(extensions) if isinstance(extensions, dict) else {}
        extensions[name] = _sha256(built)
        _write_manifest(path, {**manifest, "extensions": extensions})


def _numba_cache_folder(module: ModuleType) -> Path | None:
    """Where Numba keeps the cache files of the module's jitted functions: its ``__pycache__``,
    or a folder under ``$NUMBA_CACHE_DIR``; asked of Numba's own dispatchers."""
    for value in vars(module).values():
        if not type(value).__module__.startswith("numba"):
            continue
        folder = getattr(getattr(value, "_cache", None), "_cache_path", None)
        if isinstance(folder, str):
            return Path(folder)
    return None


def _numba_files(folder: Path, stem: str) -> list[Path]:
    """Numba's index (.nbi) and data (.nbc) files of the module ``<stem>.py`` in ``folder``."""
    try:
        found = list(folder.glob(f"{glob.escape(stem)}.*"))
    except OSError:
        return []
    return [file for file in found if file.suffix in (".nbi", ".nbc")]


def _heal_numba_cache(module: ModuleType, path: Path, manifest: dict[str, Any]) -> None:
    """Delete the Numba cache files of a freshly imported module that the manifest does not
    vouch for (a truncated one is a traceback on every later run); Numba compiles them again."""
    folder = _numba_cache_folder(module)
    digest = manifest.get("module")
    if folder is None or not isinstance(digest, str):
        return
    recorded = manifest.get("numba")
    recorded = recorded if isinstance(recorded, dict) else {}
    for file in _numba_files(folder, path.stem):
        if recorded.get(file.name) != _sha256(file):
            with contextlib.suppress(OSError):
                file.unlink()
    if not _NUMBA_CACHES:
        atexit.register(_record_numba_caches)
    _NUMBA_CACHES[path] = (folder, digest)


def _record_numba_caches() -> None:
    """At exit: record in each imported module's manifest the sha256 of its Numba cache files
    (Numba writes them whole, through a temporary file). Best effort: a file left unrecorded
    is only compiled again."""
    for path, (folder, digest) in list(_NUMBA_CACHES.items()):
        try:
            files = {file.name: _sha256(file) for file in _numba_files(folder, path.stem)}
            files = {name: sha for name, sha in files.items() if sha is not None}
            manifest = _read_manifest(path)
            if manifest.get("module") == digest and manifest.get("numba") != files:
                _write_manifest(path, {**manifest, "numba": files})
        except Exception:  # at exit: nothing to report to, and nothing is lost
            continue


def _checked_recipe(
    net: Network, optimizer: Optimizer | None, dtype: str, shape: str
) -> tuple[Optimizer, str]:
    """The optimiser (default SGD) and the shape ("auto" resolved), after checking them all."""
    if not isinstance(net, Network):
        raise SpecError(f"generate() takes a Network, got {type(net).__name__}")
    optimizer = SGD() if optimizer is None else optimizer
    if not isinstance(optimizer, Optimizer):
        raise SpecError(
            f"optimizer must be sg.SGD, sg.Momentum or sg.Adam, got {type(optimizer).__name__}"
        )
    if dtype not in DTYPES:
        raise SpecError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if shape not in SHAPES:
        raise SpecError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    return optimizer, choose_shape(net, optimizer) if shape == "auto" else shape


def _recipe_key(
    net: Network, optimizer: Optimizer, dtype: str, shape: str, template_dir: Path
) -> str:
    """The content hash that names a module: its recipe and the generator that follows it."""
    from .. import __version__

    recipe = {
        "network": net.to_dict(),
        "optimizer": optimizer.to_dict(),
        "dtype": dtype,
        "shape": shape,
        "version": __version__,
        "generator": _generator_fingerprint(template_dir),
        # the blas shape links NumPy's own BLAS, so no install of NumPy shares another's module
        "numpy": [np.__version__, str(Path(np.__file__).parent)],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


SHAPING = ("net", "calculus", "codegen")
"""The layers whose code shapes a generated module: the declaration (formulas, activations,
costs, optimisers), the calculus that derives it and the generator. The views, the judges, the
runtime, the files and the command line do not: editing them recompiles nothing."""


def _generator_fingerprint(template_dir: Path) -> str:
    """A hash of the code that shapes a generated module (:data:`SHAPING`) and of the templates:
    everything besides the recipe, so that no cached module outlives a change to them.

    The files are read again whenever one of them has a new size or modification time.
    """
    package = Path(__file__).resolve().parent.parent
    paths = [path for layer in SHAPING for path in sorted((package / layer).glob("*.py"))]
    paths += sorted(template_dir.glob("*.jinja"))
    stamps = tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in paths)
    return _hash_files(stamps)


@cache
def _hash_files(stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        path = Path(name)
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _cache_path(net: Network, key: str) -> Path:
    return _writable_cache_dir() / f"{_safe_stem(net.name)}_{key[:20]}.py"


# --------------------------------------------------------------------------------------------
# Files: cache folder, atomic writes, import by path
# --------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """The generated-module cache: ``$SYMGRAD_CACHE_DIR``, else the platform's cache folder."""
    env = os.environ.get("SYMGRAD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "symgrad"


def _writable_cache_dir() -> Path:
    """:func:`cache_dir`, created if need be; a SpecError naming ``SYMGRAD_CACHE_DIR`` when it
    is not a writable folder (checked before any work that would write there)."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        env = os.environ.get("SYMGRAD_CACHE_DIR")
        if env:
            raise SpecError(
                f"SYMGRAD_CACHE_DIR={env}: is not a writable folder; "
                "set it to a writable folder or unset it"
            )
        raise SpecError(
            f"{folder}: symgrad's cache is not a writable folder; "
            "set SYMGRAD_CACHE_DIR to a writable folder"
        )
    return folder


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    atomic_write(path, text)


def import_path(path: Path, module_name: str, source: bytes | None = None) -> ModuleType:
    """Import the Python file at ``path`` as ``module_name`` (a real file: Numba caches it).

    With ``source`` (the file's bytes, verified by the caller), those bytes are compiled and
    run: no other bytes than the verified ones, and no ``.pyc`` read or written.
    """
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CodegenError(f"cannot import generated module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        if source is None:
            spec.loader.exec_module(module)
        else:
            exec(builtins.compile(source, str(path), "exec", dont_inherit=True), vars(module))
    except Exception as exc:
        del sys.modules[module_name]
        raise CodegenError(f"importing generated module {path} failed: {exc}") from exc
    return module


def _safe_stem(name: str) -> str:
    stem = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
    return stem[:40] or "network"


__all__ = [
    "UNROLL_MAX_PARAMS",
    "UNROLL_MAX_SCALARS",
    "GeneratedModule",
    "cache_dir",
    "choose_shape",
    "compile",
    "generate",
    "n_params",
]
