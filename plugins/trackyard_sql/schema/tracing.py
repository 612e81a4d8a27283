"""Traces, spans, trace metrics, assessments and entity associations (not used by trackyard yet).

Part of MLflow 3.17.2's head schema (see :mod:`trackyard_sql.schema`), in the notation of
:mod:`trackyard_sql.schema._ddl`.
"""

from __future__ import annotations

from trackyard_sql.schema._ddl import TableSpec, table

__all__ = ["TABLES"]

TABLES: tuple[TableSpec, ...] = (
    table(
        "trace_info",
        "request_id VARCHAR(50) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "timestamp_ms BIGINT NOT NULL",
        "execution_time_ms BIGINT",
        "status VARCHAR(50) NOT NULL",
        "client_request_id VARCHAR(50)",
        "request_preview VARCHAR(1000)",
        "response_preview VARCHAR(1000)",
        "db_payload_generation INTEGER NOT NULL DEFAULT '0'",
        "trace_name VARCHAR(4096)",
        "session_id VARCHAR(250)",
        "input_tokens BIGINT",
        "output_tokens BIGINT",
        "total_tokens BIGINT",
        "cache_read_input_tokens BIGINT",
        "cache_creation_input_tokens BIGINT",
        "cache_creation_input_tokens_above_1hr BIGINT",
        "input_cost DOUBLE",
        "output_cost DOUBLE",
        "total_cost DOUBLE",
        "PRIMARY KEY trace_info_pk (request_id)",
        "FOREIGN KEY fk_trace_info_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE CASCADE",
        "INDEX index_trace_info_experiment_id_session_id (experiment_id, session_id)",
        "INDEX index_trace_info_experiment_id_timestamp_ms (experiment_id, timestamp_ms)",
        "INDEX index_trace_info_timestamp_ms_request_id (timestamp_ms, request_id)",
    ),
    table(
        "trace_tags",
        "key VARCHAR(250) NOT NULL",
        "value VARCHAR(8000)",
        "request_id VARCHAR(50) NOT NULL",
        "PRIMARY KEY trace_tag_pk (key, request_id)",
        "FOREIGN KEY fk_trace_tags_request_id (request_id) REFERENCES trace_info (request_id) "
        "ON DELETE CASCADE",
        "INDEX index_trace_tags_request_id (request_id)",
    ),
    table(
        "trace_request_metadata",
        "key VARCHAR(250) NOT NULL",
        "value VARCHAR(8000)",
        "request_id VARCHAR(50) NOT NULL",
        "PRIMARY KEY trace_request_metadata_pk (key, request_id)",
        "FOREIGN KEY fk_trace_request_metadata_request_id (request_id) REFERENCES trace_info "
        "(request_id) ON DELETE CASCADE",
        "INDEX index_trace_request_metadata_request_id (request_id)",
    ),
    table(
        "trace_metrics",
        "request_id VARCHAR(50) NOT NULL",
        "key VARCHAR(250) NOT NULL",
        "value DOUBLE",
        "PRIMARY KEY trace_metrics_pk (request_id, key)",
        "FOREIGN KEY fk_trace_metrics_request_id (request_id) REFERENCES trace_info "
        "(request_id) ON DELETE CASCADE",
        "INDEX index_trace_metrics_request_id (request_id)",
    ),
    table(
        "spans",
        "trace_id VARCHAR(50) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "span_id VARCHAR(50) NOT NULL",
        "parent_span_id VARCHAR(50)",
        "name TEXT",
        "type VARCHAR(500)",
        "status VARCHAR(50) NOT NULL",
        "start_time_unix_nano BIGINT NOT NULL",
        "end_time_unix_nano BIGINT",
        "duration_ns BIGINT AS (end_time_unix_nano - start_time_unix_nano) STORED",
        "content LONGTEXT NOT NULL",
        "input_cost DOUBLE",
        "output_cost DOUBLE",
        "total_cost DOUBLE",
        "model_name VARCHAR(500)",
        "model_provider VARCHAR(500)",
        "PRIMARY KEY spans_pk (trace_id, span_id)",
        "FOREIGN KEY fk_spans_experiment_id (experiment_id) REFERENCES experiments (experiment_id)",
        "FOREIGN KEY fk_spans_trace_id (trace_id) REFERENCES trace_info (request_id) ON DELETE "
        "CASCADE",
        "INDEX idx_spans_cost_exp_time_cover (experiment_id, start_time_unix_nano)",
        "INDEX idx_spans_cost_trace_time_cover (trace_id, start_time_unix_nano)",
        "INDEX index_spans_experiment_id_duration (experiment_id, duration_ns)",
        "INDEX index_spans_experiment_id_start_time (experiment_id, start_time_unix_nano)",
        "INDEX index_spans_experiment_id_status_type (experiment_id, status, type)",
        "INDEX index_spans_experiment_id_type_status (experiment_id, type, status)",
        "postgresql: INDEX idx_spans_cost_exp_time_cover (experiment_id, start_time_unix_nano) "
        "INCLUDE (input_cost, output_cost, total_cost, model_name, model_provider) "
        "WHERE ((input_cost IS NOT NULL) OR (output_cost IS NOT NULL) "
        "OR (total_cost IS NOT NULL))",
        "postgresql: INDEX idx_spans_cost_trace_time_cover (trace_id, start_time_unix_nano) "
        "INCLUDE (input_cost, output_cost, total_cost, model_name, model_provider) "
        "WHERE ((input_cost IS NOT NULL) OR (output_cost IS NOT NULL) "
        "OR (total_cost IS NOT NULL))",
    ),
    table(
        "span_metrics",
        "trace_id VARCHAR(50) NOT NULL",
        "span_id VARCHAR(50) NOT NULL",
        "key VARCHAR(250) NOT NULL",
        "value DOUBLE",
        "PRIMARY KEY span_metrics_pk (trace_id, span_id, key)",
        "FOREIGN KEY fk_span_metrics_span (trace_id, span_id) REFERENCES spans (trace_id, "
        "span_id) ON DELETE CASCADE",
        "INDEX index_span_metrics_trace_id_span_id (trace_id, span_id)",
    ),
    table(
        "assessments",
        "assessment_id VARCHAR(50) NOT NULL",
        "trace_id VARCHAR(50) NOT NULL",
        "name VARCHAR(250) NOT NULL",
        "assessment_type VARCHAR(20) NOT NULL",
        "value TEXT NOT NULL",
        "error TEXT",
        "created_timestamp BIGINT NOT NULL",
        "last_updated_timestamp BIGINT NOT NULL",
        "source_type VARCHAR(50) NOT NULL",
        "source_id VARCHAR(250)",
        "run_id VARCHAR(32)",
        "span_id VARCHAR(50)",
        "rationale TEXT",
        "overrides VARCHAR(50)",
        "valid BOOLEAN NOT NULL",
        "assessment_metadata TEXT",
        "experiment_id INTEGER",
        "trace_timestamp_ms BIGINT",
        "aggregate_value DOUBLE",
        "is_numeric_value BOOLEAN NOT NULL DEFAULT 0",
        "PRIMARY KEY assessments_pk (assessment_id)",
        "FOREIGN KEY fk_assessments_trace_id (trace_id) REFERENCES trace_info (request_id) ON "
        "DELETE CASCADE",
        "INDEX idx_assessments_exp_name_valid (experiment_id, name, valid)",
        "INDEX idx_assessments_exp_trace_ts (experiment_id, trace_timestamp_ms)",
        "INDEX idx_assessments_exp_trace_ts_name (experiment_id, trace_timestamp_ms, name)",
        "INDEX index_assessments_assessment_type (assessment_type)",
        "INDEX index_assessments_last_updated_timestamp (last_updated_timestamp)",
        "INDEX index_assessments_run_id_created_timestamp (run_id, created_timestamp)",
        "INDEX index_assessments_trace_id_created_timestamp (trace_id, created_timestamp)",
    ),
    table(
        "entity_associations",
        "association_id VARCHAR(36) NOT NULL",
        "source_type VARCHAR(36) NOT NULL",
        "source_id VARCHAR(36) NOT NULL",
        "destination_type VARCHAR(36) NOT NULL",
        "destination_id VARCHAR(36) NOT NULL",
        "created_time BIGINT",
        "PRIMARY KEY entity_associations_pk (source_type, source_id, destination_type, "
        "destination_id)",
        "INDEX index_entity_associations_association_id (association_id)",
        "INDEX index_entity_associations_reverse_lookup (destination_type, destination_id, "
        "source_type, source_id)",
    ),
)
