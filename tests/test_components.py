"""The component protocol: every component a scheme can name is registered, once, with its scope."""

import numpy as np
import pandas as pd
import pytest

import bsc_lib.scoring.engine  # noqa: F401 - imports (registers) every component
from bsc_lib.config.scheme import Components
from bsc_lib.scoring.components import REGISTRY, Codes, Component, map_float, register
from bsc_lib.scoring.engine import _component


def test_every_scheme_component_is_registered():
    scored = set(Components.model_fields)
    assert scored <= set(REGISTRY), scored - set(REGISTRY)


def test_a_component_cannot_be_registered_twice():
    with pytest.raises(RuntimeError, match="already registered"):
        register(Component("achievement", score=lambda *a: None))


@pytest.mark.parametrize("comp, evaluation, message", [
    ("cooperation", "individual", "cooperation is scored for institutions only; the scheme gives it to the individual"),
    ("organisation", "institutional", "organisation management is scored for people only"),
    ("nonsense", "institutional", "unknown component 'nonsense'"),
])
def test_scope_errors_name_the_component_and_the_evaluation(comp, evaluation, message):
    with pytest.raises(ValueError, match=message):
        _component(comp, evaluation)


def test_map_float_is_series_map_as_float():
    keys = pd.Series(["b", "x", None, "a", "b"], dtype="str", index=[5, 6, 7, 8, 9], name="unit_id")
    for mapping in (pd.Series([1.5, 2.0], index=pd.Index(["a", "b"], dtype="str")),
                    pd.Series([3, 4, 7], index=pd.Index(["a", "b", None], dtype="str")),  # a missing key matches
                    pd.Series([], dtype="float64", index=pd.Index([], dtype="str"))):
        pd.testing.assert_series_equal(map_float(keys, mapping), keys.map(mapping).astype(float))
    codes = pd.Series(np.array([2, 0, 7, 2]))
    tot = pd.Series([0.5, 1.25], index=[0, 2])
    pd.testing.assert_series_equal(map_float(codes, tot), codes.map(tot).astype(float))
    with pytest.raises(pd.errors.InvalidIndexError):  # a key listed twice, as Series.map
        map_float(keys, pd.Series([1.0, 2.0], index=pd.Index(["a", "a"], dtype="str")))


@pytest.mark.parametrize("order", [None, np.array([3, 0, 2, 1])])
@pytest.mark.parametrize("rows", [None, np.array([0, 2])])
def test_codes_values_take_the_order_then_the_rows(order, rows):
    frame = pd.DataFrame({"score": [1.0, np.nan, 3.0, 4.0], "half": pd.Series(["H1", "H2", None, "H1"], dtype="str"),
                          "n": [1, 2, 3, 4]})
    codes = Codes(frame, order=order)
    for col in frame.columns:
        want = frame[col] if order is None else frame[col].take(order).reset_index(drop=True)
        if rows is not None:
            want = want.take(rows).reset_index(drop=True)
        pd.testing.assert_series_equal(codes.values(col, rows), want)
