"""Pluggable executors: run one function over many items, in-process, in local processes or on Dask.

:func:`get_executor` picks one:

* ``workers=1`` — :class:`SequentialExecutor`, in the calling process (no pickling; easiest to
  debug);
* ``workers=N`` (default :func:`default_workers`, the CPUs this process may use) — :class:`ProcessExecutor`, a
  :class:`concurrent.futures.ProcessPoolExecutor` of ``N`` local processes; items are sent in
  chunks so that small tasks do not drown in inter-process overhead;
* ``scheduler="tcp://host:8786"`` — :class:`DaskExecutor`, a ``distributed.Client`` connected
  to a running Dask scheduler (optional dependency: ``pip install 'bsc-workbench[distributed]'``).
  The workers must have ``bsc_lib`` importable (functions travel by reference).

Every executor offers the same small interface:

``map(fn, items)``
    iterator of ``fn(item)`` in input order (like :meth:`concurrent.futures.Executor.map`);
``as_completed(fn, items)``
    iterator of ``(index, fn(item))`` in completion order (drive a progress bar with it);
``close()``
    release processes / the client connection; executors are also context managers.

An exception raised by ``fn`` propagates to the caller (the remaining work is cancelled).
Problems the analyst can fix (``distributed`` not installed, scheduler unreachable) raise
:class:`ExecutorError`, which the command line prints without a traceback.

Local processes use the ``forkserver`` start method where available (``spawn`` elsewhere):
the server imports the ``preload`` modules once and forks cheap workers from a clean
process, which is safe even when the parent runs threads (progress bars, Dask) — plain
``fork`` of a threaded process is not.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar, runtime_checkable

from bsc_lib.errors import BSCError, Problem
from bsc_lib.parallel import usable_cpus

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a Dask scheduler before giving up.
DEFAULT_SCHEDULER_TIMEOUT = 10.0
#: Chunks per worker the items are cut into (more chunks: smoother progress, more overhead).
CHUNKS_PER_WORKER = 4


class ExecutorError(BSCError):
    """An executor cannot be set up (bad worker count, no ``distributed``, unreachable scheduler)."""


@runtime_checkable
class Executor(Protocol):
    """What every executor of this module offers (see the module docstring)."""

    kind: str

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def as_completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[tuple[int, T]]) -> list[tuple[int, R]]:
    """Worker side: ``fn`` over one chunk of ``(index, item)`` pairs."""
    return [(i, fn(item)) for i, item in chunk]


def _chunks(items: Sequence[T], size: int) -> list[list[tuple[int, T]]]:
    indexed = list(enumerate(items))
    return [indexed[k:k + size] for k in range(0, len(indexed), size)]


def chunk_size(n_items: int, workers: int, per_worker: int = CHUNKS_PER_WORKER) -> int:
    """Items per task: ``ceil(n_items / (workers × per_worker))``, at least 1.

    Examples
    --------
    >>> chunk_size(248, 2)   # 248 / 8 = 31
    31
    >>> chunk_size(5, 4)
    1
    """
    if n_items <= 0:
        return 1
    return max(1, math.ceil(n_items / (max(1, workers) * max(1, per_worker))))


class _Base:
    kind = "base"

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for every item, in input order (results are collected first)."""
        items = list(items)
        out: list[Any] = [None] * len(items)
        for i, r in self.as_completed(fn, items):
            out[i] = r
        return iter(out)

    def as_completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (idempotent)."""

    def describe(self) -> dict[str, Any]:
        """``{"kind": …, …}`` for manifests and logs."""
        return {"kind": self.kind}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SequentialExecutor(_Base):
    """Runs everything in the calling process, one item after the other."""

    kind = "sequential"

    def as_completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """``(index, fn(item))`` in input order."""
        for i, item in enumerate(items):
            yield i, fn(item)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": 1}


def _mp_context(method: str | None):
    methods = multiprocessing.get_all_start_methods()
    if method is None:
        method = "forkserver" if "forkserver" in methods else "spawn"
    if method not in methods:
        raise ValueError(f"start method {method!r} is not available here; choose one of {methods}")
    return multiprocessing.get_context(method)


class ProcessExecutor(_Base):
    """A pool of local processes (:class:`concurrent.futures.ProcessPoolExecutor`).

    Parameters
    ----------
    workers
        Number of processes (>= 1).
    start_method
        ``"forkserver"`` (default where available), ``"spawn"`` or ``"fork"``.
    preload
        Modules the fork server imports once before forking workers (forkserver only).
    chunks_per_worker
        Items are cut into about ``workers × chunks_per_worker`` tasks.

    Notes
    -----
    The function and the items must be picklable: module-level functions and plain data.
    The pool is created on first use and shut down by :meth:`close`.
    """

    kind = "processes"

    def __init__(self, workers: int, *, start_method: str | None = None,
                 preload: Sequence[str] = (), chunks_per_worker: int = CHUNKS_PER_WORKER):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self.chunks_per_worker = max(1, int(chunks_per_worker))
        self._ctx = _mp_context(start_method)
        self._preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._ctx.get_start_method() == "forkserver" and self._preload:
                self._ctx.set_forkserver_preload(self._preload)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx)
        return self._pool

    def as_completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """``(index, fn(item))`` as chunks complete; a failing item raises its exception."""
        items = list(items)
        if not items:
            return
        pool = self._get_pool()
        size = chunk_size(len(items), self.workers, self.chunks_per_worker)
        pending: set[Future] = {pool.submit(_run_chunk, fn, c) for c in _chunks(items, size)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield from fut.result()
        except BrokenProcessPool as exc:
            raise ExecutorError([Problem(
                file="", rule="worker died", column="--workers",
                message=f"a worker process ended abruptly ({exc}). Out of memory? When calling "
                        "from a script, put the call under `if __name__ == \"__main__\":` "
                        "(workers re-import the main module); or use --workers 1")]) from None
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers,
                "start_method": self._ctx.get_start_method()}


def _check_scheduler(address: str, timeout: float) -> None:
    """Fail fast, without building a client, on a malformed or closed scheduler address.

    The address must use a transport ``distributed`` knows; for network transports (``tcp``,
    ``tls``, ``ws``, ``wss``) host and port must parse and a TCP connection must open within
    ``timeout`` seconds. (A ``Client`` that fails to connect leaves noisy clean-up messages
    on stderr; this check avoids creating one in the common failure cases.)
    """
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port

    def fail(rule: str, message: str) -> ExecutorError:
        return ExecutorError([Problem(file="", rule=rule, column="--scheduler", value=address, message=message)])

    try:
        scheme, loc = parse_address(address)
    except ValueError as exc:
        raise fail("address", f"not a scheduler address: {exc}") from None
    if scheme not in registry.backends:
        known = ", ".join(sorted(registry.backends))
        raise fail("address", f"unknown transport {scheme!r} (known: {known}); e.g. tcp://10.0.0.5:8786")
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return
    try:
        host, port = parse_host_port(loc)
    except ValueError as exc:
        raise fail("address", f"{exc}; e.g. tcp://10.0.0.5:8786") from None
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise fail("unreachable", f"cannot connect to the Dask scheduler at {host}:{port} within "
                                  f"{timeout:g} s ({exc.strerror or exc})") from None


class DaskExecutor(_Base):
    """Runs the work on a Dask ``distributed`` cluster through a client.

    Parameters
    ----------
    address
        Scheduler address, e.g. ``"tcp://10.0.0.5:8786"`` (``inproc://…`` for an in-process
        ``LocalCluster``).
    timeout
        Seconds to wait for the connection.
    chunks_per_worker
        Items are cut into about ``n_workers × chunks_per_worker`` tasks.

    Raises
    ------
    ExecutorError
        ``distributed`` is not installed, or the scheduler cannot be reached in time.
    """

    kind = "dask"

    def __init__(self, address: str, *, timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
                 chunks_per_worker: int = CHUNKS_PER_WORKER):
        if not isinstance(address, str) or not address.strip():
            raise ExecutorError([Problem(file="", rule="scheduler", column="--scheduler",
                                         message="the scheduler address is empty", value=repr(address))])
        self.address = address.strip()
        self.chunks_per_worker = max(1, int(chunks_per_worker))
        try:
            import distributed
        except ImportError:
            raise ExecutorError([Problem(
                file="", rule="not installed", column="--scheduler",
                message="the Dask executor needs the 'distributed' package: "
                        "pip install 'bsc-workbench[distributed]' (or run without --scheduler)")]) from None
        self._distributed = distributed
        self._client = None
        _check_scheduler(self.address, timeout)
        try:
            self._client = distributed.Client(self.address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError([Problem(
                file="", rule="unreachable", column="--scheduler", value=self.address,
                message=f"cannot connect to the Dask scheduler within {timeout:g} s ({exc})")]) from None

    def _n_workers(self) -> int:
        try:
            return max(1, len(self._client.scheduler_info().get("workers", {})))
        except Exception:  # noqa: BLE001 - only used to size chunks
            return 1

    def as_completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """``(index, fn(item))`` as chunks complete on the cluster."""
        items = list(items)
        if not items:
            return
        size = chunk_size(len(items), self._n_workers(), self.chunks_per_worker)
        chunks = _chunks(items, size)
        futures = self._client.map(_run_chunk, [fn] * len(chunks), chunks, pure=False)
        try:
            for fut in self._distributed.as_completed(futures, loop=self._client.loop):
                yield from fut.result()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
            self._client = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "scheduler": self.address,
                "workers": self._n_workers() if getattr(self, "_client", None) else None}


def default_workers() -> int:
    """The CPUs this process may use (:func:`bsc_lib.parallel.usable_cpus`: the affinity mask,
    not the machine's count, so a container limited to 2 CPUs starts 2 processes)."""
    return usable_cpus()


def get_executor(workers: int | None = None, scheduler: str | None = None, *,
                 timeout: float = DEFAULT_SCHEDULER_TIMEOUT, preload: Sequence[str] = (),
                 start_method: str | None = None) -> SequentialExecutor | ProcessExecutor | DaskExecutor:
    """The executor for a worker count or a Dask scheduler address.

    Parameters
    ----------
    workers
        Local processes; ``None`` → :func:`default_workers`; ``1`` → in-process
        (:class:`SequentialExecutor`). Ignored when ``scheduler`` is given.
    scheduler
        Address of a running Dask scheduler → :class:`DaskExecutor`.
    timeout
        Seconds to wait for the scheduler.
    preload, start_method
        Passed to :class:`ProcessExecutor`.

    Returns
    -------
    SequentialExecutor | ProcessExecutor | DaskExecutor
        Use it as a context manager (``with get_executor(2) as ex: ...``).

    Raises
    ------
    ExecutorError
        A worker count below 1 or not an integer; ``distributed`` missing; scheduler
        unreachable.
    """
    if scheduler is not None:
        if workers is not None:
            log.info("--scheduler given: the worker count %s is ignored (the cluster decides)", workers)
        return DaskExecutor(scheduler, timeout=timeout)
    n = default_workers() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ExecutorError([Problem(file="", rule="workers", column="--workers",
                                     message="the number of workers must be an integer of at least 1",
                                     value=repr(workers))])
    if n == 1:
        return SequentialExecutor()
    return ProcessExecutor(n, preload=preload, start_method=start_method)


__all__ = ["DEFAULT_SCHEDULER_TIMEOUT", "DaskExecutor", "Executor", "ExecutorError",
           "ProcessExecutor", "SequentialExecutor", "chunk_size", "default_workers", "get_executor"]
