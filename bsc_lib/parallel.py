"""Run independent pieces of work on the machine's cores: the one thread helper of bsc-workbench.

The loader reads the files of a CSV folder with it (pandas' C parser tokenizes without the
GIL), and scoring and the analyses overlap their independent parts with it (pandas and numpy
release the GIL in their hashing, sorting, take and group-by kernels). The results are
collected by position, never by completion order, so what a caller assembles from them is the
same as running the tasks one after the other.

Rules that keep this safe:

* The tasks must not depend on each other nor write to shared state other than their own
  result (the components pop distinct entries of the shared codes dict: a single dict operation
  on distinct keys).
* The calling thread runs tasks itself; ``workers − 1`` helper threads (daemons) run the
  others. A Ctrl-C (``KeyboardInterrupt`` in the calling thread) stops the helpers from starting
  another task and propagates at once; a helper's current task may finish in the background but
  never delays the interpreter's exit.
* An exception is re-raised from the first failing task in task order (the one a sequential run
  would have raised), after every started task has ended; no task is started after one has
  failed (every earlier task was already taken: tasks are taken in order).
* Work started from inside a task runs sequentially (no nested thread fan-out).
* How many threads: :func:`max_threads` — the CPUs this process may use (:func:`usable_cpus`), at most a cap per use
  (scoring 2, reading files 4), lowered by an environment variable (``BSC_THREADS``,
  ``BSC_READ_THREADS``; ``1`` makes that use sequential).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

_local = threading.local()


#: Environment variable lowering the number of threads scoring and the analyses use.
THREADS_ENV = "BSC_THREADS"


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (a container's or ``taskset``'s
    limit), else ``os.cpu_count()``; at least 1. The one CPU count of bsc-workbench: thread
    counts (:func:`max_threads`), the feedback run's worker processes and the report's notebook
    pool all start from it."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def max_threads(cap: int = 2, env: str = THREADS_ENV) -> int:
    """``min(cap, CPUs this process may use)``, lowered by the environment variable ``env``.

    Parameters
    ----------
    cap
        Most threads for this use (scoring: 2, the default; reading a CSV folder: 4).
    env
        Name of the environment variable that may lower it (a positive integer; ``1`` =
        sequential). Other values are ignored.
    """
    n = max(1, min(cap, usable_cpus()))
    value = os.environ.get(env, "").strip()
    if value.isdigit() and int(value) >= 1:
        n = min(n, int(value))
    return n


def run_all(tasks: Sequence[Callable[[], Any]], workers: int | None = None) -> list[Any]:
    """Results of ``tasks`` (zero-argument callables), in task order.

    Tasks are taken in order by whichever thread is free: the calling thread and
    ``workers − 1`` helpers (``workers`` defaults to :func:`max_threads`, and is never more
    than the number of tasks). See the module docstring for the rules.
    """
    tasks = list(tasks)
    n = max_threads() if workers is None else workers
    n = min(n, len(tasks))
    if n < 2 or getattr(_local, "inside", False):
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
                    with lock:  # as a sequential run: no task after a failed one is started
                        state["stop"] = True
        finally:
            _local.inside = False

    # the helpers keep whatever their task raises; the calling thread lets a KeyboardInterrupt
    # (or SystemExit) through at once
    helpers = [threading.Thread(target=lane, args=(BaseException,), name="bsc-worker", daemon=True)
               for _ in range(n - 1)]
    for h in helpers:
        h.start()
    try:
        lane(Exception)
        for h in helpers:
            h.join()  # interruptible by a signal on POSIX
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
            self._thread = threading.Thread(target=self._run, name="bsc-worker", daemon=True)
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
