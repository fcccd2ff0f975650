"""bsc_lib.allocator: the C allocator settings, applied in-process only when safe, passed to the
processes bsc-workbench starts, and never changing a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bsc_lib import allocator

REPO = Path(__file__).resolve().parent.parent

glibc = pytest.mark.skipif(not allocator.wanted({}), reason="glibc (Linux) only")


def _run(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (its last stdout line is JSON) and return that JSON."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != allocator.ALLOCATOR_ENV}
    base.update(env)
    base["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=base, cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# mmapped bytes (mallinfo2().hblkhd) added by allocating a 64 MB numpy array: 0 when large blocks come
# from the heap (mmap_max = 0), about 64 MB with glibc's defaults
_PROBE = """
import ctypes, json, threading
class MI(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6"); libc.mallinfo2.restype = MI
def mapped_in_thread():
    import numpy as np
    box = {}
    def work():
        before = libc.mallinfo2().hblkhd
        a = np.ones(8 << 20)  # 64 MB, allocated by a second thread like scoring's helper
        box["mapped"] = libc.mallinfo2().hblkhd - before
        del a
    t = threading.Thread(target=work); t.start(); t.join()
    return box["mapped"]
"""


@glibc
def test_importing_bsc_lib_first_applies_the_settings_and_threads_share_one_arena():
    res = _run(_PROBE + """
import bsc_lib
from bsc_lib import allocator
print(json.dumps({"state": allocator.tune(), "mapped": mapped_in_thread(), "arenas": allocator.arenas()}))
""")
    assert res["state"] == "set"
    assert res["mapped"] == 0  # the 64 MB block came from the heap
    assert res["arenas"] == 1  # the second thread allocated from the main arena


@glibc
def test_a_thread_that_allocated_before_the_import_leaves_glibc_defaults():
    # a second arena already exists: without mmap its memory could not be shared, so nothing is set
    res = _run(_PROBE + """
t = threading.Thread(target=lambda: [bytearray(64) for _ in range(100)]); t.start(); t.join()
import bsc_lib
from bsc_lib import allocator
print(json.dumps({"state": allocator.tune(), "mapped": mapped_in_thread()}))
""")
    assert res["state"] == "too late"
    assert res["mapped"] >= 64 << 20


@glibc
def test_bsc_allocator_system_keeps_glibc_defaults():
    res = _run(_PROBE + """
import bsc_lib
from bsc_lib import allocator
print(json.dumps({"state": allocator.tune(), "mapped": mapped_in_thread()}))
""", BSC_ALLOCATOR="system")
    assert res == {"state": "off", "mapped": res["mapped"]} and res["mapped"] >= 64 << 20


@glibc
def test_a_process_started_with_child_env_has_the_settings_from_its_start():
    env = {k: v for k, v in allocator.child_env({}).items()}
    assert env == allocator.ENV
    res = _run(_PROBE + """
t = threading.Thread(target=lambda: [bytearray(64) for _ in range(100)]); t.start(); t.join()
import bsc_lib
from bsc_lib import allocator
print(json.dumps({"state": allocator.tune(), "mapped": mapped_in_thread(), "arenas": allocator.arenas()}))
""", **env)
    assert res == {"state": "environment", "mapped": 0, "arenas": 1}


def test_child_env_keeps_what_the_user_set_and_adds_nothing_when_switched_off():
    user = {"MALLOC_TRIM_THRESHOLD_": "1048576", "PATH": "/bin"}
    env = allocator.child_env(user)
    assert user == {"MALLOC_TRIM_THRESHOLD_": "1048576", "PATH": "/bin"}  # the input is not modified
    if allocator.wanted({}):
        assert env == {**allocator.ENV, **user}  # the user's own value kept, the others added
    off = {allocator.ALLOCATOR_ENV: "system", "PATH": "/bin"}
    assert allocator.child_env(off) == off


def test_the_dashboard_process_gets_the_settings():
    from bsc_lib.present import dashboard as db

    env = db.dashboard_env("data/sample/2019", None, False, "/tmp/jp", base={"PATH": "/bin"})
    for name, value in (allocator.ENV.items() if allocator.wanted({}) else ()):
        assert env[name] == value


@glibc
def test_the_report_kernels_start_with_the_settings(monkeypatch):
    import asyncio

    from bsc_lib.runs import pipeline

    for name in (allocator.ALLOCATOR_ENV, "GLIBC_TUNABLES", *allocator.ENV):
        monkeypatch.delenv(name, raising=False)

    async def kernel_environ() -> dict:
        km = pipeline._quiet_kernel_manager()(kernel_name="python3")
        await km.start_kernel()
        try:
            raw = Path(f"/proc/{km.provisioner.process.pid}/environ").read_bytes()
        finally:
            await km.shutdown_kernel(now=True)
        return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)

    env = asyncio.run(kernel_environ())
    assert {k: env.get(k) for k in allocator.ENV} == allocator.ENV


@glibc
def test_scores_are_the_same_with_and_without_the_settings():
    code = """
from bsc_lib import allocator, evaluate, load, load_scheme
import hashlib, json
import pandas as pd
data = load("data/sample/2019")
res = evaluate(data, load_scheme("params/scheme-2019.yaml"), year=2019)
h = {n: hashlib.sha256(pd.util.hash_pandas_object(getattr(res, n), index=True).values.tobytes()).hexdigest()
     for n in ("institutional", "individual", "departments", "components", "kpi", "flags", "details")}
print(json.dumps({"state": allocator.tune(), "h": h}))
"""
    tuned, system = _run(code), _run(code, BSC_ALLOCATOR="system")
    assert (tuned["state"], system["state"]) == ("set", "off")
    assert tuned["h"] == system["h"]


def test_an_environment_that_manages_the_allocator_is_left_alone():
    # several arenas without mmap would raise the peak: nothing is added, nothing is set
    for env in ({"MALLOC_ARENA_MAX": "2"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}):
        assert not allocator.wanted(env)
        assert allocator.child_env(env) == env
    assert allocator.child_env({"MALLOC_ARENA_MAX": "1"}) == (allocator.ENV if allocator.wanted({}) else
                                                              {"MALLOC_ARENA_MAX": "1"})


@glibc
def test_a_process_with_its_own_arena_limit_keeps_it():
    res = _run(_PROBE + """
import bsc_lib
from bsc_lib import allocator
print(json.dumps({"state": allocator.tune(), "mapped": mapped_in_thread()}))
""", MALLOC_ARENA_MAX="2")
    assert res["state"] == "off" and res["mapped"] >= 64 << 20


@glibc
def test_release_gives_freed_memory_below_a_live_block_back():
    # eight 32 MB blocks freed below a small block still in use stay resident (only the heap's
    # top is trimmed) until release()
    res = _run("""
import json, re
import bsc_lib
from bsc_lib import allocator
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
big = [bytearray(32 << 20) for _ in range(8)]
for b in big:
    b[::4096] = b"x" * len(b[::4096])  # touch every page
keep = bytearray(1 << 16)  # allocated after them: the heap's top is in use
before = rss()
del big
kept = rss()
released = allocator.release()
print(json.dumps({"state": allocator.tune(), "before": before, "kept": kept, "after": rss(), "released": released}))
""")
    assert res["state"] == "set"
    assert res["kept"] > res["before"] - (64 << 20)  # freed but still resident
    assert res["released"] and res["after"] < res["kept"] - (200 << 20)
