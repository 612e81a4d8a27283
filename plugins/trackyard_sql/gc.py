"""Garbage collection in the SQL store: deleted runs and experiments removed for good.

The store contract is :class:`trackyard.stores.TrackingStore`'s ``deleted_runs``,
``deleted_experiments``, ``hard_delete_run`` and ``hard_delete_experiment`` (MLflow's
``_get_deleted_runs``, ``_hard_delete_run`` and ``_hard_delete_experiment``).

Each hard delete is one transaction that removes child rows before their parents, so it
works whether or not the database enforces foreign keys (SQLite does not, PostgreSQL and
MySQL do). The children are found from the foreign keys of MLflow's head schema
(:data:`trackyard_sql.schema.SPECS`), so rows MLflow itself wrote to tables trackyard does not
use (scorers, review queues, issues ...) go too, as MLflow's cascades take them; a foreign
key declared ``ON DELETE SET NULL`` is set to NULL instead. Rows that point at a run or an
experiment without a foreign key go as well: ``inputs`` and their ``input_tags`` (dataset and
model inputs and outputs), ``entity_associations`` and MLflow's trace rollup tables.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage
from trackyard.errors import experiment_not_found as _experiment_not_found
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import run_not_found as _run_not_found
from trackyard.stores import DeletedExperiment, DeletedRun
from trackyard_sql.database import chunks
from trackyard_sql.schema import SPECS
from trackyard_sql.schema._ddl import _FK

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect

__all__ = ["SqlGc"]

_DELETED = LifecycleStage.DELETED
_ACTIVE = LifecycleStage.ACTIVE
# Tables of MLflow's trace rollups: keyed by experiment, with no foreign key.
_ROLLUP_TABLES = (
    "sql_trace_metric_daily_rollups",
    "sql_span_cost_daily_rollups",
    "sql_assessment_daily_rollups",
    "sql_trace_rollup_rebuild_queue",
)


def _q(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


@functools.cache
def _children(parent: str) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...]:
    """Foreign keys pointing at ``parent``: (table, columns, parent columns, ON DELETE)."""
    found = []
    for spec in SPECS.values():
        for line in spec.lines:
            match = _FK.match(line)
            if match is None or match.group("table") != parent or spec.name == parent:
                continue
            cols = tuple(c.strip() for c in match.group("cols").split(","))
            ref = tuple(c.strip() for c in match.group("ref").split(","))
            found.append((spec.name, cols, ref, match.group("delete") or ""))
    return tuple(found)


class SqlGc:
    """Listing and hard-deleting deleted runs and experiments (mixed into the store)."""

    if TYPE_CHECKING:
        _db: Database
        _dialect: Dialect
        _workspace: str | None

        def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...

    # -- listing ---------------------------------------------------------------------------
    def _workspace_clause(self, alias: str) -> tuple[str, list[Any]]:
        if self._workspace is None:
            return "", []
        return f" AND {alias}.workspace = ?", [self._workspace]

    def deleted_runs(
        self,
        deleted_before: int | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> list[DeletedRun]:
        """Runs in the deleted stage, deleted at or before ``deleted_before`` (by run id)."""
        d = self._dialect
        ws, ws_params = self._workspace_clause("e")
        base = (
            "SELECT r.run_uuid, r.experiment_id, r.artifact_uri, r.deleted_time FROM runs r "
            "JOIN experiments e ON e.experiment_id = r.experiment_id "
            f"WHERE r.lifecycle_stage = ?{ws}"
        )
        params: list[Any] = [_DELETED, *ws_params]
        if deleted_before is not None:
            base += " AND r.deleted_time <= ?"
            params.append(deleted_before)
        groups: list[list[int]] | list[None]
        if experiment_ids is None:
            groups = [None]
        else:
            ids = sorted({int(e) for e in experiment_ids if str(e).isascii() and str(e).isdigit()})
            groups = list(chunks(ids, 500))

        def read(cur: Any) -> list[DeletedRun]:
            out: list[DeletedRun] = []
            for group in groups:
                sql, args = base, list(params)
                if group is not None:
                    sql += f" AND r.experiment_id IN ({d.marks(len(group))})"
                    args.extend(group)
                cur.execute(d.sql(sql), args)
                out.extend(
                    DeletedRun(str(rid), str(eid), str(uri or ""), None if t is None else int(t))
                    for rid, eid, uri, t in cur.fetchall()
                )
            return sorted(out, key=lambda r: r.run_id)

        return self._db.read(read)

    def deleted_experiments(self, deleted_before: int | None = None) -> list[DeletedExperiment]:
        """Experiments in the deleted stage, deleted at or before ``deleted_before``."""
        d = self._dialect
        ws, params = self._workspace_clause("e")
        sql = (
            "SELECT e.experiment_id, e.name, e.artifact_location, e.last_update_time, "
            "(SELECT COUNT(*) FROM runs r WHERE r.experiment_id = e.experiment_id "
            "AND r.lifecycle_stage = ?) FROM experiments e "
            f"WHERE e.lifecycle_stage = ?{ws}"
        )
        args: list[Any] = [_ACTIVE, _DELETED, *params]
        if deleted_before is not None:
            sql += " AND e.last_update_time <= ?"
            args.append(deleted_before)
        sql += " ORDER BY e.experiment_id"

        def read(cur: Any) -> list[DeletedExperiment]:
            cur.execute(d.sql(sql), args)
            return [
                DeletedExperiment(
                    str(eid), str(name), str(loc or ""), None if t is None else int(t), int(n)
                )
                for eid, name, loc, t, n in cur.fetchall()
            ]

        return self._db.read(read)

    # -- hard deletes ----------------------------------------------------------------------
    def hard_delete_run(self, run_id: str) -> None:
        """Remove a deleted run and every row that belongs to it, in one transaction."""
        d = self._dialect
        lock = " FOR UPDATE" if d.is_postgres or d.is_mysql else ""
        select = d.sql(f"SELECT lifecycle_stage FROM runs WHERE {d.key_equals('run_uuid')}{lock}")

        def delete(cur: Any) -> None:
            cur.execute(select, d.key_params(run_id))
            row = cur.fetchone()
            if row is None:
                raise _run_not_found(run_id)
            if row[0] != _DELETED:
                raise _invalid(
                    f"Run {run_id} is not in the deleted lifecycle stage; only deleted runs "
                    "can be removed for good."
                )
            self._delete_run_links(cur, "?", [run_id])
            self._delete_tree(cur, "runs", ("run_uuid",), "run_uuid = ?", [run_id], set())

        self._db.write(delete)

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment with its (deleted) runs and everything in it."""
        d = self._dialect

        def delete(cur: Any) -> None:
            eid = self._experiment_row(cur, experiment_id)[0]
            lock = " FOR UPDATE" if d.is_postgres or d.is_mysql else ""
            # Lock the experiment and its runs: a concurrent restore waits, then finds nothing.
            cur.execute(
                d.sql(f"SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?{lock}"),
                (eid,),
            )
            locked = cur.fetchone()
            if locked is None:  # removed meanwhile
                raise _experiment_not_found(experiment_id)
            if locked[0] != _DELETED:
                raise _invalid(
                    f"Experiment {experiment_id} is not in the deleted lifecycle stage; only "
                    "deleted experiments can be removed for good."
                )
            cur.execute(
                d.sql(f"SELECT lifecycle_stage FROM runs WHERE experiment_id = ?{lock}"), (eid,)
            )
            if any(stage == _ACTIVE for (stage,) in cur.fetchall()):
                raise _invalid(
                    f"Experiment {experiment_id} still holds active runs; delete them before "
                    "removing it for good."
                )
            self._delete_run_links(cur, "SELECT run_uuid FROM runs WHERE experiment_id = ?", [eid])
            self._delete_experiment_links(cur, eid)
            self._delete_tree(
                cur, "experiments", ("experiment_id",), "experiment_id = ?", [eid], set()
            )

        self._db.write(delete)

    # -- the rows ------------------------------------------------------------------------------
    def _has(self, table: str, column: str | None = None) -> bool:
        layout = self._db.layout
        if not layout.has(table):
            return False
        # only some tables' columns are inspected; assume MLflow's head for the others
        return column is None or table not in layout.columns or layout.has(table, column)

    def _delete_run_links(self, cur: Any, run_ids_sql: str, params: list[Any]) -> None:
        """Delete rows that name runs without a foreign key (``run_ids_sql``: ``?`` or a query)."""
        d = self._dialect
        if self._has("inputs"):
            q = run_ids_sql
            links = (
                f"(destination_type = 'RUN' AND destination_id IN ({q})) OR "
                f"(source_type IN ('RUN_INPUT', 'RUN_OUTPUT') AND source_id IN ({q}))"
            )
            if self._has("input_tags"):
                cur.execute(
                    d.sql(
                        "DELETE FROM input_tags WHERE input_uuid IN "
                        f"(SELECT input_uuid FROM inputs WHERE {links})"
                    ),
                    [*params, *params],
                )
            cur.execute(d.sql(f"DELETE FROM inputs WHERE {links}"), [*params, *params])
        self._delete_associations(cur, "run", run_ids_sql, params)

    def _delete_experiment_links(self, cur: Any, eid: int) -> None:
        d = self._dialect
        self._delete_associations(cur, "experiment", "?", [str(eid)])
        if self._has("trace_info"):
            self._delete_associations(
                cur, "trace", "SELECT request_id FROM trace_info WHERE experiment_id = ?", [eid]
            )
        for table in _ROLLUP_TABLES:
            if self._has(table, "experiment_id"):
                cur.execute(d.sql(f"DELETE FROM {table} WHERE experiment_id = ?"), (eid,))

    def _delete_associations(self, cur: Any, kind: str, ids_sql: str, params: list[Any]) -> None:
        if not self._has("entity_associations"):
            return
        cur.execute(
            self._dialect.sql(
                "DELETE FROM entity_associations WHERE "
                f"(source_type = ? AND source_id IN ({ids_sql})) OR "
                f"(destination_type = ? AND destination_id IN ({ids_sql}))"
            ),
            [kind, *params, kind, *params],
        )

    def _delete_tree(
        self,
        cur: Any,
        table: str,
        key: tuple[str, ...] | None,
        where: str,
        params: list[Any],
        path: set[str],
    ) -> None:
        """Delete the rows of ``table`` matching ``where``, their children's rows first.

        ``key`` names the columns ``where`` compares with ``=`` (one parameter each), so a
        child that references exactly them is matched directly instead of by a subquery.
        """
        d = self._dialect
        path = path | {table}
        for child, cols, ref, on_delete in _children(table):
            if child in path or not self._has(child):
                continue
            if key is not None and ref == key:
                child_key: tuple[str, ...] | None = cols
                child_where = " AND ".join(f'"{c}" = ?' for c in cols)
            else:
                child_key = None
                child_where = f"({_q(cols)}) IN (SELECT {_q(ref)} FROM {table} WHERE {where})"
            if on_delete == "SET NULL":
                sets = ", ".join(f'"{c}" = NULL' for c in cols)
                cur.execute(d.sql(f"UPDATE {child} SET {sets} WHERE {child_where}"), params)
            else:
                self._delete_tree(cur, child, child_key, child_where, params, path)
        cur.execute(d.sql(f"DELETE FROM {table} WHERE {where}"), params)
