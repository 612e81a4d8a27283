"""The in-process tracking store: ``memory://<name>``.

Design:

- Data lives in Python objects inside a :class:`~trackyard_memory._spaces.Space`; every
  operation holds the space's re-entrant lock, so a store is safe to share between threads.
- Every write checks everything first (the run exists and is active, no param changes value,
  no name is taken) and only then mutates, all under the lock: a failed ``log_batch`` writes
  nothing, so the store honestly declares ``transactions=True``. It is one process's memory, so
  it declares ``concurrent_processes=False``.
- Reads return fresh entity objects: callers can change what they get without touching the
  store.
- Search uses trackyard's reference evaluator (:mod:`trackyard.search`), so results are by
  definition the ones every backend must return.
- Experiment ids count up from 1 per space ("0" is the Default experiment); run ids are
  ``uuid4().hex``, as MLflow's.
- Metrics follow MLflow's rules: identical points (key, value, timestamp, step) are stored
  once; the latest value of a key is the point with the greatest ``(step, timestamp, value)``,
  NaN counting as 0; history is ordered by ``(timestamp, step, value)``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trackyard import config, search
from trackyard.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import experiment_exists as _experiment_exists
from trackyard.errors import experiment_not_found as _experiment_not_found
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import not_active as _not_active
from trackyard.errors import run_not_found as _run_not_found
from trackyard.search import ExperimentSearch, RunSearch
from trackyard.stores import Capabilities, TrackingStore, new_run_tags, now_ms
from trackyard.validation import validate_history_paging

from trackyard_memory._spaces import Space, get_space, parse_memory_uri
from trackyard_memory.gc import MemoryGc
from trackyard_memory.importing import MemoryTrackingImports
from trackyard_memory.logged_models import MemoryLoggedModels
from trackyard_memory.run_inputs import MemoryRunInputs
from trackyard_memory.traces import MemoryTraceMixin

__all__ = ["MemoryTrackingStore"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
_RUN_NAME_TAG = "mlflow.runName"
_ARTIFACTS_FOLDER = "artifacts"
_TRACKING = "tracking"


def _join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _absolute_location(location: str) -> str:
    """Make a bare relative path absolute; leave URIs (``s3://``, ``memory://``...) alone."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:", location):
        return location
    return os.path.abspath(location)


def _rank_value(value: float) -> float:
    """A metric value as it takes part in ordering: NaN counts as 0 (MLflow's rule)."""
    return 0.0 if value != value else value


def _copy_metric(m: Metric) -> Metric:
    return Metric(
        m.key,
        m.value,
        m.timestamp,
        m.step,
        model_id=m.model_id,
        dataset_name=m.dataset_name,
        dataset_digest=m.dataset_digest,
    )


class _History:
    """Every distinct point of one metric of one run."""

    __slots__ = ("is_sorted", "points", "seen")

    def __init__(self) -> None:
        self.points: list[Metric] = []
        self.seen: set[tuple[Any, int, int]] = set()
        self.is_sorted = True

    @staticmethod
    def identity(m: Metric) -> tuple[Any, int, int]:
        """What makes two points the same point (NaN equals NaN)."""
        return ("nan" if m.value != m.value else m.value, m.timestamp, m.step)

    @staticmethod
    def order(m: Metric) -> tuple[int, int, float]:
        return (m.timestamp, m.step, _rank_value(m.value))

    def add(self, m: Metric) -> bool:
        """Store ``m`` unless an identical point is stored; return whether it was new."""
        ident = self.identity(m)
        if ident in self.seen:
            return False
        self.seen.add(ident)
        if self.points and self.is_sorted and self.order(m) < self.order(self.points[-1]):
            self.is_sorted = False
        self.points.append(m)
        return True

    def ordered(self) -> list[Metric]:
        """The points ordered by (timestamp, step, value)."""
        if not self.is_sorted:
            self.points.sort(key=self.order)
            self.is_sorted = True
        return self.points


@dataclass
class _Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    def entity(self) -> Experiment:
        return Experiment(
            experiment_id=self.experiment_id,
            name=self.name,
            artifact_location=self.artifact_location,
            lifecycle_stage=self.lifecycle_stage,
            tags=dict(self.tags),
            creation_time=self.creation_time,
            last_update_time=self.last_update_time,
        )


@dataclass
class _Run:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    deleted_time: int | None = None
    deleted_with_experiment: bool = False
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    history: dict[str, _History] = field(default_factory=dict)
    latest: dict[str, Metric] = field(default_factory=dict)
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)
    model_outputs: list[LoggedModelOutput] = field(default_factory=list)

    def info(self) -> RunInfo:
        return RunInfo(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            user_id=self.user_id,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            lifecycle_stage=self.lifecycle_stage,
            artifact_uri=self.artifact_uri,
            run_name=self.run_name,
        )

    def entity(self) -> Run:
        return Run(
            self.info(),
            RunData(
                metrics=[_copy_metric(m) for m in self.latest.values()],
                params=[Param(k, v) for k, v in self.params.items()],
                tags=[RunTag(k, v) for k, v in self.tags.items()],
            ),
            RunInputs(tuple(self.dataset_inputs), tuple(self.model_inputs)),
            RunOutputs(tuple(self.model_outputs)),
        )


class _TrackingData:
    """The tracking part of a space."""

    def __init__(self, artifact_root: str) -> None:
        self.artifact_root = artifact_root
        self.experiments: dict[str, _Experiment] = {}
        self.by_name: dict[str, str] = {}
        self.runs: dict[str, _Run] = {}
        self.next_experiment_id = 1
        now = now_ms()
        self.experiments[DEFAULT_EXPERIMENT_ID] = _Experiment(
            experiment_id=DEFAULT_EXPERIMENT_ID,
            name=DEFAULT_EXPERIMENT_NAME,
            artifact_location=_join_uri(artifact_root, DEFAULT_EXPERIMENT_ID),
            lifecycle_stage=LifecycleStage.ACTIVE,
            creation_time=now,
            last_update_time=now,
        )
        self.by_name[DEFAULT_EXPERIMENT_NAME] = DEFAULT_EXPERIMENT_ID


def _chooses_default_root(artifact_uri: str | None) -> bool:
    """Whether ``artifact_uri`` is trackyard's default root rather than the user's choice."""
    if artifact_uri is None:
        return True
    if config.get_artifact_root() != config.DEFAULT_ARTIFACT_ROOT:
        return False  # TRACKYARD_ARTIFACT_ROOT is set: the user chose a root
    default = config.DEFAULT_ARTIFACT_ROOT
    return artifact_uri.rstrip("/") in (default, os.path.abspath(default))


class MemoryTrackingStore(
    MemoryGc,
    MemoryTrackingImports,
    MemoryTraceMixin,
    MemoryLoggedModels,
    MemoryRunInputs,
    TrackingStore,
):
    """MLflow's tracking store API over plain Python objects in this process.

    Args:
        store_uri: ``memory://<name>``: every store of one name in a process shares its data
            (until :func:`trackyard_memory.reset`). ``memory://`` alone gives an anonymous
            store whose data belongs to this instance and goes away with :meth:`close`.
        artifact_uri: the default artifact root of new experiments. Left at trackyard's
            default (``TRACKYARD_ARTIFACT_ROOT`` unset), artifacts go to fsspec's memory
            filesystem under ``memory://trackyard-memory/<name>/``; any other value (a path,
            ``s3://...``) is used as given.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a malformed ``memory://`` URI.
    """

    capabilities = Capabilities(
        transactions=True,
        search_or=True,
        logged_models=True,
        datasets=True,
        traces=True,
        assessments=True,
        gc=True,
        imports=True,
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        store_uri = store_uri or "memory://"
        self._space: Space = get_space(parse_memory_uri(store_uri))
        if _chooses_default_root(artifact_uri):
            root = self._space.artifact_root
        else:
            root = _absolute_location(str(artifact_uri)).rstrip("/") or str(artifact_uri)
        super().__init__(store_uri, root)
        self._lock = self._space.lock
        self._closed = False

    @property
    def name(self) -> str | None:
        """The space name (``"team"`` for ``memory://team``), None when anonymous."""
        return self._space.name

    def _data(self) -> _TrackingData:
        root = str(self.artifact_uri)
        return self._space.part(_TRACKING, lambda: _TrackingData(root))

    def close(self) -> None:
        """Forget an anonymous store's data; a named store's data stays for other instances."""
        if self._space.name is None and not self._closed:
            from trackyard_memory._spaces import delete_artifacts

            self._space.clear()
            delete_artifacts(self._space)
        self._closed = True

    # ---------------------------------------------------------------------------------------
    # Lookups (callers hold the lock)

    @staticmethod
    def _experiment(data: _TrackingData, experiment_id: str) -> _Experiment:
        exp = data.experiments.get(str(experiment_id))
        if exp is None:
            raise _experiment_not_found(experiment_id)
        return exp

    def _active_experiment(self, data: _TrackingData, experiment_id: str) -> _Experiment:
        exp = self._experiment(data, experiment_id)
        if exp.lifecycle_stage != LifecycleStage.ACTIVE:
            raise _not_active("experiment", experiment_id, exp.lifecycle_stage)
        return exp

    @staticmethod
    def _run(data: _TrackingData, run_id: str) -> _Run:
        run = data.runs.get(run_id)
        if run is None:
            raise _run_not_found(run_id)
        return run

    def _active_run(self, data: _TrackingData, run_id: str) -> _Run:
        run = self._run(data, run_id)
        if run.lifecycle_stage != LifecycleStage.ACTIVE:
            raise _not_active("run", run_id, run.lifecycle_stage)
        return run

    # ---------------------------------------------------------------------------------------
    # Experiments

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """Create an experiment and return its id.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS if the name is taken, even by a deleted
                experiment.
        """
        location = _absolute_location(artifact_location) if artifact_location else None
        tag_map = {t.key: t.value for t in tags or ()}
        with self._lock:
            data = self._data()
            if name in data.by_name:
                raise _experiment_exists(name)
            experiment_id = str(data.next_experiment_id)
            data.next_experiment_id += 1
            now = now_ms()
            data.experiments[experiment_id] = _Experiment(
                experiment_id=experiment_id,
                name=name,
                artifact_location=location or _join_uri(data.artifact_root, experiment_id),
                lifecycle_stage=LifecycleStage.ACTIVE,
                creation_time=now,
                last_update_time=now,
                tags=tag_map,
            )
            data.by_name[name] = experiment_id
            return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._lock:
            return self._experiment(self._data(), experiment_id).entity()

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Return the experiment with this name (active or deleted), or None."""
        with self._lock:
            data = self._data()
            experiment_id = data.by_name.get(experiment_name)
            return None if experiment_id is None else data.experiments[experiment_id].entity()

    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """Return the page of experiments ``request`` asks for (trackyard's evaluator)."""
        stages = ViewType.to_lifecycle_stages(request.view_type)
        with self._lock:
            pool = [
                exp.entity()
                for exp in self._data().experiments.values()
                if exp.lifecycle_stage in stages
            ]
        return search.search_experiments_in_memory(pool, request)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an active experiment and its active runs deleted."""
        with self._lock:
            data = self._data()
            exp = self._experiment(data, experiment_id)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise _experiment_not_found(experiment_id)
            now = now_ms()
            exp.lifecycle_stage = LifecycleStage.DELETED
            exp.last_update_time = now
            for run_id in exp.run_ids:
                run = data.runs[run_id]
                if run.lifecycle_stage == LifecycleStage.ACTIVE:
                    run.lifecycle_stage = LifecycleStage.DELETED
                    run.deleted_time = now
                    run.deleted_with_experiment = True

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and the runs its deletion marked deleted."""
        with self._lock:
            data = self._data()
            exp = self._experiment(data, experiment_id)
            if exp.lifecycle_stage != LifecycleStage.DELETED:
                raise _experiment_not_found(experiment_id)
            exp.lifecycle_stage = LifecycleStage.ACTIVE
            exp.last_update_time = now_ms()
            for run_id in exp.run_ids:
                run = data.runs[run_id]
                # Runs deleted on their own before the experiment keep their state.
                if run.deleted_with_experiment:
                    run.lifecycle_stage = LifecycleStage.ACTIVE
                    run.deleted_time = None
                    run.deleted_with_experiment = False

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; the new name must be free."""
        with self._lock:
            data = self._data()
            exp = self._active_experiment(data, experiment_id)
            if exp.name == new_name:
                return
            if new_name in data.by_name:
                raise _experiment_exists(new_name)
            del data.by_name[exp.name]
            data.by_name[new_name] = exp.experiment_id
            exp.name = new_name
            exp.last_update_time = now_ms()

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) a tag of an active experiment."""
        with self._lock:
            self._active_experiment(self._data(), experiment_id).tags[tag.key] = tag.value

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete a tag of an active experiment (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._lock:
            exp = self._active_experiment(self._data(), experiment_id)
            if key not in exp.tags:
                raise TrackyardError(
                    f"No tag with name: {key} in experiment with id {experiment_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            del exp.tags[key]

    # ---------------------------------------------------------------------------------------
    # Runs

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a run in an active experiment; its name and ``mlflow.runName`` agree."""
        tag_map, name = new_run_tags(tags, run_name)
        run_id = uuid.uuid4().hex
        with self._lock:
            data = self._data()
            exp = self._active_experiment(data, experiment_id)
            run = _Run(
                run_id=run_id,
                experiment_id=exp.experiment_id,
                run_name=name,
                user_id=user_id,
                status=RunStatus.to_string(RunStatus.RUNNING),
                start_time=start_time,
                end_time=None,
                lifecycle_stage=LifecycleStage.ACTIVE,
                artifact_uri=_join_uri(exp.artifact_location, run_id, _ARTIFACTS_FOLDER),
                tags=tag_map,
            )
            data.runs[run_id] = run
            exp.run_ids.append(run_id)
            return run.entity()

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags."""
        with self._lock:
            return self._run(self._data(), run_id).entity()

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status and end time, and the name (and its tag) when given."""
        status = RunStatus.to_string(run_status)
        with self._lock:
            run = self._active_run(self._data(), run_id)
            run.status = status
            run.end_time = end_time
            if run_name:
                run.run_name = run_name
                run.tags[_RUN_NAME_TAG] = run_name
            return run.info()

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (deleting a deleted run keeps its first deletion time)."""
        with self._lock:
            run = self._run(self._data(), run_id)
            if run.lifecycle_stage == LifecycleStage.ACTIVE:
                run.lifecycle_stage = LifecycleStage.DELETED
                run.deleted_time = now_ms()

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        with self._lock:
            run = self._run(self._data(), run_id)
            run.lifecycle_stage = LifecycleStage.ACTIVE
            run.deleted_time = None
            run.deleted_with_experiment = False

    # ---------------------------------------------------------------------------------------
    # Logging

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """Write metrics, params and tags to an active run: all of it, or nothing.

        Identical metric points are stored once; a param re-logged with a different value is
        INVALID_PARAMETER_VALUE, and then nothing of the batch is written.
        """
        new_params: dict[str, str] = {}
        for p in params:
            seen = new_params.get(p.key)
            if seen is not None and seen != p.value:
                raise _invalid(
                    f"Duplicate parameter keys with different values in one batch: {p.key!r} "
                    f"({seen!r} and {p.value!r})."
                )
            new_params[p.key] = p.value
        tag_map = {t.key: t.value for t in tags}
        points = [_copy_metric(m) for m in metrics]
        with self._lock:
            data = self._data()
            run = self._active_run(data, run_id)
            # 1. check: nothing below this block may fail.
            self._check_model_metrics(data, points)
            for key, value in new_params.items():
                old = run.params.get(key)
                if old is not None and old != value:
                    raise _invalid(
                        "Changing param values is not allowed. Param with key="
                        f"{key!r} was already logged with value={old!r} for run ID={run_id!r}. "
                        f"Attempted logging new value {value!r}."
                    )
            # 2. apply.
            self._record_model_metrics(data, run_id, points)
            run.params.update(new_params)
            if tag_map:
                run.tags.update(tag_map)
                new_name = tag_map.get(_RUN_NAME_TAG)
                if new_name is not None:
                    run.run_name = new_name
            for m in points:
                history = run.history.get(m.key)
                if history is None:
                    history = run.history[m.key] = _History()
                if not history.add(m):
                    continue
                best = run.latest.get(m.key)
                if best is None or (m.step, m.timestamp, _rank_value(m.value)) > (
                    best.step,
                    best.timestamp,
                    _rank_value(best.value),
                ):
                    run.latest[m.key] = m

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag of an active run (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._lock:
            run = self._active_run(self._data(), run_id)
            if key not in run.tags:
                raise TrackyardError(
                    f"No tag with name: {key} in run with id {run_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            del run.tags[key]

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Return the points of one metric ordered by (timestamp, step, value)."""
        offset = validate_history_paging(max_results, page_token)
        with self._lock:
            run = self._run(self._data(), run_id)
            history = run.history.get(metric_key)
            points = history.ordered() if history is not None else []
            end = len(points) if max_results is None else offset + max_results
            page = [_copy_metric(m) for m in points[offset:end]]
            token = search.encode_page_token(end) if end < len(points) else None
        return PagedList(page, token)

    # ---------------------------------------------------------------------------------------
    # Search

    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """Return the page of runs ``request`` asks for (trackyard's evaluator)."""
        stages = ViewType.to_lifecycle_stages(request.view_type)
        with self._lock:
            data = self._data()
            pool: list[Run] = []
            for experiment_id in dict.fromkeys(request.experiment_ids):
                exp = data.experiments.get(experiment_id)
                if exp is None:
                    continue
                for run_id in exp.run_ids:
                    run = data.runs[run_id]
                    if run.lifecycle_stage in stages:
                        pool.append(run.entity())
        return search.search_runs_in_memory(pool, request)

    def __repr__(self) -> str:
        return f"MemoryTrackingStore({self.store_uri!r})"
