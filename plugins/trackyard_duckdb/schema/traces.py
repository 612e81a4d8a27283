"""Trace tables: trace summaries, their tags and metadata, spans and assessments.

Not MLflow's layout (the SQL store has that); what differs, and why:

- one narrow ``traces`` row per trace holds what searches filter and sort on; tags and
  metadata are key-value tables keyed by the trace id, as run tags are;
- a span row keeps the span's JSON (MLflow's form) with its name, type and status beside it
  for ``span.`` filters; an assessment row keeps the assessment's JSON (MLflow's form) with
  its trace and creation time;
- no primary keys or indexes, as in :mod:`.tracking`: the store enforces uniqueness under
  its per-database write lock, and DuckDB's zone maps prune scans by trace id well enough.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "NAME", "TABLES", "VERSION"]

NAME = "traces"
VERSION = 1

#: Tables of this family, parents first.
TABLES: tuple[str, ...] = (
    "traces",
    "trace_tags",
    "trace_metadata",
    "trace_spans",
    "trace_assessments",
)

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE traces (
            trace_id VARCHAR NOT NULL,
            experiment_id BIGINT NOT NULL,
            request_time BIGINT NOT NULL,
            execution_duration BIGINT,
            state VARCHAR NOT NULL,
            request_preview VARCHAR,
            response_preview VARCHAR,
            client_request_id VARCHAR
        )""",
        """CREATE TABLE trace_tags (
            trace_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE trace_metadata (
            trace_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE trace_spans (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            start_time_ns BIGINT NOT NULL,
            content VARCHAR NOT NULL
        )""",
        """CREATE TABLE trace_assessments (
            assessment_id VARCHAR NOT NULL,
            trace_id VARCHAR NOT NULL,
            created BIGINT NOT NULL,
            content VARCHAR NOT NULL
        )""",
    ],
}
