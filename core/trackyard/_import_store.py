"""Writing entities as they are: the import part of the store contracts.

``trackyard.copy`` copies one store into another losslessly, so it needs to write a run with
*its* id, times, status and lifecycle stage, which ``create_run`` cannot (it makes a fresh id
and a running run). A store that can do that overrides :meth:`TrackingImportMixin.import_experiment`
and :meth:`TrackingImportMixin.import_run` (and :meth:`RegistryImportMixin.import_registered_model`
and :meth:`RegistryImportMixin.import_model_version` for a registry) and declares
``Capabilities(imports=True)``. Those defaults raise ``FEATURE_DISABLED``, as does
:meth:`TrackingImportMixin.import_logged_model` (optional: without it, logged models are not
copied into the store), and :meth:`TrackingImportMixin.import_assessment` (optional: without
it, trace assessments are not copied into the store).

The other methods have generic defaults built on the ordinary contract, which stores may
replace with faster ones: :meth:`TrackingImportMixin.import_run_data` appends to a run in any
lifecycle stage, :meth:`TrackingImportMixin.import_run_info` sets a run's info exactly,
:meth:`TrackingImportMixin.read_metric_points` reads every point of a run, and
:meth:`TrackingImportMixin.import_artifact_location` says where an imported experiment keeps
its artifacts.

Imported values are trusted: they come from another store, which validated them. Stores
still refuse keys that would escape their root.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities import (
        Assessment,
        Experiment,
        Metric,
        Param,
        Run,
        RunData,
        RunInfo,
        RunTag,
    )
    from trackyard.entities.logged_model import LoggedModel
    from trackyard.entities.model_registry import ModelVersion, RegisteredModel

__all__ = ["RegistryImportMixin", "TrackingImportMixin", "active_for_write", "params_and_tags"]


def params_and_tags(data: RunData) -> tuple[list[Param], list[RunTag]]:
    """``data``'s params and tags as entity lists sorted by key (for ``log_batch``)."""
    from trackyard.entities import Param, RunTag

    return (
        [Param(k, v) for k, v in sorted(data.params.items())],
        [RunTag(k, v) for k, v in sorted(data.tags.items())],
    )


def _no_imports(store: object) -> TrackyardError:
    return TrackyardError(
        f"{type(store).__name__} cannot write entities as they are (ids and times kept), so "
        "it cannot be the destination of a lossless copy.",
        ErrorCode.FEATURE_DISABLED,
    )


class TrackingImportMixin:
    """Experiments and runs written with their own ids and times (capability ``imports``)."""

    def import_experiment(self, experiment: Experiment) -> None:
        """Write an experiment exactly as given: id, name, artifact location, lifecycle
        stage, creation and last update times, tags.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when the id or the name is taken;
                INVALID_PARAMETER_VALUE when the store cannot hold that id (the copier
                then imports it under :meth:`new_experiment_id`).
        """
        raise _no_imports(self)

    def new_experiment_id(self) -> str:
        """An experiment id this store would give a new experiment and does not use yet."""
        raise _no_imports(self)

    def import_artifact_location(self, experiment_id: str) -> str:
        """Where an experiment imported with this id keeps its artifacts.

        The default is ``<artifact_uri>/<experiment_id>`` under the store's artifact root; a
        store whose root lives elsewhere (a tracking server's) returns that root's.
        """
        store: Any = self
        return f"{str(store.artifact_uri).rstrip('/')}/{experiment_id}"

    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """Write a new run exactly as given.

        ``run.info`` (id, experiment, user, status, start and end times, lifecycle stage,
        artifact URI, name), ``run.data`` params and tags, ``run.inputs`` dataset inputs, and
        every point of ``metrics`` (the full histories; ``run.data.metrics`` is ignored, the
        latest values follow from the points). Stores with transactions write it all or
        nothing.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when a run with that id exists;
                RESOURCE_DOES_NOT_EXIST when its experiment does not.
        """
        raise _no_imports(self)

    def import_run_data(self, run_id: str, metrics: Sequence[Metric], data: RunData) -> None:
        """Add the points ``metrics`` and the params and tags of ``data`` (whose metrics are
        ignored) to an existing run in any lifecycle stage.

        The default writes through ``log_batch``, restoring a deleted run for the write and
        deleting it again afterwards.
        """
        store: Any = self
        params, tags = params_and_tags(data)
        with active_for_write(store, run_id):
            store.log_batch(run_id, metrics, params, tags)

    def import_run_info(self, info: RunInfo) -> None:
        """Set an existing run's status, end time, name and lifecycle stage to ``info``'s.

        The default uses ``update_run_info``, ``delete_run`` and ``restore_run``.
        """
        from trackyard.entities import LifecycleStage, RunStatus

        store: Any = self
        current = store.get_run(info.run_id).info
        if (current.status, current.end_time, current.run_name) != (
            info.status,
            info.end_time,
            info.run_name,
        ):
            with active_for_write(store, info.run_id):
                store.update_run_info(
                    info.run_id, RunStatus.from_string(info.status), info.end_time, info.run_name
                )
        if current.lifecycle_stage != info.lifecycle_stage:
            if info.lifecycle_stage == LifecycleStage.DELETED:
                store.delete_run(info.run_id)
            else:
                store.restore_run(info.run_id)

    def import_logged_model(self, model: LoggedModel) -> None:
        """Write a new logged model exactly as given (capability ``logged_models``).

        Its id, experiment, name, artifact location, creation and update times, type,
        source run, status and message, tags, params, and every point of ``model.metrics``
        (each linked to its ``run_id``). The default raises FEATURE_DISABLED: a store that
        keeps logged models may leave them out of copies.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when a model with that id exists;
                RESOURCE_DOES_NOT_EXIST when its experiment does not.
        """
        raise _no_imports(self)

    def import_assessment(self, assessment: Assessment) -> None:
        """Write a new assessment of the trace ``assessment.trace_id`` exactly as given
        (capability ``assessments``).

        Its id, name, kind, value or error, rationale, source, metadata, span id, run id,
        creation and update times, and the ``overrides`` and ``valid`` flags as they are: the
        assessment it overrides is not touched. The default raises FEATURE_DISABLED: a
        store that keeps assessments may leave them out of copies.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when an assessment with that id exists;
                RESOURCE_DOES_NOT_EXIST when the trace does not.
        """
        raise _no_imports(self)

    def read_metric_points(self, run_id: str, keys: Sequence[str]) -> list[Metric]:
        """Every point of the metrics ``keys`` of a run, each key's in history order.

        The default calls ``get_metric_history`` once per key; stores may read them at once.
        """
        store: Any = self
        points: list[Metric] = []
        for key in keys:
            points.extend(store.get_metric_history(run_id, key))
        return points


class active_for_write:
    """Restore a deleted run for the length of a write, then delete it again."""

    def __init__(self, store: Any, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.deleted = False

    def __enter__(self) -> None:
        from trackyard.entities import LifecycleStage

        stage = self.store.get_run(self.run_id).info.lifecycle_stage
        if stage != LifecycleStage.ACTIVE:
            self.deleted = True
            self.store.restore_run(self.run_id)

    def __exit__(self, *exc: object) -> None:
        if self.deleted:
            self.store.delete_run(self.run_id)


class RegistryImportMixin:
    """Registered models and versions written as they are (capability ``imports``)."""

    def import_registered_model(self, model: RegisteredModel) -> None:
        """Write a new registered model (or prompt) exactly as given: name, description,
        creation and last update times, tags and aliases (which may name versions that are
        imported right after).

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when the name is taken.
        """
        raise _no_imports(self)

    def import_model_version(self, version: ModelVersion) -> None:
        """Write a model version exactly as given: number, times, user, stage, source, run
        id, run link, status and message, description, tags, model id, storage location.
        Version numbers already used (deleted versions included) are refused.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when the number is taken;
                RESOURCE_DOES_NOT_EXIST when the model is absent.
        """
        raise _no_imports(self)
