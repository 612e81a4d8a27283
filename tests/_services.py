"""Helpers for tests that need the PostgreSQL / MariaDB test services.

The services are started by ``.ci/run`` (CI) or ``scripts/services.sh up`` (by hand), which
export ``TRACKYARD_TEST_POSTGRES_URI`` and ``TRACKYARD_TEST_MYSQL_URI``. When a variable is
unset, the helpers skip the calling test with a reason saying how to get the service.

Each xdist worker gets its own databases: ``worker_database_uri(base, "sql")`` creates (once)
and returns a database named ``<base dbname>_<worker id or "main">_<suffix>`` on the same server.

Typical use::

    from tests._services import postgres_base_uri, worker_database_uri

    @pytest.fixture
    def pg_uri():
        return worker_database_uri(postgres_base_uri(), "tracking")
"""

from __future__ import annotations

import os
import re
import threading

import pytest

__all__ = [
    "MYSQL_ENV",
    "MYSQL_SKIP_REASON",
    "POSTGRES_ENV",
    "POSTGRES_SKIP_REASON",
    "mysql_base_uri",
    "postgres_base_uri",
    "requires_mysql",
    "requires_postgres",
    "worker_database_uri",
    "worker_id",
]

POSTGRES_ENV = "TRACKYARD_TEST_POSTGRES_URI"
MYSQL_ENV = "TRACKYARD_TEST_MYSQL_URI"
POSTGRES_SKIP_REASON = f"needs {POSTGRES_ENV} (set by .ci/run or scripts/services.sh)"
MYSQL_SKIP_REASON = f"needs {MYSQL_ENV} (set by .ci/run or scripts/services.sh)"

#: Module-level marks, e.g. ``pytestmark = [requires_postgres]``.
requires_postgres = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV), reason=POSTGRES_SKIP_REASON
)
requires_mysql = pytest.mark.skipif(not os.environ.get(MYSQL_ENV), reason=MYSQL_SKIP_REASON)

_NAME_PART = re.compile(r"^[a-z0-9_]+$")
# PostgreSQL truncates identifiers at 63 bytes, MySQL/MariaDB refuses names over 64.
_MAX_DB_NAME = 63

_created: set[str] = set()
_lock = threading.Lock()


def postgres_base_uri() -> str:
    """The PostgreSQL URI from the environment; skips the current test when unset."""
    uri = os.environ.get(POSTGRES_ENV)
    if not uri:
        pytest.skip(POSTGRES_SKIP_REASON)
    return uri


def mysql_base_uri() -> str:
    """The MySQL/MariaDB URI from the environment; skips the current test when unset."""
    uri = os.environ.get(MYSQL_ENV)
    if not uri:
        pytest.skip(MYSQL_SKIP_REASON)
    return uri


def worker_id() -> str:
    """The xdist worker id (``gw0``, ``gw1`` ...) or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def worker_database_uri(base_uri: str, suffix: str) -> str:
    """Create (if missing) this worker's database ``<dbname>_<worker>_<suffix>``; return its URI.

    Args:
        base_uri: a SQLAlchemy URI of a PostgreSQL or MySQL/MariaDB database whose user may
            CREATE DATABASE (as the URIs exported by the service scripts are).
        suffix: lower-case letters, digits and ``_``; tells apart databases of one worker.

    Returns:
        The base URI with the database name replaced (password kept).
    """
    import sqlalchemy as sa  # not at module level: keeps collection light

    if not _NAME_PART.match(suffix):
        raise ValueError(f"database suffix must match [a-z0-9_]+, got {suffix!r}")
    url = sa.engine.make_url(base_uri)
    if not url.database:
        raise ValueError("base URI names no database")
    name = f"{url.database}_{worker_id()}_{suffix}".lower()
    if len(name) > _MAX_DB_NAME:
        raise ValueError(f"database name {name!r} is longer than {_MAX_DB_NAME} characters")
    target = url.set(database=name).render_as_string(hide_password=False)

    with _lock:
        if target in _created:
            return target
        backend = url.get_backend_name()
        if backend == "postgresql":
            _create_postgres_database(sa, url, name)
        elif backend in ("mysql", "mariadb"):
            _create_mysql_database(sa, url, name)
        else:
            raise ValueError(f"worker_database_uri supports postgresql and mysql, not {backend!r}")
        _created.add(target)
    return target


def _create_postgres_database(sa, url, name: str) -> None:
    # CREATE DATABASE cannot run inside a transaction block: AUTOCOMMIT.
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                try:
                    conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
                except sa.exc.DBAPIError:
                    # another process may have created it in between
                    again = conn.execute(
                        sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                    ).scalar()
                    if not again:
                        raise
    finally:
        engine.dispose()


def _create_mysql_database(sa, url, name: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    finally:
        engine.dispose()
