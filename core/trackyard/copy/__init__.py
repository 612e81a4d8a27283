"""Lossless copy and sync between any two stores.

::

    import trackyard

    report = trackyard.copy_store("sqlite:///mlflow.db", "file:///data/mlruns")
    print(report.summary())

A copy keeps ids and times (experiments keep their ids where the destination can hold
them), writes every metric point, param, tag, dataset input, artifact file, registered
model, version (sources remapped to the copied runs' artifacts), alias and prompt, and
every trace with its spans and logged model when both stores keep them. It is
idempotent (a second copy writes nothing), resumable (a ``checkpoint`` file records what is
done) and incremental (new runs and points since the checkpoint are copied). The
destination must declare ``Capabilities(imports=True)``. See ``docs/copy.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from trackyard.copy._plan import Checkpoint, CopyReport, Endpoint, Progress
from trackyard.copy.compare import dump_store

if TYPE_CHECKING:
    from trackyard.entities import Run

__all__ = ["CopyReport", "copy_store", "dump_store", "sync_stores"]

_logger = logging.getLogger("trackyard.copy")

_NOT_COPIED = "(not copied yet)"  # the experiment of a run whose experiment is new


def copy_store(
    src_uri: str,
    dst_uri: str,
    *,
    experiment_ids: Sequence[str] | None = None,
    experiment_names: Sequence[str] | None = None,
    include_artifacts: bool = True,
    include_registry: bool = True,
    checkpoint: str | None = None,
    progress: bool | None = None,
    dst_artifact_root: str | None = None,
) -> CopyReport:
    """Copy what ``src_uri`` holds into ``dst_uri``, losslessly.

    Args:
        src_uri: the source store (any tracking URI; its registry store is copied too).
        dst_uri: the destination store; it must support imports (every built-in does).
        experiment_ids: copy only these experiments (with ``experiment_names``: either).
        experiment_names: copy only the experiments with these names.
        include_artifacts: copy artifact files (default True).
        include_registry: copy the model registry (default True; skipped when copying
            chosen experiments, as models are not scoped by experiment).
        checkpoint: a file that records what is done: a killed copy resumes from it, and
            a later copy with it only looks at what changed.
        progress: show a progress bar (None: on a terminal, when tqdm is installed).
        dst_artifact_root: the destination's artifact root (default: the configured one).

    Returns:
        What was written; ``report.written == 0`` when the destination had everything.

    Raises:
        TrackyardError: RESOURCE_ALREADY_EXISTS (or INVALID_STATE) when the destination holds
            a different run with one of the ids (checked before anything is written);
            FEATURE_DISABLED when the destination cannot import.
    """
    from trackyard.copy._models import LoggedModelCopier
    from trackyard.copy._registry import RegistryCopier
    from trackyard.copy._traces import TraceCopier
    from trackyard.copy._tracking import TrackingCopier, run_summary
    from trackyard.entities import LifecycleStage
    from trackyard.errors import ErrorCode, TrackyardError

    src = Endpoint.open(src_uri)
    dst = Endpoint.open(dst_uri, dst_artifact_root)
    if not dst.tracking.capabilities.imports:
        refusal = TrackyardError(
            f"{type(dst.tracking).__name__} cannot write runs with their own ids and times, "
            "so a lossless copy into it is impossible.",
            ErrorCode.FEATURE_DISABLED,
        )
        why = type(dst.tracking).explain_error(refusal, dst_uri)
        if why:
            refusal = TrackyardError(f"{refusal.message} {why}", ErrorCode.FEATURE_DISABLED)
        raise refusal
    report = CopyReport()
    marks = Checkpoint(checkpoint, src_uri, dst_uri)
    bar = Progress(progress)
    try:
        tracking = TrackingCopier(src, dst, marks, report, bar, include_artifacts=include_artifacts)
        traces = TraceCopier(src.tracking, dst.tracking, marks, report)
        models = LoggedModelCopier(src.tracking, dst.tracking, marks, report)
        source_map: dict[str, str] = {}
        plan = []
        for exp in tracking.experiments(experiment_ids, experiment_names):
            runs = tracking.source_runs(exp.experiment_id)
            plan.append((exp, runs))
            bar.add_total(len(runs))
        # Refuse a clash before writing anything.
        existing: dict[str, Run | None] = {}
        for exp, runs in plan:
            target = marks.get("experiment", exp.experiment_id)
            if target is None:
                by_name = dst.tracking.get_experiment_by_name(exp.name)
                target = by_name.experiment_id if by_name is not None else _NOT_COPIED
            for run in runs:
                if marks.get("run", run.info.run_id) != run_summary(run):
                    existing[run.info.run_id] = tracking.check_run(run, target)
        for exp, runs in plan:
            dst_exp = tracking.copy_experiment(exp)
            for run in runs:
                run_id = run.info.run_id
                if run.info.artifact_uri:
                    # A version source under the run's folder follows the run.
                    old = run.info.artifact_uri.rstrip("/").rsplit("/", 1)[0]
                    source_map[old] = f"{dst_exp.artifact_location.rstrip('/')}/{run_id}"
                if run_id in existing:
                    tracking.copy_run(run, dst_exp, existing[run_id])
                else:
                    report.runs_unchanged += 1
                bar.update()
            active = dst_exp.lifecycle_stage == LifecycleStage.ACTIVE
            traces.copy_experiment(exp.experiment_id, dst_exp.experiment_id, active)
            models.copy_experiment(
                exp.experiment_id, dst_exp.experiment_id, dst_exp.artifact_location, active
            )
        chosen = experiment_ids or experiment_names
        if include_registry and not chosen and src.registry is not None:
            if dst.registry is None:
                raise TrackyardError(
                    f"{dst_uri!r} has no model registry to copy the source's into.",
                    ErrorCode.FEATURE_DISABLED,
                )
            RegistryCopier(src.registry, dst.registry, marks, report, source_map).copy_all()
    finally:
        bar.close()
        marks.close()
    return report


def sync_stores(
    src_uri: str,
    dst_uri: str,
    *,
    checkpoint: str,
    interval: float = 60.0,
    once: bool = False,
    include_artifacts: bool = True,
    on_pass: Callable[[CopyReport], None] | None = None,
    max_passes: int | None = None,
) -> CopyReport:
    """Copy new data from ``src_uri`` to ``dst_uri`` every ``interval`` seconds.

    Each pass is an incremental :func:`copy_store` with ``checkpoint``. Returns the last
    pass's report (after one pass when ``once``, or ``max_passes``); ``on_pass`` sees each.
    A pass that cannot reach the destination (TEMPORARILY_UNAVAILABLE: a server that is down,
    a laptop offline) is logged and tried again at the next interval, unless ``once`` or it
    was the last pass; any other error stops the sync.
    """
    from trackyard.errors import ErrorCode, TrackyardError

    passes = 0
    while True:
        try:
            report = copy_store(
                src_uri,
                dst_uri,
                include_artifacts=include_artifacts,
                checkpoint=checkpoint,
                progress=False,
            )
        except TrackyardError as exc:
            passes += 1
            last = once or (max_passes is not None and passes >= max_passes)
            if last or exc.error_code != ErrorCode.TEMPORARILY_UNAVAILABLE:
                raise
            _logger.warning("sync pass failed, retrying in %s s: %s", interval, exc.message)
            time.sleep(interval)
            continue
        passes += 1
        if on_pass is not None:
            on_pass(report)
        if once or (max_passes is not None and passes >= max_passes):
            return report
        time.sleep(interval)
