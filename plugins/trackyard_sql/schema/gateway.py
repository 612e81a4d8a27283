"""The AI gateway: secrets, model definitions, endpoints, budgets and guardrails (not used by
trackyard yet).

Part of MLflow 3.17.2's head schema (see :mod:`trackyard_sql.schema`), in the notation of
:mod:`trackyard_sql.schema._ddl`.
"""

from __future__ import annotations

from trackyard_sql.schema._ddl import TableSpec, table

__all__ = ["TABLES"]

TABLES: tuple[TableSpec, ...] = (
    table(
        "secrets",
        "secret_id VARCHAR(36) NOT NULL",
        "secret_name VARCHAR(255) NOT NULL",
        "encrypted_value BLOB NOT NULL",
        "wrapped_dek BLOB NOT NULL",
        "kek_version INTEGER NOT NULL",
        "masked_value VARCHAR(500) NOT NULL",
        "provider VARCHAR(64)",
        "auth_config TEXT",
        "description TEXT",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "last_updated_by VARCHAR(255)",
        "last_updated_at BIGINT NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY secrets_pk (secret_id)",
        "UNIQUE uq_secrets_workspace_secret_name (workspace, secret_name)",
        "INDEX idx_secrets_workspace (workspace)",
    ),
    table(
        "model_definitions",
        "model_definition_id VARCHAR(36) NOT NULL",
        "name VARCHAR(255) NOT NULL",
        "secret_id VARCHAR(36)",
        "provider VARCHAR(64) NOT NULL",
        "model_name VARCHAR(256) NOT NULL",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "last_updated_by VARCHAR(255)",
        "last_updated_at BIGINT NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY model_definitions_pk (model_definition_id)",
        "FOREIGN KEY fk_model_definitions_secret_id (secret_id) REFERENCES secrets (secret_id) "
        "ON DELETE SET NULL",
        "UNIQUE uq_model_definitions_workspace_name (workspace, name)",
        "INDEX idx_model_definitions_workspace (workspace)",
        "INDEX index_model_definitions_provider (provider)",
        "INDEX index_model_definitions_secret_id (secret_id)",
    ),
    table(
        "endpoints",
        "endpoint_id VARCHAR(36) NOT NULL",
        "name VARCHAR(255)",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "last_updated_by VARCHAR(255)",
        "last_updated_at BIGINT NOT NULL",
        "routing_strategy VARCHAR(64)",
        "fallback_config_json TEXT",
        "experiment_id INTEGER",
        "usage_tracking BOOLEAN NOT NULL DEFAULT '0'",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY endpoints_pk (endpoint_id)",
        "FOREIGN KEY fk_endpoints_experiment_id (experiment_id) REFERENCES experiments "
        "(experiment_id) ON DELETE SET NULL",
        "UNIQUE uq_endpoints_workspace_name (workspace, name)",
        "INDEX idx_endpoints_workspace (workspace)",
    ),
    table(
        "endpoint_model_mappings",
        "mapping_id VARCHAR(36) NOT NULL",
        "endpoint_id VARCHAR(36) NOT NULL",
        "model_definition_id VARCHAR(36) NOT NULL",
        "weight FLOAT NOT NULL",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "linkage_type VARCHAR(64) NOT NULL DEFAULT 'PRIMARY'",
        "fallback_order INTEGER",
        "PRIMARY KEY endpoint_model_mappings_pk (mapping_id)",
        "FOREIGN KEY fk_endpoint_model_mappings_endpoint_id (endpoint_id) REFERENCES endpoints "
        "(endpoint_id) ON DELETE CASCADE",
        "FOREIGN KEY fk_endpoint_model_mappings_model_definition_id (model_definition_id) "
        "REFERENCES model_definitions (model_definition_id)",
        "INDEX index_endpoint_model_mappings_endpoint_id (endpoint_id)",
        "INDEX index_endpoint_model_mappings_model_definition_id (model_definition_id)",
        "UNIQUE INDEX unique_endpoint_model_linkage_mapping (endpoint_id, model_definition_id, "
        "linkage_type)",
    ),
    table(
        "endpoint_tags",
        "key VARCHAR(250) NOT NULL",
        "value VARCHAR(5000)",
        "endpoint_id VARCHAR(36) NOT NULL",
        "PRIMARY KEY endpoint_tag_pk (key, endpoint_id)",
        "FOREIGN KEY fk_endpoint_tags_endpoint_id (endpoint_id) REFERENCES endpoints "
        "(endpoint_id) ON DELETE CASCADE",
        "INDEX index_endpoint_tags_endpoint_id (endpoint_id)",
    ),
    table(
        "endpoint_bindings",
        "endpoint_id VARCHAR(36) NOT NULL",
        "resource_type VARCHAR(50) NOT NULL",
        "resource_id VARCHAR(255) NOT NULL",
        "created_at BIGINT NOT NULL",
        "created_by VARCHAR(255)",
        "last_updated_at BIGINT NOT NULL",
        "last_updated_by VARCHAR(255)",
        "display_name VARCHAR(255)",
        "PRIMARY KEY endpoint_bindings_pk (endpoint_id, resource_type, resource_id)",
        "FOREIGN KEY fk_endpoint_bindings_endpoint_id (endpoint_id) REFERENCES endpoints "
        "(endpoint_id) ON DELETE CASCADE",
    ),
    table(
        "budget_policies",
        "budget_policy_id VARCHAR(36) NOT NULL",
        "budget_unit VARCHAR(32) NOT NULL",
        "budget_amount FLOAT NOT NULL",
        "duration_unit VARCHAR(32) NOT NULL",
        "duration_value INTEGER NOT NULL",
        "target_scope VARCHAR(32) NOT NULL",
        "budget_action VARCHAR(32) NOT NULL",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "last_updated_by VARCHAR(255)",
        "last_updated_at BIGINT NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "target_value VARCHAR(255)",
        "PRIMARY KEY budget_policies_pk (budget_policy_id)",
        "INDEX idx_budget_policies_target_value (target_value)",
        "INDEX idx_budget_policies_workspace (workspace)",
    ),
    table(
        "guardrails",
        "guardrail_id VARCHAR(36) NOT NULL",
        "name VARCHAR(255) NOT NULL",
        "scorer_id VARCHAR(36) NOT NULL",
        "scorer_version INTEGER NOT NULL",
        "stage VARCHAR(32) NOT NULL",
        "action VARCHAR(32) NOT NULL",
        "action_endpoint_id VARCHAR(36)",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "last_updated_by VARCHAR(255)",
        "last_updated_at BIGINT NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY guardrails_pk (guardrail_id)",
        "FOREIGN KEY fk_guardrails_scorer_version (scorer_id, scorer_version) REFERENCES "
        "scorer_versions (scorer_id, scorer_version)",
        "FOREIGN KEY fk_guardrails_action_endpoint_id (action_endpoint_id) REFERENCES endpoints "
        "(endpoint_id) ON DELETE SET NULL",
        "INDEX idx_guardrails_scorer (scorer_id, scorer_version)",
        "INDEX idx_guardrails_workspace (workspace)",
    ),
    table(
        "guardrail_configs",
        "endpoint_id VARCHAR(36) NOT NULL",
        "guardrail_id VARCHAR(36) NOT NULL",
        "execution_order INTEGER",
        "created_by VARCHAR(255)",
        "created_at BIGINT NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY guardrail_configs_pk (endpoint_id, guardrail_id)",
        "FOREIGN KEY fk_guardrail_configs_endpoint_id (endpoint_id) REFERENCES endpoints "
        "(endpoint_id) ON DELETE CASCADE",
        "FOREIGN KEY fk_guardrail_configs_guardrail_id (guardrail_id) REFERENCES guardrails "
        "(guardrail_id) ON DELETE CASCADE",
        "INDEX idx_guardrail_configs_endpoint_id (endpoint_id)",
        "INDEX idx_guardrail_configs_guardrail_id (guardrail_id)",
    ),
)
