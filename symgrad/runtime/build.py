"""From a recipe to a ready :class:`~symgrad.runtime.model.Model`: :func:`compile`.

A module already in the cache is imported without generating it (no SymPy, no Jinja2): the
generator (:mod:`symgrad.codegen.generate`) is imported only when the cache lacks the module.
An extension built ahead of time (:mod:`symgrad.runtime.aot`) is used whenever one verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..codegen.cache import cache_path, extension_verifies, import_cached, record_extension
from ..codegen.recipe import checked_recipe, recipe_key, template_dir
from ..errors import CodegenError
from ..net.network import Network
from ..net.optim import Optimizer
from .model import Model


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
    its file name holds :func:`~symgrad.codegen.recipe.recipe_key`, which changes with the
    network, the optimiser's kind (not its values), the dtype, the shape and the generator's
    own code.

    With ``aot=True`` the module's compiled functions are also built ahead of time into a C
    extension beside it in the cache (:mod:`symgrad.runtime.aot`; needs a C compiler). A model whose
    extension is in the cache trains with it, ``aot`` or not: a new process then starts
    training without importing Numba (``Model.aot`` says which code runs).
    """
    optimizer, resolved = checked_recipe(net, optimizer, dtype, shape)
    key = recipe_key(net, optimizer, dtype, resolved, template_dir())
    path = cache_path(net, key)

    def module() -> ModuleType:
        cached = import_cached(path, key)
        if cached is not None:
            return cached
        from ..codegen import generate as generating  # SymPy and Jinja2: only for a new module

        return generating.generate(net, optimizer, dtype, shape=resolved).load()

    return model_of(net, optimizer, dtype, resolved, path, module, aot)


def model_of(
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
    from . import aot as ahead

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


def load_extension(path: Path, extension: Path, shape: str) -> Any:
    """The functions of the extension of the module at ``path`` when it verifies, else None."""
    from . import aot as ahead

    return ahead.load(extension, shape) if extension_verifies(path, extension) else None


__all__ = ["compile", "load_extension", "model_of"]
