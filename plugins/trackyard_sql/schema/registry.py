"""Registered models, versions, tags and aliases (prompts live here too), and webhooks.

Part of MLflow 3.17.2's head schema (see :mod:`trackyard_sql.schema`), in the notation of
:mod:`trackyard_sql.schema._ddl`.
"""

from __future__ import annotations

from trackyard_sql.schema._ddl import TableSpec, table

__all__ = ["TABLES"]

TABLES: tuple[TableSpec, ...] = (
    table(
        "registered_models",
        "name VARCHAR(256) NOT NULL",
        "creation_time BIGINT",
        "last_updated_time BIGINT",
        "description VARCHAR(5000)",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY registered_model_pk (workspace, name)",
        "INDEX idx_registered_models_workspace (workspace)",
    ),
    table(
        "registered_model_tags",
        "key VARCHAR(250) NOT NULL",
        "value VARCHAR(5000)",
        "name VARCHAR(256) NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY registered_model_tag_pk (workspace, key, name)",
        "FOREIGN KEY fk_registered_model_tags_registered_models (workspace, name) REFERENCES "
        "registered_models (workspace, name) ON UPDATE CASCADE",
        "INDEX idx_registered_model_tags_workspace_name (workspace, name)",
        "mysql: INDEX name (name)",
    ),
    table(
        "model_versions",
        "name VARCHAR(256) NOT NULL",
        "version INTEGER NOT NULL",
        "creation_time BIGINT",
        "last_updated_time BIGINT",
        "description VARCHAR(5000)",
        "user_id VARCHAR(256)",
        "current_stage VARCHAR(20)",
        "source VARCHAR(500)",
        "run_id VARCHAR(32)",
        "status VARCHAR(20)",
        "status_message VARCHAR(500)",
        "run_link VARCHAR(500)",
        "storage_location VARCHAR(500)",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY model_version_pk (workspace, name, version)",
        "FOREIGN KEY fk_model_versions_registered_models (workspace, name) REFERENCES "
        "registered_models (workspace, name) ON UPDATE CASCADE",
    ),
    table(
        "model_version_tags",
        "key VARCHAR(250) NOT NULL",
        # Deliberately MEDIUMTEXT on MySQL, where MLflow has TEXT (65,535 bytes): a version
        # tag value may have 100,000 characters. The only difference from MLflow's head.
        "value MEDIUMTEXT",
        "name VARCHAR(256) NOT NULL",
        "version INTEGER NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY model_version_tag_pk (workspace, key, name, version)",
        "FOREIGN KEY fk_model_version_tags_model_versions (workspace, name, version) REFERENCES "
        "model_versions (workspace, name, version) ON UPDATE CASCADE",
        "INDEX idx_model_version_tags_workspace_name_version (workspace, name, version)",
        "mysql: INDEX name (name, version)",
    ),
    table(
        "registered_model_aliases",
        "alias VARCHAR(256) NOT NULL",
        "version INTEGER NOT NULL",
        "name VARCHAR(256) NOT NULL",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY registered_model_alias_pk (workspace, name, alias)",
        "FOREIGN KEY fk_registered_model_aliases_registered_models (workspace, name) REFERENCES "
        "registered_models (workspace, name) ON DELETE CASCADE ON UPDATE CASCADE",
    ),
    table(
        "webhooks",
        "webhook_id VARCHAR(256) NOT NULL",
        "name VARCHAR(256) NOT NULL",
        "description VARCHAR(1000)",
        "url VARCHAR(500) NOT NULL",
        "status VARCHAR(20) NOT NULL DEFAULT 'ACTIVE'",
        "secret VARCHAR(1000)",
        "creation_timestamp BIGINT",
        "last_updated_timestamp BIGINT",
        "deleted_timestamp BIGINT",
        "workspace VARCHAR(63) NOT NULL DEFAULT 'default'",
        "PRIMARY KEY webhook_pk (webhook_id)",
        "INDEX idx_webhooks_name (name)",
        "INDEX idx_webhooks_status (status)",
        "INDEX idx_webhooks_workspace (workspace)",
    ),
    table(
        "webhook_events",
        "webhook_id VARCHAR(256) NOT NULL",
        "entity VARCHAR(50) NOT NULL",
        "action VARCHAR(50) NOT NULL",
        "PRIMARY KEY webhook_event_pk (webhook_id, entity, action)",
        "FOREIGN KEY (webhook_id) REFERENCES webhooks (webhook_id) ON DELETE CASCADE",
        "INDEX idx_webhook_events_action (action)",
        "INDEX idx_webhook_events_entity (entity)",
        "INDEX idx_webhook_events_entity_action (entity, action)",
    ),
)
