"""Imports for the SQL registry store: models and versions written as they are.

Mixed into :class:`~trackyard_sql.registry.SqlRegistryStore` (``Capabilities(imports=True)``;
the contract is :class:`trackyard.stores.RegistryStore`'s ``import_*`` methods).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities.model_registry import ModelVersion, RegisteredModel
from trackyard.errors import already_exists, registered_model_exists
from trackyard.stores import RegistryStoreMixin
from trackyard_sql.registry_rows import VERSION_COLUMNS

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect

__all__ = ["SqlRegistryImports"]


class SqlRegistryImports(RegistryStoreMixin):
    """``import_registered_model`` and ``import_model_version``, one transaction each."""

    if TYPE_CHECKING:
        _db: Database
        _d: Dialect

        def _check_width(self, table: str, column: str, value: str | None) -> None: ...
        def _np(self, name: str) -> list[Any]: ...

        _scoped: Callable[[str], str]

        def _require_model(self, cur: Any, name: str, *, lock: bool = False) -> None: ...
        def _insert(
            self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
        ) -> None: ...

    def import_registered_model(self, model: RegisteredModel) -> None:
        """Insert a model with its times, description, tags and aliases."""
        d = self._d
        self._check_width("registered_models", "name", model.name)
        self._check_width("registered_models", "description", model.description)

        def insert(cur: Any) -> None:
            cur.execute(
                d.sql(
                    f"SELECT 1 FROM registered_models WHERE {d.key_equals('name')}"
                    f"{self._scoped('registered_models')}"
                ),
                self._np(model.name),
            )
            if cur.fetchone() is not None:
                raise registered_model_exists(model.name)
            self._insert(
                cur,
                "registered_models",
                ("name", "creation_time", "last_updated_time", "description"),
                [
                    (
                        model.name,
                        model.creation_timestamp,
                        model.last_updated_timestamp,
                        model.description,
                    )
                ],
            )
            self._insert(
                cur,
                "registered_model_tags",
                ("key", "value", "name"),
                [(k, v, model.name) for k, v in sorted(model.tags.items())],
            )
            self._insert(
                cur,
                "registered_model_aliases",
                ("alias", "version", "name"),
                [(a, int(v), model.name) for a, v in sorted(model.aliases.items())],
            )

        self._db.write(insert)

    def import_model_version(self, version: ModelVersion) -> None:
        """Insert a version with its number, times, stage, source, status and tags."""
        d = self._d
        number = int(version.version)
        for column, value in (
            ("source", version.source),
            ("run_link", version.run_link),
            ("description", version.description),
            ("storage_location", version.storage_location),
        ):
            self._check_width("model_versions", column, value)

        def insert(cur: Any) -> None:
            self._require_model(cur, version.name, lock=True)
            cur.execute(
                d.sql(
                    f"SELECT 1 FROM model_versions WHERE {d.key_equals('name')}"
                    f"{self._scoped('model_versions')} AND version = ?"
                ),
                [*self._np(version.name), number],
            )
            if cur.fetchone() is not None:
                raise already_exists(f"Model version {version.name} {number}")
            row = (
                version.name,
                number,
                version.creation_timestamp,
                version.last_updated_timestamp,
                version.description,
                version.user_id,
                version.current_stage,
                version.source,
                version.run_id,
                version.status,
                version.status_message,
                version.run_link,
                version.storage_location,
            )
            self._insert(cur, "model_versions", VERSION_COLUMNS, [row])
            self._insert(
                cur,
                "model_version_tags",
                ("key", "value", "name", "version"),
                [(k, v, version.name, number) for k, v in sorted(version.tags.items())],
            )

        self._db.write(insert)
