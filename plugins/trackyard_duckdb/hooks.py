"""Hooks of the DuckDB plugin: the ``duckdb`` scheme, for tracking and the model registry.

Kept light on purpose: this module imports only trackyard core (no DuckDB), so listing the
installed schemes costs nothing. The store classes are named as ``"module:Class"`` strings
and imported the first time the scheme is used.
"""

from __future__ import annotations

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

__all__ = [
    "INSTALL_HINT",
    "REGISTRY_TARGET",
    "TRACKING_TARGET",
    "trackyard_registry_stores",
    "trackyard_tracking_stores",
]

TRACKING_TARGET = "trackyard_duckdb.tracking:DuckDBTrackingStore"
REGISTRY_TARGET = "trackyard_duckdb.registry:DuckDBRegistryStore"
INSTALL_HINT = 'pip install "trackyard[duckdb]"'


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    """Declare the DuckDB tracking store for ``duckdb://`` URIs."""
    return [BackendSpec(schemes=("duckdb",), target=TRACKING_TARGET, install_hint=INSTALL_HINT)]


@hookimpl
def trackyard_registry_stores() -> list[BackendSpec]:
    """Declare the DuckDB model registry store for ``duckdb://`` URIs."""
    return [BackendSpec(schemes=("duckdb",), target=REGISTRY_TARGET, install_hint=INSTALL_HINT)]
