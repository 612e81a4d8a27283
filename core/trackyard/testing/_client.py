"""Helpers shared by the suites: a client bound to store instances, capability checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackyard.client import MlflowClient

if TYPE_CHECKING:
    from trackyard.stores import RegistryStore, TrackingStore

__all__ = ["make_client", "require_capability"]


def make_client(
    store: TrackingStore | None = None,
    registry_store: RegistryStore | None = None,
    *,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
) -> MlflowClient:
    """Return an :class:`MlflowClient` that uses the given stores directly (no URI resolution).

    Args:
        store: the tracking store, or None for a registry-only client (tracking calls then
            fail: the client's tracking URI is ``conformance://``, which no plugin serves).
        registry_store: the model registry store, or None to resolve it from the registry
            URI as usual.
        tracking_uri: the URI the client reports (default: the tracking store's).
        registry_uri: the registry URI the client reports (default: the registry store's,
            else the tracking URI).
    """
    uri = tracking_uri or (store.store_uri if store is not None else None) or "conformance://"
    registry_uri = (
        registry_uri or (registry_store.store_uri if registry_store is not None else None) or uri
    )
    client = MlflowClient(tracking_uri=uri, registry_uri=registry_uri)
    if store is not None:
        client._store = store
    if registry_store is not None:
        client._reg_store = registry_store
    return client


def require_capability(obj: object, name: str) -> None:
    """Skip the calling test, saying why, unless ``obj.capabilities.<name>`` is on."""
    import pytest

    capabilities = getattr(obj, "capabilities", None)
    if capabilities is None or not hasattr(capabilities, name):
        raise AssertionError(f"{type(obj).__name__} declares no capability {name!r}")
    if not getattr(capabilities, name):
        pytest.skip(f"{type(obj).__name__} does not declare the {name!r} capability")
