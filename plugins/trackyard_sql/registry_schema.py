"""MLflow's model registry tables, as SQLAlchemy Core metadata.

Tables, columns, types, keys and constraint names are the ones MLflow 3.17.2 creates (alembic
head ``dc11669786a5``): ``registered_models``, ``registered_model_tags``, ``model_versions``,
``model_version_tags`` and ``registered_model_aliases``, each with the ``workspace`` column
(default ``'default'``) leading its primary key. Prompts live in these tables too.

The SQL registry store creates them only on a database that has none of them (a fresh
database, or one that trackyard's tracking store created); a database MLflow created is used
as it is.

Deviations, for tables trackyard creates on MySQL/MariaDB only: a binary collation (as the
tracking tables, so names differing only in case stay distinct) and ``MEDIUMTEXT`` for
``model_version_tags.value`` (MySQL's ``TEXT`` holds 65,535 bytes, less than the 100,000
characters a tag value may have).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from trackyard_sql.schema import WORKSPACE_DEFAULT

__all__ = [
    "REGISTRY_SCHEMA_NAME",
    "REGISTRY_SCHEMA_VERSION",
    "REGISTRY_TABLES",
    "build_registry_metadata",
]

#: The row trackyard keeps in ``trackyard_schema`` for the registry tables.
REGISTRY_SCHEMA_NAME = "registry"
REGISTRY_SCHEMA_VERSION = 1

#: The registry tables, parents first.
REGISTRY_TABLES: tuple[str, ...] = (
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
)


def _workspace() -> sa.Column[str]:
    return sa.Column("workspace", sa.String(63), nullable=False, server_default=WORKSPACE_DEFAULT)


def build_registry_metadata(*, mysql_collate: str | None = None) -> sa.MetaData:
    """Build the metadata of the registry tables.

    Args:
        mysql_collate: collation for tables created on MySQL/MariaDB (None: the database's
            default, as MLflow does).

    Returns:
        A new :class:`sqlalchemy.MetaData` holding every table of :data:`REGISTRY_TABLES`.
    """
    md = sa.MetaData()
    opts: dict[str, Any] = {}
    if mysql_collate:
        charset = mysql_collate.split("_", 1)[0]
        opts = {"mysql_charset": charset, "mysql_collate": mysql_collate}

    sa.Table(
        "registered_models",
        md,
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.BigInteger),
        sa.Column("last_updated_time", sa.BigInteger),
        sa.Column("description", sa.String(5000)),
        _workspace(),
        sa.PrimaryKeyConstraint("workspace", "name", name="registered_model_pk"),
        sa.Index("idx_registered_models_workspace", "workspace"),
        **opts,
    )
    sa.Table(
        "registered_model_tags",
        md,
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.String(5000)),
        sa.Column("name", sa.String(256), nullable=False),
        _workspace(),
        sa.PrimaryKeyConstraint("workspace", "key", "name", name="registered_model_tag_pk"),
        sa.ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            name="fk_registered_model_tags_registered_models",
            onupdate="CASCADE",
        ),
        sa.Index("idx_registered_model_tags_workspace_name", "workspace", "name"),
        **opts,
    )
    sa.Table(
        "model_versions",
        md,
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("creation_time", sa.BigInteger),
        sa.Column("last_updated_time", sa.BigInteger),
        sa.Column("description", sa.String(5000)),
        sa.Column("user_id", sa.String(256)),
        sa.Column("current_stage", sa.String(20)),
        sa.Column("source", sa.String(500)),
        sa.Column("run_id", sa.String(32)),
        sa.Column("status", sa.String(20)),
        sa.Column("status_message", sa.String(500)),
        sa.Column("run_link", sa.String(500)),
        sa.Column("storage_location", sa.String(500)),
        _workspace(),
        sa.PrimaryKeyConstraint("workspace", "name", "version", name="model_version_pk"),
        sa.ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            name="fk_model_versions_registered_models",
            onupdate="CASCADE",
        ),
        **opts,
    )
    sa.Table(
        "model_version_tags",
        md,
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        _workspace(),
        sa.PrimaryKeyConstraint("workspace", "key", "name", "version", name="model_version_tag_pk"),
        sa.ForeignKeyConstraint(
            ["workspace", "name", "version"],
            ["model_versions.workspace", "model_versions.name", "model_versions.version"],
            name="fk_model_version_tags_model_versions",
            onupdate="CASCADE",
        ),
        sa.Index("idx_model_version_tags_workspace_name_version", "workspace", "name", "version"),
        **opts,
    )
    sa.Table(
        "registered_model_aliases",
        md,
        sa.Column("alias", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("name", sa.String(256), nullable=False),
        _workspace(),
        sa.PrimaryKeyConstraint("workspace", "name", "alias", name="registered_model_alias_pk"),
        sa.ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            name="fk_registered_model_aliases_registered_models",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        **opts,
    )
    return md
