"""Reading input files with clear errors and limits, and atomic writing.

Input files (specs, data, weights) are read by :func:`read_input`, which refuses anything but a
regular file (a FIFO would hang, ``/dev/zero`` never ends), never reads more than a size limit,
and turns every OS error into one :class:`~symgrad.errors.SpecError` line naming the file and
the fix. NPZ archives are read by :mod:`symgrad.npz`, on top of these.

Every file symgrad writes (generated modules, derivations, pages, plots, weights) goes through
:func:`atomic_write`: a temporary file in the same folder, flushed to disk, then renamed over the
target, which must be a regular file or a new path. The new file gets the usual permissions
(``0o666`` less the umask), not the private ``0o600`` of a temporary file.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
from pathlib import Path

from .errors import SpecError

_CHUNK = 1 << 24  # arrays are decompressed 16 MiB at a time
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
