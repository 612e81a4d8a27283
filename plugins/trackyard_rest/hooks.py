"""Hooks of the REST plugin: http(s) tracking and registry stores, ``mlflow-artifacts:``.

Kept light on purpose: this module imports only trackyard core (no HTTP stack); the classes
are named as ``"module:Class"`` strings and imported when their scheme is first used.
"""

from __future__ import annotations

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

__all__ = [
    "ARTIFACT_TARGET",
    "REGISTRY_TARGET",
    "TRACKING_TARGET",
    "trackyard_artifact_repositories",
    "trackyard_registry_stores",
    "trackyard_tracking_stores",
]

TRACKING_TARGET = "trackyard_rest.client.tracking:RestTrackingStore"
REGISTRY_TARGET = "trackyard_rest.client.registry:RestRegistryStore"
ARTIFACT_TARGET = "trackyard_rest.client.artifacts:MlflowArtifactsRepository"

_HINT = "pip install urllib3"
_HTTP = ("http", "https")


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    """Declare the REST tracking store for http and https URIs."""
    return [BackendSpec(schemes=_HTTP, target=TRACKING_TARGET, install_hint=_HINT)]


@hookimpl
def trackyard_registry_stores() -> list[BackendSpec]:
    """Declare the REST model registry store for http and https URIs."""
    return [BackendSpec(schemes=_HTTP, target=REGISTRY_TARGET, install_hint=_HINT)]


@hookimpl
def trackyard_artifact_repositories() -> list[BackendSpec]:
    """Declare the artifact repository behind a tracking server's proxy."""
    return [BackendSpec(schemes=("mlflow-artifacts",), target=ARTIFACT_TARGET, install_hint=_HINT)]
