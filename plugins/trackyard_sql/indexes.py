"""trackyard's own indexes on MLflow's tables: faster logged-model search, MLflow's plans unchanged.

MLflow 3.17.2 indexes ``logged_model_metrics`` only by ``model_id``, so a metric filter
(``metrics.acc > 0.95``) scans every point. :func:`ensure_indexes` adds, when a database is
created or first opened in a process, the indexes listed in :data:`INDEXES`:

- ``trackyard_lm_metrics_name_value`` on ``logged_model_metrics (metric_name, metric_value,
  model_id, experiment_id)``: a metric comparison reads only the matching points from the
  index, never the table. MySQL and MariaDB index the first 191 characters of
  ``metric_name`` (767 bytes in ``utf8mb4``; longer names are checked on the row).
- ``trackyard_lm_search`` on ``logged_models (model_id, experiment_id, lifecycle_stage,
  creation_timestamp_ms)``, **SQLite only**: SQLite keeps a text primary key apart from the
  row, so checking the experiment, the stage and the default order of each candidate model
  costs two lookups; this index answers them in one. (InnoDB stores rows in primary-key order
  and PostgreSQL plans such joins by statistics: neither gains from it.)

**MLflow's queries never use them.** SQLite plans without statistics, and a plain index on
``(metric_name, ...)`` made MLflow 3.17.2's own logged-model search ordered by a metric 25
times slower on a shared database (it chose the index and lost its automatic one, measured).
So on SQLite and PostgreSQL both indexes are *partial*, limited by a condition that holds for
every row (:attr:`OwnIndex.where`, on a ``NOT NULL`` column) and that only trackyard's
queries state (:attr:`OwnIndex.marker`); a planner may use a partial index only for a query
that implies its condition, so MLflow's plans stay exactly what they were (the compat tests
compare them). MySQL has no partial indexes; its planner costs indexes by statistics.

The indexes are named ``trackyard_*``, touch no column of MLflow's tables nor
``alembic_version``, and MLflow reads and writes the database as before. Creation is
idempotent (only missing indexes are created; SQLite and PostgreSQL also say ``IF NOT
EXISTS``) and runs once per process and database; a database that cannot take them
(read-only, no privilege) is used without them, with a warning in the log. On a large
existing database the first open builds them once. ``DROP INDEX`` removes them; trackyard
creates them again on its next open. A read-only open (:func:`trackyard.stores.read_only_opens`,
``trackyard doctor --read-only``) creates none: it notes the missing ones
(:func:`missing_indexes`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from trackyard_sql.bootstrap import Layout
    from trackyard_sql.database import Database

__all__ = [
    "INDEXED_TABLES",
    "INDEXES",
    "METRIC_INDEX",
    "SEARCH_INDEX",
    "OwnIndex",
    "ensure_indexes",
    "missing_indexes",
]

_logger = logging.getLogger("trackyard.sql")


@dataclass(frozen=True)
class OwnIndex:
    """An index trackyard adds to one of MLflow's tables.

    Attributes:
        name: the index name (``trackyard_`` prefix; at most 64 characters for MySQL).
        table: the MLflow table.
        columns: the indexed columns, in order.
        mysql_prefix: MySQL/MariaDB prefix lengths (characters) of long string columns.
        dialects: the SQLAlchemy dialect names it is created on.
        where: the condition of the partial index (SQLite, PostgreSQL): true for every row.
    """

    name: str
    table: str
    columns: tuple[str, ...]
    mysql_prefix: dict[str, int] = field(default_factory=dict)
    dialects: frozenset[str] = frozenset({"sqlite", "postgresql", "mysql", "mariadb"})
    where: str = ""

    def marker(self, alias: str) -> str:
        """The condition a query on ``alias`` states to let the planner use the index."""
        return f"{alias}.{self.where}"

    def ddl(self, dialect: str) -> str:
        """The ``CREATE INDEX`` statement for ``dialect``."""
        if dialect in ("mysql", "mariadb"):
            cols = ", ".join(
                f"{c}({self.mysql_prefix[c]})" if c in self.mysql_prefix else c
                for c in self.columns
            )
            return f"CREATE INDEX {self.name} ON {self.table} ({cols})"
        where = f" WHERE {self.where}" if self.where else ""
        return (
            f"CREATE INDEX IF NOT EXISTS {self.name} ON {self.table} "
            f"({', '.join(self.columns)}){where}"
        )


#: Metric comparisons of logged-model searches.
METRIC_INDEX = OwnIndex(
    "trackyard_lm_metrics_name_value",
    "logged_model_metrics",
    ("metric_name", "metric_value", "model_id", "experiment_id"),
    mysql_prefix={"metric_name": 191},
    where="experiment_id IS NOT NULL",
)
#: The experiment, stage and default order of candidate models (SQLite).
SEARCH_INDEX = OwnIndex(
    "trackyard_lm_search",
    "logged_models",
    ("model_id", "experiment_id", "lifecycle_stage", "creation_timestamp_ms"),
    dialects=frozenset({"sqlite"}),
    where="artifact_location IS NOT NULL",
)
#: The indexes trackyard adds (see the module docstring).
INDEXES: tuple[OwnIndex, ...] = (METRIC_INDEX, SEARCH_INDEX)

#: The tables whose index names :class:`~trackyard_sql.bootstrap.Layout` records.
INDEXED_TABLES = frozenset(i.table for i in INDEXES)


def missing_indexes(dialect: str, layout: Layout) -> list[OwnIndex]:
    """The indexes of :data:`INDEXES` that ``layout`` lacks and whose table and columns exist."""
    return [
        index
        for index in INDEXES
        if dialect in index.dialects
        and all(layout.has(index.table, c) for c in index.columns)
        and (not index.where or layout.has(index.table, index.where.split()[0]))
        and index.name not in layout.indexes.get(index.table, frozenset())
    ]


def ensure_indexes(db: Database, layout: Layout) -> None:
    """Create the missing indexes of ``db`` (``layout`` is updated with what now exists).

    Never raises for a database error: a database that refuses the DDL is used without the
    index (logged as a warning), and an index another process created meanwhile counts.
    """
    dialect = db.engine.dialect.name
    for index in missing_indexes(dialect, layout):
        try:
            with db.engine.connect() as conn:
                conn.exec_driver_sql(index.ddl(dialect))
                conn.commit()
        except sa.exc.DBAPIError as exc:
            if not _exists(db, index):
                _logger.warning(
                    "trackyard could not create index %s on %s (searches work, slower): %s",
                    index.name,
                    index.table,
                    str(exc.orig).strip()[:300],
                )
                continue
        layout.indexes[index.table] = layout.indexes.get(index.table, frozenset()) | {index.name}


def _exists(db: Database, index: OwnIndex) -> bool:
    try:
        with db.engine.connect() as conn:
            names = {i["name"] for i in sa.inspect(conn).get_indexes(index.table)}
            conn.rollback()
    except sa.exc.DBAPIError:
        return False
    return index.name in names
