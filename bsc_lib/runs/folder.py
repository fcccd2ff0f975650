"""Run folders: the mechanics shared by ``bsc report`` and ``bsc feedback``.

A run is written into ``.tmp-<name>-…`` and renamed to its final name only when complete
(:func:`rename_unique`), or to ``<name>-FAILED`` with a manifest saying why. This module holds
what both runs need for that: UTC times, the run key, input hashing, portable paths in the
manifest, the recorded package versions and git state, atomic JSON writes, stop-signal handling (Ctrl-C, SIGTERM)
and error-text cleaning. :mod:`bsc_lib.runs.pipeline` and :mod:`bsc_lib.present.feedback` use it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import platform
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bsc_lib.config.paths import REPO_ROOT, in_checkout, resolve
from bsc_lib.errors import BSCError, Problem

#: Package versions recorded in the manifest.
log = logging.getLogger(__name__)

RECORDED_PACKAGES = ("pandas", "numpy", "scipy", "plotly", "papermill", "nbconvert", "nbformat",
                     "openpyxl", "xlsxwriter", "pydantic", "bsc-workbench")

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def qualname(fn: Callable) -> str:
    """``module:qualified.name`` of a callable (recorded in manifests)."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def utcnow() -> datetime:
    """The current time, UTC (run names and manifest times are UTC)."""
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    """ISO 8601 with seconds and ``Z`` (``2019-02-01T09:00:00Z``)."""
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def portable(path: Path) -> str:
    """Path relative to the repository root when inside a checkout (portable), else absolute."""
    try:
        if in_checkout():
            return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        pass
    return str(path.resolve())


def from_manifest_path(text: str) -> Path:
    """The path a manifest records (relative in a checkout) as an absolute path."""
    p = Path(text)
    if p.is_absolute():
        return p
    return REPO_ROOT / p if in_checkout() else resolve(p)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_key(input_hashes: Mapping[str, str], scheme_sha: str, params: Mapping) -> str:
    """Eight hex digits identifying the inputs, scheme and parameters of a run (its folder name)."""
    blob = json.dumps({"inputs": dict(sorted(input_hashes.items())), "scheme": scheme_sha,
                       "params": params}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def package_versions() -> dict[str, str | None]:
    """Versions of Python and of :data:`RECORDED_PACKAGES` (``None`` when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_state(root: Path | None = None) -> dict[str, object]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository (read-only git calls).

    ``root`` defaults to the repository of this checkout; for an installed package (no
    checkout) both values are ``None`` without asking git.
    """
    if root is None:
        if not in_checkout():
            return {"commit": None, "dirty": None}
        root = REPO_ROOT

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args],
                               capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit.strip() if commit else None,
            "dirty": None if status is None else bool(status.strip())}


def umask() -> int:
    """The process umask (run folders get the permissions a plain ``mkdir`` would)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, obj: Mapping) -> None:
    """Write ``obj`` as UTF-8 JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def rename_unique(src: Path, dst: Path) -> Path:
    """``os.rename`` to ``dst``, or ``dst-2``, ``dst-3`` … when taken; returns the final path."""
    for i in range(1, 1000):
        cand = dst if i == 1 else dst.with_name(f"{dst.name}-{i}")
        if cand.exists():
            continue
        try:
            os.rename(src, cand)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        return cand
    raise OSError(f"no free run folder name next to {dst}")


#: The signals that stop a run: Ctrl-C (SIGINT) and ``kill PID`` (SIGTERM).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """What :func:`stop_signals_as_interrupt` saw: ``received`` is the first stop signal's number."""

    received: int | None = None

    def raise_if_received(self) -> None:
        """Raise ``KeyboardInterrupt`` when a stop signal arrived (its first ``KeyboardInterrupt``
        may have been swallowed, e.g. raised inside a finaliser, where Python only prints it)."""
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {self.received}")


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[StopSignals]:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main thread for the block, whatever
    the signals' disposition was when the process started, so that cleanup runs.

    Why SIGINT too: Python raises ``KeyboardInterrupt`` on SIGINT only when the process started
    with SIGINT at its default. A shell without job control (a script, ``make test &``, CI, a
    scheduler) starts every background command with SIGINT *ignored*; Python then keeps it
    ignored, its child processes inherit that, and a Ctrl-C / ``kill -INT`` sent to ``bsc report``
    was silently lost — the run went on to complete. Here the handler is installed explicitly.

    Each signal is also recorded in the yielded :class:`StopSignals` (checked between steps, in
    case the ``KeyboardInterrupt`` is raised where Python cannot propagate it). Handlers are
    restored on exit. Off the main thread (where Python cannot install handlers) nothing changes.
    """
    seen = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handler(signum, frame):
        if seen.received is None:
            seen.received = signum
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield seen
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def clean_text(text: object, limit: int = 2000) -> str:
    """Error text for a manifest or message: ANSI colour codes removed, at most ``limit`` characters."""
    s = _ANSI_RE.sub("", str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def mark_failed(tmp: Path, final_name: Path, manifest: dict, error: Mapping, *, manifest_name: str = "manifest.json",
                what: str = "run") -> Path | None:
    """Record ``error`` in the manifest (status ``failed``) and rename ``tmp`` to ``<final_name>-FAILED``.

    Best effort: a failure while marking is logged and ``None`` returned, so it never masks the
    original error. ``error`` is the manifest's ``error`` entry (``type``, ``ename``, ``evalue`` …).
    """
    try:
        manifest["status"] = "failed"
        manifest["finished_at"] = iso(utcnow())
        manifest["error"] = dict(error)
        write_json(tmp / manifest_name, manifest)
        failed = rename_unique(tmp, final_name.with_name(f"{final_name.name}-FAILED"))
        log.error("%s failed: %s (%s)", what, failed, error.get("ename"))
        return failed
    except BaseException as inner:  # noqa: BLE001 - never mask the original error
        log.error("could not mark the failed %s %s: %s", what, tmp, inner)
        return None


def error_entry(exc: BaseException) -> dict:
    """The manifest's ``error`` entry of an interrupt or an unexpected exception."""
    if isinstance(exc, KeyboardInterrupt):
        return {"type": "interrupted", "ename": "KeyboardInterrupt", "evalue": clean_text(exc)}
    return {"type": "exception", "ename": type(exc).__name__, "evalue": clean_text(exc)}


class OutputError(BSCError):
    """The run folder cannot be created or written (read-only, not a folder, disk full …)."""


def new_run_folder(year_dir: Path, run_name: str, out) -> Path:
    """The private ``.tmp-<run_name>-<pid>-…`` folder a run is built in, inside ``year_dir``
    (created); renamed to its final name when the run completes (:func:`rename_unique`).

    Raises :class:`OutputError` naming the folder when it cannot be created (``out`` is the
    output folder the analyst chose, shown as the value).
    """
    try:
        year_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{run_name}-{os.getpid()}-", dir=year_dir))
    except OSError as exc:
        raise OutputError([Problem(
            file=str(year_dir), rule="output folder", value=str(out),
            message=(f"cannot create the run folder in {year_dir}: {exc.strerror or exc}; "
                     "choose an output folder you can write to (--out)"))]) from None
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes it private; a run folder is a normal folder
    return tmp
