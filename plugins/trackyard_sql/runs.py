"""Reading runs and experiments: rows to entities, a page of runs in a few batched queries.

Metric values: NaN is stored as ``value=0, is_nan=1`` and +/-inf as +/-1.7976931348623157e308
(as MLflow stores them); **unlike MLflow**, those two values are read back as +/-inf, so the
SQL store agrees with the file store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trackyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from trackyard_sql.compiler import RUN_COLUMNS
from trackyard_sql.database import chunks
from trackyard_sql.dialect import Dialect
from trackyard_sql.run_inputs import load_model_links
from trackyard_sql.schema import DATASET_SOURCE_TYPE, RUN_DESTINATION_TYPE

__all__ = [
    "DBL_MAX",
    "RunParts",
    "build_run",
    "db_metric_value",
    "experiment_from_row",
    "fetch_run_parts",
    "py_metric_value",
    "run_info_from_row",
    "run_rows",
]

DBL_MAX = 1.7976931348623157e308
_DBL_LIMITS = frozenset({DBL_MAX, -DBL_MAX})
_IN_CHUNK = 500  # ids per IN (...) list
_NO_INPUTS = RunInputs()  # immutable: shared by every run without inputs
_NO_OUTPUTS = RunOutputs()

#: (runs row, latest (key, value, timestamp, step), latest values, params, tags, (dataset
#: inputs, model inputs, model outputs)) of one run: what a Run is built from.
RunParts = tuple[
    tuple[Any, ...],
    list[tuple[str, float, int, int]],
    dict[str, float],
    dict[str, str],
    dict[str, str],
    tuple[Any, ...],
]


def db_metric_value(value: float) -> tuple[float, bool]:
    """Map a metric value to its stored ``(value, is_nan)``."""
    if value != value:
        return 0.0, True
    if value == math.inf:
        return DBL_MAX, False
    if value == -math.inf:
        return -DBL_MAX, False
    return value, False


def py_metric_value(value: float, is_nan: Any) -> float:
    """Map a stored ``(value, is_nan)`` back to the logged value (inf included)."""
    if is_nan:
        return math.nan
    if value == DBL_MAX:
        return math.inf
    if value == -DBL_MAX:
        return -math.inf
    return float(value)


def experiment_from_row(row: Sequence[Any], tags: dict[str, str]) -> Experiment:
    """An Experiment from a row of :data:`~trackyard_sql.compiler.EXPERIMENT_COLUMNS`."""
    return Experiment(
        experiment_id=str(row[0]),
        name=row[1],
        artifact_location=row[2],
        lifecycle_stage=row[3],
        tags=tags,
        creation_time=row[4],
        last_update_time=row[5],
    )


def run_info_from_row(row: Sequence[Any]) -> RunInfo:
    """A RunInfo from a row of :data:`~trackyard_sql.compiler.RUN_COLUMNS`."""
    return RunInfo(
        run_id=row[0],
        experiment_id=str(row[1]),
        run_name=row[2],
        user_id=row[3],
        status=row[4],
        start_time=row[5],
        end_time=row[6],
        lifecycle_stage=row[7],
        artifact_uri=row[8],
    )


def build_run(parts: RunParts) -> Run:
    """A fresh Run from its parts (containers are copied, so callers may change them)."""
    row, metric_rows, metrics, params, tags, links = parts
    data = RunData.from_parts(metric_rows, metrics.copy(), params.copy(), tags.copy())
    datasets, models_in, models_out = links
    run_inputs = RunInputs(datasets, models_in) if datasets or models_in else _NO_INPUTS
    run_outputs = RunOutputs(models_out) if models_out else _NO_OUTPUTS
    return Run(run_info_from_row(row), data, run_inputs, run_outputs)


def run_rows(d: Dialect, cur: Any, run_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The ``runs`` rows of ``run_ids``, in that order (every id must exist)."""
    by_id: dict[str, tuple[Any, ...]] = {}
    columns = ", ".join(RUN_COLUMNS)
    for chunk in chunks(run_ids, _IN_CHUNK):
        cur.execute(
            d.sql(f"SELECT {columns} FROM runs WHERE run_uuid IN ({d.marks(len(chunk))})"), chunk
        )
        for row in cur.fetchall():
            by_id[row[0]] = tuple(row)
    return [by_id[i] for i in run_ids]


def fetch_run_parts(
    d: Dialect, cur: Any, rows: Sequence[Sequence[Any]], *, datasets: bool
) -> dict[str, RunParts]:
    """Latest metrics, params, tags and dataset inputs of ``rows``' runs, by run id."""
    ids = [row[0] for row in rows]
    metrics: dict[str, list[tuple[str, float, int, int]]] = {i: [] for i in ids}
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    inputs: dict[str, list[DatasetInput]] = {i: [] for i in ids}
    models_in: dict[str, list[LoggedModelInput]] = {i: [] for i in ids}
    models_out: dict[str, list[LoggedModelOutput]] = {i: [] for i in ids}
    for chunk in chunks(ids, _IN_CHUNK):
        marks = d.marks(len(chunk))
        cur.execute(
            d.sql(
                'SELECT run_uuid, "key", value, timestamp, step, is_nan FROM latest_metrics '
                f"WHERE run_uuid IN ({marks})"
            ),
            chunk,
        )
        for rid, key, value, ts, step, is_nan in cur.fetchall():
            if is_nan or value in _DBL_LIMITS:
                value = py_metric_value(value, is_nan)
            metrics[rid].append((key, value, ts, step))
        for table, owner in (("params", params), ("tags", tags)):
            cur.execute(
                d.sql(f'SELECT run_uuid, "key", value FROM {table} WHERE run_uuid IN ({marks})'),
                chunk,
            )
            for rid, key, value in cur.fetchall():
                owner[rid][key] = value
        if datasets:
            _load_inputs(d, cur, chunk, inputs)
            load_model_links(d, cur, chunk, models_in, models_out)
    return {
        row[0]: (
            tuple(row),
            metrics[row[0]],
            {m[0]: m[1] for m in metrics[row[0]]},
            params[row[0]],
            tags[row[0]],
            (tuple(inputs[row[0]]), tuple(models_in[row[0]]), tuple(models_out[row[0]])),
        )
        for row in rows
    }


def _load_inputs(
    d: Dialect, cur: Any, run_ids: Sequence[str], out: dict[str, list[DatasetInput]]
) -> None:
    cur.execute(
        d.sql(
            "SELECT i.destination_id, i.input_uuid, ds.name, ds.digest, "
            "ds.dataset_source_type, ds.dataset_source, ds.dataset_schema, "
            "ds.dataset_profile FROM inputs i JOIN datasets ds "
            "ON ds.dataset_uuid = i.source_id WHERE i.source_type = ? "
            f"AND i.destination_type = ? AND i.destination_id IN ({d.marks(len(run_ids))}) "
            "ORDER BY i.destination_id, ds.name, ds.digest, i.input_uuid"
        ),
        (DATASET_SOURCE_TYPE, RUN_DESTINATION_TYPE, *run_ids),
    )
    found = cur.fetchall()
    if not found:
        return
    input_tags: dict[str, list[InputTag]] = {}
    uuids = [row[1] for row in found]
    for chunk in chunks(uuids, _IN_CHUNK):
        cur.execute(
            d.sql(
                "SELECT input_uuid, name, value FROM input_tags "
                f"WHERE input_uuid IN ({d.marks(len(chunk))}) ORDER BY input_uuid, name"
            ),
            chunk,
        )
        for input_uuid, name, value in cur.fetchall():
            input_tags.setdefault(input_uuid, []).append(InputTag(name, value))
    for rid, input_uuid, name, digest, source_type, source, schema, profile in found:
        dataset = Dataset(name, digest, source_type, source, schema, profile)
        out[rid].append(DatasetInput(dataset, tuple(input_tags.get(input_uuid, ()))))
