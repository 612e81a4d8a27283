"""The SQL model registry store: registered models, versions, aliases and prompts.

Design:

- **One database, shared.** The registry lives in the same database as the tracking tables
  (the registry URI defaults to the tracking URI) and works through the same
  :class:`~trackyard_sql.database.Database` object as the SQL tracking store of that URL:
  one engine and connection pool, the same transactions, retries and error messages.
- **MLflow's tables** (:mod:`trackyard_sql.schema.registry`), ``workspace`` column included,
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
- **Reads are one query** (:mod:`trackyard_sql.registry_rows`); searches are compiled by
  :mod:`trackyard_sql.compiler`.
- **Webhooks** live in MLflow's ``webhooks`` tables (:mod:`trackyard_sql.webhooks`), their
  secrets encrypted as MLflow encrypts them.
- **Prompts** are registered models and versions carrying ``mlflow.prompt.is_prompt``; both
  searches leave them out unless the filter asks for them
  (:mod:`trackyard.search.registry_evaluator` defines when).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import (
    model_version_not_found,
    registered_model_exists,
    registered_model_not_found,
)
from trackyard.search import OrderKey
from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch
from trackyard.stores import Capabilities, RegistryStore, now_ms
from trackyard.uri import mask_credentials
from trackyard_sql import explain
from trackyard_sql.bootstrap import require_columns
from trackyard_sql.compiler import compile_model_version_filter, compile_registered_model_filter
from trackyard_sql.database import Database
from trackyard_sql.registry_importing import SqlRegistryImports
from trackyard_sql.registry_rows import VERSION_COLUMNS, RegistryReader
from trackyard_sql.schema import REGISTRY_TABLES, WORKSPACE_DEFAULT
from trackyard_sql.webhooks import SqlWebhooks

__all__ = ["SqlRegistryStore"]

T = TypeVar("T")

_DELETED = Stage.DELETED_INTERNAL
_REDACTED_SOURCE = "REDACTED-SOURCE-PATH"
_REDACTED_RUN_ID = "REDACTED-RUN-ID"
_REDACTED_RUN_LINK = "REDACTED-RUN-LINK"

_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "registered_models": ("name", "creation_time", "last_updated_time", "description"),
    "registered_model_tags": ("key", "value", "name"),
    "model_versions": VERSION_COLUMNS,
    "model_version_tags": ("key", "value", "name", "version"),
    "registered_model_aliases": ("alias", "version", "name"),
}
# What to call a column in width errors.
_LABELS: dict[tuple[str, str], str] = {
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


class SqlRegistryStore(SqlRegistryImports, SqlWebhooks, RegistryStore):
    """MLflow's model registry store API over a SQL database in MLflow's table layout.

    Args:
        store_uri: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql[+driver]://...``,
            ``mysql[+driver]://...``); by default the registry URI in effect. A fresh
            database gets MLflow's head schema (:mod:`trackyard_sql.bootstrap`).
        tracking_uri: the tracking URI (kept for plugins; unused).

    Raises:
        TrackyardError: the database cannot be reached or opened, or has registry tables
            too old for this store.
    """

    capabilities = Capabilities(
        concurrent_processes=True,
        search_or=True,
        concurrent_versions=True,
        prompts=True,
        webhooks=True,
        imports=True,
    )

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        from trackyard import config

        store_uri = store_uri or config.get_registry_uri(tracking_uri)
        super().__init__(store_uri, tracking_uri)
        self._db = Database.open(store_uri)
        self._closed = False
        try:
            require_columns(self._db, _REQUIRED_COLUMNS, "SQL registry store")
            layout = self._db.layout
            self._d = self._db.dialect
            self._ws = WORKSPACE_DEFAULT if layout.has("registered_models", "workspace") else None
            # Column lists (any fixed order) for copying rows on rename.
            self._columns = {t: sorted(layout.columns[t]) for t in REGISTRY_TABLES}
            self._reader = RegistryReader(self._d, self._ws)
            self._prepare()
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
            self._db.close()

    def __repr__(self) -> str:
        return f"SqlRegistryStore({mask_credentials(str(self.store_uri))!r})"

    def _read(self, fn: Callable[[Any], T]) -> T:
        return self._db.read(fn)

    def _write(self, fn: Callable[[Any], T]) -> T:
        return self._db.write(fn)

    def _check_width(self, table: str, column: str, value: str | None) -> None:
        label = _LABELS.get((table, column), f"{table}.{column}")
        self._db.check_width(table, column, value, label)

    # ---------------------------------------------------------------------------------------
    # Statements

    def _prepare(self) -> None:
        d = self._d
        ws = self._ws is not None
        self._wsp: tuple[Any, ...] = (self._ws,) if ws else ()

        def scoped(alias: str) -> str:
            return f" AND {alias}.workspace = ?" if ws else ""

        self._scoped = scoped
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
            raise registered_model_not_found(name)

    def _require_version(self, cur: Any, name: str, version: str) -> int:
        number = int(version)
        cur.execute(
            self._sql_version_exists,
            [*self._d.key_params(name), number, _DELETED, *self._wsp],
        )
        if cur.fetchone() is None:
            raise model_version_not_found(name, version)
        return number

    def _touch_model(self, cur: Any, name: str, now: int) -> None:
        cur.execute(self._sql_touch_model, [now, *self._np(name)])

    # ---------------------------------------------------------------------------------------
    # Reading: one UNION ALL query per call (trackyard_sql.registry_rows)

    def _load_versions(self, cur: Any, where: str, params: Sequence[Any]) -> list[ModelVersion]:
        sql, all_params = self._reader.versions_query(where, params, "mv.name, mv.version", "", ())
        cur.execute(sql, all_params)
        return self._reader.decode_versions(cur.fetchall())

    def _load_version(self, cur: Any, name: str, version: str) -> ModelVersion:
        found = self._load_versions(
            cur,
            f"{self._d.key_equals('mv.name')} AND mv.version = ? AND mv.current_stage <> ?"
            f"{self._scoped('mv')}",
            [*self._d.key_params(name), int(version), _DELETED, *self._wsp],
        )
        if not found:
            raise model_version_not_found(name, version)
        return found[0]

    def _load_model(self, cur: Any, name: str) -> RegisteredModel:
        sql, params = self._reader.models_query(
            f"{self._d.key_equals('rm.name')}{self._scoped('rm')}",
            self._np(name),
            "rm.name",
            "",
            (),
        )
        cur.execute(sql, params)
        models = self._reader.decode_models(cur.fetchall())
        if not models:
            raise registered_model_not_found(name)
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
                raise registered_model_exists(name)
            now = now_ms()
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
                [description, now_ms(), *self._np(name)],
            )
            if cur.rowcount == 0:
                raise registered_model_not_found(name)
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
                raise registered_model_exists(new_name)
            now = now_ms()
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
        self, request: RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        """Return the page of models ``request`` asks for, in one query (prompts left out
        unless the filter asks for them)."""
        f = compile_registered_model_filter(self._d, request, workspace=self._ws)
        paging, paging_params = self._d.limit_offset(request.max_results + 1, request.offset)
        sql, params = self._reader.models_query(f.where, f.params, f.order, paging, paging_params)
        return self._search_page(sql, params, self._reader.decode_models, request)

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
            now = now_ms()
            self._insert(
                cur,
                "model_versions",
                VERSION_COLUMNS,
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
                [description, now_ms(), *d.key_params(name), int(version), _DELETED, *self._wsp],
            )
            if cur.rowcount == 0:
                raise model_version_not_found(name, version)
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
            now = now_ms()
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
            now = now_ms()
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
                raise model_version_not_found(name, version)
            return str(row[0] or row[1] or "")

        return self._read(get)

    def search_model_versions(self, request: ModelVersionSearch) -> PagedList[ModelVersion]:
        """Return the page of versions ``request`` asks for, with tags and aliases, in one query."""
        f = compile_model_version_filter(self._d, request, workspace=self._ws)
        paging, paging_params = self._d.limit_offset(request.max_results + 1, request.offset)
        sql, params = self._reader.versions_query(f.where, f.params, f.order, paging, paging_params)
        return self._search_page(sql, params, self._reader.decode_versions, request)

    def _search_page(
        self,
        sql: str,
        params: list[Any],
        decode: Callable[[Sequence[Sequence[Any]], Sequence[OrderKey]], list[T]],
        request: RegisteredModelSearch | ModelVersionSearch,
    ) -> PagedList[T]:
        """Run a page query that fetched one row more than the page; decode and page it."""

        def run(cur: Any) -> PagedList[T]:
            cur.execute(sql, params)
            return request.paged(decode(cur.fetchall(), request.order_by))

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
