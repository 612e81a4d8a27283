"""A compact, DDL-like notation for tables, turned into SQLAlchemy Core tables per dialect.

Each table is a name and a list of lines, one per column or constraint::

    table(
        "experiments",
        "experiment_id INTEGER NOT NULL AUTOINCREMENT",
        "name VARCHAR(256) NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY experiment_pk (experiment_id)",
        "UNIQUE uq_experiments_workspace_name (workspace, name)",
        "INDEX idx_experiments_workspace (workspace)",
        "mysql: INDEX name (name)",
    )

Lines:

- a column: ``name TYPE [NOT NULL] [DEFAULT value] [AUTOINCREMENT | IDENTITY]
  [AS (expression) STORED]``. Types: ``INTEGER``, ``BIGINT``, ``VARCHAR(n)``, ``TEXT``,
  ``MEDIUMTEXT`` / ``LONGTEXT`` (``TEXT`` except on MySQL), ``BOOLEAN``, ``FLOAT`` (single
  precision on MySQL), ``DOUBLE`` (``FLOAT`` on SQLite, double precision elsewhere), ``DATE``,
  ``JSON``, ``BLOB``. A quoted default is a string (``DEFAULT '0'``); a bare one is SQL
  (``DEFAULT 0``, which is ``false`` for a ``BOOLEAN``). ``IDENTITY`` is an identity column
  (``INTEGER`` on SQLite).
- ``PRIMARY KEY [name] (columns)``, ``UNIQUE [name] (columns)``, ``CHECK [name] (expression)``,
  ``FOREIGN KEY [name] (columns) REFERENCES table (columns) [ON DELETE action]
  [ON UPDATE action]``.
- ``[UNIQUE] INDEX name (columns) [INCLUDE (columns)] [WHERE expression]``; a column may
  carry a prefix length, ``model_name(64)`` (MySQL).

A line may start with the dialects it is for (``mysql: ...``, ``sqlite, mysql: ...``). Such a
line replaces the column or index of the same name on those dialects, or adds to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = ["DIALECTS", "TableSpec", "add_table", "table"]

#: The dialect names a line may be restricted to (MariaDB is ``mysql``).
DIALECTS = ("sqlite", "postgresql", "mysql")

_PREFIX = re.compile(r"^((?:sqlite|postgresql|mysql)(?:\s*,\s*(?:sqlite|postgresql|mysql))*):\s*")
_NAMED = r"(?:(?P<name>\w+)\s+)?\((?P<cols>[^)]*)\)"
_FK = re.compile(
    r"^FOREIGN KEY " + _NAMED + r"\s+REFERENCES (?P<table>\w+) \((?P<ref>[^)]*)\)"
    r"(?: ON DELETE (?P<delete>SET NULL|CASCADE|RESTRICT))?"
    r"(?: ON UPDATE (?P<update>CASCADE|SET NULL|RESTRICT))?$"
)
_INDEX = re.compile(
    r"^(?P<unique>UNIQUE )?INDEX (?P<name>\w+) \((?P<cols>(?:[^()]|\(\d+\))*)\)"
    r"(?: INCLUDE \((?P<include>[^)]*)\))?(?: WHERE (?P<where>.+))?$"
)
_COLUMN = re.compile(
    r"^(?P<name>\w+) (?P<type>[A-Z]+(?:\(\d+\))?)(?P<notnull> NOT NULL)?"
    r"(?: DEFAULT (?P<default>'[^']*'|[\w.-]+))?(?P<auto> AUTOINCREMENT| IDENTITY)?"
    r"(?: AS \((?P<computed>.+)\) STORED)?$"
)
_MYSQL = ("mysql", "mariadb")


def _text(variant: Any) -> Callable[[], sa.types.TypeEngine[Any]]:
    return lambda: sa.Text().with_variant(variant(), *_MYSQL)


_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "INTEGER": sa.Integer,
    "BIGINT": sa.BigInteger,
    "TEXT": sa.Text,
    "MEDIUMTEXT": _text(mysql.MEDIUMTEXT),
    "LONGTEXT": _text(mysql.LONGTEXT),
    "BOOLEAN": sa.Boolean,
    "FLOAT": sa.Float,
    "DOUBLE": lambda: sa.Float(precision=53),
    "DATE": sa.Date,
    "JSON": sa.JSON,
    "BLOB": sa.LargeBinary,
}


@dataclass(frozen=True)
class TableSpec:
    """One table in the notation above: its name and its lines."""

    name: str
    lines: tuple[str, ...]

    def columns(self) -> list[str]:
        """The names of the table's columns (on every dialect), in order."""
        return [m.group("name") for m in map(_COLUMN.match, self._lines_for(None)) if m]

    def _lines_for(self, dialect: str | None) -> list[str]:
        """The lines that apply to ``dialect`` (None: the generic lines), overrides applied."""
        chosen: list[str] = []
        keys: dict[str, int] = {}
        for raw in self.lines:
            line = raw
            prefix = _PREFIX.match(raw)
            if prefix:
                wanted = {d.strip() for d in prefix.group(1).split(",")}
                if dialect not in wanted:
                    continue
                line = raw[prefix.end() :]
            key = _identity(line)
            if prefix and key is not None and key in keys:
                chosen[keys[key]] = line
                continue
            if key is not None:
                keys[key] = len(chosen)
            chosen.append(line)
        return chosen


def table(name: str, *lines: str) -> TableSpec:
    """A table in the notation of this module (checked when it is first built)."""
    return TableSpec(name, lines)


def _identity(line: str) -> str | None:
    column = _COLUMN.match(line)
    if column:
        return "column:" + column.group("name")
    index = _INDEX.match(line)
    if index:
        return "index:" + index.group("name")
    return None


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _column(m: re.Match[str]) -> sa.Column[Any]:
    type_name = m.group("type")
    if type_name.startswith("VARCHAR("):
        kind: sa.types.TypeEngine[Any] = sa.String(int(type_name[8:-1]))
    else:
        kind = _TYPES[type_name]()
    args: list[Any] = []
    auto = (m.group("auto") or "").strip()
    if auto == "IDENTITY":
        kind = kind.with_variant(sa.Integer(), "sqlite")
        args.append(sa.Identity())
    if m.group("computed"):
        args.append(sa.Computed(m.group("computed"), persisted=True))
    default: Any = None
    raw = m.group("default")
    if raw is not None:
        if raw.startswith("'"):
            default = raw[1:-1]
        elif type_name == "BOOLEAN":
            default = sa.false() if raw in ("0", "false") else sa.true()
        else:
            default = sa.text(raw)
    return sa.Column(
        m.group("name"),
        kind,
        *args,
        nullable=not m.group("notnull"),
        server_default=default,
        autoincrement=bool(auto),
    )


def _constraint_or_index(line: str, table_name: str) -> Any:
    m = re.match(r"^PRIMARY KEY " + _NAMED + "$", line)
    if m:
        return sa.PrimaryKeyConstraint(*_names(m.group("cols")), name=m.group("name"))
    m = re.match(r"^UNIQUE " + _NAMED + "$", line)
    if m:
        return sa.UniqueConstraint(*_names(m.group("cols")), name=m.group("name"))
    m = re.match(r"^CHECK (?:(?P<name>\w+) )?\((?P<sql>.+)\)$", line)
    if m:
        return sa.CheckConstraint(m.group("sql"), name=m.group("name"))
    m = _FK.match(line)
    if m:
        target = m.group("table")
        return sa.ForeignKeyConstraint(
            _names(m.group("cols")),
            [f"{target}.{c}" for c in _names(m.group("ref"))],
            name=m.group("name"),
            ondelete=m.group("delete"),
            onupdate=m.group("update"),
        )
    m = _INDEX.match(line)
    if m:
        columns: list[str] = []
        lengths: dict[str, int] = {}
        for item in _names(m.group("cols")):
            length = re.match(r"^(\w+)\((\d+)\)$", item)
            if length:
                lengths[length.group(1)] = int(length.group(2))
                item = length.group(1)
            columns.append(item)
        kwargs: dict[str, Any] = {}
        if lengths:
            kwargs["mysql_length"] = lengths
        if m.group("include"):
            kwargs["postgresql_include"] = _names(m.group("include"))
        if m.group("where"):
            kwargs["postgresql_where"] = sa.text(m.group("where"))
        return sa.Index(m.group("name"), *columns, unique=bool(m.group("unique")), **kwargs)
    raise ValueError(f"table {table_name}: cannot read the line {line!r}")


def add_table(md: sa.MetaData, spec: TableSpec, dialect: str, **table_kwargs: Any) -> sa.Table:
    """Add ``spec`` as it is on ``dialect`` (``sqlite``, ``postgresql`` or ``mysql``) to ``md``."""
    if dialect not in DIALECTS:
        dialect = "sqlite"  # the portable definition
    items: list[Any] = []
    for line in spec._lines_for(dialect):
        column = _COLUMN.match(line)
        items.append(_column(column) if column else _constraint_or_index(line, spec.name))
    return sa.Table(spec.name, md, *items, **table_kwargs)


def specs_by_name(specs: Sequence[TableSpec]) -> dict[str, TableSpec]:
    """Index ``specs`` by table name, refusing duplicates."""
    found: dict[str, TableSpec] = {}
    for spec in specs:
        if spec.name in found:
            raise ValueError(f"table {spec.name} is defined twice")
        found[spec.name] = spec
    return found
