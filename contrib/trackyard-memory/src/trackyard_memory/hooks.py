"""Hooks of the memory plugin: the ``memory`` scheme for tracking and model registry stores.

This module imports only trackyard core and names the store classes as ``"module:Class"``
strings, so listing installed schemes does not import the stores.

The ``memory`` scheme is also claimed by trackyard's fsspec plugin, but for *artifact*
repositories: scheme tables are per kind, so the two never conflict. A memory tracking store
keeps its run artifacts on fsspec's in-memory filesystem by default (``memory://`` artifact
URIs), which that plugin serves.
"""

from __future__ import annotations

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

__all__ = [
    "REGISTRY_TARGET",
    "SCHEMES",
    "TRACKING_TARGET",
    "trackyard_registry_stores",
    "trackyard_tracking_stores",
]

SCHEMES: tuple[str, ...] = ("memory",)
TRACKING_TARGET = "trackyard_memory.tracking:MemoryTrackingStore"
REGISTRY_TARGET = "trackyard_memory.registry:MemoryRegistryStore"


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    """Declare the in-process tracking store for ``memory://<name>``."""
    return [BackendSpec(schemes=SCHEMES, target=TRACKING_TARGET)]


@hookimpl
def trackyard_registry_stores() -> list[BackendSpec]:
    """Declare the in-process model registry store for ``memory://<name>``."""
    return [BackendSpec(schemes=SCHEMES, target=REGISTRY_TARGET)]
