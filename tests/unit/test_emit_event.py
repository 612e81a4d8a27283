"""trackyard.plugins.emit_event: the public way to fire trackyard_on_event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trackyard.errors import TrackyardError
from trackyard.plugins import emit_event, listening
from trackyard.plugins.hookspecs import Event, hookimpl
from trackyard.plugins.manager import get_plugin_manager


class _Keeper:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def trackyard_on_event(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def keeper() -> Iterator[_Keeper]:
    rec = _Keeper()
    get_plugin_manager().register(rec, "test-emit-keeper")
    try:
        yield rec
    finally:
        get_plugin_manager().unregister("test-emit-keeper")


def test_emit_masks_loads_and_passes_the_store(keeper: _Keeper) -> None:
    store = object()
    assert listening()
    told = emit_event(
        "model_version.created", lambda: "loaded", "postgresql://u:pw@h/db", {"v": 1}, store
    )
    assert told
    (event,) = keeper.events
    assert (event.name, event.entity, dict(event.data)) == (
        "model_version.created",
        "loaded",
        {"v": 1},
    )
    assert "pw" not in event.store_uri and event.store is store


def test_a_failing_loader_gives_none(keeper: _Keeper) -> None:
    def gone() -> str:
        raise TrackyardError.invalid_parameter_value("gone")

    emit_event("run.deleted", gone, "sqlite:///x.db")
    assert keeper.events[0].entity is None
