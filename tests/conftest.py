"""Test-wide isolation: only trackyard's own plugins, no inherited URIs, fresh state per test."""

from __future__ import annotations

import os

import pytest

from trackyard.testing.fixtures import ISOLATED_VARIABLES, isolation

# For what runs at collection time; each test gets the same through the fixture below.
os.environ.setdefault("TRACKYARD_PLUGINS", "trackyard")
for _var in ISOLATED_VARIABLES:
    os.environ.pop(_var, None)
# Throwaway test servers hash passwords at scrypt's lowest allowed cost (2**12, not 2**14):
# a login costs a quarter of the default, which adds up over the auth tests.
os.environ.setdefault("TRACKYARD_AUTH_SCRYPT_COST", "12")

trackyard_isolation = isolation()


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


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` (SQLite, one worker) on a free loopback port, per process.

    Skips, saying why, without the MLflow peer interpreter (``TRACKYARD_TEST_MLFLOW_PYTHON``).
    Tests call ``mlflow_server.reset()`` for an empty store.
    """
    from tests._mlflow_server import start_mlflow_server
    from tests.compat.peer import mlflow_python, mlflow_skip_reason

    python = mlflow_python()
    if python is None:
        pytest.skip(mlflow_skip_reason())
    server = start_mlflow_server(python, tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()
