"""Optional HTTP basic authentication for the tracking server (``trackyard server --auth basic``).

As MLflow's basic-auth app: users with hashed passwords, admins, and per-experiment and
per-registered-model permissions ``READ`` / ``EDIT`` / ``MANAGE`` / ``NO_PERMISSIONS``, managed
through MLflow's ``users/...`` and ``.../permissions/...`` endpoints. Every route needs a rule
(:mod:`.rules`); one without is refused to all but admins.

This module stays light (the CLI imports it); SQLAlchemy and the web stack come with
:mod:`.setup`, :mod:`.store` and :mod:`.middleware`.
"""

from __future__ import annotations

import os

__all__ = [
    "ADMIN_PASSWORD_VARS",
    "ADMIN_USERNAME_VARS",
    "AUTH_DB_NAME",
    "SQL_SCHEMES",
    "admin_from_env",
    "auth_database_uri",
]

#: Where the first admin's name is read from, first found wins (trackyard's, then MLflow's).
ADMIN_USERNAME_VARS = ("TRACKYARD_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_USERNAME")
#: Where the first admin's password is read from.
ADMIN_PASSWORD_VARS = ("TRACKYARD_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD")
#: Backend URI schemes whose database also holds the auth tables.
SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql")
#: File name of the SQLite auth database used beside a backend that is not SQL.
AUTH_DB_NAME = "trackyard-auth.db"


def auth_database_uri(backend_store_uri: str, explicit: str | None = None) -> str:
    """Where the auth tables live.

    ``explicit`` (``--auth-database-uri``) when given; else the backend database itself when
    it is SQL; else a SQLite file :data:`AUTH_DB_NAME` beside the backend's local directory
    (or in the working directory when the backend has none, e.g. ``memory://``).
    """
    if explicit:
        return explicit
    scheme = backend_store_uri.split(":", 1)[0].split("+", 1)[0].lower()
    if "://" in backend_store_uri and scheme in SQL_SCHEMES:
        return backend_store_uri
    path = None
    if "://" not in backend_store_uri and not backend_store_uri.startswith("file:"):
        path = backend_store_uri
    elif backend_store_uri.startswith("file:"):
        path = backend_store_uri.split(":", 1)[1].lstrip("/")
        path = "/" + path if backend_store_uri.startswith("file:/") else path
    elif scheme == "duckdb":
        path = backend_store_uri.split("://", 1)[1].lstrip("/")
        path = "/" + path if backend_store_uri.startswith("duckdb:////") else path
    base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    return f"sqlite:///{os.path.join(base, AUTH_DB_NAME)}"


def admin_from_env(environ: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """The first admin's (name, password) from the environment; the name defaults to
    ``admin`` when only a password is set, as MLflow's."""
    env = os.environ if environ is None else environ
    username = next((env[v] for v in ADMIN_USERNAME_VARS if env.get(v)), None)
    password = next((env[v] for v in ADMIN_PASSWORD_VARS if env.get(v)), None)
    if password and not username:
        username = "admin"
    return username, password
