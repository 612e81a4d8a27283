"""The hook contract between trackyard and its plugins.

A plugin is a module (or object) registered under the ``trackyard`` entry-point group whose
functions are marked with :data:`hookimpl` and named after the hooks below. Implementations may
accept a subset of a hook's arguments. Every hook name starts with ``trackyard_``.

Backend hooks return :class:`BackendSpec` values that name classes as ``"module:Class"``
strings, so a plugin's hook module stays cheap to import; the class is imported the first time
one of its schemes is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

__all__ = ["BackendSpec", "Event", "hookimpl", "hookspec"]

PROJECT = "trackyard"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class BackendSpec:
    """A backend a plugin provides.

    Attributes:
        schemes: URI schemes it handles, lower case, without driver (``"postgresql"`` covers
            ``postgresql+psycopg://``). ``"file"`` also covers bare paths.
        target: the backend class as ``"package.module:Class"``, imported on first use.
        install_hint: what to install when the target's dependencies are missing, e.g.
            ``'pip install "trackyard[postgres]"'``.
        replaces: True to take over schemes another plugin also claims (an explicit override);
            otherwise two claims on one scheme are an error when that scheme is used.
        fallback: True to be asked about schemes nobody claims: the target class's
            ``accepts_scheme(scheme) -> bool`` classmethod decides.
    """

    schemes: tuple[str, ...]
    target: str
    install_hint: str | None = None
    replaces: bool = False
    fallback: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.schemes, str):
            object.__setattr__(self, "schemes", (self.schemes,))
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))
        if ":" not in self.target:
            raise ValueError(f"BackendSpec target must be 'module:Class', got {self.target!r}")


@dataclass(frozen=True)
class Event:
    """A committed change, passed to :func:`trackyard_on_event`.

    Attributes:
        name: ``"<entity>.<action>"``, e.g. ``"run.created"``, ``"experiment.deleted"``.
        entity: the entity after the change (a Run, Experiment, ...), or its id.
        store_uri: the masked URI of the store that committed it.
        data: extra facts about the change.
    """

    name: str
    entity: Any
    store_uri: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@hookspec
def trackyard_tracking_stores() -> Iterable[BackendSpec]:  # type: ignore[empty-body]
    """Declare tracking stores this plugin provides.

    Returns:
        BackendSpecs whose targets subclass :class:`trackyard.stores.TrackingStore` and are
        built as ``Target(store_uri=..., artifact_uri=...)``.

    .. versionadded:: 0.1
    """


@hookspec
def trackyard_registry_stores() -> Iterable[BackendSpec]:  # type: ignore[empty-body]
    """Declare model registry stores this plugin provides.

    Returns:
        BackendSpecs whose targets are built as ``Target(store_uri=..., tracking_uri=...)``.

    .. versionadded:: 0.1
    """


@hookspec
def trackyard_artifact_repositories() -> Iterable[BackendSpec]:  # type: ignore[empty-body]
    """Declare artifact repositories this plugin provides.

    Returns:
        BackendSpecs whose targets subclass :class:`trackyard.stores.ArtifactRepository` and are
        built as ``Target(artifact_uri, tracking_uri=..., registry_uri=...)``.

    .. versionadded:: 0.1
    """


@hookspec
def trackyard_run_context(experiment_id: str) -> Mapping[str, str] | None:
    """Supply default tags for a new run.

    Results of all plugins are merged in registration order; tags the user passes win.

    Args:
        experiment_id: the experiment the run is created in.

    Returns:
        Tags to add (e.g. ``mlflow.user``, ``mlflow.source.name``), or None.

    .. versionadded:: 0.1
    """


@hookspec
def trackyard_request_headers(uri: str) -> Mapping[str, str] | None:
    """Supply HTTP headers for a REST call to ``uri`` (authentication, tenancy).

    Args:
        uri: the URL about to be called.

    Returns:
        Headers to add, or None. Values of one header from several plugins are joined with a
        space, as MLflow does.

    .. versionadded:: 0.1
    """


@hookspec
def trackyard_on_event(event: Event) -> None:
    """Be told about a change after it was committed.

    Called for every implementation; an exception in one is logged and does not stop the
    others or undo the change.

    Args:
        event: what changed.

    .. versionadded:: 0.1
    """


@hookspec
def trackyard_cli(cli: click.Group) -> None:
    """Add commands to the ``trackyard`` command line.

    Args:
        cli: the root click group; call ``cli.add_command(...)``.

    .. versionadded:: 0.1
    """
