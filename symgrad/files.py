"""Reading input files with clear errors and limits, atomic writing, and a safe NPZ reader.

Input files (specs, data, weights) are read by :func:`read_input`, which refuses anything but a
regular file (a FIFO would hang, ``/dev/zero`` never ends), never reads more than a size limit,
and turns every OS error into one :class:`~symgrad.errors.SpecError` line naming the file and
the fix. NPZ archives (data, weights) are read by :class:`NpzArchive`: every member's ``.npy``
header is parsed first, so a caller checks shapes and sizes before any data is decompressed,
and no pickle is ever loaded.

Every file symgrad writes (generated modules, derivations, pages, plots, weights) goes through
:func:`atomic_write`: a temporary file in the same folder, flushed to disk, then renamed over the
target, which must be a regular file or a new path. The new file gets the usual permissions
(``0o666`` less the umask), not the private ``0o600`` of a temporary file.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from .errors import SpecError

Array = np.ndarray[Any, Any]

MAX_NPZ_MEMBERS = 10_000
"""An NPZ archive with more members than this is refused before its directory is read."""
_CHUNK = 1 << 24  # arrays are decompressed 16 MiB at a time
_DEFLATE_RATIO = 1032  # deflate's largest possible ratio of expanded to compressed size
_NPZ_SLACK = 1 << 24  # room for the zip and .npy headers beyond an archive's limit on its arrays
# O_NONBLOCK: a FIFO swapped in after the stat opens at once (and is refused) instead of hanging
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS |= getattr(os, "O_BINARY", 0)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def _kind(mode: int) -> str | None:
    """What a file that is not regular is ("a FIFO (named pipe)", ...), or None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_input(where: str, st: os.stat_result, limit: int, what: str) -> None:
    kind = _kind(st.st_mode)
    if kind == "a folder":
        raise SpecError(f"{where}: is a folder, not a file; give the path of a file")
    if kind is not None:
        raise SpecError(f"{where}: is {kind}, not a regular file; give the path of a regular file")
    if st.st_size > limit:
        raise _too_large(where, st.st_size, limit, what)


def _too_large(where: str, size: int, limit: int, what: str) -> SpecError:
    return SpecError(f"{where}: the file is {size:,} bytes; {what} is at most {limit:,} bytes")


def _read_error(where: str, exc: OSError, missing: str) -> SpecError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return SpecError(f"{where}: no such file; {missing}")
    if isinstance(exc, IsADirectoryError):
        return SpecError(f"{where}: is a folder, not a file; give the path of a file")
    if isinstance(exc, PermissionError):
        return SpecError(f"{where}: cannot be read (permission denied); check its permissions")
    return SpecError(f"{where}: cannot be read ({exc.strerror or exc}); check the path")


def _open_input(
    path: str | os.PathLike[str], *, limit: int, missing: str, what: str
) -> tuple[io.FileIO, int]:
    """The regular file at ``path`` opened for reading (unbuffered), and its size; anything else
    (missing, a folder, a FIFO, a device, larger than ``limit``) is a SpecError."""
    where = str(path)
    try:
        _check_input(where, os.stat(path), limit, what)
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _read_error(where, exc, missing) from None
    try:
        st = os.fstat(fd)  # the file opened, which need not be the one the stat saw
        _check_input(where, st, limit, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return io.FileIO(fd, "rb", closefd=True), st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_input(
    path: str | os.PathLike[str],
    *,
    limit: int,
    missing: str = "check the path",
    what: str = "a file",
) -> bytes:
    """The bytes of a regular input file of at most ``limit`` bytes; anything else is a SpecError.

    Args:
        path: the file.
        limit: the most bytes read; a larger file is refused (before reading, and again if it
            grows while it is read).
        missing: the fix suggested when the file does not exist.
        what: what such a file is, for the message about its size ("a spec").
    """
    where = str(path)
    fh, size = _open_input(path, limit=limit, missing=missing, what=what)
    with fh:
        try:
            # one allocation of the file's size; more bytes than measured means it grew
            parts = [fh.read(min(size, limit) + 1) or b""]
            total = len(parts[0])
            while size < total <= limit:
                more = fh.read(min(_CHUNK, limit + 1 - total))
                if not more:
                    break
                parts.append(more)
                total += len(more)
        except OSError as exc:
            raise _read_error(where, exc, missing) from None
        except MemoryError:
            raise _out_of_memory(where, size) from None
    if total > limit:
        raise _too_large(where, total, limit, what)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _out_of_memory(where: str, size: int) -> SpecError:
    return SpecError(
        f"{where}: out of memory while reading it ({size:,} bytes); "
        "free some memory or use a smaller file"
    )


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


# --------------------------------------------------------------------------------------------
# NPZ archives
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NpyHeader:
    """What one member of an NPZ archive declares: the array's shape and dtype, not its data."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran: bool
    nbytes: int
    info: zipfile.ZipInfo
    offset: int  # where the data start in the member, after the .npy header


class NpzArchive:
    """An NPZ archive (``numpy.savez``) opened for safe reading.

    Opening parses every member's ``.npy`` header (:attr:`headers`) and reads no data: the
    caller checks shapes and dtypes, then :meth:`read` takes exactly the bytes each header
    declares. Object arrays (pickles), members that are not ``.npy`` files, compression other
    than numpy's, and members whose sizes disagree with their headers are refused in one line
    ``FILE: not WHAT: PROBLEM; FIX``.

    Args:
        source: the file's path, or its bytes.
        max_bytes: the most bytes of array data read from it (all of :meth:`read` together).
        where: the name in messages (default: the path).
        what: what the file should be ("a valid .npz file").
        fix: how to make a good one ("save the arrays with numpy.savez").
        missing: the fix suggested when the file does not exist.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        max_bytes: int,
        where: str | None = None,
        what: str = "a valid .npz file",
        fix: str = "save the arrays with numpy.savez",
        missing: str = "check the path",
    ) -> None:
        self.where = where if where is not None else str(source)[:200]
        self._what, self._fix, self._max = what, fix, max_bytes
        self._read_bytes = 0
        fh: IO[bytes]
        if isinstance(source, bytes):
            fh, size = io.BytesIO(source), len(source)
        else:
            raw, size = _open_input(
                source, limit=max_bytes + _NPZ_SLACK, missing=missing, what="an .npz file"
            )
            fh = io.BufferedReader(raw)
        self._fh, self._size = fh, size
        try:
            self._zip = self._open()
            self.headers = self._parse()
        except BaseException:
            self.close()
            raise

    def _bad(self, problem: str) -> SpecError:
        return SpecError(f"{self.where}: not {self._what}: {problem}; {self._fix}")

    def _open(self) -> zipfile.ZipFile:
        try:
            head = self._fh.read(8)
            self._fh.seek(0)
        except OSError as exc:
            raise _read_error(self.where, exc, "check the path") from None
        if not head:
            raise SpecError(f"{self.where}: the file is empty; {self._fix}")
        if head.startswith(b"\x93NUMPY"):
            raise SpecError(
                f"{self.where}: is a single .npy array, not an .npz archive of named arrays; "
                f"{self._fix}"
            )
        if not head.startswith(b"PK"):
            raise self._bad("it is not a zip archive")
        # the count of members before zipfile reads them all: a small archive may list millions
        end_record = getattr(zipfile, "_EndRecData", None)
        if end_record is not None:
            try:
                record = end_record(self._fh)
                count = record[zipfile._ECD_ENTRIES_TOTAL] if record else None  # type: ignore[attr-defined]
            except (OSError, IndexError, AttributeError, ValueError):
                count = None
            if isinstance(count, int) and count > MAX_NPZ_MEMBERS:
                raise self._bad(f"it lists {count:,} arrays; the limit is {MAX_NPZ_MEMBERS:,}")
        try:
            self._fh.seek(0)
            return zipfile.ZipFile(self._fh)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise self._bad(f"it is truncated or damaged ({_one_line(exc)})") from None

    def _parse(self) -> dict[str, NpyHeader]:
        from numpy.lib import format as npy

        infos = self._zip.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise self._bad(f"it holds {len(infos):,} arrays; the limit is {MAX_NPZ_MEMBERS:,}")
        headers: dict[str, NpyHeader] = {}
        for info in infos:
            name = info.filename
            label = repr(name[:60])
            if info.is_dir() or not name.endswith(".npy"):
                raise self._bad(f"member {label} is not a .npy array")
            key = name[: -len(".npy")]
            if key in headers:
                raise self._bad(f"it holds two arrays named {key[:60]!r}")
            if info.flag_bits & 0x1:
                raise self._bad(f"member {label} is encrypted")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.compress_size != info.file_size:
                    raise self._bad(f"member {label} disagrees with itself about its size")
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                if info.file_size > _DEFLATE_RATIO * info.compress_size + 1024:
                    raise self._bad(f"member {label} claims more bytes than it can expand to")
            else:
                raise self._bad(
                    f"member {label} is compressed with method {info.compress_type}, "
                    "which numpy.savez and numpy.savez_compressed never use"
                )
            if info.compress_size > self._size:
                raise self._bad(f"member {label} is larger than the file; it is truncated")
            try:
                with self._zip.open(info) as member:
                    version = npy.read_magic(member)
                    if version == (1, 0):
                        shape, fortran, dtype = npy.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, fortran, dtype = npy.read_array_header_2_0(member)
                    else:
                        raise ValueError(f".npy format version {version[0]}.{version[1]}")
                    offset = member.tell()
            except zipfile.BadZipFile as exc:
                raise self._bad(f"array {key[:60]!r} is damaged ({_one_line(exc)})") from None
            except (ValueError, TypeError, SyntaxError, EOFError, OSError, zlib.error) as exc:
                problem = f"array {key[:60]!r} has no valid .npy header ({_one_line(exc)})"
                raise self._bad(problem) from None
            if dtype.hasobject:
                raise self._bad(f"array {key[:60]!r} holds Python objects, which are never loaded")
            if any(n < 0 for n in shape):
                raise self._bad(f"array {key[:60]!r} declares shape {shape}")
            nbytes = math.prod(shape) * dtype.itemsize
            if offset + nbytes != info.file_size:
                held = info.file_size - offset
                raise self._bad(
                    f"array {key[:60]!r} declares shape {tuple(shape)} of {dtype} ({nbytes:,} bytes) "
                    f"but holds {held:,} bytes"
                )
            headers[key] = NpyHeader(key, tuple(shape), dtype, bool(fortran), nbytes, info, offset)
        return headers

    def check_size(self, names: Iterable[str]) -> None:
        """Refuse, before reading, arrays ``names`` that together exceed the archive's limit."""
        total = self._read_bytes
        for name in names:
            header = self.headers[name]
            total += header.nbytes
            if total > self._max:
                raise SpecError(
                    f"{self.where}: array {name[:60]!r} has shape {header.shape} of "
                    f"{header.dtype} ({header.nbytes:,} bytes); symgrad reads at most "
                    f"{self._max:,} bytes of arrays from such a file; use a smaller file"
                )

    def read(self, name: str) -> Array:
        """The array ``name``: exactly the bytes its header declares, checked by the zip's CRC."""
        header = self.headers[name]
        self.check_size([name])
        count = math.prod(header.shape)
        try:
            flat = np.empty(count, header.dtype)
            buffer = flat.view(np.uint8).data
            with self._zip.open(header.info) as member:
                if len(member.read(header.offset)) != header.offset:
                    raise EOFError("the header is cut short")
                done = 0
                while done < header.nbytes:
                    chunk = member.read(min(_CHUNK, header.nbytes - done))
                    if not chunk:
                        raise EOFError(f"it ends after {done:,} of {header.nbytes:,} bytes")
                    buffer[done : done + len(chunk)] = chunk
                    done += len(chunk)
                if member.read(1):
                    raise ValueError("it holds more bytes than its header declares")
        except MemoryError:
            raise SpecError(
                f"{self.where}: out of memory while reading array {name[:60]!r} "
                f"({header.nbytes:,} bytes); free some memory or use a smaller file"
            ) from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
            raise self._bad(f"array {name[:60]!r} is damaged ({_one_line(exc)})") from None
        self._read_bytes += header.nbytes
        if header.fortran:
            return flat.reshape(header.shape[::-1]).T
        return flat.reshape(header.shape)

    def close(self) -> None:
        zf = getattr(self, "_zip", None)
        if zf is not None:
            zf.close()
        self._fh.close()

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_npz(
    source: str | os.PathLike[str] | bytes,
    *,
    max_bytes: int,
    names: Iterable[str] | None = None,
    check: Callable[[dict[str, NpyHeader]], None] | None = None,
    where: str | None = None,
    what: str = "a valid .npz file",
    fix: str = "save the arrays with numpy.savez",
) -> dict[str, Array]:
    """The arrays of an NPZ archive, read safely (see :class:`NpzArchive`).

    Args:
        source: the file's path, or its bytes.
        max_bytes: the most bytes of array data read.
        names: the arrays to read (default: all).
        check: called with every member's header before any data is read; raises to refuse.
        where, what, fix: as for :class:`NpzArchive`.
    """
    with NpzArchive(source, max_bytes=max_bytes, where=where, what=what, fix=fix) as npz:
        if check is not None:
            check(npz.headers)
        wanted = list(npz.headers) if names is None else list(names)
        npz.check_size(wanted)
        return {name: npz.read(name) for name in wanted}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def output_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` may not be written as an output, or None for a regular file or a new path.

    A symbolic link, a FIFO or a device would be replaced by the rename of :func:`atomic_write`
    (``-o /dev/null`` would replace /dev/null), so they are refused. The path itself is looked
    at (``os.lstat``), not what a link points to.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return None  # a new path (or one the write will report on)
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link; give the path of a regular file"
    kind = _kind(st.st_mode)
    if kind == "a folder":
        return "is a folder; give a file name inside it"
    if kind is not None:
        return f"is {kind}, not a regular file; give the path of a regular file"
    return None


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file: the same inode when both exist, else the same
    resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))
    except (OSError, ValueError):
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_error(target: Path, exc: OSError) -> SpecError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return SpecError(
            f"{target}: cannot be written ({reason}); free some space or write it elsewhere"
        )
    return SpecError(
        f"{target}: cannot be written ({reason}); check the folder and its permissions"
    )


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; return the path.

    The target must be a regular file or a new path (:func:`output_problem`); an OS error (a
    full disk, a folder that is not writable) is one SpecError line naming the target, and
    leaves the target as it was and no temporary file behind.
    """
    target = Path(path)
    problem = output_problem(target)
    if problem is not None:
        raise SpecError(f"{target}: {problem}")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from None
        raise
    return target
