"""Hooks of the file store plugin: ``file://`` URIs and bare paths, tracking and registry.

Kept light on purpose: this module imports only trackyard core. The store classes are named as
``"module:Class"`` strings and imported the first time the ``file`` scheme is used.
"""

from __future__ import annotations

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

__all__ = [
    "REGISTRY_TARGET",
    "TRACKING_TARGET",
    "trackyard_registry_stores",
    "trackyard_tracking_stores",
]

TRACKING_TARGET = "trackyard_file.tracking:FileTrackingStore"
REGISTRY_TARGET = "trackyard_file.registry:FileRegistryStore"


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    """Declare the file tracking store for ``file://`` URIs and bare paths."""
    return [BackendSpec(schemes=("file",), target=TRACKING_TARGET)]


@hookimpl
def trackyard_registry_stores() -> list[BackendSpec]:
    """Declare the file model registry store for ``file://`` URIs and bare paths."""
    return [BackendSpec(schemes=("file",), target=REGISTRY_TARGET)]
