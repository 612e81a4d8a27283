"""Test-wide isolation: only trackyard's own plugins, no inherited tracking URIs."""

from __future__ import annotations

import os

import pytest

# Load only this distribution's plugins, whatever else is installed in the environment.
os.environ.setdefault("TRACKYARD_PLUGINS", "trackyard")
for _var in (
    "TRACKYARD_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "TRACKYARD_REGISTRY_URI",
    "MLFLOW_REGISTRY_URI",
    "TRACKYARD_ARTIFACT_ROOT",
):
    os.environ.pop(_var, None)


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Reset process-wide URI overrides after each test."""
    yield
    from trackyard import config

    config.set_tracking_uri(None)
    config.set_registry_uri(None)
