"""Shared test fixtures: per-run caches, golden files, seeded randomness.

Numba's on-disk cache and symgrad's generated-module cache go to one temporary folder per
test run (set before numba is imported), so runs never share or pollute each other's caches;
the run's worker processes (pytest-xdist) share it.
"""

from __future__ import annotations

import atexit
import difflib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

# one folder per run: made by the first process (pytest itself), inherited by its workers
# (pytest-xdist), which share the caches as any processes may; removed when the run ends
if "SYMGRAD_TEST_RUN_DIR" not in os.environ:
    _RUN_DIR = Path(tempfile.mkdtemp(prefix="symgrad-tests-"))
    os.environ["SYMGRAD_TEST_RUN_DIR"] = str(_RUN_DIR)
    atexit.register(shutil.rmtree, _RUN_DIR, ignore_errors=True)
_RUN_DIR = Path(os.environ["SYMGRAD_TEST_RUN_DIR"])
os.environ.setdefault("NUMBA_CACHE_DIR", str(_RUN_DIR / "numba"))
os.environ.setdefault("SYMGRAD_CACHE_DIR", str(_RUN_DIR / "symgrad"))
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/* from the current output",
    )


@pytest.fixture(scope="session")
def iris() -> object:
    """The bundled iris data (120 training rows, 30 test): symgrad.Dataset."""
    import symgrad as sg

    return sg.load_data("iris")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden(name, text)``: compare with tests/golden/<name>, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def compare(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update or not path.exists():
            if not update:
                pytest.fail(
                    f"golden file {path} is missing; run pytest --update-golden to create it"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"golden/{name}",
                    tofile="current",
                )
            )
            pytest.fail(
                f"output differs from golden/{name} (pytest --update-golden to accept):\n{diff}"
            )

    return compare
