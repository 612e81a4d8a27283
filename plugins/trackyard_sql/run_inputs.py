"""Run inputs and outputs in MLflow's ``datasets``, ``inputs`` and ``input_tags`` tables.

Rows are MLflow's: a dataset row per (experiment, name, digest) with a ``dataset_uuid``; a
dataset input is an ``inputs`` row ``DATASET -> RUN`` with its ``input_tags``; a model input
is ``RUN_INPUT (run) -> MODEL_INPUT (model id)`` and a model output
``RUN_OUTPUT (run) -> MODEL_OUTPUT (model id)`` with its step. The primary key of ``inputs``
makes logging the same input twice a no-op (a model output logged again gets the new step).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import DatasetInput, LoggedModelInput, LoggedModelOutput
from trackyard_sql.database import chunks

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect
    from trackyard_sql.writes import RunWriter

__all__ = ["SqlRunInputs", "load_model_links"]

_RUN_INPUT = ("RUN_INPUT", "MODEL_INPUT")
_RUN_OUTPUT = ("RUN_OUTPUT", "MODEL_OUTPUT")


def load_model_links(
    d: Dialect,
    cur: Any,
    run_ids: Sequence[str],
    inputs: dict[str, list[LoggedModelInput]],
    outputs: dict[str, list[LoggedModelOutput]],
) -> None:
    """Fill ``inputs`` and ``outputs`` (by run id) with the runs' model inputs and outputs."""
    for chunk in chunks(list(run_ids), 500):
        cur.execute(
            d.sql(
                "SELECT source_type, source_id, destination_id, step FROM inputs "
                f"WHERE source_type IN (?, ?) AND source_id IN ({d.marks(len(chunk))}) "
                "ORDER BY source_id, destination_id"
            ),
            (_RUN_INPUT[0], _RUN_OUTPUT[0], *chunk),
        )
        for source_type, rid, model_id, step in cur.fetchall():
            if source_type == _RUN_INPUT[0]:
                inputs[rid].append(LoggedModelInput(model_id))
            else:
                outputs[rid].append(LoggedModelOutput(model_id, int(step or 0)))


class SqlRunInputs:
    """``log_inputs`` and ``log_outputs`` of the SQL tracking store."""

    _db: Database
    _dialect: Dialect
    _writer: RunWriter

    if TYPE_CHECKING:

        def _model_row(
            self, cur: Any, model_id: str, allow_deleted: bool = False
        ) -> tuple[Any, ...]: ...

    def _run_experiment(self, cur: Any, run_id: str) -> Any:
        self._writer.lock_active_run(cur, run_id)
        cur.execute(
            self._dialect.sql("SELECT experiment_id FROM runs WHERE run_uuid = ?"), (run_id,)
        )
        return cur.fetchone()[0]

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record dataset and model inputs of an active run in one transaction."""
        d = self._dialect
        first: dict[tuple[str, str], DatasetInput] = {}
        for item in datasets or ():
            first.setdefault((item.dataset.name, item.dataset.digest), item)
        for item in first.values():
            for tag in item.tags:
                self._db.check_width("input_tags", "name", tag.key, "input tag key")
                self._db.check_width("input_tags", "value", tag.value, "input tag value")
        model_ids = sorted({m.model_id for m in models or ()})

        def write(cur: Any) -> None:
            experiment_id = self._run_experiment(cur, run_id)
            for model_id in model_ids:
                self._model_row(cur, model_id)
            for (name, digest), item in sorted(first.items()):
                cur.execute(
                    d.sql(
                        "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND "
                        f"{d.key_equals('name')} AND {d.key_equals('digest')}"
                    ),
                    (experiment_id, *d.key_params(name), *d.key_params(digest)),
                )
                row = cur.fetchone()
                if row is None:
                    dataset_uuid = uuid.uuid4().hex
                    ds = item.dataset
                    cur.execute(
                        d.sql(
                            "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, "
                            "dataset_source_type, dataset_source, dataset_schema, "
                            "dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                        ),
                        (
                            dataset_uuid,
                            experiment_id,
                            name,
                            digest,
                            ds.source_type,
                            ds.source,
                            ds.schema,
                            ds.profile,
                        ),
                    )
                else:
                    dataset_uuid = row[0]
                if self._link_exists(cur, "DATASET", dataset_uuid, "RUN", run_id):
                    continue
                input_uuid = uuid.uuid4().hex
                self._insert_link(cur, input_uuid, "DATASET", dataset_uuid, "RUN", run_id, 0)
                if item.tags:
                    tags = {t.key: t.value for t in item.tags}
                    cur.executemany(
                        d.sql("INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)"),
                        [(input_uuid, k, v) for k, v in sorted(tags.items())],
                    )
            for model_id in model_ids:
                if not self._link_exists(cur, *_RUN_INPUT[:1], run_id, _RUN_INPUT[1], model_id):
                    self._insert_link(
                        cur, uuid.uuid4().hex, _RUN_INPUT[0], run_id, _RUN_INPUT[1], model_id, 0
                    )

        self._db.write(write)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models an active run produced (a model logged again gets the new step)."""
        d = self._dialect
        steps = {m.model_id: m.step for m in models}

        def write(cur: Any) -> None:
            self._run_experiment(cur, run_id)
            for model_id in sorted(steps):
                self._model_row(cur, model_id)
            for model_id, step in sorted(steps.items()):
                if self._link_exists(cur, _RUN_OUTPUT[0], run_id, _RUN_OUTPUT[1], model_id):
                    cur.execute(
                        d.sql(
                            "UPDATE inputs SET step = ? WHERE source_type = ? AND source_id = ? "
                            "AND destination_type = ? AND destination_id = ?"
                        ),
                        (step, _RUN_OUTPUT[0], run_id, _RUN_OUTPUT[1], model_id),
                    )
                else:
                    self._insert_link(
                        cur,
                        uuid.uuid4().hex,
                        _RUN_OUTPUT[0],
                        run_id,
                        _RUN_OUTPUT[1],
                        model_id,
                        step,
                    )

        self._db.write(write)

    def _link_exists(
        self, cur: Any, source_type: str, source_id: str, dest_type: str, dest_id: str
    ) -> bool:
        cur.execute(
            self._dialect.sql(
                "SELECT 1 FROM inputs WHERE source_type = ? AND source_id = ? AND "
                "destination_type = ? AND destination_id = ?"
            ),
            (source_type, source_id, dest_type, dest_id),
        )
        return cur.fetchone() is not None

    def _insert_link(
        self,
        cur: Any,
        input_uuid: str,
        source_type: str,
        source_id: str,
        dest_type: str,
        dest_id: str,
        step: int,
    ) -> None:
        cur.execute(
            self._dialect.sql(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
                "destination_id, step) VALUES (?, ?, ?, ?, ?, ?)"
            ),
            (input_uuid, source_type, source_id, dest_type, dest_id, step),
        )
