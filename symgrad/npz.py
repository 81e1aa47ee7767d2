"""NPZ archives (``numpy.savez``) read safely: headers first, exact sizes, never a pickle.

:class:`NpzArchive` parses every member's ``.npy`` header before any data is decompressed, so
the caller (training data, weights files) checks shapes and sizes against its limits first;
object arrays, members that are not ``.npy`` files and sizes that disagree with their headers
are each one :class:`~symgrad.errors.SpecError` line naming the file and the fix.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

import numpy as np

from .errors import SpecError
from .files import _CHUNK, _one_line, _open_input, _read_error

Array = np.ndarray[Any, Any]

MAX_NPZ_MEMBERS = 10_000
"""An NPZ archive with more members than this is refused before its directory is read."""
_DEFLATE_RATIO = 1032  # deflate's largest possible ratio of expanded to compressed size
_NPZ_SLACK = 1 << 24  # room for the zip and .npy headers beyond an archive's limit on its arrays


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
