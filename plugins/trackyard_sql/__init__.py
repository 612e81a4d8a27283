"""Built-in SQL plugin: tracking and model registry stores on SQLite, PostgreSQL and MySQL/MariaDB.

The stores keep their data in MLflow's tables: they open databases MLflow created (and write
to them without breaking them for MLflow), and a database they create is MLflow 3.17.2's head
schema, which MLflow opens as its own.

The rooms:

- :mod:`~trackyard_sql.hooks`: the plugin's hooks (imports only trackyard core; the stores
  are named as ``"module:Class"`` strings and imported the first time a scheme is used);
- :mod:`~trackyard_sql.database`: one :class:`~trackyard_sql.database.Database` per database
  and process, shared by the stores: engine, pool, fork safety, transactions with retries,
  error translation, column widths; :mod:`~trackyard_sql.dialect` holds the SQL text that
  differs per database and :mod:`~trackyard_sql.explain` words connection failures;
- :mod:`~trackyard_sql.schema` (MLflow's head schema, one module per subject) and
  :mod:`~trackyard_sql.bootstrap` (create it, upgrade old trackyard databases, learn the
  layout of an existing one);
- :mod:`~trackyard_sql.compiler`: the one search compiler (runs, experiments, registered
  models, model versions);
- the stores, which keep CRUD: :mod:`~trackyard_sql.tracking` (with
  :mod:`~trackyard_sql.runs` for reading runs, :mod:`~trackyard_sql.writes` for writing to
  them and :mod:`~trackyard_sql.snapshot` for SQLite search snapshots) and
  :mod:`~trackyard_sql.registry` (with :mod:`~trackyard_sql.registry_rows` for its
  one-query reads).

A new entity (traces, logged models, webhooks) adds a store module of its own that works
through the shared :class:`~trackyard_sql.database.Database`, on tables
:mod:`~trackyard_sql.schema` already creates.
"""

from __future__ import annotations

__all__: list[str] = []
