"""The DuckDB tracking store: experiments, runs, params, tags and metrics, columnar.

Design (see :mod:`trackyard_duckdb.schema.tracking` for the tables):

- One :class:`~trackyard_duckdb._database.Database` per file and process, shared with the
  registry store of the same URI; a cursor per thread; every operation is one transaction;
  writes are serialized per database. One process per file (DuckDB's rule): another
  process gets a clear ``RESOURCE_CONFLICT`` error naming the holder.
- ``log_batch`` writes column-wise (:mod:`trackyard_duckdb._metrics`); a failed batch
  writes nothing (param conflicts are found before anything is written, and the batch is
  one transaction).
- ``search_runs`` compiles the request's AST into one query that finds the page (filter,
  order, limit, offset over narrow tables) and reads its runs with their latest metrics,
  params and tags (:mod:`trackyard_duckdb._search`, :mod:`trackyard_duckdb._runs`).
- ``get_metric_history`` reads one series' chunk rows through the index on
  ``metric_chunks`` (an ordered series without a sort); ``get_metric_history_bulk`` reads
  every series, downsampled or not, in one query.
- Logged models (:mod:`trackyard_duckdb.logged_models`): metrics that ``log_batch`` receives
  with a ``model_id`` are also points of that model, written in the batch's transaction.
- Writers remember the runs they write (:mod:`trackyard_duckdb._state`), so a
  ``log_batch`` needs no lookups: DuckDB statements are not cheap.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard import config
from trackyard.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
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
from trackyard.search import decode_page_token, encode_page_token
from trackyard.stores import Capabilities, TrackingStore, new_run_tags, now_ms, read_only_open
from trackyard_duckdb import _metrics, _runs, _search
from trackyard_duckdb._database import Database, open_database, parse_location
from trackyard_duckdb._state import RunState, run_states
from trackyard_duckdb._traces import DuckDBTraces
from trackyard_duckdb.gc import DuckDBGc
from trackyard_duckdb.importing import DuckDBTrackingImports
from trackyard_duckdb.logged_models import DuckDBLoggedModels

if TYPE_CHECKING:
    from trackyard.search.request import ExperimentSearch, RunSearch

__all__ = ["HISTORY_SQL", "DuckDBTrackingStore"]

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
_RUN_NAME_TAG = "mlflow.runName"
_ARTIFACTS_FOLDER = "artifacts"

_RUN_COLUMNS = ", ".join(_runs.RUN_COLUMNS)
_GET_RUN_SQL = _runs.runs_query("SELECT run_key FROM runs WHERE run_id = ?")
#: The history of a series that is not ordered (parameter: its series_key): its chunk rows,
#: found through the index on series_key, unnested and sorted.
HISTORY_SQL = (
    "SELECT value, timestamp, step FROM (SELECT unnest(vals) AS value, "
    "unnest(timestamps) AS timestamp, unnest(steps) AS step FROM metric_chunks "
    f"WHERE series_key = ?) ORDER BY {_metrics.history_order()}"
)
_EXPERIMENT_COLUMNS = ", ".join(_search.EXPERIMENT_COLUMNS)


def _join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _absolute_location(location: str) -> str:
    """Make a bare relative path absolute; leave URIs (``s3://``, ``file:``...) alone."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:", location):
        return location
    return os.path.abspath(location)


def _experiment_int(experiment_id: object) -> int | None:
    """The integer id of an experiment id string, or None if it cannot be one."""
    try:
        value = int(str(experiment_id))
    except ValueError:
        return None
    return value if 0 <= value < 2**63 else None


def _experiment(row: Sequence[Any], tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row[0]),
        name=row[1],
        artifact_location=row[2],
        lifecycle_stage=row[3],
        tags=tags,
        creation_time=row[4],
        last_update_time=row[5],
    )


class DuckDBTrackingStore(
    DuckDBGc, DuckDBTrackingImports, DuckDBLoggedModels, DuckDBTraces, TrackingStore
):
    """MLflow's tracking store API over a DuckDB database in trackyard's columnar layout.

    Args:
        store_uri: ``duckdb:///path.duckdb`` (relative to the working directory),
            ``duckdb:////absolute/path.duckdb``, or ``duckdb:///:memory:`` (one in-memory
            database per process, shared by every store on that URI;
            ``duckdb:///:memory:<name>`` for separate ones).
        artifact_uri: the default artifact root of new experiments; None means
            :func:`trackyard.config.get_artifact_root`. Bare paths are made absolute.

    Raises:
        TrackyardError: RESOURCE_CONFLICT when another process holds the file (the message
            names it); INVALID_PARAMETER_VALUE for a file that is not a DuckDB database or
            a DuckDB database that trackyard did not create; INVALID_STATE for a database
            written by a newer trackyard.
    """

    # each flag is held to its kit tests (tests/conformance/test_duckdb.py); one writing
    # process per file, so no concurrent_processes
    capabilities = Capabilities(
        transactions=True,
        search_or=True,
        logged_models=True,
        traces=True,
        assessments=True,
        gc=True,
        imports=True,
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        store_uri = store_uri or config.get_tracking_uri()
        root = artifact_uri or config.get_artifact_root()
        super().__init__(store_uri, _absolute_location(root).rstrip("/") or root)
        self._db: Database = open_database(parse_location(store_uri))
        try:
            self._ensure_default_experiment()
        except BaseException:
            self._db.release()
            raise
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran, or the database was lost (a reopen failed: see
        :func:`~trackyard_duckdb._database.recycle_interval`); the cache then opens a new
        store for the URI."""
        return self._closed or self._db.closed

    def close(self) -> None:
        """Release this store's hold on the database (the last holder closes it)."""
        if not self._closed:
            self._closed = True
            self._db.release()

    def __repr__(self) -> str:
        return f"DuckDBTrackingStore({self.store_uri!r})"

    def _ensure_default_experiment(self) -> None:
        def found(cur: Any) -> bool:
            cur.execute(
                "SELECT count(*) FROM experiments WHERE experiment_id = ?",
                [DEFAULT_EXPERIMENT_ID],
            )
            return bool(cur.fetchone()[0])

        request = read_only_open()
        if self._db.read_only and request is not None:
            if not self._db.read(found):
                request.missing_default_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME)
            return

        def create(cur: Any) -> None:
            if found(cur):
                return
            now = now_ms()
            location = _join_uri(str(self.artifact_uri), str(DEFAULT_EXPERIMENT_ID))
            cur.execute(
                f"INSERT INTO experiments ({_EXPERIMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    DEFAULT_EXPERIMENT_ID,
                    DEFAULT_EXPERIMENT_NAME,
                    location,
                    LifecycleStage.ACTIVE,
                    now,
                    now,
                ],
            )

        self._db.write(create)

    # ---------------------------------------------------------------------------------------
    # Experiments

    def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]:
        eid = _experiment_int(experiment_id)
        row = None
        if eid is not None:
            cur.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?", [eid]
            )
            row = cur.fetchone()
        if row is None:
            raise _experiment_not_found(experiment_id)
        return tuple(row)

    def _active_experiment(self, cur: Any, experiment_id: str) -> tuple[Any, ...]:
        row = self._experiment_row(cur, experiment_id)
        if row[3] != LifecycleStage.ACTIVE:
            raise _not_active("experiment", experiment_id, row[3])
        return row

    def _experiment_tags(self, cur: Any, ids: Sequence[int]) -> dict[int, dict[str, str]]:
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            cur.execute(
                "SELECT experiment_id, key, value FROM experiment_tags "
                "WHERE experiment_id IN (SELECT unnest(?::BIGINT[]))",
                [list(ids)],
            )
            for eid, key, value in cur.fetchall():
                tags[eid][key] = value
        return tags

    def _name_taken(self, cur: Any, name: str) -> bool:
        cur.execute("SELECT count(*) FROM experiments WHERE name = ?", [name])
        return bool(cur.fetchone()[0])

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

        def create(cur: Any) -> str:
            if self._name_taken(cur, name):
                raise _experiment_exists(name)
            eid = self._db.next_key(cur, "experiments", "experiment_id")
            now = now_ms()
            cur.execute(
                f"INSERT INTO experiments ({_EXPERIMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    eid,
                    name,
                    location or _join_uri(str(self.artifact_uri), str(eid)),
                    LifecycleStage.ACTIVE,
                    now,
                    now,
                ],
            )
            if tag_map:
                cur.execute(
                    "INSERT INTO experiment_tags SELECT ?, unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[])",
                    [eid, list(tag_map), list(tag_map.values())],
                )
            return str(eid)

        return self._db.write(create)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment (RESOURCE_DOES_NOT_EXIST if absent)."""

        def get(cur: Any) -> Experiment:
            row = self._experiment_row(cur, experiment_id)
            return _experiment(row, self._experiment_tags(cur, [row[0]])[row[0]])

        return self._db.read(get)

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Return the experiment with this name (active or deleted), or None."""

        def get(cur: Any) -> Experiment | None:
            cur.execute(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?", [experiment_name]
            )
            row = cur.fetchone()
            if row is None:
                return None
            return _experiment(row, self._experiment_tags(cur, [row[0]])[row[0]])

        return self._db.read(get)

    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """Return the page of experiments ``request`` asks for (one query, then their tags)."""
        sql, params = _search.compile_experiment_search(
            stages=sorted(ViewType.to_lifecycle_stages(request.view_type)),
            expr=request.filter,
            order=request.order_by,
            limit=request.max_results + 1,
            offset=request.offset,
        )

        def run(cur: Any) -> PagedList[Experiment]:
            cur.execute(sql, params)
            page = request.paged(cur.fetchall())
            tags = self._experiment_tags(cur, [row[0] for row in page])
            return PagedList([_experiment(row, tags[row[0]]) for row in page], page.token)

        return self._db.read(run)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an active experiment and its active runs deleted."""

        def delete(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            if row[3] != LifecycleStage.ACTIVE:
                raise _experiment_not_found(experiment_id)
            now = now_ms()
            cur.execute(
                "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? "
                "WHERE experiment_id = ?",
                [LifecycleStage.DELETED, now, row[0]],
            )
            cur.execute(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = ?, "
                "deleted_with_experiment = TRUE WHERE experiment_id = ? AND lifecycle_stage = ?",
                [LifecycleStage.DELETED, now, row[0], LifecycleStage.ACTIVE],
            )
            self._forget_runs()
            self._forget_experiments()

        self._db.write(delete)

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and the runs its deletion marked deleted."""

        def restore(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            if row[3] != LifecycleStage.DELETED:
                raise _experiment_not_found(experiment_id)
            cur.execute(
                "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? "
                "WHERE experiment_id = ?",
                [LifecycleStage.ACTIVE, now_ms(), row[0]],
            )
            cur.execute(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL, "
                "deleted_with_experiment = FALSE WHERE experiment_id = ? "
                "AND deleted_with_experiment",
                [LifecycleStage.ACTIVE, row[0]],
            )
            self._forget_runs()
            self._forget_experiments()

        self._db.write(restore)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; the new name must be free."""

        def rename(cur: Any) -> None:
            row = self._active_experiment(cur, experiment_id)
            if row[1] == new_name:
                return
            if self._name_taken(cur, new_name):
                raise _experiment_exists(new_name)
            cur.execute(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                [new_name, now_ms(), row[0]],
            )

        self._db.write(rename)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) a tag of an active experiment."""

        def set_tag(cur: Any) -> None:
            eid = self._active_experiment(cur, experiment_id)[0]
            cur.execute(
                "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?", [eid, tag.key]
            )
            cur.execute("INSERT INTO experiment_tags VALUES (?, ?, ?)", [eid, tag.key, tag.value])

        self._db.write(set_tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete a tag of an active experiment (RESOURCE_DOES_NOT_EXIST if absent)."""

        def delete(cur: Any) -> None:
            eid = self._active_experiment(cur, experiment_id)[0]
            cur.execute(
                "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?", [eid, key]
            )
            if cur.fetchone()[0] == 0:
                raise TrackyardError(
                    f"No tag with name: {key} in experiment with id {experiment_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._db.write(delete)

    # ---------------------------------------------------------------------------------------
    # Runs

    def _run_row(self, cur: Any, run_id: str) -> tuple[Any, ...]:
        cur.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        if row is None:
            raise _run_not_found(run_id)
        return tuple(row)

    def _forget_runs(self, run_id: str | None = None) -> None:
        """After the current write commits, forget what is remembered of one run (or all)."""
        states = run_states(self._db)
        self._db.after_commit(lambda: states.forget(run_id))

    def _active_run(self, cur: Any, run_id: str) -> RunState:
        """The state of an active run (inside a write transaction)."""
        states = run_states(self._db)
        state = states.get(run_id)
        if state is None:
            cur.execute("SELECT run_key, lifecycle_stage FROM runs WHERE run_id = ?", [run_id])
            row = cur.fetchone()
            if row is None:
                raise _run_not_found(run_id)
            state = RunState(int(row[0]), row[1])
            states.put(run_id, state)  # committed facts: true whatever this write does
        if state.stage != LifecycleStage.ACTIVE:
            raise _not_active("run", run_id, state.stage)
        return state

    def _experiment_for_run(self, cur: Any, experiment_id: str) -> tuple[int, str]:
        """(id, artifact location) of an active experiment, remembered between writes."""
        known: dict[str, tuple[int, str]] = self._db.memo.setdefault("experiments", {})
        found = known.get(experiment_id)
        if found is None:
            row = self._active_experiment(cur, experiment_id)
            found = known[experiment_id] = (int(row[0]), str(row[2]))
        return found

    def _forget_experiments(self) -> None:
        known: dict[str, tuple[int, str]] = self._db.memo.setdefault("experiments", {})
        self._db.after_commit(known.clear)

    def _read_runs(self, cur: Any, sql: str, params: Sequence[Any]) -> list[Run]:
        cur.execute(sql, params)
        return [_runs.build_run(row) for row in cur.fetchall()]

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

        def create(cur: Any) -> Run:
            exp = self._experiment_for_run(cur, experiment_id)
            run_key = self._db.next_key(cur, "runs", "run_key")
            row = (
                run_key,
                run_id,
                exp[0],
                name,
                user_id,
                RunStatus.to_string(RunStatus.RUNNING),
                start_time,
                None,
                LifecycleStage.ACTIVE,
                _join_uri(exp[1], run_id, _ARTIFACTS_FOLDER),
            )
            cur.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            cur.execute(
                "INSERT INTO run_tags SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                [run_key, list(tag_map), list(tag_map.values())],
            )
            state = RunState(run_key, LifecycleStage.ACTIVE, params={}, tags=dict(tag_map))
            self._db.after_commit(lambda: run_states(self._db).put(run_id, state))
            series = _metrics.series_cache(self._db)
            self._db.after_commit(lambda: series.put(run_key, (), complete=True))
            data = RunData(tags=[RunTag(k, v) for k, v in tag_map.items()])
            return Run(_runs.build_run_info(row), data)

        return self._db.write(create)

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags."""

        def get(cur: Any) -> Run:
            runs = self._read_runs(cur, _GET_RUN_SQL, [run_id])
            if not runs:
                raise _run_not_found(run_id)
            return runs[0]

        return self._db.read(get, snapshot=False)

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status and end time, and the name (and its tag) when given."""
        status = RunStatus.to_string(run_status)

        def update(cur: Any) -> RunInfo:
            state = self._active_run(cur, run_id)
            run_key = state.run_key
            if run_name:
                cur.execute(
                    "UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_key = ?",
                    [status, end_time, run_name, run_key],
                )
                self._set_tags(cur, state, {_RUN_NAME_TAG: run_name})
            else:
                cur.execute(
                    "UPDATE runs SET status = ?, end_time = ? WHERE run_key = ?",
                    [status, end_time, run_key],
                )
            return _runs.build_run_info(self._run_row(cur, run_id))

        return self._db.write(update)

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (deleting a deleted run keeps its first deletion time)."""

        def delete(cur: Any) -> None:
            row = self._run_row(cur, run_id)
            if row[8] == LifecycleStage.ACTIVE:
                cur.execute(
                    "UPDATE runs SET lifecycle_stage = ?, deleted_time = ?, "
                    "deleted_with_experiment = FALSE WHERE run_key = ?",
                    [LifecycleStage.DELETED, now_ms(), row[0]],
                )
                self._forget_runs(run_id)

        self._db.write(delete)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""

        def restore(cur: Any) -> None:
            row = self._run_row(cur, run_id)
            cur.execute(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL, "
                "deleted_with_experiment = FALSE WHERE run_key = ?",
                [LifecycleStage.ACTIVE, row[0]],
            )
            self._forget_runs(run_id)

        self._db.write(restore)

    # ---------------------------------------------------------------------------------------
    # Logging

    def _set_tags(self, cur: Any, state: RunState, tags: dict[str, str]) -> None:
        """Insert or overwrite tags of a run (the state's tags follow once committed)."""
        keys = list(tags)
        present = keys if state.tags is None else [k for k in keys if k in state.tags]
        if present:
            cur.execute(
                "DELETE FROM run_tags WHERE run_key = ? AND list_contains(?::VARCHAR[], key)",
                [state.run_key, present],
            )
        cur.execute(
            "INSERT INTO run_tags SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [state.run_key, keys, list(tags.values())],
        )
        if state.tags is not None:
            known = state.tags
            self._db.after_commit(lambda: known.update(tags))

    def _new_params(
        self, cur: Any, run_id: str, state: RunState, params: dict[str, str]
    ) -> list[str]:
        """The keys of ``params`` not yet logged; INVALID_PARAMETER_VALUE for a changed one."""
        if state.params is not None:
            existing = {k: state.params[k] for k in params if k in state.params}
        else:
            cur.execute(
                "SELECT key, value FROM run_params WHERE run_key = ? "
                "AND list_contains(?::VARCHAR[], key)",
                [state.run_key, list(params)],
            )
            existing = dict(cur.fetchall())
        for key, old in existing.items():
            if old != params[key]:
                raise _invalid(
                    "Changing param values is not allowed. Param with key="
                    f"{key!r} was already logged with value={old!r} for run ID={run_id!r}. "
                    f"Attempted logging new value {params[key]!r}."
                )
        fresh = [k for k in params if k not in existing]
        if fresh and state.params is not None:
            known, added = state.params, {k: params[k] for k in fresh}
            self._db.after_commit(lambda: known.update(added))
        return fresh

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """Write metrics, params and tags to an active run in one transaction.

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

        def write(cur: Any) -> None:
            state = self._active_run(cur, run_id)
            run_key = state.run_key
            if any(m.model_id is not None for m in metrics):
                self._check_model_metrics(cur, metrics)
            if new_params:
                fresh = self._new_params(cur, run_id, state, new_params)
                if fresh:
                    cur.execute(
                        "INSERT INTO run_params SELECT ?, unnest(?::VARCHAR[]), "
                        "unnest(?::VARCHAR[])",
                        [run_key, fresh, [new_params[k] for k in fresh]],
                    )
            if tag_map:
                self._set_tags(cur, state, tag_map)
                new_name = tag_map.get(_RUN_NAME_TAG)
                if new_name is not None:
                    cur.execute("UPDATE runs SET name = ? WHERE run_key = ?", [new_name, run_key])
            if metrics:
                _metrics.write_metrics(cur, self._db, run_key, metrics)
                self._record_model_metrics(cur, run_id, metrics)

        self._db.write(write)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag of an active run (RESOURCE_DOES_NOT_EXIST if absent)."""

        def delete(cur: Any) -> None:
            state = self._active_run(cur, run_id)
            cur.execute("DELETE FROM run_tags WHERE run_key = ? AND key = ?", [state.run_key, key])
            if cur.fetchone()[0] == 0:
                raise TrackyardError(
                    f"No tag with name: {key} in run with id {run_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            if state.tags is not None:
                known = state.tags
                self._db.after_commit(lambda: known.pop(key, None))

        self._db.write(delete)

    # ---------------------------------------------------------------------------------------
    # Metric histories

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Return the points of one metric ordered by (timestamp, step, value).

        Reads that series' chunk rows only (an index scan on ``metric_chunks``), however
        many points other runs and metrics have; an ordered series is not even sorted.
        """
        offset = decode_page_token(page_token)
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
        ):
            raise _invalid(f"Invalid value {max_results!r} for parameter 'max_results'")
        paging = ""
        paging_params: list[Any] = []
        if max_results is not None or offset:
            paging = " LIMIT ? OFFSET ?"
            limit = max_results if max_results is not None else 2**62
            paging_params = [limit, offset]

        def history(cur: Any) -> PagedList[Metric]:
            run_key = self._run_row(cur, run_id)[0]
            cur.execute(
                "SELECT series_key, ordered, points FROM metric_series "
                "WHERE run_key = ? AND key = ?",
                [run_key, metric_key],
            )
            found = cur.fetchone()
            if found is None:
                return PagedList([], None)
            series_key, ordered, total = found
            end = total if max_results is None else min(total, offset + max_results)
            token = encode_page_token(end) if end < total else None
            key = metric_key
            if ordered:  # the chunks in order are the history: no sort
                values, stamps, steps = _metrics.ordered_history(cur, series_key)
                rows = zip(values[offset:end], stamps[offset:end], steps[offset:end], strict=True)
                return PagedList([Metric(key, v, ts, st) for v, ts, st in rows], token)
            cur.execute(HISTORY_SQL + paging, [series_key, *paging_params])
            rows = cur.fetchall()[: end - offset]
            return PagedList([Metric(key, v, ts, st) for v, ts, st in rows], token)

        return self._db.read(history)

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], keys: Sequence[str], max_points: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        """Histories of ``keys`` for every run of ``run_ids``: one query finds the series, one
        reads (and, with ``max_points``, downsamples) all their points.

        Downsampling happens in the query, as :func:`trackyard.analytics.downsample`
        defines it; ordered series are not sorted.
        """
        ids = list(dict.fromkeys(run_ids))
        metric_keys = list(dict.fromkeys(keys))

        def bulk(cur: Any) -> dict[str, dict[str, list[Metric]]]:
            cur.execute(
                "SELECT r.run_id, s.series_key, s.key, s.points, s.ordered FROM runs r "
                "LEFT JOIN metric_series s ON s.run_key = r.run_key "
                "AND s.key IN (SELECT unnest(?::VARCHAR[])) "
                "WHERE r.run_id IN (SELECT unnest(?::VARCHAR[]))",
                [metric_keys, ids],
            )
            rows = cur.fetchall()
            found = {row[0] for row in rows}
            for run_id in ids:
                if run_id not in found:
                    raise _run_not_found(run_id)
            result: dict[str, dict[str, list[Metric]]] = {
                run_id: {key: [] for key in metric_keys} for run_id in ids
            }
            series = [row for row in rows if row[1] is not None]
            if not series:
                return result
            flags = [bool(row[4]) for row in series]
            params: dict[str, Any] = {
                "series": [row[1] for row in series],
                "counts": [row[3] for row in series],
                "ordered": flags,
            }
            if max_points is not None:
                params["max_points"] = max_points
            sql = _metrics.bulk_history_sql(
                downsample=max_points is not None, ordered=any(flags), unordered=not all(flags)
            )
            cur.execute(sql, params)
            targets = {row[1]: (result[row[0]][row[2]], row[2]) for row in series}
            for series_key, value, ts, step in cur.fetchall():
                points, key = targets[series_key]
                points.append(Metric(key, value, ts, step))
            return result

        return self._db.read(bulk)

    # ---------------------------------------------------------------------------------------
    # Search

    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """Return the page of runs ``request`` asks for: one query for the page's run rows,
        then one per child table for their data, in one read transaction."""
        ids = sorted(
            {i for i in (_experiment_int(e) for e in request.experiment_ids) if i is not None}
        )
        if not ids:
            return PagedList([], None)
        sql, params = _search.compile_run_search(
            experiment_ids=ids,
            stages=sorted(ViewType.to_lifecycle_stages(request.view_type)),
            expr=request.filter,
            order=request.order_by,
            limit=request.max_results + 1,
            offset=request.offset,
        )

        def run(cur: Any) -> PagedList[Run]:
            cur.execute(sql, params)
            page = request.paged(cur.fetchall())
            return PagedList(_runs.read_runs(cur, page), page.token)

        return self._db.read(run)
