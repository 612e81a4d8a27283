"""Garbage collection in the file store: deleted runs and experiments removed for good.

Deletion times are where MLflow's file store keeps them: a run's ``deleted_time`` in its
``meta.yaml`` (set by ``delete_run`` and by deleting its experiment), an experiment's
``last_update_time`` (set by ``delete_experiment``). Runs deleted by an old tool without a
``deleted_time`` have no known deletion time.

A hard delete first renames the folder to a hidden name beside it (one atomic step: from
then on neither trackyard nor MLflow sees the run or experiment), then removes it. A folder
left behind by a crash between the two steps is hidden and removed by the next hard delete
in the same parent folder. Everything of a run lives in its folder (params, metrics, tags,
inputs, outputs, default artifacts); an experiment's folder holds its runs, datasets,
traces and logged models. Datasets of an experiment stay when one of its runs goes (as in
MLflow).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage, ViewType
from trackyard.errors import TrackyardError
from trackyard.errors import invalid_parameter as _invalid
from trackyard.stores import DeletedExperiment, DeletedRun, deleted_in_time
from trackyard_file._fs import FileLock, writes
from trackyard_file._layout import META, opt_int

if TYPE_CHECKING:
    from trackyard.entities import Experiment

__all__ = ["FileGc"]

_GONE_PREFIX = ".gc-"


def _stage(meta: dict[str, Any]) -> str:
    return str(meta.get("lifecycle_stage") or LifecycleStage.ACTIVE)


def _remove(directory: str) -> None:
    """Hide ``directory`` by renaming it, then delete it and earlier leftovers beside it."""
    parent = os.path.dirname(directory)
    hidden = os.path.join(parent, f"{_GONE_PREFIX}{uuid.uuid4().hex}")
    os.rename(directory, hidden)
    with os.scandir(parent) as it:
        leftovers = [e.path for e in it if e.name.startswith(_GONE_PREFIX)]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=path != hidden)


class FileGc:
    """Listing and hard-deleting deleted runs and experiments (mixed into the store)."""

    if TYPE_CHECKING:
        _run_dirs: dict[str, str]
        _states: dict[str, Any]
        _metric_cache: dict[str, Any]

        def _root_lock(self, *, shared: bool = False) -> FileLock: ...
        def _experiment_dirs(self) -> Iterator[tuple[str, str]]: ...
        def _run_folders(self, experiment_dir: str) -> Iterator[str]: ...
        def _read_meta(self, path: str) -> dict[str, Any]: ...
        def _all_experiments(self, view_type: int = ViewType.ALL) -> list[Experiment]: ...
        def _require_experiment(self, experiment_id: str) -> tuple[str, dict[str, Any]]: ...
        def _write_run(self, run_id: str) -> Any: ...
        def close(self) -> None: ...

    def _run_metas(self, experiment_dir: str) -> Iterator[dict[str, Any]]:
        """The meta.yaml of each run folder of an experiment that names its own run."""
        for run_dir in self._run_folders(experiment_dir):
            try:
                meta = self._read_meta(os.path.join(run_dir, META))
            except (FileNotFoundError, NotADirectoryError, TrackyardError):
                continue
            if (meta.get("run_id") or meta.get("run_uuid")) == os.path.basename(run_dir):
                yield meta

    def deleted_runs(
        self,
        deleted_before: int | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> list[DeletedRun]:
        """Runs in the deleted stage, deleted at or before ``deleted_before`` (by run id)."""
        wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}
        found = []
        for experiment_id, directory in self._experiment_dirs():
            if wanted is not None and experiment_id not in wanted:
                continue
            for meta in self._run_metas(directory):
                deleted_time = opt_int(meta.get("deleted_time"))
                if _stage(meta) == LifecycleStage.DELETED and deleted_in_time(
                    deleted_time, deleted_before
                ):
                    found.append(
                        DeletedRun(
                            str(meta.get("run_id") or meta.get("run_uuid")),
                            experiment_id,
                            str(meta.get("artifact_uri") or ""),
                            deleted_time,
                        )
                    )
        return sorted(found, key=lambda r: r.run_id)

    def deleted_experiments(self, deleted_before: int | None = None) -> list[DeletedExperiment]:
        """Experiments in the deleted stage, deleted at or before ``deleted_before``."""
        dirs = dict(self._experiment_dirs())
        found = []
        for exp in self._all_experiments(ViewType.DELETED_ONLY):
            if not deleted_in_time(exp.last_update_time, deleted_before):
                continue
            active = sum(
                _stage(meta) == LifecycleStage.ACTIVE
                for meta in self._run_metas(dirs[exp.experiment_id])
            )
            found.append(
                DeletedExperiment(
                    exp.experiment_id,
                    exp.name,
                    exp.artifact_location,
                    exp.last_update_time,
                    active,
                )
            )
        return sorted(found, key=lambda e: (len(e.experiment_id), e.experiment_id))

    @writes
    def hard_delete_run(self, run_id: str) -> None:
        """Remove a deleted run's folder (under its lock)."""
        with self._write_run(run_id) as w:
            if w.stage != LifecycleStage.DELETED:
                raise _invalid(
                    f"Run {run_id} is not in the deleted lifecycle stage; only deleted runs "
                    "can be removed for good."
                )
            _remove(w.run_dir)
            self._run_dirs.pop(run_id, None)
            self._states.pop(w.run_dir, None)
            self._metric_cache.pop(w.run_dir, None)

    @writes
    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment's folder with everything in it (under the root lock)."""
        with self._root_lock():
            directory, meta = self._require_experiment(experiment_id)
            if _stage(meta) != LifecycleStage.DELETED:
                raise _invalid(
                    f"Experiment {experiment_id} is not in the deleted lifecycle stage; only "
                    "deleted experiments can be removed for good."
                )
            if any(_stage(m) == LifecycleStage.ACTIVE for m in self._run_metas(directory)):
                raise _invalid(
                    f"Experiment {experiment_id} still holds active runs; delete them before "
                    "removing it for good."
                )
            _remove(directory)
        self.close()  # forget cached folders, runs and traces of the experiment
