"""Imports for the memory stores: entities written as they are, ids and times kept.

Mixed into :class:`~trackyard_memory.tracking.MemoryTrackingStore` and
:class:`~trackyard_memory.registry.MemoryRegistryStore` (``Capabilities(imports=True)``);
the contract is :class:`trackyard.stores.TrackingStore`'s ``import_*`` methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import Experiment, LifecycleStage, Metric, Run, RunData
from trackyard.entities.model_registry import ModelVersion, RegisteredModel
from trackyard.errors import (
    already_exists,
    experiment_exists,
    invalid_parameter,
    registered_model_exists,
)
from trackyard.stores import RegistryStoreMixin, TrackingStoreMixin, params_and_tags

__all__ = ["MemoryRegistryImports", "MemoryTrackingImports"]


class MemoryTrackingImports(TrackingStoreMixin):
    """``import_experiment``, ``import_run`` and ``import_run_data`` of the memory store."""

    if TYPE_CHECKING:
        _lock: Any

        def _data(self) -> Any: ...
        def _experiment(self, data: Any, experiment_id: str) -> Any: ...
        def _run(self, data: Any, run_id: str) -> Any: ...

    def import_experiment(self, experiment: Experiment) -> None:
        """Write an experiment with its id, times, stage and tags."""
        from trackyard_memory.tracking import _Experiment

        eid = experiment.experiment_id
        if not eid.isdigit():
            raise invalid_parameter(f"Invalid experiment id {eid!r}.")
        with self._lock:
            data = self._data()
            if eid in data.experiments:
                raise already_exists(f"Experiment {eid}")
            if experiment.name in data.by_name:
                raise experiment_exists(experiment.name)
            data.experiments[eid] = _Experiment(
                experiment_id=eid,
                name=experiment.name,
                artifact_location=experiment.artifact_location,
                lifecycle_stage=experiment.lifecycle_stage,
                creation_time=experiment.creation_time or 0,
                last_update_time=experiment.last_update_time or 0,
                tags=dict(experiment.tags),
            )
            data.by_name[experiment.name] = eid
            data.next_experiment_id = max(data.next_experiment_id, int(eid) + 1)

    def new_experiment_id(self) -> str:
        """The id the next new experiment would get."""
        with self._lock:
            return str(self._data().next_experiment_id)

    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """Write a run with its id, times, status and stage, its data and inputs; all or nothing."""
        from trackyard_memory.tracking import _Run

        info = run.info
        with self._lock:
            data = self._data()
            if info.run_id in data.runs:
                raise already_exists(f"Run {info.run_id}")
            exp = self._experiment(data, info.experiment_id)
            data.runs[info.run_id] = _Run(
                run_id=info.run_id,
                experiment_id=info.experiment_id,
                run_name=info.run_name or "",
                user_id=info.user_id,
                status=info.status,
                start_time=info.start_time or 0,
                end_time=info.end_time,
                lifecycle_stage=LifecycleStage.ACTIVE,
                artifact_uri=info.artifact_uri or "",
            )
            exp.run_ids.append(info.run_id)
            try:
                self.log_batch(info.run_id, metrics, *params_and_tags(run.data))
                if run.inputs.dataset_inputs:
                    self.log_inputs(info.run_id, run.inputs.dataset_inputs)
            except BaseException:
                del data.runs[info.run_id]
                exp.run_ids.remove(info.run_id)
                raise
            stored = data.runs[info.run_id]
            stored.run_name = info.run_name or stored.run_name
            stored.lifecycle_stage = info.lifecycle_stage

    def import_run_data(self, run_id: str, metrics: Sequence[Metric], data: RunData) -> None:
        """Add points, params and tags to a run in any stage, all or nothing."""
        params, tags = params_and_tags(data)
        with self._lock:
            stored = self._run(self._data(), run_id)
            stage = stored.lifecycle_stage
            stored.lifecycle_stage = LifecycleStage.ACTIVE
            try:
                self.log_batch(run_id, metrics, params, tags)
            finally:
                stored.lifecycle_stage = stage


class MemoryRegistryImports(RegistryStoreMixin):
    """``import_registered_model`` and ``import_model_version`` of the memory registry."""

    if TYPE_CHECKING:
        _lock: Any

        def _models(self) -> dict[str, Any]: ...

    def import_registered_model(self, model: RegisteredModel) -> None:
        """Write a model with its times, description, tags and aliases."""
        from trackyard_memory.registry import _Model

        with self._lock:
            models = self._models()
            if model.name in models:
                raise registered_model_exists(model.name)
            models[model.name] = _Model(
                name=model.name,
                creation=model.creation_timestamp or 0,
                updated=model.last_updated_timestamp or 0,
                description=model.description,
                deployment_job_id=model.deployment_job_id,
                tags=dict(model.tags),
                aliases={a: int(v) for a, v in model.aliases.items()},
            )

    def import_model_version(self, version: ModelVersion) -> None:
        """Write a version with its number, times, stage, source and tags."""
        from trackyard.errors import registered_model_not_found

        from trackyard_memory.registry import _Version

        number = int(version.version)
        with self._lock:
            model = self._models().get(version.name)
            if model is None:
                raise registered_model_not_found(version.name)
            if number in model.versions or number <= 0:
                raise already_exists(f"Model version {version.name} {number}")
            model.versions[number] = _Version(
                number=number,
                creation=version.creation_timestamp or 0,
                updated=version.last_updated_timestamp or 0,
                source=version.source or "",
                run_id=version.run_id,
                run_link=version.run_link,
                description=version.description,
                user_id=version.user_id,
                stage=version.current_stage,
                status=version.status,
                status_message=version.status_message,
                storage_location=version.storage_location,
                model_id=version.model_id,
                tags=dict(version.tags),
            )
            model.last_number = max(model.last_number, number)
