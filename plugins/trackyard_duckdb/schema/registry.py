"""Model registry tables: registered models, versions, their tags and aliases; webhooks.

A registered model has an integer ``model_key``; versions, tags and aliases refer to it, so
renaming a model rewrites one row. Deleted versions stay as rows (stage
``Deleted_Internal``, redacted), so version numbers are never reused. Uniqueness (model
names, version numbers, tag keys, aliases) is enforced by the store under its write lock.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "NAME", "TABLES", "VERSION"]

NAME = "registry"
VERSION = 2

#: Tables of this family, parents first.
TABLES: tuple[str, ...] = (
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
    "webhooks",
    "webhook_events",
)

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE registered_models (
            model_key BIGINT NOT NULL,
            name VARCHAR NOT NULL,
            creation_timestamp BIGINT,
            last_updated_timestamp BIGINT,
            description VARCHAR,
            deployment_job_id VARCHAR
        )""",
        """CREATE TABLE registered_model_tags (
            model_key BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE model_versions (
            model_key BIGINT NOT NULL,
            version BIGINT NOT NULL,
            creation_timestamp BIGINT,
            last_updated_timestamp BIGINT,
            description VARCHAR,
            user_id VARCHAR,
            current_stage VARCHAR NOT NULL,
            source VARCHAR,
            run_id VARCHAR,
            run_link VARCHAR,
            status VARCHAR NOT NULL,
            status_message VARCHAR,
            storage_location VARCHAR,
            model_id VARCHAR
        )""",
        """CREATE TABLE model_version_tags (
            model_key BIGINT NOT NULL,
            version BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL
        )""",
        """CREATE TABLE registered_model_aliases (
            model_key BIGINT NOT NULL,
            alias VARCHAR NOT NULL,
            version BIGINT NOT NULL
        )""",
    ],
    # version 2: webhooks (MLflow's columns; secrets are Fernet tokens, deletes remove rows)
    2: [
        """CREATE TABLE webhooks (
            webhook_id VARCHAR NOT NULL PRIMARY KEY,
            name VARCHAR NOT NULL,
            description VARCHAR,
            url VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            secret VARCHAR,
            creation_timestamp BIGINT NOT NULL,
            last_updated_timestamp BIGINT NOT NULL
        )""",
        """CREATE TABLE webhook_events (
            webhook_id VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            action VARCHAR NOT NULL
        )""",
    ],
}
