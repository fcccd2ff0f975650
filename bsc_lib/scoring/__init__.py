"""Scores: one module per score component (``components``), the engine that assembles totals,
deductions, ranks and grades (``engine``), grade assignment (``grading``).

The public names of :mod:`bsc_lib.scoring.engine` are re-exported lazily (``from
bsc_lib.scoring import evaluate``), so importing a submodule does not import ``engine``, and
``engine`` can import the submodules without an import cycle.
"""

from __future__ import annotations

from importlib import import_module

_ENGINE_NAMES = (
    "HALF_CHOICES",
    "UNIT_COMPONENTS",
    "KPI_TABLE_COLUMNS",
    "EXPLAIN_BASE",
    "Results",
    "SCORED_TABLES",
    "PREPARED_COMPONENTS",
    "evaluate",
    "params_frame",
)


def __getattr__(name: str):
    if name in _ENGINE_NAMES:
        return getattr(import_module("bsc_lib.scoring.engine"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_ENGINE_NAMES})


__all__ = [*_ENGINE_NAMES]
