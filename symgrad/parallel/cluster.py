"""Dask, as sweeps and data-parallel training use it: the client, made or reached, and closed.

``client=None`` starts a :class:`distributed.LocalCluster` of one single-threaded process per
core (its workers' BLAS single-threaded too: Dask's nanny sets ``OMP_NUM_THREADS=1`` and its
kin) and closes it at the end; an address such as ``"tcp://10.0.0.5:8786"`` is a scheduler
reached within a bounded time; a ``distributed.Client`` is used as it is and left open.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import SpecError

INSTALL = "pip install 'symgrad[dask]'"
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a scheduler given by its address before giving up."""


def need_dask(what: str) -> Any:
    """The ``distributed`` module, or a SpecError saying which extra to install."""
    try:
        import distributed
    except ImportError:
        raise SpecError(
            f"{what} runs on Dask, which is not installed: {INSTALL} "
            "(or pip install 'dask[distributed]')"
        ) from None
    return distributed


@contextmanager
def connect(
    client: Any = None,
    *,
    workers: int | None = None,
    timeout: float | None = None,
    what: str = "this",
) -> Iterator[Any]:
    """A ``distributed.Client``: ``client`` itself, one connected to the scheduler at the address
    ``client``, or one of a new LocalCluster of ``workers`` processes (default: one per core).
    What this starts, it closes. ``timeout``: seconds to reach a scheduler (default
    :data:`CONNECT_TIMEOUT`)."""
    distributed = need_dask(what)
    if isinstance(client, distributed.Client):
        yield client
        return
    if client is None:
        n = workers if workers is not None else max(os.cpu_count() or 1, 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(f"workers must be a whole number >= 1, got {n!r}")
        cluster = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )  # fmt: skip
        local = distributed.Client(cluster)
        try:
            yield local
        finally:
            local.close()
            cluster.close()
        return
    if not isinstance(client, str) or not client.strip():
        raise SpecError(
            "client must be a distributed.Client, a scheduler's address such as "
            f"'tcp://127.0.0.1:8786', or None for a local cluster; got {type(client).__name__}"
        )
    remote = reach(distributed, client.strip(), CONNECT_TIMEOUT if timeout is None else timeout)
    try:
        yield remote
    finally:
        remote.close()


def reach(distributed: Any, address: str, timeout: float) -> Any:
    """A client of the scheduler at ``address``, or a SpecError after ``timeout`` seconds."""
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(
            f"scheduler {address!r}: not reached within {timeout:g} s ({reason}); start one with "
            "'dask scheduler' and its workers with 'dask worker ADDRESS', or check the address "
            "(tcp://HOST:8786)"
        ) from None


def worker_addresses(client: Any) -> list[str]:
    """The addresses of the client's workers, in a fixed order; a SpecError when there are none."""
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    if not workers:
        raise SpecError(
            "the Dask cluster has no workers; start some with 'dask worker SCHEDULER-ADDRESS'"
        )
    return workers


__all__ = ["CONNECT_TIMEOUT", "INSTALL", "connect", "need_dask", "reach", "worker_addresses"]
