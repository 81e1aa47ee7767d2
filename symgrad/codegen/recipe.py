"""A generated module's recipe, checked and named, without generating anything.

What :func:`symgrad.compile` needs to find a module in the cache: the checked recipe (network,
optimiser kind, dtype, shape, ``"auto"`` resolved by :func:`choose_shape`) and the key that names
it. Nothing here imports SymPy or Jinja2: a process that loads a saved model reaches its cached
module through this module alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import CodegenError, SpecError
from ..net.network import Network
from ..net.optim import OPTIMIZERS, SGD, Optimizer
from .cache import generator_fingerprint

DTYPES = ("float64", "float32")
SHAPES = ("auto", "blas", "unrolled")


def template_dir() -> Path:
    """symgrad's own folder of templates (in a wheel, or beside the package in a checkout)."""
    package = Path(__file__).resolve().parent.parent  # symgrad/
    for candidate in (package / "templates", package.parent / "templates"):  # wheel, checkout
        if (candidate / "module.py.jinja").is_file():
            return candidate
    raise CodegenError(f"symgrad's templates are missing (looked in {package / 'templates'})")


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
    to 64 parameters, Momentum up to 48, Adam up to 32. Scalar code wins by far where a batch
    holds few rows and stays even at batch 32 up to about 60 parameters; beyond that BLAS on
    whole batches wins, and Numba's compile time of straight-line code grows faster than
    linearly with its length. The generator does not know the batch size: the rule is on sizes
    alone. The measurements behind the limits are in benchmarks/FINDINGS.md.
    """
    state = len(optimizer.state) if optimizer is not None else 0
    count = n_params(net)
    return (
        "unrolled"
        if count <= UNROLL_MAX_PARAMS and count * (1 + state) <= UNROLL_MAX_SCALARS
        else "blas"
    )


def checked_recipe(
    net: Network, optimizer: Optimizer | None, dtype: str, shape: str
) -> tuple[Optimizer, str]:
    """The optimiser (default SGD) and the shape ("auto" resolved), after checking them all."""
    if not isinstance(net, Network):
        raise SpecError(f"generate() takes a Network, got {type(net).__name__}")
    optimizer = SGD() if optimizer is None else optimizer
    if not isinstance(optimizer, Optimizer):
        kinds = ", ".join(f"sg.{cls.__name__}" for cls in OPTIMIZERS.values())
        raise SpecError(f"optimizer must be one of {kinds}, got {type(optimizer).__name__}")
    if dtype not in DTYPES:
        raise SpecError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if shape not in SHAPES:
        raise SpecError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    return optimizer, choose_shape(net, optimizer) if shape == "auto" else shape


def recipe_key(
    net: Network, optimizer: Optimizer, dtype: str, shape: str, template_dir: Path
) -> str:
    """The content hash that names a module: its recipe and the generator that follows it."""
    from .. import __version__

    network = net.to_dict()
    if "regularization" in network:  # the kind: lam is a run-time argument
        network["regularization"] = {**network["regularization"], "lam": None}
    recipe = {
        "network": network,
        "optimizer": optimizer.name,  # the kind: its values are run-time arguments
        "dtype": dtype,
        "shape": shape,
        "version": __version__,
        "generator": generator_fingerprint(template_dir),
        # the blas shape links NumPy's own BLAS, so no install of NumPy shares another's module
        "numpy": [np.__version__, str(Path(np.__file__).parent)],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def hyper_names(net: Network, optimizer: Optimizer) -> tuple[str, ...]:
    """The names of the run-time array ``hyper`` of the compiled functions, in order: the
    optimiser's values (:meth:`Optimizer.settings`), then ``lam`` when the network has a penalty."""
    return (*optimizer.settings(), *(("lam",) if net.regularization is not None else ()))


__all__ = [
    "DTYPES",
    "SHAPES",
    "UNROLL_MAX_PARAMS",
    "UNROLL_MAX_SCALARS",
    "checked_recipe",
    "choose_shape",
    "hyper_names",
    "n_params",
    "recipe_key",
    "template_dir",
]
