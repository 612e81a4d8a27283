"""The SQL tracking store: experiments, runs, metrics, params and tags in MLflow's tables.

The store keeps CRUD; the rest of the plugin supplies the rooms it works in:
:mod:`~trackyard_sql.database` (engine, transactions, retries, errors, column widths, shared
with the registry store), :mod:`~trackyard_sql.bootstrap` (schema creation and checks),
:mod:`~trackyard_sql.compiler` (searches), :mod:`~trackyard_sql.runs` (rows to entities),
:mod:`~trackyard_sql.writes` (metric, param and tag writes) and
:mod:`~trackyard_sql.snapshot` (SQLite search snapshots).

Data compatibility with MLflow: the tables are MLflow's, ``runs.name`` and the
``mlflow.runName`` tag agree, a run's artifact URI is ``<experiment location>/<run id>/artifacts``,
the Default experiment (id 0) exists in every database, and ``latest_metrics`` follows
MLflow's rule (see :mod:`~trackyard_sql.writes`).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

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
from trackyard.search.request import ExperimentSearch, RunSearch
from trackyard.stores import Capabilities, TrackingStore, new_run_tags, now_ms, read_only_open
from trackyard.uri import mask_credentials
from trackyard_sql import explain
from trackyard_sql.bootstrap import require_columns
from trackyard_sql.compiler import (
    EXPERIMENT_COLUMNS,
    RUN_COLUMNS,
    RUN_INSERT,
    compile_experiment_search,
    compile_run_search,
)
from trackyard_sql.database import Database, chunks, fetch_scalar
from trackyard_sql.gc import SqlGc
from trackyard_sql.importing import SqlTrackingImports
from trackyard_sql.logged_models import SqlLoggedModels
from trackyard_sql.run_inputs import SqlRunInputs
from trackyard_sql.runs import (
    DBL_MAX,
    build_run,
    db_metric_value,
    experiment_from_row,
    fetch_run_parts,
    py_metric_value,
    run_info_from_row,
    run_rows,
)
from trackyard_sql.schema import WORKSPACE_DEFAULT
from trackyard_sql.snapshot import SearchSnapshots
from trackyard_sql.traces import TRACE_REQUIRED_COLUMNS, SqlTraces
from trackyard_sql.writes import RunWriter

__all__ = ["SqlTrackingStore"]

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
_RUN_NAME_TAG = "mlflow.runName"
_ARTIFACTS_FOLDER = "artifacts"
_MAX_INT64 = 2**63 - 1
_IN_CHUNK = 500
_metric_pk_order = itemgetter(0, 2, 4, 1, 5)  # metric row -> (key, timestamp, step, value, nan)

# What to call a column in width errors.
_LABELS: dict[tuple[str, str], str] = {
    ("experiments", "name"): "experiment name",
    ("experiments", "artifact_location"): "experiment artifact location",
    ("experiment_tags", "key"): "experiment tag key",
    ("experiment_tags", "value"): "experiment tag value",
    ("runs", "name"): "run name",
    ("runs", "user_id"): "run user id",
    ("runs", "artifact_uri"): "run artifact URI",
    ("tags", "key"): "tag key",
    ("tags", "value"): "tag value",
    ("params", "key"): "param key",
    ("params", "value"): "param value",
    ("metrics", "key"): "metric key",
}

# Columns each MLflow table must have for this store to work with it.
_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "experiments": EXPERIMENT_COLUMNS,
    "experiment_tags": ("key", "value", "experiment_id"),
    "runs": (
        *RUN_COLUMNS,
        "source_type",
        "source_name",
        "entry_point_name",
        "source_version",
        "deleted_time",
    ),
    "tags": ("key", "value", "run_uuid"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
}
_DATASET_TABLES = ("datasets", "inputs", "input_tags")


def _experiment_int(experiment_id: object) -> int | None:
    """The integer id of ``experiment_id``, or None if no SQL experiment can have it."""
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        value = experiment_id
    elif isinstance(experiment_id, str) and experiment_id.isascii() and experiment_id.isdigit():
        if experiment_id != "0" and experiment_id.startswith("0"):
            return None  # "07" is not how the experiment 7 is spelled
        value = int(experiment_id)
    else:
        return None
    return value if 0 <= value <= _MAX_INT64 else None


def _join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _absolute_location(location: str) -> str:
    """Make a bare relative path absolute; leave URIs (``s3://``, ``file:``...) alone."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:", location):
        return location
    return os.path.abspath(location)


class SqlTrackingStore(
    SqlGc, SqlTrackingImports, SqlTraces, SqlLoggedModels, SqlRunInputs, TrackingStore
):
    """MLflow's tracking store API over a SQL database in MLflow's table layout.

    Args:
        store_uri: a SQLAlchemy URL: ``sqlite:///path.db`` (relative paths are made absolute;
            ``sqlite://`` is an in-memory database), ``postgresql[+driver]://...``,
            ``mysql[+driver]://...``, ``mssql+pyodbc://...`` (untested). A fresh database
            gets MLflow's head schema (:mod:`trackyard_sql.bootstrap`).
        artifact_uri: the default artifact root of new experiments; None means
            :func:`trackyard.config.get_artifact_root`. Bare paths are made absolute.

    Raises:
        PluginLoadError: the database driver is not installed (the message says what to
            install).
        TrackyardError: the database cannot be reached or opened (the message says why), or
            has MLflow's tables at a schema too old for this store.

    Inside :func:`trackyard.stores.read_only_opens` the store opens without writing (see
    :mod:`trackyard_sql.database`): a missing ``Default`` experiment is noted, not created,
    and every write raises INVALID_STATE.
    """

    capabilities = Capabilities(
        transactions=True,
        concurrent_processes=True,
        search_or=True,
        logged_models=True,
        datasets=True,
        traces=True,
        assessments=True,
        gc=True,
        imports=True,
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        store_uri = store_uri or config.get_tracking_uri()
        root = artifact_uri or config.get_artifact_root()
        super().__init__(store_uri, _absolute_location(root).rstrip("/") or root)
        self._db = Database.open(store_uri)
        self._closed = False
        try:
            require_columns(self._db, _REQUIRED_COLUMNS, "SQL tracking store")
            layout = self._db.layout
            self._dialect = self._db.dialect
            self._workspace = WORKSPACE_DEFAULT if layout.has("experiments", "workspace") else None
            self._datasets = all(layout.has(t) for t in _DATASET_TABLES)
            self._trace_tables = not layout.missing(TRACE_REQUIRED_COLUMNS)
            self._writer = RunWriter(self._db)
            self._snapshots = SearchSnapshots(self._db) if self._dialect.is_sqlite else None
            self._prepare_statements()
            self._ensure_default_experiment()
        except BaseException:
            self.close()
            raise

    @property
    def database(self) -> Database:
        """The database this store works in (shared with other SQL stores of the same URL)."""
        return self._db

    @classmethod
    def explain_error(cls, exc: BaseException, uri: str) -> str | None:
        """Say why a database could not be reached or opened (see :mod:`trackyard_sql.explain`)."""
        found = explain.explain(exc, uri)
        return None if found is None else found[1]

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (the cache then opens a new store for the URI)."""
        return self._closed

    def close(self) -> None:
        """Release this store's use of the database (the last user closes the pool)."""
        if not self._closed:
            self._closed = True
            snapshots = getattr(self, "_snapshots", None)
            if snapshots is not None:
                snapshots.clear()
            self._db.close()

    def __repr__(self) -> str:
        return f"SqlTrackingStore({mask_credentials(str(self.store_uri))!r})"

    # ---------------------------------------------------------------------------------------
    # Setup

    def _check(self, table: str, column: str, value: str | None) -> None:
        self._db.check_width(
            table, column, value, _LABELS.get((table, column), f"{table}.{column}")
        )

    def _prepare_statements(self) -> None:
        d = self._dialect
        ws = " AND workspace = ?" if self._workspace is not None else ""
        self._ws_params: tuple[Any, ...] = (self._workspace,) if self._workspace is not None else ()
        exp_cols = ", ".join(EXPERIMENT_COLUMNS)
        run_cols = ", ".join(RUN_COLUMNS)
        s = d.sql
        key_eq = self._key_eq = d.key_equals('"key"')
        self._sql_experiment_by_id = s(
            f"SELECT {exp_cols} FROM experiments WHERE experiment_id = ?{ws}"
        )
        self._sql_experiment_by_name = s(
            f"SELECT {exp_cols} FROM experiments WHERE {d.key_equals('name')}{ws}"
        )
        self._sql_experiment_tags = s(
            'SELECT "key", value FROM experiment_tags WHERE experiment_id = ?'
        )
        run_eq = d.key_equals("run_uuid")  # exact even under MySQL's case-insensitive collation
        self._sql_run_by_id = s(f"SELECT {run_cols} FROM runs WHERE {run_eq}")
        # A template (``?`` placeholders): paging may be appended before d.sql() rewrites it.
        # SQLite would rather walk the primary key (key, timestamp, ...) to skip the sort,
        # which reads that key's points of *every* run; MLflow's (run_uuid, key, step) index
        # reads just this run's.
        hint = (
            " INDEXED BY index_metrics_run_uuid_key_step"
            if d.is_sqlite
            and "index_metrics_run_uuid_key_step" in self._db.layout.indexes.get("metrics", ())
            else ""
        )
        self._history_template = (
            f"SELECT value, timestamp, step, is_nan FROM metrics{hint} "
            f"WHERE run_uuid = ? AND {key_eq} ORDER BY timestamp, step, value"
        )

    def _use_portable_statements(self) -> None:
        """Use only the portable statements (no upserts), as on untested dialects; for tests."""
        self._dialect.generic = True
        self._writer.prepare()
        self._prepare_statements()

    def _ensure_default_experiment(self) -> None:
        """Create the Default experiment (id 0) if it is missing, as MLflow does."""
        d = self._dialect
        exists_sql = d.sql("SELECT 1 FROM experiments WHERE experiment_id = ?")
        if self._db.read(lambda cur: fetch_scalar(cur, exists_sql, (DEFAULT_EXPERIMENT_ID,))):
            return
        request = read_only_open()
        if self._db.read_only and request is not None:
            request.missing_default_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME)
            return
        location = _join_uri(str(self.artifact_uri), str(DEFAULT_EXPERIMENT_ID))
        self._check("experiments", "artifact_location", location)
        now = now_ms()

        def insert(cur: Any) -> None:
            cur.execute(exists_sql, (DEFAULT_EXPERIMENT_ID,))
            if cur.fetchone():
                return
            columns = ["experiment_id", *EXPERIMENT_COLUMNS[1:]]
            values: list[Any] = [
                DEFAULT_EXPERIMENT_ID,
                DEFAULT_EXPERIMENT_NAME,
                location,
                LifecycleStage.ACTIVE,
                now,
                now,
            ]
            if self._workspace is not None:
                columns.append("workspace")
                values.append(self._workspace)
            sql = d.sql(
                f"INSERT INTO experiments ({', '.join(columns)}) VALUES ({d.marks(len(values))})"
            )
            if d.is_mysql:
                # An explicit 0 in an AUTO_INCREMENT column means "next id" unless told not to.
                cur.execute("SELECT @@SESSION.sql_mode")
                old_mode = str(cur.fetchone()[0] or "")
                modes = [m for m in old_mode.split(",") if m]
                cur.execute(
                    "SET SESSION sql_mode = %s", (",".join([*modes, "NO_AUTO_VALUE_ON_ZERO"]),)
                )
                try:
                    cur.execute(sql, values)
                finally:
                    cur.execute("SET SESSION sql_mode = %s", (old_mode,))
            elif d.is_mssql:
                cur.execute("SET IDENTITY_INSERT experiments ON")
                try:
                    cur.execute(sql, values)
                finally:
                    cur.execute("SET IDENTITY_INSERT experiments OFF")
            else:
                cur.execute(sql, values)

        self._db.write(insert)

    # ---------------------------------------------------------------------------------------
    # Experiments

    def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]:
        eid = _experiment_int(experiment_id)
        if eid is None:
            raise _experiment_not_found(experiment_id)
        cur.execute(self._sql_experiment_by_id, (eid, *self._ws_params))
        row = cur.fetchone()
        if row is None:
            raise _experiment_not_found(experiment_id)
        return tuple(row)

    def _make_experiment(self, cur: Any, row: Sequence[Any]) -> Experiment:
        cur.execute(self._sql_experiment_tags, (row[0],))
        tags = {k: v for k, v in cur.fetchall()}
        return experiment_from_row(row, tags)

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """Create an experiment and return its id.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS if the name is taken, even by a deleted
                experiment; INVALID_PARAMETER_VALUE if a value is wider than its column.
        """
        d = self._dialect
        self._check("experiments", "name", name)
        location = _absolute_location(artifact_location) if artifact_location else None
        self._check("experiments", "artifact_location", location)
        tag_rows = [(t.key, t.value) for t in tags or ()]
        for key, value in tag_rows:
            self._check("experiment_tags", "key", key)
            self._check("experiment_tags", "value", value)
        now = now_ms()

        def create(cur: Any) -> str:
            cur.execute(self._sql_experiment_by_name, (*d.key_params(name), *self._ws_params))
            if cur.fetchone() is not None:
                raise _experiment_exists(name)
            columns = [
                "name",
                "artifact_location",
                "lifecycle_stage",
                "creation_time",
                "last_update_time",
            ]
            values: list[Any] = [name, location, LifecycleStage.ACTIVE, now, now]
            if self._workspace is not None:
                columns.append("workspace")
                values.append(self._workspace)
            sql = f"INSERT INTO experiments ({', '.join(columns)}) VALUES ({d.marks(len(values))})"
            if d.is_postgres:
                cur.execute(d.sql(sql + " RETURNING experiment_id"), values)
                new_id = int(cur.fetchone()[0])
            elif d.is_mssql:
                output = sql.replace(") VALUES", ") OUTPUT INSERTED.experiment_id VALUES")
                cur.execute(d.sql(output), values)
                new_id = int(cur.fetchone()[0])
            else:
                cur.execute(d.sql(sql), values)
                new_id = int(cur.lastrowid)
            if location is None:
                default = _join_uri(str(self.artifact_uri), str(new_id))
                self._check("experiments", "artifact_location", default)
                cur.execute(
                    d.sql("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"),
                    (default, new_id),
                )
            if tag_rows:
                cur.executemany(
                    d.sql(
                        'INSERT INTO experiment_tags ("key", value, experiment_id) VALUES (?, ?, ?)'
                    ),
                    [(k, v, new_id) for k, v in tag_rows],
                )
            return str(new_id)

        try:
            return self._db.write(create)
        except TrackyardError as exc:
            if isinstance(exc.__cause__, self._db.integrity_error):
                raise _experiment_exists(name) from exc.__cause__
            raise

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment (RESOURCE_DOES_NOT_EXIST if absent)."""

        def get(cur: Any) -> Experiment:
            return self._make_experiment(cur, self._experiment_row(cur, experiment_id))

        return self._db.read(get)

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Return the experiment with this name (active or deleted), or None."""
        d = self._dialect

        def get(cur: Any) -> Experiment | None:
            cur.execute(
                self._sql_experiment_by_name, (*d.key_params(experiment_name), *self._ws_params)
            )
            row = cur.fetchone()
            return None if row is None else self._make_experiment(cur, row)

        return self._db.read(get)

    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """Return the page of experiments ``request`` asks for (one query, then their tags)."""
        d = self._dialect
        stages = sorted(ViewType.to_lifecycle_stages(request.view_type))
        sql, params = compile_experiment_search(
            d, request, stages=stages, workspace=self._workspace
        )

        def run(cur: Any) -> PagedList[Experiment]:
            cur.execute(sql, params)
            page = request.paged(cur.fetchall())
            tags: dict[Any, dict[str, str]] = {row[0]: {} for row in page}
            for chunk in chunks(list(tags), _IN_CHUNK):
                cur.execute(
                    d.sql(
                        'SELECT experiment_id, "key", value FROM experiment_tags '
                        f"WHERE experiment_id IN ({d.marks(len(chunk))})"
                    ),
                    chunk,
                )
                for eid, key, value in cur.fetchall():
                    tags[eid][key] = value
            return PagedList([experiment_from_row(row, tags[row[0]]) for row in page], page.token)

        return self._db.read(run)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an active experiment and its active runs deleted (runs get a deleted_time)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            if row[3] != LifecycleStage.ACTIVE:
                raise _experiment_not_found(experiment_id)
            now = now_ms()
            cur.execute(
                d.sql(
                    "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? "
                    "WHERE experiment_id = ?"
                ),
                (LifecycleStage.DELETED, now, row[0]),
            )
            cur.execute(
                d.sql(
                    "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? "
                    "WHERE experiment_id = ? AND lifecycle_stage = ?"
                ),
                (LifecycleStage.DELETED, now, row[0], LifecycleStage.ACTIVE),
            )

        self._db.write(delete)

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and the runs its deletion marked deleted."""
        d = self._dialect

        def restore(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            if row[3] != LifecycleStage.DELETED:
                raise _experiment_not_found(experiment_id)
            deleted_at = row[5] if row[5] is not None else 0
            cur.execute(
                d.sql(
                    "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? "
                    "WHERE experiment_id = ?"
                ),
                (LifecycleStage.ACTIVE, now_ms(), row[0]),
            )
            # Runs deleted on their own before the experiment keep their state.
            cur.execute(
                d.sql(
                    "UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL "
                    "WHERE experiment_id = ? AND lifecycle_stage = ? "
                    "AND (deleted_time IS NULL OR deleted_time >= ?)"
                ),
                (LifecycleStage.ACTIVE, row[0], LifecycleStage.DELETED, deleted_at),
            )

        self._db.write(restore)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; the new name must be free."""
        d = self._dialect
        self._check("experiments", "name", new_name)

        def rename(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            if row[3] != LifecycleStage.ACTIVE:
                raise _not_active("experiment", experiment_id, row[3])
            if row[1] == new_name:
                return
            cur.execute(self._sql_experiment_by_name, (*d.key_params(new_name), *self._ws_params))
            if cur.fetchone() is not None:
                raise _experiment_exists(new_name)
            cur.execute(
                d.sql(
                    "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?"
                ),
                (new_name, now_ms(), row[0]),
            )

        try:
            self._db.write(rename)
        except TrackyardError as exc:
            if isinstance(exc.__cause__, self._db.integrity_error):
                raise _experiment_exists(new_name) from exc.__cause__
            raise

    def _active_experiment_id(self, cur: Any, experiment_id: str) -> int:
        row = self._experiment_row(cur, experiment_id)
        if row[3] != LifecycleStage.ACTIVE:
            raise _not_active("experiment", experiment_id, row[3])
        return int(row[0])

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) a tag of an active experiment."""
        self._check("experiment_tags", "key", tag.key)
        self._check("experiment_tags", "value", tag.value)

        def set_tag(cur: Any) -> None:
            eid = self._active_experiment_id(cur, experiment_id)
            self._writer.upsert(
                cur,
                self._writer.sql_upsert_experiment_tag,
                "experiment_tags",
                "experiment_id",
                [(tag.key, tag.value, eid)],
            )

        self._db.write(set_tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete a tag of an active experiment (RESOURCE_DOES_NOT_EXIST if absent)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            eid = self._active_experiment_id(cur, experiment_id)
            cur.execute(
                d.sql(f"DELETE FROM experiment_tags WHERE experiment_id = ? AND {self._key_eq}"),
                (eid, *d.key_params(key)),
            )
            if cur.rowcount == 0:
                raise TrackyardError(
                    f"No tag with name: {key} in experiment with id {experiment_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._db.write(delete)

    # ---------------------------------------------------------------------------------------
    # Runs

    def _run_row(self, cur: Any, run_id: str) -> tuple[Any, ...]:
        cur.execute(self._sql_run_by_id, self._dialect.key_params(run_id))
        row = cur.fetchone()
        if row is None:
            raise _run_not_found(run_id)
        return tuple(row)

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a run in an active experiment; ``runs.name`` and ``mlflow.runName`` agree."""
        d = self._dialect
        tag_map, name = new_run_tags(tags, run_name)
        self._check("runs", "name", name)
        self._check("runs", "user_id", user_id)
        for key, value in tag_map.items():
            self._check("tags", "key", key)
            self._check("tags", "value", value)
        run_id = uuid.uuid4().hex
        tag_rows = sorted((k, v, run_id) for k, v in tag_map.items())

        def create(cur: Any) -> tuple[Any, ...]:
            exp = self._experiment_row(cur, experiment_id)
            if exp[3] != LifecycleStage.ACTIVE:
                raise _not_active("experiment", experiment_id, exp[3])
            artifact_uri = _join_uri(str(exp[2]), run_id, _ARTIFACTS_FOLDER)
            self._check("runs", "artifact_uri", artifact_uri)
            row = (
                run_id,
                exp[0],
                name,
                user_id,
                RunStatus.to_string(RunStatus.RUNNING),
                start_time,
                None,
                LifecycleStage.ACTIVE,
                artifact_uri,
            )
            cur.execute(d.sql(RUN_INSERT), (*row, "UNKNOWN", "", "", "", None))
            if tag_rows:
                cur.executemany(
                    d.sql('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)'), tag_rows
                )
            return row

        row = self._db.write(create)
        return Run(
            run_info_from_row(row),
            RunData(tags=[RunTag(k, v) for k, v, _ in tag_rows]),
        )

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params, tags and dataset inputs."""

        def get(cur: Any) -> Run:
            row = self._run_row(cur, run_id)
            return self._load_runs(cur, [row])[0]

        return self._db.read(get)

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status and end time, and the name (column and tag) when given."""
        d = self._dialect
        status = RunStatus.to_string(run_status)
        if run_name:
            self._check("runs", "name", run_name)

        def update(cur: Any) -> tuple[Any, ...]:
            self._writer.lock_active_run(cur, run_id)
            if run_name:
                cur.execute(
                    d.sql("UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?"),
                    (status, end_time, run_name, run_id),
                )
                self._writer.upsert(
                    cur,
                    self._writer.sql_upsert_tag,
                    "tags",
                    "run_uuid",
                    [(_RUN_NAME_TAG, run_name, run_id)],
                )
            else:
                cur.execute(
                    d.sql("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?"),
                    (status, end_time, run_id),
                )
            return self._run_row(cur, run_id)

        return run_info_from_row(self._db.write(update))

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (deleting a deleted run keeps its first deleted_time)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            self._run_row(cur, run_id)
            cur.execute(
                d.sql(
                    "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? "
                    "WHERE run_uuid = ? AND lifecycle_stage = ?"
                ),
                (LifecycleStage.DELETED, now_ms(), run_id, LifecycleStage.ACTIVE),
            )

        self._db.write(delete)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        d = self._dialect

        def restore(cur: Any) -> None:
            self._run_row(cur, run_id)
            cur.execute(
                d.sql(
                    "UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE run_uuid = ?"
                ),
                (LifecycleStage.ACTIVE, run_id),
            )

        self._db.write(restore)

    # ---------------------------------------------------------------------------------------
    # Logging

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """Write metrics, params and tags to an active run in one transaction.

        Identical metric rows are skipped; a param re-logged with a different value is
        INVALID_PARAMETER_VALUE and then nothing of the batch is written.
        """
        if not metrics and not params and not tags:
            stage = self._db.read(lambda cur: self._run_row(cur, run_id))[7]
            if stage != LifecycleStage.ACTIVE:
                raise _not_active("run", run_id, stage)
            return
        d = self._dialect
        metric_rows: list[tuple[Any, ...]] = []
        latest: dict[str, tuple[tuple[int, int, float], bool]] = {}
        append = metric_rows.append
        get = latest.get
        for m in metrics:
            key, v, ts, step = m.key, m.value, m.timestamp, m.step
            if v - v == 0.0:  # finite: the common case, one test
                nan = False
            else:
                v, nan = db_metric_value(v)
            append((key, v, ts, run_id, step, nan))
            rank = (step, ts, v)
            best = get(key)
            if best is None or rank > best[0]:
                latest[key] = (rank, nan)
        metric_limit = self._db.layout.chars.get(("metrics", "key"))
        if metric_limit is not None and metric_limit < 250:  # validation caps keys at 250
            for key in latest:
                self._check("metrics", "key", key)
        param_rows = sorted((p.key, p.value, run_id) for p in params)
        for key, value, _ in param_rows:
            self._check("params", "key", key)
            self._check("params", "value", value)
        tag_map = {t.key: t.value for t in tags}
        tag_rows = sorted((k, v, run_id) for k, v in tag_map.items())
        for key, value, _ in tag_rows:
            self._check("tags", "key", key)
            self._check("tags", "value", value)
        new_name = tag_map.get(_RUN_NAME_TAG)
        if new_name is not None:
            self._check("runs", "name", new_name)
        if not d.is_sqlite:
            # Primary-key order (key, timestamp, step, ..., value, is_nan): concurrent writers
            # take row locks in the same order, so they queue instead of deadlocking.
            metric_rows.sort(key=_metric_pk_order)
        latest_rows = [
            (key, rank[2], rank[1], rank[0], nan, run_id)
            for key, (rank, nan) in sorted(latest.items())
        ]

        has_model_metrics = any(m.model_id is not None for m in metrics)

        def write(cur: Any) -> None:
            self._writer.lock_active_run(cur, run_id)
            if param_rows:
                self._writer.write_params(cur, run_id, param_rows)
            if tag_rows:
                if new_name is not None:
                    cur.execute(
                        d.sql("UPDATE runs SET name = ? WHERE run_uuid = ?"), (new_name, run_id)
                    )
                self._writer.upsert(cur, self._writer.sql_upsert_tag, "tags", "run_uuid", tag_rows)
            if metric_rows:
                self._writer.insert_metrics(cur, metric_rows)
                self._writer.update_latest(cur, latest_rows)
                if has_model_metrics:
                    self._write_model_metrics(cur, run_id, metrics)

        self._db.write_grouped(write)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag of an active run (RESOURCE_DOES_NOT_EXIST if absent)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            self._writer.lock_active_run(cur, run_id)
            cur.execute(
                d.sql(f"DELETE FROM tags WHERE run_uuid = ? AND {self._key_eq}"),
                (run_id, *d.key_params(key)),
            )
            if cur.rowcount == 0:
                raise TrackyardError(
                    f"No tag with name: {key} in run with id {run_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._db.write(delete)

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Return the points of one metric ordered by (timestamp, step, value)."""
        offset = decode_page_token(page_token)
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
        ):
            raise _invalid(f"Invalid value {max_results!r} for parameter 'max_results'")
        d = self._dialect
        template = self._history_template
        params: list[Any] = [run_id, *d.key_params(metric_key)]
        if max_results is not None or offset:
            limit = (max_results + 1) if max_results is not None else 2**62
            paging, paging_params = d.limit_offset(limit, offset)
            template = f"{template} {paging}"
            params.extend(paging_params)
        sql = d.sql(template)

        def history(cur: Any) -> PagedList[Metric]:
            self._run_row(cur, run_id)
            cur.execute(sql, params)
            rows = cur.fetchall()
            token = None
            if max_results is not None and len(rows) > max_results:
                rows = rows[:max_results]
                token = encode_page_token(offset + max_results)
            key = metric_key
            points = [
                Metric(key, value, ts, step)
                if not is_nan and -DBL_MAX < value < DBL_MAX
                else Metric(key, py_metric_value(value, is_nan), ts, step)
                for value, ts, step, is_nan in rows
            ]
            return PagedList(points, token)

        return self._db.read(history)

    # ---------------------------------------------------------------------------------------
    # Search

    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """Return the page of runs ``request`` asks for: one query for the page, a few for data.

        On SQLite, pages come from the connection's search snapshot while nothing was
        written (:mod:`trackyard_sql.snapshot`).
        """
        d = self._dialect
        stages = sorted(ViewType.to_lifecycle_stages(request.view_type))
        ids = sorted({i for i in map(_experiment_int, request.experiment_ids) if i is not None})
        if not ids:
            return PagedList([], None)
        sql, params = compile_run_search(
            d, request, experiment_ids=ids, stages=stages, datasets=self._datasets
        )
        snapshots = self._snapshots

        def run(cur: Any) -> PagedList[Run]:
            if snapshots is not None:
                query = (tuple(ids), tuple(stages), request.filter, request.order_by)
                return snapshots.page(
                    cur,
                    query,
                    sql,
                    params,
                    request.max_results,
                    request.offset,
                    datasets=self._datasets,
                )
            cur.execute(sql, params)
            page = request.paged([row[0] for row in cur.fetchall()])
            return PagedList(self._load_runs(cur, run_rows(d, cur, list(page))), page.token)

        return self._db.read(run)

    def _load_runs(self, cur: Any, rows: Sequence[Sequence[Any]]) -> list[Run]:
        """Build Run objects for ``rows`` with a few batched queries."""
        parts = fetch_run_parts(self._dialect, cur, rows, datasets=self._datasets)
        return [build_run(parts[row[0]]) for row in rows]
