"""The registry conformance kit itself, against the in-memory reference store (trackyard-memory)."""

from __future__ import annotations

from typing import Any

import pytest
from trackyard_memory.registry import MemoryRegistryStore

from trackyard.testing import RegistryStoreSuite


class TestMemoryRegistry(RegistryStoreSuite):
    @pytest.fixture
    def registry_store(self) -> Any:
        return MemoryRegistryStore()
