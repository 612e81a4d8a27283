"""Tracking tables: experiments, runs, params, tags and metrics, laid out for column scans.

Not MLflow's layout. What differs, and why:

- Runs have a dense integer ``run_key`` besides their ``run_id``; every child table joins on
  it (integers hash, compare and compress better than 32-character ids, and zone maps on a
  key that grows with creation time prune well).
- ``metric_series`` holds one row per (run, metric key) with its *latest* point, so a
  filter or sort on a metric reads one narrow row per run. It also records the greatest
  ``(timestamp, step)`` of the history (``log_batch`` skips the duplicate check for points
  newer than that: the common case), the number of points, and whether the history is
  ``ordered``: its chunks do not overlap and each is sorted, so the history is the chunks'
  lists in the order of their first point, with no sort.
- ``metric_chunks`` holds the points, columnar inside the row: one row per series per
  ``log_batch`` with the batch's steps, timestamps and values as lists (sorted in history
  order). An ART index on ``series_key`` finds a series' few chunk rows without scanning
  others; small chunks (many single ``log_metric`` calls) are merged as they accumulate.
- NaN and +/-inf are stored as themselves (DuckDB's DOUBLE has them).
- A run deleted together with its experiment is marked (``deleted_with_experiment``), so
  restoring the experiment restores exactly those runs.
- Logged models (version 2) key on their ``model_id`` (``m-<hex>``): ``logged_models`` holds
  one row each (``status`` as MLflow's integer, ``lifecycle_stage`` for deleted ones), with
  ``logged_model_tags``, ``logged_model_params`` and ``logged_model_metrics`` (one row per
  point: key, value, timestamp, step, the run id and the dataset name and digest; NaN and
  infinities kept as themselves, as for run metrics). Each child table has an index on
  ``model_id``, so one model's rows are found without scanning the others'.
- No foreign keys or primary keys: DuckDB checks them eagerly and they would slow bulk
  inserts; the store enforces uniqueness itself under its per-database write lock (one
  writing process per file is DuckDB's rule anyway).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "NAME", "TABLES", "VERSION"]

NAME = "tracking"
VERSION = 2

#: Tables of this family, parents first.
TABLES: tuple[str, ...] = (
    "experiments",
    "experiment_tags",
    "runs",
    "run_params",
    "run_tags",
    "metric_series",
    "metric_chunks",
    "logged_models",
    "logged_model_tags",
    "logged_model_params",
    "logged_model_metrics",
)

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE experiments (
            experiment_id BIGINT NOT NULL,
            name VARCHAR NOT NULL,
            artifact_location VARCHAR NOT NULL,
            lifecycle_stage VARCHAR NOT NULL,
            creation_time BIGINT,
            last_update_time BIGINT
        )""",
        """CREATE TABLE experiment_tags (
            experiment_id BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE runs (
            run_key BIGINT NOT NULL,
            run_id VARCHAR NOT NULL,
            experiment_id BIGINT NOT NULL,
            name VARCHAR,
            user_id VARCHAR,
            status VARCHAR NOT NULL,
            start_time BIGINT,
            end_time BIGINT,
            lifecycle_stage VARCHAR NOT NULL,
            artifact_uri VARCHAR,
            deleted_time BIGINT,
            deleted_with_experiment BOOLEAN NOT NULL DEFAULT FALSE
        )""",
        "CREATE UNIQUE INDEX runs_by_run_id ON runs (run_id)",
        """CREATE TABLE run_params (
            run_key BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE run_tags (
            run_key BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE metric_series (
            series_key BIGINT NOT NULL,
            run_key BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            timestamp BIGINT NOT NULL,
            step BIGINT NOT NULL,
            last_timestamp BIGINT NOT NULL,
            last_step BIGINT NOT NULL,
            points BIGINT NOT NULL,
            small_chunks INTEGER NOT NULL,
            ordered BOOLEAN NOT NULL
        )""",
        """CREATE TABLE metric_chunks (
            chunk_key BIGINT NOT NULL,
            series_key BIGINT NOT NULL,
            points INTEGER NOT NULL,
            first_timestamp BIGINT NOT NULL,
            first_step BIGINT NOT NULL,
            last_timestamp BIGINT NOT NULL,
            last_step BIGINT NOT NULL,
            steps BIGINT[] NOT NULL,
            timestamps BIGINT[] NOT NULL,
            vals DOUBLE[] NOT NULL
        )""",
        "CREATE INDEX metric_chunks_by_series ON metric_chunks (series_key)",
    ],
    2: [
        """CREATE TABLE logged_models (
            model_id VARCHAR NOT NULL,
            experiment_id BIGINT NOT NULL,
            name VARCHAR NOT NULL,
            artifact_location VARCHAR NOT NULL,
            creation_timestamp BIGINT NOT NULL,
            last_updated_timestamp BIGINT NOT NULL,
            model_type VARCHAR,
            source_run_id VARCHAR,
            status INTEGER NOT NULL,
            status_message VARCHAR,
            lifecycle_stage VARCHAR NOT NULL
        )""",
        "CREATE UNIQUE INDEX logged_models_by_id ON logged_models (model_id)",
        """CREATE TABLE logged_model_tags (
            model_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        "CREATE INDEX logged_model_tags_by_model ON logged_model_tags (model_id)",
        """CREATE TABLE logged_model_params (
            model_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        "CREATE INDEX logged_model_params_by_model ON logged_model_params (model_id)",
        """CREATE TABLE logged_model_metrics (
            model_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            timestamp BIGINT NOT NULL,
            step BIGINT NOT NULL,
            run_id VARCHAR NOT NULL,
            dataset_name VARCHAR,
            dataset_digest VARCHAR
        )""",
        "CREATE INDEX logged_model_metrics_by_model ON logged_model_metrics (model_id)",
    ],
}
