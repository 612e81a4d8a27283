"""trackyard's conformance kit, unchanged, against the memory stores.

Each test gets a fresh store: a ``memory://`` name no other test uses, reset afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from trackyard.backends import get_registry_store, get_tracking_store
from trackyard.testing import RegistryStoreSuite, TraceStoreSuite, TrackingStoreSuite

from trackyard_memory import fresh_uri, reset
from trackyard_memory.registry import MemoryRegistryStore
from trackyard_memory.tracking import MemoryTrackingStore


class TestMemoryTracking(TrackingStoreSuite):
    """Resolved through trackyard's plugin system, as a user gets it; artifacts in memory."""

    covers = "trackyard_memory.tracking:MemoryTrackingStore"

    @pytest.fixture
    def tracking_store(self) -> Iterator[MemoryTrackingStore]:
        uri = fresh_uri("conformance")
        store = get_tracking_store(uri)
        assert isinstance(store, MemoryTrackingStore)
        assert str(store.artifact_uri).startswith("memory://trackyard-memory/")
        yield store
        reset(uri)


class TestMemoryTrackingLocalArtifacts(TrackingStoreSuite):
    """Built directly, with a local artifact root."""

    covers = "trackyard_memory.tracking:MemoryTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[MemoryTrackingStore]:
        uri = fresh_uri("conformance-local")
        store = MemoryTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "artifacts"))
        yield store
        reset(uri)


class TestAnonymousMemoryTracking(TrackingStoreSuite):
    """``memory://`` without a name: the data belongs to the instance."""

    covers = "trackyard_memory.tracking:MemoryTrackingStore"

    @pytest.fixture
    def tracking_store(self) -> Iterator[MemoryTrackingStore]:
        store = MemoryTrackingStore(store_uri="memory://")
        yield store
        store.close()


class TestMemoryRegistry(RegistryStoreSuite):
    """Registry and tracking stores of one name, resolved through the plugin system."""

    covers = "trackyard_memory.registry:MemoryRegistryStore"

    @pytest.fixture
    def memory_uri(self) -> Iterator[str]:
        uri = fresh_uri("registry")
        yield uri
        reset(uri)

    @pytest.fixture
    def registry_store(self, memory_uri: str) -> MemoryRegistryStore:
        store = get_registry_store(memory_uri)
        assert isinstance(store, MemoryRegistryStore)
        return store

    @pytest.fixture
    def tracking_store(self, memory_uri: str) -> MemoryTrackingStore:
        store = get_tracking_store(memory_uri)
        assert isinstance(store, MemoryTrackingStore)
        return store


class TestAnonymousMemoryRegistry(RegistryStoreSuite):
    """``memory://`` without a name, built directly; no tracking store."""

    covers = "trackyard_memory.registry:MemoryRegistryStore"

    @pytest.fixture
    def registry_store(self) -> Iterator[MemoryRegistryStore]:
        store = MemoryRegistryStore(store_uri="memory://")
        yield store
        store.close()


class TestMemoryTraces(TraceStoreSuite):
    """Traces, spans and assessments in a named memory store."""

    covers = "trackyard_memory.tracking:MemoryTrackingStore"

    @pytest.fixture
    def tracking_store(self) -> Iterator[MemoryTrackingStore]:
        uri = fresh_uri("traces")
        store = get_tracking_store(uri)
        assert isinstance(store, MemoryTrackingStore)
        yield store
        reset(uri)
