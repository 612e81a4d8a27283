"""MLflow's table layout for the tracking tables, as SQLAlchemy Core metadata.

The tables, columns, types and constraints are the ones MLflow 3.17.2 creates (alembic head
``dc11669786a5``): ``experiments``, ``experiment_tags``, ``runs``, ``tags``, ``params``,
``metrics``, ``latest_metrics``, and ``datasets``, ``inputs``, ``input_tags`` (read by dataset
filters). ``FLOAT`` is double precision on PostgreSQL and MySQL, as MLflow declares it.

trackyard adds one table of its own, ``trackyard_schema(name, version)``, and never touches
MLflow's ``alembic_version``.

Deviation, on MySQL/MariaDB only: tables that trackyard creates use a binary collation of the
database's character set (``utf8mb4_nopad_bin`` on MariaDB), so keys that differ only in case
or trailing spaces stay distinct as they do on SQLite and PostgreSQL. MLflow creates them
with the database's default (usually case-insensitive) collation.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = [
    "DATASET_SOURCE_TYPE",
    "RUN_DESTINATION_TYPE",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "TRACKING_TABLES",
    "WORKSPACE_DEFAULT",
    "build_metadata",
]

#: The row trackyard keeps in ``trackyard_schema`` for the tracking tables.
SCHEMA_NAME = "tracking"
SCHEMA_VERSION = 1

#: MLflow's workspace of single-tenant deployments.
WORKSPACE_DEFAULT = "default"

#: ``inputs.source_type`` / ``inputs.destination_type`` of a dataset used by a run.
DATASET_SOURCE_TYPE = "DATASET"
RUN_DESTINATION_TYPE = "RUN"

#: The MLflow tables this store reads and writes, in foreign-key order (parents first).
TRACKING_TABLES: tuple[str, ...] = (
    "experiments",
    "experiment_tags",
    "runs",
    "tags",
    "params",
    "metrics",
    "latest_metrics",
    "datasets",
    "inputs",
    "input_tags",
)

_STATUSES = ("SCHEDULED", "FAILED", "FINISHED", "RUNNING", "KILLED")
_SOURCE_TYPES = ("NOTEBOOK", "JOB", "LOCAL", "UNKNOWN", "PROJECT")
_STAGES = ("active", "deleted")


def _double() -> sa.types.TypeEngine[float]:
    return sa.Float(precision=53)


def _long_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def build_metadata(*, mysql_collate: str | None = None) -> sa.MetaData:
    """Build the metadata of the tracking tables.

    Args:
        mysql_collate: collation for tables created on MySQL/MariaDB (None: the database's
            default, as MLflow does).

    Returns:
        A new :class:`sqlalchemy.MetaData` holding every table of :data:`TRACKING_TABLES`
        plus ``trackyard_schema``.
    """
    md = sa.MetaData()
    opts: dict[str, Any] = {}
    if mysql_collate:
        charset = mysql_collate.split("_", 1)[0]
        opts = {"mysql_charset": charset, "mysql_collate": mysql_collate}

    sa.Table(
        "experiments",
        md,
        sa.Column("experiment_id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("artifact_location", sa.String(256)),
        sa.Column("lifecycle_stage", sa.String(32)),
        sa.Column("creation_time", sa.BigInteger),
        sa.Column("last_update_time", sa.BigInteger),
        sa.Column("workspace", sa.String(63), nullable=False, server_default=WORKSPACE_DEFAULT),
        sa.PrimaryKeyConstraint("experiment_id", name="experiment_pk"),
        sa.CheckConstraint(_in("lifecycle_stage", _STAGES), name="experiments_lifecycle_stage"),
        sa.UniqueConstraint("workspace", "name", name="uq_experiments_workspace_name"),
        sa.Index("idx_experiments_workspace", "workspace"),
        sa.Index("idx_experiments_workspace_creation_time", "workspace", "creation_time"),
        **opts,
    )
    sa.Table(
        "experiment_tags",
        md,
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", _long_text()),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", "experiment_id", name="experiment_tag_pk"),
        **opts,
    )
    sa.Table(
        "runs",
        md,
        sa.Column("run_uuid", sa.String(32), nullable=False),
        sa.Column("name", sa.String(250)),
        sa.Column("source_type", sa.String(20)),
        sa.Column("source_name", sa.String(500)),
        sa.Column("entry_point_name", sa.String(50)),
        sa.Column("user_id", sa.String(256)),
        sa.Column("status", sa.String(9)),
        sa.Column("start_time", sa.BigInteger),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("source_version", sa.String(50)),
        sa.Column("lifecycle_stage", sa.String(20)),
        sa.Column("artifact_uri", sa.String(200)),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id")),
        sa.Column("deleted_time", sa.BigInteger),
        sa.PrimaryKeyConstraint("run_uuid", name="run_pk"),
        sa.CheckConstraint(_in("source_type", _SOURCE_TYPES), name="source_type"),
        sa.CheckConstraint(_in("lifecycle_stage", _STAGES), name="runs_lifecycle_stage"),
        sa.CheckConstraint(_in("status", _STATUSES)),
        **opts,
    )
    for table, pk_name, value_nullable in (("tags", "tag_pk", True), ("params", "param_pk", False)):
        sa.Table(
            table,
            md,
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.String(8000), nullable=value_nullable),
            sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), nullable=False),
            sa.PrimaryKeyConstraint("key", "run_uuid", name=pk_name),
            sa.Index(f"index_{table}_run_uuid", "run_uuid"),
            **opts,
        )
    sa.Table(
        "metrics",
        md,
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", _double(), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column(
            "is_nan",
            sa.Boolean(create_constraint=True),
            nullable=False,
            server_default=sa.false(),
        ),
        sa.PrimaryKeyConstraint(
            "key", "timestamp", "step", "run_uuid", "value", "is_nan", name="metric_pk"
        ),
        sa.Index("index_metrics_run_uuid", "run_uuid"),
        sa.Index("index_metrics_run_uuid_key_step", "run_uuid", "key", "step"),
        **opts,
    )
    sa.Table(
        "latest_metrics",
        md,
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", _double(), nullable=False),
        sa.Column("timestamp", sa.BigInteger),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("is_nan", sa.Boolean(create_constraint=True), nullable=False),
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), nullable=False),
        sa.PrimaryKeyConstraint("key", "run_uuid", name="latest_metric_pk"),
        sa.Index("index_latest_metrics_run_uuid", "run_uuid"),
        **opts,
    )
    sa.Table(
        "datasets",
        md,
        sa.Column("dataset_uuid", sa.String(36), nullable=False),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey(
                "experiments.experiment_id",
                name="fk_datasets_experiment_id_experiments",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("dataset_source_type", sa.String(36), nullable=False),
        sa.Column("dataset_source", sa.Text, nullable=False),
        sa.Column("dataset_schema", _long_text()),
        sa.Column("dataset_profile", _long_text()),
        sa.PrimaryKeyConstraint("experiment_id", "name", "digest", name="dataset_pk"),
        sa.Index(
            "index_datasets_experiment_id_dataset_source_type",
            "experiment_id",
            "dataset_source_type",
        ),
        sa.Index("index_datasets_dataset_uuid", "dataset_uuid"),
        **opts,
    )
    sa.Table(
        "inputs",
        md,
        sa.Column("input_uuid", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("destination_type", sa.String(36), nullable=False),
        sa.Column("destination_id", sa.String(36), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(
            "source_type", "source_id", "destination_type", "destination_id", name="inputs_pk"
        ),
        sa.Index("index_inputs_input_uuid", "input_uuid"),
        sa.Index(
            "index_inputs_destination_type_destination_id_source_type",
            "destination_type",
            "destination_id",
            "source_type",
        ),
        **opts,
    )
    sa.Table(
        "input_tags",
        md,
        sa.Column("input_uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("input_uuid", "name", name="input_tags_pk"),
        **opts,
    )
    sa.Table(
        "trackyard_schema",
        md,
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", name="trackyard_schema_pk"),
        **opts,
    )
    return md
