"""Code generation: a Network and an optimiser in, a readable Numba training module out.

The printer (:mod:`symgrad.codegen.printer`) turns each element-wise formula into a line of Python
(the activation, its derivative in forward terms, ``dC/da``, the optimiser's rules); the Jinja
templates in ``templates/`` place those lines in the module skeleton and the loops. Two shapes
of module: "blas" (whole mini-batches through BLAS ``?gemm``) and "unrolled" (one example at a time,
every unit and parameter a scalar line, from :mod:`symgrad.codegen.unrolled`); :func:`choose_shape`
picks one by the measurements in its docstring. :meth:`GeneratedModule.compile` writes the
source into the cache of generated modules (:mod:`symgrad.codegen.cache`), imports it by path
and wraps it in a :class:`~symgrad.runtime.model.Model`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import sympy as sp

from ..errors import CodegenError, SpecError
from ..net.network import Network
from ..net.ops import a as A_SYM
from ..net.ops import y as Y_SYM
from ..net.ops import z as Z_SYM
from ..net.optim import SGD, Optimizer, Rule, element_symbols
from .cache import (
    atomic_write_text,
    cache_dir,
    cache_path,
    generator_fingerprint,
    import_cached,
    load_extension,
    record_extension,
)
from .printer import (
    as_factor,
    helpers_used,
    hyper_locals,
    numba_code,
    number,
    numbers_for,
    unpack_lines,
)
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
    """The optimiser's rules as code. Hyperparameters are locals read from the run-time array
    ``hyper`` (:func:`~symgrad.codegen.printer.unpack_lines`), never constants: nothing here
    depends on their values, which are in :func:`_values_data`."""
    names: dict[sp.Symbol, str] = hyper_locals(opt)
    names.update({w: "w[i]", g: "g[i]", m: "m[i]", v: "v[i]", t: "t"})
    scalars = opt.scalars()
    names.update({sym: sym.name for sym, _ in scalars})
    rules = [
        {
            "target": names[rule.target],
            "op": "-=" if rule.decrement else "=",
            "code": numba_code(rule.expr, names),
            "formula": rule_text(rule),
        }
        for rule in opt.rules()
    ]
    k = opt.plain_step()
    return {
        "name": opt.name,
        "kind": type(opt).__name__,
        "hyper_names": repr(tuple(opt.settings())),
        "gemm_step": None if k is None else as_factor(numba_code(k, names)),
        "unpack_gemm": [] if k is None else unpack_lines(opt, [k]),
        "unpack_step": unpack_lines(opt, [rule.expr for rule in opt.rules()]),
        "unpack_scalars": unpack_lines(opt, [expr for _, expr in scalars]),
        "scalars": [
            (sym.name, numba_code(expr, names), f"{sym} = {expr}") for sym, expr in scalars
        ],
        "rules": rules,
        "state_names": list(opt.state),
        "state": [f"{s}_{p}" for s in opt.state for p in params],
    }


def rule_text(rule: Rule) -> str:
    """``w <- w - lr*g``: an update rule as the comments of generated code show it."""
    if rule.decrement:
        return f"{rule.target} <- {rule.target} - {rule.expr}"
    return f"{rule.target} <- {rule.expr}"


def _values_data(opt: Optimizer) -> dict[str, Any]:
    """What a module says of its optimiser's values: the defaults of its ``HYPER`` array (what a
    standalone caller passes) and of its header. The compiled code does not depend on them."""
    return {
        "describe": opt.describe(),
        "optimizer_literal": py_literal(opt.to_dict()),
        "hyper": ", ".join(repr(value) for value in opt.settings().values()),
    }


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
        "values": _values_data(opt),
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
        cached_source: what the cache holds under ``key``: the same code, with the default
            values of the optimiser's kind in ``HYPER`` (one module serves every value).
    """

    net: Network
    optimizer: Optimizer
    dtype: str
    shape: str
    source: str
    key: str
    cached_source: str = field(repr=False, default="")

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the source to ``path`` atomically (a standalone module: NumPy, Numba and its SciPy BLAS)."""
        target = Path(path)
        atomic_write_text(target, self.source)
        return target

    def cache_path(self) -> Path:
        """Where :meth:`compile` keeps this module: ``<cache dir>/<name>_<hash>.py``."""
        return cache_path(self.net, self.key)

    def load(self) -> ModuleType:
        """Write into the cache (once) and import by path; later calls reuse the import.

        The cache's copy holds the default values of the optimiser's kind in ``HYPER``; a
        :class:`~symgrad.runtime.model.Model` passes its own values to every call."""
        module = import_cached(self.cache_path(), self.key, self.cached_source or self.source)
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
        # the cache keeps one module per optimiser kind, whatever the values: its own (same
        # code, the kind's default values in HYPER) is what the cache file holds
        defaults = type(optimizer)()
        cached = (
            source
            if defaults == optimizer
            else template.render(**{**data, "values": _values_data(defaults)})
        )
    except jinja2.TemplateError as exc:
        raise CodegenError(f"rendering the module template failed: {exc}") from exc
    key = _recipe_key(net, optimizer, dtype, shape, folder)
    return GeneratedModule(net, optimizer, dtype, shape, source, key, cached)


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
    path = cache_path(net, key)

    def module() -> ModuleType:
        cached = import_cached(path, key)
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
    compiled = load_extension(path, extension, shape)
    if compiled is not None:
        return Model(module, net, optimizer, dtype, compiled=compiled)  # the module when asked for
    loaded = module()
    if aot:

        def record(built: Path) -> None:  # before the build is renamed into place
            record_extension(path, extension.name, built)

        ahead.build(loaded, net, optimizer, dtype, extension, record=record)
        compiled = load_extension(path, extension, shape)
        if compiled is None:
            raise CodegenError(f"the extension built ahead of time does not load: {extension}")
    return Model(loaded, net, optimizer, dtype, compiled=compiled)


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
        "optimizer": optimizer.name,  # the kind: its values are run-time arguments
        "dtype": dtype,
        "shape": shape,
        "version": __version__,
        "generator": generator_fingerprint(template_dir),
        # the blas shape links NumPy's own BLAS, so no install of NumPy shares another's module
        "numpy": [np.__version__, str(Path(np.__file__).parent)],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


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
