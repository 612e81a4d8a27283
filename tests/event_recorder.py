"""A ``trackyard_on_event`` listener for tests: registers, records every event, unregisters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trackyard.plugins.hookspecs import Event, hookimpl

__all__ = ["EventRecorder", "recording"]


class EventRecorder:
    """Keeps every event it is told about, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def trackyard_on_event(self, event: Event) -> None:
        self.events.append(event)


@contextmanager
def recording(name: str) -> Iterator[EventRecorder]:
    """An :class:`EventRecorder` registered as plugin ``name`` for the block."""
    from trackyard.plugins.manager import get_plugin_manager

    rec = EventRecorder()
    get_plugin_manager().register(rec, name)
    try:
        yield rec
    finally:
        get_plugin_manager().unregister(name)
