"""Imports for the file stores: experiments, runs, models and versions written as they are.

Mixed into :class:`~trackyard_file.tracking.FileTrackingStore` and
:class:`~trackyard_file.registry.FileRegistryStore` (``Capabilities(imports=True)``; the
contract is the stores' ``import_*`` methods). A run folder is made with its meta.yaml
(id, times, status), its params, tags and metric histories are written by ``log_batch`` in
one journaled write, its inputs by ``log_inputs``, and its lifecycle stage is set last.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from trackyard.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    Run,
    RunStatus,
    SourceType,
)
from trackyard.entities.model_registry import ModelVersion, RegisteredModel
from trackyard.errors import (
    already_exists,
    experiment_exists,
    invalid_parameter,
    registered_model_exists,
)
from trackyard.stores import RegistryStoreMixin, TrackingStoreMixin, params_and_tags
from trackyard_file._fs import check_contained, dump_meta, write_atomic, writes
from trackyard_file._layout import ARTIFACTS, EXPERIMENT_ID_RE, META, METRICS, PARAMS, TAGS
from trackyard_file.experiments import FileExperiments

__all__ = ["FileRegistryImports", "FileTrackingImports"]


class FileTrackingImports(FileExperiments, TrackingStoreMixin):
    """``import_experiment``, ``new_experiment_id`` and ``import_run`` of the file store
    (built on its experiment methods)."""

    if TYPE_CHECKING:
        _root_real: str

    @writes
    def import_experiment(self, experiment: Experiment) -> None:
        """Write an experiment folder with its id, times, stage and tags."""
        eid = experiment.experiment_id
        if not EXPERIMENT_ID_RE.match(eid):
            raise invalid_parameter(f"Invalid experiment id {eid!r}.")
        with self._root_lock():
            if any(os.path.lexists(os.path.join(p, eid)) for p in (self.root, self.trash)):
                raise already_exists(f"Experiment {eid}")
            if self._find_by_name(experiment.name) is not None:
                raise experiment_exists(experiment.name)
            tags = [ExperimentTag(k, v) for k, v in sorted(experiment.tags.items())]
            self._write_new_experiment(eid, experiment.name, experiment.artifact_location, tags)
            directory = os.path.join(self.root, eid)
            self._rewrite_experiment_meta(
                directory,
                artifact_location=experiment.artifact_location,
                creation_time=experiment.creation_time,
                last_update_time=experiment.last_update_time,
                lifecycle_stage=experiment.lifecycle_stage,
            )
            if experiment.lifecycle_stage == LifecycleStage.DELETED:
                os.makedirs(self.trash, exist_ok=True)
                os.rename(directory, os.path.join(self.trash, eid))

    def new_experiment_id(self) -> str:
        """A free random 18-digit id, as ``create_experiment`` gives."""
        while True:
            eid = str(10**17 + secrets.randbelow(9 * 10**17))
            if self._experiment_dir(eid) is None:
                return eid

    @writes
    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """Write a run folder with its id, times and status, then its data and stage."""
        info = run.info
        exp_dir = self._experiment_dir(info.experiment_id)
        if exp_dir is None:
            from trackyard.errors import experiment_not_found

            raise experiment_not_found(info.experiment_id)
        run_dir = os.path.join(exp_dir, info.run_id)
        check_contained(self._root_real, exp_dir)
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            raise already_exists(f"Run {info.run_id!r}") from None
        try:
            for sub in (METRICS, PARAMS, TAGS, ARTIFACTS):
                os.mkdir(os.path.join(run_dir, sub))
            meta: dict[str, Any] = {
                "artifact_uri": info.artifact_uri,
                "deleted_time": None,
                "end_time": info.end_time,
                "entry_point_name": "",
                "experiment_id": info.experiment_id,
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "run_id": info.run_id,
                "run_name": info.run_name,
                "source_name": "",
                "source_type": SourceType.LOCAL,
                "source_version": "",
                "start_time": info.start_time,
                "status": RunStatus.from_string(info.status),
                "tags": [],
                "user_id": info.user_id,
            }
            write_atomic(os.path.join(run_dir, META), dump_meta(meta), tmp_dir=run_dir, sync=False)
            self._run_dirs[info.run_id] = run_dir
            self.log_batch(info.run_id, metrics, *params_and_tags(run.data))
            if run.inputs.dataset_inputs:
                self.log_inputs(info.run_id, run.inputs.dataset_inputs)
        except BaseException:
            self._run_dirs.pop(info.run_id, None)
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        if info.lifecycle_stage == LifecycleStage.DELETED:
            self.delete_run(info.run_id)


class FileRegistryImports(RegistryStoreMixin):
    """``import_registered_model`` and ``import_model_version`` of the file registry."""

    if TYPE_CHECKING:
        models: str
        _root_real: str
        _sync_meta: bool

        def _writing(self) -> AbstractContextManager[int]: ...
        def _model_dir(self, name: str) -> str: ...
        def _has_meta(self, directory: str) -> bool: ...
        def _require_model(self, name: str) -> str: ...
        def _write_tags(self, base: str, tags: Sequence[Any], what: str) -> None: ...
        def _version_dirs(self, model_dir: str) -> list[tuple[int, str]]: ...

    @writes
    def import_registered_model(self, model: RegisteredModel) -> None:
        """Write a model folder with its times, description, tags and aliases."""
        from trackyard.entities.model_registry import RegisteredModelTag

        with self._writing():
            model_dir = self._model_dir(model.name)
            if self._has_meta(model_dir):
                raise registered_model_exists(model.name)
            if os.path.lexists(model_dir):
                shutil.rmtree(model_dir, ignore_errors=True)
            check_contained(self._root_real, self.models)
            os.mkdir(model_dir)
            try:
                tags = [RegisteredModelTag(k, v) for k, v in sorted(model.tags.items())]
                self._write_tags(os.path.join(model_dir, TAGS), tags, "registered model tag")
                aliases = sorted(model.aliases.items())
                self._write_tags(
                    os.path.join(model_dir, "aliases"),
                    [RegisteredModelTag(a, str(v)) for a, v in aliases],
                    "alias",
                )
                meta = {
                    "aliases": {a: str(v) for a, v in aliases},
                    "creation_timestamp": model.creation_timestamp,
                    "deployment_job_id": model.deployment_job_id,
                    "deployment_job_state": None,
                    "description": model.description,
                    "last_updated_timestamp": model.last_updated_timestamp,
                    "name": model.name,
                    "workspace": "default",
                }
                write_atomic(os.path.join(model_dir, META), dump_meta(meta), sync=False)
            except BaseException:
                shutil.rmtree(model_dir, ignore_errors=True)
                raise

    @writes
    def import_model_version(self, version: ModelVersion) -> None:
        """Write a version folder with its number, times, stage, source and tags."""
        from trackyard.entities.model_registry import ModelVersionTag

        number = int(version.version)
        with self._writing():
            model_dir = self._require_model(version.name)
            if number <= 0 or any(n == number for n, _ in self._version_dirs(model_dir)):
                raise already_exists(f"Model version {version.name} {number}")
            target = os.path.join(model_dir, f"version-{number}")
            staging = os.path.join(model_dir, f".trackyard-new-{secrets.token_hex(16)}")
            os.mkdir(staging)
            try:
                tags = [ModelVersionTag(k, v) for k, v in sorted(version.tags.items())]
                self._write_tags(os.path.join(staging, TAGS), tags, "model version tag")
                meta = {
                    "creation_timestamp": version.creation_timestamp,
                    "current_stage": version.current_stage,
                    "deployment_job_state": None,
                    "description": version.description,
                    "last_updated_timestamp": version.last_updated_timestamp,
                    "model_id": version.model_id,
                    "name": version.name,
                    "run_id": version.run_id,
                    "run_link": version.run_link,
                    "source": version.source,
                    "status": version.status,
                    "status_message": version.status_message,
                    "storage_location": version.storage_location,
                    "user_id": version.user_id,
                    "version": number,
                    "workspace": "default",
                }
                write_atomic(os.path.join(staging, META), dump_meta(meta), sync=self._sync_meta)
                os.rename(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
