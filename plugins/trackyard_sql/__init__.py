"""Built-in SQL tracking plugin: SQLite, PostgreSQL and MySQL/MariaDB (MSSQL untested).

The store keeps its data in MLflow's table layout, so it can open a database that MLflow
created and write to it without breaking it for MLflow.

The hook module (:mod:`trackyard_sql.hooks`) imports only trackyard core; the store in
:mod:`trackyard_sql.tracking` imports SQLAlchemy and is loaded the first time one of its
schemes is used.
"""

from __future__ import annotations

__all__: list[str] = []
