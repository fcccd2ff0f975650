"""bsc-workbench: load, validate, score and analyse a Seoul-style BSC performance evaluation.

Public API (stable names): :func:`load`, :func:`validate`, :func:`load_scheme`,
:func:`evaluate`, and the classes :class:`BSCData`, :class:`Scheme`, :class:`Results`.
The data flows one way: load → validate → score → analyse → present.
"""

from __future__ import annotations

import logging
from importlib import import_module

from bsc_lib import allocator
from bsc_lib.config.scheme import Scheme, load_scheme
from bsc_lib.errors import BSCError, DataError, Problem, SchemeError

__version__ = "0.1.0"
logging.getLogger(__name__).addHandler(logging.NullHandler())
allocator.tune()  # before scoring starts a second thread (see bsc_lib.allocator)

_LAZY = {
    "load": ("bsc_lib.data.io", "load"),
    "BSCData": ("bsc_lib.data.io", "BSCData"),
    "validate": ("bsc_lib.data.validate", "validate"),
    "evaluate": ("bsc_lib.scoring.engine", "evaluate"),
    "Results": ("bsc_lib.scoring.engine", "Results"),
}


def __getattr__(name: str):
    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(import_module(mod), attr)
    raise AttributeError(f"module 'bsc_lib' has no attribute {name!r}")


__all__ = [
    "BSCError", "DataError", "Problem", "SchemeError", "Scheme", "load_scheme",
    *_LAZY,
]
