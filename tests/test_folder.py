"""Run folders (bsc_lib.runs.folder): unique final names, atomic JSON, portable paths, error text."""

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from bsc_lib.runs import folder


def test_final_names_never_collide(tmp_path):

    taken = tmp_path / "20190101T000000-abcdef12"
    taken.mkdir()
    (taken / "manifest.json").write_text("{}", encoding="utf-8")
    names = []
    for i in range(2):
        src = tmp_path / f".tmp-{i}"
        src.mkdir()
        (src / "f").write_text(str(i), encoding="utf-8")
        names.append(folder.rename_unique(src, taken).name)
    assert names == ["20190101T000000-abcdef12-2", "20190101T000000-abcdef12-3"]
    assert (taken / "manifest.json").read_text(encoding="utf-8") == "{}"  # untouched


def test_write_json_is_atomic_and_utf8(tmp_path: Path):
    target = tmp_path / "manifest.json"
    folder.write_json(target, {"기관": "서울", "n": 1})
    assert json.loads(target.read_text(encoding="utf-8")) == {"기관": "서울", "n": 1}
    assert not list(tmp_path.glob("*.part"))


def test_clean_text_strips_ansi_and_limits_length():
    assert folder.clean_text("\x1b[31mred\x1b[0m error") == "red error"
    assert folder.clean_text("x" * 50, limit=10) == "x" * 9 + "…"


def test_run_key_depends_on_inputs_scheme_and_params():
    a = folder.run_key({"kpis.csv": "ab"}, "s1", {"year": 2019})
    assert a == folder.run_key({"kpis.csv": "ab"}, "s1", {"year": 2019}) and len(a) == 8
    assert len({a, folder.run_key({"kpis.csv": "ac"}, "s1", {"year": 2019}),
                folder.run_key({"kpis.csv": "ab"}, "s2", {"year": 2019}),
                folder.run_key({"kpis.csv": "ab"}, "s1", {"year": 2020})}) == 4


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers can only be installed from the main thread")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signals_interrupt_even_when_started_ignored(sig):
    # a shell without job control starts background commands with SIGINT ignored: the run's
    # handler must still turn it into KeyboardInterrupt, and put the disposition back afterwards
    before = {s: signal.signal(s, signal.SIG_IGN) for s in folder.STOP_SIGNALS}
    try:
        with pytest.raises(KeyboardInterrupt, match=f"signal {int(sig)}"):
            with folder.stop_signals_as_interrupt() as stop:
                os.kill(os.getpid(), sig)
                for _ in range(1000):  # the handler runs at the next bytecode boundaries
                    pass
                raise AssertionError("the signal was lost")
        assert stop.received == sig
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in folder.STOP_SIGNALS)  # restored
    finally:
        for s, old in before.items():
            signal.signal(s, old)


def test_a_swallowed_interrupt_is_still_seen():
    stop = folder.StopSignals()
    stop.raise_if_received()  # nothing received: nothing raised
    stop.received = signal.SIGINT  # what the handler records before raising
    with pytest.raises(KeyboardInterrupt, match="signal 2"):
        stop.raise_if_received()

