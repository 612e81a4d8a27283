"""trackyard's plugin system.

Every backend, built-in or not, is a plugin: a module registered under the ``trackyard``
entry-point group whose functions are marked with :data:`hookimpl`. A minimal tracking-store
plugin is two files::

    # my_plugin/hooks.py  (cheap to import: names its class as a string)
    from trackyard import hookimpl
    from trackyard.plugins import BackendSpec

    @hookimpl
    def trackyard_tracking_stores():
        return [BackendSpec(schemes=("mystore",), target="my_plugin.store:MyStore")]

    # pyproject.toml
    [project.entry-points.trackyard]
    my_plugin = "my_plugin.hooks"

``MlflowClient(tracking_uri="mystore://...")`` then imports ``my_plugin.store`` and builds
``MyStore(store_uri=..., artifact_uri=...)``. The hooks are documented in
:mod:`trackyard.plugins.hookspecs`; discovery and conflict rules in
:mod:`trackyard.plugins.manager`.
"""

from __future__ import annotations

from trackyard.plugins.events import emit_event, listening
from trackyard.plugins.hookspecs import BackendSpec, Event, hookimpl
from trackyard.plugins.manager import (
    PluginInfo,
    PluginManager,
    PluginWarning,
    get_plugin_manager,
    reset_plugin_manager,
)

__all__ = [
    "BackendSpec",
    "Event",
    "PluginInfo",
    "PluginManager",
    "PluginWarning",
    "emit_event",
    "get_plugin_manager",
    "hookimpl",
    "listening",
    "reset_plugin_manager",
]
