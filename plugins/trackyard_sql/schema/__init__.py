"""MLflow 3.17.2's head schema: every table, column, type, index and constraint, per dialect.

A database trackyard creates is exactly the one MLflow's migrations produce at alembic head
:data:`HEAD_REVISION` (65 tables on SQLite, PostgreSQL and MySQL/MariaDB), with that revision
in ``alembic_version`` and MLflow's ``default`` workspace row, so MLflow's client, UI and
server open it as their own. The tables are written in a compact notation
(:mod:`trackyard_sql.schema._ddl`), one module per subject:

- :mod:`~trackyard_sql.schema.tracking`: experiments, runs, metrics, params, tags, datasets;
- :mod:`~trackyard_sql.schema.registry`: registered models, versions, aliases, webhooks;
- :mod:`~trackyard_sql.schema.tracing`, :mod:`~trackyard_sql.schema.logged_models`,
  :mod:`~trackyard_sql.schema.genai`, :mod:`~trackyard_sql.schema.gateway` and
  :mod:`~trackyard_sql.schema.server`: the rest of MLflow's tables, created so MLflow finds
  them (trackyard does not use them yet).

A new entity (say traces) gets its store code in its own module and reads the tables already
defined here; a newer MLflow head means editing these modules and :data:`HEAD_REVISION`.

Deliberate differences, on MySQL/MariaDB only: tables get a binary collation (keys that differ
only in case stay distinct, as on SQLite and PostgreSQL), and ``model_version_tags.value`` is
``MEDIUMTEXT`` instead of ``TEXT`` (a version tag value may have 100,000 characters).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from trackyard_sql.schema import gateway, genai, logged_models, registry, server, tracing, tracking
from trackyard_sql.schema._ddl import TableSpec, add_table, specs_by_name, table

__all__ = [
    "ALEMBIC_TABLE",
    "DATASET_SOURCE_TYPE",
    "HEAD_REVISION",
    "HEAD_TABLES",
    "REGISTRY_TABLES",
    "RUN_DESTINATION_TYPE",
    "SPECS",
    "TRACE_TABLES",
    "TRACKING_TABLES",
    "WEBHOOK_TABLES",
    "WORKSPACE_DEFAULT",
    "WORKSPACE_ROW",
    "build_metadata",
]

#: The alembic revision of MLflow 3.17.2's newest migration, recorded in ``alembic_version``.
HEAD_REVISION = "dc11669786a5"

#: MLflow's workspace of single-tenant deployments, and the row its head schema holds for it.
WORKSPACE_DEFAULT = "default"
WORKSPACE_ROW = {"name": WORKSPACE_DEFAULT, "description": "Default workspace for legacy resources"}

#: ``inputs.source_type`` / ``inputs.destination_type`` of a dataset used by a run.
DATASET_SOURCE_TYPE = "DATASET"
RUN_DESTINATION_TYPE = "RUN"

#: Alembic's bookkeeping table, as alembic creates it.
ALEMBIC_TABLE = table(
    "alembic_version",
    "version_num VARCHAR(32) NOT NULL",
    "PRIMARY KEY alembic_version_pkc (version_num)",
)

#: Every table of the head schema, by name (``alembic_version`` included).
SPECS: dict[str, TableSpec] = specs_by_name(
    (
        *tracking.TABLES,
        *registry.TABLES,
        *tracing.TABLES,
        *logged_models.TABLES,
        *genai.TABLES,
        *gateway.TABLES,
        *server.TABLES,
        ALEMBIC_TABLE,
    )
)
HEAD_TABLES: frozenset[str] = frozenset(SPECS)

#: The tables the tracking store reads and writes, parents first.
TRACKING_TABLES: tuple[str, ...] = tuple(t.name for t in tracking.TABLES)
#: The trace tables the tracking store reads and writes, parents first.
TRACE_TABLES: tuple[str, ...] = (
    "trace_info",
    "trace_tags",
    "trace_request_metadata",
    "spans",
    "assessments",
)
#: The tables the registry store reads and writes, parents first.
REGISTRY_TABLES: tuple[str, ...] = tuple(
    t.name for t in registry.TABLES if not t.name.startswith("webhook")
)
#: The webhook tables (kept by the registry store's webhook methods), parents first.
WEBHOOK_TABLES: tuple[str, ...] = tuple(
    t.name for t in registry.TABLES if t.name.startswith("webhook")
)


def build_metadata(dialect: str, *, mysql_collate: str | None = None) -> sa.MetaData:
    """The head schema as it is on ``dialect``, as SQLAlchemy Core metadata.

    Args:
        dialect: SQLAlchemy's dialect name (``sqlite``, ``postgresql``, ``mysql`` or
            ``mariadb``; others get the SQLite definition, the most portable one).
        mysql_collate: the collation of tables created on MySQL/MariaDB.

    Returns:
        A new :class:`sqlalchemy.MetaData` with every table of :data:`SPECS`.
    """
    name = "mysql" if dialect in ("mysql", "mariadb") else dialect
    options: dict[str, Any] = {}
    if name == "mysql" and mysql_collate:
        options = {"mysql_charset": mysql_collate.split("_", 1)[0], "mysql_collate": mysql_collate}
    md = sa.MetaData()
    for spec in SPECS.values():
        add_table(md, spec, name, **options)
    return md
