"""``trackyard doctor`` against real components: a healthy SQLite store, and each failure mode.

Failures are produced for real, also when the tests run as root (where chmod stops nothing):
a SQLite file or an artifact root *under a regular file*, paths in /proc and /sys, a
PostgreSQL URI on a closed port, a scheme no plugin serves, a driver that is not installed.
Read-only opens of PostgreSQL and MariaDB run when ``TRACKYARD_TEST_POSTGRES_URI`` /
``TRACKYARD_TEST_MYSQL_URI`` are set (they skip otherwise).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from trackyard._doctor import SCRATCH_PREFIX, Doctor, explain
from trackyard.backends import clear_store_cache
from trackyard.cli import cli
from trackyard.errors import TrackyardError
from trackyard.plugins import BackendSpec, get_plugin_manager
from trackyard.search.request import ExperimentSearch
from trackyard.testing import make_client


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    clear_store_cache()
    yield
    clear_store_cache()


def doctor(*args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", *args])


def flat(result: Result) -> str:
    """The output with every run of whitespace made one space (lines are wrapped)."""
    return " ".join(result.output.split())


def check_lines(result: Result) -> dict[str, str]:
    """name -> status label of each check in the text output."""
    found = {}
    for line in result.output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ok", "WARN", "FAIL", "skip"):
            found[parts[1]] = parts[0]
    return found


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def experiments_in(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT name, lifecycle_stage FROM experiments ORDER BY 1"))


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- a healthy store ------------------------------------------------------------------------------
def test_healthy_sqlite_store(tmp_path: Path) -> None:
    db, artifacts = tmp_path / "ok.db", tmp_path / "artifacts"
    result = doctor("--tracking-uri", f"sqlite:///{db}", "--artifact-root", str(artifacts))
    assert result.exit_code == 0, result.output
    checks = check_lines(result)
    for name in ("plugin", "connect", "read", "write", "artifacts", "cleanup"):
        assert checks[name] == "ok", result.output
    # plugin problems elsewhere (tests/unit/test_plugin_problems.py) and a scheme without a
    # registry store are warnings: they do not stop this URI from working
    assert checks["plugins"] in ("ok", "WARN") and checks["registry"] in ("ok", "WARN")
    text = flat(result)
    assert "All checks passed" in text
    assert "trackyard_sql.tracking.SqlTrackingStore from plugin 'trackyard_sql'" in text
    assert "(distribution trackyard " in text
    assert "FsspecArtifactRepository from plugin 'trackyard_fsspec'" in text
    assert "did not exist and was created as a new database" in text
    assert "soft delete" in text
    assert " ms)" in text  # timings

    # the scratch experiment is deleted (soft), and the probe file is gone
    rows = experiments_in(db)
    scratch = [(n, s) for n, s in rows if n.startswith(SCRATCH_PREFIX)]
    assert len(scratch) == 1 and scratch[0][1] == "deleted"
    assert ("Default", "active") in rows
    assert all(f.startswith("ok.db") for f in files_under(tmp_path)), files_under(tmp_path)
    assert not artifacts.exists()  # the probe, and the directories made for it, are gone

    again = doctor("--tracking-uri", f"sqlite:///{db}", "--artifact-root", str(artifacts))
    assert again.exit_code == 0, again.output
    assert "did not exist" not in flat(again)
    assert len([n for n, _ in experiments_in(db) if n.startswith(SCRATCH_PREFIX)]) == 2


def test_json_output(tmp_path: Path) -> None:
    result = doctor(
        "--tracking-uri",
        f"sqlite:///{tmp_path}/j.db",
        "--artifact-root",
        str(tmp_path / "a"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["tracking_uri"] == f"sqlite:///{tmp_path}/j.db"
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "plugins",
        "plugin",
        "connect",
        "read",
        "write",
        "artifacts",
        "cleanup",
        "registry",
    ]
    for check in report["checks"]:
        assert check["status"] in ("ok", "warn")
        assert isinstance(check["ms"], float)


def test_read_only_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    result = doctor(
        "--tracking-uri", f"sqlite:///{db}", "--artifact-root", str(tmp_path / "a"), "--read-only"
    )
    assert result.exit_code == 0, result.output  # a warning: a normal open would work
    checks = check_lines(result)
    assert checks["connect"] == "WARN", result.output
    assert (checks["read"], checks["write"], checks["artifacts"]) == ("skip", "skip", "skip")
    assert (checks["cleanup"], checks["registry"]) == ("skip", "skip")
    text = flat(result)
    assert f"WARN connect the SQLite database file '{db}' does not exist" in text
    assert "; a normal open creates it, with MLflow's schema" in text
    assert "nothing was created (--read-only)" in text
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []  # no database file, no -wal/-shm, no artifact root


def _sqlite_store_without_an_index(tmp_path: Path, journal_mode: str) -> tuple[Path, str]:
    """A database made by a normal open (MLflow's head schema), one trackyard index dropped."""
    from trackyard_sql.indexes import METRIC_INDEX
    from trackyard_sql.tracking import SqlTrackingStore

    db = tmp_path / "made.db"
    SqlTrackingStore(f"sqlite:///{db}", str(tmp_path / "a")).close()
    conn = sqlite3.connect(db)
    try:
        conn.execute(f"DROP INDEX {METRIC_INDEX.name}")
        conn.commit()
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")  # DELETE: as MLflow leaves it
    finally:
        conn.close()
    return db, METRIC_INDEX.name


def _sqlite_indexes(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_read_only_creates_no_index(tmp_path: Path, journal_mode: str) -> None:
    db, index = _sqlite_store_without_an_index(tmp_path, journal_mode)
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path)))
    result = doctor(
        "--tracking-uri", f"sqlite:///{db}", "--artifact-root", str(tmp_path / "a"), "--read-only"
    )
    assert result.exit_code == 0, result.output
    checks = check_lines(result)
    assert (checks["connect"], checks["read"], checks["registry"]) == ("ok", "ok", "ok")
    text = flat(result)
    assert "opened the store read-only" in text
    assert f"1 trackyard index missing ({index}); a normal open creates it" in text
    # nothing changed: the file is byte for byte the same (journal mode included), its mtime
    # too, no file appeared (no -wal/-shm left behind), and the index is still missing
    assert (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path))) == before
    assert index not in _sqlite_indexes(db)

    # a normal open is unchanged: it creates the index
    clear_store_cache()
    normal = doctor("--tracking-uri", f"sqlite:///{db}", "--artifact-root", str(tmp_path / "a"))
    assert normal.exit_code == 0, normal.output
    assert index in _sqlite_indexes(db)


def test_read_only_database_without_mlflow_tables(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)  # another application's: a normal open adds MLflow's schema
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    result = doctor("--tracking-uri", f"sqlite:///{db}", "--read-only")
    assert result.exit_code == 0, result.output
    assert check_lines(result)["connect"] == "WARN"
    assert "has no MLflow tables; a normal open creates MLflow's schema in it" in flat(result)
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_read_only_duckdb(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="the DuckDB store needs the duckdb extra")
    missing = tmp_path / "missing.duckdb"
    result = doctor("--tracking-uri", f"duckdb:///{missing}", "--read-only")
    assert result.exit_code == 0, result.output
    assert check_lines(result)["connect"] == "WARN"
    assert "does not exist; a normal open creates it" in flat(result)
    assert list(tmp_path.iterdir()) == []

    from trackyard_duckdb.tracking import DuckDBTrackingStore

    db = tmp_path / "made.duckdb"
    DuckDBTrackingStore(f"duckdb:///{db}", str(tmp_path / "a")).close()
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path)))
    result = doctor("--tracking-uri", f"duckdb:///{db}", "--read-only")
    assert result.exit_code == 0, result.output
    checks = check_lines(result)
    assert (checks["connect"], checks["read"], checks["registry"]) == ("ok", "ok", "ok")
    assert "opened the store read-only" in flat(result)
    assert (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path))) == before


def test_read_only_file_store(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    result = doctor("--tracking-uri", str(root), "--read-only")
    assert result.exit_code == 0, result.output
    assert check_lines(result)["connect"] == "WARN"
    assert f"the file store root '{root}' does not exist" in flat(result)
    assert not root.exists()


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every folder (None) and file (its bytes) under ``root``, by relative path."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def _file_store_with_data(root: Path) -> tuple[str, str]:
    """A file store as a normal open leaves it, with an experiment, a run and a model."""
    from trackyard.backends import get_registry_store, get_tracking_store
    from trackyard.entities import Metric, Param, RunTag

    client = make_client(get_tracking_store(str(root)), get_registry_store(str(root)))
    exp = client.create_experiment("kept")
    run = client.create_run(exp).info.run_id
    client.log_batch(run, [Metric("acc", 0.5, 1, 0)], [Param("p", "1")], [RunTag("t", "v")])
    client.create_registered_model("model")
    client.create_model_version("model", "runs:/x/model", run_id=run)
    clear_store_cache()
    for summary in root.rglob(".trackyard-metrics.json"):  # as MLflow leaves a run:
        summary.unlink()  # a normal read writes it again
    return exp, run


def test_read_only_file_store_refuses_writes(tmp_path: Path) -> None:
    """Opened read-only, the file store refuses each write and reads without writing."""
    from trackyard.backends import get_registry_store, get_tracking_store
    from trackyard.entities import Metric
    from trackyard.stores import read_only_opens

    root = tmp_path / "mlruns"
    exp, run = _file_store_with_data(root)
    before = _tree(root)
    with read_only_opens() as request:
        store = get_tracking_store(str(root))
        registry = get_registry_store(str(root))
    assert (request.notes, request.absent_reason) == ([], None)
    client = make_client(store, registry)
    writes = {
        "create_experiment": lambda: client.create_experiment("nope"),
        "create_run": lambda: client.create_run(exp),
        "log_batch": lambda: client.log_batch(run, [Metric("acc", 1.0, 2, 1)]),
        "create_registered_model": lambda: client.create_registered_model("nope"),
    }
    for name, write in writes.items():
        with pytest.raises(TrackyardError, match="opened read-only") as info:
            write()
        assert info.value.error_code == "INVALID_STATE", name
        assert str(info.value) == (
            f"The file store {str(root)!r} was opened read-only; nothing is written."
        )
    assert client.get_experiment(exp).name == "kept"
    (found,) = client.search_runs([exp])
    assert found.info.run_id == run and found.data.metrics == {"acc": 0.5}
    assert client.get_registered_model("model").latest_versions[0].version == "1"
    assert _tree(root) == before  # byte for byte: no summary, lock or journal file either


#: Public methods of the file stores that only read (every other one writes).
_FILE_STORE_READS = {
    "batch_get_traces",
    "close",
    "deleted_experiments",
    "deleted_runs",
    "explain_error",
    "get_assessment",
    "get_experiment",
    "get_experiment_by_name",
    "get_latest_versions",
    "get_logged_model",
    "get_metric_history",
    "get_metric_history_bulk",
    "get_model_version",
    "get_model_version_by_alias",
    "get_model_version_download_uri",
    "get_registered_model",
    "get_run",
    "get_trace",
    "get_trace_info",
    "get_webhook",
    "get_webhook_secret",
    "import_artifact_location",
    "list_webhooks",
    "list_webhooks_by_event",
    "new_experiment_id",
    "read_metric_points",
    "search_experiments",
    "search_logged_models",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "search_traces",
    "search_traces_with_spans",
    "test_webhook",
}


def test_every_file_store_write_refuses_at_once(tmp_path: Path) -> None:
    """Each write method of the file stores, called read-only, raises before it reads a thing."""
    import inspect

    from trackyard.backends import get_registry_store, get_tracking_store
    from trackyard.stores import read_only_opens

    root = tmp_path / "mlruns"
    _file_store_with_data(root)
    before = _tree(root)
    with read_only_opens():
        stores = [get_tracking_store(str(root)), get_registry_store(str(root))]
    checked = []
    for store in stores:
        methods = {
            name: method
            for name, method in inspect.getmembers(store, inspect.ismethod)
            if not name.startswith("_") and method.__module__.startswith("trackyard_file")
        }
        for name, method in methods.items():
            if name in _FILE_STORE_READS:
                continue
            required = [
                p for p in inspect.signature(method).parameters.values() if p.default is p.empty
            ]
            args = [None for p in required if p.kind is p.POSITIONAL_OR_KEYWORD]
            kwargs = {p.name: None for p in required if p.kind is p.KEYWORD_ONLY}
            with pytest.raises(TrackyardError, match="opened read-only") as info:
                method(*args, **kwargs)
            assert info.value.error_code == "INVALID_STATE", name
            checked.append(name)
    assert {"create_experiment", "log_batch", "create_registered_model"} <= set(checked)
    assert len(checked) > 40
    assert _tree(root) == before


def test_read_only_opens_api(tmp_path: Path) -> None:
    """The public mechanism: uncached stores that write nothing and refuse writes."""
    from trackyard.backends import get_tracking_store
    from trackyard.stores import read_only_open, read_only_opens

    db, index = _sqlite_store_without_an_index(tmp_path, "wal")
    uri = f"sqlite:///{db}"
    assert read_only_open() is None
    with read_only_opens() as request:
        assert read_only_open() is request
        store = get_tracking_store(uri, str(tmp_path / "a"))
        other = get_tracking_store(uri, str(tmp_path / "a"))
    assert other is not store  # not cached: each is the caller's to close
    other.close()
    assert read_only_open() is None
    try:
        assert request.notes == [f"1 trackyard index missing ({index}); a normal open creates it"]
        assert request.absent_reason is None
        found = store.search_experiments(ExperimentSearch(max_results=10))
        assert [e.name for e in found] == ["Default"]
        with pytest.raises(TrackyardError, match="opened read-only") as info:
            store.create_experiment("nope")
        assert info.value.error_code == "INVALID_STATE"
    finally:
        store.close()
    assert index not in _sqlite_indexes(db)
    normal = get_tracking_store(uri, str(tmp_path / "a"))  # a normal open, as before
    assert normal is not store and index in _sqlite_indexes(db)


def _server_store_with_a_run(server: str, tmp_path: Path) -> tuple[str, str, str]:
    """A fresh PostgreSQL or MariaDB database with one experiment holding one run."""
    import sqlalchemy as sa

    from trackyard_sql.tracking import SqlTrackingStore

    base = postgres_base_uri() if server == "postgresql" else mysql_base_uri()
    uri = worker_database_uri(base, "readonly")
    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:  # drop what an earlier run left
            tables = sa.MetaData()
            tables.reflect(conn)
            tables.drop_all(conn)
    finally:
        engine.dispose()
    store = SqlTrackingStore(uri, str(tmp_path / "a"))
    try:
        client = make_client(store)
        exp = client.create_experiment("kept")
        run = client.create_run(exp).info.run_id
    finally:
        store.close()
    return uri, exp, run


@pytest.mark.parametrize("server", ["postgresql", "mysql"])
def test_read_only_server_session_refuses_writes(server: str, tmp_path: Path) -> None:
    """A read-only open of PostgreSQL/MariaDB: the server refuses writes that skip the guard."""
    import sqlalchemy as sa

    from trackyard.backends import get_tracking_store
    from trackyard.stores import read_only_opens

    uri, exp, run = _server_store_with_a_run(server, tmp_path)
    with read_only_opens():
        store = get_tracking_store(uri, str(tmp_path / "a"))
    try:
        engine = store.database.engine
        refused = "(?i)read[- ]only transaction"  # PostgreSQL's and MariaDB's wording
        # straight through the engine, past trackyard's guard, on two pooled connections
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                with pytest.raises(sa.exc.DBAPIError, match=refused):
                    conn.exec_driver_sql(
                        "INSERT INTO experiments (name, lifecycle_stage) VALUES ('no', 'active')"
                    )
                conn.rollback()
                with pytest.raises(sa.exc.DBAPIError, match=refused):
                    conn.exec_driver_sql("CREATE TABLE trackyard_read_only_probe (x INTEGER)")
                conn.rollback()
        with pytest.raises(TrackyardError, match="opened read-only") as info:
            store.create_experiment("nope")  # trackyard's guard is still there
        assert info.value.error_code == "INVALID_STATE"
        client = make_client(store)  # reads work, on the connections that refused
        assert client.get_experiment(exp).name == "kept"
        assert [r.info.run_id for r in client.search_runs([exp])] == [run]
    finally:
        store.close()
    normal = get_tracking_store(uri, str(tmp_path / "a"))
    names = [e.name for e in normal.search_experiments(ExperimentSearch(max_results=10))]
    assert sorted(names) == ["Default", "kept"]  # nothing was written
    assert "trackyard_read_only_probe" not in normal.database.layout.tables


def test_environment_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKYARD_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "env-artifacts"))
    result = doctor()
    assert result.exit_code == 0, result.output
    assert f"tracking URI: sqlite:///{tmp_path}/env.db" in flat(result)
    assert f"artifact root: {tmp_path}/env-artifacts" in flat(result)


# -- failures -------------------------------------------------------------------------------------
def test_unknown_scheme_suggests_and_masks(tmp_path: Path) -> None:
    result = doctor("--tracking-uri", "postgress://ml:hunter2@db.example/ml")
    assert result.exit_code == 1
    text = flat(result)
    assert "hunter2" not in result.output
    assert "FAIL plugin no tracking store for scheme 'postgress'" in text
    assert "did you mean 'postgresql'?" in text
    assert "installed: " in text and "postgresql, sqlite" in text
    checks = check_lines(result)
    assert (checks["read"], checks["write"], checks["cleanup"]) == ("skip", "skip", "skip")
    assert "1 check(s) failed: plugin." in text


def test_sqlite_file_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("I am a file")
    result = doctor(
        "--tracking-uri", f"sqlite:///{blocker}/runs.db", "--artifact-root", str(tmp_path / "a")
    )
    assert result.exit_code == 1
    text = flat(result)
    assert f"FAIL connect SQLite could not open the database file '{blocker}/runs.db'" in text
    assert f"'{blocker}' is a file, not a directory" in text
    assert check_lines(result)["artifacts"] == "ok"  # the artifact root is checked anyway


def test_sqlite_file_in_proc(tmp_path: Path) -> None:
    result = doctor("--tracking-uri", "sqlite:////proc/trackyard-doctor-test.db", "--read-only")
    assert result.exit_code == 1
    text = flat(result)
    assert "FAIL connect SQLite could not open the database file" in text
    assert "kernel file system" in text


def test_postgres_on_a_closed_port() -> None:
    pytest.importorskip("psycopg")
    port = closed_port()
    result = doctor("--tracking-uri", f"postgresql://ml:hunter2@127.0.0.1:{port}/ml", "--read-only")
    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "hunter2" not in result.output
    assert f"FAIL connect could not connect to 127.0.0.1:{port}: the connection was refused" in text
    assert "Is the database server running" in text


def test_mysql_on_a_closed_port() -> None:
    pytest.importorskip("pymysql")
    port = closed_port()
    result = doctor("--tracking-uri", f"mysql+pymysql://ml:pw@127.0.0.1:{port}/ml", "--read-only")
    assert result.exit_code == 1, result.output
    assert f"could not connect to 127.0.0.1:{port}" in flat(result)


def test_missing_driver_gives_install_hint() -> None:
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - depends on the environment
        pytest.skip("psycopg2 is installed, so its absence cannot be shown")
    result = doctor("--tracking-uri", "postgresql+psycopg2://ml@db.example/ml", "--read-only")
    assert result.exit_code == 1
    text = flat(result)
    assert "FAIL connect" in text
    assert "No module named 'psycopg2'" in text
    assert 'pip install "trackyard[postgres]"' in text


@pytest.mark.parametrize(
    "make_root, says",
    [
        (lambda tmp: str(_file(tmp / "blocker") / "artifacts"), "is a file, not a directory"),
        (lambda tmp: "/proc/trackyard-doctor-artifacts", "kernel file system"),
        (lambda tmp: "/sys/trackyard-doctor-artifacts", "permission denied"),
    ],
    ids=["under-a-file", "proc", "sys"],
)
def test_unwritable_artifact_root(tmp_path: Path, make_root: Any, says: str) -> None:
    db = tmp_path / "store.db"
    root = make_root(tmp_path)
    result = doctor("--tracking-uri", f"sqlite:///{db}", "--artifact-root", root)
    assert result.exit_code == 1, result.output
    checks = check_lines(result)
    assert checks["write"] == "ok" and checks["artifacts"] == "FAIL"
    assert checks["cleanup"] == "ok"  # the scratch experiment is still removed
    text = flat(result)
    assert "FAIL artifacts cannot use the artifact location" in text
    assert says in text
    assert "1 check(s) failed: artifacts." in text
    assert [s for n, s in experiments_in(db) if n.startswith(SCRATCH_PREFIX)] == ["deleted"]


def _file(path: Path) -> Path:
    path.write_text("a regular file")
    return path


def test_store_that_loses_data_is_caught(tmp_path: Path) -> None:
    manager = get_plugin_manager()
    manager.register_backend(
        "tracking",
        BackendSpec(("lossy",), "tests.unit.test_doctor:LossyStore"),
        plugin="lossy-test",
    )
    try:
        result = doctor(
            "--tracking-uri", f"lossy:///{tmp_path}/lossy.db", "--artifact-root", str(tmp_path)
        )
    finally:
        manager.unregister("lossy-test")
    assert result.exit_code == 1
    text = flat(result)
    assert "FAIL write DATA_LOSS: the store accepted the writes but returned different data" in text
    assert "param read back as None" in text


def _lossy_store_class() -> type:
    from trackyard_sql.tracking import SqlTrackingStore

    class LossyStore(SqlTrackingStore):
        """A SQLite store that silently drops params."""

        def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None):
            path = str(store_uri).split(":///", 1)[1]
            super().__init__(f"sqlite:///{path}", artifact_uri)

        def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
            super().log_batch(run_id, metrics, [], tags)

    return LossyStore


def __getattr__(name: str) -> Any:  # LossyStore is built on first use: SQLAlchemy is heavy
    if name == "LossyStore":
        return _lossy_store_class()
    raise AttributeError(name)


# -- explain(): wording of causes that need a server to reproduce ---------------------------------
@pytest.mark.parametrize(
    "message, says",
    [
        (
            'could not translate host name "db.nowhere" to address: Name or service not known',
            "could not be found: check the host name",
        ),
        ('password authentication failed for user "ml"', "refused the user name or password"),
        ("(1045, \"Access denied for user 'ml'@'10.0.0.1'\")", "refused the user name or password"),
        ('database "ml" does not exist', "does not exist on db.example:5432: create it first"),
        ("(1049, \"Unknown database 'ml'\")", "does not exist on db.example:5432"),
        ("connection timeout expired", "timed out"),
        ("attempt to write a readonly database", "read-only"),
    ],
)
def test_explain_database_errors(message: str, says: str) -> None:
    err = TrackyardError(f"Database error: {message}")
    text = explain(err, "postgresql://ml:secret@db.example/ml")
    assert says in text
    assert "secret" not in text


def test_explain_os_errors(tmp_path: Path) -> None:
    denied = PermissionError(13, "Permission denied", str(tmp_path / "x"))
    assert explain(denied).startswith("permission denied writing")
    full = OSError(28, "No space left on device", "/data")
    assert explain(full) == "no space left on the device holding '/data'."
    ro = OSError(30, "Read-only file system", "/mnt/ro")
    assert explain(ro) == "'/mnt/ro' is on a read-only file system."
    wrapped = TrackyardError("Permission denied for artifact")
    wrapped.__cause__ = PermissionError(1, "Operation not permitted", "/sys/x")
    assert explain(wrapped).startswith("permission denied writing '/sys/x'")


def test_doctor_api(tmp_path: Path) -> None:
    doc = Doctor(f"sqlite:///{tmp_path}/api.db", str(tmp_path / "a"), write=False)
    checks = doc.run()
    assert doc.ok
    assert [c.name for c in checks][:4] == ["plugins", "plugin", "connect", "read"]
    assert os.path.isabs(str(doc.artifact_root))
