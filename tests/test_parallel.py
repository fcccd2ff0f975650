"""bsc_lib.scoring.parallel: results by position, errors in task order, sequential fallback."""

import _thread
import threading
import time

import pytest

from bsc_lib.scoring import parallel


def _slow(value, delay):
    def task():
        time.sleep(delay)
        return value
    return task


def test_results_come_in_task_order_whatever_finishes_first():
    tasks = [_slow(i, 0.02 * (5 - i)) for i in range(6)]
    assert parallel.run_all(tasks) == list(range(6))


def test_the_first_failing_task_in_order_is_raised():
    def fail(msg, delay):
        def task():
            time.sleep(delay)
            raise ValueError(msg)
        return task
    with pytest.raises(ValueError, match="first"):
        parallel.run_all([_slow(0, 0.0), fail("first", 0.05), fail("second", 0.0)])


def test_at_most_two_threads_and_no_nesting():
    seen: set = set()
    lock = threading.Lock()

    def task():
        with lock:
            seen.add(threading.get_ident())
        inner = parallel.run_all([lambda: threading.get_ident(), lambda: threading.get_ident()])
        assert set(inner) == {threading.get_ident()}  # work started inside a task stays on its thread
        time.sleep(0.01)
        return 1

    assert parallel.run_all([task] * 8) == [1] * 8
    assert len(seen) <= 2


def test_one_thread_when_asked(monkeypatch):
    monkeypatch.setenv("BSC_THREADS", "1")
    assert parallel.max_threads() == 1
    ids = parallel.run_all([lambda: threading.get_ident()] * 4)
    assert set(ids) == {threading.get_ident()}
    calls = []
    pending = parallel.background(lambda: calls.append(1) or 7)
    assert calls == []  # sequentially the task runs where its result is asked for
    assert pending.result() == 7 and pending.result() == 7 and calls == [1]


def test_background_result_and_error():
    assert parallel.background(_slow("x", 0.01)).result() == "x"

    def boom():
        raise KeyError("k")
    with pytest.raises(KeyError):
        parallel.background(boom).result()


def test_ctrl_c_in_the_calling_thread_propagates_and_stops_the_helper():
    started = []

    def ctrl_c():  # what a SIGINT does: KeyboardInterrupt in the main thread, wherever it is
        _thread.interrupt_main()
        time.sleep(0.05)
        return "c"

    def tracked(i):
        def task():
            started.append(i)
            time.sleep(0.05)
            return i
        return task

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        parallel.run_all([ctrl_c, *(tracked(i) for i in range(20))])
    assert time.perf_counter() - t0 < 0.5  # not after every task (20 × 0.05 s on each thread)
    time.sleep(0.2)
    assert len(started) < 20  # no new task taken after the interrupt
