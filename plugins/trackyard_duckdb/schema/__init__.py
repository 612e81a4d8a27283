"""The DuckDB store's own columnar schema, one module per entity family.

Each family module (:mod:`.tracking`, with logged models since its version 2, :mod:`.registry`,
:mod:`.traces`) declares ``NAME``, ``VERSION`` and ``MIGRATIONS``: the statements that bring the
family from version ``n - 1`` to ``n`` (version 1 creates it). The table
``trackyard_schema(family, version)`` records what a database holds.

Opening a database (:func:`ensure_schema`):

- an empty database gets every family at its current version;
- a family recorded at an older version is migrated up, in one transaction;
- a family recorded at a *newer* version, or a family this trackyard does not know, is
  refused with the versions named: a database is never migrated down, and never written by
  code that does not know all of its tables;
- a database with tables but no ``trackyard_schema`` table is someone else's: refused.

A read-only open (:func:`check_schema`, for :func:`trackyard.stores.read_only_opens`) writes
nothing: it refuses what :func:`ensure_schema` refuses, reports an empty database as absent,
and notes the migrations a normal open would run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_duckdb.schema import registry, traces, tracking

if TYPE_CHECKING:
    from trackyard.stores import ReadOnlyOpen

__all__ = ["FAMILIES", "SCHEMA_TABLE", "check_schema", "ensure_schema", "family_versions"]

#: The table that records which families a database holds, at which version.
SCHEMA_TABLE = "trackyard_schema"

#: Every family this trackyard knows, in creation order.
FAMILIES: tuple[ModuleType, ...] = (tracking, registry, traces)


def family_versions() -> dict[str, int]:
    """The current version of every known family."""
    return {f.NAME: f.VERSION for f in FAMILIES}


def _recorded(cur: Any) -> dict[str, int] | None:
    """The families a database records, or None when it has no schema table."""
    cur.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = ?",
        [SCHEMA_TABLE],
    )
    if cur.fetchone()[0] == 0:
        return None
    cur.execute(f"SELECT family, version FROM {SCHEMA_TABLE}")
    return {str(name): int(version) for name, version in cur.fetchall()}


def _user_tables(cur: Any) -> list[str]:
    cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "ORDER BY table_name"
    )
    return [row[0] for row in cur.fetchall()]


def _check_known(where: str, recorded: Mapping[str, int]) -> None:
    known = family_versions()
    newer = {
        name: version
        for name, version in recorded.items()
        if name not in known or version > known[name]
    }
    if not newer:
        return
    from trackyard import __version__

    found = ", ".join(f"{name} v{version}" for name, version in sorted(newer.items()))
    have = ", ".join(f"{name} v{version}" for name, version in sorted(known.items()))
    raise TrackyardError(
        f"The DuckDB database {where} was written by a newer trackyard: it holds {found}, "
        f"and this trackyard ({__version__}) knows {have}. Upgrade trackyard to open it; "
        "databases are never migrated down.",
        ErrorCode.INVALID_STATE,
    )


def _migrations(family: ModuleType, start: int) -> Sequence[str]:
    statements: list[str] = []
    for version in range(start + 1, family.VERSION + 1):
        statements.extend(family.MIGRATIONS[version])
    return statements


def ensure_schema(cur: Any, where: str) -> None:
    """Create or migrate the schema through ``cur``, or refuse the database.

    Args:
        cur: a DuckDB connection or cursor (not inside a transaction).
        where: how to name the database in errors (a path or ``:memory:``).

    Raises:
        TrackyardError: INVALID_STATE for a database of a newer trackyard;
            INVALID_PARAMETER_VALUE for a DuckDB database that is not a trackyard store.
    """
    recorded = _recorded(cur)
    if recorded is None:
        tables = _user_tables(cur)
        if tables:
            shown = ", ".join(tables[:5]) + (" ..." if len(tables) > 5 else "")
            raise TrackyardError(
                f"The DuckDB database {where} is not a trackyard store: it has tables "
                f"({shown}) but no {SCHEMA_TABLE} table. Point the URI at a new file, or at "
                "a database that trackyard created.",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
    else:
        _check_known(where, recorded)
        if all(recorded.get(f.NAME) == f.VERSION for f in FAMILIES):
            return
    cur.execute("BEGIN TRANSACTION")
    try:
        recorded = _recorded(cur)  # again, inside the transaction
        if recorded is None:
            cur.execute(
                f"CREATE TABLE {SCHEMA_TABLE} (family VARCHAR NOT NULL, version INTEGER NOT NULL)"
            )
            recorded = {}
        _check_known(where, recorded)
        for family in FAMILIES:
            start = recorded.get(family.NAME, 0)
            if start == family.VERSION:
                continue
            for statement in _migrations(family, start):
                cur.execute(statement)
            cur.execute(f"DELETE FROM {SCHEMA_TABLE} WHERE family = ?", [family.NAME])
            cur.execute(
                f"INSERT INTO {SCHEMA_TABLE} (family, version) VALUES (?, ?)",
                [family.NAME, family.VERSION],
            )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


def check_schema(cur: Any, where: str, request: ReadOnlyOpen) -> None:
    """What :func:`ensure_schema` would do, without doing it (a read-only open).

    Refuses what :func:`ensure_schema` refuses; raises the request's
    :meth:`~trackyard.stores.ReadOnlyOpen.absent` error for a database without tables, and
    notes on ``request`` the families a normal open would create or migrate.
    """
    recorded = _recorded(cur)
    if recorded is None:
        tables = _user_tables(cur)
        if tables:
            ensure_schema(cur, where)  # raises: someone else's database
        raise request.absent(
            f"the DuckDB database {where} has no trackyard schema yet; a normal open creates it"
        )
    _check_known(where, recorded)
    pending = [
        f"{f.NAME} v{recorded[f.NAME]} -> v{f.VERSION}"
        if f.NAME in recorded
        else f"{f.NAME} (new, v{f.VERSION})"
        for f in FAMILIES
        if recorded.get(f.NAME) != f.VERSION
    ]
    if pending:
        request.note(
            f"the schema of {where} is behind this trackyard ({', '.join(pending)}); a normal "
            "open migrates it"
        )
