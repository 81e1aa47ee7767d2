"""symgrad.files: inputs that are not regular files or too large, atomic writes that replace
only regular files, and the NPZ reader that checks every header before it reads any data."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import socket
import stat
import struct
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad import files, npz
from symgrad.files import atomic_write, output_problem, read_input, same_file
from symgrad.io.data import load_data
from symgrad.io.specfile import load_spec
from symgrad.npz import NpzArchive, read_npz
from symgrad.runtime import weights as weights_module

NET = sg.Network.mlp([2, 3, 1], hidden="tanh", output="sigmoid", cost="binary_cross_entropy")


@contextlib.contextmanager
def deadline(seconds: int = 10) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading waits for a writer)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def special_files(folder: Path) -> dict[str, Path]:
    """Paths that are not regular files, each of its kind, where this system makes them."""
    found: dict[str, Path] = {}
    if Path("/dev/zero").exists():
        found["/dev/zero"] = Path("/dev/zero")
        (folder / "zero-link").symlink_to("/dev/zero")
        found["link to /dev/zero"] = folder / "zero-link"
    os.mkfifo(folder / "fifo")
    found["fifo"] = folder / "fifo"
    with contextlib.suppress(OSError):  # no AF_UNIX, or too long a path
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(folder / "sock"))
        sock.close()
        found["socket"] = folder / "sock"
    with contextlib.suppress(OSError, AttributeError):  # a device node of our own (root only)
        os.mknod(folder / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        found["device"] = folder / "null"
    return found


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_inputs_that_are_not_regular_files_are_refused_without_reading(tmp_path: Path) -> None:
    for name, path in special_files(tmp_path).items():
        readers: dict[str, Callable[[], object]] = {
            "read_input": lambda p=path: read_input(p, limit=100),
            "spec": lambda p=path: load_spec(p),
        }
        # load_data looks at the suffix first: give it one, and Model.load too, through links
        (tmp_path / f"{path.name}-data.csv").symlink_to(path)
        readers["data"] = lambda p=tmp_path / f"{path.name}-data.csv": load_data(p, network=NET)
        (tmp_path / f"{path.name}-weights.npz").symlink_to(path)
        readers["weights"] = lambda p=tmp_path / f"{path.name}-weights.npz": sg.Model.load(p)
        for reader, read in readers.items():
            with deadline(), pytest.raises(sg.SpecError) as info:
                read()
            message = str(info.value)
            assert "\n" not in message, (name, reader, message)
            assert "not a regular file" in message, (name, reader, message)


def test_a_fifo_that_appears_after_the_stat_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = tmp_path / "regular.toml"
    regular.write_text("[network]\nsizes = [2, 1]\n")
    fifo = tmp_path / "swapped.toml"
    os.mkfifo(fifo)
    real_stat = os.stat
    # the stat sees a regular file; by the time it is opened, a FIFO is there
    monkeypatch.setattr(
        files.os, "stat", lambda p, *a, **k: real_stat(regular if p == fifo else p, *a, **k)
    )
    with deadline(), pytest.raises(sg.SpecError, match="is a FIFO"):
        read_input(fifo, limit=1000)
    with deadline(), pytest.raises(sg.SpecError, match="is a FIFO"):
        load_spec(fifo)


def test_inputs_larger_than_the_limit_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sparse = tmp_path / "huge.csv"
    with open(sparse, "wb") as fh:  # 3 GB that take no room: nothing may read them
        fh.truncate(3 << 30)
    with pytest.raises(sg.SpecError, match=r"the file is 3,221,225,472 bytes; a data file is at"):
        load_data(sparse, network=NET)
    with pytest.raises(sg.SpecError, match="a spec is at most 1,000,000 bytes"):
        load_spec(sparse)
    npz = tmp_path / "huge.npz"
    sparse.rename(npz)
    monkeypatch.setattr(weights_module, "MAX_WEIGHTS_BYTES", 1 << 20)
    with pytest.raises(sg.SpecError, match="the file is 3,221,225,472 bytes"):
        sg.Model.load(npz)
    # a file that grows while it is read: never more than limit + 1 bytes
    growing = tmp_path / "growing.txt"
    growing.write_bytes(b"x" * 100)
    real_stat, real_fstat = os.stat, os.fstat
    small = real_stat(tmp_path / "growing.txt")

    def shrunk(result: os.stat_result) -> os.stat_result:
        fields = list(result)
        fields[stat.ST_SIZE] = 10
        return os.stat_result(fields)

    monkeypatch.setattr(files.os, "stat", lambda p, *a, **k: shrunk(real_stat(p, *a, **k)))
    monkeypatch.setattr(files.os, "fstat", lambda fd: shrunk(real_fstat(fd)))
    assert small.st_size == 100
    assert read_input(growing, limit=200) == b"x" * 100
    with pytest.raises(sg.SpecError, match="at most 50 bytes"):
        read_input(growing, limit=50)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(sg.SpecError, match=r"missing\.toml: no such file; look again"):
        read_input(tmp_path / "missing.toml", limit=10, missing="look again")
    with pytest.raises(sg.SpecError, match="is a folder, not a file"):
        read_input(tmp_path, limit=10)
    (tmp_path / "file").write_text("x")
    with pytest.raises(sg.SpecError, match="no such file"):
        read_input(tmp_path / "file" / "below", limit=10)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(sg.SpecError, match=r"loop: cannot be read \(Too many levels"):
        read_input(tmp_path / "loop", limit=10)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_atomic_write_replaces_only_regular_files(tmp_path: Path) -> None:
    original = tmp_path / "original.txt"
    original.write_text("keep me")
    (tmp_path / "link.txt").symlink_to(original)
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (tmp_path / "folder").mkdir()
    targets = {
        "link.txt": "is a symbolic link; give the path of a regular file",
        "dangling.txt": "is a symbolic link; give the path of a regular file",
        "folder": "is a folder; give a file name inside it",
    }
    for path in special_files(tmp_path).values():
        if path.parent == tmp_path:  # /dev/zero itself is never written, even to be refused
            targets[path.name] = "is a symbolic link" if path.is_symlink() else "not a regular file"
    for name, why in targets.items():
        path = tmp_path / name
        before = os.lstat(path)
        with deadline(), pytest.raises(sg.SpecError) as info:
            atomic_write(path, "new text")
        assert str(info.value).startswith(f"{path}: ") and why in str(info.value), name
        after = os.lstat(path)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), name
        assert output_problem(path) is not None
    assert original.read_text() == "keep me"
    assert not list(tmp_path.glob(".*.tmp"))
    # a regular file and a new path are written; the new file is readable by others
    assert atomic_write(original, "new") == original and original.read_text() == "new"
    fresh = atomic_write(tmp_path / "sub" / "fresh.txt", b"bytes")
    assert fresh.read_bytes() == b"bytes" and output_problem(fresh) is None
    assert output_problem(tmp_path / "not-yet.txt") is None


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("fsync", errno.ENOSPC),
        ("mkstemp", errno.ENOSPC),
        ("replace", errno.ENOSPC),
        ("fsync", errno.EDQUOT),
        ("mkstemp", errno.EACCES),
    ],
)
def test_a_full_disk_is_one_line_naming_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(tmp_path / ".out.txt.abc.tmp"))

    owner = files.tempfile if where == "mkstemp" else files.os
    monkeypatch.setattr(owner, where, fail)
    with pytest.raises(sg.SpecError) as info:
        atomic_write(target, "new")
    message = str(info.value)
    assert message.startswith(f"{target}: cannot be written ({os.strerror(code)})"), message
    fix = "free some space" if code != errno.EACCES else "check the folder and its permissions"
    assert fix in message and "\n" not in message and ".tmp" not in message
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary file left


def test_same_file_sees_links_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d.npz"
    data.write_bytes(b"x")
    os.link(data, tmp_path / "hard.npz")
    (tmp_path / "soft.npz").symlink_to(data)
    monkeypatch.chdir(tmp_path)
    for other in (
        "d.npz",
        "./d.npz",
        "hard.npz",
        "soft.npz",
        str(data),
        "../" + tmp_path.name + "/d.npz",
    ):
        assert same_file(data, other), other
    assert same_file("new.npz", tmp_path / "new.npz")  # neither exists yet
    assert not same_file(data, "other.npz")
    assert not same_file("a.npz", "b.npz")


# ---------------------------------------------------------------------------------------------
# NPZ archives
# ---------------------------------------------------------------------------------------------
def npz_bytes(compress: bool = False, **arrays: object) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "'<f8'") -> bytes:
    """A .npy version 1.0 header declaring ``shape``, whatever data follow."""
    text = f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_read_npz_reads_what_numpy_writes() -> None:
    arrays = {
        "a": np.arange(12.0).reshape(3, 4),
        "f": np.asfortranarray(np.arange(6).reshape(2, 3)),
        "s": np.array("a declaration, é"),
        "e": np.zeros((0, 3)),
        "big_endian": np.arange(3, dtype=">i4"),
        "scalar": np.float32(3.5),
    }
    for compress in (False, True):
        out = read_npz(npz_bytes(compress, **arrays), max_bytes=1 << 20, where="x.npz")
        assert list(out) == list(arrays)
        for name, want in arrays.items():
            got = out[name]
            assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype, name
            np.testing.assert_array_equal(got, want)
            assert got.flags.writeable
        assert out["f"].flags.f_contiguous
    only = read_npz(npz_bytes(**arrays), max_bytes=1 << 20, names=["a"], where="x.npz")
    assert list(only) == ["a"]


def bad_archives() -> dict[str, tuple[bytes, str]]:
    good = npz_bytes(W1=np.zeros((4, 2)))
    crc = bytearray(good)
    crc[good.index(b"\x93NUMPY") + 130] ^= 0xFF  # a byte of the data
    big = npy_header((20000, 20000))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(npz.MAX_NPZ_MEMBERS + 1):
            zf.writestr(f"a{i}.npy", b"")
    npy = io.BytesIO()
    np.save(npy, np.zeros(3))
    duplicate = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(duplicate, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns of the second W1.npy, and writes it
        for _ in range(2):
            zf.writestr("W1.npy", npy_header((0,)))
    return {
        "text": (b"W1 = [[0.1, 0.2]]\n", "it is not a zip archive"),
        "empty": (b"", "the file is empty"),
        "npy": (npy.getvalue(), "is a single .npy array, not an .npz archive"),
        "truncated": (good[: len(good) // 2], "it is truncated or damaged"),
        "crc": (bytes(crc), "array 'W1' is damaged (Bad CRC-32"),
        "not npy": (zip_of({"notes.txt": b"hello"}), "member 'notes.txt' is not a .npy array"),
        "folder": (zip_of({"sub/": b""}), "member 'sub/' is not a .npy array"),
        "bad header": (zip_of({"W1.npy": b"\x93NUMPY\x01\x00garbage"}), "no valid .npy header"),
        "no magic": (zip_of({"W1.npy": b"just bytes"}), "no valid .npy header"),
        "objects": (npz_bytes(W1=np.array([object()], dtype=object)), "holds Python objects"),
        "object field": (
            zip_of({"W1.npy": npy_header((1,), "[('a', '|O')]") + b"\0" * 8}),
            "holds Python objects",
        ),
        "short": (
            zip_of({"W1.npy": big + b"\0" * 64}),
            "declares shape (20000, 20000) of float64 (3,200,000,000 bytes) but holds 64 bytes",
        ),
        "long": (zip_of({"W1.npy": npy_header((2,)) + b"\0" * 24}), "but holds 24 bytes"),
        "short deflated": (
            zip_of({"W1.npy": big + b"\0" * 640}, zipfile.ZIP_DEFLATED),
            "but holds 640 bytes",
        ),
        "bzip2": (
            zip_of({"W1.npy": npy_header((2,)) + b"\0" * 16}, zipfile.ZIP_BZIP2),
            "compressed with method 12",
        ),
        "duplicate": (duplicate.getvalue(), "it holds two arrays named 'W1'"),
        "many": (many.getvalue(), f"the limit is {npz.MAX_NPZ_MEMBERS:,}"),
    }


def test_bad_archives_are_one_line_each(tmp_path: Path) -> None:
    for name, (data, fragment) in bad_archives().items():
        path = tmp_path / f"{name.replace(' ', '_')}.npz"
        path.write_bytes(data)
        readers: list[tuple[str, Callable[[], object]]] = [
            ("bytes", lambda d=data: read_npz(d, max_bytes=1 << 20, where="w.npz")),
            ("path", lambda p=path: read_npz(p, max_bytes=1 << 20)),
        ]
        if name != "crc":  # found only when the data are read: weights and data read others first
            readers += [
                ("weights", lambda p=path: sg.Model.load(p)),
                ("data", lambda p=path: load_data(p, network=NET)),
            ]
        for where, read in readers:
            with pytest.raises(sg.SpecError) as info:
                read()
            message = str(info.value)
            assert fragment in message, (name, where, message)
            assert "\n" not in message and "allow_pickle" not in message, (name, where)
            assert message.startswith("w.npz: " if where == "bytes" else f"{path}: "), message
        if name not in ("empty", "npy", "text"):
            with pytest.raises(sg.SpecError, match="not a readable symgrad weights file"):
                sg.Model.load(path)


def test_a_member_that_claims_more_than_it_can_expand_to_is_refused() -> None:
    data = bytearray(zip_of({"W1.npy": npy_header((4,)) + b"\0" * 32}, zipfile.ZIP_DEFLATED))
    # make both of the zip's records of the member say it expands to 4 GB
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at : at + 4] = struct.pack("<I", 4_000_000_000)
    with pytest.raises(sg.SpecError, match="claims more bytes than it can expand to"):
        read_npz(bytes(data), max_bytes=1 << 40, where="w.npz")


def test_arrays_over_the_limit_are_refused_before_they_are_decompressed() -> None:
    bomb = npz_bytes(True, X=np.zeros((4000, 2000)), Y=np.zeros(4000))  # 64 MB in 60 kB
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(sg.SpecError) as info:
            read_npz(bomb, max_bytes=10_000_000, where="bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "array 'X' has shape (4000, 2000) of float64 (64,000,000 bytes)" in str(info.value)
    assert "at most 10,000,000 bytes" in str(info.value)
    assert peak < 5_000_000, peak
    # a caller's check sees the headers before any data is read
    seen: list[tuple[str, tuple[int, ...]]] = []

    def check(headers: dict[str, files.NpyHeader]) -> None:
        seen.extend((h.name, h.shape) for h in headers.values())
        raise sg.SpecError("refused by the caller")

    with pytest.raises(sg.SpecError, match="refused by the caller"):
        read_npz(bomb, max_bytes=1 << 30, check=check, where="bomb.npz")
    assert seen == [("X", (4000, 2000)), ("Y", (4000,))]
    with NpzArchive(bomb, max_bytes=1 << 30, where="bomb.npz") as npz:
        assert npz.headers["X"].nbytes == 64_000_000 and npz.read("Y").shape == (4000,)
