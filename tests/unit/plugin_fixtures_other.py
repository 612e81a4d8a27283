"""A second hook module for entry-point tests."""

from __future__ import annotations

from trackyard.plugins import BackendSpec, hookimpl


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    return [BackendSpec(("fixture-other",), "tests.unit.plugin_fixtures:OtherStore")]
