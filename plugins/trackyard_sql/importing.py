"""Imports for the SQL tracking store: experiments and runs written as they are.

Mixed into :class:`~trackyard_sql.tracking.SqlTrackingStore` (``Capabilities(imports=True)``;
the contract is :class:`trackyard.stores.TrackingStore`'s ``import_*`` methods). A run is
written in one transaction: its row, tags, params, every metric point (the bulk inserts of
:class:`~trackyard_sql.writes.RunWriter`) and its latest metrics. Dataset inputs, when the
run has any, follow in a second transaction through ``log_inputs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby, starmap
from math import isfinite
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from trackyard.entities import Experiment, LifecycleStage, Metric, Run, RunData, RunInfo
from trackyard.errors import already_exists, invalid_parameter
from trackyard.stores import TrackingStoreMixin
from trackyard_sql.compiler import EXPERIMENT_COLUMNS, RUN_INSERT
from trackyard_sql.runs import DBL_MAX, db_metric_value

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect
    from trackyard_sql.writes import RunWriter

__all__ = ["SqlTrackingImports", "metric_rows"]

_INT32_MAX = 2**31 - 1
_EXTREMES = (DBL_MAX, -DBL_MAX)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_FIFTH = itemgetter(4)
_FIRST_FOUR = itemgetter(0, 1, 2, 3)
_RANK = itemgetter(4, 2, 1)  # (step, timestamp, value) of a ``metrics`` row
_RUN_NAME_TAG = "mlflow.runName"


def _stored_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A ``metrics`` row with its value as stored: NaN as 0 with ``is_nan``, inf as DBL_MAX."""
    key, value, timestamp, run_id, step, _ = row
    stored, nan = db_metric_value(value)
    return (key, stored, timestamp, run_id, step, nan)


def metric_rows(
    run_id: str, metrics: Sequence[Metric]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``metrics`` rows and the ``latest_metrics`` rows of a run's points.

    A copy moves millions of points through here, so the common case runs in C: the rows
    are built in one comprehension, one ``sum`` tells whether every value is finite (a NaN
    or an infinity makes the sum non-finite; so may an overflow, which only takes the slow
    path), and each key's latest point is the ``max`` of its consecutive rows by (step,
    timestamp, value): the first of equal ranks, as a point-by-point scan would keep.
    """
    rows = [(m.key, m.value, m.timestamp, run_id, m.step, False) for m in metrics]
    if not isfinite(sum(map(_SECOND, rows))):
        rows = list(map(_stored_row, rows))
    latest: dict[str, tuple[Any, ...]] = {}
    for key, group in groupby(rows, _FIRST):
        top = max(group, key=_RANK)
        held = latest.get(key)
        if held is None or _RANK(top) > _RANK(held):
            latest[key] = top
    latest_rows = [
        (key, row[1], row[2], row[4], row[5], run_id) for key, row in sorted(latest.items())
    ]
    return rows, latest_rows


class SqlTrackingImports(TrackingStoreMixin):
    """``import_experiment``, ``import_run``, ``import_run_data`` and ``import_run_info``."""

    if TYPE_CHECKING:
        _db: Database
        _dialect: Dialect
        _writer: RunWriter
        _workspace: str | None

        def _check(self, table: str, column: str, value: str | None) -> None: ...
        def _run_row(self, cur: Any, run_id: str) -> tuple[Any, ...]: ...

    def import_experiment(self, experiment: Experiment) -> None:
        """Insert an experiment with its id (a 32-bit integer outside SQLite), times and tags."""
        d = self._dialect
        try:
            eid = int(experiment.experiment_id)
        except ValueError:
            eid = -1
        if eid < 0 or (not d.is_sqlite and eid > _INT32_MAX):
            raise invalid_parameter(
                f"Experiment id {experiment.experiment_id!r} does not fit this database."
            )
        self._check("experiments", "name", experiment.name)
        self._check("experiments", "artifact_location", experiment.artifact_location)
        columns = list(EXPERIMENT_COLUMNS)
        values: list[Any] = [
            eid,
            experiment.name,
            experiment.artifact_location,
            experiment.lifecycle_stage,
            experiment.creation_time,
            experiment.last_update_time,
        ]
        if self._workspace is not None:
            columns.append("workspace")
            values.append(self._workspace)

        def insert(cur: Any) -> None:
            cur.execute(
                d.sql("SELECT 1 FROM experiments WHERE experiment_id = ? OR name = ?"),
                (eid, experiment.name),
            )
            if cur.fetchone() is not None:
                raise already_exists(f"Experiment {eid} or one named {experiment.name!r}")
            cur.execute(
                d.sql(
                    f"INSERT INTO experiments ({', '.join(columns)}) "
                    f"VALUES ({d.marks(len(values))})"
                ),
                values,
            )
            if experiment.tags:
                cur.executemany(
                    d.sql(
                        'INSERT INTO experiment_tags ("key", value, experiment_id) VALUES (?, ?, ?)'
                    ),
                    [(k, v, eid) for k, v in sorted(experiment.tags.items())],
                )
            if d.is_postgres:  # the id sequence must move past ids written by hand
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                    "(SELECT MAX(experiment_id) FROM experiments))"
                )

        self._db.write(insert)

    def new_experiment_id(self) -> str:
        """One more than the largest experiment id."""
        d = self._dialect
        top = self._db.read(
            lambda cur: (cur.execute(d.sql("SELECT MAX(experiment_id) FROM experiments")), cur)[
                1
            ].fetchone()[0]
        )
        return str(int(top or 0) + 1)

    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """Insert a run with its id, times, status and stage, and all its data, in one go."""
        d, writer = self._dialect, self._writer
        info = run.info
        run_id = info.run_id
        for column, value in (
            ("name", info.run_name),
            ("user_id", info.user_id),
            ("artifact_uri", info.artifact_uri),
        ):
            self._check("runs", column, value)
        tag_rows = sorted((k, v, run_id) for k, v in run.data.tags.items())
        param_rows = sorted((k, v, run_id) for k, v in run.data.params.items())
        rows, latest_rows = metric_rows(run_id, metrics)
        inputs = run.inputs.dataset_inputs
        stage = LifecycleStage.ACTIVE if inputs else info.lifecycle_stage

        def insert(cur: Any) -> None:
            cur.execute(
                d.sql(f"SELECT 1 FROM runs WHERE {d.key_equals('run_uuid')}"), d.key_params(run_id)
            )
            if cur.fetchone() is not None:
                raise already_exists(f"Run {run_id!r}")
            cur.execute(
                d.sql(RUN_INSERT),
                (
                    run_id,
                    int(info.experiment_id),
                    info.run_name,
                    info.user_id,
                    info.status,
                    info.start_time,
                    info.end_time,
                    stage,
                    info.artifact_uri,
                    "UNKNOWN",
                    "",
                    "",
                    "",
                    None,
                ),
            )
            if tag_rows:
                cur.executemany(
                    d.sql('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)'), tag_rows
                )
            if param_rows:
                cur.executemany(
                    d.sql('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)'),
                    param_rows,
                )
            if rows:
                writer.insert_metrics(cur, rows)
                writer.update_latest(cur, latest_rows)

        self._db.write(insert)
        if inputs:
            self.log_inputs(run_id, inputs)
            if info.lifecycle_stage != LifecycleStage.ACTIVE:
                self._set_stage(run_id, info.lifecycle_stage)

    def _set_stage(self, run_id: str, stage: str) -> None:
        d = self._dialect
        deleted = None
        if stage == LifecycleStage.DELETED:
            from trackyard.stores import now_ms

            deleted = now_ms()
        self._db.write(
            lambda cur: cur.execute(
                d.sql("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?"),
                (stage, deleted, run_id),
            )
        )

    def import_run_data(self, run_id: str, metrics: Sequence[Metric], data: RunData) -> None:
        """Add points, params and tags to a run in any stage, in one transaction."""
        d, writer = self._dialect, self._writer
        rows, latest_rows = metric_rows(run_id, metrics)
        param_rows = sorted((k, v, run_id) for k, v in data.params.items())
        tag_rows = sorted((k, v, run_id) for k, v in data.tags.items())
        new_name = data.tags.get(_RUN_NAME_TAG)

        def write(cur: Any) -> None:
            self._run_row(cur, run_id)
            if param_rows:
                writer.write_params(cur, run_id, param_rows)
            if tag_rows:
                writer.upsert(cur, writer.sql_upsert_tag, "tags", "run_uuid", tag_rows)
                if new_name is not None:
                    cur.execute(
                        d.sql("UPDATE runs SET name = ? WHERE run_uuid = ?"), (new_name, run_id)
                    )
            if rows:
                writer.insert_metrics(cur, rows)
                writer.update_latest(cur, latest_rows)

        self._db.write(write)

    def import_run_info(self, info: RunInfo) -> None:
        """Set a run's status, end time, name and lifecycle stage, in one statement."""
        d = self._dialect
        deleted = None
        if info.lifecycle_stage == LifecycleStage.DELETED:
            from trackyard.stores import now_ms

            deleted = now_ms()

        def update(cur: Any) -> None:
            self._run_row(cur, info.run_id)
            cur.execute(
                d.sql(
                    "UPDATE runs SET status = ?, end_time = ?, name = ?, lifecycle_stage = ?, "
                    "deleted_time = ? WHERE run_uuid = ?"
                ),
                (
                    info.status,
                    info.end_time,
                    info.run_name,
                    info.lifecycle_stage,
                    deleted,
                    info.run_id,
                ),
            )

        self._db.write(update)

    def read_metric_points(self, run_id: str, keys: Sequence[str]) -> list[Metric]:
        """Every point of a run's metrics ``keys``, in one query."""
        from trackyard_sql.runs import py_metric_value

        d = self._dialect
        wanted = set(keys)

        def read(cur: Any) -> list[Metric]:
            self._run_row(cur, run_id)
            cur.execute(
                d.sql(
                    'SELECT "key", value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? '
                    'ORDER BY "key", timestamp, step, value'
                ),
                (run_id,),
            )
            rows = cur.fetchall()
            if not wanted.issuperset(map(_FIRST, rows)):
                rows = [row for row in rows if row[0] in wanted]
            values = list(map(_SECOND, rows))
            if any(map(_FIFTH, rows)) or DBL_MAX in values or -DBL_MAX in values:
                # NaN and +/-inf are stored encoded
                return [
                    Metric(
                        key,
                        py_metric_value(value, nan) if nan or value in _EXTREMES else value,
                        ts,
                        step,
                    )
                    for key, value, ts, step, nan in rows
                ]
            return list(starmap(Metric, map(_FIRST_FOUR, rows)))  # (key, value, ts, step)

        return self._db.read(read)
