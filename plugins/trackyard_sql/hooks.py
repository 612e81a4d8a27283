"""Hooks of the SQL plugin: which tracking and model registry URI schemes it serves.

Kept light on purpose: this module imports only trackyard core (no SQLAlchemy, no database
driver), so listing the installed schemes costs nothing. The store class is named as a
``"module:Class"`` string and imported on first use.
"""

from __future__ import annotations

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

__all__ = [
    "REGISTRY_TARGET",
    "TRACKING_TARGET",
    "trackyard_registry_stores",
    "trackyard_tracking_stores",
]

TRACKING_TARGET = "trackyard_sql.tracking:SqlTrackingStore"
REGISTRY_TARGET = "trackyard_sql.registry:SqlRegistryStore"

# (schemes, install hint for their database driver)
_TRACKING: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("sqlite",), None),  # the driver is in the standard library
    (("postgresql",), 'pip install "trackyard[postgres]"'),
    (("mysql",), 'pip install "trackyard[mysql]"'),
    (("mssql",), "pip install pyodbc"),  # untested
)


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    """Declare the SQL tracking store for SQLite, PostgreSQL, MySQL/MariaDB and MSSQL."""
    return [
        BackendSpec(schemes=schemes, target=TRACKING_TARGET, install_hint=hint)
        for schemes, hint in _TRACKING
    ]


@hookimpl
def trackyard_registry_stores() -> list[BackendSpec]:
    """Declare the SQL model registry store for the same schemes as the tracking store."""
    return [
        BackendSpec(schemes=schemes, target=REGISTRY_TARGET, install_hint=hint)
        for schemes, hint in _TRACKING
    ]
