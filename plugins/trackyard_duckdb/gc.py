"""Garbage collection in the DuckDB store: deleted runs and experiments removed for good.

A run's deletion time is ``runs.deleted_time`` (set by ``delete_run`` and by deleting its
experiment), an experiment's its ``last_update_time``. Each hard delete is one transaction
that removes the run's params, tags, metric series and chunks (or, for an experiment, its
tags, runs, traces with their tags, metadata, spans and assessments, and logged models with
their tags, params and metric points) and then the row;
what writers remember of the run is forgotten once it commits. Run keys are never reused,
so nothing else remembered can point at a removed run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage
from trackyard.errors import invalid_parameter as _invalid
from trackyard.stores import DeletedExperiment, DeletedRun

if TYPE_CHECKING:
    from trackyard_duckdb._database import Database

__all__ = ["DuckDBGc"]

_DELETED = LifecycleStage.DELETED
_ACTIVE = LifecycleStage.ACTIVE
_RUN_KEYS_OF_EXPERIMENT = "SELECT run_key FROM runs WHERE experiment_id = ?"
_TRACES_OF_EXPERIMENT = "SELECT trace_id FROM traces WHERE experiment_id = ?"
_MODELS_OF_EXPERIMENT = "SELECT model_id FROM logged_models WHERE experiment_id = ?"


def _delete_runs(cur: Any, run_keys_sql: str, params: list[Any]) -> None:
    """Delete the rows of the runs ``run_keys_sql`` selects (children first)."""
    cur.execute(
        "DELETE FROM metric_chunks WHERE series_key IN (SELECT series_key FROM metric_series "
        f"WHERE run_key IN ({run_keys_sql}))",
        params,
    )
    for table in ("metric_series", "run_params", "run_tags"):
        cur.execute(f"DELETE FROM {table} WHERE run_key IN ({run_keys_sql})", params)
    cur.execute(f"DELETE FROM runs WHERE run_key IN ({run_keys_sql})", params)


class DuckDBGc:
    """Listing and hard-deleting deleted runs and experiments (mixed into the store)."""

    if TYPE_CHECKING:
        _db: Database

        def _run_row(self, cur: Any, run_id: str) -> tuple[Any, ...]: ...
        def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...
        def _forget_runs(self, run_id: str | None = None) -> None: ...
        def _forget_experiments(self) -> None: ...

    def deleted_runs(
        self,
        deleted_before: int | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> list[DeletedRun]:
        """Runs in the deleted stage, deleted at or before ``deleted_before`` (by run id)."""
        sql = (
            "SELECT run_id, experiment_id, artifact_uri, deleted_time FROM runs "
            "WHERE lifecycle_stage = ?"
        )
        params: list[Any] = [_DELETED]
        if deleted_before is not None:
            sql += " AND deleted_time <= ?"
            params.append(deleted_before)
        if experiment_ids is not None:
            ids = [int(e) for e in experiment_ids if str(e).isascii() and str(e).isdigit()]
            sql += " AND experiment_id IN (SELECT unnest(?::BIGINT[]))"
            params.append([i for i in ids if i < 2**63])
        sql += " ORDER BY run_id"

        def read(cur: Any) -> list[DeletedRun]:
            cur.execute(sql, params)
            return [
                DeletedRun(rid, str(eid), uri or "", None if t is None else int(t))
                for rid, eid, uri, t in cur.fetchall()
            ]

        return self._db.read(read, snapshot=False)

    def deleted_experiments(self, deleted_before: int | None = None) -> list[DeletedExperiment]:
        """Experiments in the deleted stage, deleted at or before ``deleted_before``."""
        sql = (
            "SELECT e.experiment_id, e.name, e.artifact_location, e.last_update_time, "
            "(SELECT count(*) FROM runs r WHERE r.experiment_id = e.experiment_id "
            "AND r.lifecycle_stage = ?) FROM experiments e WHERE e.lifecycle_stage = ?"
        )
        params: list[Any] = [_ACTIVE, _DELETED]
        if deleted_before is not None:
            sql += " AND e.last_update_time <= ?"
            params.append(deleted_before)
        sql += " ORDER BY e.experiment_id"

        def read(cur: Any) -> list[DeletedExperiment]:
            cur.execute(sql, params)
            return [
                DeletedExperiment(str(eid), name, loc or "", None if t is None else int(t), int(n))
                for eid, name, loc, t, n in cur.fetchall()
            ]

        return self._db.read(read, snapshot=False)

    def hard_delete_run(self, run_id: str) -> None:
        """Remove a deleted run with its params, tags and metrics, in one transaction."""

        def delete(cur: Any) -> None:
            row = self._run_row(cur, run_id)
            if row[8] != _DELETED:
                raise _invalid(
                    f"Run {run_id} is not in the deleted lifecycle stage; only deleted runs "
                    "can be removed for good."
                )
            _delete_runs(cur, "?", [row[0]])
            self._forget_runs(run_id)

        self._db.write(delete)

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment with its tags, runs, traces and logged models, in one
        transaction."""

        def delete(cur: Any) -> None:
            row = self._experiment_row(cur, experiment_id)
            eid = row[0]
            if row[3] != _DELETED:
                raise _invalid(
                    f"Experiment {experiment_id} is not in the deleted lifecycle stage; only "
                    "deleted experiments can be removed for good."
                )
            cur.execute(
                "SELECT count(*) FROM runs WHERE experiment_id = ? AND lifecycle_stage = ?",
                [eid, _ACTIVE],
            )
            if int(cur.fetchone()[0]):
                raise _invalid(
                    f"Experiment {experiment_id} still holds active runs; delete them before "
                    "removing it for good."
                )
            _delete_runs(cur, _RUN_KEYS_OF_EXPERIMENT, [eid])
            for table in ("trace_tags", "trace_metadata", "trace_spans", "trace_assessments"):
                cur.execute(
                    f"DELETE FROM {table} WHERE trace_id IN ({_TRACES_OF_EXPERIMENT})", [eid]
                )
            cur.execute("DELETE FROM traces WHERE experiment_id = ?", [eid])
            for table in ("logged_model_tags", "logged_model_params", "logged_model_metrics"):
                cur.execute(
                    f"DELETE FROM {table} WHERE model_id IN ({_MODELS_OF_EXPERIMENT})", [eid]
                )
            cur.execute("DELETE FROM logged_models WHERE experiment_id = ?", [eid])
            cur.execute("DELETE FROM experiment_tags WHERE experiment_id = ?", [eid])
            cur.execute("DELETE FROM experiments WHERE experiment_id = ?", [eid])
            self._forget_runs()
            self._forget_experiments()

        self._db.write(delete)
