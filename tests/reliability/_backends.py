"""The backends the reliability suite runs on, each opened fresh, and its knobs.

Defaults keep the suite fast enough for CI (two cores, the whole suite in minutes); the
environment variables below turn it up for a long run by hand (see docs/reliability.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri


def knob(name: str, default: int) -> int:
    """An integer setting from ``TRACKYARD_RELIABILITY_<NAME>``, else ``default``."""
    raw = os.environ.get(f"TRACKYARD_RELIABILITY_{name}", "").strip()
    return int(raw) if raw else default


#: Writer processes and threads per process in the concurrency tests (the issue's heavy
#: setting is 8 x 4).
PROCESSES = knob("PROCESSES", 3)
THREADS = knob("THREADS", 2)
#: log_batch calls per writer thread.
BATCHES = knob("BATCHES", 6)
#: SIGKILLs per operation and backend in the crash tests (heavy setting: 100).
CRASHES = knob("CRASHES", 2)
#: Hypothesis examples per property test and backend.
EXAMPLES = knob("EXAMPLES", 8)

#: Backends whose data outlives a process: the concurrency and crash tests run on these.
PERSISTENT = ("sqlite", "postgresql", "mysql", "file", "duckdb")
#: Backends that serve several writing processes at once. DuckDB does not: one process may
#: open a database file at a time, by design (docs/duckdb.md); its writers are threads.
MULTI_PROCESS = ("sqlite", "postgresql", "mysql", "file")


@dataclass(frozen=True)
class Backend:
    """Where a fresh store lives: its URI (tracking and registry) and artifact root."""

    name: str
    uri: str
    artifact_root: str

    @property
    def multi_process(self) -> bool:
        """Whether several processes may write the store at once."""
        return self.name in MULTI_PROCESS


def _empty_sql_database(uri: str) -> None:
    """Delete every row of every MLflow table (children first), keeping the tables."""
    import sqlalchemy as sa

    from trackyard_sql.schema import REGISTRY_TABLES, TRACKING_TABLES

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            for table in [*reversed(REGISTRY_TABLES), *reversed(TRACKING_TABLES)]:
                if table in existing:
                    conn.exec_driver_sql(f"DELETE FROM {table}")
    finally:
        engine.dispose()


def make_backend(name: str, tmp_path: Path) -> Backend:
    """A fresh, empty store of kind ``name`` (skips, saying why, when its service is unset)."""
    artifacts = str(tmp_path / "artifacts")
    if name == "sqlite":
        return Backend(name, f"sqlite:///{tmp_path / 'store.db'}", artifacts)
    if name == "file":
        return Backend(name, str(tmp_path / "mlruns"), artifacts)
    if name == "duckdb":
        return Backend(name, f"duckdb:///{tmp_path / 'store.duckdb'}", artifacts)
    if name == "memory":
        from trackyard_memory import fresh_uri

        return Backend(name, fresh_uri("reliability"), artifacts)
    if name in ("postgresql", "mysql"):
        base = postgres_base_uri() if name == "postgresql" else mysql_base_uri()
        uri = worker_database_uri(base, "reliability")
        _empty_sql_database(uri)
        return Backend(name, uri, artifacts)
    raise ValueError(name)


@pytest.fixture(params=PERSISTENT)
def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend whose data several processes can share, fresh for the test."""
    return make_backend(request.param, tmp_path)
