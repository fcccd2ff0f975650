"""The component protocol: every component a scheme can name is registered, once, with its scope."""

import pytest

import bsc_lib.scoring.engine  # noqa: F401 - imports (registers) every component
from bsc_lib.config.scheme import Components
from bsc_lib.scoring.components import REGISTRY, Component, register
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
