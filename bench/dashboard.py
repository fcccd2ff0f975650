"""Dashboard figure: ``bsc dashboard`` (Voila, bounded preheated pool) measured in headless Chromium.

``task_dashboard`` starts the real server on a free loopback port with its default cap of
concurrent viewers (``--max-viewers``, 8), waits until the preheated pool holds one warm kernel
per place (``GET /bsc-status``: ``pool_ready == max_viewers``), then opens ``warmup + reps``
viewers **one after the other while the earlier ones stay open** (each in a fresh browser
context, no cache) — the situation of a room where several people open the link:

* **first render**: ``page.goto`` until the overview's ranking board and ranking table are in
  the DOM (the same selectors the browser tests wait for). Viewer 1 is the first viewer;
  viewers 2, 3, … are the "second and later viewers" (target ≤ 3 s each: the maximum counts);
* **what-if latency**: on the 가정 분석 tab of every viewer, typing a new achievement weight into
  the slider's readout and pressing Enter, until the what-if table carries the new weights
  (``.bsc-whatif-state[data-points]``); two changes per page (40, then 30).

Every request that is not to the loopback server is blocked and counted (it must stay 0).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 180
UI_TIMEOUT_MS = 60_000
WHATIF_VALUES = (40, 30)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_log(log: Path, proc: subprocess.Popen, ready_mark: str, n_ready: int, timeout: float) -> None:
    """Wait until the server is listening and ``n_ready`` kernels have built the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
        text = log.read_text(encoding="utf-8", errors="replace")
        if "dashboard: http://127.0.0.1" in text and text.count(ready_mark) >= n_ready:
            return
        time.sleep(0.05)
    raise TimeoutError(f"no preheated kernel #{n_ready} within {timeout:g} s")


def _status(url: str) -> dict:
    import json
    import urllib.request

    local = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with local.open(url + "bsc-status", timeout=30) as r:
        return json.loads(r.read())


def _wait_pool(url: str, proc: subprocess.Popen, timeout: float) -> dict:
    """Wait until every place of the cap has a warm preheated kernel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard server exited ({proc.returncode})")
        try:
            st = _status(url)
            if st["pool_ready"] >= st["max_viewers"]:
                return st
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"preheated pool not full within {timeout:g} s")


def task_dashboard(reps: int = 5, workdir: str | None = None, warmup: int = 1) -> dict:
    """First render of the first and of later viewers, and what-if latency (see the module docstring)."""
    if not Path(CHROMIUM).is_file():
        return {"available": False, "why": f"{CHROMIUM} not installed (make system-deps)"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"available": False, "why": f"playwright not importable: {exc}"}
    from bsc_lib.present.dashboard import DEFAULT_MAX_VIEWERS, READY_MARK

    n_pages = min(warmup + reps, DEFAULT_MAX_VIEWERS)
    work = Path(workdir or ".")
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = work / "server.log"
    fh = open(log, "wb")  # noqa: SIM115 - closed below
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bsc_lib.cli", "dashboard", "--port", str(port)], cwd=str(REPO),
                            stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    first, whatif, blocked, notes = [], [], 0, []
    try:
        _wait_for_log(log, proc, READY_MARK, 1, START_TIMEOUT_S)
        server_start = time.perf_counter() - t_start
        st = _wait_pool(url, proc, START_TIMEOUT_S * 2)
        pool_full = time.perf_counter() - t_start
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = []
            try:
                for _ in range(n_pages):  # earlier viewers stay connected
                    page, f, w, b = _one_page(browser, url)
                    pages.append(page)
                    blocked += b
                    first.append(f)
                    whatif.extend(w)
            finally:
                for page in pages:
                    with page.expect_event("close"):  # the page gone before its context: Voila's
                        page.close(run_before_unload=True)  # beacon shuts the kernel down
                    page.context.close()
                browser.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        fh.close()
    if blocked:
        notes.append(f"{blocked} request(s) to other hosts were blocked (expected 0)")
    notes.append(f"cap {st['max_viewers']} viewers, preheated pool of {st['pool_ready']} kernels full "
                 f"{pool_full:.1f} s after launch; {n_pages} viewers opened one after the other, earlier "
                 f"ones kept open, each in a new browser context; what-if values "
                 f"{', '.join(map(str, WHATIF_VALUES))} per page")
    return {"available": True, "server_start_s": server_start, "pool_full_s": pool_full,
            "first_render_s": first[:1], "later_render_s": first[1:], "whatif_s": whatif,
            "blocked_requests": blocked, "notes": notes}


def _one_page(browser, url: str):
    """Open a viewer; returns ``(page, first render s, what-if latencies, blocked requests)`` (page left open)."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="ko-KR")
    page = context.new_page()
    blocked: list[str] = []

    def route(r):
        u = r.request.url
        if u.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(u)
            r.abort()

    page.route("**/*", route)
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
    page.wait_for_selector(".bsc-board .rb-row", timeout=UI_TIMEOUT_MS)
    page.wait_for_selector(".bsc-ranking-table", timeout=UI_TIMEOUT_MS)
    first = time.perf_counter() - t0
    page.locator(".bsc-tabs .lm-TabBar-tab", has_text="가정 분석").first.click()
    page.wait_for_selector(".bsc-whatif-table", timeout=UI_TIMEOUT_MS)
    lat = []
    for v in WHATIF_VALUES:
        page.locator(".bsc-w-achievement .widget-readout").click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(v))
        t0 = time.perf_counter()
        page.keyboard.press("Enter")
        page.wait_for_function(
            f"document.querySelector('.bsc-whatif-state').dataset.points.includes('achievement={v}')",
            timeout=UI_TIMEOUT_MS)
        lat.append(time.perf_counter() - t0)
    return page, first, lat, len(blocked)
