"""``explain_error``: the generic way a backend tells ``trackyard doctor`` what a failure means.

The doctor knows no backend: it asks the store class serving a URI
(:meth:`trackyard.stores.TrackingStore.explain_error`) before its own generic wording. A
throwaway backend registered for one test shows that any plugin's explanation is used, and
that a plugin without one (the ABC's default, None) falls back to the generic text.
"""

from __future__ import annotations

from abc import ABC
from typing import Any

import pytest

from trackyard._doctor import explain
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.plugins import BackendSpec, get_plugin_manager
from trackyard.stores import RegistryStore, TrackingStore


class ExplainingStore(TrackingStore, ABC):
    """Not a working store (abstract): only its ``explain_error`` is used."""

    @classmethod
    def explain_error(cls, exc: BaseException, uri: str) -> str | None:
        if "tea" in str(exc):
            return f"the kettle at {uri.split('://')[1]} is empty: boil water first."
        return None


class SilentStore(TrackingStore, ABC):
    """Inherits the ABC's default: no explanation."""


@pytest.fixture
def registered() -> Any:
    manager = get_plugin_manager()
    manager.register_backend(
        "tracking",
        BackendSpec(("kettle",), "tests.unit.test_explain_error:ExplainingStore"),
        plugin="explain-test",
    )
    manager.register_backend(
        "tracking",
        BackendSpec(("mute",), "tests.unit.test_explain_error:SilentStore"),
        plugin="explain-test-silent",
    )
    try:
        yield
    finally:
        manager.unregister("explain-test")
        manager.unregister("explain-test-silent")


def test_the_abc_defaults_explain_nothing() -> None:
    err = RuntimeError("anything")
    assert TrackingStore.explain_error(err, "x://y") is None
    assert RegistryStore.explain_error(err, "x://y") is None


def test_the_doctor_uses_the_backends_explanation(registered: Any) -> None:
    err = TrackyardError("no tea left", ErrorCode.INTERNAL_ERROR)
    assert explain(err, "kettle://kitchen") == "the kettle at kitchen is empty: boil water first."


def test_without_an_explanation_the_doctor_words_it_generically(registered: Any) -> None:
    err = TrackyardError("something else", ErrorCode.INTERNAL_ERROR)
    assert explain(err, "kettle://kitchen") == "INTERNAL_ERROR: something else"
    assert explain(err, "mute://x") == "INTERNAL_ERROR: something else"


def test_the_sql_plugin_explains_its_failures() -> None:
    err = TrackyardError('Database error: database "ml" does not exist')
    text = explain(err, "postgresql://ml:secret@db.example/ml")
    assert "does not exist on db.example:5432: create it first" in text
    assert "secret" not in text
