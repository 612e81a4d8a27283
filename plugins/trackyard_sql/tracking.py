"""The SQL tracking store: SQLite, PostgreSQL and MySQL/MariaDB in MLflow's table layout.

Design:

- SQLAlchemy supplies the engine (URL parsing, driver loading, connection pool) and the DDL of
  :mod:`trackyard_sql.schema`; every statement is hand-written SQL sent through the DB-API
  connection (:mod:`trackyard_sql._dialect` has the per-dialect text), because that is where
  the time goes on hot paths (a 1000-point ``log_batch`` is one ``executemany``).
- Every operation is one transaction. Writes retry a few times on deadlocks, serialization
  failures and SQLite's "database is locked".
- SQLite runs in WAL mode with ``synchronous=NORMAL`` and a 30 s busy timeout, and write
  transactions start with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so several
  processes can log to one file without failing on a lock upgrade).
- On PostgreSQL and MySQL a write locks its run row first and then touches rows in sorted key
  order, so concurrent writers queue instead of deadlocking.
- The engine is recreated after ``fork`` (the process id changed), so a child never uses its
  parent's connections.

Data compatibility with MLflow: NaN metric values are stored as ``value=0, is_nan=1``; +/-inf
as +/-1.7976931348623157e308 (MLflow does the same), and **unlike MLflow** those two values are
read back as +/-inf, so the SQL store agrees with the file store. ``latest_metrics`` follows
MLflow's rule: a point replaces the stored one when ``(step, timestamp, value)`` is strictly
greater, NaN counting as 0.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any, TypeVar

import sqlalchemy as sa

from trackyard import config
from trackyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
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
from trackyard.errors import ErrorCode, PluginLoadError, TrackyardError
from trackyard.errors import experiment_exists as _experiment_exists
from trackyard.errors import experiment_not_found as _experiment_not_found
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import not_active as _not_active
from trackyard.errors import run_not_found as _run_not_found
from trackyard.stores import Capabilities, TrackingStore, new_run_tags
from trackyard.uri import mask_credentials
from trackyard_sql import _search
from trackyard_sql._dialect import Dialect, sqlite_lower
from trackyard_sql.schema import (
    DATASET_SOURCE_TYPE,
    RUN_DESTINATION_TYPE,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    TRACKING_TABLES,
    WORKSPACE_DEFAULT,
    build_metadata,
)

__all__ = ["SqlTrackingStore"]

_logger = logging.getLogger("trackyard.sql")

T = TypeVar("T")

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
_RUN_NAME_TAG = "mlflow.runName"
_ARTIFACTS_FOLDER = "artifacts"

_DBL_MAX = 1.7976931348623157e308
_INF = math.inf
_NAN = math.nan
_MAX_INT64 = 2**63 - 1

_WRITE_ATTEMPTS = 5
_METRIC_COLUMNS = ("key", "value", "timestamp", "run_uuid", "step", "is_nan")
_metric_pk_order = itemgetter(0, 2, 4, 1, 5)  # metric row -> (key, timestamp, step, value, nan)
_METRIC_ROWS_PER_STATEMENT = 100  # one multi-row INSERT per 100 points (SQLite)
_NO_INPUTS = RunInputs()  # immutable: shared by every run without inputs
_NO_OUTPUTS = RunOutputs()
_IN_CHUNK = 500  # ids per IN (...) list when loading a page of runs
# Search snapshots (SQLite only): how far ahead a paging query reads, and how much is kept.
_SNAPSHOT_IDS_AHEAD = 5000
_SNAPSHOT_RUNS_AHEAD = 2000
_SNAPSHOT_MAX_RUNS = 50_000
_SNAPSHOT_MAX_QUERIES = 32

# (runs row, latest (key, value, timestamp, step), latest values, params, tags, dataset
# inputs) of one run.
_RunParts = tuple[
    tuple[Any, ...],
    list[tuple[str, float, int, int]],
    dict[str, float],
    dict[str, str],
    dict[str, str],
    tuple[Any, ...],
]


class _SearchCache:
    """What one SQLite connection learnt from searches since the database last changed.

    ``orders`` maps a query (experiments, stages, filter, order) to the run ids it returns,
    in order, from the top (and whether that list was cut short); ``runs`` maps run ids to
    their parts. Both are dropped as soon as ``version`` moves on.
    """

    __slots__ = ("orders", "runs", "version")

    def __init__(self, version: tuple[int, int]) -> None:
        self.version = version
        self.orders: dict[Hashable, tuple[list[str], bool]] = {}
        self.runs: dict[str, _RunParts] = {}

    def reset(self, version: tuple[int, int]) -> None:
        self.version = version
        self.orders.clear()
        self.runs.clear()


def _build_run(parts: _RunParts) -> Run:
    """A fresh Run from cached parts (containers are copied, so callers may change them)."""
    row, metric_rows, metrics, params, tags, inputs = parts
    data = RunData._from_parts(metric_rows, metrics.copy(), params.copy(), tags.copy())
    run_inputs = RunInputs(dataset_inputs=inputs) if inputs else _NO_INPUTS
    return Run(_run_info_from_row(row), data, run_inputs, _NO_OUTPUTS)


def _with_paging(params: Sequence[Any], limit: int, offset: int) -> list[Any]:
    """``params`` of a compiled SQLite search with its trailing LIMIT/OFFSET replaced."""
    return [*params[:-2], limit, offset]


_INSTALL_HINTS = {
    "postgresql": 'pip install "trackyard[postgres]"',
    "mysql": 'pip install "trackyard[mysql]"',
    "mariadb": 'pip install "trackyard[mysql]"',
    "mssql": "pip install pyodbc",
}

# Columns whose width is checked before writing, with what to call them in errors.
_CHECKED_COLUMNS: dict[tuple[str, str], str] = {
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
_REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "experiments": frozenset(
        {
            "experiment_id",
            "name",
            "artifact_location",
            "lifecycle_stage",
            "creation_time",
            "last_update_time",
        }
    ),
    "experiment_tags": frozenset({"key", "value", "experiment_id"}),
    "runs": frozenset(
        {
            "run_uuid",
            "name",
            "source_type",
            "source_name",
            "entry_point_name",
            "user_id",
            "status",
            "start_time",
            "end_time",
            "deleted_time",
            "source_version",
            "lifecycle_stage",
            "artifact_uri",
            "experiment_id",
        }
    ),
    "tags": frozenset({"key", "value", "run_uuid"}),
    "params": frozenset({"key", "value", "run_uuid"}),
    "metrics": frozenset({"key", "value", "timestamp", "run_uuid", "step", "is_nan"}),
    "latest_metrics": frozenset({"key", "value", "timestamp", "step", "is_nan", "run_uuid"}),
}
_DATASET_TABLES = ("datasets", "inputs", "input_tags")


def _now_ms() -> int:
    return int(time.time() * 1000)


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


def _db_metric_value(value: float) -> tuple[float, bool]:
    """Map a metric value to its stored ``(value, is_nan)``."""
    if value != value:
        return 0.0, True
    if value == _INF:
        return _DBL_MAX, False
    if value == -_INF:
        return -_DBL_MAX, False
    return value, False


_DBL_LIMITS = frozenset({_DBL_MAX, -_DBL_MAX})


def _py_metric_value(value: float, is_nan: Any) -> float:
    """Map a stored ``(value, is_nan)`` back to the logged value (inf included)."""
    if is_nan:
        return _NAN
    if value == _DBL_MAX:
        return _INF
    if value == -_DBL_MAX:
        return -_INF
    return float(value)


def _join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _absolute_location(location: str) -> str:
    """Make a bare relative path absolute; leave URIs (``s3://``, ``file:``...) alone."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:", location):
        return location
    return os.path.abspath(location)


@dataclass
class _ColumnWidths:
    """What the database's tables look like: columns and the widths of string columns."""

    tables: set[str] = field(default_factory=set)
    columns: dict[str, set[str]] = field(default_factory=dict)
    chars: dict[tuple[str, str], int] = field(default_factory=dict)
    octets: dict[tuple[str, str], int] = field(default_factory=dict)
    indexes: set[str] = field(default_factory=set)


class SqlTrackingStore(TrackingStore):
    """MLflow's tracking store API over a SQL database in MLflow's table layout.

    Args:
        store_uri: a SQLAlchemy URL: ``sqlite:///path.db`` (relative paths are made absolute;
            ``sqlite://`` is an in-memory database), ``postgresql[+driver]://...``,
            ``mysql[+driver]://...``, ``mssql+pyodbc://...`` (untested).
        artifact_uri: the default artifact root of new experiments; None means
            :func:`trackyard.config.get_artifact_root`. Bare paths are made absolute.

    Raises:
        PluginLoadError: the database driver is not installed (the message says what to
            install).
        TrackyardError: the database has MLflow's tables but is too old for this store, or
            was created by a newer trackyard.
    """

    capabilities = Capabilities(
        transactions=True, concurrent_processes=True, search_or=True, datasets=False
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        store_uri = store_uri or config.get_tracking_uri()
        root = artifact_uri or config.get_artifact_root()
        super().__init__(store_uri, _absolute_location(root).rstrip("/") or root)
        self._lock = threading.RLock()
        self._url = self._normalize_url(store_uri)
        self._engine = self._create_engine(self._url)
        self._pid = os.getpid()
        dbapi = self._engine.dialect.dbapi
        self._dbapi: Any = dbapi
        self._integrity_error: type[Exception] = dbapi.IntegrityError  # type: ignore[union-attr]
        self._db_error: type[Exception] = dbapi.Error  # type: ignore[union-attr]
        self._dialect = Dialect(self._engine.dialect.name, dbapi.paramstyle)  # type: ignore[union-attr]
        self._memory = self._dialect.is_sqlite and self._url.database in (None, "", ":memory:")
        self._widths = _ColumnWidths()
        self._workspace: str | None = None
        self._datasets = False
        self._write_epoch = 0  # bumped by every write transaction of this store
        self._search_caches: dict[int, tuple[Any, _SearchCache]] = {}
        self._bootstrap()
        self._prepare_statements()

    # ---------------------------------------------------------------------------------------
    # Engine and connections

    def _normalize_url(self, store_uri: str) -> sa.engine.URL:
        try:
            url = sa.engine.make_url(store_uri)
        except sa.exc.ArgumentError as exc:
            raise _invalid(
                f"Invalid SQL store URI {mask_credentials(store_uri)!r}: {exc}"
            ) from None
        backend = url.get_backend_name()
        if backend == "sqlite":
            db = url.database
            if db and db != ":memory:" and not db.startswith("file:") and not os.path.isabs(db):
                url = url.set(database=os.path.abspath(db))
        elif backend == "postgresql" and url.drivername == "postgresql":
            # Plain postgresql:// means psycopg2 on SQLAlchemy 2.0 and psycopg 3 on 2.1;
            # use whichever is installed.
            if _importable("psycopg"):
                url = url.set(drivername="postgresql+psycopg")
            elif _importable("psycopg2"):
                url = url.set(drivername="postgresql+psycopg2")
        elif (
            backend == "mysql"
            and url.drivername == "mysql"
            and not _importable("MySQLdb")
            and _importable("pymysql")
        ):
            url = url.set(drivername="mysql+pymysql")
        return url

    def _create_engine(self, url: sa.engine.URL) -> sa.engine.Engine:
        backend = url.get_backend_name()
        kwargs: dict[str, Any] = {"pool_reset_on_return": None}
        if backend == "sqlite":
            if url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
            else:
                kwargs["pool_size"] = 8
                kwargs["max_overflow"] = 32
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 8
            kwargs["max_overflow"] = 16
            if backend in ("mysql", "mariadb"):
                kwargs["isolation_level"] = "READ COMMITTED"
                if "charset" not in url.query:
                    url = url.update_query_dict({"charset": "utf8mb4"})
        try:
            engine = sa.create_engine(url, **kwargs)
        except ImportError as exc:
            hint = _INSTALL_HINTS.get(backend)
            raise PluginLoadError(
                f"The SQL tracking store for {mask_credentials(str(self.store_uri))!r} needs "
                f"a database driver that is not installed ({exc})."
                + (f" Install it with: {hint}" if hint else ""),
                plugin="trackyard_sql",
            ) from exc
        except sa.exc.NoSuchModuleError as exc:
            raise _invalid(
                f"Unsupported SQL store URI {mask_credentials(str(self.store_uri))!r}: {exc}"
            ) from exc
        if backend == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine

    def _check_fork(self) -> None:
        pid = os.getpid()
        if pid != self._pid:
            with self._lock:
                if pid != self._pid:
                    # Forget the parent's connections without closing them: they belong to it.
                    self._engine.dispose(close=False)
                    self._search_caches.clear()
                    self._pid = pid

    @contextlib.contextmanager
    def _cursor(self, *, write: bool) -> Iterator[Any]:
        """A cursor inside one transaction; committed on success, rolled back otherwise."""
        self._check_fork()
        lock = self._lock if self._memory else contextlib.nullcontext()
        with lock:
            raw = self._engine.raw_connection()
            try:
                cur = raw.cursor()
                try:
                    if self._dialect.is_sqlite:
                        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    yield cur
                    if write:
                        raw.commit()
                    else:
                        raw.rollback()
                except BaseException:
                    with contextlib.suppress(Exception):
                        raw.rollback()
                    raise
                finally:
                    with contextlib.suppress(Exception):
                        cur.close()
            finally:
                raw.close()

    def _read(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in a read transaction, retrying on transient conflicts.

        SQLite can refuse even a reader at once (``database is locked``, without waiting
        for the busy timeout) while another connection switches a new file to WAL mode.
        """
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._cursor(write=False) as cur:
                    return fn(cur)
            except (self._db_error, sa.exc.DBAPIError) as exc:
                if attempt + 1 < _WRITE_ATTEMPTS and self._is_transient(exc, attempt + 1):
                    time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
                    continue
                raise self._translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in a write transaction, retrying on transient conflicts.

        ``fn`` must be safe to run again: it is called afresh for every attempt, and a failed
        attempt leaves nothing behind.
        """
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                try:
                    with self._cursor(write=True) as cur:
                        return fn(cur)
                finally:
                    # Search snapshots of this process must not outlive a write, committed
                    # or not (SQLite's data_version misses writes made through the same
                    # connection).
                    self._write_epoch += 1
            except (self._db_error, sa.exc.DBAPIError) as exc:
                if attempt + 1 < _WRITE_ATTEMPTS and self._is_transient(exc, attempt):
                    _logger.debug("retrying a write after %s (attempt %d)", exc, attempt + 1)
                    time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
                    continue
                raise self._translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _is_transient(self, exc: Exception, attempt: int) -> bool:
        """Deadlocks, serialization failures, lock timeouts and duplicate-key races."""
        if isinstance(exc, sa.exc.DBAPIError):  # raised by the pool, e.g. while connecting
            if exc.connection_invalidated:
                return True
            exc = exc.orig if isinstance(exc.orig, Exception) else exc
        if isinstance(exc, self._integrity_error):
            # Maybe a concurrent insert of the same key: one retry sees the row. A conflict
            # that is still there then is real (e.g. MLflow's case-insensitive MySQL keys).
            return attempt == 0
        sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if sqlstate in ("40P01", "40001", "55P03"):
            return True
        args = getattr(exc, "args", ())
        if self._dialect.is_mysql and args and args[0] in (1205, 1213):
            return True
        text = str(exc).lower()
        return "database is locked" in text or "deadlock" in text or "database is busy" in text

    def _translate(self, exc: Exception) -> TrackyardError:
        """A TrackyardError for a database error (the URI is shown without credentials)."""
        if isinstance(exc, sa.exc.DBAPIError):  # from the pool: only the driver's message
            exc = exc.orig if isinstance(exc.orig, Exception) else exc
        if isinstance(exc, self._integrity_error):
            return _invalid(f"The write conflicts with data already in the database: {exc}")
        return TrackyardError(
            f"Database error on {mask_credentials(str(self.store_uri))!r}: {exc}",
            ErrorCode.INTERNAL_ERROR,
        )

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._search_caches.clear()
        self._engine.dispose()

    # ---------------------------------------------------------------------------------------
    # Schema: create on a fresh database, adopt MLflow's tables as they are

    def _inspect(self, cur: Any) -> _ColumnWidths:
        d = self._dialect
        wanted = (*TRACKING_TABLES, "alembic_version", "trackyard_schema")
        info = _ColumnWidths()
        if d.is_sqlite:
            cur.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')")
            found = cur.fetchall()
            info.indexes = {name for kind, name in found if kind == "index"}
            present = {name for kind, name in found if kind == "table"} & set(wanted)
            for table in present:
                cur.execute(f'PRAGMA table_info("{table}")')
                cols = info.columns.setdefault(table, set())
                for row in cur.fetchall():
                    name, declared = row[1], str(row[2] or "")
                    cols.add(name)
                    m = re.search(r"\((\d+)\)", declared)
                    if m and "CHAR" in declared.upper():
                        info.chars[(table, name)] = int(m.group(1))
            info.tables = present
            return info
        if d.is_postgres:
            schema_sql = "current_schema()"
        elif d.is_mysql:
            schema_sql = "DATABASE()"
        else:
            schema_sql = "SCHEMA_NAME()"
        cur.execute(
            d.sql(
                "SELECT table_name, column_name, data_type, character_maximum_length, "
                "character_octet_length FROM information_schema.columns "
                f"WHERE table_schema = {schema_sql} AND table_name IN ({d.marks(len(wanted))})"
            ),
            wanted,
        )
        for table, column, data_type, max_chars, max_octets in cur.fetchall():
            table, column = str(table), str(column)
            info.tables.add(table)
            info.columns.setdefault(table, set()).add(column)
            kind = str(data_type).lower()
            if "char" in kind and max_chars is not None and int(max_chars) > 0:
                info.chars[(table, column)] = int(max_chars)
            elif d.is_mysql and kind in ("tinytext", "text", "mediumtext") and max_octets:
                info.octets[(table, column)] = int(max_octets)
        return info

    def _bootstrap(self) -> None:
        info = self._read(self._inspect)
        if not ({"experiments", "runs"} & info.tables) or (
            "trackyard_schema" in info.tables and not set(_REQUIRED_COLUMNS) <= info.tables
        ):
            self._create_tables()
            info = self._read(self._inspect)
        elif "trackyard_schema" in info.tables:
            version = self._read(
                lambda cur: _fetch_scalar(
                    cur,
                    self._dialect.sql("SELECT version FROM trackyard_schema WHERE name = ?"),
                    (SCHEMA_NAME,),
                )
            )
            if version is not None and int(version) > SCHEMA_VERSION:
                raise TrackyardError(
                    f"The database {mask_credentials(str(self.store_uri))!r} was created by a "
                    f"newer trackyard (tracking schema version {version}; this one knows up to "
                    f"{SCHEMA_VERSION}). Upgrade trackyard.",
                    ErrorCode.INVALID_STATE,
                )
        missing = [
            f"{table}.{column}"
            for table, columns in _REQUIRED_COLUMNS.items()
            for column in sorted(columns - info.columns.get(table, set()))
        ]
        if missing:
            hint = (
                " It looks like an MLflow database at an old schema version: upgrade it with "
                "`mlflow db upgrade <uri>`."
                if "alembic_version" in info.tables
                else ""
            )
            raise TrackyardError(
                f"The database {mask_credentials(str(self.store_uri))!r} lacks tables or "
                f"columns the SQL tracking store needs: {', '.join(missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''}.{hint}",
                ErrorCode.INVALID_STATE,
            )
        self._widths = info
        self._workspace = (
            WORKSPACE_DEFAULT if "workspace" in info.columns.get("experiments", set()) else None
        )
        self._datasets = all(t in info.tables for t in _DATASET_TABLES)
        self._ensure_default_experiment()

    def _mysql_collation(self, cur: Any) -> str:
        cur.execute("SELECT VERSION()")
        version = str(cur.fetchone()[0])
        if "mariadb" in version.lower():
            return "utf8mb4_nopad_bin"  # binary and NO PAD: 'a' and 'a ' are different keys
        major = re.match(r"\d+", version)
        return "utf8mb4_0900_bin" if major and int(major.group(0)) >= 8 else "utf8mb4_bin"

    def _create_tables(self) -> None:
        """Create the tables (and trackyard_schema) on a fresh database, once, under a lock."""
        d = self._dialect
        engine_dialect = self._engine.dialect

        def create(cur: Any) -> None:
            if d.is_postgres:
                cur.execute(d.sql("SELECT pg_advisory_xact_lock(?)"), (_LOCK_ID,))
            elif d.is_mysql:
                cur.execute("SELECT GET_LOCK('trackyard_sql_bootstrap', 60)")
            try:
                info = self._inspect(cur)
                if {"experiments", "runs"} & info.tables and "trackyard_schema" not in info.tables:
                    return  # someone else's tables appeared meanwhile: adopt them as they are
                collate = self._mysql_collation(cur) if d.is_mysql else None
                md = build_metadata(mysql_collate=collate)
                for table in md.sorted_tables:
                    if table.name in info.tables:
                        continue
                    cur.execute(str(sa.schema.CreateTable(table).compile(dialect=engine_dialect)))
                    for index in sorted(table.indexes, key=lambda i: str(i.name)):
                        cur.execute(
                            str(sa.schema.CreateIndex(index).compile(dialect=engine_dialect))
                        )
                if "trackyard_schema" not in info.tables:
                    cur.execute(
                        d.sql("INSERT INTO trackyard_schema (name, version) VALUES (?, ?)"),
                        (SCHEMA_NAME, SCHEMA_VERSION),
                    )
            finally:
                if d.is_mysql:
                    cur.execute("SELECT RELEASE_LOCK('trackyard_sql_bootstrap')")

        self._write(create)

    def _ensure_default_experiment(self) -> None:
        """Create the Default experiment (id 0) if it is missing, as MLflow does."""
        d = self._dialect
        exists_sql = d.sql("SELECT 1 FROM experiments WHERE experiment_id = ?")
        if self._read(lambda cur: _fetch_scalar(cur, exists_sql, (DEFAULT_EXPERIMENT_ID,))):
            return
        location = _join_uri(str(self.artifact_uri), str(DEFAULT_EXPERIMENT_ID))
        self._check_width("experiments", "artifact_location", location)
        now = _now_ms()

        def insert(cur: Any) -> None:
            cur.execute(exists_sql, (DEFAULT_EXPERIMENT_ID,))
            if cur.fetchone():
                return
            columns = [
                "experiment_id",
                "name",
                "artifact_location",
                "lifecycle_stage",
                "creation_time",
                "last_update_time",
            ]
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

        self._write(insert)

    def _check_width(self, table: str, column: str, value: str | None) -> None:
        """Refuse a value wider than its column (SQLite would store it, others fail)."""
        if value is None:
            return
        limit = self._widths.chars.get((table, column))
        if limit is not None and len(value) > limit:
            raise _invalid(
                f"The {_CHECKED_COLUMNS.get((table, column), f'{table}.{column}')} is "
                f"{len(value)} characters long, but the database column {table}.{column} holds "
                f"at most {limit}: {value[:60]!r}{'...' if len(value) > 60 else ''}"
            )
        octets = self._widths.octets.get((table, column))
        if octets is not None and len(value) * 4 > octets and len(value.encode()) > octets:
            raise _invalid(
                f"The {_CHECKED_COLUMNS.get((table, column), f'{table}.{column}')} is "
                f"{len(value.encode())} bytes long, but the database column {table}.{column} "
                f"holds at most {octets} bytes."
            )

    def _key_limit(self, table: str) -> int | None:
        limit = self._widths.chars.get((table, "key"))
        return limit if limit is not None and limit < 250 else None

    # ---------------------------------------------------------------------------------------
    # Statements

    def _prepare_statements(self) -> None:
        d = self._dialect
        ws = " AND workspace = ?" if self._workspace is not None else ""
        self._ws_params: tuple[Any, ...] = (self._workspace,) if self._workspace is not None else ()
        exp_cols = ", ".join(_search.EXPERIMENT_COLUMNS)
        run_cols = ", ".join(_search.RUN_COLUMNS)
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
        lock = ""
        if d.is_postgres:
            lock = " FOR NO KEY UPDATE"
        elif d.is_mysql:
            lock = " FOR UPDATE"
        self._sql_run_stage_for_write = s(f"SELECT lifecycle_stage FROM runs WHERE {run_eq}{lock}")
        self._sql_insert_metric = d.insert_ignore("metrics", _METRIC_COLUMNS)
        self._multirow_metric_sql: dict[int, str] = {}
        self._sql_insert_metric_arrays = d.insert_metrics_from_arrays()
        self._sql_plain_insert_metric = s(
            'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        self._sql_upsert_latest = d.upsert_latest_metric()
        self._sql_upsert_tag = d.upsert("tags", ("key", "value", "run_uuid"), ("key", "run_uuid"))
        self._sql_upsert_experiment_tag = d.upsert(
            "experiment_tags", ("key", "value", "experiment_id"), ("key", "experiment_id")
        )
        self._sql_insert_param = s('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)')
        # Templates (``?`` placeholders): paging may be appended before d.sql() rewrites them.
        # SQLite would rather walk the primary key (key, timestamp, ...) to skip the sort,
        # which reads that key's points of *every* run; MLflow's (run_uuid, key, step) index
        # reads just this run's.
        hint = (
            " INDEXED BY index_metrics_run_uuid_key_step"
            if d.is_sqlite and "index_metrics_run_uuid_key_step" in self._widths.indexes
            else ""
        )
        self._history_template = (
            f"SELECT value, timestamp, step, is_nan FROM metrics{hint} "
            f"WHERE run_uuid = ? AND {key_eq} ORDER BY timestamp, step, value"
        )

    def _use_portable_statements(self) -> None:
        """Use only the portable statements (no upserts), as on untested dialects; for tests."""
        self._dialect.generic = True
        self._prepare_statements()

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
        return _experiment_from_row(row, tags)

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
        self._check_width("experiments", "name", name)
        location = _absolute_location(artifact_location) if artifact_location else None
        self._check_width("experiments", "artifact_location", location)
        tag_rows = [(t.key, t.value) for t in tags or ()]
        for key, value in tag_rows:
            self._check_width("experiment_tags", "key", key)
            self._check_width("experiment_tags", "value", value)
        now = _now_ms()

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
                self._check_width("experiments", "artifact_location", default)
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
            return self._write(create)
        except TrackyardError as exc:
            if isinstance(exc.__cause__, self._integrity_error):
                raise _experiment_exists(name) from exc.__cause__
            raise

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment (RESOURCE_DOES_NOT_EXIST if absent)."""

        def get(cur: Any) -> Experiment:
            return self._make_experiment(cur, self._experiment_row(cur, experiment_id))

        return self._read(get)

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Return the experiment with this name (active or deleted), or None."""
        d = self._dialect

        def get(cur: Any) -> Experiment | None:
            cur.execute(
                self._sql_experiment_by_name, (*d.key_params(experiment_name), *self._ws_params)
            )
            row = cur.fetchone()
            return None if row is None else self._make_experiment(cur, row)

        return self._read(get)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """Return one page of experiments matching the filter, in order (one SQL query)."""
        from trackyard import search

        kind = search.SearchKind.EXPERIMENTS
        expr = search.parse_filter(filter_string, kind)
        order = search.parse_order_by(order_by, kind)
        limit = search.validate_max_results(max_results, kind)
        offset = search.decode_page_token(page_token)
        stages = sorted(ViewType.to_lifecycle_stages(view_type))
        sql, params = _search.compile_experiment_search(
            self._dialect,
            stages=stages,
            workspace=self._workspace,
            expr=expr,
            order=order,
            limit=limit + 1,
            offset=offset,
        )

        def run(cur: Any) -> PagedList[Experiment]:
            cur.execute(sql, params)
            rows = cur.fetchall()
            token = search.encode_page_token(offset + limit) if len(rows) > limit else None
            rows = rows[:limit]
            tags: dict[Any, dict[str, str]] = {row[0]: {} for row in rows}
            ids = list(tags)
            for chunk in _chunks(ids, _IN_CHUNK):
                cur.execute(
                    self._dialect.sql(
                        'SELECT experiment_id, "key", value FROM experiment_tags '
                        f"WHERE experiment_id IN ({self._dialect.marks(len(chunk))})"
                    ),
                    chunk,
                )
                for eid, key, value in cur.fetchall():
                    tags[eid][key] = value
            return PagedList([_experiment_from_row(row, tags[row[0]]) for row in rows], token)

        return self._read(run)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an active experiment and its active runs deleted (runs get a deleted_time)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            if row[3] != LifecycleStage.ACTIVE:
                raise _experiment_not_found(experiment_id)
            now = _now_ms()
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

        self._write(delete)

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
                (LifecycleStage.ACTIVE, _now_ms(), row[0]),
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

        self._write(restore)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; the new name must be free."""
        d = self._dialect
        self._check_width("experiments", "name", new_name)

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
                (new_name, _now_ms(), row[0]),
            )

        try:
            self._write(rename)
        except TrackyardError as exc:
            if isinstance(exc.__cause__, self._integrity_error):
                raise _experiment_exists(new_name) from exc.__cause__
            raise

    def _active_experiment_id(self, cur: Any, experiment_id: str) -> int:
        row = self._experiment_row(cur, experiment_id)
        if row[3] != LifecycleStage.ACTIVE:
            raise _not_active("experiment", experiment_id, row[3])
        return int(row[0])

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) a tag of an active experiment."""
        self._check_width("experiment_tags", "key", tag.key)
        self._check_width("experiment_tags", "value", tag.value)

        def set_tag(cur: Any) -> None:
            eid = self._active_experiment_id(cur, experiment_id)
            self._upsert(
                cur,
                self._sql_upsert_experiment_tag,
                "experiment_tags",
                "experiment_id",
                [(tag.key, tag.value, eid)],
            )

        self._write(set_tag)

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

        self._write(delete)

    # ---------------------------------------------------------------------------------------
    # Runs

    def _run_stage_for_write(self, cur: Any, run_id: str) -> None:
        """Lock the run row (PostgreSQL/MySQL) and check that the run is active."""
        cur.execute(self._sql_run_stage_for_write, self._dialect.key_params(run_id))
        row = cur.fetchone()
        if row is None:
            raise _run_not_found(run_id)
        if row[0] != LifecycleStage.ACTIVE:
            raise _not_active("run", run_id, row[0])

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
        self._check_width("runs", "name", name)
        self._check_width("runs", "user_id", user_id)
        for key, value in tag_map.items():
            self._check_width("tags", "key", key)
            self._check_width("tags", "value", value)
        run_id = uuid.uuid4().hex
        tag_rows = sorted((k, v, run_id) for k, v in tag_map.items())

        def create(cur: Any) -> tuple[Any, ...]:
            exp = self._experiment_row(cur, experiment_id)
            if exp[3] != LifecycleStage.ACTIVE:
                raise _not_active("experiment", experiment_id, exp[3])
            artifact_uri = _join_uri(str(exp[2]), run_id, _ARTIFACTS_FOLDER)
            self._check_width("runs", "artifact_uri", artifact_uri)
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
            cur.execute(
                d.sql(
                    "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, "
                    "start_time, end_time, lifecycle_stage, artifact_uri, source_type, "
                    "source_name, entry_point_name, source_version, deleted_time) VALUES "
                    f"({d.marks(14)})"
                ),
                (*row, "UNKNOWN", "", "", "", None),
            )
            if tag_rows:
                cur.executemany(
                    d.sql('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)'), tag_rows
                )
            return row

        row = self._write(create)
        return Run(
            _run_info_from_row(row),
            RunData(tags=[RunTag(k, v) for k, v, _ in tag_rows]),
        )

    def _run_rows(self, cur: Any, run_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """The ``runs`` rows of ``run_ids``, in that order."""
        d = self._dialect
        by_id: dict[str, tuple[Any, ...]] = {}
        columns = ", ".join(_search.RUN_COLUMNS)
        for chunk in _chunks(run_ids, _IN_CHUNK):
            cur.execute(
                d.sql(f"SELECT {columns} FROM runs WHERE run_uuid IN ({d.marks(len(chunk))})"),
                chunk,
            )
            for row in cur.fetchall():
                by_id[row[0]] = tuple(row)
        return [by_id[i] for i in run_ids]

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params, tags and dataset inputs."""

        def get(cur: Any) -> Run:
            row = self._run_row(cur, run_id)
            return self._load_runs(cur, [row])[0]

        return self._read(get)

    def _load_runs(self, cur: Any, rows: Sequence[Sequence[Any]]) -> list[Run]:
        """Build Run objects for ``rows`` with a few batched queries."""
        parts = self._fetch_run_parts(cur, rows)
        return [_build_run(parts[row[0]]) for row in rows]

    def _fetch_run_parts(self, cur: Any, rows: Sequence[Sequence[Any]]) -> dict[str, _RunParts]:
        """Latest metrics, params, tags and inputs of ``rows``' runs, by run id."""
        d = self._dialect
        ids = [row[0] for row in rows]
        metrics: dict[str, list[tuple[str, float, int, int]]] = {i: [] for i in ids}
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        inputs: dict[str, list[DatasetInput]] = {i: [] for i in ids}
        for chunk in _chunks(ids, _IN_CHUNK):
            marks = d.marks(len(chunk))
            cur.execute(
                d.sql(
                    'SELECT run_uuid, "key", value, timestamp, step, is_nan FROM latest_metrics '
                    f"WHERE run_uuid IN ({marks})"
                ),
                chunk,
            )
            for rid, key, value, ts, step, is_nan in cur.fetchall():
                if is_nan or value in _DBL_LIMITS:
                    value = _py_metric_value(value, is_nan)
                metrics[rid].append((key, value, ts, step))
            for table, owner in (("params", params), ("tags", tags)):
                cur.execute(
                    d.sql(
                        f'SELECT run_uuid, "key", value FROM {table} WHERE run_uuid IN ({marks})'
                    ),
                    chunk,
                )
                for rid, key, value in cur.fetchall():
                    owner[rid][key] = value
            if self._datasets:
                self._load_inputs(cur, chunk, inputs)
        return {
            row[0]: (
                tuple(row),
                metrics[row[0]],
                {m[0]: m[1] for m in metrics[row[0]]},
                params[row[0]],
                tags[row[0]],
                tuple(inputs[row[0]]),
            )
            for row in rows
        }

    def _load_inputs(
        self, cur: Any, run_ids: Sequence[str], out: dict[str, list[DatasetInput]]
    ) -> None:
        d = self._dialect
        cur.execute(
            d.sql(
                "SELECT i.destination_id, i.input_uuid, ds.name, ds.digest, "
                "ds.dataset_source_type, ds.dataset_source, ds.dataset_schema, "
                "ds.dataset_profile FROM inputs i JOIN datasets ds "
                "ON ds.dataset_uuid = i.source_id WHERE i.source_type = ? "
                f"AND i.destination_type = ? AND i.destination_id IN ({d.marks(len(run_ids))}) "
                "ORDER BY i.destination_id, ds.name, ds.digest, i.input_uuid"
            ),
            (DATASET_SOURCE_TYPE, RUN_DESTINATION_TYPE, *run_ids),
        )
        found = cur.fetchall()
        if not found:
            return
        input_tags: dict[str, list[InputTag]] = {}
        uuids = [row[1] for row in found]
        for chunk in _chunks(uuids, _IN_CHUNK):
            cur.execute(
                d.sql(
                    "SELECT input_uuid, name, value FROM input_tags "
                    f"WHERE input_uuid IN ({d.marks(len(chunk))}) ORDER BY input_uuid, name"
                ),
                chunk,
            )
            for input_uuid, name, value in cur.fetchall():
                input_tags.setdefault(input_uuid, []).append(InputTag(name, value))
        for rid, input_uuid, name, digest, source_type, source, schema, profile in found:
            dataset = Dataset(name, digest, source_type, source, schema, profile)
            out[rid].append(DatasetInput(dataset, tuple(input_tags.get(input_uuid, ()))))

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status and end time, and the name (column and tag) when given."""
        d = self._dialect
        status = RunStatus.to_string(run_status)
        if run_name:
            self._check_width("runs", "name", run_name)

        def update(cur: Any) -> tuple[Any, ...]:
            self._run_stage_for_write(cur, run_id)
            if run_name:
                cur.execute(
                    d.sql("UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?"),
                    (status, end_time, run_name, run_id),
                )
                self._upsert(
                    cur,
                    self._sql_upsert_tag,
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

        return _run_info_from_row(self._write(update))

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
                (LifecycleStage.DELETED, _now_ms(), run_id, LifecycleStage.ACTIVE),
            )

        self._write(delete)

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

        self._write(restore)

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
            stage = self._read(lambda cur: self._run_row(cur, run_id))[7]
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
                v, nan = _db_metric_value(v)
            append((key, v, ts, run_id, step, nan))
            rank = (step, ts, v)
            best = get(key)
            if best is None or rank > best[0]:
                latest[key] = (rank, nan)
        metric_limit = self._key_limit("metrics")
        if metric_limit is not None:
            for key in latest:
                self._check_width("metrics", "key", key)
        param_rows = sorted((p.key, p.value, run_id) for p in params)
        for key, value, _ in param_rows:
            self._check_width("params", "key", key)
            self._check_width("params", "value", value)
        tag_map = {t.key: t.value for t in tags}
        tag_rows = sorted((k, v, run_id) for k, v in tag_map.items())
        for key, value, _ in tag_rows:
            self._check_width("tags", "key", key)
            self._check_width("tags", "value", value)
        new_name = tag_map.get(_RUN_NAME_TAG)
        if new_name is not None:
            self._check_width("runs", "name", new_name)
        if not d.is_sqlite:
            # Primary-key order (key, timestamp, step, ..., value, is_nan): concurrent writers
            # take row locks in the same order, so they queue instead of deadlocking.
            metric_rows.sort(key=_metric_pk_order)
        latest_rows = [
            (key, rank[2], rank[1], rank[0], nan, run_id)
            for key, (rank, nan) in sorted(latest.items())
        ]

        def write(cur: Any) -> None:
            self._run_stage_for_write(cur, run_id)
            if param_rows:
                self._write_params(cur, run_id, param_rows)
            if tag_rows:
                if new_name is not None:
                    cur.execute(
                        d.sql("UPDATE runs SET name = ? WHERE run_uuid = ?"), (new_name, run_id)
                    )
                self._upsert(cur, self._sql_upsert_tag, "tags", "run_uuid", tag_rows)
            if metric_rows:
                self._insert_metrics(cur, metric_rows)
                self._update_latest(cur, latest_rows)

        self._write(write)

    def _write_params(self, cur: Any, run_id: str, rows: list[tuple[str, str, str]]) -> None:
        d = self._dialect
        keys = [k for k, _, _ in rows]
        existing: dict[str, str] = {}
        for chunk in _chunks(keys, _IN_CHUNK):
            cur.execute(
                d.sql(
                    'SELECT "key", value FROM params WHERE run_uuid = ? '
                    f'AND "key" IN ({d.marks(len(chunk))})'
                ),
                (run_id, *chunk),
            )
            existing.update({k: v for k, v in cur.fetchall()})
        new_rows = []
        for key, value, rid in rows:
            old = existing.get(key)
            if old is None:
                new_rows.append((key, value, rid))
            elif old != value:
                raise _invalid(
                    "Changing param values is not allowed. Param with key="
                    f"{key!r} was already logged with value={old!r} for run ID={run_id!r}. "
                    f"Attempted logging new value {value!r}."
                )
        if new_rows:
            cur.executemany(self._sql_insert_param, new_rows)

    def _insert_metrics(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        arrays_sql = self._sql_insert_metric_arrays
        if arrays_sql is not None:
            cur.execute(arrays_sql, [list(column) for column in zip(*rows, strict=True)])
            return
        if self._dialect.multirow_insert:
            step = _METRIC_ROWS_PER_STATEMENT
            for start in range(0, len(rows), step):
                part = rows[start : start + step]
                sql = self._multirow_metric_sql.get(len(part))
                if sql is None:
                    sql = self._dialect.insert_ignore("metrics", _METRIC_COLUMNS, len(part))
                    self._multirow_metric_sql[len(part)] = sql  # type: ignore[assignment]
                cur.execute(sql, list(chain.from_iterable(part)))
            return
        sql = self._sql_insert_metric
        if sql is not None:
            cur.executemany(sql, rows)
            return
        # Portable path: skip rows already stored (they are identical, the key is every column).
        d = self._dialect
        unique = list(dict.fromkeys(rows))
        exists = d.sql(
            'SELECT 1 FROM metrics WHERE "key" = ? AND value = ? AND timestamp = ? '
            "AND run_uuid = ? AND step = ? AND is_nan = ?"
        )
        fresh = []
        for row in unique:
            cur.execute(exists, row)
            if cur.fetchone() is None:
                fresh.append(row)
        if fresh:
            cur.executemany(self._sql_plain_insert_metric, fresh)

    def _update_latest(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        sql = self._sql_upsert_latest
        if sql is not None:
            cur.executemany(sql, rows)
            return
        d = self._dialect
        select = d.sql(
            'SELECT step, timestamp, value FROM latest_metrics WHERE run_uuid = ? AND "key" = ?'
        )
        update = d.sql(
            "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ?, is_nan = ? "
            'WHERE run_uuid = ? AND "key" = ?'
        )
        insert = d.sql(
            'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) '
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        for key, value, ts, step, nan, rid in rows:
            cur.execute(select, (rid, key))
            old = cur.fetchone()
            if old is None:
                cur.execute(insert, (key, value, ts, step, nan, rid))
            elif (step, ts, value) > (old[0], old[1] if old[1] is not None else ts - 1, old[2]):
                cur.execute(update, (value, ts, step, nan, rid, key))

    def _upsert(
        self,
        cur: Any,
        sql: str | None,
        table: str,
        owner_column: str,
        rows: list[tuple[Any, Any, Any]],
    ) -> None:
        """Insert-or-overwrite ``(key, value, owner)`` rows of a key-value table."""
        if sql is not None:
            cur.executemany(sql, rows)
            return
        d = self._dialect
        update = d.sql(f'UPDATE {table} SET value = ? WHERE "key" = ? AND {owner_column} = ?')
        insert = d.sql(f'INSERT INTO {table} ("key", value, {owner_column}) VALUES (?, ?, ?)')
        for key, value, owner in rows:
            cur.execute(update, (value, key, owner))
            if cur.rowcount == 0:
                cur.execute(insert, (key, value, owner))

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag of an active run (RESOURCE_DOES_NOT_EXIST if absent)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            self._run_stage_for_write(cur, run_id)
            cur.execute(
                d.sql(f"DELETE FROM tags WHERE run_uuid = ? AND {self._key_eq}"),
                (run_id, *d.key_params(key)),
            )
            if cur.rowcount == 0:
                raise TrackyardError(
                    f"No tag with name: {key} in run with id {run_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._write(delete)

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Return the points of one metric ordered by (timestamp, step, value)."""
        from trackyard import search

        offset = search.decode_page_token(page_token)
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
                token = search.encode_page_token(offset + max_results)
            key = metric_key
            points = [
                Metric(key, value, ts, step)
                if not is_nan and -_DBL_MAX < value < _DBL_MAX
                else Metric(key, _py_metric_value(value, is_nan), ts, step)
                for value, ts, step, is_nan in rows
            ]
            return PagedList(points, token)

        return self._read(history)

    # ---------------------------------------------------------------------------------------
    # Search

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """Return one page of runs: one query for the page, then a few for its data."""
        from trackyard import search

        kind = search.SearchKind.RUNS
        expr = search.parse_filter(filter_string, kind)
        order = search.parse_order_by(order_by, kind)
        limit = search.validate_max_results(max_results, kind)
        offset = search.decode_page_token(page_token)
        stages = sorted(ViewType.to_lifecycle_stages(run_view_type))
        ids = [i for i in (_experiment_int(e) for e in experiment_ids) if i is not None]
        if not ids:
            return PagedList([], None)
        sql, params = _search.compile_run_search(
            self._dialect,
            experiment_ids=sorted(set(ids)),
            stages=stages,
            expr=expr,
            order=order,
            limit=limit + 1,
            offset=offset,
            datasets=self._datasets,
        )

        def run(cur: Any) -> PagedList[Run]:
            cache = self._search_cache(cur)
            if cache is not None:
                return self._cached_page(cur, cache, sql, params, query, limit, offset)
            cur.execute(sql, params)
            ids = [row[0] for row in cur.fetchall()]
            token = search.encode_page_token(offset + limit) if len(ids) > limit else None
            return PagedList(self._load_runs(cur, self._run_rows(cur, ids[:limit])), token)

        query = (tuple(sorted(set(ids))), tuple(stages), expr, order)
        return self._read(run)

    # ---------------------------------------------------------------------------------------
    # Search snapshots (SQLite): paging re-sorts nothing and re-reads no run while nothing
    # anywhere wrote to the database.

    def _search_cache(self, cur: Any) -> _SearchCache | None:
        """The cache of ``cur``'s connection, emptied if anything was written since it filled.

        SQLite's ``PRAGMA data_version`` changes when any other connection (any process)
        commits; ``_write_epoch`` counts this store's own writes. Read first in the read
        transaction, so cached data is never older than the version it is filed under.
        """
        if not self._dialect.is_sqlite:
            return None
        cur.execute("PRAGMA data_version")
        version = (cur.fetchone()[0], self._write_epoch)
        conn = cur.connection
        with self._lock:
            entry = self._search_caches.get(id(conn))
            if entry is None or entry[0] is not conn:
                if len(self._search_caches) > 64:
                    self._search_caches.clear()
                entry = (conn, _SearchCache(version))
                self._search_caches[id(conn)] = entry
            cache = entry[1]
            if cache.version != version:
                cache.reset(version)
            return cache

    def _cached_page(
        self,
        cur: Any,
        cache: _SearchCache,
        sql: str,
        params: Sequence[Any],
        query: Hashable,
        limit: int,
        offset: int,
    ) -> PagedList[Run]:
        """One page served from the connection's snapshot, filling it as needed."""
        from trackyard import search

        need = offset + limit + 1
        found = cache.orders.get(query)
        if found is None or (found[1] and len(found[0]) < need):
            # The full order from the top, plus a window ahead for the following pages.
            window = need + _SNAPSHOT_IDS_AHEAD
            cur.execute(sql, _with_paging(params, window, 0))
            ordered = [row[0] for row in cur.fetchall()]
            found = (ordered, len(ordered) == window)
            if len(cache.orders) >= _SNAPSHOT_MAX_QUERIES:
                cache.orders.clear()
            cache.orders[query] = found
        ordered = found[0]
        page_ids = ordered[offset : offset + limit]
        missing = [i for i in page_ids if i not in cache.runs]
        if missing:
            if offset:  # someone is paging: read ahead in bulk rather than page by page
                ahead = ordered[offset + limit : offset + limit + _SNAPSHOT_RUNS_AHEAD]
                missing += [i for i in ahead if i not in cache.runs]
            if len(cache.runs) + len(missing) > _SNAPSHOT_MAX_RUNS:
                cache.runs.clear()
                missing = page_ids
            cache.runs.update(self._fetch_run_parts(cur, self._run_rows(cur, missing)))
        token = search.encode_page_token(offset + limit) if len(ordered) > offset + limit else None
        return PagedList([_build_run(cache.runs[i]) for i in page_ids], token)

    def __repr__(self) -> str:
        return f"SqlTrackingStore({mask_credentials(str(self.store_uri))!r})"


# -------------------------------------------------------------------------------------------
# Helpers

_LOCK_ID = zlib.crc32(b"trackyard_sql.bootstrap")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite setup: our own transactions, WAL, busy timeout, lower()."""
    dbapi_connection.isolation_level = None  # we issue BEGIN [IMMEDIATE] ourselves
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode")
        mode = str(cur.fetchone()[0]).lower()
        if mode not in ("wal", "memory"):
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        # A 32 MB page cache and checkpoints every ~40 MB of WAL (instead of 2 MB / 4 MB):
        # large log_batch streams rewrite the same index pages far less often.
        cur.execute("PRAGMA cache_size = -32768")
        cur.execute("PRAGMA wal_autocheckpoint = 10000")
    finally:
        cur.close()
    dbapi_connection.create_function("trackyard_lower", 1, sqlite_lower, deterministic=True)


def _fetch_scalar(cur: Any, sql: str, params: Sequence[Any]) -> Any:
    cur.execute(sql, params)
    row = cur.fetchone()
    return None if row is None else row[0]


def _chunks(items: Sequence[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _experiment_from_row(row: Sequence[Any], tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row[0]),
        name=row[1],
        artifact_location=row[2],
        lifecycle_stage=row[3],
        tags=tags,
        creation_time=row[4],
        last_update_time=row[5],
    )


def _run_info_from_row(row: Sequence[Any]) -> RunInfo:
    return RunInfo(
        run_id=row[0],
        experiment_id=str(row[1]),
        run_name=row[2],
        user_id=row[3],
        status=row[4],
        start_time=row[5],
        end_time=row[6],
        lifecycle_stage=row[7],
        artifact_uri=row[8],
    )
