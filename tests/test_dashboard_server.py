"""Bounded resources of the served dashboard (bsc_lib.present.dashboard_server).

One server with a cap of 2 viewers and a grace of 4 s (so the test takes well under a minute of
its own; the defaults are 8 viewers and 30 s). In Chromium two pages open and stay connected, a
third gets the busy page; connected pages keep their kernels past the grace; then both pages are
dropped without their ``beforeunload`` shutdown, and 100 page loads hang up abruptly (TCP reset
after the first bytes, or after half a second when the page is not coming yet) while the kernel processes are counted: never more than the cap, every
abandoned kernel shut down within 60 s (here: the grace plus the reaper's period), and the
server's memory afterwards under base + cap × kernel.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from types import SimpleNamespace

import pytest
from dashboard_helpers import (
    UI_TIMEOUT,
    Server,
    _open,
    chromium_browser,
    kernel_processes,
    status,
    tree_listing,
    tree_rss,
    wait_status,
)

from bsc_lib.present import dashboard as db
from bsc_lib.present import dashboard_server as ds

CAP = 2
GRACE = 4.0
LOADS = 100
MB = 1024 * 1024


def test_split_args_takes_the_cap_and_grace_and_passes_the_rest():
    cap, grace, busy, rest = ds.split_args(["nb.ipynb", "--max-viewers=3", "--grace", "12", "--busy-page=b.html",
                                            "--port=1"])
    assert (cap, grace, busy, rest) == (3, 12.0, "b.html", ["nb.ipynb", "--port=1"])
    assert ds.split_args([])[:3] == (ds.DEFAULT_MAX_VIEWERS, ds.DEFAULT_GRACE_S, None)
    with pytest.raises(ValueError, match="max-viewers"):
        ds.split_args(["--max-viewers=0"])
    with pytest.raises(ValueError, match="grace"):
        ds.split_args(["--grace=-1"])


def test_busy_page_is_bilingual_and_retries():
    page = db.busy_html(8, retry_s=20)
    assert "이용자가 많습니다" in page and "busy" in page and "8" in page
    assert 'http-equiv="refresh" content="20"' in page and "http" not in page.replace("http-equiv", "")


def test_cli_rejects_a_zero_cap(capsys):
    from bsc_lib.cli import main

    with pytest.raises(SystemExit):
        main(["dashboard", "--max-viewers", "0"])
    assert "at least 1" in capsys.readouterr().err


def _abrupt_load(port: int) -> str:
    """GET / and hang up with a TCP reset after the first bytes or half a second (no beforeunload)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        s.settimeout(0.5)
        try:
            head = s.recv(64)
        except TimeoutError:
            head = b""  # the page is still coming (a kernel warming): the viewer gives up
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()
    parts = head.split(b" ")
    return parts[1].decode() if len(parts) > 1 else "gave up"


@pytest.mark.browser
class _RenderedBase:
    """Voila's kernel manager as far as the page is concerned: a rendered notebook per kernel."""

    PAGE = ["<head>", "<cell>", "<footer>"]

    def __init__(self, **kwargs):
        self.n = 0

    async def get_rendered_notebook(self, notebook_name, extra_kernel_env_variables=None, **kwargs):
        self.n += 1

        async def rendered():
            return list(self.PAGE), None

        return asyncio.ensure_future(rendered()), list(self.PAGE), f"k{self.n}"

    def list_kernel_ids(self):
        return []


class _HeldKM(ds.BoundedPoolMixin, _RenderedBase):
    pass


def test_a_preheated_page_is_held_until_its_kernel_has_applied_the_query(caplog):
    """The page of a preheated kernel is sent only when the kernel answered QUERY_APPLIED (so the
    browser never loads the widgets before the link's view is set), whole; a kernel that does
    not answer gets its page after query_wait_s, with a warning."""

    async def scenario():
        km = _HeldKM()
        try:
            task, cache, kid = await km.get_rendered_notebook("90-dashboard.ipynb")
            assert cache == [] and kid == "k1"  # Voila yields nothing before awaiting the task
            await asyncio.sleep(0.3)
            assert not task.done()
            km.query_applied("k2")  # another kernel's answer does not release this page
            await asyncio.sleep(0.1)
            assert not task.done()
            km.query_applied("k1")
            rendered, _ = await asyncio.wait_for(task, 5)
            assert rendered == _RenderedBase.PAGE
            km.query_wait_s = 0.2
            task, _, kid = await km.get_rendered_notebook("90-dashboard.ipynb")
            t0 = time.monotonic()
            rendered, _ = await asyncio.wait_for(task, 5)
            assert rendered == _RenderedBase.PAGE and time.monotonic() - t0 >= 0.19
            assert km._applied == {} and set(km._viewers) == {"k1", "k2"}
        finally:
            km._stopping = True
            km._reaper_task.cancel()

    with caplog.at_level("INFO", logger=ds.log.name):
        asyncio.run(scenario())
    assert "k1 applied its page's query string" in caplog.text
    assert "k2 did not apply its page's query string within 0.2 s" in caplog.text


def test_a_page_at_the_cap_waits_for_a_place_being_freed_not_for_a_full_server():
    """At the cap, a request waits (up to admit_wait_s) while a viewer's kernel is being shut
    down and is then admitted; with no kernel closing it gets None (the busy page) at once."""

    async def scenario():
        km = _HeldKM()
        try:
            km.max_viewers = 1
            km._viewers["k0"] = ds._Viewer(since=None)
            t0 = time.monotonic()
            assert await km.claim_soon() is None and time.monotonic() - t0 < 0.05
            del km._viewers["k0"]
            km._closing.add("k0")  # a page was closed: its kernel is shutting down

            async def shut_down():
                await asyncio.sleep(0.4)
                km._closing.discard("k0")

            closing = asyncio.ensure_future(shut_down())
            t0 = time.monotonic()
            claim = await km.claim_soon()
            assert claim is not None and 0.35 <= time.monotonic() - t0 < km.admit_wait_s
            await closing
            km.release_claim(claim)
            km._closing.add("k9")  # a shutdown that does not end in time
            km.admit_wait_s = 0.3
            t0 = time.monotonic()
            assert await km.claim_soon() is None and time.monotonic() - t0 >= 0.3
        finally:
            km._stopping = True
            km._reaper_task.cancel()

    asyncio.run(scenario())


def test_the_request_socket_takes_the_answer_and_forgets_only_its_own_connection(monkeypatch):
    """QUERY_APPLIED on the socket reaches the kernel manager; a closing connection that is no
    longer registered (its kernel connected again) leaves every registered one alone (Voila's own
    handler deletes the last kernel it iterated over)."""
    from voila.request_info_handler import RequestInfoSocketHandler

    handler = ds.query_handler_class()
    told = []
    km = SimpleNamespace(query_applied=told.append)

    def conn(kid):
        h = object.__new__(handler)
        h._bsc_kernel = kid
        h.application = SimpleNamespace(settings={"kernel_manager": km})
        return h

    a, b, stale = conn("k1"), conn("k2"), conn("k1")
    monkeypatch.setattr(RequestInfoSocketHandler, "_waiters", {"k1": a, "k2": b})
    stale.on_close()
    assert RequestInfoSocketHandler._waiters == {"k1": a, "k2": b}
    a.on_close()
    assert RequestInfoSocketHandler._waiters == {"k2": b}
    b.on_message("something else")
    b.on_message(ds.QUERY_APPLIED)
    assert told == ["k2"]


def test_cap_reaper_and_memory_under_100_abrupt_loads(tmp_path, record_property):
    srv = Server(tmp_path, "--grace", str(GRACE), max_viewers=CAP)
    browser_gen = chromium_browser()
    browser = next(browser_gen)
    try:
        srv.wait_ready()
        st = wait_status(srv, lambda s: s["pool_ready"] == CAP, 120, "pool of CAP preheated kernels")
        assert st["kernels"] == CAP and st["viewers"] == 0
        base0, kern0 = tree_rss(srv)
        print("\nbefore:\n" + tree_listing(srv))
        per_kernel = max(p.memory_info().rss for p in kernel_processes(srv))
        record_property("base_mb", round(base0 / MB))
        record_property("kernel_mb", round(per_kernel / MB))

        # two viewers, both on preheated kernels; the third is told the dashboard is busy
        pages, renders = [], []
        for _ in range(CAP):
            pg = _open(browser, srv.url)
            t0 = time.perf_counter()
            pg.goto(srv.url, wait_until="domcontentloaded", timeout=UI_TIMEOUT)
            pg.wait_for_selector(".bsc-ranking-table", timeout=UI_TIMEOUT)
            renders.append(time.perf_counter() - t0)
            pages.append(pg)
        record_property("second_viewer_first_render_s", round(renders[1], 2))
        print(f"\nfirst render of viewers 1..{CAP}: " + ", ".join(f"{r:.2f} s" for r in renders))
        busy = _open(browser, srv.url)
        resp = busy.goto(srv.url, wait_until="domcontentloaded", timeout=UI_TIMEOUT)
        assert resp.status == 503
        assert "이용자가 많습니다" in busy.content() and "The dashboard is busy" in busy.content()
        busy.screenshot(path=str(tmp_path / "busy.png"))
        busy.context.close()
        assert status(srv)["viewers"] == CAP and len(kernel_processes(srv)) == CAP

        # connected pages keep their kernels past the grace
        time.sleep(GRACE + 2 * ds.BoundedPoolMixin.check_s + 1)
        assert status(srv)["viewers"] == CAP
        for pg in pages:  # dropped: no beforeunload, the websocket just goes away
            assert pg.blocked == []
            pg.context.close()

        # 100 page loads that hang up at once, while kernel processes are counted
        peak, stop = [0], threading.Event()

        def count():
            while not stop.is_set():
                peak[0] = max(peak[0], len(kernel_processes(srv)))
                time.sleep(0.05)

        counter = threading.Thread(target=count, daemon=True)
        counter.start()
        codes: dict[str, int] = {}
        t0 = time.perf_counter()
        try:
            for _ in range(LOADS):
                code = _abrupt_load(srv.port)
                codes[code] = codes.get(code, 0) + 1
                time.sleep(0.1)
        finally:
            loads_s = time.perf_counter() - t0
            t_last = time.monotonic()
        print(f"{LOADS} abrupt loads in {loads_s:.1f} s: {codes}")
        assert set(codes) <= {"200", "503", "gave up"} and sum(codes.values()) == LOADS
        assert codes.get("503", 0) > 0, "loads beyond the cap get the busy page"

        # every abandoned kernel is shut down within 60 s of its page going away
        wait_status(srv, lambda s: s["viewers"] == 0 and s["claims"] == 0, 60, "abandoned kernels shut down")
        reaped_s = time.monotonic() - t_last
        st = wait_status(srv, lambda s: s["pool_ready"] == CAP, 120, "pool refilled")
        stop.set()
        counter.join(timeout=5)
        assert peak[0] <= CAP, f"{peak[0]} kernels at once with a cap of {CAP}"
        assert st["kernels"] == CAP
        base1, kern1 = tree_rss(srv)
        print("after:\n" + tree_listing(srv))
        limit = base0 + CAP * per_kernel
        print(f"reaped {reaped_s:.1f} s after the last load; memory before {(base0 + kern0) / MB:.0f} MB "
              f"(server {base0 / MB:.0f} MB + kernels {kern0 / MB:.0f} MB), after {(base1 + kern1) / MB:.0f} MB; "
              f"limit base + cap × kernel = {limit / MB:.0f} MB (+ 5 %)")
        record_property("memory_after_mb", round((base1 + kern1) / MB))
        record_property("reaped_s", round(reaped_s, 1))
        assert base1 + kern1 <= limit * 1.05
        assert "shutting down kernel" in srv.text() or "Kernel shutdown" in srv.text()
    finally:
        try:
            next(browser_gen, None)
        finally:
            srv.stop()
