"""Hand-built BSCData fixtures for the scoring tests (no file I/O, no sample needed).

``table(name, rows)`` builds one canonical table from dicts (columns not given are missing);
``make_data(**tables)`` fills every other table with :func:`bsc_lib.data.model.empty_table`;
``mini_data(scheme, seed)`` is a small but complete world (4 institutions, 4 departments, 6
people) whose ratings follow the scheme's items and scales, so it runs under any scheme.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bsc_lib.config.scheme import Scheme, load_scheme
from bsc_lib.data.model import TABLES, BSCData, empty_table, pandas_dtype

ROOT = Path(__file__).resolve().parent.parent
SCHEME_2019 = ROOT / "params" / "scheme-2019.yaml"
SCHEME_2020 = ROOT / "params" / "scheme-example-2020.yaml"


@lru_cache(maxsize=1)
def scheme_2019() -> Scheme:
    """The shipped 2019 scheme (schemes are frozen, so caching is safe)."""
    return load_scheme(SCHEME_2019)


@lru_cache(maxsize=1)
def scheme_2020() -> Scheme:
    """The documented example scheme."""
    return load_scheme(SCHEME_2020)


def with_knobs(scheme: Scheme, section: str, **knobs) -> Scheme:
    """A copy of ``scheme`` with ``components.<section>`` (or a top-level section) changed."""
    if section in type(scheme.components).model_fields:
        sub = getattr(scheme.components, section).model_copy(update=knobs)
        return scheme.model_copy(update={"components": scheme.components.model_copy(update={section: sub})})
    sub = getattr(scheme, section).model_copy(update=knobs)
    return scheme.model_copy(update={section: sub})


def table(name: str, rows: list[dict]) -> pd.DataFrame:
    """A canonical table from row dicts (missing columns → missing values)."""
    t = TABLES[name]
    if not rows:
        return empty_table(name)
    df = pd.DataFrame(rows)
    out = {}
    for c in t.columns:
        s = df[c.name] if c.name in df.columns else pd.Series([None] * len(df))
        dt = pandas_dtype(c)
        if c.dtype == "str":
            out[c.name] = s.astype("str").where(s.notna(), pd.NA) if s.notna().any() else pd.Series(
                [pd.NA] * len(df), dtype="str")
        elif c.dtype == "float":
            out[c.name] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            out[c.name] = s.astype(dt)
    return pd.DataFrame(out)


def make_data(**tables) -> BSCData:
    """BSCData with the given tables (DataFrames or row lists); the others empty."""
    out = {}
    for name in TABLES:
        v = tables.get(name)
        if v is None:
            out[name] = empty_table(name)
        elif isinstance(v, pd.DataFrame):
            out[name] = v
        else:
            out[name] = table(name, v)
    return BSCData(tables=out, source="fixture")


INSTITUTIONS = [
    {"institution_id": "I1", "name_ko": "기획조정실", "name_en": "Planning", "inst_type": "main_office"},
    {"institution_id": "I2", "name_ko": "복지정책실", "name_en": "Welfare", "inst_type": "main_office"},
    {"institution_id": "I3", "name_ko": "상수도사업본부", "name_en": "Waterworks", "inst_type": "business_office"},
    {"institution_id": "I4", "name_ko": "감사위원회", "name_en": "Audit", "inst_type": "independent"},
]
DEPARTMENTS = [
    {"department_id": "D11", "institution_id": "I1", "name_ko": "평가담당관", "consulting_participated": True},
    {"department_id": "D12", "institution_id": "I1", "name_ko": "예산담당관", "consulting_participated": False},
    {"department_id": "D21", "institution_id": "I2", "name_ko": "복지정책과", "consulting_participated": True},
    {"department_id": "D31", "institution_id": "I3", "name_ko": "급수과", "consulting_participated": True},
]
PROJECTS = [
    {"project_id": "PR111", "department_id": "D11", "name_ko": "사업1", "is_core": True},
    {"project_id": "PR112", "department_id": "D11", "name_ko": "사업2", "is_core": False},
    {"project_id": "PR121", "department_id": "D12", "name_ko": "사업3", "is_core": True},
    {"project_id": "PR211", "department_id": "D21", "name_ko": "사업4", "is_core": True},
    {"project_id": "PR311", "department_id": "D31", "name_ko": "사업5", "is_core": True},
    {"project_id": "PR312", "department_id": "D31", "name_ko": "사업6", "is_core": True},
]
KPIS = [
    {"kpi_id": "K111", "owner_id": "D11", "level": "department", "polarity": "up", "weight": 60.0},
    {"kpi_id": "K112", "owner_id": "D11", "level": "department", "polarity": "down", "weight": 40.0},
    {"kpi_id": "K121", "owner_id": "D12", "level": "department", "polarity": "band", "weight": 100.0,
     "band_low": 90.0, "band_high": 110.0},
    {"kpi_id": "K211", "owner_id": "D21", "level": "department", "polarity": "up", "weight": 50.0},
    {"kpi_id": "K212", "owner_id": "D21", "level": "department", "polarity": "up", "weight": 50.0},
    {"kpi_id": "KI1", "owner_id": "I1", "level": "institution", "polarity": "up", "weight": 100.0},
]
PEOPLE = [
    {"person_id": "P01", "name_ko": "가", "grade": "2급", "unit_id": "I1", "role": "bureau_head"},
    {"person_id": "P02", "name_ko": "나", "grade": "3급", "unit_id": "I2", "role": "bureau_head"},
    {"person_id": "P11", "name_ko": "다", "grade": "4급", "unit_id": "D11", "role": "department_head"},
    {"person_id": "P12", "name_ko": "라", "grade": "4급", "unit_id": "D12", "role": "department_head"},
    {"person_id": "P21", "name_ko": "마", "grade": "4급", "unit_id": "D21", "role": "department_head"},
    {"person_id": "P31", "name_ko": "바", "grade": "4급", "unit_id": "D31", "role": "department_head"},
]


def _kpi_rows(k: dict, half: str, target: float, actual: float | None, verified: bool = True) -> dict:
    return {"kpi_id": k, "year": 2019, "half": half, "target": target, "actual": actual, "verified": verified}


def mini_data(scheme: Scheme, seed: int = 0, *, extreme: bool = False, level: float | None = None) -> BSCData:
    """A small complete world; ratings drawn (seeded) on the scheme's scales and items.

    ``extreme`` draws targets and actuals that include zeros, negatives and missing values;
    ``level`` (0–1) puts every rating and cooperation score at that point of its scale
    (1 → the best possible ratings).
    """
    rng = np.random.default_rng(seed)
    c = scheme.components

    def draw_ta(n):
        if not extreme:
            return rng.uniform(50, 150, n), rng.uniform(30, 170, n)
        pool = np.array([-20.0, -1.0, 0.0, 0.0, 1.0, 50.0, 100.0, 200.0, np.nan])
        return rng.choice(pool[:-1], n), rng.choice(pool, n)

    kres = []
    for half in ("H1", "H2"):
        t, a = draw_ta(len(KPIS))
        ver = rng.random(len(KPIS)) > (0.3 if extreme else 0.1)
        for i, k in enumerate(KPIS):
            kres.append(_kpi_rows(k["kpi_id"], half, float(t[i]), None if np.isnan(a[i]) else float(a[i]), bool(ver[i])))
    hist = [{"kpi_id": k["kpi_id"], "year": y, "actual": float(rng.uniform(40, 120))}
            for k in KPIS[:4] for y in (2017, 2018)]

    def rating(scale, n):
        u = rng.random(n) if level is None else np.full(n, level)
        return np.round(scale.min + u * (scale.max - scale.min), 1)

    pre = []
    if c.pre_evaluation is not None:
        units = ["D11", "D12", "D21", "D31", "I1"]
        for u in units:
            rounds = ("first",) if u == "D31" else ("first", "final")
            for rd in rounds:
                for it in c.pre_evaluation.items:
                    for rater in ("R1", "R2", "R3"):
                        pre.append({"unit_id": u, "round": rd, "item": it.id, "rater_id": rater,
                                    "score": float(rating(c.pre_evaluation.scale, 1)[0])})
    qual = []
    if c.qualitative is not None:
        for half in ("H1", "H2"):
            for p in PROJECTS:
                if p["project_id"] == "PR312" and half == "H2":
                    continue  # an unrated project
                for grp in ("bureau_self", "planning_office", "expert"):
                    if p["project_id"] == "PR211" and grp == "expert":
                        continue  # a rater group with no ratings
                    n_r = 5 if grp == "expert" else 3
                    for r in range(n_r):
                        for it in c.qualitative.items:
                            qual.append({"year": 2019, "half": half, "project_id": p["project_id"],
                                         "rater_group": grp, "rater_id": f"{grp[:2]}{r}", "item": it.id,
                                         "score": float(rating(c.qualitative.scale, 1)[0])})
    ev = []
    if c.evaluator is not None:
        for half in ("H1", "H2"):
            for u in ["D11", "D12", "D21", "D31", "I1", "I2", "I3"]:
                for e in ("E1", "E2"):
                    ev.append({"year": 2019, "half": half, "unit_id": u, "evaluator_id": e,
                               "score": float(rating(c.evaluator.scale, 1)[0])})
    coop = []
    if c.cooperation is not None:
        for half in ("H1", "H2"):
            for inst in ("I1", "I2", "I3", "I4"):
                for j, it in enumerate(c.cooperation.items):
                    if inst == "I4" and j == 0:
                        continue  # a missing item
                    coop.append({"year": 2019, "half": half, "institution_id": inst, "item": it.id,
                                 "score": float(np.round((rng.random() if level is None else level)
                                                         * it.points, 2))})
    integ = [{"year": 2019, "department_id": d, "plan_status": float(rng.uniform(50, 100)),
              "expense_disclosure": float(rng.uniform(50, 100)), "training_completion": float(rng.uniform(50, 100)),
              "survey_score": float(rng.uniform(50, 100)), "misconduct_count": int(rng.integers(0, 3)),
              "acrc_score": 85.0} for d in ("D11", "D12", "D21")]
    org = []
    for p in PEOPLE:
        if p["person_id"] == "P31":
            continue  # no organisation data
        for y in (2018, 2019):
            org.append({"person_id": p["person_id"], "year": y, "avg_overtime_hours": float(rng.uniform(5, 30)),
                        "avg_leave_days": float(rng.uniform(5, 15))})
    return make_data(
        institutions=INSTITUTIONS, departments=DEPARTMENTS, projects=PROJECTS, kpis=KPIS,
        kpi_results=kres, kpi_history=hist, pre_eval_ratings=pre, qualitative_ratings=qual,
        evaluator_scores=ev, cooperation_scores=coop, integrity=integ, people=PEOPLE, org_management=org,
    )


# --------------------------------------------------------------------------- tiny worlds
def tiny_units(n_depts: int = 1, inst: str = "I1") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(departments, institutions)``: one institution with departments D1 … Dn."""
    insts = table("institutions", [{"institution_id": inst, "name_ko": "기관", "inst_type": "main_office"}])
    deps = table("departments", [
        {"department_id": f"D{i}", "institution_id": inst, "name_ko": f"부서{i}", "consulting_participated": True}
        for i in range(1, n_depts + 1)])
    return deps, insts


def kpi(kpi_id: str, owner: str = "D1", polarity: str = "up", weight: float = 100.0, level: str = "department",
        band: tuple[float, float] | None = None) -> dict:
    row = {"kpi_id": kpi_id, "owner_id": owner, "level": level, "polarity": polarity, "weight": weight,
           "name_ko": kpi_id, "unit": "%", "kpi_type": "outcome"}
    if band is not None:
        row["band_low"], row["band_high"] = band
    return row


def res(kpi_id: str, target: float, actual: float | None, half: str = "H1", verified: bool = True,
        year: int = 2019) -> dict:
    return {"kpi_id": kpi_id, "year": year, "half": half, "target": target, "actual": actual, "verified": verified}
