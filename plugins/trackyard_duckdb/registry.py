"""The DuckDB model registry store: registered models, versions, tags, aliases and prompts.

It shares its database (and the per-database write lock) with the DuckDB tracking store of
the same URI. MLflow's registry rules, as the conformance kit checks them:

- version numbers are ``max + 1`` per model, deleted versions included, so a number is never
  reused; concurrent creators in this process get distinct, gap-free numbers (the write
  lock; DuckDB admits one process per file);
- deleting a version is a soft delete: stage ``Deleted_Internal``, source, run id and run
  link redacted, description, user id and status message cleared, its aliases removed;
  deleted versions are invisible to every read;
- deleting a model removes its versions, tags and aliases; renaming carries them along (they
  refer to the model's integer key, so a rename rewrites one row);
- a ``models:/`` source is resolved when the version is created and its download location is
  kept as the version's storage location;
- prompts are registered models and versions tagged ``mlflow.prompt.is_prompt = 'true'`` (the
  client writes them); searches leave them out unless the filter asks for them;
- webhooks live in their own tables (:mod:`trackyard_duckdb.webhooks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard import config
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from trackyard.errors import (
    alias_not_found,
    model_version_not_found,
    registered_model_exists,
    registered_model_not_found,
)
from trackyard.stores import Capabilities, RegistryStore, now_ms
from trackyard_duckdb import _registry_search
from trackyard_duckdb._database import Database, open_database, parse_location
from trackyard_duckdb.importing import DuckDBRegistryImports
from trackyard_duckdb.webhooks import DuckDBWebhooks

if TYPE_CHECKING:
    from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch

__all__ = ["DuckDBRegistryStore"]

_DELETED = Stage.DELETED_INTERNAL
_REDACTED_SOURCE = "REDACTED-SOURCE-PATH"
_REDACTED_RUN_ID = "REDACTED-RUN-ID"
_REDACTED_RUN_LINK = "REDACTED-RUN-LINK"

_MODEL_COLUMNS = (
    "model_key, name, creation_timestamp, last_updated_timestamp, description, deployment_job_id"
)
_VERSION_COLUMNS = (
    "v.model_key, v.version, m.name, v.creation_timestamp, v.last_updated_timestamp, "
    "v.description, v.user_id, v.current_stage, v.source, v.run_id, v.status, "
    "v.status_message, v.run_link, v.model_id, v.storage_location"
)
_VERSION_FROM = "model_versions v JOIN registered_models m ON m.model_key = v.model_key"


def _version_number(version: object) -> int | None:
    try:
        number = int(str(version))
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _pairs(keys: Sequence[tuple[int, int]], alias: str = "") -> tuple[str, list[Any]]:
    """A condition selecting the versions ``keys`` ((model_key, version) pairs)."""
    p = f"{alias}." if alias else ""
    return (
        f"({p}model_key, {p}version) IN (SELECT unnest(?::BIGINT[]), unnest(?::BIGINT[]))",
        [[k for k, _ in keys], [v for _, v in keys]],
    )


class DuckDBRegistryStore(DuckDBRegistryImports, DuckDBWebhooks, RegistryStore):
    """MLflow's model registry store API over a DuckDB database (trackyard's own schema).

    Args:
        store_uri: a ``duckdb://`` URI, as for
            :class:`~trackyard_duckdb.tracking.DuckDBTrackingStore` (the same URI shares one
            database).
        tracking_uri: the tracking URI (for ``runs:/`` sources; not used by the store).

    Raises:
        TrackyardError: as the tracking store does when the database cannot be opened.
    """

    # each flag is held to its kit tests (tests/conformance/test_duckdb.py); one writing
    # process per file, so no concurrent_processes
    capabilities = Capabilities(
        search_or=True, concurrent_versions=True, prompts=True, webhooks=True, imports=True
    )

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        store_uri = store_uri or config.get_registry_uri(tracking_uri)
        super().__init__(store_uri, tracking_uri)
        self._db: Database = open_database(parse_location(store_uri))
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
        return f"DuckDBRegistryStore({self.store_uri!r})"

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def _model_key(cur: Any, name: str) -> int:
        cur.execute("SELECT model_key FROM registered_models WHERE name = ?", [name])
        row = cur.fetchone()
        if row is None:
            raise registered_model_not_found(name)
        return int(row[0])

    def _version_key(self, cur: Any, name: str, version: object) -> tuple[int, int]:
        """(model_key, version) of a visible version (RESOURCE_DOES_NOT_EXIST otherwise)."""
        model_key = self._model_key(cur, name)
        number = _version_number(version)
        if number is not None:
            cur.execute(
                "SELECT count(*) FROM model_versions WHERE model_key = ? AND version = ? "
                "AND current_stage <> ?",
                [model_key, number, _DELETED],
            )
            if cur.fetchone()[0]:
                return model_key, number
        raise model_version_not_found(name, version)

    def _versions(self, cur: Any, keys: Sequence[tuple[int, int]]) -> list[ModelVersion]:
        """The versions ``keys`` with their tags and aliases, in that order."""
        if not keys:
            return []
        where, params = _pairs(keys)
        cur.execute(
            f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} WHERE {_pairs(keys, 'v')[0]}",
            params,
        )
        rows = {(r[0], r[1]): r for r in cur.fetchall()}
        tags: dict[tuple[int, int], dict[str, str]] = {k: {} for k in keys}
        cur.execute(
            f"SELECT model_key, version, key, value FROM model_version_tags WHERE {where}", params
        )
        for mk, v, key, value in cur.fetchall():
            tags[(mk, v)][key] = value
        aliases: dict[tuple[int, int], list[str]] = {k: [] for k in keys}
        cur.execute(
            "SELECT model_key, version, alias FROM registered_model_aliases "
            f"WHERE {where} ORDER BY alias",
            params,
        )
        for mk, v, alias in cur.fetchall():
            aliases[(mk, v)].append(alias)
        return [
            ModelVersion(
                name=row[2],
                version=str(row[1]),
                creation_timestamp=row[3],
                last_updated_timestamp=row[4],
                description=row[5],
                user_id=row[6],
                current_stage=row[7],
                source=row[8],
                run_id=row[9],
                status=row[10],
                status_message=row[11],
                tags=tags[k],
                run_link=row[12],
                aliases=aliases[k],
                model_id=row[13],
                storage_location=row[14],
            )
            for k in keys
            if (row := rows.get(k)) is not None
        ]

    def _latest_keys(self, cur: Any, model_keys: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
        """The newest visible version per stage of each model, in stage order."""
        latest: dict[int, list[tuple[int, int]]] = {k: [] for k in model_keys}
        cur.execute(
            "SELECT model_key, current_stage, max(version) FROM model_versions "
            "WHERE model_key IN (SELECT unnest(?::BIGINT[])) AND current_stage <> ? "
            "GROUP BY model_key, current_stage",
            [list(model_keys), _DELETED],
        )
        by_stage: dict[int, dict[str, int]] = {k: {} for k in model_keys}
        for mk, stage, version in cur.fetchall():
            by_stage[mk][stage] = version
        for mk, stages in by_stage.items():
            latest[mk] = [(mk, stages[s]) for s in Stage.ALL if s in stages]
        return latest

    def _models(self, cur: Any, model_keys: Sequence[int]) -> list[RegisteredModel]:
        """The models ``model_keys`` with tags, aliases and latest versions, in that order."""
        if not model_keys:
            return []
        keys = list(model_keys)
        cur.execute(
            f"SELECT {_MODEL_COLUMNS} FROM registered_models "
            "WHERE model_key IN (SELECT unnest(?::BIGINT[]))",
            [keys],
        )
        rows = {r[0]: r for r in cur.fetchall()}
        tags: dict[int, dict[str, str]] = {k: {} for k in keys}
        cur.execute(
            "SELECT model_key, key, value FROM registered_model_tags "
            "WHERE model_key IN (SELECT unnest(?::BIGINT[]))",
            [keys],
        )
        for mk, key, value in cur.fetchall():
            tags[mk][key] = value
        aliases: dict[int, dict[str, str]] = {k: {} for k in keys}
        cur.execute(
            "SELECT model_key, alias, version FROM registered_model_aliases "
            "WHERE model_key IN (SELECT unnest(?::BIGINT[])) ORDER BY alias",
            [keys],
        )
        for mk, alias, version in cur.fetchall():
            aliases[mk][alias] = str(version)
        latest = self._latest_keys(cur, keys)
        wanted = [pair for pairs in latest.values() for pair in pairs]
        versions = {pair: v for pair, v in zip(wanted, self._versions(cur, wanted), strict=True)}
        return [
            RegisteredModel(
                name=row[1],
                creation_timestamp=row[2],
                last_updated_timestamp=row[3],
                description=row[4],
                latest_versions=[versions[p] for p in latest[k] if p in versions],
                tags=tags[k],
                aliases=aliases[k],
                deployment_job_id=row[5],
            )
            for k in keys
            if (row := rows.get(k)) is not None
        ]

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a model (RESOURCE_ALREADY_EXISTS if the name is taken)."""
        tag_map = {t.key: t.value for t in tags or ()}

        def create(cur: Any) -> RegisteredModel:
            cur.execute("SELECT count(*) FROM registered_models WHERE name = ?", [name])
            if cur.fetchone()[0]:
                raise registered_model_exists(name)
            model_key = self._db.next_key(cur, "registered_models", "model_key")
            now = now_ms()
            cur.execute(
                f"INSERT INTO registered_models ({_MODEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [model_key, name, now, now, description, deployment_job_id],
            )
            if tag_map:
                cur.execute(
                    "INSERT INTO registered_model_tags SELECT ?, unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[])",
                    [model_key, list(tag_map), list(tag_map.values())],
                )
            return self._models(cur, [model_key])[0]

        return self._db.write(create)

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """Set a model's description (None clears it)."""

        def update(cur: Any) -> RegisteredModel:
            model_key = self._model_key(cur, name)
            cur.execute(
                "UPDATE registered_models SET description = ?, last_updated_timestamp = ?, "
                "deployment_job_id = coalesce(?, deployment_job_id) WHERE model_key = ?",
                [description, now_ms(), deployment_job_id, model_key],
            )
            return self._models(cur, [model_key])[0]

        return self._db.write(update)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow."""

        def rename(cur: Any) -> RegisteredModel:
            model_key = self._model_key(cur, name)
            if new_name != name:
                cur.execute("SELECT count(*) FROM registered_models WHERE name = ?", [new_name])
                if cur.fetchone()[0]:
                    raise registered_model_exists(new_name)
                now = now_ms()
                cur.execute(
                    "UPDATE registered_models SET name = ?, last_updated_timestamp = ? "
                    "WHERE model_key = ?",
                    [new_name, now, model_key],
                )
                cur.execute(
                    "UPDATE model_versions SET last_updated_timestamp = ? WHERE model_key = ?",
                    [now, model_key],
                )
            return self._models(cur, [model_key])[0]

        return self._db.write(rename)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases."""

        def delete(cur: Any) -> None:
            model_key = self._model_key(cur, name)
            for table in (
                "registered_model_aliases",
                "model_version_tags",
                "model_versions",
                "registered_model_tags",
                "registered_models",
            ):
                cur.execute(f"DELETE FROM {table} WHERE model_key = ?", [model_key])

        self._db.write(delete)

    def search_registered_models(
        self, request: RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        """Return the page of models ``request`` asks for (prompts left out unless asked)."""
        sql, params = _registry_search.compile_model_search(
            expr=request.filter,
            order=request.order_by,
            limit=request.max_results + 1,
            offset=request.offset,
        )

        def search(cur: Any) -> PagedList[RegisteredModel]:
            cur.execute(sql, params)
            page = request.paged([row[0] for row in cur.fetchall()])
            return PagedList(self._models(cur, page), page.token)

        return self._db.read(search)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model with its tags, aliases and newest version per stage."""
        return self._db.read(lambda cur: self._models(cur, [self._model_key(cur, name)])[0])

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Return the newest version per stage (all four stages when ``stages`` is empty)."""
        wanted = set(stages) if stages else set(Stage.ALL)

        def latest(cur: Any) -> list[ModelVersion]:
            model_key = self._model_key(cur, name)
            versions = self._versions(cur, self._latest_keys(cur, [model_key])[model_key])
            return [v for v in versions if v.current_stage in wanted]

        return self._db.read(latest)

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        """Set (or overwrite) a model tag."""

        def set_tag(cur: Any) -> None:
            model_key = self._model_key(cur, name)
            cur.execute(
                "DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?",
                [model_key, tag.key],
            )
            cur.execute(
                "INSERT INTO registered_model_tags VALUES (?, ?, ?)",
                [model_key, tag.key, tag.value],
            )

        self._db.write(set_tag)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a model tag (no error when absent, as MLflow)."""

        def delete(cur: Any) -> None:
            cur.execute(
                "DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?",
                [self._model_key(cur, name), key],
            )

        self._db.write(delete)

    # -- model versions --------------------------------------------------------------------
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
        """Create the next version; a ``models:/`` source's download location is kept."""
        from trackyard.uri import version_storage_location

        storage_location = version_storage_location(self, source)
        tag_map = {t.key: t.value for t in tags or ()}

        def create(cur: Any) -> ModelVersion:
            model_key = self._model_key(cur, name)
            cur.execute(
                "SELECT coalesce(max(version), 0) FROM model_versions WHERE model_key = ?",
                [model_key],
            )
            number = int(cur.fetchone()[0]) + 1
            now = now_ms()
            cur.execute(
                "INSERT INTO model_versions (model_key, version, creation_timestamp, "
                "last_updated_timestamp, description, current_stage, source, run_id, run_link, "
                "status, storage_location, model_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    model_key,
                    number,
                    now,
                    now,
                    description,
                    Stage.NONE,
                    source,
                    run_id,
                    run_link,
                    ModelVersionStatus.READY,
                    storage_location,
                    model_id,
                ],
            )
            if tag_map:
                cur.execute(
                    "INSERT INTO model_version_tags SELECT ?, ?, unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[])",
                    [model_key, number, list(tag_map), list(tag_map.values())],
                )
            cur.execute(
                "UPDATE registered_models SET last_updated_timestamp = ? WHERE model_key = ?",
                [now, model_key],
            )
            return self._versions(cur, [(model_key, number)])[0]

        return self._db.write(create)

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """Set a version's description."""

        def update(cur: Any) -> ModelVersion:
            key = self._version_key(cur, name, version)
            cur.execute(
                "UPDATE model_versions SET description = ?, last_updated_timestamp = ? "
                "WHERE model_key = ? AND version = ?",
                [description, now_ms(), *key],
            )
            return self._versions(cur, [key])[0]

        return self._db.write(update)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """Move a version to a stage, optionally archiving the others in that stage."""

        def transition(cur: Any) -> ModelVersion:
            model_key, number = self._version_key(cur, name, version)
            now = now_ms()
            if archive_existing_versions:
                cur.execute(
                    "UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ? "
                    "WHERE model_key = ? AND version <> ? AND current_stage = ?",
                    [Stage.ARCHIVED, now, model_key, number, stage],
                )
            cur.execute(
                "UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ? "
                "WHERE model_key = ? AND version = ?",
                [stage, now, model_key, number],
            )
            cur.execute(
                "UPDATE registered_models SET last_updated_timestamp = ? WHERE model_key = ?",
                [now, model_key],
            )
            return self._versions(cur, [(model_key, number)])[0]

        return self._db.write(transition)

    def delete_model_version(self, name: str, version: str) -> None:
        """Soft-delete a version as MLflow does: redacted, hidden, its aliases removed."""

        def delete(cur: Any) -> None:
            model_key, number = self._version_key(cur, name, version)
            now = now_ms()
            cur.execute(
                "UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ?, "
                "source = ?, run_id = ?, run_link = ?, description = NULL, user_id = NULL, "
                "status_message = NULL WHERE model_key = ? AND version = ?",
                [
                    _DELETED,
                    now,
                    _REDACTED_SOURCE,
                    _REDACTED_RUN_ID,
                    _REDACTED_RUN_LINK,
                    model_key,
                    number,
                ],
            )
            cur.execute(
                "DELETE FROM registered_model_aliases WHERE model_key = ? AND version = ?",
                [model_key, number],
            )
            cur.execute(
                "UPDATE registered_models SET last_updated_timestamp = ? WHERE model_key = ?",
                [now, model_key],
            )

        self._db.write(delete)

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Return a version (RESOURCE_DOES_NOT_EXIST if absent or deleted)."""
        return self._db.read(
            lambda cur: self._versions(cur, [self._version_key(cur, name, version)])[0]
        )

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Return the version's storage location, else its source."""

        def uri(cur: Any) -> str:
            model_key, number = self._version_key(cur, name, version)
            cur.execute(
                "SELECT coalesce(storage_location, source) FROM model_versions "
                "WHERE model_key = ? AND version = ?",
                [model_key, number],
            )
            return str(cur.fetchone()[0])

        return self._db.read(uri)

    def search_model_versions(self, request: ModelVersionSearch) -> PagedList[ModelVersion]:
        """Return the page of versions ``request`` asks for (deleted and prompt versions out)."""
        sql, params = _registry_search.compile_version_search(
            expr=request.filter,
            order=request.order_by,
            limit=request.max_results + 1,
            offset=request.offset,
        )

        def search(cur: Any) -> PagedList[ModelVersion]:
            cur.execute(sql, params)
            page = request.paged([(row[0], row[1]) for row in cur.fetchall()])
            return PagedList(self._versions(cur, page), page.token)

        return self._db.read(search)

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        """Set (or overwrite) a version tag."""

        def set_tag(cur: Any) -> None:
            model_key, number = self._version_key(cur, name, version)
            cur.execute(
                "DELETE FROM model_version_tags WHERE model_key = ? AND version = ? AND key = ?",
                [model_key, number, tag.key],
            )
            cur.execute(
                "INSERT INTO model_version_tags VALUES (?, ?, ?, ?)",
                [model_key, number, tag.key, tag.value],
            )

        self._db.write(set_tag)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Delete a version tag (no error when absent, as MLflow)."""

        def delete(cur: Any) -> None:
            model_key, number = self._version_key(cur, name, version)
            cur.execute(
                "DELETE FROM model_version_tags WHERE model_key = ? AND version = ? AND key = ?",
                [model_key, number, key],
            )

        self._db.write(delete)

    # -- aliases ---------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere."""

        def set_alias(cur: Any) -> None:
            model_key, number = self._version_key(cur, name, version)
            cur.execute(
                "DELETE FROM registered_model_aliases WHERE model_key = ? AND alias = ?",
                [model_key, alias],
            )
            cur.execute(
                "INSERT INTO registered_model_aliases VALUES (?, ?, ?)",
                [model_key, alias, number],
            )

        self._db.write(set_alias)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (no error when absent, as MLflow)."""

        def delete(cur: Any) -> None:
            cur.execute(
                "DELETE FROM registered_model_aliases WHERE model_key = ? AND alias = ?",
                [self._model_key(cur, name), alias],
            )

        self._db.write(delete)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at (INVALID_PARAMETER_VALUE if none, as MLflow)."""

        def get(cur: Any) -> ModelVersion:
            model_key = self._model_key(cur, name)
            cur.execute(
                "SELECT version FROM registered_model_aliases WHERE model_key = ? AND alias = ?",
                [model_key, alias],
            )
            row = cur.fetchone()
            if row is None:
                raise alias_not_found(name, alias)
            return self._versions(cur, [(model_key, int(row[0]))])[0]

        return self._db.read(get)
