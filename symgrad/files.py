"""Reading input files with clear errors, and atomic writing.

Input files (specs, data) are read by :func:`read_input`, which turns every OS error into one
:class:`~symgrad.errors.SpecError` line naming the file and the fix. Every file symgrad writes
(generated modules, derivations, pages, plots, weights) goes through :func:`atomic_write`: a
temporary file in the same folder, flushed to disk, then renamed over the target. The new file
gets the usual permissions (``0o666`` less the umask), not the private ``0o600`` of a temporary
file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import SpecError


def read_input(path: str | os.PathLike[str], *, missing: str = "check the path") -> bytes:
    """The bytes of an input file; a missing, unreadable or folder path is a SpecError.

    Args:
        path: the file.
        missing: the fix suggested when the file does not exist.
    """
    where = str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{where}: no such file; {missing}") from None
    except IsADirectoryError:
        raise SpecError(f"{where}: is a folder, not a file; give the path of a file") from None
    except PermissionError:
        raise SpecError(
            f"{where}: cannot be read (permission denied); check its permissions"
        ) from None
    except OSError as exc:
        raise SpecError(
            f"{where}: cannot be read ({exc.strerror or exc}); check the path"
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
