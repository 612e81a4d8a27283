"""The conformance suites against the file store (MLflow's mlruns layout).

Every test gets a fresh store rooted in its own ``tmp_path`` (only the Default experiment),
once through a bare path and once through a ``file://`` URI; the registry suite runs on the
``models/`` folder of such a root, with a tracking store on the same root for ``runs:/`` URIs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trackyard.testing import RegistryStoreSuite, TraceStoreSuite, TrackingStoreSuite
from trackyard_file.registry import FileRegistryStore
from trackyard_file.tracking import FileTrackingStore


class TestFileTrackingPath(TrackingStoreSuite):
    covers = "trackyard_file.tracking:FileTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> FileTrackingStore:
        return FileTrackingStore(str(tmp_path / "mlruns"), str(tmp_path / "artifacts"))


class TestFileTrackingURI(TrackingStoreSuite):
    covers = "trackyard_file.tracking:FileTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> FileTrackingStore:
        return FileTrackingStore((tmp_path / "mlruns").as_uri(), None)


class TestFileRegistry(RegistryStoreSuite):
    covers = "trackyard_file.registry:FileRegistryStore"

    @pytest.fixture
    def registry_store(self, tmp_path: Path) -> FileRegistryStore:
        return FileRegistryStore(str(tmp_path / "mlruns"))

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> FileTrackingStore:
        return FileTrackingStore(str(tmp_path / "mlruns"), str(tmp_path / "artifacts"))


class TestFileTraces(TraceStoreSuite):
    """Traces with a separate artifact root: spans live outside the trace folders."""

    covers = "trackyard_file.tracking:FileTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> FileTrackingStore:
        return FileTrackingStore(str(tmp_path / "mlruns"), str(tmp_path / "artifacts"))


class TestFileTracesDefaultRoot(TraceStoreSuite):
    """Traces with the default artifact root (MLflow's): spans in ``traces/<id>/artifacts``."""

    covers = "trackyard_file.tracking:FileTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> FileTrackingStore:
        return FileTrackingStore((tmp_path / "mlruns").as_uri(), None)
