"""The C allocator settings bsc-workbench runs with (glibc only; elsewhere nothing changes).

Scoring 1000× Seoul allocates and frees hundreds of numpy arrays of 5–150 MB on two threads.
With glibc's defaults every array over 32 MB is a fresh ``mmap`` (the kernel zeroes each page
on first touch and ``munmap`` shoots down the other core's TLB on free), and the second thread
allocates from its own arena, whose memory the first cannot reuse: about a fifth of
``evaluate``'s CPU time was system time (3–4 s of ≈ 16 s, `bench/NOTES-scale.md`). The settings
below keep freed memory in the process for the next array instead:

* one arena for every thread (``arena_max = 1``): both threads reuse the same freed blocks;
* no ``mmap`` for large blocks (``mmap_max = 0``): they come from the heap and go back to it;
* the heap's free top is returned to the system once it exceeds 64 MiB (``trim_threshold``;
  glibc's default is 128 KiB, which with the two settings above hands every freed array
  back at once).

Results do not change (only where the bytes live). The peak stays about where it was, because
blocks are reused rather than added: at 1000× it is 3.2 GB against 3.4 GB with integer-coded
text, and 3.9–4.0 GB against 3.94 GB with ``str`` text (bench/NOTES-scale.md, "sixth pass").

The settings apply to a process in one of two ways:

* :func:`tune` (called when :mod:`bsc_lib` is imported) sets them in the running process with
  ``mallopt`` — only while the process still has a single arena (no other thread has allocated
  yet), since a second arena that already exists would keep its own memory and, without
  ``mmap``, raise the peak instead of lowering it;
* :func:`child_env` gives them, as glibc's ``MALLOC_*`` environment variables, to the processes
  bsc-workbench starts (notebook kernels, the Voila server and its kernels), which apply them
  from their first allocation on.

Memory freed below a block still in use stays in the process (only the heap's top is trimmed):
:func:`release` gives it back (``malloc_trim``) where a process goes idle holding less than
its peak — the dashboard's kernels after building their page.

``BSC_ALLOCATOR=system`` leaves glibc's defaults everywhere (the settings are a speed choice,
never a result choice). A user who manages the allocator already — ``MALLOC_ARENA_MAX`` other
than 1, or ``glibc.malloc`` tunables in ``GLIBC_TUNABLES`` — is left alone the same way (more
than one arena without ``mmap`` would raise the peak); other ``MALLOC_*`` variables the user set
are kept.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: Environment variable: ``system`` keeps glibc's default allocator settings.
ALLOCATOR_ENV = "BSC_ALLOCATOR"

#: glibc's environment variables for the settings (read once, at process start).
ENV: dict[str, str] = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
}

# mallopt's parameter numbers (glibc <malloc.h>) for the variables of ENV
_MALLOPT = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_MAX_": -4, "MALLOC_TRIM_THRESHOLD_": -1}


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the settings are to be used: on glibc, unless ``BSC_ALLOCATOR=system`` or the
    environment manages the allocator itself (``MALLOC_ARENA_MAX`` other than 1, or
    ``glibc.malloc`` tunables in ``GLIBC_TUNABLES``)."""
    env = os.environ if environ is None else environ
    if env.get(ALLOCATOR_ENV, "").strip().lower() == "system":
        return False
    if env.get("MALLOC_ARENA_MAX", "1").strip() != "1" or "glibc.malloc." in env.get("GLIBC_TUNABLES", ""):
        return False
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) plus the settings of :data:`ENV` it does not set itself
    (nothing added when :func:`wanted` says no)."""
    env = dict(os.environ if base is None else base)
    if wanted(env):
        for name, value in ENV.items():
            env.setdefault(name, value)
    return env


@functools.cache
def _libc():
    """glibc through ctypes; None when ctypes or the library is not available."""
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except (ImportError, OSError):
        return None


def arenas(libc=None) -> int | None:
    """The number of glibc malloc arenas of this process (``malloc_info``), None when unknown."""
    try:
        import ctypes

        libc = libc or _libc()
        if libc is None:
            return None
        libc.open_memstream.restype = ctypes.c_void_p
        libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.free.argtypes = [ctypes.c_void_p]
        buf, size = ctypes.c_char_p(), ctypes.c_size_t()
        stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        if not stream:
            return None
        try:
            libc.malloc_info(0, stream)
        finally:
            libc.fclose(stream)
        text = ctypes.string_at(buf, size.value).decode("ascii", "replace")
        libc.free(ctypes.cast(buf, ctypes.c_void_p))
    except (ImportError, OSError, AttributeError):
        return None
    return text.count("<heap nr=")


@functools.cache
def tune() -> str:
    """Apply the settings to this process when possible; returns what was done.

    ``"set"``: applied with ``mallopt`` (those of :data:`ENV` not in the environment);
    ``"environment"``: the process started with all three variables set (by :func:`child_env`
    or by the user);
    ``"off"``: not wanted (see :func:`wanted`) or not possible (no ctypes); ``"too late"``:
    another thread already has its own arena (the process keeps glibc's defaults). Idempotent.
    """
    if not wanted():
        state = "off"
    elif all(k in os.environ for k in ENV):
        state = "environment"
    elif (libc := _libc()) is None:
        state = "off"
    elif arenas(libc) != 1:
        state = "too late"
    else:  # a variable the user set was applied by glibc at start and stays
        try:
            ok = all(libc.mallopt(_MALLOPT[k], int(v)) == 1 for k, v in ENV.items() if k not in os.environ)
        except AttributeError:  # pragma: no cover - a C library without mallopt
            ok = False
        state = "set" if ok else "too late"
    log.debug("allocator settings: %s", state)
    return state


def release() -> bool:
    """Give the memory this process has freed back to the system (glibc's ``malloc_trim``),
    when the settings are in force; True when memory was returned.

    For a process about to go idle holding much less than its peak (a dashboard kernel after
    building its page): with the settings, freed blocks below one still in use would otherwise
    stay resident. Costs a few milliseconds; the next large allocation faults its pages in again.
    """
    if tune() not in ("set", "environment"):
        return False
    libc = _libc()
    try:
        return bool(libc.malloc_trim(0)) if libc is not None else False
    except AttributeError:  # pragma: no cover - a C library without malloc_trim
        return False
