"""Writing to runs: params, tags, metric points and latest metrics, fast on every dialect.

A :class:`RunWriter` holds the statements of one database and the steps of a write, all run
inside one transaction of the caller:

- **metric points** are inserted skipping exact duplicates (MLflow's ``metrics`` primary key
  covers every column): SQLite sends multi-row ``INSERT ... ON CONFLICT DO NOTHING`` of 100
  rows, PostgreSQL one ``INSERT ... SELECT FROM unnest(arrays)`` per batch, MySQL an
  ``executemany`` that PyMySQL turns into multi-row statements;
- **latest metrics** follow MLflow's rule: a point replaces the stored one when ``(step,
  timestamp, value)`` is strictly greater, NaN counting as 0 (one upsert per key);
- **params** may not change value; **tags** are overwritten;
- on PostgreSQL and MySQL a write first locks its run row, and rows are touched in sorted key
  order, so concurrent writers queue instead of deadlocking.

Dialects without upsert syntax (MSSQL, untested) get portable select-then-write statements.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import not_active as _not_active
from trackyard.errors import run_not_found as _run_not_found
from trackyard_sql.database import chunks

if TYPE_CHECKING:
    from trackyard_sql.database import Database

__all__ = ["METRIC_COLUMNS", "RunWriter", "pg_array_literals"]

#: The columns of a metric row, in the order :meth:`RunWriter.insert_metrics` takes them.
METRIC_COLUMNS = ("key", "value", "timestamp", "run_uuid", "step", "is_nan")


def _rows_per_statement() -> int:
    """Rows per multi-row ``INSERT`` on SQLite (six parameters a row).

    SQLite takes 32,766 bound parameters in a statement from version 3.32 on, 999 before.
    A thousand rows a statement made a full-size copy into SQLite 18% faster than a hundred
    (fewer statements, each a release and re-take of the GIL); older SQLite gets 150.
    """
    import sqlite3

    return 1_000 if sqlite3.sqlite_version_info >= (3, 32, 0) else 150


_ROWS_PER_STATEMENT = _rows_per_statement()  # one multi-row INSERT per so many points
_IN_CHUNK = 500


def _pg_text(value: Any) -> str:
    if value is None:
        return "NULL"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pg_float(value: Any) -> str:
    # Stored metric values are finite (db_metric_value maps NaN and infinities).
    return "NULL" if value is None else repr(float(value))


def _pg_int(value: Any) -> str:
    return "NULL" if value is None else str(int(value))


def _pg_bool(value: Any) -> str:
    return "NULL" if value is None else ("t" if value else "f")


_PG_ELEMENT = {"text": _pg_text, "float": _pg_float, "int": _pg_int, "bool": _pg_bool}
#: Column kinds of a metric row (:data:`METRIC_COLUMNS`) and of a latest-metric row.
_METRIC_KINDS = ("text", "float", "int", "text", "int", "bool")
_LATEST_KINDS = ("text", "float", "int", "int", "bool", "text")


def pg_array_literals(rows: list[tuple[Any, ...]], kinds: tuple[str, ...]) -> list[str]:
    """The columns of ``rows`` as PostgreSQL array literals (``{"a","b"}``), one per column.

    Sent as text and cast by the statement (``%s::text[]``), they cost the client a
    quarter of what psycopg's list adaptation does (element by element, in Python), the
    largest server-side cost of a 500-point ``log_batch`` after request parsing. Text
    elements are always quoted (so ``NULL`` is a string) with ``\\`` and ``"`` escaped.
    """
    columns = zip(*rows, strict=True) if rows else ([] for _ in kinds)
    return [
        "{" + ",".join(map(_PG_ELEMENT[kind], column)) + "}"
        for kind, column in zip(kinds, columns, strict=True)
    ]


class RunWriter:
    """The statements and steps of writes to runs, for one database.

    Args:
        db: the database; :meth:`prepare` builds its statements again after its dialect
            changed (tests switch to the portable statements).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self.prepare()

    def prepare(self) -> None:
        """Build the statements for the database's dialect."""
        d = self._db.dialect
        s = d.sql
        run_eq = d.key_equals("run_uuid")  # exact even under MySQL's case-insensitive collation
        lock = " FOR NO KEY UPDATE" if d.is_postgres else (" FOR UPDATE" if d.is_mysql else "")
        self._sql_run_stage_for_write = s(f"SELECT lifecycle_stage FROM runs WHERE {run_eq}{lock}")
        self._sql_insert_metric = d.insert_ignore("metrics", METRIC_COLUMNS)
        self._multirow_metric_sql: dict[int, str] = {}
        self._sql_insert_metric_arrays = d.insert_metrics_from_arrays()
        self._sql_plain_insert_metric = s(
            'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        self._sql_upsert_latest = d.upsert_latest_metric()
        self._multirow_latest_sql: dict[int, str] = {}
        self._sql_upsert_latest_arrays = d.upsert_latest_from_arrays()
        self.sql_upsert_tag = d.upsert("tags", ("key", "value", "run_uuid"), ("key", "run_uuid"))
        self.sql_upsert_experiment_tag = d.upsert(
            "experiment_tags", ("key", "value", "experiment_id"), ("key", "experiment_id")
        )
        self._sql_insert_param = s('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)')

    def lock_active_run(self, cur: Any, run_id: str) -> None:
        """Lock the run row (PostgreSQL/MySQL) and check that the run is active."""
        cur.execute(self._sql_run_stage_for_write, self._db.dialect.key_params(run_id))
        row = cur.fetchone()
        if row is None:
            raise _run_not_found(run_id)
        if row[0] != LifecycleStage.ACTIVE:
            raise _not_active("run", run_id, row[0])

    def write_params(self, cur: Any, run_id: str, rows: list[tuple[str, str, str]]) -> None:
        """Insert ``(key, value, run_id)`` rows; a known key must keep its value."""
        d = self._db.dialect
        keys = [k for k, _, _ in rows]
        existing: dict[str, str] = {}
        for chunk in chunks(keys, _IN_CHUNK):
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

    def insert_metrics(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert metric rows (:data:`METRIC_COLUMNS`), skipping rows already stored."""
        d = self._db.dialect
        arrays_sql = self._sql_insert_metric_arrays
        if arrays_sql is not None:
            cur.execute(arrays_sql, pg_array_literals(rows, _METRIC_KINDS))
            return
        if d.multirow_insert:
            step = _ROWS_PER_STATEMENT
            for start in range(0, len(rows), step):
                part = rows[start : start + step]
                sql = self._multirow_metric_sql.get(len(part))
                if sql is None:
                    sql = d.insert_ignore("metrics", METRIC_COLUMNS, len(part))
                    self._multirow_metric_sql[len(part)] = sql  # type: ignore[assignment]
                cur.execute(sql, list(chain.from_iterable(part)))
            return
        sql = self._sql_insert_metric
        if sql is not None:
            cur.executemany(sql, rows)
            return
        # Portable path: skip rows already stored (they are identical, the key is every column).
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

    def update_latest(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Apply ``(key, value, timestamp, step, is_nan, run_id)`` rows to ``latest_metrics``.

        The keys of ``rows`` must differ. Few statements per batch: each statement is a
        round trip to the database, and on SQLite a release and re-take of the GIL, which
        under load (other busy threads) costs far more than the statement itself.
        """
        arrays_sql = self._sql_upsert_latest_arrays
        if arrays_sql is not None:
            cur.execute(arrays_sql, pg_array_literals(rows, _LATEST_KINDS))
            return
        sql = self._sql_upsert_latest
        if sql is not None and self._db.dialect.multirow_insert:
            step = _ROWS_PER_STATEMENT
            for start in range(0, len(rows), step):
                part = rows[start : start + step]
                multi = self._multirow_latest_sql.get(len(part))
                if multi is None:
                    multi = self._db.dialect.upsert_latest_metric(len(part))
                    self._multirow_latest_sql[len(part)] = multi  # type: ignore[assignment]
                cur.execute(multi, list(chain.from_iterable(part)))
            return
        if sql is not None:
            cur.executemany(sql, rows)
            return
        d = self._db.dialect
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

    def upsert(
        self,
        cur: Any,
        sql: str | None,
        table: str,
        owner_column: str,
        rows: list[tuple[Any, Any, Any]],
    ) -> None:
        """Insert-or-overwrite ``(key, value, owner)`` rows of a key-value table.

        Args:
            cur: the cursor.
            sql: the dialect's upsert (:attr:`sql_upsert_tag`...), None if it has none.
            table: the table.
            owner_column: the column that holds the owner (``run_uuid``, ``experiment_id``).
            rows: the rows.
        """
        if sql is not None:
            cur.executemany(sql, rows)
            return
        d = self._db.dialect
        update = d.sql(f'UPDATE {table} SET value = ? WHERE "key" = ? AND {owner_column} = ?')
        insert = d.sql(f'INSERT INTO {table} ("key", value, {owner_column}) VALUES (?, ?, ?)')
        for key, value, owner in rows:
            cur.execute(update, (value, key, owner))
            if cur.rowcount == 0:
                cur.execute(insert, (key, value, owner))
