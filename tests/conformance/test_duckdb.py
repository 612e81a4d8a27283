"""The conformance suites against the DuckDB stores (trackyard's own columnar schema).

Every test gets a fresh database: a new file under the test's ``tmp_path``, or a named
in-memory database of its own (``duckdb:///:memory:<uuid>``). The registry suite shares its
database with a DuckDB tracking store, as a client whose registry URI defaults to its
tracking URI does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trackyard.testing import RegistryStoreSuite, TraceStoreSuite, TrackingStoreSuite
from trackyard_duckdb.registry import DuckDBRegistryStore
from trackyard_duckdb.tracking import DuckDBTrackingStore

TRACKING = "trackyard_duckdb.tracking:DuckDBTrackingStore"
REGISTRY = "trackyard_duckdb.registry:DuckDBRegistryStore"


def _file_uri(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'store' / 'trackyard.duckdb'}"


def _memory_uri() -> str:
    return f"duckdb:///:memory:{uuid.uuid4().hex}"


def _tracking(uri: str, tmp_path: Path) -> Iterator[DuckDBTrackingStore]:
    (tmp_path / "store").mkdir(exist_ok=True)
    store = DuckDBTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "artifacts"))
    try:
        yield store
    finally:
        store.close()


class TestDuckDBFile(TrackingStoreSuite):
    covers = TRACKING

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[DuckDBTrackingStore]:
        yield from _tracking(_file_uri(tmp_path), tmp_path)


class TestDuckDBMemory(TrackingStoreSuite):
    covers = TRACKING

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[DuckDBTrackingStore]:
        yield from _tracking(_memory_uri(), tmp_path)


class TestDuckDBTraces(TraceStoreSuite):
    covers = TRACKING

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[DuckDBTrackingStore]:
        yield from _tracking(_file_uri(tmp_path), tmp_path)


class _RegistrySuite(RegistryStoreSuite):
    covers = REGISTRY
    uri_kind = "file"

    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[tuple[DuckDBRegistryStore, DuckDBTrackingStore]]:
        uri = _file_uri(tmp_path) if self.uri_kind == "file" else _memory_uri()
        for tracking in _tracking(uri, tmp_path):
            registry = DuckDBRegistryStore(store_uri=uri, tracking_uri=uri)
            try:
                yield registry, tracking
            finally:
                registry.close()

    @pytest.fixture
    def registry_store(
        self, stores: tuple[DuckDBRegistryStore, DuckDBTrackingStore]
    ) -> DuckDBRegistryStore:
        return stores[0]

    @pytest.fixture
    def tracking_store(
        self, stores: tuple[DuckDBRegistryStore, DuckDBTrackingStore]
    ) -> DuckDBTrackingStore:
        return stores[1]


class TestDuckDBRegistryFile(_RegistrySuite):
    uri_kind = "file"


class TestDuckDBRegistryMemory(_RegistrySuite):
    uri_kind = "memory"
