"""Describe a loaded dataset: counts per table and per institution type, KPI mix, completeness.

Pure functions on :class:`bsc_lib.data.model.BSCData`; used by ``bsc describe`` and notebook 01.
"""

from __future__ import annotations

import pandas as pd

from bsc_lib.data.model import INST_TYPES, BSCData, plain_text

INST_TYPE_LABELS = {
    "ko": {"main_office": "본청", "business_office": "사업소", "independent": "독립기관"},
    "en": {"main_office": "Main office", "business_office": "Business office", "independent": "Independent body"},
}


def _inst_of_department(data: BSCData) -> pd.Series:
    return data.departments.set_index("department_id")["institution_id"]


def _inst_type_of_owner(data: BSCData, owner: pd.Series) -> pd.Series:
    """Institution type of a unit id that is a department or an institution id."""
    inst_type = data.institutions.set_index("institution_id")["inst_type"]
    inst = owner.map(_inst_of_department(data)).fillna(owner)
    return inst.map(inst_type)


def counts_by_type(data: BSCData) -> pd.DataFrame:
    """Units, projects and KPIs per institution type.

    Returns
    -------
    DataFrame
        One row per institution type (in the order main_office, business_office,
        independent) plus a ``total`` row. Columns: ``inst_type``, ``institutions``,
        ``departments``, ``projects``, ``core_projects``, ``kpis``, ``kpi_weight_owners``.
    """
    data = data.plain("institutions", "departments", "projects", "kpis")
    inst = data.institutions
    dep_type = data.departments["institution_id"].map(inst.set_index("institution_id")["inst_type"])
    proj_type = data.projects["department_id"].map(data.departments.set_index("department_id")["institution_id"]).map(
        inst.set_index("institution_id")["inst_type"]
    )
    kpi_type = _inst_type_of_owner(data, data.kpis["owner_id"])
    rows = []
    for t in INST_TYPES:
        rows.append(
            {
                "inst_type": t,
                "institutions": int((inst["inst_type"] == t).sum()),
                "departments": int((dep_type == t).sum()),
                "projects": int((proj_type == t).sum()),
                "core_projects": int(((proj_type == t) & data.projects["is_core"]).sum()),
                "kpis": int((kpi_type == t).sum()),
                "kpi_weight_owners": int(data.kpis.loc[kpi_type == t, "owner_id"].nunique()),
            }
        )
    out = pd.DataFrame(rows)
    total = out.drop(columns="inst_type").sum().to_dict()
    total["inst_type"] = "total"
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def kpi_mix(data: BSCData) -> pd.DataFrame:
    """KPI counts by attribute value.

    Returns
    -------
    DataFrame
        Columns ``attribute`` (level, polarity, kpi_type, unit), ``value``, ``kpis``,
        ``share`` (of all KPIs). Sorted by attribute, then count descending, then value.
    """
    k = plain_text(data.kpis)
    parts = []
    for attr in ("level", "polarity", "kpi_type", "unit"):
        vc = k[attr].fillna("(blank)").value_counts().rename("kpis").reset_index()
        vc.columns = ["value", "kpis"]
        vc.insert(0, "attribute", attr)
        parts.append(vc.sort_values(["kpis", "value"], ascending=[False, True], kind="stable"))
    out = pd.concat(parts, ignore_index=True)
    out["share"] = out["kpis"] / max(len(k), 1)
    return out


def completeness(data: BSCData, year: int) -> pd.DataFrame:
    """Completeness of the year's KPI results and history.

    Returns
    -------
    DataFrame
        One row per check: ``check``, ``count``, ``of``, ``share``. Checks: result rows per
        half, missing actuals per half, unverified actuals per half, KPIs with no history,
        KPIs without any result row.
    """
    r = data.kpi_results[data.kpi_results["year"] == year]
    n_kpi = len(data.kpis)
    rows = []
    for half in ("H1", "H2"):
        rh = r[r["half"] == half]
        rows.append({"check": f"result_rows_{half}", "count": len(rh), "of": n_kpi})
        rows.append({"check": f"missing_actual_{half}", "count": int(rh["actual"].isna().sum()), "of": len(rh)})
        rows.append({"check": f"unverified_{half}", "count": int((~rh["verified"]).sum()), "of": len(rh)})
    h = data.kpi_history.dropna(subset=["actual"])
    rows.append({"check": "kpis_without_history", "count": int((~data.kpis["kpi_id"].isin(h["kpi_id"])).sum()), "of": n_kpi})
    rows.append({"check": "kpis_without_results", "count": int((~data.kpis["kpi_id"].isin(r["kpi_id"])).sum()), "of": n_kpi})
    out = pd.DataFrame(rows)
    out["share"] = out["count"] / out["of"].where(out["of"] > 0)
    return out


def notices_frame(notices: list) -> pd.DataFrame:
    """What the reader did on its own while loading (``BSCData.notices``), one row each.

    Returns
    -------
    pandas.DataFrame
        ``input_file`` (file name only, no local path), ``input_sheet``, ``input_row`` (text: the
        row as the analyst sees it, ``""`` for a whole column), ``input_column``, ``notice_rule``
        (``merged_cells``, ``skipped row``, ``hidden column``), ``notice_message``.
    """
    from pathlib import PurePath

    rows = [{"input_file": PurePath(n.file).name if n.file else "", "input_sheet": n.sheet,
             "input_row": "" if n.row is None else str(n.row),
             "input_column": n.column, "notice_rule": n.rule, "notice_message": n.message} for n in notices]
    cols = ["input_file", "input_sheet", "input_row", "input_column", "notice_rule", "notice_message"]
    return pd.DataFrame(rows, columns=cols)


def describe(data: BSCData, year: int = 2019) -> dict[str, pd.DataFrame]:
    """All description tables of a dataset.

    Returns
    -------
    dict
        ``tables`` (:meth:`BSCData.counts`: table, table_ko, rows), ``by_type``
        (:func:`counts_by_type`), ``kpi_mix`` (:func:`kpi_mix`), ``completeness``
        (:func:`completeness`).
    """
    return {
        "tables": data.counts(),
        "by_type": counts_by_type(data),
        "kpi_mix": kpi_mix(data),
        "completeness": completeness(data, year),
    }


def describe_text(data: BSCData, year: int = 2019, lang: str = "ko") -> str:
    """A plain-text summary for the terminal (``bsc describe``)."""
    d = describe(data, year)
    by_type = d["by_type"].copy()
    by_type["inst_type"] = by_type["inst_type"].map(lambda t: INST_TYPE_LABELS[lang].get(t, t))
    head = {"ko": ("데이터", "표별 행 수", "기관유형별", "실적 완결성"),
            "en": ("Data", "Rows per table", "By institution type", "Completeness of results")}[lang]
    return "\n".join(
        [
            f"{head[0]}: {data.source}",
            "",
            f"{head[1]}:",
            d["tables"].to_string(index=False),
            "",
            f"{head[2]}:",
            by_type.to_string(index=False),
            "",
            f"{head[3]} ({year}):",
            d["completeness"].to_string(index=False, float_format=lambda v: f"{v:.1%}"),
        ]
    )


def unit_names(data: BSCData) -> pd.DataFrame:
    """Every evaluated unit (institutions and departments) with its names and institution.

    Returns
    -------
    DataFrame
        Columns ``unit_id``, ``level`` (institution|department), ``name_ko``, ``name_en``,
        ``institution_id``, ``institution_ko``, ``inst_type``. Sorted by unit_id.
    """
    inst = data.institutions
    i = pd.DataFrame({"unit_id": inst["institution_id"], "level": "institution", "name_ko": inst["name_ko"],
                      "name_en": inst["name_en"], "institution_id": inst["institution_id"]})
    dep = data.departments
    d = pd.DataFrame({"unit_id": dep["department_id"], "level": "department", "name_ko": dep["name_ko"],
                      "name_en": dep["name_en"], "institution_id": dep["institution_id"]})
    out = pd.concat([plain_text(i), plain_text(d)], ignore_index=True)
    idx = plain_text(inst).set_index("institution_id")
    out["institution_ko"] = out["institution_id"].map(idx["name_ko"])
    out["inst_type"] = out["institution_id"].map(idx["inst_type"])
    return out.sort_values("unit_id", kind="stable").reset_index(drop=True)


def with_names(df: pd.DataFrame, data: BSCData, on: str = "unit_id") -> pd.DataFrame:
    """``df`` with ``name_ko`` and ``institution_ko`` inserted after the column ``on``."""
    names = unit_names(data).set_index("unit_id")
    out = df.copy()
    pos = list(out.columns).index(on) + 1
    for j, col in enumerate(("name_ko", "institution_ko")):
        if col not in out.columns:
            out.insert(pos + j, col, out[on].map(names[col]))
    return out
