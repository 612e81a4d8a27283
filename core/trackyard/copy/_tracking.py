"""Copying experiments and runs (with their params, tags, metric histories, inputs, artifacts)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.copy._artifacts import copy_artifacts
from trackyard.copy._gc import collection_paused
from trackyard.copy._plan import Checkpoint, CopyReport, Endpoint, Progress, digest, join_uri, pages
from trackyard.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

__all__ = ["TrackingCopier", "metric_identity", "run_summary"]

DEFAULT_EXPERIMENT_NAME = "Default"


def metric_identity(m: Metric) -> tuple[str, Any, int, int]:
    """What makes two points the same point (NaN equals NaN)."""
    return (m.key, "nan" if m.value != m.value else m.value, m.timestamp, m.step)


def _run_points(points: list[Metric]) -> list[Metric]:
    """A run's points without their logged-model links (models are copied with their own)."""
    return [dataclasses.replace(m, model_id=None) if m.model_id else m for m in points]


def run_summary(run: Run) -> str:
    """A digest of what a run listing shows of a run (info, params, tags, latest metrics,
    inputs): unchanged digest, nothing new to copy (see the copy guide for the exception).
    """
    info = dataclasses.asdict(run.info)
    info.pop("artifact_uri", None)
    return digest(
        {
            "info": info,
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": sorted(metric_identity(m) for m in run.data.metric_objects),
            "inputs": repr(run.inputs.dataset_inputs),
        }
    )


def _is_missing(exc: TrackyardError) -> bool:
    return exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST


def _conflict(message: str) -> TrackyardError:
    return TrackyardError(message, ErrorCode.RESOURCE_ALREADY_EXISTS)


class TrackingCopier:
    """Copies the tracking side of one store into another."""

    def __init__(
        self,
        src: Endpoint,
        dst: Endpoint,
        checkpoint: Checkpoint,
        report: CopyReport,
        progress: Progress,
        *,
        include_artifacts: bool,
    ) -> None:
        self.src: TrackingStore = src.tracking
        self.dst: TrackingStore = dst.tracking
        self.src_uri, self.dst_uri = src.uri, dst.uri
        self.checkpoint = checkpoint
        self.report = report
        self.progress = progress
        self.include_artifacts = include_artifacts
        self.run_artifacts: dict[str, tuple[str | None, str]] = {}

    # -- experiments -------------------------------------------------------------------------
    def experiments(
        self, ids: Sequence[str] | None, names: Sequence[str] | None
    ) -> list[Experiment]:
        """The source experiments to copy (all of them when neither ids nor names are given)."""
        from trackyard.search.request import ExperimentSearch

        every = list(
            pages(
                lambda token: self.src.search_experiments(
                    ExperimentSearch.parse(view_type=ViewType.ALL, page_token=token)
                )
            )
        )
        if not ids and not names:
            return every
        wanted_ids, wanted_names = set(ids or ()), set(names or ())
        chosen = [e for e in every if e.experiment_id in wanted_ids or e.name in wanted_names]
        missing = (
            (wanted_ids | wanted_names)
            - {e.experiment_id for e in chosen}
            - {e.name for e in chosen}
        )
        if missing:
            raise TrackyardError(
                f"The source has no experiment named or numbered {sorted(missing)!r}.",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        return chosen

    def copy_experiment(self, exp: Experiment) -> Experiment:
        """Make sure the destination holds ``exp``; return the destination's experiment."""
        dst = self.dst
        by_name = dst.get_experiment_by_name(exp.name)
        if by_name is not None:
            self._update_experiment(exp, by_name)
        else:
            target = exp.experiment_id
            try:
                dst.get_experiment(target)
                target = dst.new_experiment_id()  # the id is another experiment's
            except TrackyardError as exc:
                if not _is_missing(exc):
                    raise
            try:
                self._import_experiment(exp, target)
            except TrackyardError as exc:
                if exc.error_code != ErrorCode.INVALID_PARAMETER_VALUE:
                    raise
                target = dst.new_experiment_id()  # this store cannot hold that id
                self._import_experiment(exp, target)
            by_name = dst.get_experiment(target)
            self.report.experiments += 1
        self.report.experiment_map[exp.experiment_id] = by_name.experiment_id
        self.checkpoint.record("experiment", exp.experiment_id, by_name.experiment_id)
        return by_name

    def _import_experiment(self, exp: Experiment, target: str) -> None:
        location = self.dst.import_artifact_location(target)
        self.dst.import_experiment(
            dataclasses.replace(exp, experiment_id=target, artifact_location=location)
        )

    def _update_experiment(self, exp: Experiment, current: Experiment) -> None:
        """Bring an existing destination experiment's tags and stage in line with ``exp``."""
        from trackyard.entities import ExperimentTag

        dst, eid = self.dst, current.experiment_id
        changed = {k: v for k, v in exp.tags.items() if current.tags.get(k) != v}
        if changed and current.lifecycle_stage == LifecycleStage.ACTIVE:
            for key, value in sorted(changed.items()):
                dst.set_experiment_tag(eid, ExperimentTag(key, value))
            self.report.tags += len(changed)
        if exp.lifecycle_stage != current.lifecycle_stage and exp.name != DEFAULT_EXPERIMENT_NAME:
            if exp.lifecycle_stage == LifecycleStage.DELETED:
                dst.delete_experiment(eid)
            else:
                dst.restore_experiment(eid)

    # -- runs --------------------------------------------------------------------------------
    def source_runs(self, experiment_id: str) -> list[Run]:
        """Every run of a source experiment, deleted ones included, oldest first."""
        from trackyard.search.request import RunSearch

        return list(
            pages(
                lambda token: self.src.search_runs(
                    RunSearch.parse(
                        [experiment_id],
                        view_type=ViewType.ALL,
                        order_by=["attributes.start_time ASC"],
                        max_results=1000,
                        page_token=token,
                    )
                )
            )
        )

    def check_run(self, run: Run, dst_experiment_id: str) -> Run | None:
        """The destination's run with ``run``'s id (None if absent) after checking that it is
        the same run; refuses a different one before anything is written.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when the destination holds another run
                with this id (another experiment, start time or user), INVALID_STATE when a
                param of it has another value.
        """
        try:
            other = self.dst.get_run(run.info.run_id)
        except TrackyardError as exc:
            if _is_missing(exc):
                return None
            raise
        mine, theirs = run.info, other.info
        if (mine.start_time, mine.user_id, dst_experiment_id) != (
            theirs.start_time,
            theirs.user_id,
            theirs.experiment_id,
        ):
            raise _conflict(
                f"The destination already holds a different run with id {mine.run_id!r} "
                f"(experiment {theirs.experiment_id}, started {theirs.start_time} by "
                f"{theirs.user_id!r}; the source's: experiment {dst_experiment_id}, started "
                f"{mine.start_time} by {mine.user_id!r}); nothing was copied."
            )
        for key, value in run.data.params.items():
            theirs_value = other.data.params.get(key)
            if theirs_value is not None and theirs_value != value:
                raise TrackyardError(
                    f"The destination's run {mine.run_id!r} has param {key!r} = "
                    f"{theirs_value!r}, the source's {value!r}: they are different runs; "
                    "nothing was copied.",
                    ErrorCode.INVALID_STATE,
                )
        return other

    def copy_run(self, run: Run, dst_exp: Experiment, existing: Run | None) -> None:
        """Copy one run: created when absent, completed when the destination has part of it."""
        run_id = run.info.run_id
        summary = run_summary(run)
        keys = sorted(run.data.metrics)
        artifact_uri = join_uri(dst_exp.artifact_location, run_id, "artifacts")
        info = dataclasses.replace(
            run.info, experiment_id=dst_exp.experiment_id, artifact_uri=artifact_uri
        )
        if existing is None:
            dataset_inputs = run.inputs.dataset_inputs if self._datasets() else ()
            with collection_paused():  # many short-lived, acyclic objects (see _gc)
                points = _run_points(self.src.read_metric_points(run_id, keys))
                self.dst.import_run(
                    Run(info, run.data, RunInputs(dataset_inputs=dataset_inputs), RunOutputs()),
                    points,
                )
            self.report.runs += 1
            self.report.metric_points += len(points)
            self.report.params += len(run.data.params)
            self.report.tags += len(run.data.tags)
        else:
            with collection_paused():
                self._complete_run(run, info, existing, keys)
            artifact_uri = existing.info.artifact_uri or artifact_uri
        if self.include_artifacts:
            files, size = copy_artifacts(
                run.info.artifact_uri, artifact_uri, self.src_uri, self.dst_uri
            )
            self.report.artifacts += files
            self.report.artifact_bytes += size
        self.checkpoint.record("run", run_id, summary)

    def _datasets(self) -> bool:
        return self.src.capabilities.datasets and self.dst.capabilities.datasets

    def _complete_run(self, run: Run, info: RunInfo, existing: Run, keys: list[str]) -> None:
        run_id = run.info.run_id
        src_points = _run_points(self.src.read_metric_points(run_id, keys))
        have = Counter(map(metric_identity, self.dst.read_metric_points(run_id, keys)))
        new_points = []
        for point in src_points:
            ident = metric_identity(point)
            if have[ident]:
                have[ident] -= 1
            else:
                new_points.append(point)
        params = [
            Param(k, v) for k, v in sorted(run.data.params.items()) if k not in existing.data.params
        ]
        tags = [
            RunTag(k, v) for k, v in sorted(run.data.tags.items()) if existing.data.tags.get(k) != v
        ]
        changed = bool(new_points or params or tags)
        if changed:
            self.dst.import_run_data(run_id, new_points, RunData(params=params, tags=tags))
            self.report.metric_points += len(new_points)
            self.report.params += len(params)
            self.report.tags += len(tags)
        mine, theirs = info, existing.info
        if (mine.status, mine.end_time, mine.run_name, mine.lifecycle_stage) != (
            theirs.status,
            theirs.end_time,
            theirs.run_name,
            theirs.lifecycle_stage,
        ):
            self.dst.import_run_info(info)
            changed = True
        missing_inputs = [
            i for i in run.inputs.dataset_inputs if i not in existing.inputs.dataset_inputs
        ]
        if missing_inputs and self._datasets():
            from trackyard._import_store import active_for_write

            with active_for_write(self.dst, run_id):
                self.dst.log_inputs(run_id, missing_inputs)
            changed = True
        if changed:
            self.report.runs_updated += 1
        else:
            self.report.runs_unchanged += 1
