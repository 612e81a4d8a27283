"""``Idempotency-Key`` for ``runs/create`` and ``experiments/create``.

A client that timed out may send the same create again; with the same ``Idempotency-Key``
header the server answers with what the first request created instead of creating twice.

How, over any store:

- runs: the key is recorded on the run as tag ``trackyard.idempotencyKey``. A keyed create
  first looks the key up (a runs search in the experiment, deleted runs included); only on a
  miss does it create. Requests with one key are serialised inside a server process by a
  lock, so one worker never creates twice. Across processes (``--workers N``, several
  servers on one database) the lookup and the insert are two statements, so two copies that
  arrive within the same few milliseconds on two processes could both miss. To close most
  of that window, after creating, the server looks again: when another live run carries the
  key and its id sorts first, the new run is deleted and the other one returned, so copies
  that see each other agree on one run. Copies that are milliseconds apart and never see
  each other remain possible; a retry after a client timeout (seconds later) always finds
  the first run.
- experiments: names are unique in every store, so a retry gets RESOURCE_ALREADY_EXISTS
  from the store; with a key, the server answers with the existing experiment's id when it
  carries the same key (tag ``trackyard.idempotencyKey``), which is race-free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from trackyard.entities import Run, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.request import RunSearch
from trackyard.stores import TrackingStore

__all__ = ["HEADER", "TAG", "check_key", "create_run_once"]

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
