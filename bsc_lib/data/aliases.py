"""Spelling tables used by the loader on top of :mod:`bsc_lib.data.model`.

:mod:`bsc_lib.data.model` is the contract (column names, Korean headers, code sets). This module
adds a few extra spellings analysts commonly type and builds the lookup dictionaries the
loader uses:

* :func:`table_lookup` – file stem / sheet name → table name;
* :func:`header_lookup` – normalised header text → column name, per table;
* :func:`code_lookup` – normalised cell text → English code, per code set.

Matching is always done on :func:`bsc_lib.data.model.normalise_header` of the text (strip,
lower-case, remove spaces, underscores, dots and the Korean middle dot), so ``"Main Office"``,
``"main_office"`` and ``"본청"`` all reach ``main_office``.
"""

from __future__ import annotations

from functools import cache

from bsc_lib.data.model import TABLES, VALUE_ALIASES, normalise_header

#: Extra header spellings per table (accepted in addition to the model's name, ko and aliases).
EXTRA_HEADER_ALIASES: dict[str, dict[str, str]] = {
    "kpis": {"가중치(%)": "weight", "지표구분": "kpi_type", "소관부서ID": "owner_id"},
    "kpi_results": {"목표": "target", "실적": "actual", "목표값": "target", "실적값": "actual",
                    "검증": "verified", "증빙확인": "verified"},
    "kpi_history": {"실적치": "actual"},
    "departments": {"컨설팅": "consulting_participated"},
}

#: Extra spellings of categorical codes per code set.
EXTRA_VALUE_ALIASES: dict[str, dict[str, str]] = {
    "inst_type": {"본청(실·본부·국)": "main_office", "독립": "independent"},
    "half": {"1h": "H1", "2h": "H2", "상": "H1", "하": "H2", "firsthalf": "H1", "secondhalf": "H2"},
    "polarity": {"상향형": "up", "하향형": "down", "구간형": "band", "목표구간형": "band"},
    "level": {"실·본부·국": "institution", "과·담당관": "department", "과": "department"},
    "round": {"1": "first", "first round": "first", "최종차": "final"},
    "rater_group": {"실·본부·국 자체평가": "bureau_self", "자체": "bureau_self",
                    "기조실": "planning_office", "외부전문가": "expert"},
    "role": {"실·본부·국장": "bureau_head", "과장": "department_head", "담당관": "department_head"},
}

#: Sheet names that hold documentation and are skipped when reading a workbook.
DOC_SHEETS = ("readme", "설명", "read me", "안내")


@cache
def table_lookup() -> dict[str, str]:
    """Normalised table spelling (English name, Korean name, Korean aliases) → table name."""
    out: dict[str, str] = {}
    for t in TABLES.values():
        for spelling in (t.name, t.ko, *t.ko_aliases):
            out[normalise_header(spelling)] = t.name
    return out


@cache
def header_lookup(table: str) -> dict[str, str]:
    """Normalised header spelling → column name for ``table`` (model aliases + extras)."""
    t = TABLES[table]
    out: dict[str, str] = {}
    for spelling, col in EXTRA_HEADER_ALIASES.get(table, {}).items():
        out[normalise_header(spelling)] = col
    for c in t.columns:  # the model's spellings win over the extras
        for spelling in (c.name, c.ko, *c.aliases):
            out[normalise_header(spelling)] = c.name
    return out


@cache
def code_lookup(codeset: str) -> dict[str, str]:
    """Normalised spelling → English code for a code set of :data:`bsc_lib.data.model.VALUE_ALIASES`.

    The codes themselves are included, so ``"UP"`` and ``"up"`` map to ``"up"``.
    """
    out: dict[str, str] = {}
    for spelling, code in EXTRA_VALUE_ALIASES.get(codeset, {}).items():
        out[normalise_header(spelling)] = code
    for spelling, code in VALUE_ALIASES.get(codeset, {}).items():
        out[normalise_header(spelling)] = code
    for code in set(VALUE_ALIASES.get(codeset, {}).values()):
        out[normalise_header(code)] = code
    return out


def code_spellings(codeset: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """For each allowed code, the Korean/other spellings accepted for it (model aliases first)."""
    out: dict[str, list[str]] = {code: [] for code in allowed}
    for source in (VALUE_ALIASES.get(codeset, {}), EXTRA_VALUE_ALIASES.get(codeset, {})):
        for spelling, code in source.items():
            if code in out and spelling not in out[code] and spelling.lower() != code.lower():
                out[code].append(spelling)
    return out


def describe_codes(codeset: str | None, allowed: tuple[str, ...], *, extras: bool = False) -> str:
    """``"up (상향), down (하향), band (목표구간, 구간)"`` – the allowed codes with spellings.

    ``extras`` also lists the extra spellings of :data:`EXTRA_VALUE_ALIASES`.
    """
    if codeset is None:
        return ", ".join(allowed)
    if extras:
        sp = code_spellings(codeset, allowed)
    else:
        sp = {code: [] for code in allowed}
        for spelling, code in VALUE_ALIASES.get(codeset, {}).items():
            if code in sp and spelling.lower() != code.lower() and not spelling.isascii():
                sp[code].append(spelling)
    return ", ".join(f"{code} ({', '.join(v)})" if v else code for code, v in sp.items())
