"""Settings read from the environment, plus the process-wide ``set_*_uri`` overrides.

Precedence for the tracking URI: :func:`set_tracking_uri` → ``TRACKYARD_TRACKING_URI`` →
``MLFLOW_TRACKING_URI`` → ``sqlite:///trackyard.db``. The registry URI: :func:`set_registry_uri`
→ ``TRACKYARD_REGISTRY_URI`` → ``MLFLOW_REGISTRY_URI`` → the tracking URI.

Settings are plain environment reads (no pydantic-settings): they are consulted on first use
and importing pydantic-settings alone costs about 0.3 s, more than all of ``import trackyard``.
"""

from __future__ import annotations

import os

__all__ = [
    "DEFAULT_ARTIFACT_ROOT",
    "DEFAULT_TRACKING_URI",
    "get_artifact_root",
    "get_registry_uri",
    "get_tracking_uri",
    "plugin_allowlist",
    "plugin_blocklist",
    "set_registry_uri",
    "set_tracking_uri",
]

DEFAULT_TRACKING_URI = "sqlite:///trackyard.db"
DEFAULT_ARTIFACT_ROOT = "./trackyard-artifacts"

_tracking_uri: str | None = None
_registry_uri: str | None = None


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Set the tracking URI for this process (None clears the override)."""
    global _tracking_uri
    _tracking_uri = os.fspath(uri) if uri is not None else None


def get_tracking_uri() -> str:
    """Return the tracking URI in effect."""
    return (
        _tracking_uri
        or _first_env("TRACKYARD_TRACKING_URI", "MLFLOW_TRACKING_URI")
        or (DEFAULT_TRACKING_URI)
    )


def set_registry_uri(uri: str | os.PathLike[str] | None) -> None:
    """Set the model registry URI for this process (None clears the override)."""
    global _registry_uri
    _registry_uri = os.fspath(uri) if uri is not None else None


def get_registry_uri(tracking_uri: str | None = None) -> str:
    """Return the registry URI in effect; it defaults to the tracking URI."""
    return (
        _registry_uri
        or _first_env("TRACKYARD_REGISTRY_URI", "MLFLOW_REGISTRY_URI")
        or tracking_uri
        or get_tracking_uri()
    )


def get_artifact_root() -> str:
    """Return the default artifact root for stores that do not say otherwise."""
    return _first_env("TRACKYARD_ARTIFACT_ROOT") or DEFAULT_ARTIFACT_ROOT


def _name_list(var: str) -> frozenset[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return frozenset(n.strip() for n in raw.replace(";", ",").split(",") if n.strip())


def plugin_allowlist() -> frozenset[str] | None:
    """Plugins (entry-point or distribution names) to load; None means all, empty means none."""
    return _name_list("TRACKYARD_PLUGINS")


def plugin_blocklist() -> frozenset[str]:
    """Plugins (entry-point or distribution names) never to load."""
    return _name_list("TRACKYARD_DISABLE_PLUGINS") or frozenset()
