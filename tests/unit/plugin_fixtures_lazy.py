"""Imported only when its scheme is resolved (the laziness test checks sys.modules)."""

from __future__ import annotations

from tests.unit.plugin_fixtures import DummyStore


class LazyStore(DummyStore):  # type: ignore[misc,valid-type]
    """A store whose module must not be imported before its scheme is used."""
