"""``Idempotency-Key`` for ``runs/create`` and ``experiments/create``.

A client that timed out may send the same create again; with the same ``Idempotency-Key``
header the server answers with what the first request created instead of creating twice.

How, for runs:

- over a store that writes runs with their ids (capability ``imports``: every SQL database,
  the file store, DuckDB), the run id is derived from the key and the experiment (a hash),
  and the run is written with ``import_run``. Two copies of one create, on any worker
  process or server over one database, write the same id: the store's primary key (SQL) or
  directory creation (files) lets only one in, and the other gets RESOURCE_ALREADY_EXISTS
  and answers with the run the first one wrote. This is race-free.
- over other stores, the key is looked up (a runs search in the experiment, deleted runs
  included on tag ``trackyard.idempotencyKey``, which every keyed run carries) and the run
  is created only on a miss, with one lock per key in the server process. Across processes
  the lookup and the insert are two statements; after creating, the server looks again
  and, when another live run carries the key and sorts first, deletes its own. Copies
  milliseconds apart that never see each other can still both create.
- experiments: names are unique in every store, so a retry gets RESOURCE_ALREADY_EXISTS
  from the store; with a key, the server answers with the existing experiment's id when it
  carries the same key (tag ``trackyard.idempotencyKey``), which is race-free.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence

from trackyard.entities import (
    LifecycleStage,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError, not_active
from trackyard.search.request import RunSearch
from trackyard.stores import TrackingStore, new_run_tags

__all__ = ["HEADER", "TAG", "check_key", "create_run_once", "create_run_with_key", "run_id_for"]

#: The request header.
HEADER = "idempotency-key"
#: The run and experiment tag recording the key.
TAG = "trackyard.idempotencyKey"
_MAX_KEY = 250

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def check_key(key: str | None) -> str | None:
    """The key, stripped; INVALID_PARAMETER_VALUE when it is too long to record."""
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if len(key) > _MAX_KEY:
        raise TrackyardError.invalid_parameter_value(
            f"Idempotency-Key is longer than {_MAX_KEY} characters."
        )
    return key


def _lock_for(scope: str) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(scope)
        if lock is None:
            if len(_locks) > 4096:  # forget idle locks; a held one is simply recreated
                for k in [k for k, v in _locks.items() if not v.locked()]:
                    del _locks[k]
            lock = _locks[scope] = threading.Lock()
        return lock


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_runs(store: TrackingStore, experiment_id: str, key: str) -> list[Run]:
    """Runs of ``experiment_id`` carrying ``key`` (deleted ones too), oldest id first."""
    request = RunSearch.parse(
        [experiment_id], f"tags.`{TAG}` = {_quote(key)}", ViewType.ALL, 100, None, None
    )
    runs = list(store.search_runs(request))
    return sorted(runs, key=lambda r: r.info.run_id)


def run_id_for(experiment_id: str, key: str) -> str:
    """The run id that a create with ``key`` in ``experiment_id`` writes (32 hex digits)."""
    digest = hashlib.sha256(f"trackyard.idempotencyKey\x00{experiment_id}\x00{key}".encode())
    return digest.hexdigest()[:32]


def create_run_with_key(
    store: TrackingStore,
    experiment_id: str,
    key: str,
    *,
    user_id: str,
    start_time: int,
    tags: Sequence[RunTag],
    run_name: str | None,
    create: Callable[[], Run],
) -> tuple[Run, bool]:
    """The run of ``key`` in ``experiment_id`` and whether this call created it.

    ``tags`` carry :data:`TAG`. Over a store with ``imports`` the run gets
    :func:`run_id_for` as its id, so the store's uniqueness of run ids settles races;
    otherwise :func:`create_run_once` calls ``create``.
    """
    if not store.capabilities.imports:
        made: list[Run] = []

        def tracked() -> Run:
            made.append(create())
            return made[-1]

        run = create_run_once(store, experiment_id, key, tracked)
        return run, any(m.info.run_id == run.info.run_id for m in made)
    run_id = run_id_for(experiment_id, key)
    experiment = store.get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise not_active("experiment", experiment_id, experiment.lifecycle_stage)
    tag_map, name = new_run_tags(tags, run_name)
    location = experiment.artifact_location.rstrip("/")
    info = RunInfo(
        run_id=run_id,
        experiment_id=experiment.experiment_id,
        user_id=user_id,
        status=RunStatus.to_string(RunStatus.RUNNING),
        start_time=start_time,
        end_time=None,
        lifecycle_stage=LifecycleStage.ACTIVE,
        artifact_uri=f"{location}/{run_id}/artifacts",
        run_name=name,
    )
    run = Run(info, RunData(tags=[RunTag(k, v) for k, v in sorted(tag_map.items())]))
    try:
        store.import_run(run, [])
    except TrackyardError as exc:
        if exc.error_code != ErrorCode.RESOURCE_ALREADY_EXISTS:
            raise
        return store.get_run(run_id), False
    return store.get_run(run_id), True


def create_run_once(
    store: TrackingStore, experiment_id: str, key: str, create: Callable[[], Run]
) -> Run:
    """Return the run created for ``key`` in ``experiment_id``, creating it at most once."""
    with _lock_for(f"{experiment_id}\x00{key}"):
        found = find_runs(store, experiment_id, key)
        if found:
            return found[0]
        run = create()
        others = [
            r
            for r in find_runs(store, experiment_id, key)
            if r.info.run_id != run.info.run_id and r.info.lifecycle_stage == "active"
        ]
        if others and others[0].info.run_id < run.info.run_id:
            try:
                store.delete_run(run.info.run_id)
            except TrackyardError as exc:  # pragma: no cover - the run was just made
                if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                    raise
            return others[0]
        return run
