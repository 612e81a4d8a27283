"""Helpers shared by the suites: a client bound to a store instance, capability checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackyard.client import MlflowClient

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

__all__ = ["make_client", "require_capability"]


def make_client(store: TrackingStore, tracking_uri: str | None = None) -> MlflowClient:
    """Return an :class:`MlflowClient` that uses ``store`` directly (no URI resolution)."""
    client = MlflowClient(tracking_uri=tracking_uri or store.store_uri or "conformance://")
    client._store = store
    return client


def require_capability(obj: object, name: str) -> None:
    """Skip the calling test, saying why, unless ``obj.capabilities.<name>`` is on."""
    import pytest

    capabilities = getattr(obj, "capabilities", None)
    if capabilities is None or not hasattr(capabilities, name):
        raise AssertionError(f"{type(obj).__name__} declares no capability {name!r}")
    if not getattr(capabilities, name):
        pytest.skip(f"{type(obj).__name__} does not declare the {name!r} capability")
