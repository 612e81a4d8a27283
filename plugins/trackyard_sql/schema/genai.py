"""GenAI evaluation: evaluation datasets, scorers, labeling schemas, review queues and issues
(not used by trackyard yet).

Part of MLflow 3.17.2's head schema (see :mod:`trackyard_sql.schema`), in the notation of
:mod:`trackyard_sql.schema._ddl`.
"""

from __future__ import annotations

from trackyard_sql.schema._ddl import TableSpec, table

__all__ = ["TABLES"]

TABLES: tuple[TableSpec, ...] = (
    table(
        "evaluation_datasets",
        "dataset_id VARCHAR(36) NOT NULL",
        "name VARCHAR(255) NOT NULL",
        "schema TEXT",
        "profile TEXT",
        "digest VARCHAR(64)",
        "created_time BIGINT",
        "last_update_time BIGINT",
        "created_by VARCHAR(255)",
        "last_updated_by VARCHAR(255)",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY evaluation_datasets_pk (dataset_id)",
        "INDEX idx_evaluation_datasets_workspace (workspace)",
        "INDEX index_evaluation_datasets_created_time (created_time)",
        "INDEX index_evaluation_datasets_name (name)",
    ),
    table(
        "evaluation_dataset_records",
        "dataset_record_id VARCHAR(36) NOT NULL",
        "dataset_id VARCHAR(36) NOT NULL",
        "inputs JSON NOT NULL",
        "expectations JSON",
        "tags JSON",
        "source JSON",
        "source_id VARCHAR(36)",
        "source_type VARCHAR(255)",
        "created_time BIGINT",
        "last_update_time BIGINT",
        "created_by VARCHAR(255)",
        "last_updated_by VARCHAR(255)",
        "input_hash VARCHAR(64) NOT NULL",
        "outputs JSON",
        "PRIMARY KEY evaluation_dataset_records_pk (dataset_record_id)",
        "FOREIGN KEY fk_evaluation_dataset_records_dataset_id (dataset_id) REFERENCES "
        "evaluation_datasets (dataset_id) ON DELETE CASCADE",
        "UNIQUE unique_dataset_input (dataset_id, input_hash)",
        "INDEX index_evaluation_dataset_records_dataset_id (dataset_id)",
    ),
    table(
        "evaluation_dataset_tags",
        "dataset_id VARCHAR(36) NOT NULL",
        "key VARCHAR(255) NOT NULL",
        "value VARCHAR(5000)",
        "PRIMARY KEY evaluation_dataset_tags_pk (dataset_id, key)",
        "FOREIGN KEY fk_evaluation_dataset_tags_dataset_id (dataset_id) REFERENCES "
        "evaluation_datasets (dataset_id) ON DELETE CASCADE",
        "INDEX index_evaluation_dataset_tags_dataset_id (dataset_id)",
    ),
    table(
        "scorers",
        "experiment_id INTEGER NOT NULL",
        "scorer_name VARCHAR(256) NOT NULL",
        "scorer_id VARCHAR(36) NOT NULL",
        "PRIMARY KEY scorer_pk (scorer_id)",
        "FOREIGN KEY fk_scorers_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE CASCADE",
        "UNIQUE INDEX index_scorers_experiment_id_scorer_name (experiment_id, scorer_name)",
    ),
    table(
        "scorer_versions",
        "scorer_id VARCHAR(36) NOT NULL",
        "scorer_version INTEGER NOT NULL",
        "serialized_scorer TEXT NOT NULL",
        "creation_time BIGINT",
        "PRIMARY KEY scorer_version_pk (scorer_id, scorer_version)",
        "FOREIGN KEY fk_scorer_versions_scorer_id (scorer_id) REFERENCES scorers (scorer_id) ON "
        "DELETE CASCADE",
        "INDEX index_scorer_versions_scorer_id (scorer_id)",
    ),
    table(
        "online_scoring_configs",
        "online_scoring_config_id VARCHAR(36) NOT NULL",
        "scorer_id VARCHAR(36) NOT NULL",
        "sample_rate DOUBLE NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "filter_string TEXT",
        "PRIMARY KEY online_scoring_config_pk (online_scoring_config_id)",
        "FOREIGN KEY fk_online_scoring_configs_scorer_id (scorer_id) REFERENCES scorers "
        "(scorer_id) ON DELETE CASCADE",
        "FOREIGN KEY fk_online_scoring_configs_experiment_id (experiment_id) REFERENCES "
        "experiments (experiment_id)",
    ),
    table(
        "label_schemas",
        "schema_id VARCHAR(36) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "name VARCHAR(250) NOT NULL",
        "type VARCHAR(16) NOT NULL",
        "instruction TEXT",
        "enable_comment BOOLEAN NOT NULL DEFAULT '0'",
        "input_type VARCHAR(32) NOT NULL",
        "input_config TEXT NOT NULL",
        "created_by VARCHAR(255)",
        "created_time BIGINT NOT NULL",
        "last_update_time BIGINT NOT NULL",
        "is_default BOOLEAN NOT NULL DEFAULT 0",
        "PRIMARY KEY label_schemas_pk (schema_id)",
        "FOREIGN KEY fk_label_schemas_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE CASCADE",
        "UNIQUE uq_label_schemas_exp_name (experiment_id, name)",
        "INDEX index_label_schemas_experiment_id (experiment_id)",
    ),
    table(
        "review_queues",
        "queue_id VARCHAR(36) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "name VARCHAR(250) NOT NULL",
        "queue_type VARCHAR(16) NOT NULL",
        "created_by VARCHAR(255)",
        "creation_time_ms BIGINT NOT NULL",
        "last_update_time_ms BIGINT NOT NULL",
        "name_key VARCHAR(250) NOT NULL",
        "PRIMARY KEY review_queues_pk (queue_id)",
        "FOREIGN KEY fk_review_queues_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE CASCADE",
        "UNIQUE uq_review_queues_experiment_name_key (experiment_id, name_key)",
        "INDEX index_review_queues_experiment_id (experiment_id)",
    ),
    table(
        "review_queue_items",
        "queue_id VARCHAR(36) NOT NULL",
        "item_type VARCHAR(16) NOT NULL",
        "item_id VARCHAR(50) NOT NULL",
        "status VARCHAR(16) NOT NULL",
        "completed_by VARCHAR(250)",
        "completed_time_ms BIGINT",
        "creation_time_ms BIGINT NOT NULL",
        "last_update_time_ms BIGINT NOT NULL",
        "PRIMARY KEY review_queue_items_pk (queue_id, item_id)",
        "FOREIGN KEY fk_review_queue_items_queue_id (queue_id) REFERENCES review_queues "
        "(queue_id) ON DELETE CASCADE",
        "INDEX index_review_queue_items_item_id (item_id)",
        "INDEX index_review_queue_items_queue_id_status (queue_id, status)",
    ),
    table(
        "review_queue_label_schemas",
        "queue_id VARCHAR(36) NOT NULL",
        "schema_id VARCHAR(36) NOT NULL",
        "PRIMARY KEY review_queue_label_schemas_pk (queue_id, schema_id)",
        "FOREIGN KEY fk_review_queue_label_schemas_queue_id (queue_id) REFERENCES review_queues "
        "(queue_id) ON DELETE CASCADE",
        "INDEX index_review_queue_label_schemas_schema_id (schema_id)",
    ),
    table(
        "review_queue_users",
        "queue_id VARCHAR(36) NOT NULL",
        "user_id VARCHAR(250) NOT NULL",
        "PRIMARY KEY review_queue_users_pk (queue_id, user_id)",
        "FOREIGN KEY fk_review_queue_users_queue_id (queue_id) REFERENCES review_queues "
        "(queue_id) ON DELETE CASCADE",
        "INDEX index_review_queue_users_user_id (user_id)",
    ),
    table(
        "issues",
        "issue_id VARCHAR(36) NOT NULL",
        "experiment_id INTEGER NOT NULL",
        "name VARCHAR(250) NOT NULL",
        "description TEXT NOT NULL",
        "status VARCHAR(50) NOT NULL",
        "severity VARCHAR(50)",
        "root_causes TEXT",
        "source_run_id VARCHAR(32)",
        "categories TEXT",
        "created_timestamp BIGINT NOT NULL",
        "last_updated_timestamp BIGINT NOT NULL",
        "created_by VARCHAR(255)",
        "PRIMARY KEY issues_pk (issue_id)",
        "FOREIGN KEY fk_issues_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE CASCADE",
        "FOREIGN KEY fk_issues_source_run_id (source_run_id) REFERENCES runs (run_uuid) ON "
        "DELETE SET NULL",
        "INDEX index_issues_experiment_id (experiment_id)",
        "INDEX index_issues_source_run_id (source_run_id)",
        "INDEX index_issues_status (status)",
    ),
)
