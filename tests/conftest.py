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


# -- object-store servers (tests/_object_stores.py): one of each per pytest process ------------
@pytest.fixture(scope="session")
def s3_rclone():
    """``rclone serve s3`` on a free loopback port, with this process's bucket."""
    from tests._object_stores import start_rclone

    store = start_rclone()
    yield store
    store.stop()


@pytest.fixture(scope="session")
def s3_moto():
    """moto's standalone S3 server on a free loopback port, with this process's bucket."""
    from tests._object_stores import start_moto

    store = start_moto()
    yield store
    store.stop()


@pytest.fixture(scope="session")
def gcs_fake():
    """fake-gcs-server on a free loopback port, with this process's bucket."""
    from tests._object_stores import start_fake_gcs

    store = start_fake_gcs()
    yield store
    store.stop()
