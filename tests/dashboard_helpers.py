"""Shared helpers of the dashboard tests: ``bsc dashboard`` in a subprocess, Chromium, the process tree.

Used by ``test_dashboard.py`` (the page) and ``test_dashboard_server.py`` (cap, reaper, load).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from bsc_lib.present import dashboard as db

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT = 150  # s: server up and the preheated kernel executed, on a busy 2-core machine
UI_TIMEOUT = 60_000  # ms
#: An HTTP proxy that answers nothing, as the server's environment of the page tests: the
#: dashboard's own loopback traffic must not go through a proxy (government networks set one).
DEAD_PROXY = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                                 "all_proxy", "ALL_PROXY")}



def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Loopback requests of the tests: never through a proxy of the environment.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> tuple[int, str]:
    try:
        with _LOCAL.open(url, timeout=30) as r:  # loopback only
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


class Server:
    """``bsc dashboard`` in a subprocess (own session, so the whole tree can be stopped)."""

    def __init__(self, tmp: Path, *extra: str, max_viewers: int = 2, env: dict[str, str] | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp / f"server-{self.port}.log"
        self._fh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bsc_lib.cli", "dashboard", "--port", str(self.port),
             "--max-viewers", str(max_viewers), *extra],
            cwd=str(ROOT), stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})})

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dashboard server exited ({self.proc.returncode}):\n{self.text()}")
            log = self.log.read_bytes()
            if b"dashboard: http://127.0.0.1" in log and db.READY_MARK.encode() in log:
                return  # listening, and the preheated kernel has built the page
            time.sleep(0.5)
        pytest.fail(f"dashboard server not ready within {START_TIMEOUT} s:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # serve() stops Voila and its kernels
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the session this test created
                    self.proc.wait(timeout=10)
        finally:
            self._fh.close()




def chromium_browser():
    """Debian's Chromium through Playwright (a generator for a module's ``browser`` fixture)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: run `make system-deps` (browser tests need Chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - fail with the reason, never skip
            pytest.fail(f"Chromium could not start: {exc}")
        try:
            yield b
        finally:
            b.close()




def _open(browser, url: str):
    """A 1920×1080 page where every request not to the loopback server is blocked and recorded."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="ko-KR")
    page = context.new_page()
    page.blocked = []

    def route(r):
        u = r.request.url
        if u.startswith(("http://127.0.0.1:", "http://localhost:", "ws://127.0.0.1:", "data:", "blob:")):
            r.continue_()
        else:
            page.blocked.append(u)
            r.abort()

    page.route("**/*", route)
    return page




def close_page(pg) -> None:
    """Close ``pg`` as a viewer closes the tab (``beforeunload`` runs: Voila's shutdown beacon),
    then its browser context, once the page is gone (closing the context at once can drop the
    beacon, and the kernel would hold its viewer's place until the server's grace)."""
    with pg.expect_event("close", timeout=UI_TIMEOUT):
        pg.close(run_before_unload=True)
    pg.context.close()


def set_whatif_slider(page, cls: str, v: int, attr: str, key: str, scale: float = 1.0) -> None:
    """Type ``v`` into the what-if slider ``.cls`` and wait until the page's state holds
    ``key=v*scale`` in its ``data-<attr>`` list."""
    page.locator(f".{cls} .widget-readout").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(v))
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.querySelector('.bsc-whatif-state').dataset.{attr}.split(',').includes('{key}={v * scale:g}')",
        timeout=UI_TIMEOUT)


def status(server) -> dict:
    """The server's ``/bsc-status`` (viewers, claims, pool, kernels)."""
    with _LOCAL.open(server.url + "bsc-status", timeout=30) as r:  # loopback only
        return json.loads(r.read())


def wait_status(server, predicate, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    st = status(server)
    while not predicate(st):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s (status {st}):\n{server.text()}")
        time.sleep(0.25)
        st = status(server)
    return st


def kernel_processes(server) -> list[psutil.Process]:
    """The live kernels of the server: Voila's direct children running ``ipykernel_launcher``.

    Direct children only: a kernel's own short-lived forks carry the same command line.
    """
    out = []
    try:
        kids = psutil.Process(server.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return out
    voila = [p for p in kids if _cmd(p).find("dashboard_server") >= 0]
    for v in voila:
        try:
            children = v.children()
        except psutil.NoSuchProcess:
            continue
        for p in children:
            try:
                if p.status() != psutil.STATUS_ZOMBIE and "ipykernel_launcher" in _cmd(p):
                    out.append(p)
            except psutil.NoSuchProcess:
                continue
    return out


def _cmd(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


def tree_listing(server) -> str:
    """``pid rss command`` of every process of the server (for messages)."""
    try:
        root = psutil.Process(server.proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return ""
    rows = []
    for p in procs:
        try:
            rows.append(f"{p.pid} {p.memory_info().rss / 2**20:.0f} MB {_cmd(p)[:90]}")
        except psutil.NoSuchProcess:
            continue
    return "\n".join(rows)


def tree_rss(server) -> tuple[int, int]:
    """``(bytes of the server processes without kernels, bytes of the kernels)`` (RSS)."""
    base = kern = 0
    try:
        root = psutil.Process(server.proc.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    for p in procs:
        try:
            rss = p.memory_info().rss
            if "ipykernel_launcher" in " ".join(p.cmdline()):
                kern += rss
            else:
                base += rss
        except psutil.NoSuchProcess:
            continue
    return base, kern
