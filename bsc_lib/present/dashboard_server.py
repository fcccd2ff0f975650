"""Voila with bounded resources for the dashboard (``python -m bsc_lib.present.dashboard_server``).

:func:`bsc_lib.present.dashboard.serve` starts this module instead of plain ``python -m voila``.
It is Voila (same options, same template, same handlers) with four changes:

* **A cap on concurrent viewers** (``--max-viewers``, default :data:`DEFAULT_MAX_VIEWERS`). A
  viewer is a kernel handed to a page. Beyond the cap the page request gets a short, friendly
  "busy, try again" page (HTTP 503, ``Retry-After``, refreshes itself) and starts no kernel. A
  request at the cap while a viewer's kernel is being shut down (a page closed, e.g. by following
  a link in it) waits for that place instead (at most ``admit_wait_s``).
* **Kernels of disconnected pages are shut down.** Every kernel handed to a page is watched: when
  it has had no websocket connection for ``--grace`` seconds (default :data:`DEFAULT_GRACE_S`;
  checked every few seconds) it is shut down. This covers pages closed without the
  ``beforeunload`` shutdown (browser killed, network gone, a script that fetched the page and
  hung up). Websocket pings every :data:`WS_PING_INTERVAL_MS` ms close half-open connections.
  A page closed normally shuts its kernel down at once through Voila's ``beforeunload`` beacon,
  which sends the ``_xsrf`` cookie as its token: the page request sets that cookie (Voila's
  preheated page never did, so every such shutdown was refused with 403).
* **A preheated pool sized to the cap**, refilled one kernel at a time: the pool holds
  ``min(pool_size, cap - viewers)`` kernels that have already executed the notebook, so every
  viewer up to the cap gets a ready page; kernels warm one after the other (on a 2-core machine
  parallel warm-ups would only delay the first). At rest the server holds at most ``cap``
  kernels (pool + viewers), whatever the traffic.
* **A preheated page is sent once its kernel has opened the link's view.** Voila hands a
  preheated kernel its request (query string) only when a page takes it, over the
  ``/voila/query/<kernel>`` websocket; the kernel applies it and answers :data:`QUERY_APPLIED`
  there (:func:`bsc_lib.present.dashboard._follow_request`). The page waits for that answer (at
  most :attr:`BoundedPoolMixin.query_wait_s`), so the browser loads the widgets' state with the
  view already set instead of racing the kernel. The socket's handler also forgets only its own
  connection when it closes (Voila's forgets whichever kernel it met last).

``GET /bsc-status`` answers ``{"max_viewers", "viewers", "claims", "pool", "pool_ready",
"kernels"}`` as JSON without starting anything (for health checks, tests and the benchmark).
Events (viewer admitted, kernel shut down, busy page) go to the server log with the prefix
``[bsc-dashboard]``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_MAX_VIEWERS = 8
DEFAULT_GRACE_S = 30.0
#: Websocket keep-alive: a ping every 5 s, a connection without pong for 15 s is closed.
WS_PING_INTERVAL_MS = 5_000
WS_PING_TIMEOUT_MS = 15_000
STATUS_PATH = "/bsc-status"
#: What a preheated dashboard kernel sends on Voila's request-info socket once the page's query
#: string is applied (the server then sends the page).
QUERY_APPLIED = "bsc-query-applied"
LOG_PREFIX = "[bsc-dashboard]"
#: The busy page when no ``--busy-page`` file is given (``bsc dashboard`` writes the catalogue's).
FALLBACK_BUSY = ('<!doctype html><html lang="ko"><head><meta charset="utf-8"><meta http-equiv="refresh" content="20">'
                 "<title>Busy</title></head><body><h1>지금은 이용자가 많습니다 / The dashboard is busy</h1>"
                 "<p>잠시 뒤 다시 시도하세요. / Please try again in a moment.</p></body></html>")
RETRY_S = 20

log = logging.getLogger(__name__)


@dataclass
class _Claim:
    """A page request admitted under the cap, until its kernel is registered as a viewer."""

    t: float = field(default_factory=time.monotonic)
    kernel_id: str | None = None


@dataclass
class _Viewer:
    since: float | None  # monotonic time since when the kernel has had no connection (None: connected)
    started: float = field(default_factory=time.monotonic)


_CLAIM: contextvars.ContextVar[_Claim | None] = contextvars.ContextVar("bsc_dashboard_claim", default=None)


class BoundedPoolMixin:
    """Cap, disconnect reaper and a sequential pool on top of Voila's ``VoilaKernelManager``.

    Placed before ``VoilaKernelManager`` in the MRO (see :func:`bounded_kernel_manager_factory`).
    Class attributes are set by :func:`main` before the server starts.
    """

    max_viewers: int = DEFAULT_MAX_VIEWERS
    grace_s: float = DEFAULT_GRACE_S
    check_s: float = 5.0
    busy_page: str = FALLBACK_BUSY
    #: Seconds a preheated page waits for its kernel to apply the query string (then it is sent anyway).
    query_wait_s: float = 30.0
    #: Seconds a page request at the cap waits while viewers' kernels are being shut down (a viewer
    #: who follows a link closes one page as the next is requested) before it gets the busy page.
    admit_wait_s: float = 10.0

    def __init__(self, **kwargs):
        self._viewers: dict[str, _Viewer] = {}
        self._claims: set[int] = set()
        self._claim_objs: dict[int, _Claim] = {}
        self._popping = 0
        self._closing: set[str] = set()  # viewers' kernels being shut down: still hold their place
        self._stopping = False
        self._warm_lock: asyncio.Lock | None = None
        self._conns: dict[str, int] = {}
        self._applied: dict[str, asyncio.Event] = {}
        super().__init__(**kwargs)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        self._reaper_task = loop.create_task(self._reaper())

    # ------------------------------------------------------------------ admission
    def try_claim(self) -> _Claim | None:
        """Admit a page request when ``viewers + pending requests < max_viewers`` (else ``None``)."""
        if len(self._viewers) + len(self._closing) + len(self._claims) >= self.max_viewers:
            return None
        c = _Claim()
        self._claims.add(id(c))
        self._claim_objs[id(c)] = c
        return c

    async def claim_soon(self) -> _Claim | None:
        """:meth:`try_claim`, waiting up to :attr:`admit_wait_s` while a viewer's kernel is being
        shut down (its place is about to be free); ``None`` when the cap is still reached."""
        deadline = time.monotonic() + self.admit_wait_s
        claim = self.try_claim()
        while claim is None and self._closing and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            claim = self.try_claim()
        return claim

    def release_claim(self, claim: _Claim) -> None:
        self._claims.discard(id(claim))
        self._claim_objs.pop(id(claim), None)

    def status(self) -> dict:
        pools = getattr(self, "_pools", {})
        pool = [f for p in pools.values() for f in p]
        ready = sum(1 for f in pool if f.done() and not f.cancelled() and f.exception() is None)
        return {"max_viewers": self.max_viewers, "viewers": len(self._viewers), "closing": len(self._closing),
                "claims": len(self._claims),
                "pool": len(pool), "pool_ready": ready, "kernels": len(self.list_kernel_ids()),
                "grace_s": self.grace_s}

    def _add_viewer(self, kernel_id: str) -> None:
        self._viewers[kernel_id] = _Viewer(since=None if self._conns.get(kernel_id, 0) else time.monotonic())
        claim = _CLAIM.get()
        if claim is not None:
            claim.kernel_id = kernel_id
            self.release_claim(claim)
        log.info("%s viewer admitted: kernel %s (%d of %d)", LOG_PREFIX, kernel_id, len(self._viewers),
                 self.max_viewers)

    # ------------------------------------------------------------------ pool
    def _pool_target(self) -> int:
        cfg = self.kernel_pools_config.get("default", {})
        size = int(cfg.get("pool_size", 1))
        return max(0, min(size, self.max_viewers - len(self._viewers) - len(self._closing) - self._popping))

    def fill_if_needed(self, delay=None, notebook_name=None, extra_kernel_env_variables=None, **kwargs) -> None:
        """Start kernels until the pool holds ``min(pool_size, cap - viewers)``."""
        if self._stopping:
            return
        name = notebook_name if notebook_name is not None else getattr(self, "notebook_path", None)
        target = self._pool_target()
        pool = self._pools.setdefault(name, []) if hasattr(self, "_pools") else []
        if len(pool) >= target:
            return
        cfg = dict(self.kernel_pools_config)
        default = dict(cfg.get("default", {}))
        size = int(default.get("pool_size", 1))
        default["pool_size"] = target
        cfg["default"] = default
        if name in cfg:
            cfg[name] = {**cfg[name], "pool_size": target}
        saved = self.kernel_pools_config
        self.kernel_pools_config = cfg
        try:
            super().fill_if_needed(delay=delay, notebook_name=name,
                                   extra_kernel_env_variables=extra_kernel_env_variables or {}, **kwargs)
        finally:
            self.kernel_pools_config = saved
        log.debug("pool target %d (pool_size %d, viewers %d)", target, size, len(self._viewers))

    async def _initialize(self, notebook_path: str, kernel_id: str | None = None, **kwargs):
        """Warm pool kernels one at a time: start, execute the notebook, then the next."""
        if kernel_id is not None:  # a restart of a known kernel
            return await super()._initialize(notebook_path, kernel_id, **kwargs)
        if self._warm_lock is None:
            self._warm_lock = asyncio.Lock()
        async with self._warm_lock:
            if self._stopping:
                raise RuntimeError("server stopping")
            content = await super()._initialize(notebook_path, None, **kwargs)
            try:
                await asyncio.shield(content["task"])
            except Exception:  # noqa: BLE001 - the page shows the error; the pool item stays usable
                log.exception("%s warming kernel %s failed", LOG_PREFIX, content.get("kernel_id"))
            return content

    async def get_rendered_notebook(self, notebook_name: str, extra_kernel_env_variables: dict | None = None,
                                    **kwargs):
        self._popping += 1
        try:
            result = await super().get_rendered_notebook(notebook_name, extra_kernel_env_variables or {}, **kwargs)
        finally:
            self._popping -= 1
        render_task, rendered_cache, kernel_id = result
        self._add_viewer(kernel_id)
        applied = self._applied[kernel_id] = asyncio.Event()
        # nothing is sent before the kernel has applied the request (Voila sends the request right
        # after this returns, then yields ``rendered_cache`` and awaits ``render_task``)
        return asyncio.ensure_future(self._hold_page(render_task, kernel_id, applied)), [], kernel_id

    async def _hold_page(self, render_task, kernel_id: str, applied: asyncio.Event):
        """``render_task``'s result, once the kernel has applied its page's query string."""
        try:
            rendered, rendering = await render_task
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(applied.wait(), self.query_wait_s)
                log.info("%s kernel %s applied its page's query string (page held %.2f s)", LOG_PREFIX, kernel_id,
                         time.monotonic() - t0)
            except TimeoutError:
                log.warning("%s kernel %s did not apply its page's query string within %g s: page sent without it",
                            LOG_PREFIX, kernel_id, self.query_wait_s)
            return rendered, rendering
        finally:
            self._applied.pop(kernel_id, None)

    def query_applied(self, kernel_id: str) -> None:
        """The kernel ``kernel_id`` has applied its page's query string (see :data:`QUERY_APPLIED`)."""
        ev = self._applied.get(kernel_id)
        if ev is not None:
            ev.set()

    async def start_kernel(self, *args, **kwargs):
        """A kernel started for a page directly (pool empty): a viewer too."""
        kid = await super().start_kernel(*args, **kwargs)
        self._add_viewer(kid)
        return kid

    # ------------------------------------------------------------------ connections and shutdown
    def notify_connect(self, kernel_id):
        self._conns[kernel_id] = self._conns.get(kernel_id, 0) + 1
        v = self._viewers.get(kernel_id)
        if v is not None:
            v.since = None
        return super().notify_connect(kernel_id)

    def notify_disconnect(self, kernel_id):
        n = max(0, self._conns.get(kernel_id, 0) - 1)
        self._conns[kernel_id] = n
        v = self._viewers.get(kernel_id)
        if v is not None and n == 0:
            v.since = time.monotonic()
        return super().notify_disconnect(kernel_id)

    async def shutdown_kernel(self, kernel_id: str, *args, **kwargs):
        was_viewer = self._viewers.pop(kernel_id, None) is not None
        if was_viewer:
            self._closing.add(kernel_id)
        self._conns.pop(kernel_id, None)
        try:
            return await super().shutdown_kernel(kernel_id, *args, **kwargs)
        finally:
            self._closing.discard(kernel_id)
            if was_viewer and not self._stopping:
                self.fill_if_needed(notebook_name=getattr(self, "notebook_path", None))

    async def shutdown_all(self, *args, **kwargs):
        self._stopping = True
        self._reaper_task.cancel()
        return await super().shutdown_all(*args, **kwargs)

    async def _reaper(self) -> None:
        """Shut down viewers' kernels without a connection for ``grace_s``; forget dead ones."""
        while not self._stopping:
            await asyncio.sleep(self.check_s)
            now = time.monotonic()
            known = set(self.list_kernel_ids())
            for kid, v in list(self._viewers.items()):
                if kid not in known:
                    self._viewers.pop(kid, None)
                    self.fill_if_needed(notebook_name=getattr(self, "notebook_path", None))
                    continue
                if self._conns.get(kid, 0) > 0:
                    v.since = None
                elif v.since is None:
                    v.since = now
                elif now - v.since >= self.grace_s:
                    log.info("%s page disconnected for %.0f s: shutting down kernel %s", LOG_PREFIX,
                             now - v.since, kid)
                    try:
                        await self.shutdown_kernel(kid)
                    except Exception:  # noqa: BLE001 - keep reaping the others
                        log.exception("%s shutting down kernel %s failed", LOG_PREFIX, kid)
            for cid, c in list(self._claim_objs.items()):  # a request that never got a kernel
                if now - c.t > 600:
                    self.release_claim(c)
                    self._claims.discard(cid)


def bounded_kernel_manager_factory(original):
    """Wrap Voila's ``voila_kernel_manager_factory`` so its class gets :class:`BoundedPoolMixin`."""

    def factory(base_class, preheat_kernel, default_pool_size, page_config_hook=None):
        cls = original(base_class, preheat_kernel, default_pool_size, page_config_hook=page_config_hook)
        if not preheat_kernel:
            return cls
        return type("BoundedVoilaKernelManager", (BoundedPoolMixin, cls), {})

    return factory


@functools.cache
def query_handler_class():
    """Voila's request-info socket handler (``/voila/query/<kernel>``) with two changes.

    It takes the kernel's :data:`QUERY_APPLIED` answer (the page it holds is then sent), and a
    closing connection forgets only itself: Voila's ``on_close`` deletes the last kernel it
    iterated over when the closing connection is no longer registered (a kernel that connected
    again), which would leave another kernel's page without its request.
    """
    from voila.request_info_handler import RequestInfoSocketHandler

    class QueryHandler(RequestInfoSocketHandler):
        def open(self, kernel_id: str) -> None:
            self._bsc_kernel = kernel_id
            super().open(kernel_id)

        def on_message(self, message) -> None:
            km = self.settings.get("kernel_manager")
            if message == QUERY_APPLIED and hasattr(km, "query_applied"):
                km.query_applied(self._bsc_kernel)

        def on_close(self) -> None:
            waiters = RequestInfoSocketHandler._waiters
            kid = getattr(self, "_bsc_kernel", None)
            if waiters.get(kid) is self:
                del waiters[kid]

    return QueryHandler


def _make_app_class():
    import tornado.web
    import voila.app as vapp
    from voila.request_info_handler import RequestInfoSocketHandler
    from voila.tornado.handler import TornadoVoilaHandler

    QueryHandler = query_handler_class()

    class BoundedVoilaHandler(TornadoVoilaHandler):
        """The page: admitted under the cap, else the busy page (no kernel started)."""

        @tornado.web.authenticated
        async def get(self, path=None):
            km = self.kernel_manager
            if path or not hasattr(km, "try_claim"):
                return await super().get(path)
            claim = await km.claim_soon()
            if claim is None:
                log.info("%s busy page served (%d viewers, cap %d)", LOG_PREFIX, len(km._viewers), km.max_viewers)
                self.set_status(503)
                self.set_header("Retry-After", str(RETRY_S))
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.set_header("Cache-Control", "no-cache, no-store, must-revalidate")
                self.finish(km.busy_page)
                return None
            # the page's shutdown-on-close beacon sends the `_xsrf` cookie as its form token; the
            # preheated page never asks for the token, so without this the cookie is never set and
            # every close is refused (403): the kernel would hold its viewer's place for `grace`
            self.xsrf_token  # noqa: B018 - the property sets the cookie
            token = _CLAIM.set(claim)
            try:
                return await super().get(path)
            finally:
                _CLAIM.reset(token)
                km.release_claim(claim)

    class StatusHandler(tornado.web.RequestHandler):
        def get(self):
            km = self.settings["kernel_manager"]
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            st = km.status() if hasattr(km, "status") else {"kernels": len(km.list_kernel_ids())}
            self.finish(json.dumps(st))

    class BoundedVoila(vapp.Voila):
        def init_settings(self):
            original = vapp.voila_kernel_manager_factory
            vapp.voila_kernel_manager_factory = bounded_kernel_manager_factory(original)
            try:
                return super().init_settings()
            finally:
                vapp.voila_kernel_manager_factory = original

        def init_handlers(self):
            out = []
            for h in super().init_handlers():
                if len(h) >= 2 and h[1] is TornadoVoilaHandler:
                    h = (h[0], BoundedVoilaHandler, *h[2:])
                elif len(h) >= 2 and h[1] is RequestInfoSocketHandler:
                    h = (h[0], QueryHandler, *h[2:])
                out.append(h)
            return [(STATUS_PATH, StatusHandler), *out]

        def start(self):
            self.tornado_settings = {**self.tornado_settings, "ws_ping_interval": WS_PING_INTERVAL_MS,
                                     "ws_ping_timeout": WS_PING_TIMEOUT_MS}
            return super().start()

    return BoundedVoila


def split_args(argv: Sequence[str]) -> tuple[int, float, str | None, list[str]]:
    """``--max-viewers N``, ``--grace S`` and ``--busy-page FILE`` out of ``argv``; the rest goes to Voila.

    Raises
    ------
    ValueError
        For a cap below 1 or a negative grace.
    """
    cap, grace, busy, rest = DEFAULT_MAX_VIEWERS, DEFAULT_GRACE_S, None, []
    it = iter(argv)
    for a in it:
        if a.startswith("--max-viewers"):
            cap = int(a.split("=", 1)[1] if "=" in a else next(it))
        elif a.startswith("--grace"):
            grace = float(a.split("=", 1)[1] if "=" in a else next(it))
        elif a.startswith("--busy-page"):
            busy = a.split("=", 1)[1] if "=" in a else next(it)
        else:
            rest.append(a)
    if cap < 1:
        raise ValueError(f"--max-viewers must be at least 1; got {cap}")
    if grace < 0:
        raise ValueError(f"--grace must not be negative; got {grace}")
    return cap, grace, busy, rest


def main(argv: Sequence[str] | None = None) -> None:
    """Run Voila with the bounded kernel manager (arguments: see :func:`split_args`, then Voila's)."""
    from pathlib import Path

    cap, grace, busy, rest = split_args(list(sys.argv[1:] if argv is None else argv))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    BoundedPoolMixin.max_viewers = cap
    BoundedPoolMixin.grace_s = grace
    BoundedPoolMixin.check_s = max(0.5, min(5.0, grace / 4.0))
    if busy:
        BoundedPoolMixin.busy_page = Path(busy).read_text(encoding="utf-8")
    if not any(a.startswith(("--pool_size", "--VoilaConfiguration.default_pool_size")) for a in rest):
        rest.append(f"--pool_size={cap}")
    _make_app_class().launch_instance(argv=rest)


if __name__ == "__main__":
    main()
