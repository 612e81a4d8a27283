"""MLflow 3's logged models with their params, tags and metrics (not used by trackyard yet).

Part of MLflow 3.17.2's head schema (see :mod:`trackyard_sql.schema`), in the notation of
:mod:`trackyard_sql.schema._ddl`.
"""

from __future__ import annotations

from trackyard_sql.schema._ddl import TableSpec, table

__all__ = ["TABLES"]

TABLES: tuple[TableSpec, ...] = (
    table(
        "logged_models",
        "model_id VARCHAR(36) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "name VARCHAR(500) NOT NULL",
        "artifact_location VARCHAR(1000) NOT NULL",
        "creation_timestamp_ms BIGINT NOT NULL",
        "last_updated_timestamp_ms BIGINT NOT NULL",
        "status INTEGER NOT NULL",
        "lifecycle_stage VARCHAR(32)",
        "model_type VARCHAR(500)",
        "source_run_id VARCHAR(32)",
        "status_message VARCHAR(1000)",
        "PRIMARY KEY logged_models_pk (model_id)",
        "FOREIGN KEY fk_logged_models_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE CASCADE",
        "CHECK logged_models_lifecycle_stage_check (lifecycle_stage IN ('active', 'deleted'))",
    ),
    table(
        "logged_model_params",
        "model_id VARCHAR(36) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "param_key VARCHAR(255) NOT NULL",
        "param_value TEXT NOT NULL",
        "PRIMARY KEY logged_model_params_pk (model_id, param_key)",
        "FOREIGN KEY fk_logged_model_params_experiment_id (experiment_id) REFERENCES "
        "experiments (experiment_id)",
        "FOREIGN KEY fk_logged_model_params_model_id (model_id) REFERENCES logged_models "
        "(model_id) ON DELETE CASCADE",
    ),
    table(
        "logged_model_tags",
        "model_id VARCHAR(36) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "tag_key VARCHAR(255) NOT NULL",
        "tag_value TEXT NOT NULL",
        "PRIMARY KEY logged_model_tags_pk (model_id, tag_key)",
        "FOREIGN KEY fk_logged_model_tags_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id)",
        "FOREIGN KEY fk_logged_model_tags_model_id (model_id) REFERENCES logged_models "
        "(model_id) ON DELETE CASCADE",
    ),
    table(
        "logged_model_metrics",
        "model_id VARCHAR(36) NOT NULL",
        "metric_name VARCHAR(500) NOT NULL",
        "metric_timestamp_ms BIGINT NOT NULL",
        "metric_step BIGINT NOT NULL",
        "metric_value DOUBLE",
        "experiment_id INTEGER NOT NULL",
        "run_id VARCHAR(32) NOT NULL",
        "dataset_uuid VARCHAR(36)",
        "dataset_name VARCHAR(500)",
        "dataset_digest VARCHAR(36)",
        "PRIMARY KEY logged_model_metrics_pk (model_id, metric_name, metric_timestamp_ms, "
        "metric_step, run_id)",
        "FOREIGN KEY fk_logged_model_metrics_experiment_id (experiment_id) REFERENCES "
        "experiments (experiment_id)",
        "FOREIGN KEY fk_logged_model_metrics_model_id (model_id) REFERENCES logged_models "
        "(model_id) ON DELETE CASCADE",
        "FOREIGN KEY fk_logged_model_metrics_run_id (run_id) REFERENCES runs (run_uuid) ON "
        "DELETE CASCADE",
        "INDEX index_logged_model_metrics_model_id (model_id)",
    ),
)
