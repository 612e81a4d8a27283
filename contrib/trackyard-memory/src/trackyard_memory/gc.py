"""Garbage collection in the in-process store: deleted runs and experiments removed for good.

A run's deletion time is the ``deleted_time`` ``delete_run`` (or deleting its experiment)
recorded, an experiment's its ``last_update_time``. A run goes with its params, metrics,
tags, inputs and outputs (they live on the run object); an experiment with its runs, its
traces and its logged models, and its name becomes free. Everything happens under the
space's lock, checks first, so a refused call changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage
from trackyard.errors import invalid_parameter as _invalid
from trackyard.stores import DeletedExperiment, DeletedRun, deleted_in_time

if TYPE_CHECKING:
    from trackyard_memory.tracking import _Experiment, _Run, _TrackingData

__all__ = ["MemoryGc"]


class MemoryGc:
    """Listing and hard-deleting deleted runs and experiments (mixed into the store)."""

    if TYPE_CHECKING:
        _lock: threading.RLock

        def _data(self) -> _TrackingData: ...
        def _traces(self) -> dict[str, Any]: ...
        def _experiment(self, data: _TrackingData, experiment_id: str) -> _Experiment: ...
        def _run(self, data: _TrackingData, run_id: str) -> _Run: ...

    def deleted_runs(
        self,
        deleted_before: int | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> list[DeletedRun]:
        """Runs in the deleted stage, deleted at or before ``deleted_before`` (by run id)."""
        wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}
        with self._lock:
            found = [
                DeletedRun(run.run_id, run.experiment_id, run.artifact_uri, run.deleted_time)
                for run in self._data().runs.values()
                if run.lifecycle_stage == LifecycleStage.DELETED
                and (wanted is None or run.experiment_id in wanted)
                and deleted_in_time(run.deleted_time, deleted_before)
            ]
        return sorted(found, key=lambda r: r.run_id)

    def deleted_experiments(self, deleted_before: int | None = None) -> list[DeletedExperiment]:
        """Experiments in the deleted stage, deleted at or before ``deleted_before``."""
        with self._lock:
            data = self._data()
            found = [
                DeletedExperiment(
                    exp.experiment_id,
                    exp.name,
                    exp.artifact_location,
                    exp.last_update_time,
                    sum(data.runs[r].lifecycle_stage == LifecycleStage.ACTIVE for r in exp.run_ids),
                )
                for exp in data.experiments.values()
                if exp.lifecycle_stage == LifecycleStage.DELETED
                and deleted_in_time(exp.last_update_time, deleted_before)
            ]
        return sorted(found, key=lambda e: int(e.experiment_id))

    def hard_delete_run(self, run_id: str) -> None:
        """Forget a deleted run and everything logged to it."""
        with self._lock:
            data = self._data()
            run = self._run(data, run_id)
            if run.lifecycle_stage != LifecycleStage.DELETED:
                raise _invalid(
                    f"Run {run_id} is not in the deleted lifecycle stage; only deleted runs "
                    "can be removed for good."
                )
            del data.runs[run_id]
            data.experiments[run.experiment_id].run_ids.remove(run_id)

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Forget a deleted experiment with its runs, traces and logged models."""
        with self._lock:
            data = self._data()
            exp = self._experiment(data, experiment_id)
            if exp.lifecycle_stage != LifecycleStage.DELETED:
                raise _invalid(
                    f"Experiment {experiment_id} is not in the deleted lifecycle stage; only "
                    "deleted experiments can be removed for good."
                )
            if any(data.runs[r].lifecycle_stage == LifecycleStage.ACTIVE for r in exp.run_ids):
                raise _invalid(
                    f"Experiment {experiment_id} still holds active runs; delete them before "
                    "removing it for good."
                )
            for run_id in exp.run_ids:
                del data.runs[run_id]
            traces = self._traces()
            for trace_id in [t for t, s in traces.items() if s.info.experiment_id == experiment_id]:
                del traces[trace_id]
            models: dict[str, Any] = getattr(data, "logged_models", None) or {}
            for model_id in [
                m for m, model in models.items() if model.experiment_id == exp.experiment_id
            ]:
                del models[model_id]
            del data.experiments[exp.experiment_id]
            if data.by_name.get(exp.name) == exp.experiment_id:
                del data.by_name[exp.name]
