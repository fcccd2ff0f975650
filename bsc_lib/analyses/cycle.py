"""The yearly evaluation cycle (spec §2) from the scheme's ``schedule``."""

from __future__ import annotations

import pandas as pd

from bsc_lib.config.scheme import Scheme


def schedule_frame(scheme: Scheme, lang: str = "ko") -> pd.DataFrame:
    """The scheme's schedule as a table of dated steps.

    Months are read as whole months: a step from ``2019-06`` to ``2019-07`` runs from
    1 June to the last day of July.

    Returns
    -------
    DataFrame
        Columns ``order`` (1-based, as in the scheme), ``step`` (label in ``lang``),
        ``who``, ``start`` (Timestamp, first day), ``finish`` (Timestamp, last day),
        ``months`` (duration in whole months).
    """
    steps = pd.DataFrame([s.model_dump() for s in scheme.schedule])
    if steps.empty:
        return pd.DataFrame(columns=["order", "step", "who", "start", "finish", "months"])
    start = pd.to_datetime(steps["start"] + "-01")
    end_first = pd.to_datetime(steps["end"] + "-01")
    finish = end_first + pd.offsets.MonthEnd(0)
    months = (end_first.dt.year - start.dt.year) * 12 + (end_first.dt.month - start.dt.month) + 1
    return pd.DataFrame(
        {
            "order": range(1, len(steps) + 1),
            "step": steps["step_ko" if lang == "ko" else "step_en"],
            "who": steps["who"],
            "start": start,
            "finish": finish,
            "months": months,
        }
    )
