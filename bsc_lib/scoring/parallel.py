"""Run independent pieces of scoring work on the machine's cores (at most two threads).

pandas and numpy release the GIL in their hashing, sorting, take and group-by kernels, so two
independent parts of :func:`bsc_lib.scoring.engine.evaluate` (the components' preparation and
scoring, the factorisation of independent key columns) overlap on a second core. The results
are collected by position, never by completion order, so what a caller assembles from them is
the same as running the tasks one after the other.

Rules that keep this safe:

* The tasks must not depend on each other nor write to shared state other than their own
  result (the components pop distinct entries of the shared codes dict: a single dict operation
  on distinct keys).
* The calling thread runs tasks itself; one helper thread (a daemon) runs the others. A Ctrl-C
  (``KeyboardInterrupt`` in the calling thread) stops the helper from starting another task and
  propagates at once; the helper's current task may finish in the background but never delays
  the interpreter's exit.
* An exception is re-raised from the first failing task in task order (the one a sequential run
  would have raised), after every started task has ended.
* Work started from inside a task runs sequentially (no nested thread fan-out), and
  ``BSC_THREADS=1`` (or a one-core machine) makes everything sequential.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

_local = threading.local()


def max_threads() -> int:
    """The number of threads scoring uses: ``min(2, os.cpu_count())``, ``BSC_THREADS`` to lower it."""
    n = min(2, os.cpu_count() or 1)
    env = os.environ.get("BSC_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        n = min(n, int(env))
    return n


def run_all(tasks: Sequence[Callable[[], Any]]) -> list[Any]:
    """Results of ``tasks`` (zero-argument callables), in task order.

    Tasks are taken in order by whichever thread is free (the calling thread and at most one
    helper). See the module docstring for the rules.
    """
    tasks = list(tasks)
    if len(tasks) < 2 or max_threads() < 2 or getattr(_local, "inside", False):
        return [t() for t in tasks]
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)
    lock = threading.Lock()
    state = {"next": 0, "stop": False}

    def take() -> int | None:
        with lock:
            i = state["next"]
            if state["stop"] or i >= len(tasks):
                return None
            state["next"] = i + 1
            return i

    def lane(catch: type[BaseException]) -> None:
        _local.inside = True
        try:
            while (i := take()) is not None:
                try:
                    results[i] = tasks[i]()
                except catch as exc:  # re-raised in the calling thread, in task order
                    errors[i] = exc
        finally:
            _local.inside = False

    # the helper keeps whatever its task raises; the calling thread lets a KeyboardInterrupt
    # (or SystemExit) through at once
    helper = threading.Thread(target=lane, args=(BaseException,), name="bsc-scoring", daemon=True)
    helper.start()
    try:
        lane(Exception)
        helper.join()  # interruptible by a signal on POSIX
    except BaseException:
        with lock:
            state["stop"] = True
        raise
    for exc in errors:
        if exc is not None:
            raise exc
    return results


class Pending:
    """The result of a task started by :func:`background`, read with :meth:`result`."""

    def __init__(self, task: Callable[[], Any]):
        self._task: Callable[[], Any] | None = task
        self._thread: threading.Thread | None = None
        self._value: Any = None
        self._error: BaseException | None = None
        if max_threads() >= 2 and not getattr(_local, "inside", False):
            self._thread = threading.Thread(target=self._run, name="bsc-scoring", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        _local.inside = True
        try:
            self._value = self._task()
        except BaseException as exc:  # re-raised by result()
            self._error = exc
        finally:
            _local.inside = False

    def result(self) -> Any:
        """The task's value (its exception re-raised); without a thread the task runs now."""
        if self._thread is None:
            if self._task is not None:
                task, self._task = self._task, None
                self._value = task()
            return self._value
        self._thread.join()  # interruptible by a signal on POSIX
        if self._error is not None:
            raise self._error
        return self._value


def background(task: Callable[[], Any]) -> Pending:
    """Start ``task`` on a helper thread (daemon) while the caller goes on; :meth:`Pending.result`
    waits for it. Sequentially (one thread, or inside a task) the task runs when its result is
    first asked for — the place where a sequential program would have computed it, if the
    caller asks at that place."""
    return Pending(task)
