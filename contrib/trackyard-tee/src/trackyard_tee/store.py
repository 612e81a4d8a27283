"""The tee tracking store: one primary, one or more secondaries, a durable queue between.

How a write goes:

1. It is applied to the **primary**. If that fails, the error is raised and no secondary sees
   the write. Reads only ever use the primary.
2. For each **secondary**, in order: if its journal holds a backlog, the write is appended to
   the journal (so it stays behind the older writes) and, if the retry interval has passed,
   the backlog is replayed. Otherwise the write is applied directly. If that fails because the
   secondary is unavailable, the write is appended to the journal; if the secondary is
   reachable but refuses the write (a logical error such as a name that is taken there), the
   write is kept in ``rejected.log`` and a warning is logged.
3. The call returns. Writes through one tee are serialized by a lock, so every secondary sees
   them in the primary's order.

Ids: callers only ever see the primary's ids. A secondary creates experiments and runs with its
own ids (SQL experiment ids are autoincrement integers, file-store ids are random), so the tee
keeps, per secondary, a persistent map from primary id to secondary id (``ids.log``) and tags
each experiment / run it creates on a secondary with the primary's id
(:data:`ORIGIN_EXPERIMENT_TAG`, :data:`ORIGIN_RUN_TAG`). The tags make creation idempotent
(a replayed create finds the object it made before) and let the map be rebuilt. An id the map
does not know is looked up by tag, then assumed to be the same on the secondary (the Default
experiment "0", or data copied before the tee was set up).

Replay applies each operation idempotently (creates look for their object first; deletes and
restores check the current state; metric points, params and tags are idempotent in every
conforming store), so a record applied just before a crash, before the high-water mark was
saved, is harmless when replayed again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from trackyard.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from trackyard.errors import (
    BackendConflictError,
    ErrorCode,
    PluginLoadError,
    TrackyardError,
    UnknownSchemeError,
)
from trackyard.search import Comparison, Entity, ExperimentSearch, Op, RunSearch
from trackyard.stores import Capabilities, TrackingStore
from trackyard.uri import mask_credentials

from trackyard_tee.config import TeeConfig, parse_tee_uri
from trackyard_tee.gc import GC_OPS, TeeGc
from trackyard_tee.imports import IMPORT_OPS, TeeImports
from trackyard_tee.journal import HAS_PROCESS_LOCKS, Record, SecondaryQueue
from trackyard_tee.traces import TRACE_OPS, TeeTraces

__all__ = [
    "ORIGIN_EXPERIMENT_TAG",
    "ORIGIN_RUN_TAG",
    "SecondaryStatus",
    "TeeTrackingStore",
]

_logger = logging.getLogger("trackyard.tee")

T = TypeVar("T")

#: Tag on a secondary's experiment: the id of the primary experiment it mirrors.
ORIGIN_EXPERIMENT_TAG = "trackyard.tee.origin_experiment_id"
#: Tag on a secondary's run: the id of the primary run it mirrors.
ORIGIN_RUN_TAG = "trackyard.tee.origin_run_id"

# Error codes that mean "try again later" rather than "this write is wrong".
_OUTAGE_CODES = frozenset(
    {
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.TEMPORARILY_UNAVAILABLE,
        ErrorCode.DEADLINE_EXCEEDED,
        ErrorCode.RESOURCE_EXHAUSTED,
        ErrorCode.REQUEST_LIMIT_EXCEEDED,
        ErrorCode.ABORTED,
    }
)
# Configuration mistakes: raised at once, never queued.
_CONFIG_ERRORS = (UnknownSchemeError, BackendConflictError, PluginLoadError)
_COMMIT_EVERY = 256  # replayed records between high-water-mark saves (replay is idempotent)


@dataclass(frozen=True)
class SecondaryStatus:
    """Where one secondary stands.

    Attributes:
        target: the secondary's URI, credentials masked.
        available: True after the last attempt of this process succeeded, False after it
            failed, None when this process has not tried the secondary yet.
        pending: journaled writes not applied yet.
        rejected: writes it refused while reachable (kept in ``rejected.log``).
        last_error: the error of the last failed attempt, or None.
        queue_dir: its queue directory.
    """

    target: str
    available: bool | None
    pending: int
    rejected: int
    last_error: str | None
    queue_dir: str


class _Unavailable(Exception):
    """The secondary cannot be reached (wraps the cause)."""


class _Secondary:
    """One secondary target: its store (once it could be built) and its queue."""

    def __init__(self, uri: str, primary_uri: str, queue_root: str, artifact_root: str | None):
        self.uri = uri
        self.masked = mask_credentials(uri)
        self.artifact_root = artifact_root
        key = hashlib.sha256(f"{primary_uri}\n{uri}".encode()).hexdigest()[:16]
        self.queue = SecondaryQueue(
            os.path.join(queue_root, key),
            {"primary": mask_credentials(primary_uri), "secondary": self.masked},
        )
        self.store: TrackingStore | None = None
        self.available: bool | None = None  # None: not tried yet by this process
        self.next_attempt = 0.0
        self.last_error: str | None = None
        self.identity_runs: set[str] = set()

    def ensure_store(self) -> TrackingStore:
        """Return the store, building it now if an earlier attempt failed."""
        if self.store is None:
            from trackyard.backends import get_tracking_store

            try:
                self.store = get_tracking_store(self.uri, self.artifact_root)
            except _CONFIG_ERRORS:
                raise
            except Exception as exc:
                raise _Unavailable(exc) from exc
        return self.store

    def due(self) -> bool:
        return time.monotonic() >= self.next_attempt

    def mark_down(self, exc: BaseException, retry_interval: float) -> None:
        cause = exc.__cause__ if isinstance(exc, _Unavailable) and exc.__cause__ else exc
        message = f"{type(cause).__name__}: {cause}"
        if self.available is not False:
            _logger.warning(
                "tee secondary %s is unavailable (%s); queueing its writes in %s",
                self.masked,
                message,
                self.queue.directory,
            )
        self.available = False
        self.last_error = message
        self.next_attempt = time.monotonic() + retry_interval

    def mark_up(self, replayed: int = 0) -> None:
        if self.available is False:
            _logger.warning(
                "tee secondary %s is available again; replayed %d queued writes",
                self.masked,
                replayed,
            )
        self.available = True
        self.last_error = None
        self.next_attempt = 0.0


# ------------------------------------------------------------------------------------------
# Records: JSON-able arguments of each write


def _pairs(items: Sequence[Any]) -> list[list[str]]:
    return [[i.key, i.value] for i in items]


def _metric_rows(metrics: Sequence[Metric]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for m in metrics:
        row: list[Any] = [m.key, m.value, m.timestamp, m.step]
        if m.model_id is not None or m.dataset_name is not None or m.dataset_digest is not None:
            row.extend([m.model_id, m.dataset_name, m.dataset_digest])
        rows.append(row)
    return rows


def _metrics(rows: Sequence[Sequence[Any]]) -> list[Metric]:
    out = []
    for row in rows:
        extra = list(row[4:7]) + [None] * (7 - max(len(row), 4))
        out.append(
            Metric(
                row[0],
                float(row[1]),
                int(row[2]),
                int(row[3]),
                model_id=extra[0],
                dataset_name=extra[1],
                dataset_digest=extra[2],
            )
        )
    return out


class TeeTrackingStore(TeeGc, TeeTraces, TeeImports, TrackingStore):
    """A tracking store that writes to several stores and reads from the first.

    Args:
        store_uri: a ``tee:`` URI (see :mod:`trackyard_tee.config` and the README).
        artifact_uri: the default artifact root, passed on to every target.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a bad configuration; whatever the primary
            raises when it cannot be opened; UnknownSchemeError / PluginLoadError when a
            target's scheme has no installed plugin.
    """

    capabilities = Capabilities()

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        from trackyard.plugins import get_plugin_manager

        if not store_uri:
            raise TrackyardError.invalid_parameter_value("A tee store needs a tee: URI")
        self.config: TeeConfig = parse_tee_uri(store_uri)
        # Resolve every target's class now, so a misspelled scheme fails at once. The stores
        # themselves are built on first use: this constructor runs inside trackyard's store
        # resolution, which cannot be re-entered to resolve the targets.
        manager = get_plugin_manager()
        classes: list[type[TrackingStore]] = [
            manager.resolve("tracking", t) for t in self.config.targets
        ]
        super().__init__(store_uri, artifact_uri)
        os.makedirs(self.config.queue, exist_ok=True)
        self._primary: TrackingStore | None = None
        self._secondaries = [
            _Secondary(uri, self.config.primary, self.config.queue, artifact_uri)
            for uri in self.config.secondaries
        ]
        self._lock = threading.RLock()
        primary_caps: Capabilities = classes[0].capabilities
        self.capabilities = Capabilities(  # type: ignore[misc]
            transactions=primary_caps.transactions,
            concurrent_processes=HAS_PROCESS_LOCKS
            and all(c.capabilities.concurrent_processes for c in classes),
            search_or=primary_caps.search_or,
            traces=all(c.capabilities.traces for c in classes),
            assessments=all(c.capabilities.assessments for c in classes),
            gc=all(c.capabilities.gc for c in classes),
            imports=all(c.capabilities.imports for c in classes),
        )

    @property
    def primary(self) -> TrackingStore:
        """The primary target's store (built on first use, through trackyard's cache)."""
        store = self._primary
        if store is None:
            from trackyard.backends import get_tracking_store

            with self._lock:
                store = self._primary
                if store is None:
                    store = self._primary = get_tracking_store(
                        self.config.primary, self.artifact_uri
                    )
        return store

    # ---------------------------------------------------------------------------------------
    # Operations: the tee's own API

    @property
    def targets(self) -> tuple[str, ...]:
        """The target URIs, credentials masked; the first is the primary."""
        return tuple(mask_credentials(t) for t in self.config.targets)

    def status(self) -> list[SecondaryStatus]:
        """Where each secondary stands (reads the queue directories; tries nothing)."""
        with self._lock:
            out = []
            for s in self._secondaries:
                with s.queue.locked():
                    pending = s.queue.pending_count()
                    rejected = s.queue.rejected_count()
                out.append(
                    SecondaryStatus(
                        s.masked, s.available, pending, rejected, s.last_error, s.queue.directory
                    )
                )
            return out

    def flush(self) -> list[SecondaryStatus]:
        """Replay every secondary's backlog now, ignoring the retry interval.

        Returns:
            The status of each secondary afterwards (``pending == 0`` means it caught up).
        """
        with self._lock:
            for s in self._secondaries:
                with s.queue.locked():
                    if s.queue.has_backlog():
                        self._replay(s)
                    else:
                        self._probe_back(s)
        return self.status()

    replay = flush

    def verify(self, max_runs: int | None = None) -> list[str]:
        """Compare each reachable secondary with the primary (see :mod:`trackyard_tee.verify`).

        Args:
            max_runs: compare at most this many runs per secondary (None: all).

        Returns:
            One line per difference; empty when every secondary mirrors the primary.
        """
        from trackyard_tee.verify import differences

        with self._lock:
            return differences(self, max_runs=max_runs)

    def skip_next(self, target: int | str) -> Record | None:
        """Move the oldest queued write of a secondary to its ``rejected.log``, unapplied.

        For an operator whose secondary keeps failing on one write that can never succeed
        (replay stops at it to keep the order). ``target`` is the secondary's position in
        ``targets`` (1 for the first secondary) or its masked URI.

        Returns:
            The skipped record, or None when the queue was empty.
        """
        s = self._secondary(target)
        with self._lock, s.queue.locked():
            s.queue.refresh()
            record = next(s.queue.pending(), None)
            if record is None:
                return None
            s.queue.reject(record, record.op, record.args, TrackyardError("skipped by an operator"))
            s.queue.commit(record.seq)
            s.queue.compact()
            return record

    def _secondary(self, target: int | str) -> _Secondary:
        if isinstance(target, int):
            if not 1 <= target <= len(self._secondaries):
                raise TrackyardError.invalid_parameter_value(
                    f"No secondary number {target}: the secondaries are 1..{len(self._secondaries)}"
                )
            return self._secondaries[target - 1]
        for s in self._secondaries:
            if target in (s.uri, s.masked):
                return s
        raise TrackyardError.invalid_parameter_value(f"No secondary {target!r} in this tee")

    def close(self) -> None:
        """Nothing to release: targets are shared, cached stores (closed with the cache)."""

    def __repr__(self) -> str:
        return f"TeeTrackingStore({list(self.targets)!r}, queue={self.config.queue!r})"

    # ---------------------------------------------------------------------------------------
    # The write path

    def _write(self, op: str, primary: Callable[[], T], record: Callable[[T], dict[str, Any]]) -> T:
        with self._lock:
            result = primary()
            args = record(result)
            for s in self._secondaries:
                self._dispatch(s, op, args)
            return result

    def _dispatch(self, s: _Secondary, op: str, args: dict[str, Any]) -> None:
        try:
            with s.queue.locked():
                if s.queue.has_backlog():
                    s.queue.append(op, args)
                    if s.due():
                        self._replay(s)
                    return
                if not s.due() and not s.available:
                    s.queue.append(op, args)
                    return
                try:
                    self._apply(s, op, args, replay=False)
                except Exception as exc:
                    if isinstance(exc, _CONFIG_ERRORS):
                        raise
                    if self._is_outage(s, exc):
                        s.queue.append(op, args)
                        s.mark_down(exc, self.config.retry_interval)
                        return
                    self._reject(s, None, op, args, exc)
                s.mark_up()
        except OSError as exc:
            _logger.error(
                "tee: a %s was committed to the primary but could not be queued for %s: %s",
                op,
                s.masked,
                exc,
            )
            raise TrackyardError(
                f"The {op} was committed to the primary, but the tee could not queue it for "
                f"the secondary {s.masked!r} in {s.queue.directory!r}: {exc}",
                ErrorCode.DATA_LOSS,
            ) from exc

    def _replay(self, s: _Secondary) -> bool:
        """Apply the backlog in order; stop at an outage. Return True when it is drained."""
        queue = s.queue
        queue.refresh()
        done = queue.hwm
        replayed = 0
        try:
            for record in queue.pending():
                try:
                    self._apply(s, record.op, record.args, replay=True)
                except Exception as exc:
                    if isinstance(exc, _CONFIG_ERRORS) or self._is_outage(s, exc):
                        queue.commit(done)
                        s.mark_down(exc, self.config.retry_interval)
                        return False
                    self._reject(s, record, record.op, record.args, exc)
                    queue.commit(record.seq)
                done = record.seq
                replayed += 1
                if replayed % _COMMIT_EVERY == 0:
                    queue.commit(done)
        except TrackyardError as exc:  # a damaged journal: stop, keep everything
            queue.commit(done)
            s.mark_down(exc, self.config.retry_interval)
            _logger.error("tee: cannot replay for %s: %s", s.masked, exc)
            return False
        queue.commit(done)
        queue.compact()
        s.mark_up(replayed)
        return True

    def _probe_back(self, s: _Secondary) -> None:
        """With nothing queued, check whether a secondary not known to be up is reachable."""
        if s.available:
            return
        try:
            s.ensure_store().get_experiment("0")
        except Exception as exc:
            s.mark_down(exc, self.config.retry_interval)
        else:
            s.mark_up()

    def _is_outage(self, s: _Secondary, exc: BaseException) -> bool:
        """Whether ``exc`` means "unavailable, retry later" rather than "write refused"."""
        if isinstance(exc, _Unavailable) or s.store is None:
            return True
        try:
            s.store.get_experiment("0")  # every store has the Default experiment
        except Exception:
            return True
        if not isinstance(exc, TrackyardError):
            return True  # not a store's answer: keep the write and retry later
        chain: BaseException | None = exc
        while chain is not None:
            if isinstance(chain, OSError):
                return True
            chain = chain.__cause__ or chain.__context__
        return exc.error_code in _OUTAGE_CODES

    def _reject(
        self, s: _Secondary, record: Record | None, op: str, args: dict[str, Any], exc: Exception
    ) -> None:
        s.queue.reject(record, op, args, exc)
        _logger.warning(
            "tee secondary %s refused a %s (kept in %s): %s",
            s.masked,
            op,
            os.path.join(s.queue.directory, "rejected.log"),
            exc,
        )

    # ---------------------------------------------------------------------------------------
    # Applying one write to one secondary

    def _experiment_id(self, s: _Secondary, store: TrackingStore, primary_id: str) -> str:
        """The secondary's id for the primary's experiment ``primary_id``."""
        found = s.queue.ids.get("e", primary_id)
        if found is not None:
            return found
        if primary_id != "0":
            tagged = store.search_experiments(
                ExperimentSearch(
                    filter=Comparison(Entity.TAG, ORIGIN_EXPERIMENT_TAG, Op.EQ, primary_id),
                    view_type=ViewType.ALL,
                    max_results=2,
                )
            )
            if tagged:
                s.queue.ids.add("e", primary_id, tagged[0].experiment_id)
                return tagged[0].experiment_id
        return primary_id

    def _run_id(self, s: _Secondary, store: TrackingStore, primary_id: str) -> str:
        """The secondary's id for the primary's run ``primary_id``."""
        found = s.queue.ids.get("r", primary_id)
        if found is not None:
            return found
        if primary_id in s.identity_runs:
            return primary_id
        try:
            experiment_id = self.primary.get_run(primary_id).info.experiment_id
        except TrackyardError:
            return primary_id
        tagged = self._find_run(s, store, self._experiment_id(s, store, experiment_id), primary_id)
        if tagged is not None:
            return tagged
        try:
            store.get_run(primary_id)
        except TrackyardError:
            return primary_id  # the write will fail there and be reported
        s.identity_runs.add(primary_id)
        return primary_id

    def _find_run(
        self, s: _Secondary, store: TrackingStore, experiment_id: str, primary_id: str
    ) -> str | None:
        tagged = store.search_runs(
            RunSearch(
                experiment_ids=(experiment_id,),
                filter=Comparison(Entity.TAG, ORIGIN_RUN_TAG, Op.EQ, primary_id),
                view_type=ViewType.ALL,
                max_results=2,
            )
        )
        if not tagged:
            return None
        run_id = tagged[0].info.run_id
        s.queue.ids.add("r", primary_id, run_id)
        return run_id

    def _apply(self, s: _Secondary, op: str, a: dict[str, Any], *, replay: bool) -> None:
        store = s.ensure_store()
        if op == "create_experiment":
            pid = a["experiment_id"]
            if s.queue.ids.get("e", pid) is not None:
                return
            existing = store.get_experiment_by_name(a["name"])
            if existing is not None and existing.tags.get(ORIGIN_EXPERIMENT_TAG) == pid:
                s.queue.ids.add("e", pid, existing.experiment_id)
                return
            exp_tags = [ExperimentTag(k, v) for k, v in a["tags"]]
            exp_tags.append(ExperimentTag(ORIGIN_EXPERIMENT_TAG, pid))
            sid = store.create_experiment(a["name"], a["artifact_location"], exp_tags)
            s.queue.ids.add("e", pid, str(sid))
        elif op == "create_run":
            rid = a["run_id"]
            if s.queue.ids.get("r", rid) is not None:
                return
            experiment_id = self._experiment_id(s, store, a["experiment_id"])
            if replay and self._find_run(s, store, experiment_id, rid) is not None:
                return
            run_tags = [RunTag(k, v) for k, v in a["tags"]]
            run_tags.append(RunTag(ORIGIN_RUN_TAG, rid))
            run = store.create_run(
                experiment_id, a["user_id"], a["start_time"], run_tags, a["run_name"]
            )
            s.queue.ids.add("r", rid, run.info.run_id)
        elif op == "log_batch":
            store.log_batch(
                self._run_id(s, store, a["run_id"]),
                _metrics(a["metrics"]),
                [Param(k, v) for k, v in a["params"]],
                [RunTag(k, v) for k, v in a["tags"]],
            )
        elif op == "update_run_info":
            store.update_run_info(
                self._run_id(s, store, a["run_id"]), a["status"], a["end_time"], a["run_name"]
            )
        elif op == "delete_run":
            store.delete_run(self._run_id(s, store, a["run_id"]))
        elif op == "restore_run":
            store.restore_run(self._run_id(s, store, a["run_id"]))
        elif op == "delete_tag":
            run_id = self._run_id(s, store, a["run_id"])
            if replay and a["key"] not in store.get_run(run_id).data.tags:
                return
            store.delete_tag(run_id, a["key"])
        elif op in TRACE_OPS:
            self._apply_trace_op(s, store, op, a, replay=replay)
        elif op in GC_OPS:
            self._apply_gc_op(s, store, op, a)
        elif op in IMPORT_OPS:
            self._apply_import_op(s, store, op, a, replay=replay)
        else:
            self._apply_experiment_op(s, store, op, a, replay=replay)

    def _apply_experiment_op(
        self, s: _Secondary, store: TrackingStore, op: str, a: dict[str, Any], *, replay: bool
    ) -> None:
        experiment_id = self._experiment_id(s, store, a["experiment_id"])
        current: Experiment | None = store.get_experiment(experiment_id) if replay else None
        if op == "delete_experiment":
            if current is None or current.lifecycle_stage == LifecycleStage.ACTIVE:
                store.delete_experiment(experiment_id)
        elif op == "restore_experiment":
            if current is None or current.lifecycle_stage == LifecycleStage.DELETED:
                store.restore_experiment(experiment_id)
        elif op == "rename_experiment":
            if current is None or current.name != a["name"]:
                store.rename_experiment(experiment_id, a["name"])
        elif op == "set_experiment_tag":
            store.set_experiment_tag(experiment_id, ExperimentTag(a["key"], a["value"]))
        elif op == "delete_experiment_tag":
            if current is None or a["key"] in current.tags:
                store.delete_experiment_tag(experiment_id, a["key"])
        else:
            raise TrackyardError(f"Unknown tee journal operation {op!r}", ErrorCode.DATA_LOSS)

    # ---------------------------------------------------------------------------------------
    # TrackingStore: writes

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """Create the experiment on the primary, then on each secondary at the same location."""
        tag_list = list(tags or ())

        def record(experiment_id: str) -> dict[str, Any]:
            location = self.primary.get_experiment(experiment_id).artifact_location
            return {
                "experiment_id": str(experiment_id),
                "name": name,
                "artifact_location": location,
                "tags": _pairs(tag_list),
            }

        return self._write(
            "create_experiment",
            lambda: self.primary.create_experiment(name, artifact_location, tag_list),
            record,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """Delete on every target."""
        self._write(
            "delete_experiment",
            lambda: self.primary.delete_experiment(experiment_id),
            lambda _: {"experiment_id": experiment_id},
        )

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore on every target."""
        self._write(
            "restore_experiment",
            lambda: self.primary.restore_experiment(experiment_id),
            lambda _: {"experiment_id": experiment_id},
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename on every target."""
        self._write(
            "rename_experiment",
            lambda: self.primary.rename_experiment(experiment_id, new_name),
            lambda _: {"experiment_id": experiment_id, "name": new_name},
        )

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set the tag on every target."""
        self._write(
            "set_experiment_tag",
            lambda: self.primary.set_experiment_tag(experiment_id, tag),
            lambda _: {"experiment_id": experiment_id, "key": tag.key, "value": tag.value},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete the tag on every target."""
        self._write(
            "delete_experiment_tag",
            lambda: self.primary.delete_experiment_tag(experiment_id, key),
            lambda _: {"experiment_id": experiment_id, "key": key},
        )

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create the run on the primary, then a copy (same name, tags, times) on each secondary."""

        def record(run: Run) -> dict[str, Any]:
            return {
                "run_id": run.info.run_id,
                "experiment_id": str(experiment_id),
                "user_id": run.info.user_id,
                "start_time": run.info.start_time,
                "tags": [[k, v] for k, v in run.data.tags.items()],
                "run_name": run.info.run_name,
            }

        return self._write(
            "create_run",
            lambda: self.primary.create_run(experiment_id, user_id, start_time, tags, run_name),
            record,
        )

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Update on every target; return the primary's new info."""
        return self._write(
            "update_run_info",
            lambda: self.primary.update_run_info(run_id, run_status, end_time, run_name),
            lambda _: {
                "run_id": run_id,
                "status": run_status,
                "end_time": end_time,
                "run_name": run_name,
            },
        )

    def delete_run(self, run_id: str) -> None:
        """Delete on every target."""
        self._write(
            "delete_run", lambda: self.primary.delete_run(run_id), lambda _: {"run_id": run_id}
        )

    def restore_run(self, run_id: str) -> None:
        """Restore on every target."""
        self._write(
            "restore_run", lambda: self.primary.restore_run(run_id), lambda _: {"run_id": run_id}
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """Log to the primary (all or nothing if it has transactions), then to each secondary."""
        self._write(
            "log_batch",
            lambda: self.primary.log_batch(run_id, metrics, params, tags),
            lambda _: _batch(run_id, metrics, params, tags),
        )

    def log_metric(self, run_id: str, metric: Metric) -> None:
        """Log one point (the primary's own ``log_metric`` path)."""
        self._write(
            "log_batch",
            lambda: self.primary.log_metric(run_id, metric),
            lambda _: _batch(run_id, [metric], [], []),
        )

    def log_param(self, run_id: str, param: Param) -> None:
        """Log one param (the primary's own ``log_param`` path)."""
        self._write(
            "log_batch",
            lambda: self.primary.log_param(run_id, param),
            lambda _: _batch(run_id, [], [param], []),
        )

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Set one tag (the primary's own ``set_tag`` path)."""
        self._write(
            "log_batch",
            lambda: self.primary.set_tag(run_id, tag),
            lambda _: _batch(run_id, [], [], [tag]),
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete the tag on every target."""
        self._write(
            "delete_tag",
            lambda: self.primary.delete_tag(run_id, key),
            lambda _: {"run_id": run_id, "key": key},
        )

    # ---------------------------------------------------------------------------------------
    # TrackingStore: reads (the primary's answers)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Read from the primary."""
        return self.primary.get_experiment(experiment_id)

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Read from the primary."""
        return self.primary.get_experiment_by_name(experiment_name)

    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """Search the primary (the request is passed on as it is)."""
        return self.primary.search_experiments(request)

    def get_run(self, run_id: str) -> Run:
        """Read from the primary."""
        return self.primary.get_run(run_id)

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Read from the primary."""
        return self.primary.get_metric_history(
            run_id, metric_key, max_results=max_results, page_token=page_token
        )

    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """Search the primary (the request is passed on as it is)."""
        return self.primary.search_runs(request)


def _batch(
    run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "metrics": _metric_rows(metrics),
        "params": _pairs(params),
        "tags": _pairs(tags),
    }
