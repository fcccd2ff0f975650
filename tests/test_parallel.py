"""bsc_lib.parallel: results by position, errors in task order, sequential fallback."""

import _thread
import hashlib
import threading
import time

import pytest

from bsc_lib import parallel


def _slow(value, delay):
    def task():
        time.sleep(delay)
        return value
    return task


def _tracked(started: list, i, delay):
    """A task that notes its start in ``started``, then returns ``i`` after ``delay`` s."""
    def task():
        started.append(i)
        time.sleep(delay)
        return i
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

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        parallel.run_all([ctrl_c, *(_tracked(started, i, 0.05) for i in range(20))])
    assert time.perf_counter() - t0 < 0.5  # not after every task (20 × 0.05 s on each thread)
    time.sleep(0.2)
    assert len(started) < 20  # no new task taken after the interrupt


def test_workers_sets_the_threads_of_one_use(monkeypatch):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("BSC_READ_THREADS", raising=False)
    assert parallel.max_threads(4, "BSC_READ_THREADS") == 4  # capped per use, not by BSC_THREADS
    monkeypatch.setenv("BSC_READ_THREADS", "3")
    assert parallel.max_threads(4, "BSC_READ_THREADS") == 3
    monkeypatch.setenv("BSC_READ_THREADS", "9")  # a variable lowers, never raises
    assert parallel.max_threads(4, "BSC_READ_THREADS") == 4
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert parallel.max_threads(4, "BSC_READ_THREADS") == 1  # one CPU: sequential

    barrier = threading.Barrier(3, timeout=5)  # passes only when three tasks run at once

    def task():
        barrier.wait()
        return threading.get_ident()
    ids = parallel.run_all([task] * 3, workers=3)
    assert len(set(ids)) == 3
    assert set(parallel.run_all([lambda: threading.get_ident()] * 3, workers=1)) == {threading.get_ident()}


def test_the_reader_reads_largest_first_and_returns_file_order(tmp_path, monkeypatch):
    from bsc_lib.data.io import reader

    started = []
    real = reader._read_csv_file

    def spy(f, *args):
        started.append(f.name)
        return real(f, *args)
    monkeypatch.setattr(reader, "_read_csv_file", spy)
    monkeypatch.setenv("BSC_READ_THREADS", "1")
    (tmp_path / "departments.csv").write_text("department_id,department_name,institution_id\nD1,d,I1\n",
                                              encoding="utf-8")
    (tmp_path / "institutions.csv").write_text(
        "institution_id,institution_name\n" + "".join(f"I{i},i{i}\n" for i in range(50)), encoding="utf-8")
    raw = reader.read_raw(tmp_path)
    assert started == ["institutions.csv", "departments.csv"]  # the largest file first
    assert list(raw.hashes) == ["departments.csv", "institutions.csv"]  # results in file-name order
    # and each file's results are its own (not those of the file read in its place)
    for name in ("departments.csv", "institutions.csv"):
        assert raw.hashes[name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert len(raw.tables["departments"].cells) == 1 and len(raw.tables["institutions"].cells) == 50


def test_no_task_starts_after_one_has_failed():
    started = []

    def fail():
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        parallel.run_all([fail, *(_tracked(started, i, 0.02) for i in range(10))], workers=2)
    assert len(started) <= 1  # at most the one the other thread had taken before the failure


def test_one_cpu_count_for_threads_processes_and_notebooks(monkeypatch):
    """Threads, the feedback run's processes and the report's notebook pool all follow the CPUs
    this process may use (the affinity mask: a container limited to 1 CPU), not the machine's."""
    from bsc_lib.runs import executors, pipeline

    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delenv("BSC_THREADS", raising=False)
    assert parallel.usable_cpus() == 1
    assert parallel.max_threads() == 1
    assert executors.default_workers() == 1
    assert isinstance(executors.get_executor(), executors.SequentialExecutor)
    assert pipeline._notebook_workers(5) == 1
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert executors.default_workers() == 3 and parallel.max_threads() == 2
    assert pipeline._notebook_workers(5) == min(pipeline.NOTEBOOK_WORKERS, 3)
