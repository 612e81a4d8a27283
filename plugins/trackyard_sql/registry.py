"""The SQL model registry store: registered models, versions, aliases and prompts.

Design:

- **One database, one engine.** The registry lives in the same database as the tracking
  tables (the registry URI defaults to the tracking URI), so the store works through the SQL
  tracking store of the same URI: the shared, cached instance from
  :func:`trackyard.backends.get_tracking_store`, whose engine, connection pool, transactions,
  write retries and dialect it uses. Its own tables are created on first use when the
  database has none of them; a database MLflow created is used as it is.
- **MLflow's tables** (:mod:`trackyard_sql.registry_schema`), ``workspace`` column included,
  so MLflow can keep using a database trackyard wrote to. Values wider than their column
  (a 5,000-character model tag value, a 500-character source ...) are refused with
  ``INVALID_PARAMETER_VALUE`` on every dialect, SQLite included.
- **Version numbers** are ``max(version) + 1`` over all versions of the model, deleted ones
  included, computed in the transaction that inserts the version after locking the model's
  row (``FOR NO KEY UPDATE`` on PostgreSQL, ``FOR UPDATE`` on MySQL/MariaDB; SQLite write
  transactions start with ``BEGIN IMMEDIATE``), with retries on conflicts: concurrent
  creators get distinct, gap-free numbers.
- **Deletes** of versions are soft, as MLflow's: stage ``Deleted_Internal``, source, run id
  and run link redacted to ``REDACTED-*``, description, user id and status message cleared,
  aliases removed. **Renames** copy the model and version rows to the new name, move tags
  and aliases, and delete the old rows, in one transaction (no reliance on ``ON UPDATE
  CASCADE``).
- **Reads are one query.** A page of versions (or models) is a ``WITH page AS (...)`` query
  whose ``UNION ALL`` branches bring the page's tags, aliases and (for models) latest
  versions per stage, so a search costs one round trip whatever the page size.
- **Prompts** are registered models and versions carrying ``mlflow.prompt.is_prompt``; both
  searches leave them out with an anti-join unless the filter asks for them
  (:mod:`trackyard.search.registry_evaluator` defines when).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from trackyard import search
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import invalid_parameter as _invalid
from trackyard.search import Comparison, Entity, Op, OrderKey
from trackyard.stores import Capabilities, RegistryStore
from trackyard.uri import mask_credentials
from trackyard_sql import _search
from trackyard_sql.registry_schema import (
    REGISTRY_SCHEMA_NAME,
    REGISTRY_SCHEMA_VERSION,
    REGISTRY_TABLES,
    build_registry_metadata,
)
from trackyard_sql.schema import WORKSPACE_DEFAULT
from trackyard_sql.tracking import SqlTrackingStore

__all__ = ["SqlRegistryStore"]

_logger = logging.getLogger("trackyard.sql.registry")
T = TypeVar("T")

_DELETED = Stage.DELETED_INTERNAL
_REDACTED_SOURCE = "REDACTED-SOURCE-PATH"
_REDACTED_RUN_ID = "REDACTED-RUN-ID"
_REDACTED_RUN_LINK = "REDACTED-RUN-LINK"

#: model_versions columns read into a ModelVersion, in this order.
_VERSION_COLUMNS = (
    "name",
    "version",
    "creation_time",
    "last_updated_time",
    "description",
    "user_id",
    "current_stage",
    "source",
    "run_id",
    "status",
    "status_message",
    "run_link",
    "storage_location",
)
_REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "registered_models": frozenset({"name", "creation_time", "last_updated_time", "description"}),
    "registered_model_tags": frozenset({"key", "value", "name"}),
    "model_versions": frozenset(_VERSION_COLUMNS),
    "model_version_tags": frozenset({"key", "value", "name", "version"}),
    "registered_model_aliases": frozenset({"alias", "version", "name"}),
}
# What to call a column in width errors.
_COLUMN_LABELS: dict[tuple[str, str], str] = {
    ("registered_models", "name"): "registered model name",
    ("registered_models", "description"): "registered model description",
    ("registered_model_tags", "key"): "registered model tag key",
    ("registered_model_tags", "value"): "registered model tag value",
    ("model_versions", "description"): "model version description",
    ("model_versions", "source"): "model version source",
    ("model_versions", "run_id"): "model version run id",
    ("model_versions", "run_link"): "model version run link",
    ("model_versions", "storage_location"): "model version storage location",
    ("model_version_tags", "key"): "model version tag key",
    ("model_version_tags", "value"): "model version tag value",
    ("registered_model_aliases", "alias"): "alias",
}
_KEY = '"key"'  # a reserved word on MySQL: always quoted
_MYSQL_TEXT_OCTETS = {"TINYTEXT": 255, "TEXT": 65535, "MEDIUMTEXT": 16777215}
_NUMERIC_SQL_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}

# Row kinds of the UNION ALL read queries. Every row is
# (kind, 0, name, version, n1, n2, s1, ..., s9): numbers in n*, strings in s*. UNION ALL keeps
# no order, so a page is put back in order in Python with the reference sort of
# trackyard.search, which orders exactly as the SQL does (numbers numerically, strings by code
# point, NULLs last; every order ends with a unique key).
_K_MODEL, _K_MODEL_TAG, _K_ALIAS, _K_VERSION, _K_VERSION_TAG = range(5)
_NULLS = {n: ", ".join(["NULL"] * n) for n in range(1, 10)}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _model_not_found(name: str) -> TrackyardError:
    return TrackyardError(
        f"Registered Model with name={name} not found", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _version_not_found(name: str, version: object) -> TrackyardError:
    return TrackyardError(
        f"Model Version (name={name}, version={version}) not found",
        ErrorCode.RESOURCE_DOES_NOT_EXIST,
    )


def _model_exists(name: str) -> TrackyardError:
    return TrackyardError(
        f"Registered Model (name={name}) already exists.", ErrorCode.RESOURCE_ALREADY_EXISTS
    )


def _shared_tracking_store(store_uri: str) -> tuple[SqlTrackingStore, bool]:
    """The process-wide SQL tracking store of ``store_uri`` and whether we own it.

    Sharing it means one engine (and connection pool) per database. When another plugin
    serves the scheme for tracking, the registry gets a private SQL store of its own.
    """
    from trackyard.backends import get_tracking_store

    store = get_tracking_store(store_uri)
    if isinstance(store, SqlTrackingStore):
        return store, False
    return SqlTrackingStore(store_uri=store_uri), True


class SqlRegistryStore(RegistryStore):
    """MLflow's model registry store API over a SQL database in MLflow's table layout.

    Args:
        store_uri: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql[+driver]://...``,
            ``mysql[+driver]://...``); by default the registry URI in effect.
        tracking_uri: the tracking URI (kept for plugins; unused).
        tracking_store: the SQL tracking store of the same database whose engine to use
            (default: the shared one for ``store_uri``). A store passed here is closed by
            :meth:`close`.

    Raises:
        TrackyardError: the database has registry tables too old for this store.
    """

    capabilities = Capabilities(
        transactions=True,
        concurrent_processes=True,
        search_or=True,
        concurrent_versions=True,
        model_registry=True,
        prompts=True,
    )

    def __init__(
        self,
        store_uri: str | None = None,
        tracking_uri: str | None = None,
        *,
        tracking_store: SqlTrackingStore | None = None,
    ) -> None:
        from trackyard import config

        store_uri = store_uri or config.get_registry_uri(tracking_uri)
        super().__init__(store_uri, tracking_uri)
        if tracking_store is not None:
            self._db, self._owns_db = tracking_store, True
        else:
            self._db, self._owns_db = _shared_tracking_store(store_uri)
        self._d = self._db._dialect
        self._columns: dict[str, list[str]] = {}
        self._chars: dict[tuple[str, str], int] = {}
        self._octets: dict[tuple[str, str], int] = {}
        self._bootstrap()
        self._prepare()

    # ---------------------------------------------------------------------------------------
    # Plumbing

    def _read(self, fn: Callable[[Any], T]) -> T:
        return self._db._read(fn)

    def _write(self, fn: Callable[[Any], T]) -> T:
        return self._db._write(fn)

    def close(self) -> None:
        """Close the engine if this store owns it (not when it is the shared one)."""
        if self._owns_db:
            self._db.close()

    def __repr__(self) -> str:
        return f"SqlRegistryStore({mask_credentials(str(self.store_uri))!r})"

    # ---------------------------------------------------------------------------------------
    # Schema

    def _inspect(self) -> None:
        """Learn the registry tables' columns and string widths."""
        self._db._check_fork()
        self._columns.clear()
        self._chars.clear()
        self._octets.clear()
        with self._db._engine.connect() as conn:
            try:
                inspector = sa.inspect(conn)
                present = set(inspector.get_table_names())
                for table in REGISTRY_TABLES:
                    if table in present:
                        self._columns[table] = self._inspect_table(inspector, table)
            finally:
                conn.rollback()  # the pool does not reset connections: end the transaction

    def _inspect_table(self, inspector: Any, table: str) -> list[str]:
        names = []
        for column in inspector.get_columns(table):
            name = str(column["name"])
            names.append(name)
            kind = column["type"]
            length = getattr(kind, "length", None)
            type_name = type(kind).__name__.upper()
            if isinstance(kind, sa.String) and length:
                self._chars[(table, name)] = int(length)
            elif self._d.is_mysql and type_name in _MYSQL_TEXT_OCTETS:
                self._octets[(table, name)] = _MYSQL_TEXT_OCTETS[type_name]
        return names

    def _bootstrap(self) -> None:
        self._inspect()
        present = set(self._columns)
        if not present:
            self._create_tables()
            self._inspect()
        elif present != set(REGISTRY_TABLES):
            self._create_tables(only_if_trackyard=True)
            self._inspect()
        missing = [
            f"{table}.{column}"
            for table, columns in _REQUIRED_COLUMNS.items()
            for column in sorted(columns - set(self._columns.get(table, ())))
        ]
        if missing:
            raise TrackyardError(
                f"The database {mask_credentials(str(self.store_uri))!r} lacks tables or "
                f"columns the SQL registry store needs: {', '.join(missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''}. If MLflow created it, upgrade it "
                "with `mlflow db upgrade <uri>`.",
                ErrorCode.INVALID_STATE,
            )
        self._ws = WORKSPACE_DEFAULT if "workspace" in self._columns["registered_models"] else None
        self._check_schema_version()

    def _check_schema_version(self) -> None:
        """Refuse registry tables that a newer trackyard created (trackyard_schema says so)."""
        d = self._d

        def read(cur: Any) -> Any:
            if "trackyard_schema" not in self._existing_tables(cur):
                return None
            cur.execute(
                d.sql("SELECT version FROM trackyard_schema WHERE name = ?"),
                (REGISTRY_SCHEMA_NAME,),
            )
            row = cur.fetchone()
            return None if row is None else row[0]

        version = self._read(read)
        if version is not None and int(version) > REGISTRY_SCHEMA_VERSION:
            raise TrackyardError(
                f"The database {mask_credentials(str(self.store_uri))!r} was created by a newer "
                f"trackyard (registry schema version {version}; this one knows up to "
                f"{REGISTRY_SCHEMA_VERSION}). Upgrade trackyard.",
                ErrorCode.INVALID_STATE,
            )

    def _create_tables(self, *, only_if_trackyard: bool = False) -> None:
        """Create the missing registry tables, once, under the bootstrap lock."""
        from trackyard_sql.tracking import _LOCK_ID

        d = self._d
        engine_dialect = self._db._engine.dialect

        def create(cur: Any) -> None:
            if d.is_postgres:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            elif d.is_mysql:
                cur.execute("SELECT GET_LOCK('trackyard_sql_bootstrap', 60)")
            try:
                existing = self._existing_tables(cur)
                ours = "trackyard_schema" in existing
                if only_if_trackyard and not ours:
                    return  # someone else's partial schema: reported as missing columns
                collate = self._db._mysql_collation(cur) if d.is_mysql else None
                md = build_registry_metadata(mysql_collate=collate)
                for table in md.sorted_tables:
                    if table.name in existing:
                        continue
                    cur.execute(str(sa.schema.CreateTable(table).compile(dialect=engine_dialect)))
                    for index in sorted(table.indexes, key=lambda i: str(i.name)):
                        cur.execute(
                            str(sa.schema.CreateIndex(index).compile(dialect=engine_dialect))
                        )
                if ours:
                    cur.execute(
                        d.sql("SELECT 1 FROM trackyard_schema WHERE name = ?"),
                        (REGISTRY_SCHEMA_NAME,),
                    )
                    if cur.fetchone() is None:
                        cur.execute(
                            d.sql("INSERT INTO trackyard_schema (name, version) VALUES (?, ?)"),
                            (REGISTRY_SCHEMA_NAME, REGISTRY_SCHEMA_VERSION),
                        )
            finally:
                if d.is_mysql:
                    cur.execute("SELECT RELEASE_LOCK('trackyard_sql_bootstrap')")

        self._write(create)

    def _existing_tables(self, cur: Any) -> set[str]:
        d = self._d
        if d.is_sqlite:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        elif d.is_postgres:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        elif d.is_mysql:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
        else:
            cur.execute("SELECT table_name FROM information_schema.tables")
        return {str(row[0]) for row in cur.fetchall()}

    def _check_width(self, table: str, column: str, value: str | None) -> None:
        """Refuse a value wider than its column (SQLite would store it, others fail)."""
        if value is None:
            return
        label = _COLUMN_LABELS.get((table, column), f"{table}.{column}")
        limit = self._chars.get((table, column))
        if limit is not None and len(value) > limit:
            raise _invalid(
                f"The {label} is {len(value)} characters long, but the database column "
                f"{table}.{column} holds at most {limit}: "
                f"{value[:60]!r}{'...' if len(value) > 60 else ''}"
            )
        octets = self._octets.get((table, column))
        if octets is not None and len(value) * 4 > octets and len(value.encode()) > octets:
            raise _invalid(
                f"The {label} is {len(value.encode())} bytes long, but the database column "
                f"{table}.{column} holds at most {octets} bytes."
            )

    # ---------------------------------------------------------------------------------------
    # Statements

    def _prepare(self) -> None:
        d = self._d
        ws = self._ws is not None
        self._wsp: tuple[Any, ...] = (self._ws,) if ws else ()

        def scoped(alias: str) -> str:
            return f" AND {alias}.workspace = ?" if ws else ""

        self._scoped = scoped
        # A NULL typed as a number: PostgreSQL types an untyped NULL in UNION ALL as text.
        self._null_int = "CAST(NULL AS SIGNED)" if d.is_mysql else "CAST(NULL AS BIGINT)"
        self._materialized = ""
        if (d.is_sqlite and sqlite3.sqlite_version_info >= (3, 35)) or d.is_postgres:
            self._materialized = " MATERIALIZED"
        self._lock_suffix = (
            " FOR NO KEY UPDATE" if d.is_postgres else (" FOR UPDATE" if d.is_mysql else "")
        )
        self._sql_model_exists = d.sql(
            f"SELECT 1 FROM registered_models rm WHERE {d.key_equals('rm.name')}{scoped('rm')}"
        )
        self._sql_lock_model = self._sql_model_exists + d.sql(self._lock_suffix)
        self._sql_version_exists = d.sql(
            f"SELECT 1 FROM model_versions mv WHERE {d.key_equals('mv.name')} AND "
            f"mv.version = ? AND mv.current_stage <> ?{scoped('mv')}"
        )
        self._sql_max_version = d.sql(
            f"SELECT MAX(mv.version) FROM model_versions mv WHERE "
            f"{d.key_equals('mv.name')}{scoped('mv')}"
        )
        self._sql_touch_model = d.sql(
            f"UPDATE registered_models SET last_updated_time = ? WHERE "
            f"{d.key_equals('name')}{scoped('registered_models')}"
        )

    def _np(self, name: str) -> list[Any]:
        """Parameters of a ``key_equals`` name test plus the workspace."""
        return [*self._d.key_params(name), *self._wsp]

    def _ws_columns(
        self, columns: Sequence[str], values: Sequence[Any]
    ) -> tuple[list[str], list[Any]]:
        if self._ws is None:
            return list(columns), list(values)
        return [*columns, "workspace"], [*values, self._ws]

    def _insert(
        self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        cols, _ = self._ws_columns(columns, ())
        quoted = ", ".join(f'"{c}"' for c in cols)
        sql = self._d.sql(f"INSERT INTO {table} ({quoted}) VALUES ({self._d.marks(len(cols))})")
        cur.executemany(sql, [[*row, *self._wsp] for row in rows])

    def _upsert(self, cur: Any, table: str, keys: dict[str, Any], values: dict[str, Any]) -> None:
        """Insert a row, or overwrite the non-key columns of the row with the same key."""
        d = self._d
        key_cols, key_vals = self._ws_columns(list(keys), list(keys.values()))
        columns = [*key_cols, *values]
        sql = d.upsert(table, columns, key_cols)
        if sql is not None:
            cur.execute(sql, [*key_vals, *values.values()])
            return
        sets = ", ".join(f'"{c}" = ?' for c in values)
        where = " AND ".join(f'"{c}" = ?' for c in key_cols)
        cur.execute(
            d.sql(f"UPDATE {table} SET {sets} WHERE {where}"), [*values.values(), *key_vals]
        )
        if cur.rowcount == 0:
            self._insert(cur, table, [*keys, *values], [[*keys.values(), *values.values()]])

    def _require_model(self, cur: Any, name: str, *, lock: bool = False) -> None:
        cur.execute(self._sql_lock_model if lock else self._sql_model_exists, self._np(name))
        if cur.fetchone() is None:
            raise _model_not_found(name)

    def _require_version(self, cur: Any, name: str, version: str) -> int:
        number = int(version)
        cur.execute(
            self._sql_version_exists,
            [*self._d.key_params(name), number, _DELETED, *self._wsp],
        )
        if cur.fetchone() is None:
            raise _version_not_found(name, version)
        return number

    def _touch_model(self, cur: Any, name: str, now: int) -> None:
        cur.execute(self._sql_touch_model, [now, *self._np(name)])

    # ---------------------------------------------------------------------------------------
    # Reading: one UNION ALL query per call

    def _cte(self, page_sql: str) -> str:
        return f"WITH page AS{self._materialized} ({page_sql})"

    def _version_branches(self, source: str, *, aliases: bool = True) -> str:
        """Branches selecting versions and their tags (and aliases) from CTE ``source``."""
        n = self._null_int
        v = ", ".join(f"p.{c}" for c in _VERSION_COLUMNS[2:])
        sql = (
            f"SELECT {_K_VERSION}, 0, p.name, p.version, {v} FROM {source} p "
            f"UNION ALL SELECT {_K_VERSION_TAG}, 0, t.name, t.version, {n}, {n}, "
            f't."key", t.value, {_NULLS[7]} FROM {source} p JOIN model_version_tags t '
            f"ON {self._same_ws('t')}t.name = p.name AND t.version = p.version"
        )
        if aliases:
            sql += (
                f" UNION ALL SELECT {_K_ALIAS}, 0, a.name, a.version, {n}, {n}, a.alias, "
                f"{_NULLS[8]} FROM {source} p JOIN registered_model_aliases a "
                f"ON {self._same_ws('a')}a.name = p.name AND a.version = p.version"
            )
        return sql

    def _same_ws(self, alias: str) -> str:
        """Join ``alias`` to the page row's workspace (the page carries it as ``ws``).

        Joining on the page's column rather than a parameter lets the planner drive the
        join from the (small) page through the child table's index.
        """
        return f"{alias}.workspace = p.ws AND " if self._ws is not None else ""

    def _ws_column(self, alias: str) -> str:
        return f", {alias}.workspace AS ws" if self._ws is not None else ""

    def _versions_query(
        self,
        where: str,
        params: Sequence[Any],
        order: str,
        paging: str,
        paging_params: Sequence[Any],
    ) -> tuple[str, list[Any]]:
        cols = ", ".join(f"mv.{c}" for c in _VERSION_COLUMNS)
        page = (
            f"SELECT {cols}{self._ws_column('mv')} "
            f"FROM model_versions mv WHERE {where} ORDER BY {order} {paging}"
        )
        sql = f"{self._cte(page)} {self._version_branches('page')}"
        return self._d.sql(sql), [*params, *paging_params]

    def _models_query(
        self,
        where: str,
        params: Sequence[Any],
        order: str,
        paging: str,
        paging_params: Sequence[Any],
    ) -> tuple[str, list[Any]]:
        n = self._null_int
        ws = self._ws is not None
        page = (
            "SELECT rm.name, rm.creation_time, rm.last_updated_time, rm.description"
            f"{self._ws_column('rm')} "
            f"FROM registered_models rm WHERE {where} ORDER BY {order} {paging}"
        )
        vcols = ", ".join(f"v.{c}" for c in _VERSION_COLUMNS)
        # newest version per (model, stage) of the page's models; deleted versions excluded
        latest = (
            f"SELECT {vcols}{self._ws_column('v')} FROM page p JOIN ("
            f"SELECT {'v.workspace, ' if ws else ''}v.name, v.current_stage, "
            "MAX(v.version) AS version FROM model_versions v WHERE v.current_stage <> ? "
            f"{'AND v.workspace = ? ' if ws else ''}AND v.name IN (SELECT name FROM page) "
            f"GROUP BY {'v.workspace, ' if ws else ''}v.name, v.current_stage) m "
            f"ON {'m.workspace = p.ws AND ' if ws else ''}m.name = p.name "
            f"JOIN model_versions v ON {'v.workspace = m.workspace AND ' if ws else ''}"
            "v.name = m.name AND v.version = m.version"
        )
        sql = (
            f"{self._cte(page)}, latest AS ({latest}) "
            f"SELECT {_K_MODEL}, 0, p.name, {n}, p.creation_time, p.last_updated_time, "
            f"p.description, {_NULLS[8]} FROM page p "
            f'UNION ALL SELECT {_K_MODEL_TAG}, 0, t.name, {n}, {n}, {n}, t."key", '
            f"t.value, {_NULLS[7]} FROM page p JOIN registered_model_tags t "
            f"ON {self._same_ws('t')}t.name = p.name "
            f"UNION ALL SELECT {_K_ALIAS}, 0, a.name, a.version, {n}, {n}, a.alias, "
            f"{_NULLS[8]} FROM page p JOIN registered_model_aliases a "
            f"ON {self._same_ws('a')}a.name = p.name "
            # the latest versions' aliases come from the model's alias rows
            f"UNION ALL {self._version_branches('latest', aliases=False)}"
        )
        return self._d.sql(sql), [*params, *paging_params, _DELETED, *self._wsp]

    @staticmethod
    def _decode_versions(
        rows: Sequence[Sequence[Any]], order: Sequence[OrderKey] = ()
    ) -> list[ModelVersion]:
        """Versions (with tags and aliases) from UNION rows, sorted by ``order``."""
        versions: dict[tuple[str, int], ModelVersion] = {}
        tags: list[Sequence[Any]] = []
        aliases: list[Sequence[Any]] = []
        for row in rows:
            kind = row[0]
            if kind == _K_VERSION:
                versions[(row[2], int(row[3]))] = _version_from_row(row)
            elif kind == _K_VERSION_TAG:
                tags.append(row)
            elif kind == _K_ALIAS:
                aliases.append(row)
        for row in tags:
            mv = versions.get((row[2], int(row[3])))
            if mv is not None:
                mv.tags[row[6]] = row[7]
        for row in aliases:
            mv = versions.get((row[2], int(row[3])))
            if mv is not None:
                mv.aliases.append(row[6])
        for mv in versions.values():
            mv.aliases.sort()
        found = list(versions.values())
        if order:
            return _sort_page(found, order, _VERSION_SORT_KEYS)
        found.sort(key=lambda v: (v.name, int(v.version)))
        return found

    @staticmethod
    def _decode_models(
        rows: Sequence[Sequence[Any]], order: Sequence[OrderKey] = ()
    ) -> list[RegisteredModel]:
        """Models with tags, aliases and latest versions from UNION rows, sorted by ``order``."""
        models: dict[str, RegisteredModel] = {}
        rest: list[Sequence[Any]] = []
        for row in rows:
            if row[0] == _K_MODEL:
                models[row[2]] = RegisteredModel(
                    name=row[2],
                    creation_timestamp=_int_or_none(row[4]),
                    last_updated_timestamp=_int_or_none(row[5]),
                    description=row[6],
                )
            else:
                rest.append(row)
        version_rows = []
        for row in rest:
            model = models.get(row[2])
            if model is None:
                continue
            if row[0] == _K_MODEL_TAG:
                model.tags[row[6]] = row[7]
            elif row[0] == _K_ALIAS:
                model.aliases[row[6]] = str(row[3])
            else:
                version_rows.append(row)
        for mv in SqlRegistryStore._decode_versions(version_rows):
            model = models[mv.name]
            mv.aliases = sorted(a for a, v in model.aliases.items() if v == mv.version)
            model.latest_versions.append(mv)  # in version order
        found = list(models.values())
        if order:
            return _sort_page(found, order, _MODEL_SORT_KEYS)
        found.sort(key=lambda m: m.name)
        return found

    def _load_versions(self, cur: Any, where: str, params: Sequence[Any]) -> list[ModelVersion]:
        sql, all_params = self._versions_query(where, params, "mv.name, mv.version", "", ())
        cur.execute(sql, all_params)
        return self._decode_versions(cur.fetchall())

    def _load_version(self, cur: Any, name: str, version: str) -> ModelVersion:
        found = self._load_versions(
            cur,
            f"{self._d.key_equals('mv.name')} AND mv.version = ? AND mv.current_stage <> ?"
            f"{self._scoped('mv')}",
            [*self._d.key_params(name), int(version), _DELETED, *self._wsp],
        )
        if not found:
            raise _version_not_found(name, version)
        return found[0]

    def _load_model(self, cur: Any, name: str) -> RegisteredModel:
        sql, params = self._models_query(
            f"{self._d.key_equals('rm.name')}{self._scoped('rm')}",
            self._np(name),
            "rm.name",
            "",
            (),
        )
        cur.execute(sql, params)
        models = self._decode_models(cur.fetchall())
        if not models:
            raise _model_not_found(name)
        return models[0]

    # ---------------------------------------------------------------------------------------
    # Registered models

    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model (RESOURCE_ALREADY_EXISTS if the name is taken)."""
        tag_map = {t.key: t.value for t in tags or ()}
        self._check_width("registered_models", "name", name)
        self._check_width("registered_models", "description", description)
        for key, value in tag_map.items():
            self._check_width("registered_model_tags", "key", key)
            self._check_width("registered_model_tags", "value", value)

        def create(cur: Any) -> int:
            cur.execute(self._sql_model_exists, self._np(name))
            if cur.fetchone() is not None:
                raise _model_exists(name)
            now = _now_ms()
            self._insert(
                cur,
                "registered_models",
                ("name", "creation_time", "last_updated_time", "description"),
                [(name, now, now, description)],
            )
            self._insert(
                cur,
                "registered_model_tags",
                ("key", "value", "name"),
                [(k, v, name) for k, v in tag_map.items()],
            )
            return now

        now = self._write(create)
        return RegisteredModel(
            name=name,
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description,
            tags=tag_map,
        )

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """Set a model's description (None clears it)."""
        self._check_width("registered_models", "description", description)
        d = self._d

        def update(cur: Any) -> RegisteredModel:
            cur.execute(
                d.sql(
                    "UPDATE registered_models SET description = ?, last_updated_time = ? "
                    f"WHERE {d.key_equals('name')}{self._scoped('registered_models')}"
                ),
                [description, _now_ms(), *self._np(name)],
            )
            if cur.rowcount == 0:
                raise _model_not_found(name)
            return self._load_model(cur, name)

        return self._write(update)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; versions, tags and aliases follow, in one transaction."""
        self._check_width("registered_models", "name", new_name)
        d = self._d
        ws = self._scoped

        def copy_rows(cur: Any, table: str, overrides: dict[str, Any]) -> None:
            columns = self._columns[table]
            select = ", ".join("?" if c in overrides else f'"{c}"' for c in columns)
            quoted = ", ".join(f'"{c}"' for c in columns)
            values = [overrides[c] for c in columns if c in overrides]
            cur.execute(
                d.sql(
                    f"INSERT INTO {table} ({quoted}) SELECT {select} FROM {table} t "
                    f"WHERE {d.key_equals('t.name')}{ws('t')}"
                ),
                [*values, *self._np(name)],
            )

        def move(cur: Any, table: str) -> None:
            cur.execute(
                d.sql(f"UPDATE {table} SET name = ? WHERE {d.key_equals('name')}{ws(table)}"),
                [new_name, *self._np(name)],
            )

        def delete(cur: Any, table: str) -> None:
            cur.execute(
                d.sql(f"DELETE FROM {table} WHERE {d.key_equals('name')}{ws(table)}"),
                self._np(name),
            )

        def rename(cur: Any) -> RegisteredModel:
            self._require_model(cur, name, lock=True)
            if new_name == name:
                return self._load_model(cur, name)
            cur.execute(self._sql_model_exists, self._np(new_name))
            if cur.fetchone() is not None:
                raise _model_exists(new_name)
            now = _now_ms()
            copy_rows(cur, "registered_models", {"name": new_name, "last_updated_time": now})
            copy_rows(cur, "model_versions", {"name": new_name, "last_updated_time": now})
            for table in (
                "model_version_tags",
                "registered_model_tags",
                "registered_model_aliases",
            ):
                move(cur, table)
            delete(cur, "model_versions")
            delete(cur, "registered_models")
            return self._load_model(cur, new_name)

        return self._write(rename)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with all its versions (hard delete, as MLflow), tags and aliases."""
        d = self._d

        def delete(cur: Any) -> None:
            self._require_model(cur, name, lock=True)
            for table in (
                "model_version_tags",
                "registered_model_aliases",
                "model_versions",
                "registered_model_tags",
                "registered_models",
            ):
                cur.execute(
                    d.sql(f"DELETE FROM {table} WHERE {d.key_equals('name')}{self._scoped(table)}"),
                    self._np(name),
                )

        self._write(delete)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model with its tags, aliases and latest version per stage."""
        return self._read(lambda cur: self._load_model(cur, name))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Return one page of models in one query (prompts left out unless asked for)."""
        kind = search.SearchKind.REGISTERED_MODELS
        expr, prompts = search.effective_filter(search.parse_filter(filter_string, kind))
        order = search.parse_order_by(order_by, kind)
        limit = search.validate_max_results(max_results, kind)
        offset = search.decode_page_token(page_token)
        b = _RegistryBuilder(self._d, self._ws is not None)
        where, params = self._search_conditions(
            b, ["1 = 1"], [], "rm", expr, b.model_comparison, prompts, "registered_model_tags"
        )
        terms = ", ".join(t for key in order for t in b.model_order(key))
        paging, paging_params = self._d.limit_offset(limit + 1, offset)
        sql, all_params = self._models_query(where, params, terms, paging, paging_params)
        return self._search_page(sql, all_params, self._decode_models, order, limit, offset)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Return the newest version per stage (all four stages when ``stages`` is empty)."""
        model = self.get_registered_model(name)
        wanted = set(stages) if stages else set(Stage.ALL)
        return [v for v in model.latest_versions if v.current_stage in wanted]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        """Set (or overwrite) a model tag."""
        self._check_width("registered_model_tags", "key", tag.key)
        self._check_width("registered_model_tags", "value", tag.value)

        def write(cur: Any) -> None:
            self._require_model(cur, name)
            self._upsert(
                cur, "registered_model_tags", {"key": tag.key, "name": name}, {"value": tag.value}
            )

        self._write(write)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a model tag (no error when absent, as MLflow)."""
        d = self._d

        def write(cur: Any) -> None:
            self._require_model(cur, name)
            cur.execute(
                d.sql(
                    f"DELETE FROM registered_model_tags WHERE {d.key_equals('name')} AND "
                    f"{d.key_equals(_KEY)}"
                    f"{self._scoped('registered_model_tags')}"
                ),
                [*d.key_params(name), *d.key_params(key), *self._wsp],
            )

        self._write(write)

    # ---------------------------------------------------------------------------------------
    # Model versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Create the next version; ``models:/`` sources are resolved for the download URI."""
        from trackyard.uri import version_storage_location

        storage_location = version_storage_location(self, source)
        tag_map = {t.key: t.value for t in tags or ()}
        for column, value in (
            ("source", source),
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("storage_location", storage_location),
        ):
            self._check_width("model_versions", column, value)
        for key, value in tag_map.items():
            self._check_width("model_version_tags", "key", key)
            self._check_width("model_version_tags", "value", value)

        def create(cur: Any) -> tuple[int, int]:
            self._require_model(cur, name, lock=True)
            cur.execute(self._sql_max_version, self._np(name))
            row = cur.fetchone()
            number = int(row[0] or 0) + 1 if row else 1
            now = _now_ms()
            self._insert(
                cur,
                "model_versions",
                _VERSION_COLUMNS,
                [
                    (
                        name,
                        number,
                        now,
                        now,
                        description,
                        None,
                        Stage.NONE,
                        source,
                        run_id,
                        ModelVersionStatus.READY,
                        None,
                        run_link,
                        storage_location,
                    )
                ],
            )
            self._insert(
                cur,
                "model_version_tags",
                ("key", "value", "name", "version"),
                [(k, v, name, number) for k, v in tag_map.items()],
            )
            self._touch_model(cur, name, now)
            return number, now

        number, now = self._write(create)
        return ModelVersion(
            name=name,
            version=str(number),
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description,
            current_stage=Stage.NONE,
            source=source,
            run_id=run_id,
            status=ModelVersionStatus.READY,
            tags=tag_map,
            run_link=run_link,
            storage_location=storage_location,
        )

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """Set a version's description."""
        self._check_width("model_versions", "description", description)
        d = self._d

        def update(cur: Any) -> ModelVersion:
            cur.execute(
                d.sql(
                    "UPDATE model_versions SET description = ?, last_updated_time = ? WHERE "
                    f"{d.key_equals('name')} AND version = ? AND current_stage <> ?"
                    f"{self._scoped('model_versions')}"
                ),
                [description, _now_ms(), *d.key_params(name), int(version), _DELETED, *self._wsp],
            )
            if cur.rowcount == 0:
                raise _version_not_found(name, version)
            return self._load_version(cur, name, version)

        return self._write(update)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """Move a version to a stage, optionally archiving the others in that stage."""
        d = self._d
        scope = self._scoped("model_versions")

        def transition(cur: Any) -> ModelVersion:
            self._require_model(cur, name, lock=True)
            number = self._require_version(cur, name, version)
            now = _now_ms()
            if archive_existing_versions:
                cur.execute(
                    d.sql(
                        "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                        f"WHERE {d.key_equals('name')} AND version <> ? AND current_stage = ?"
                        f"{scope}"
                    ),
                    [Stage.ARCHIVED, now, *d.key_params(name), number, stage, *self._wsp],
                )
            cur.execute(
                d.sql(
                    "UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                    f"WHERE {d.key_equals('name')} AND version = ?{scope}"
                ),
                [stage, now, *d.key_params(name), number, *self._wsp],
            )
            self._touch_model(cur, name, now)
            return self._load_version(cur, name, version)

        return self._write(transition)

    def delete_model_version(self, name: str, version: str) -> None:
        """Soft-delete a version as MLflow does (redacted, hidden, aliases removed)."""
        d = self._d

        def delete(cur: Any) -> None:
            self._require_model(cur, name, lock=True)
            number = self._require_version(cur, name, version)
            now = _now_ms()
            cur.execute(
                d.sql(
                    "UPDATE model_versions SET current_stage = ?, last_updated_time = ?, "
                    "description = NULL, user_id = NULL, status_message = NULL, source = ?, "
                    f"run_id = ?, run_link = ? WHERE {d.key_equals('name')} AND version = ?"
                    f"{self._scoped('model_versions')}"
                ),
                [
                    _DELETED,
                    now,
                    _REDACTED_SOURCE,
                    _REDACTED_RUN_ID,
                    _REDACTED_RUN_LINK,
                    *d.key_params(name),
                    number,
                    *self._wsp,
                ],
            )
            cur.execute(
                d.sql(
                    f"DELETE FROM registered_model_aliases WHERE {d.key_equals('name')} AND "
                    f"version = ?{self._scoped('registered_model_aliases')}"
                ),
                [*d.key_params(name), number, *self._wsp],
            )
            self._touch_model(cur, name, now)

        self._write(delete)

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Return a version with its tags and aliases (deleted versions do not exist)."""
        return self._read(lambda cur: self._load_version(cur, name, version))

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Return the version's storage location, else its source."""
        d = self._d
        sql = d.sql(
            "SELECT storage_location, source FROM model_versions mv WHERE "
            f"{d.key_equals('mv.name')} AND mv.version = ? AND mv.current_stage <> ?"
            f"{self._scoped('mv')}"
        )

        def get(cur: Any) -> str:
            cur.execute(sql, [*d.key_params(name), int(version), _DELETED, *self._wsp])
            row = cur.fetchone()
            if row is None:
                raise _version_not_found(name, version)
            return str(row[0] or row[1] or "")

        return self._read(get)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Return one page of versions, with their tags and aliases, in one query."""
        kind = search.SearchKind.MODEL_VERSIONS
        expr, prompts = search.effective_filter(search.parse_filter(filter_string, kind))
        order = search.parse_order_by(order_by, kind)
        limit = search.validate_max_results(max_results, kind)
        offset = search.decode_page_token(page_token)
        b = _RegistryBuilder(self._d, self._ws is not None)
        where, params = self._search_conditions(
            b,
            ["mv.current_stage <> ?"],
            [_DELETED],
            "mv",
            expr,
            b.version_comparison,
            prompts,
            "model_version_tags",
        )
        terms = ", ".join(t for key in order for t in b.version_order(key))
        paging, paging_params = self._d.limit_offset(limit + 1, offset)
        sql, all_params = self._versions_query(where, params, terms, paging, paging_params)
        return self._search_page(sql, all_params, self._decode_versions, order, limit, offset)

    def _search_conditions(
        self,
        b: _RegistryBuilder,
        where: list[str],
        params: list[Any],
        alias: str,
        expr: Any,
        comparison: Any,
        prompts: bool,
        tag_table: str,
    ) -> tuple[str, list[Any]]:
        """The WHERE text and parameters of a model or version search (``alias`` is its table)."""
        if self._ws is not None:
            where.append(f"{alias}.workspace = ?")
            params.append(self._ws)
        if expr is not None:
            sql, p = b.condition(expr, comparison)
            where.append(f"({sql})")
            params.extend(p)
        if not prompts:
            where.append(b.not_prompt(tag_table, alias))
            params.extend(b.not_prompt_params(self._ws))
        return " AND ".join(where), params

    def _search_page(
        self,
        sql: str,
        params: list[Any],
        decode: Callable[[Sequence[Sequence[Any]], Sequence[OrderKey]], list[T]],
        order: Any,
        limit: int,
        offset: int,
    ) -> PagedList[T]:
        """Run a search query that fetched ``limit + 1`` rows; decode one page and its token."""
        from trackyard import search

        def run(cur: Any) -> PagedList[T]:
            cur.execute(sql, params)
            items = decode(cur.fetchall(), order)
            token = search.encode_page_token(offset + limit) if len(items) > limit else None
            return PagedList(items[:limit], token)

        return self._read(run)

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        """Set (or overwrite) a version tag."""
        self._check_width("model_version_tags", "key", tag.key)
        self._check_width("model_version_tags", "value", tag.value)

        def write(cur: Any) -> None:
            number = self._require_version(cur, name, version)
            self._upsert(
                cur,
                "model_version_tags",
                {"key": tag.key, "name": name, "version": number},
                {"value": tag.value},
            )

        self._write(write)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Delete a version tag (no error when absent, as MLflow)."""
        d = self._d

        def write(cur: Any) -> None:
            number = self._require_version(cur, name, version)
            cur.execute(
                d.sql(
                    f"DELETE FROM model_version_tags WHERE {d.key_equals('name')} AND "
                    f"version = ? AND {d.key_equals(_KEY)}"
                    f"{self._scoped('model_version_tags')}"
                ),
                [*d.key_params(name), number, *d.key_params(key), *self._wsp],
            )

        self._write(write)

    # ---------------------------------------------------------------------------------------
    # Aliases

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point an alias at a version, moving it if it pointed elsewhere."""
        self._check_width("registered_model_aliases", "alias", alias)

        def write(cur: Any) -> None:
            self._require_model(cur, name)
            number = self._require_version(cur, name, version)
            self._upsert(
                cur, "registered_model_aliases", {"name": name, "alias": alias}, {"version": number}
            )

        self._write(write)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (no error when absent, as MLflow)."""
        d = self._d

        def write(cur: Any) -> None:
            self._require_model(cur, name)
            cur.execute(
                d.sql(
                    f"DELETE FROM registered_model_aliases WHERE {d.key_equals('name')} AND "
                    f"{d.key_equals('alias')}{self._scoped('registered_model_aliases')}"
                ),
                [*d.key_params(name), *d.key_params(alias), *self._wsp],
            )

        self._write(write)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at (INVALID_PARAMETER_VALUE if none, as MLflow)."""
        d = self._d
        sql = d.sql(
            f"SELECT a.version FROM registered_model_aliases a WHERE {d.key_equals('a.name')} "
            f"AND {d.key_equals('a.alias')}{self._scoped('a')}"
        )

        def get(cur: Any) -> ModelVersion:
            cur.execute(sql, [*d.key_params(name), *d.key_params(alias), *self._wsp])
            row = cur.fetchone()
            if row is None:
                self._require_model(cur, name)
                raise _invalid(f"Registered model alias {alias} not found.")
            return self._load_version(cur, name, str(row[0]))

        return self._read(get)


# -------------------------------------------------------------------------------------------
# Search compilation


class _RegistryBuilder(_search._Builder):
    """Compiles registry filters and orders (the run/experiment builder's helpers reused)."""

    def __init__(self, dialect: Any, workspace: bool) -> None:
        super().__init__(dialect, datasets=False)
        self.workspace = workspace

    def _tag_exists(
        self, table: str, owner: str, columns: Sequence[str], c: Comparison
    ) -> tuple[str, list[Any]]:
        a = self.next_alias("t")
        joins = " AND ".join(f"{a}.{col} = {owner}.{col}" for col in columns)
        if self.workspace:
            joins += f" AND {a}.workspace = {owner}.workspace"
        key_sql = self.d.key_equals(f'{a}."key"')
        value_sql, value_params = self.text_comparison(f"{a}.value", c)
        return (
            f"EXISTS (SELECT 1 FROM {table} {a} WHERE {joins} AND {key_sql} AND {value_sql})",
            [*self.d.key_params(c.key), *value_params],
        )

    def not_prompt(self, table: str, owner: str) -> str:
        """Leave out rows whose model carries the prompt tag (model-level, as MLflow).

        An uncorrelated ``NOT IN``: the set of prompt names is computed once per query
        rather than probed once per row.
        """
        a = self.next_alias("pt")
        scope = f"{a}.workspace = ? AND " if self.workspace else ""
        key_sql = self.d.key_equals(f'{a}."key"')
        value_sql, _ = self.d.compare_text(f"{a}.value", "=", "true")
        return (
            f"{owner}.name NOT IN (SELECT {a}.name FROM {table} {a} "
            f"WHERE {scope}{key_sql} AND {value_sql})"
        )

    def not_prompt_params(self, workspace: str | None) -> list[Any]:
        """Parameters of :meth:`not_prompt`."""
        _, value_params = self.d.compare_text("x", "=", "true")
        scope = [workspace] if self.workspace else []
        return [*scope, *self.d.key_params(IS_PROMPT_TAG_KEY), *value_params]

    def model_comparison(self, c: Comparison) -> tuple[str, list[Any]]:
        if c.entity is Entity.TAG:
            return self._tag_exists("registered_model_tags", "rm", ("name",), c)
        if c.entity is Entity.ATTRIBUTE and c.key == "name":
            return self.text_comparison("rm.name", c)
        raise _search._unsupported(f"registered models by {c.entity.value} {c.key!r}")

    def version_comparison(self, c: Comparison) -> tuple[str, list[Any]]:
        if c.entity is Entity.TAG:
            return self._tag_exists("model_version_tags", "mv", ("name", "version"), c)
        if c.entity is Entity.ATTRIBUTE:
            column = {"name": "mv.name", "run_id": "mv.run_id", "source_path": "mv.source"}.get(
                c.key
            )
            if column is not None:
                return self.text_comparison(column, c)
            if c.key == "version_number":
                op = _NUMERIC_SQL_OPS.get(c.op)
                if op is not None:
                    return f"mv.version {op} ?", [int(c.value)]  # type: ignore[arg-type]
        raise _search._unsupported(f"model versions by {c.entity.value} {c.key!r} {c.op.value}")

    def model_order(self, key: OrderKey) -> list[str]:
        direction = "ASC" if key.ascending else "DESC"
        if key.entity is Entity.ATTRIBUTE:
            if key.key == "name":
                return [f"{self.d.order_text('rm.name')} {direction}"]
            if key.key == "last_updated_timestamp":
                col = "rm.last_updated_time"
                return [self.present_last(col), f"{col} {direction}"]
        raise _search._unsupported(f"ordering registered models by {key.key!r}")

    def version_order(self, key: OrderKey) -> list[str]:
        direction = "ASC" if key.ascending else "DESC"
        if key.entity is Entity.ATTRIBUTE:
            if key.key == "name":
                return [f"{self.d.order_text('mv.name')} {direction}"]
            if key.key == "version_number":
                return [f"mv.version {direction}"]
            column = {
                "creation_timestamp": "mv.creation_time",
                "last_updated_timestamp": "mv.last_updated_time",
            }.get(key.key)
            if column is not None:
                return [self.present_last(column), f"{column} {direction}"]
        raise _search._unsupported(f"ordering model versions by {key.key!r}")


_VERSION_SORT_KEYS: dict[str, Callable[[ModelVersion], Any]] = {
    "name": lambda v: v.name,
    "version_number": lambda v: int(v.version),
    "creation_timestamp": lambda v: v.creation_timestamp,
    "last_updated_timestamp": lambda v: v.last_updated_timestamp,
}
_MODEL_SORT_KEYS: dict[str, Callable[[RegisteredModel], Any]] = {
    "name": lambda m: m.name,
    "last_updated_timestamp": lambda m: m.last_updated_timestamp,
}


def _sort_page(
    items: list[T], order: Sequence[OrderKey], getters: dict[str, Callable[[T], Any]]
) -> list[T]:
    """Sort a page as its query did: ``trackyard.search``'s reference order, done quickly.

    One stable pass per key, least significant first; values sort ascending or descending
    (numbers numerically, strings by code point), missing values last in both directions.
    """
    for key in reversed(order):
        getter = getters[key.key]
        present = [item for item in items if getter(item) is not None]
        missing = (
            [item for item in items if getter(item) is None] if len(present) < len(items) else []
        )
        present.sort(key=getter, reverse=not key.ascending)
        items = present + missing
    return items


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _version_from_row(row: Sequence[Any]) -> ModelVersion:
    return ModelVersion(
        name=row[2],
        version=str(int(row[3])),
        creation_timestamp=_int_or_none(row[4]),
        last_updated_timestamp=_int_or_none(row[5]),
        description=row[6],
        user_id=row[7],
        current_stage=row[8] or Stage.NONE,
        source=row[9],
        run_id=row[10],
        status=row[11] or ModelVersionStatus.READY,
        status_message=row[12],
        run_link=row[13],
        storage_location=row[14],
    )
