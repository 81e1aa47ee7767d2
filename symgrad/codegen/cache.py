"""The cache of generated modules: a content-addressed folder, atomic writes, import by path,
and the manifests that let nothing be loaded from it that does not verify.

A manifest ``<stem>.json`` beside each module ``<stem>.py`` holds the sha256 of the module, of
its extension built ahead of time, and of the files Numba caches its compiled functions in. A
module that does not match is generated again, an extension that does not match is deleted (a
truncated one can crash the process when it is opened), and Numba's files that do not match are
deleted before the first call, so that Numba compiles again. The hashes of Numba's files are
recorded after a process's first training call of the module (:func:`record_first_compile`: other
processes that import it meanwhile load them) and when a process that imported it ends normally
(:func:`record_numba_caches`).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import glob
import hashlib
import importlib.util
import json
import os
import sys
import threading
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import CodegenError, SpecError
from ..files import atomic_write, read_input
from ..net.network import Network

_LOCK = threading.Lock()
_LOADED: dict[str, ModuleType] = {}
# module path -> (the folder of its Numba cache files, the module's sha256), for the exit hook
_NUMBA_CACHES: dict[Path, tuple[Path, str]] = {}
MAX_MODULE_BYTES = 1 << 26
"""A cached module larger than this (64 MiB) is not read: it is no module symgrad wrote."""
MAX_MANIFEST_BYTES = 1 << 20


def import_cached(path: Path, key: str, source: str | None = None) -> ModuleType | None:
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


def extension_verifies(path: Path, extension: Path) -> bool:
    """True when the extension of the module at ``path`` is there and its sha256 is the one the
    module's manifest records; one that does not verify is deleted unopened (a truncated shared
    library can be a bus error when it is opened, which nothing can catch)."""
    if not extension.is_file():
        return False
    recorded = _read_manifest(path).get("extensions")
    digest = recorded.get(extension.name) if isinstance(recorded, dict) else None
    if digest is None or digest != _sha256(extension):
        with contextlib.suppress(OSError):
            extension.unlink()
        return False
    return True


def record_extension(path: Path, name: str, built: Path) -> None:
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
        folder = getattr(getattr(value, "_cache", None), "cache_path", None)
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
        atexit.register(record_numba_caches)  # at exit: all of them
    _NUMBA_CACHES[path] = (folder, digest)


def record_first_compile(module_file: str | None) -> None:
    """Once per module and process, after its first training call has compiled: record its
    Numba cache files now rather than at exit, so that processes importing the module while
    this one still runs (a test run's workers, a sweep's) load them instead of compiling."""
    if module_file is None or module_file in _RECORDED_EARLY:  # every fit asks: one lookup
        return
    _RECORDED_EARLY.add(module_file)
    path = Path(module_file)
    if path in _NUMBA_CACHES:
        record_numba_caches(path)


_RECORDED_EARLY: set[str] = set()


def record_numba_caches(only: Path | None = None) -> None:
    """Record in each imported module's manifest (or ``only`` that module's) the sha256 of its
    Numba cache files (Numba writes them whole, through a temporary file): at exit, and whenever
    a process wants its compiled functions kept by the processes that import the module after
    it. Best effort: a file left unrecorded is only compiled again."""
    for path, (folder, digest) in list(_NUMBA_CACHES.items()):
        if only is not None and path != only:
            continue
        try:
            files = {file.name: _sha256(file) for file in _numba_files(folder, path.stem)}
            files = {name: sha for name, sha in files.items() if sha is not None}
            manifest = _read_manifest(path)
            if manifest.get("module") == digest and manifest.get("numba") != files:
                _write_manifest(path, {**manifest, "numba": files})
        except Exception:  # at exit: nothing to report to, and nothing is lost
            continue


SHAPING = ("net", "calculus", "codegen", "views/notation.py")
"""What shapes a generated module: the declaration (formulas, activations, costs, optimisers),
the calculus that derives it, the generator, and the notation its comments are spelled in. The
other views, the judges, the runtime, the files and the command line do not: editing them
recompiles nothing."""


def generator_fingerprint(template_dir: Path, package: Path | None = None) -> str:
    """A hash of the code that shapes a generated module (:data:`SHAPING`, in ``package``,
    symgrad's own by default) and of the templates: everything besides the recipe, so that no
    cached module outlives a change to them.

    The files are read again whenever one of them has a new size or modification time.
    """
    root = package if package is not None else Path(__file__).resolve().parent.parent
    paths = []
    for part in SHAPING:
        paths += [root / part] if part.endswith(".py") else sorted((root / part).glob("*.py"))
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


def cache_path(net: Network, key: str) -> Path:
    return writable_cache_dir() / f"{_safe_stem(net.name)}_{key[:20]}.py"


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


def writable_cache_dir() -> Path:
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
    "SHAPING",
    "atomic_write_text",
    "cache_dir",
    "cache_path",
    "extension_verifies",
    "generator_fingerprint",
    "import_cached",
    "import_path",
    "record_extension",
    "record_first_compile",
    "record_numba_caches",
    "writable_cache_dir",
]
