"""Garbage collection: remove deleted runs and experiments for good, with their artifacts.

::

    from trackyard.gc import gc

    report = gc("sqlite:///mlflow.db", older_than="30d", dry_run=True)
    print(report.runs, report.experiments)

What goes (as MLflow's ``mlflow gc``): only runs and experiments in the ``deleted`` lifecycle
stage. Without ids, every run deleted at least ``older_than`` ago, and every experiment
deleted that long ago together with all its runs. With ``run_ids`` and/or
``experiment_ids``, exactly those (each must be deleted, and old enough when ``older_than``
is given), and nothing else; MLflow's ``gc --run-ids`` also removes every deleted experiment,
trackyard's does not. Input is checked in full before anything is removed: an unknown id, a
run or experiment that is not deleted, one deleted too recently, or a named experiment that
still holds an active run is refused with every offender listed.

How a run goes: its artifacts first, through the artifact repository of its artifact URI
(``delete_artifacts``), then its metadata in one store transaction
(:meth:`~trackyard.stores.TrackingStore.hard_delete_run`). A run whose artifacts cannot be
deleted (a repository without ``delete_artifacts``, an unknown scheme, a storage error, or
an artifact URI that does not name the run or holds an experiment's artifact location, so
deleting it could reach other data) keeps its metadata and is reported in
:attr:`GcReport.failures`; so is its experiment. An experiment goes after all its runs.
Experiments' own artifact locations are never deleted (they may be shared); a deleted
experiment that still holds an active run is left alone and reported in
:attr:`GcReport.skipped`.

``dry_run=True`` makes the same plan and checks, writes nothing, and reports what would go.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from trackyard.clock import now_ms
from trackyard.entities import LifecycleStage, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import DeletedExperiment, DeletedRun, unsupported

if TYPE_CHECKING:
    from trackyard.stores import ArtifactRepository, TrackingStore

__all__ = ["GcProblem", "GcReport", "collect", "gc", "parse_older_than"]

_logger = logging.getLogger("trackyard.gc")

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_OLDER_THAN = re.compile(
    rf"^(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?$", re.IGNORECASE
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_PROXY_SCHEME = "mlflow-artifacts"


@dataclass(frozen=True)
class GcProblem:
    """Something garbage collection left in place, and why.

    Attributes:
        kind: ``"run"`` or ``"experiment"``.
        id: its id.
        reason: why it was not removed.
    """

    kind: str
    id: str
    reason: str


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection removed (or, in a dry run, would remove).

    Attributes:
        dry_run: nothing was written.
        deleted_before: the cutoff (epoch ms) from ``older_than``, or None for none.
        runs: ids of the runs removed, in the order they went.
        experiments: ids of the experiments removed.
        failures: runs and experiments that should have gone but could not (artifacts
            that cannot be deleted, a store error); their metadata is kept.
        skipped: deleted experiments left alone on purpose (they hold an active run).
    """

    dry_run: bool
    deleted_before: int | None
    runs: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    failures: tuple[GcProblem, ...] = ()
    skipped: tuple[GcProblem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing that should have gone was left behind."""
        return not self.failures


def parse_older_than(value: str | timedelta | None) -> int | None:
    """A retention as milliseconds: ``"30d"``, ``"1d2h3m4s"``, ``"1.5h"`` or a timedelta.

    Units (days, hours, minutes, seconds) come in that order, each at most once, as in
    MLflow's ``--older-than``. None means no retention (None is returned).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for text that is not such a duration, and
            for a negative duration (a retention in the future).
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, str):
        text = value.strip()
        negative = text.startswith("-")
        match = _OLDER_THAN.match(text[1:] if negative else text)
        if not text.lstrip("-") or match is None:
            raise TrackyardError(
                f"Could not parse the retention {value!r}: give a duration such as '30d', "
                "'12h', '2d8h5m20s' or '1.5h' (days, hours, minutes, seconds, in that order).",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        try:
            delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            delta = -delta if negative and delta else delta
        except OverflowError:
            raise TrackyardError(
                f"The retention {value!r} is too long.", ErrorCode.INVALID_PARAMETER_VALUE
            ) from None
    else:
        raise TrackyardError(
            f"older_than must be a duration string or a timedelta, got {type(value).__name__}.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    if delta < timedelta(0):
        raise TrackyardError(
            f"The retention {value!r} is negative: it would select data deleted in the future.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return int(delta.total_seconds() * 1000)


def gc(
    tracking_uri: str | None = None,
    *,
    older_than: str | timedelta | None = None,
    experiment_ids: Sequence[str] | None = None,
    run_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    artifacts_destination: str | None = None,
) -> GcReport:
    """Remove deleted runs and experiments of the store at ``tracking_uri`` for good.

    Args:
        tracking_uri: the tracking store (default: the configured tracking URI).
        older_than: the retention: only data deleted at least this long ago (see
            :func:`parse_older_than`); None: any deleted data.
        experiment_ids: remove exactly these deleted experiments (with all their runs).
        run_ids: remove exactly these deleted runs.
        dry_run: only report what would be removed.
        artifacts_destination: where a tracking server keeps proxied artifacts: run artifact
            URIs ``mlflow-artifacts:/<path>`` are deleted at ``<artifacts_destination>/<path>``.

    Returns:
        What was removed, and what could not be (see the module docs).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE or RESOURCE_DOES_NOT_EXIST for bad input
            (nothing is removed then); FEATURE_DISABLED when the store cannot hard-delete.
    """
    from trackyard.backends import get_tracking_store

    store = get_tracking_store(tracking_uri)
    return collect(
        store,
        older_than=older_than,
        experiment_ids=experiment_ids,
        run_ids=run_ids,
        dry_run=dry_run,
        artifacts_destination=artifacts_destination,
    )


def collect(
    store: TrackingStore,
    *,
    older_than: str | timedelta | None = None,
    experiment_ids: Sequence[str] | None = None,
    run_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    artifacts_destination: str | None = None,
) -> GcReport:
    """As :func:`gc`, on a store instance."""
    retention = parse_older_than(older_than)
    named_runs = _ids(run_ids, "run_ids")
    named_experiments = _ids(experiment_ids, "experiment_ids")
    if not store.capabilities.gc:
        raise unsupported(store, "garbage collection (hard deletes)")
    cutoff = None if retention is None else now_ms() - retention
    if named_runs is None and named_experiments is None:
        runs, experiments, skipped = _plan_all(store, cutoff)
    else:
        runs = _check_named_runs(store, named_runs or [], cutoff, older_than)
        experiments = _check_named_experiments(store, named_experiments or [], cutoff, older_than)
        skipped = []
    if experiments:
        for run in store.deleted_runs(None, [e.experiment_id for e in experiments]):
            runs.setdefault(run.run_id, run)
    locations = _experiment_locations(store)
    problems = {
        run_id: problem
        for run_id, run in runs.items()
        if (problem := _artifact_problem(store, run, locations, artifacts_destination))
    }
    done_runs: list[str] = []
    failures: list[GcProblem] = []
    failed_experiments: set[str] = set()
    for run_id, run in runs.items():
        reason = problems.get(run_id)
        if reason is None and not dry_run:
            reason = _remove_run(store, run, artifacts_destination)
        if reason is None:
            done_runs.append(run_id)
        else:
            failures.append(GcProblem("run", run_id, reason))
            failed_experiments.add(run.experiment_id)
    done_experiments: list[str] = []
    for exp in experiments:
        eid = exp.experiment_id
        reason = None
        if eid in failed_experiments:
            reason = "kept: some of its runs could not be removed"
        elif not dry_run:
            try:
                store.hard_delete_experiment(eid)
            except TrackyardError as exc:
                reason = str(exc)
        if reason is None:
            done_experiments.append(eid)
            if not dry_run:
                _logger.info("Experiment %s has been permanently deleted.", eid)
        else:
            failures.append(GcProblem("experiment", eid, reason))
    for failure in failures:
        _logger.warning("gc left %s %s in place: %s", failure.kind, failure.id, failure.reason)
    return GcReport(
        dry_run=dry_run,
        deleted_before=cutoff,
        runs=tuple(done_runs),
        experiments=tuple(done_experiments),
        failures=tuple(failures),
        skipped=tuple(skipped),
    )


# -- planning ---------------------------------------------------------------------------------


def _ids(values: Sequence[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise TrackyardError(
            f"{what} must be a list of ids, not a string.", ErrorCode.INVALID_PARAMETER_VALUE
        )
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise TrackyardError(
                f"{what} must hold non-empty id strings, got {value!r}.",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        if value.strip() not in out:
            out.append(value.strip())
    return out


def _plan_all(
    store: TrackingStore, cutoff: int | None
) -> tuple[dict[str, DeletedRun], list[DeletedExperiment], list[GcProblem]]:
    runs = {run.run_id: run for run in store.deleted_runs(cutoff)}
    experiments: list[DeletedExperiment] = []
    skipped: list[GcProblem] = []
    for exp in store.deleted_experiments(cutoff):
        if exp.active_runs:
            skipped.append(
                GcProblem(
                    "experiment",
                    exp.experiment_id,
                    f"it holds {exp.active_runs} active run(s) (restored after it was deleted)",
                )
            )
        else:
            experiments.append(exp)
    return runs, experiments, skipped


def _refuse(what: str, ids: Sequence[str], why: str, code: str) -> TrackyardError:
    listed = ", ".join(ids)
    return TrackyardError(f"{what} {listed} {why}. Nothing was removed.", code)


def _too_young(older_than: object) -> str:
    return f"were deleted less than {older_than} ago"


def _check_named_runs(
    store: TrackingStore, run_ids: list[str], cutoff: int | None, older_than: object
) -> dict[str, DeletedRun]:
    missing: list[str] = []
    active: list[str] = []
    experiments: dict[str, str] = {}
    for run_id in run_ids:
        try:
            info = store.get_run(run_id).info
        except TrackyardError as exc:
            if exc.error_code not in (
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
                ErrorCode.INVALID_PARAMETER_VALUE,
            ):
                raise
            missing.append(run_id)
            continue
        experiments[run_id] = info.experiment_id
        if info.lifecycle_stage != LifecycleStage.DELETED:
            active.append(run_id)
    if missing:
        raise _refuse("Runs", missing, "do not exist", ErrorCode.RESOURCE_DOES_NOT_EXIST)
    if active:
        raise _refuse(
            "Runs",
            active,
            "are not in the deleted lifecycle stage; only deleted runs can be removed for good",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    if not run_ids:
        return {}
    deleted = {
        run.run_id: run for run in store.deleted_runs(cutoff, sorted(set(experiments.values())))
    }
    young = [run_id for run_id in run_ids if run_id not in deleted]
    if young:
        raise _refuse("Runs", young, _too_young(older_than), ErrorCode.INVALID_PARAMETER_VALUE)
    return {run_id: deleted[run_id] for run_id in run_ids}


def _check_named_experiments(
    store: TrackingStore, experiment_ids: list[str], cutoff: int | None, older_than: object
) -> list[DeletedExperiment]:
    missing: list[str] = []
    active: list[str] = []
    for eid in experiment_ids:
        try:
            exp = store.get_experiment(eid)
        except TrackyardError as exc:
            if exc.error_code not in (
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
                ErrorCode.INVALID_PARAMETER_VALUE,
            ):
                raise
            missing.append(eid)
            continue
        if exp.lifecycle_stage != LifecycleStage.DELETED:
            active.append(eid)
    if missing:
        raise _refuse("Experiments", missing, "do not exist", ErrorCode.RESOURCE_DOES_NOT_EXIST)
    if active:
        raise _refuse(
            "Experiments",
            active,
            "are not in the deleted lifecycle stage; only deleted experiments can be removed "
            "for good",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    if not experiment_ids:
        return []
    deleted = {e.experiment_id: e for e in store.deleted_experiments(cutoff)}
    young = [eid for eid in experiment_ids if eid not in deleted]
    if young:
        raise _refuse(
            "Experiments", young, _too_young(older_than), ErrorCode.INVALID_PARAMETER_VALUE
        )
    busy = [eid for eid in experiment_ids if deleted[eid].active_runs]
    if busy:
        raise _refuse(
            "Experiments",
            busy,
            "still hold active runs (restored after the experiment was deleted)",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return [deleted[eid] for eid in experiment_ids]


# -- artifacts -------------------------------------------------------------------------------


def _normalized(uri: str) -> str:
    """A URI for prefix comparisons: local paths absolute, no trailing slash."""
    match = _SCHEME.match(uri)
    if match is None or len(match.group(1)) == 1:  # a path (a Windows drive is not a scheme)
        return os.path.abspath(uri).replace(os.sep, "/").rstrip("/")
    if match.group(1).lower() == "file":
        path = urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
        return os.path.abspath(path).replace(os.sep, "/").rstrip("/")
    return uri.rstrip("/")


def _contains(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + "/")


def _experiment_locations(store: TrackingStore) -> list[str]:
    from trackyard.search.request import ExperimentSearch

    locations: list[str] = []
    request: ExperimentSearch | None = ExperimentSearch(view_type=ViewType.ALL, max_results=1000)
    while request is not None:
        page = store.search_experiments(request)
        locations.extend(_normalized(e.artifact_location) for e in page if e.artifact_location)
        request = request.next_page(page)
    return locations


def _artifact_uri(run: DeletedRun, artifacts_destination: str | None) -> str:
    uri = run.artifact_uri
    if artifacts_destination and uri.lower().startswith(_PROXY_SCHEME + ":"):
        path = urllib.parse.urlsplit(uri).path.lstrip("/")
        return artifacts_destination.rstrip("/") + "/" + path
    return uri


def _artifact_problem(
    store: TrackingStore,
    run: DeletedRun,
    locations: Sequence[str],
    artifacts_destination: str | None,
) -> str | None:
    """Why the run's artifacts cannot be deleted safely, or None."""
    uri = _artifact_uri(run, artifacts_destination)
    if not uri:
        return None
    normalized = _normalized(uri)
    if run.run_id not in normalized.split("/"):
        return (
            f"its artifact URI {uri!r} does not name the run, so deleting it could reach other "
            "data; delete its artifacts by hand, then remove it with run_ids"
        )
    for location in locations:
        if _contains(normalized, location):
            return f"its artifact URI {uri!r} holds an experiment's artifact location"
    try:
        repo = _repository(store, uri)
    except TrackyardError as exc:
        return f"its artifacts at {uri!r} cannot be reached: {exc}"
    if not repo.capabilities.delete_artifacts:
        return f"the artifact repository of {uri!r} cannot delete artifacts"
    return None


def _repository(store: TrackingStore, uri: str) -> ArtifactRepository:
    from trackyard.backends import get_artifact_repository

    return get_artifact_repository(uri, tracking_uri=store.store_uri)


def _remove_run(
    store: TrackingStore, run: DeletedRun, artifacts_destination: str | None
) -> str | None:
    """Delete a run's artifacts, then its metadata; return why it failed, or None."""
    uri = _artifact_uri(run, artifacts_destination)
    if uri:
        try:
            _repository(store, uri).delete_artifacts()
        except Exception as exc:  # any storage error: keep the run, report it
            return f"deleting its artifacts at {uri!r} failed: {exc}"
    try:
        store.hard_delete_run(run.run_id)
    except TrackyardError as exc:
        return str(exc)
    _logger.info("Run %s has been permanently deleted.", run.run_id)
    return None
