"""The yearly cycle from the scheme's schedule (spec §2)."""

from pathlib import Path

import pandas as pd

from bsc_lib.analyses.cycle import schedule_frame
from bsc_lib.config.scheme import load_scheme

ROOT = Path(__file__).resolve().parent.parent


def test_schedule_of_the_2019_scheme():
    s = schedule_frame(load_scheme(ROOT / "params" / "scheme-2019.yaml"), lang="ko")
    assert len(s) == 11
    assert s["start"].min() == pd.Timestamp("2019-02-01")
    # the last step: 2020-02 → ends on 29 February (2020 is a leap year)
    assert s["finish"].max() == pd.Timestamp("2020-02-29")
    consulting = s.iloc[1]
    assert consulting["months"] == 3 and consulting["finish"] == pd.Timestamp("2019-05-31")
    assert (s["finish"] >= s["start"]).all()
    assert s.iloc[4]["step"] == "1차 사전평가"


def test_english_labels():
    s = schedule_frame(load_scheme(ROOT / "params" / "scheme-2019.yaml"), lang="en")
    assert s.iloc[4]["step"] == "1st pre-evaluation"
