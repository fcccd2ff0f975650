"""Analysis settings (``params/analysis.yaml``): strict loading like the scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bsc_lib.errors import Problem, SchemeError

M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DifficultyParams(_Strict):
    easy_margin: float = Field(ge=0, le=1)
    hard_margin: float = Field(ge=0, le=5)
    min_history: int = Field(ge=2, le=50)
    target_half: Literal["H1", "H2"]
    bunching_lower: float = Field(gt=0)
    bunching_upper: float = Field(gt=0)


class DispersionParams(_Strict):
    decimals: int = Field(ge=0, le=12)


class ReliabilityParams(_Strict):
    leniency_threshold: float = Field(ge=0)


class RobustnessParams(_Strict):
    seed: int
    n_draws: int = Field(ge=10, le=1_000_000)
    concentration: float = Field(gt=0)
    caps: list[float] = Field(min_length=1)
    bootstrap: int = Field(ge=2, le=100_000)
    sobol_base: int = Field(ge=16, le=1_000_000)


class SummaryParams(_Strict):
    close_call_margin: float = Field(default=0.1, ge=0)
    near_tie_tolerance: float = Field(default=0.01, ge=0, le=100)
    weak_ratio: float = Field(default=0.5, ge=0)
    top_n: int = Field(default=3, ge=1, le=20)


class ReportParams(_Strict):
    classification_ko: str = "대외비"
    classification_en: str = "Confidential"


class InputParams(_Strict):
    """How the input files are read (the same in every command that reads the data)."""

    #: read Excel's ``#N/A`` (a lookup that found nothing) as a missing value instead of the
    #: problem ``formula error``; other formula errors (``#REF!``, ``#DIV/0!`` …) are always problems
    na_as_missing: bool = False


class AnalysisParams(_Strict):
    """Validated analysis settings (``summary``, ``report`` and ``input`` may be left out: defaults apply)."""

    difficulty: DifficultyParams
    dispersion: DispersionParams
    reliability: ReliabilityParams
    robustness: RobustnessParams
    summary: SummaryParams = SummaryParams()
    report: ReportParams = ReportParams()
    input: InputParams = InputParams()


def default_analysis_path() -> Path:
    """``params/analysis.yaml`` (see :func:`bsc_lib.config.paths.resource_dir`)."""
    from bsc_lib.config.paths import default_analysis_path as _default

    return _default()


def load_analysis_params(path: str | Path | None = None) -> AnalysisParams:
    """Load and validate analysis settings; raises :class:`SchemeError` listing every problem."""
    return load_settings_file(Path(path) if path is not None else default_analysis_path(), AnalysisParams,
                              "analysis settings")


def load_settings_file(p: Path, model: type[M], what: str) -> M:
    """Read the YAML file ``p`` and validate it as ``model`` (unknown and missing keys are errors).

    Raises :class:`SchemeError` listing every problem, each naming the file, the key path
    (``column``) and the rule (``exists``, ``unknown key``, ``missing key`` or pydantic's type).
    """
    from bsc_lib.config.scheme import _safe_yaml

    if not p.is_file():
        raise SchemeError([Problem(file=str(p), rule="exists", message=f"{what} file not found")])
    data = _safe_yaml(p.read_text(encoding="utf-8-sig"), str(p))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        probs = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            kind = {"extra_forbidden": "unknown key", "missing": "missing key"}.get(e["type"], e["type"])
            probs.append(Problem(file=str(p), column=loc, rule=kind, message=f"{loc}: {e['msg']}"))
        raise SchemeError(probs) from None
