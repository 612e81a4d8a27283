"""Test isolation for trackyard-memory: load trackyard's plugins and this distribution's.

The allowlist is set per test (not for the whole process), so these tests can share one
pytest run with trackyard's own suite, whose conftest allows only trackyard's plugins. The
plugin manager and the store cache are reset around each test so every test resolves URIs
with this allowlist.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trackyard import config
from trackyard.backends import clear_store_cache
from trackyard.plugins.manager import reset_plugin_manager

PLUGINS = "trackyard,trackyard-memory"


def _reset() -> None:
    clear_store_cache()
    reset_plugin_manager()
    config.set_tracking_uri(None)
    config.set_registry_uri(None)


@pytest.fixture(autouse=True)
def _memory_plugin_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Allow trackyard's and trackyard-memory's plugins; no inherited URIs or roots."""
    monkeypatch.setenv("TRACKYARD_PLUGINS", PLUGINS)
    for var in (
        "TRACKYARD_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
        "TRACKYARD_REGISTRY_URI",
        "MLFLOW_REGISTRY_URI",
        "TRACKYARD_ARTIFACT_ROOT",
        "TRACKYARD_DISABLE_PLUGINS",
    ):
        monkeypatch.delenv(var, raising=False)
    _reset()
    yield
    _reset()
