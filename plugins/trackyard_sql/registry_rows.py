"""Reading the registry in one query: a page of models or versions with everything they carry.

A page of versions (or models) is a ``WITH page AS (...)`` query whose ``UNION ALL`` branches
bring the page's tags, aliases and (for models) latest version per stage, so a read costs one
round trip whatever the page size. Every row is ``(kind, 0, name, version, n1, n2, s1, ...,
s9)``: numbers in ``n*``, strings in ``s*``. ``UNION ALL`` keeps no order, so a page is put
back in order in Python with the reference sort of :mod:`trackyard.search`, which orders
exactly as the SQL does (numbers numerically, strings by code point, NULLs last; every order
ends with a unique key).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from trackyard.entities.model_registry import (
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Stage,
)
from trackyard.search import OrderKey
from trackyard_sql.dialect import Dialect

__all__ = ["VERSION_COLUMNS", "RegistryReader"]

T = TypeVar("T")

#: model_versions columns read into a ModelVersion, in this order.
VERSION_COLUMNS = (
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
_DELETED = Stage.DELETED_INTERNAL
_K_MODEL, _K_MODEL_TAG, _K_ALIAS, _K_VERSION, _K_VERSION_TAG = range(5)
_NULLS = {n: ", ".join(["NULL"] * n) for n in range(1, 10)}


class RegistryReader:
    """Builds the one-query reads of a registry database and decodes their rows.

    Args:
        dialect: the database's dialect.
        workspace: MLflow's workspace of the rows, or None when the tables have no
            ``workspace`` column.
    """

    def __init__(self, dialect: Dialect, workspace: str | None) -> None:
        self._d = dialect
        self._ws = workspace
        self._wsp: tuple[Any, ...] = (workspace,) if workspace is not None else ()
        # A NULL typed as a number: PostgreSQL types an untyped NULL in UNION ALL as text.
        self._null_int = "CAST(NULL AS SIGNED)" if dialect.is_mysql else "CAST(NULL AS BIGINT)"
        self._materialized = ""
        if (dialect.is_sqlite and sqlite3.sqlite_version_info >= (3, 35)) or dialect.is_postgres:
            self._materialized = " MATERIALIZED"

    def _cte(self, page_sql: str) -> str:
        return f"WITH page AS{self._materialized} ({page_sql})"

    def _version_branches(self, source: str, *, aliases: bool = True) -> str:
        """Branches selecting versions and their tags (and aliases) from CTE ``source``."""
        n = self._null_int
        v = ", ".join(f"p.{c}" for c in VERSION_COLUMNS[2:])
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

    def versions_query(
        self,
        where: str,
        params: Sequence[Any],
        order: str,
        paging: str,
        paging_params: Sequence[Any],
    ) -> tuple[str, list[Any]]:
        """The query of a page of versions (table alias ``mv``) with their tags and aliases.

        Args:
            where: the condition on ``mv``; params: its parameters.
            order: the ORDER BY terms of the page.
            paging: the LIMIT/OFFSET clause (empty for all); paging_params: its parameters.
        """
        cols = ", ".join(f"mv.{c}" for c in VERSION_COLUMNS)
        page = (
            f"SELECT {cols}{self._ws_column('mv')} "
            f"FROM model_versions mv WHERE {where} ORDER BY {order} {paging}"
        )
        sql = f"{self._cte(page)} {self._version_branches('page')}"
        return self._d.sql(sql), [*params, *paging_params]

    def models_query(
        self,
        where: str,
        params: Sequence[Any],
        order: str,
        paging: str,
        paging_params: Sequence[Any],
    ) -> tuple[str, list[Any]]:
        """The query of a page of models (alias ``rm``): tags, aliases, latest versions.

        Arguments as for :meth:`versions_query`.
        """
        n = self._null_int
        ws = self._ws is not None
        page = (
            "SELECT rm.name, rm.creation_time, rm.last_updated_time, rm.description"
            f"{self._ws_column('rm')} "
            f"FROM registered_models rm WHERE {where} ORDER BY {order} {paging}"
        )
        vcols = ", ".join(f"v.{c}" for c in VERSION_COLUMNS)
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
    def decode_versions(
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
    def decode_models(
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
        for mv in RegistryReader.decode_versions(version_rows):
            model = models[mv.name]
            mv.aliases = sorted(a for a, v in model.aliases.items() if v == mv.version)
            model.latest_versions.append(mv)  # in version order
        found = list(models.values())
        if order:
            return _sort_page(found, order, _MODEL_SORT_KEYS)
        found.sort(key=lambda m: m.name)
        return found


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
