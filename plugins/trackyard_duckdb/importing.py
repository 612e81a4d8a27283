"""Imports for the DuckDB stores: entities written as they are, ids and times kept.

Mixed into :class:`~trackyard_duckdb.tracking.DuckDBTrackingStore` and
:class:`~trackyard_duckdb.registry.DuckDBRegistryStore` (``Capabilities(imports=True)``; the
contract is the stores' ``import_*`` methods). A run is one write transaction: its row, its
params and tags (one list insert each) and every point of its metric histories, written
column-wise into chunks by :func:`trackyard_duckdb._metrics.write_metrics` (one call for the
whole run). The store holds no dataset inputs, so a run's inputs are not written. A logged
model is one transaction too: its row, tags, params and metric points.

Keys that the stores count themselves (experiment ids) are moved past imported ones, so a
later ``create_experiment`` never takes an imported id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import (
    Experiment,
    LifecycleStage,
    LoggedModel,
    Metric,
    Run,
    RunData,
    RunInfo,
)
from trackyard.entities.model_registry import ModelVersion, RegisteredModel
from trackyard.errors import (
    already_exists,
    experiment_exists,
    invalid_parameter,
    registered_model_exists,
    registered_model_not_found,
)
from trackyard.stores import RegistryStoreMixin, TrackingStoreMixin, now_ms
from trackyard_duckdb import _metrics, _runs, _search
from trackyard_duckdb._state import RunState
from trackyard_duckdb.logged_models import insert_logged_model

if TYPE_CHECKING:
    from trackyard_duckdb._database import Database

__all__ = ["DuckDBRegistryImports", "DuckDBTrackingImports"]

_BIGINT_MAX = 2**63 - 1
_RUN_NAME_TAG = "mlflow.runName"
_INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(_runs.RUN_COLUMNS)}, deleted_time) "
    f"VALUES ({', '.join('?' * (len(_runs.RUN_COLUMNS) + 1))})"
)
_INSERT_EXPERIMENT = (
    f"INSERT INTO experiments ({', '.join(_search.EXPERIMENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_search.EXPERIMENT_COLUMNS))})"
)


def _insert_pairs(cur: Any, table: str, owner: Sequence[Any], pairs: Mapping[str, str]) -> None:
    """Insert ``pairs`` (key -> value) into ``table``, each row starting with ``owner``."""
    if pairs:
        marks = ", ".join("?" * len(owner))
        cur.execute(
            f"INSERT INTO {table} SELECT {marks}, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [*owner, list(pairs), list(pairs.values())],
        )


def _move_counter_past(db: Database, cur: Any, table: str, column: str, value: int) -> None:
    """Make the key counter of ``table.column`` at least ``value`` (the caller writes)."""
    first = db.next_key(cur, table, column)
    if value > first:
        db.reserve_keys(cur, table, column, value - first)


def _deleted_time(stage: str) -> int | None:
    return now_ms() if stage == LifecycleStage.DELETED else None


class DuckDBTrackingImports(TrackingStoreMixin):
    """``import_experiment``, ``import_run``, ``import_run_data``, ``import_run_info``,
    ``import_logged_model`` and ``read_metric_points`` of the DuckDB tracking store."""

    if TYPE_CHECKING:
        _db: Database

        def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...
        def _run_row(self, cur: Any, run_id: str) -> tuple[Any, ...]: ...
        def _forget_runs(self, run_id: str | None = None) -> None: ...
        def _forget_experiments(self) -> None: ...
        def _set_tags(self, cur: Any, state: RunState, tags: dict[str, str]) -> None: ...
        def _new_params(
            self, cur: Any, run_id: str, state: RunState, params: dict[str, str]
        ) -> list[str]: ...

    def import_experiment(self, experiment: Experiment) -> None:
        """Insert an experiment with its id (a 64-bit integer), times, stage and tags."""
        eid_text = experiment.experiment_id
        eid = int(eid_text) if eid_text.isdigit() else -1
        if not 0 <= eid <= _BIGINT_MAX:
            raise invalid_parameter(f"Experiment id {eid_text!r} does not fit this database.")
        row = (
            eid,
            experiment.name,
            experiment.artifact_location,
            experiment.lifecycle_stage,
            experiment.creation_time,
            experiment.last_update_time,
        )

        def insert(cur: Any) -> None:
            cur.execute("SELECT count(*) FROM experiments WHERE experiment_id = ?", [eid])
            if cur.fetchone()[0]:
                raise already_exists(f"Experiment {eid}")
            cur.execute("SELECT count(*) FROM experiments WHERE name = ?", [experiment.name])
            if cur.fetchone()[0]:
                raise experiment_exists(experiment.name)
            cur.execute(_INSERT_EXPERIMENT, row)
            _insert_pairs(cur, "experiment_tags", [eid], dict(sorted(experiment.tags.items())))
            _move_counter_past(self._db, cur, "experiments", "experiment_id", eid)
            self._forget_experiments()

        self._db.write(insert)

    def new_experiment_id(self) -> str:
        """One more than the largest experiment id."""

        def top(cur: Any) -> int:
            cur.execute("SELECT coalesce(max(experiment_id), 0) FROM experiments")
            return int(cur.fetchone()[0])

        return str(self._db.read(top, snapshot=False) + 1)

    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """Insert a run with its id, times, status and stage, params, tags and every metric
        point, in one transaction."""
        info = run.info
        run_id = info.run_id
        params = dict(sorted(run.data.params.items()))
        tags = dict(sorted(run.data.tags.items()))

        def insert(cur: Any) -> None:
            cur.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id])
            if cur.fetchone()[0]:
                raise already_exists(f"Run {run_id!r}")
            experiment_key = self._experiment_row(cur, info.experiment_id)[0]
            run_key = self._db.next_key(cur, "runs", "run_key")
            cur.execute(
                _INSERT_RUN,
                (
                    run_key,
                    run_id,
                    experiment_key,
                    info.run_name,
                    info.user_id,
                    info.status,
                    info.start_time,
                    info.end_time,
                    info.lifecycle_stage,
                    info.artifact_uri,
                    _deleted_time(info.lifecycle_stage),
                ),
            )
            _insert_pairs(cur, "run_params", [run_key], params)
            _insert_pairs(cur, "run_tags", [run_key], tags)
            if metrics:
                _metrics.write_metrics(cur, self._db, run_key, metrics)
            self._forget_runs(run_id)

        self._db.write(insert)

    def import_run_data(self, run_id: str, metrics: Sequence[Metric], data: RunData) -> None:
        """Add points, params and tags to a run in any stage, in one transaction."""
        params = dict(data.params)
        tags = dict(data.tags)

        def write(cur: Any) -> None:
            row = self._run_row(cur, run_id)
            state = RunState(int(row[0]), str(row[8]))
            if params:
                fresh = self._new_params(cur, run_id, state, params)
                _insert_pairs(cur, "run_params", [state.run_key], {k: params[k] for k in fresh})
            if tags:
                self._set_tags(cur, state, tags)
                if _RUN_NAME_TAG in tags:
                    cur.execute(
                        "UPDATE runs SET name = ? WHERE run_key = ?",
                        [tags[_RUN_NAME_TAG], state.run_key],
                    )
            if metrics:
                _metrics.write_metrics(cur, self._db, state.run_key, metrics)
            self._forget_runs(run_id)

        self._db.write(write)

    def import_run_info(self, info: RunInfo) -> None:
        """Set a run's status, end time, name and lifecycle stage, in one statement."""

        def update(cur: Any) -> None:
            run_key = self._run_row(cur, info.run_id)[0]
            cur.execute(
                "UPDATE runs SET status = ?, end_time = ?, name = ?, lifecycle_stage = ?, "
                "deleted_time = ?, deleted_with_experiment = FALSE WHERE run_key = ?",
                [
                    info.status,
                    info.end_time,
                    info.run_name,
                    info.lifecycle_stage,
                    _deleted_time(info.lifecycle_stage),
                    run_key,
                ],
            )
            self._forget_runs(info.run_id)

        self._db.write(update)

    def import_logged_model(self, model: LoggedModel) -> None:
        """Insert a new logged model exactly as given, with its tags, params and points."""

        def insert(cur: Any) -> None:
            eid = self._experiment_row(cur, model.experiment_id)[0]
            cur.execute("SELECT count(*) FROM logged_models WHERE model_id = ?", [model.model_id])
            if cur.fetchone()[0]:
                raise already_exists(f"Logged model {model.model_id!r}")
            insert_logged_model(cur, model, int(eid), LifecycleStage.ACTIVE)

        self._db.write(insert)

    def read_metric_points(self, run_id: str, keys: Sequence[str]) -> list[Metric]:
        """Every point of a run's metrics ``keys``, in one query."""
        histories = self.get_metric_history_bulk([run_id], keys)[run_id]
        return [point for key in keys for point in histories[key]]


class DuckDBRegistryImports(RegistryStoreMixin):
    """``import_registered_model`` and ``import_model_version`` of the DuckDB registry,
    one transaction each."""

    if TYPE_CHECKING:
        _db: Database

    def import_registered_model(self, model: RegisteredModel) -> None:
        """Insert a model with its times, description, tags and aliases."""

        def insert(cur: Any) -> None:
            cur.execute("SELECT count(*) FROM registered_models WHERE name = ?", [model.name])
            if cur.fetchone()[0]:
                raise registered_model_exists(model.name)
            model_key = self._db.next_key(cur, "registered_models", "model_key")
            cur.execute(
                "INSERT INTO registered_models (model_key, name, creation_timestamp, "
                "last_updated_timestamp, description, deployment_job_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    model_key,
                    model.name,
                    model.creation_timestamp,
                    model.last_updated_timestamp,
                    model.description,
                    model.deployment_job_id,
                ],
            )
            _insert_pairs(
                cur, "registered_model_tags", [model_key], dict(sorted(model.tags.items()))
            )
            aliases = sorted(model.aliases.items())
            if aliases:
                cur.execute(
                    "INSERT INTO registered_model_aliases (model_key, alias, version) "
                    "SELECT ?, unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                    [model_key, [a for a, _ in aliases], [int(v) for _, v in aliases]],
                )

        self._db.write(insert)

    def import_model_version(self, version: ModelVersion) -> None:
        """Insert a version with its number, times, stage, source, status and tags."""
        number = int(version.version)

        def insert(cur: Any) -> None:
            cur.execute("SELECT model_key FROM registered_models WHERE name = ?", [version.name])
            found = cur.fetchone()
            if found is None:
                raise registered_model_not_found(version.name)
            model_key = int(found[0])
            cur.execute(
                "SELECT count(*) FROM model_versions WHERE model_key = ? AND version = ?",
                [model_key, number],
            )
            if number <= 0 or cur.fetchone()[0]:
                raise already_exists(f"Model version {version.name} {number}")
            cur.execute(
                "INSERT INTO model_versions (model_key, version, creation_timestamp, "
                "last_updated_timestamp, description, user_id, current_stage, source, run_id, "
                "run_link, status, status_message, storage_location, model_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    model_key,
                    number,
                    version.creation_timestamp,
                    version.last_updated_timestamp,
                    version.description,
                    version.user_id,
                    version.current_stage,
                    version.source,
                    version.run_id,
                    version.run_link,
                    version.status,
                    version.status_message,
                    version.storage_location,
                    version.model_id,
                ],
            )
            tags = dict(sorted(version.tags.items()))
            _insert_pairs(cur, "model_version_tags", [model_key, number], tags)

        self._db.write(insert)
