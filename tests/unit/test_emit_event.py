"""trackyard.plugins.emit_event: the public way to fire trackyard_on_event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.event_recorder import EventRecorder, recording
from trackyard.errors import TrackyardError
from trackyard.plugins import emit_event, listening


@pytest.fixture
def keeper() -> Iterator[EventRecorder]:
    with recording("test-emit-keeper") as rec:
        yield rec


def test_emit_masks_loads_and_passes_the_store(keeper: EventRecorder) -> None:
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


def test_a_failing_loader_gives_none(keeper: EventRecorder) -> None:
    def gone() -> str:
        raise TrackyardError.invalid_parameter_value("gone")

    emit_event("run.deleted", gone, "sqlite:///x.db")
    assert keeper.events[0].entity is None
