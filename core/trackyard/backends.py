"""Stores for URIs: URI → plugin class → cached, shared instance.

The public way for users, plugin authors and platform code to get the store that serves a URI,
exactly as :class:`trackyard.MlflowClient` does::

    from trackyard.backends import get_tracking_store

    store = get_tracking_store("sqlite:///trackyard.db")

Tracking and registry stores are cached per process by (kind, URI, artifact root / tracking
URI) and shared between threads; artifact repositories are cheap and built on each call.
Inside :func:`trackyard.stores.read_only_opens`, tracking and registry stores are opened
read-only, outside the cache: each call builds a new store, which the caller closes.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from trackyard import config
from trackyard.errors import PluginLoadError, TrackyardError
from trackyard.uri import StoreURI

if TYPE_CHECKING:
    from trackyard.stores import ArtifactRepository, RegistryStore, TrackingStore

__all__ = [
    "clear_store_cache",
    "get_artifact_repository",
    "get_registry_store",
    "get_tracking_store",
]

_cache: dict[tuple[str, ...], Any] = {}
_lock = threading.RLock()  # re-entrant: a registry store may open its tracking store


def _manager() -> Any:
    from trackyard.plugins.manager import get_plugin_manager

    return get_plugin_manager()


def _construct(kind: str, uri: StoreURI, cls: type, *args: Any, **kwargs: Any) -> Any:
    try:
        return cls(*args, **kwargs)
    except ModuleNotFoundError as exc:
        hint = _manager().install_hint(kind, uri)
        raise PluginLoadError(
            f"the {kind} backend {cls.__module__}.{cls.__qualname__} for {uri.masked!r} "
            f"needs a module that is not installed: {exc.name}."
            + (f" Install it with: {hint}" if hint else ""),
            plugin=cls.__module__.split(".")[0],
        ) from exc


def _is_uri(root: str) -> bool:
    """Whether ``root`` has a URI scheme (``s3://b``, ``mlflow-artifacts:/``), not a path."""
    scheme, sep, _ = root.partition(":")
    return bool(sep) and len(scheme) > 1 and scheme.replace("-", "").replace("+", "").isalnum()


def get_tracking_store(uri: str | None = None, artifact_root: str | None = None) -> TrackingStore:
    """Return the shared tracking store for ``uri`` (default: the configured tracking URI).

    Inside :func:`trackyard.stores.read_only_opens`: a new store opened read-only, not
    cached and not shared, which the caller closes.
    """
    uri = uri or config.get_tracking_uri()
    root = artifact_root or config.get_artifact_root()
    if not _is_uri(root) and not os.path.isabs(root):
        root = os.path.abspath(root)
    return _shared_store("tracking", uri, root, artifact_uri=root)  # type: ignore[no-any-return]


def get_registry_store(uri: str | None = None, tracking_uri: str | None = None) -> RegistryStore:
    """Return the shared model registry store for ``uri`` (default: the registry URI).

    Inside :func:`trackyard.stores.read_only_opens`: a new store opened read-only, not
    cached and not shared, which the caller closes.
    """
    tracking_uri = tracking_uri or config.get_tracking_uri()
    uri = uri or config.get_registry_uri(tracking_uri)
    return _shared_store("registry", uri, tracking_uri, tracking_uri=tracking_uri)  # type: ignore[no-any-return]


def _shared_store(kind: str, uri: str, context: str, **kwargs: Any) -> Any:
    """The cached ``kind`` store for (``uri``, ``context``), opened (again, if closed) as
    needed; inside :func:`trackyard.stores.read_only_opens`, a new store outside the cache."""
    from trackyard.stores import read_only_open

    def build() -> Any:
        parsed = StoreURI.parse(uri)
        cls = _manager().resolve(kind, parsed)
        return _construct(kind, parsed, cls, store_uri=uri, **kwargs)

    if read_only_open() is not None:
        return build()
    key = (kind, uri, context)
    store = _cache.get(key)
    if store is not None and not getattr(store, "closed", False):
        return store
    with _lock:
        store = _cache.get(key)
        if store is None or getattr(store, "closed", False):
            store = _cache[key] = build()
    return store


def get_artifact_repository(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> ArtifactRepository:
    """Build the artifact repository for ``artifact_uri`` (cheap; not cached)."""
    if not artifact_uri:
        raise TrackyardError.invalid_parameter_value("An artifact URI is required.")
    parsed = StoreURI.parse(artifact_uri)
    cls = _manager().resolve("artifact", parsed)
    repo = _construct(
        "artifact", parsed, cls, artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri
    )
    return repo  # type: ignore[no-any-return]


def clear_store_cache() -> None:
    """Close and forget every cached store (tests; after changing plugins).

    Asynchronous logging queued for a store is written first.
    """
    import sys

    with _lock:
        stores = list(_cache.values())
        _cache.clear()
    async_logging = sys.modules.get("trackyard._async_logging")
    for store in stores:
        if async_logging is not None:
            async_logging.forget_store(store)
        close = getattr(store, "close", None)
        if callable(close):
            close()
