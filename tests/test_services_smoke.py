"""The test services answer: one query per service (skipped when its URI is not set)."""

from __future__ import annotations

import pytest

from tests._services import (
    mysql_base_uri,
    postgres_base_uri,
    requires_mysql,
    requires_postgres,
    worker_database_uri,
)


def _select_one(uri: str) -> object:
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select 1")).scalar()
    finally:
        engine.dispose()


@pytest.mark.postgres
@requires_postgres
def test_postgres_answers() -> None:
    base = postgres_base_uri()
    assert _select_one(base) == 1
    # the per-worker database can be created (twice is fine) and used
    uri = worker_database_uri(base, "smoke")
    assert worker_database_uri(base, "smoke") == uri
    assert _select_one(uri) == 1


@pytest.mark.mysql
@requires_mysql
def test_mysql_answers() -> None:
    base = mysql_base_uri()
    assert _select_one(base) == 1
    uri = worker_database_uri(base, "smoke")
    assert worker_database_uri(base, "smoke") == uri
    assert _select_one(uri) == 1
