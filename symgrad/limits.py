"""Bounds on symbolic work: untrusted formulas and networks must fail in seconds, not run for ever.

SymPy's work on a short formula can grow without bound (five nested ``abs`` are 36 characters
and 32 branches to fold; thirty nested sigmoids differentiate into thousands of terms), so the
length and depth limits of the formula parser are not enough. :func:`work_limit` bounds the
wall time of a block: in the main thread it arms a timer whose signal interrupts SymPy between
two Python steps and raises :class:`~symgrad.errors.SpecError` with the message given. Elsewhere
(a worker thread) no signal can be delivered, and the structural limits alone apply.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import SpecError

FORMULA_SECONDS = 10.0
"""Time allowed to accept a formula: parse, differentiate, rewrite in forward terms, test."""

PROOF_SECONDS = 20.0
"""Time allowed to the symbolic proof of one ``check()``; past it, the rest is "not proven"."""

EXPAND_SECONDS = 20.0
"""Time allowed to write one partial derivative in inputs and parameters."""


class WorkLimitExceeded(SpecError):
    """A bounded block of symbolic work ran past its time."""


class _Expired(BaseException):
    """Raised by the timer's signal inside the block. Not an Exception: SymPy's own ``except
    Exception`` clauses would swallow that, and its work would go on."""


_ACTIVE = threading.local()


@contextmanager
def work_limit(seconds: float, message: str) -> Iterator[None]:
    """Run the block for at most ``seconds`` of wall time, else raise ``WorkLimitExceeded(message)``.

    Only in the main thread (where signals are delivered) and only for the outermost limit: a
    limit inside another keeps the outer one's deadline.
    """
    usable = (
        threading.current_thread() is threading.main_thread()
        and hasattr(signal, "setitimer")
        and not getattr(_ACTIVE, "on", False)
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _Expired

    _ACTIVE.on = True
    previous = signal.signal(signal.SIGALRM, expire)
    # then again every quarter second, should C code have held the first signal back
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        yield
    except _Expired:
        raise WorkLimitExceeded(message) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _ACTIVE.on = False


__all__ = ["EXPAND_SECONDS", "FORMULA_SECONDS", "PROOF_SECONDS", "WorkLimitExceeded", "work_limit"]
