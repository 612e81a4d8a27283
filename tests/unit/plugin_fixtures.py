"""Throwaway backend classes and a hook module used by the plugin-system tests."""

from __future__ import annotations

from typing import Any

from trackyard.plugins import BackendSpec, hookimpl
from trackyard.stores import ArtifactRepository, TrackingStore


def _concrete(base: type) -> dict[str, Any]:
    """Implement every abstract method of ``base`` as 'not used in these tests'."""

    def unused(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("not used by the plugin tests")

    return {name: unused for name in base.__abstractmethods__}  # type: ignore[attr-defined]


DummyStore = type("DummyStore", (TrackingStore,), _concrete(TrackingStore))
OtherStore = type("OtherStore", (TrackingStore,), _concrete(TrackingStore))


class NotAStore:
    """Named by a plugin but not a TrackingStore."""


class PickyRepo(type("_Repo", (ArtifactRepository,), _concrete(ArtifactRepository))):  # type: ignore[misc]
    """A fallback repository that accepts only the scheme 'accepted'."""

    @classmethod
    def accepts_scheme(cls, scheme: str) -> bool:
        return scheme == "accepted"


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    return [BackendSpec(("fixture",), "tests.unit.plugin_fixtures:DummyStore")]
