"""Settings of the scheme comparison and the target recommendation (``params/planning.yaml``).

Loaded strictly like :mod:`bsc_lib.config.analysis_params`: unknown or missing keys and values out
of range are reported together, each with its key path, as a :class:`bsc_lib.errors.SchemeError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompareParams(_Strict):
    decimals: int = Field(ge=0, le=9)


class TargetParams(_Strict):
    actual_half: Literal["H1", "H2"]
    min_history: int = Field(ge=3, le=50)
    interval_level: float = Field(gt=0, lt=1)
    challenge_percentile: float = Field(gt=0, lt=1)
    break_level: float = Field(gt=0, lt=1)


class BacktestParams(_Strict):
    naive_growth: float = Field(ge=-0.5, le=1.0)


class PlanningParams(_Strict):
    """Validated settings of ``bsc compare`` and ``bsc targets``."""

    compare: CompareParams
    targets: TargetParams
    backtest: BacktestParams


def default_planning_path() -> Path:
    """The shipped planning settings, ``params/planning.yaml`` (checkout or packaged copy)."""
    from bsc_lib.config.paths import params_dir

    return params_dir() / "planning.yaml"


def load_planning_params(path: str | Path | None = None) -> PlanningParams:
    """Load and validate the planning settings; raises :class:`SchemeError` listing every problem."""
    from bsc_lib.config.analysis_params import load_settings_file

    return load_settings_file(Path(path) if path is not None else default_planning_path(), PlanningParams,
                              "planning settings")
