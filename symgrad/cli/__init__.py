"""The ``symgrad`` command: ``demo``, ``derive``, ``generate``, ``train``, ``check`` and ``export``.

Each subcommand (a module of this package with a ``run(args)``) parses its options, calls the
public API and prints; the work is done by :mod:`symgrad.io`, :func:`symgrad.derive`,
:func:`symgrad.generate` and the compiled :class:`~symgrad.runtime.model.Model`. Bad input never
shows a traceback: :func:`main` turns every :class:`~symgrad.errors.SymgradError` and ``OSError``
into a single line ``symgrad: error: FILE: [section] field: what is wrong; how to fix it`` and
exit status 2. Output files are written only once everything else has succeeded, each atomically.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ..errors import SymgradError
from .common import EXIT_BAD_INPUT, EXIT_OK, error_line
from .parser import UsageError, build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``symgrad`` command; returns the exit status (0 ok, 1 failed check, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or --version
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except UsageError as exc:
        return error_line(str(exc))
    if args.command is None:  # a bare "symgrad": what there is to do
        parser.print_help()
        return EXIT_OK
    try:
        command = importlib.import_module(f".{args.run}", __name__)
        status: int = command.run(args)
    except SymgradError as exc:
        return error_line(str(exc))
    except OSError as exc:
        name = exc.filename if exc.filename is not None else "file"
        return error_line(f"{name}: {exc.strerror or exc}; check the path and its permissions")
    except MemoryError:
        return error_line("out of memory; use a smaller network, fewer examples or a smaller batch")
    except KeyboardInterrupt:
        print("symgrad: interrupted", file=sys.stderr)
        return 130
    return status


__all__ = ["main"]
