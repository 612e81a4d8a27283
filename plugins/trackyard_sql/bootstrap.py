"""Opening a database: create MLflow's head schema, upgrade old trackyard ones, learn the layout.

What :func:`prepare` does depends on what it finds (``sqlalchemy.inspect`` tells it):

- **No MLflow table** (a fresh database, or one holding only other applications' tables):
  create MLflow 3.17.2's head schema (:mod:`trackyard_sql.schema`), MLflow's ``default``
  workspace row, and ``alembic_version`` at :data:`~trackyard_sql.schema.HEAD_REVISION`, in
  one transaction where the database allows DDL in transactions. MLflow then opens the
  database as one of its own, with no migration.
- **``alembic_version``** (a database MLflow created, or trackyard at head): used as it is,
  never altered. Stores check that the columns they need are there.
- **``trackyard_schema`` and no ``alembic_version``** (made by trackyard before it created
  MLflow's head schema: only the tracking and registry tables, which already had MLflow's
  layout): upgraded in place. The missing head tables are created, the head revision is
  recorded, and ``trackyard_schema`` is dropped. Data is untouched. A ``trackyard_schema``
  from a *newer* trackyard is refused.
- **Some MLflow tables exactly as at head, no bookkeeping table** (a creation interrupted on
  MySQL, whose DDL cannot be rolled back): completed the same way. Anything else is used as
  it is.

In every case trackyard then adds its own search indexes where they are missing
(:mod:`trackyard_sql.indexes`; MLflow's tables and ``alembic_version`` stay as they are).

A read-only open (:func:`trackyard.stores.read_only_opens`) does none of this: it notes on
the request what a normal open would create, upgrade or index, and a database with no MLflow
table at all is reported absent (:meth:`~trackyard.stores.ReadOnlyOpen.absent`).

Creation runs under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL,
``GET_LOCK`` on MySQL) and looks again once it holds it, so concurrent first opens create the
schema once.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_sql import schema
from trackyard_sql.indexes import INDEXED_TABLES, ensure_indexes, missing_indexes

if TYPE_CHECKING:
    from trackyard.stores import ReadOnlyOpen
    from trackyard_sql.database import Database

__all__ = ["LEGACY_SCHEMA_VERSION", "Layout", "prepare", "require_columns"]

#: The last ``trackyard_schema`` version (per part) that trackyard wrote, before it created
#: MLflow's head schema; newer ones came from a newer trackyard.
LEGACY_SCHEMA_VERSION = 1
_LEGACY_TABLE = "trackyard_schema"
_LOCK_ID = zlib.crc32(b"trackyard_sql.bootstrap")
_MYSQL_TEXT_OCTETS = {"TINYTEXT": 255, "TEXT": 65535, "MEDIUMTEXT": 16777215}
# Tables whose layout stores look at: what they read and write.
_INSPECTED = (
    *schema.TRACKING_TABLES,
    *schema.TRACE_TABLES,
    *schema.REGISTRY_TABLES,
    *sorted(INDEXED_TABLES),
)

# Compiled CREATE statements per (dialect, server version, collation): compiling the 65
# tables takes about 0.1 s, so it is done once per process.
_ddl_cache: dict[tuple[Any, ...], list[tuple[str, list[str]]]] = {}


@dataclass
class Layout:
    """What the tables of an open database look like.

    Attributes:
        tables: every table name in the database (schema).
        columns: the columns of the tables stores use, by table.
        chars: the width in characters of string columns, by (table, column).
        octets: MySQL only: the width in bytes of ``TEXT`` columns, by (table, column).
        indexes: index names of the tables stores use, by table.
        revision: the alembic revision recorded in the database, if any.
    """

    tables: frozenset[str] = frozenset()
    columns: dict[str, frozenset[str]] = field(default_factory=dict)
    chars: dict[tuple[str, str], int] = field(default_factory=dict)
    octets: dict[tuple[str, str], int] = field(default_factory=dict)
    indexes: dict[str, frozenset[str]] = field(default_factory=dict)
    revision: str | None = None

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether ``table`` (and its ``column``) exists."""
        if column is None:
            return table in self.tables
        return column in self.columns.get(table, ())

    def missing(self, required: Mapping[str, Iterable[str]]) -> list[str]:
        """``table.column`` for every required column the database lacks."""
        return [
            f"{table}.{column}"
            for table, columns in required.items()
            for column in sorted(set(columns) - self.columns.get(table, frozenset()))
        ]


def require_columns(db: Database, required: Mapping[str, Iterable[str]], store: str) -> None:
    """Refuse a database that lacks columns ``store`` needs (INVALID_STATE, saying why)."""
    missing = db.layout.missing(required)
    if not missing:
        return
    hint = (
        " It looks like an MLflow database at an old schema version: upgrade it with "
        "`mlflow db upgrade <uri>`."
        if db.layout.revision is not None
        else ""
    )
    raise TrackyardError(
        f"The database {db.masked_uri!r} lacks tables or columns the {store} needs: "
        f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}.{hint}",
        ErrorCode.INVALID_STATE,
    )


def prepare(db: Database, read_only: ReadOnlyOpen | None = None) -> Layout:
    """Create or upgrade the schema of ``db`` as the module docstring says; return its layout.

    With ``read_only`` (the request of :func:`trackyard.stores.read_only_opens`), write
    nothing: what a normal open would do is added to its notes, and a database without any
    MLflow table raises its :meth:`~trackyard.stores.ReadOnlyOpen.absent` error.
    """
    notes: list[str] = []

    def attempt() -> Layout:
        db.check_fork()
        notes.clear()
        with db.engine.connect() as conn:
            try:
                plan = _plan(conn)
                if plan != "use" and read_only is not None:
                    notes.extend(_would_create(conn, db, read_only))
            finally:
                conn.rollback()
        if plan != "use" and read_only is None:
            _create(db)
        layout = _layout(db)
        if read_only is None:
            ensure_indexes(db, layout)
        else:
            missing = [i.name for i in missing_indexes(db.engine.dialect.name, layout)]
            if missing:
                notes.append(
                    f"{len(missing)} trackyard index{'es' if len(missing) > 1 else ''} "
                    f"missing ({', '.join(missing)}); a normal open creates "
                    f"{'them' if len(missing) > 1 else 'it'}"
                )
        return layout

    layout = db.retrying(attempt, reads=True)
    if read_only is not None:
        for note in notes:
            read_only.note(note)
    return layout


def _would_create(conn: sa.Connection, db: Database, request: ReadOnlyOpen) -> list[str]:
    """What :func:`_create` would do to the database ``conn`` is on (a read-only open)."""
    names = set(sa.inspect(conn).get_table_names())
    if _LEGACY_TABLE in names:
        return [
            f"the database has an older trackyard's schema ({_LEGACY_TABLE}); a normal open "
            "upgrades it in place to MLflow's head schema"
        ]
    present = names & schema.HEAD_TABLES
    if not present:
        raise request.absent(
            f"the database {db.masked_uri!r} has no MLflow tables; a normal open creates "
            "MLflow's schema in it"
        )
    missing = len(schema.HEAD_TABLES - present)
    return [
        f"{missing} of MLflow's head tables missing (an interrupted creation); a normal open "
        "creates them"
    ]


# -- deciding ---------------------------------------------------------------------------------


def _plan(conn: sa.Connection) -> str:
    """``"use"`` the tables as they are, or ``"create"`` the missing head tables."""
    inspector = sa.inspect(conn)
    names = set(inspector.get_table_names())
    if "alembic_version" in names:
        return "use"
    if _LEGACY_TABLE in names:
        _refuse_newer(conn)
        return "create"
    present = names & schema.HEAD_TABLES
    if not present:
        return "create"
    for table in present:  # an interrupted creation left these exactly as at head?
        found = [c["name"] for c in inspector.get_columns(table)]
        if found != schema.SPECS[table].columns():
            return "use"
    return "create"


def _refuse_newer(conn: sa.Connection) -> None:
    rows = conn.exec_driver_sql(f"SELECT name, version FROM {_LEGACY_TABLE}").fetchall()
    for name, version in rows:
        if version is not None and int(version) > LEGACY_SCHEMA_VERSION:
            url = conn.engine.url.render_as_string(hide_password=True)
            raise TrackyardError(
                f"The database {url!r} was created by a newer trackyard ({name} schema "
                f"version {version}; this one knows up to {LEGACY_SCHEMA_VERSION}). "
                "Upgrade trackyard.",
                ErrorCode.INVALID_STATE,
            )


# -- creating ---------------------------------------------------------------------------------


def _create(db: Database) -> None:
    """Create the missing head tables under the bootstrap lock, in one transaction if possible."""
    d = db.dialect
    with db.engine.connect() as conn:
        try:
            if d.is_sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif d.is_postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
            elif d.is_mysql:
                conn.exec_driver_sql("SELECT GET_LOCK('trackyard_sql_bootstrap', 60)")
            try:
                if _plan(conn) == "use":  # someone else was faster, or it is not ours to touch
                    conn.rollback()
                    return
                existing = set(sa.inspect(conn).get_table_names())
                collate = _mysql_collation(conn) if d.is_mysql else None
                cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    for name, statements in _statements(conn, collate):
                        if name not in existing:
                            for sql in statements:
                                cur.execute(sql)
                finally:
                    cur.close()
                _fill(conn, existing)
                if _LEGACY_TABLE in existing:
                    conn.exec_driver_sql(f"DROP TABLE {_LEGACY_TABLE}")
                conn.commit()
            finally:
                if d.is_mysql:
                    conn.exec_driver_sql("SELECT RELEASE_LOCK('trackyard_sql_bootstrap')")
                    conn.rollback()  # end the transaction RELEASE_LOCK began
        except BaseException:
            conn.rollback()
            raise


def _fill(conn: sa.Connection, existing: set[str]) -> None:
    """The rows of MLflow's head schema: the default workspace and the alembic revision."""
    workspaces = sa.table("workspaces", sa.column("name"), sa.column("description"))
    row = conn.execute(
        sa.select(workspaces.c.name).where(workspaces.c.name == schema.WORKSPACE_DEFAULT)
    ).first()
    if row is None:
        conn.execute(sa.insert(workspaces).values(**schema.WORKSPACE_ROW))
    alembic = sa.table("alembic_version", sa.column("version_num"))
    if "alembic_version" in existing:
        conn.execute(sa.delete(alembic))
    conn.execute(sa.insert(alembic).values(version_num=schema.HEAD_REVISION))


def _statements(conn: sa.Connection, collate: str | None) -> list[tuple[str, list[str]]]:
    """``CREATE TABLE`` / ``CREATE INDEX`` statements per table, parents first (cached)."""
    dialect = conn.dialect
    key = (dialect.name, dialect.server_version_info, collate)
    found = _ddl_cache.get(key)
    if found is None:
        md = schema.build_metadata(dialect.name, mysql_collate=collate)
        found = []
        for table in md.sorted_tables:
            statements = [str(sa.schema.CreateTable(table).compile(dialect=dialect))]
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                statements.append(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))
            found.append((table.name, statements))
        _ddl_cache[key] = found
    return found


def _mysql_collation(conn: sa.Connection) -> str:
    """A binary collation: keys that differ only in case or trailing spaces stay distinct."""
    version = str(conn.exec_driver_sql("SELECT VERSION()").scalar())
    if "mariadb" in version.lower():
        return "utf8mb4_nopad_bin"
    major = re.match(r"\d+", version)
    return "utf8mb4_0900_bin" if major and int(major.group(0)) >= 8 else "utf8mb4_bin"


# -- learning the layout --------------------------------------------------------------------


def _layout(db: Database) -> Layout:
    mysql = db.dialect.is_mysql
    layout = Layout()
    with db.engine.connect() as conn:
        try:
            inspector = sa.inspect(conn)
            tables = frozenset(inspector.get_table_names())
            wanted = [t for t in _INSPECTED if t in tables]
            layout.tables = tables
            for (_, table), columns in inspector.get_multi_columns(filter_names=wanted).items():
                names = set()
                for column in columns:
                    name = str(column["name"])
                    names.add(name)
                    kind = column["type"]
                    length = getattr(kind, "length", None)
                    if isinstance(kind, sa.String) and length:
                        layout.chars[(table, name)] = int(length)
                    elif mysql and type(kind).__name__.upper() in _MYSQL_TEXT_OCTETS:
                        layout.octets[(table, name)] = _MYSQL_TEXT_OCTETS[
                            type(kind).__name__.upper()
                        ]
                layout.columns[table] = frozenset(names)
            for table in sorted({"metrics", *INDEXED_TABLES} & tables):
                layout.indexes[table] = frozenset(
                    str(i["name"]) for i in inspector.get_indexes(table)
                )
            if "alembic_version" in tables:
                layout.revision = conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalar()
        finally:
            conn.rollback()
    return layout
