"""The registry conformance kit itself, run against the in-memory reference store."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.memory_registry import MemoryRegistryStore
from trackyard.testing import RegistryStoreSuite


class TestMemoryRegistry(RegistryStoreSuite):
    @pytest.fixture
    def registry_store(self) -> Any:
        return MemoryRegistryStore()
