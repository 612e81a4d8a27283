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
from dataclasses import dataclass
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


class Event:
    """A committed change, passed to :func:`trackyard_on_event`.

    Attributes:
        name: ``"<entity>.<action>"``, e.g. ``"run.created"``, ``"experiment.deleted"``.
        entity: the entity after the change (a Run, Experiment, ...), or its id. The client
            may pass a zero-argument callable instead: it is called on first access (and
            its TrackyardError turns into None), so listeners that do not read the entity
            cost no store read.
        store_uri: the masked URI of the store that committed it.
        data: extra facts about the change.
        store: the store object that committed it (registry events: the registry store),
            so a listener can read more from it; None when unknown.
    """

    __slots__ = ("_entity", "_loaded", "data", "name", "store", "store_uri")

    def __init__(
        self,
        name: str,
        entity: Any,
        store_uri: str = "",
        data: Mapping[str, Any] | None = None,
        store: Any = None,
    ) -> None:
        self.name = name
        self._entity = entity
        self._loaded = not callable(entity)
        self.store_uri = store_uri
        self.data: Mapping[str, Any] = {} if data is None else data
        self.store = store

    @property
    def entity(self) -> Any:
        """The changed entity (loaded on first access when the client passed a loader)."""
        if not self._loaded:
            from trackyard.errors import TrackyardError

            try:
                self._entity = self._entity()
            except TrackyardError:  # e.g. deleted meanwhile: still report the change
                self._entity = None
            self._loaded = True
        return self._entity

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.name, self.entity, self.store_uri, dict(self.data)) == (
            other.name,
            other.entity,
            other.store_uri,
            dict(other.data),
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Event(name={self.name!r}, entity={self.entity!r}, "
            f"store_uri={self.store_uri!r}, data={dict(self.data)!r})"
        )


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
    others or undo the change. An implementation that reads ``event.entity`` only during the
    call (or never) may say so with the function attribute ``lazy_entity = True``: when all
    listeners say so, the client leaves the entity to be loaded on first access, sparing a
    store read per event.

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
