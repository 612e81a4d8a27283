"""The conformance kit: one set of tests every backend runs.

A backend's conformance module subclasses a suite and overrides its fixture::

    import pytest
    from trackyard.testing import TrackingStoreSuite

    class TestMyStore(TrackingStoreSuite):
        @pytest.fixture
        def tracking_store(self, tmp_path):
            return MyStore(store_uri=f"mystore://{tmp_path}", artifact_uri=str(tmp_path / "a"))

Suites: :class:`TrackingStoreSuite` (fixture ``tracking_store``: a fresh, empty store whose
default artifact root is writable), :class:`RegistryStoreSuite` (fixture ``registry_store``:
a fresh, empty model registry store; optionally ``tracking_store``) and
:class:`ArtifactRepositorySuite` (fixture ``artifact_repo_factory``). A subclass may say which
class it tests (``covers = "my_backend.store:MyStore"``); every suite checks that its fixture
builds that class, the one its URI's scheme resolves to. Tests that need an optional
capability skip with the reason.

:mod:`trackyard.testing.fixtures` isolates each test from trackyard's process-wide state (one
line in a conftest.py). Needs pytest (``pip install "trackyard[test]"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trackyard.testing._client import make_client, require_capability

if TYPE_CHECKING:
    from trackyard.testing.artifacts import ArtifactRepositorySuite
    from trackyard.testing.registry import RegistryStoreSuite
    from trackyard.testing.traces import TraceStoreSuite
    from trackyard.testing.tracking import TrackingStoreSuite

__all__ = [
    "ArtifactRepositorySuite",
    "RegistryStoreSuite",
    "TraceStoreSuite",
    "TrackingStoreSuite",
    "make_client",
    "require_capability",
]


def __getattr__(name: str) -> Any:
    if name == "TrackingStoreSuite":
        from trackyard.testing.tracking import TrackingStoreSuite

        return TrackingStoreSuite
    if name == "TraceStoreSuite":
        from trackyard.testing.traces import TraceStoreSuite

        return TraceStoreSuite
    if name == "ArtifactRepositorySuite":
        from trackyard.testing.artifacts import ArtifactRepositorySuite

        return ArtifactRepositorySuite
    if name == "RegistryStoreSuite":
        from trackyard.testing.registry import RegistryStoreSuite

        return RegistryStoreSuite
    raise AttributeError(f"module 'trackyard.testing' has no attribute {name!r}")
