"""The DuckDB stores beyond the conformance kit: bad input, concurrency, sharing, plans.

- a file held by another process, a forked child, a file that is not DuckDB, a DuckDB
  database that trackyard did not make, a database of a newer trackyard schema: each is a
  TrackyardError that says what happened, never a raw DuckDB exception, and nothing is
  written;
- ``duckdb:///:memory:`` is one database per process, shared by every client and by the
  tracking and registry stores of the URI;
- one run's metric history is read through the index, not by scanning other series;
- a file database is closed and opened again every so many writes (recycling), between
  calls, with every thread's work intact.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trackyard import MlflowClient, analytics
from trackyard.backends import get_registry_store, get_tracking_store
from trackyard.entities import Metric, Param, RunData, RunTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing import make_client
from trackyard_duckdb import schema
from trackyard_duckdb._database import (
    FSYNC_ENV,
    RECYCLE_ENV,
    fsync_policy,
    parse_location,
    recycle_interval,
)
from trackyard_duckdb.registry import DuckDBRegistryStore
from trackyard_duckdb.tracking import HISTORY_SQL, DuckDBTrackingStore

T0 = 1_700_000_000_000


def _uri(path: Path) -> str:
    return f"duckdb:///{path}"


def _store(path: Path, tmp_path: Path) -> DuckDBTrackingStore:
    return DuckDBTrackingStore(_uri(path), str(tmp_path / "artifacts"))


def _expect(code: str, fn: Any, *args: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args)
    error = excinfo.value
    assert error.error_code == code, error
    assert type(error) is TrackyardError
    assert not isinstance(error.__cause__, duckdb.Error)
    return error


# -- URIs ---------------------------------------------------------------------------------


def test_uri_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_location("duckdb:///runs.duckdb") == str(tmp_path / "runs.duckdb")
    assert parse_location("duckdb:////abs/x.duckdb") == "/abs/x.duckdb"
    assert parse_location("duckdb:///:memory:") == ":memory:"
    assert parse_location("duckdb://") == ":memory:"
    assert parse_location("duckdb:///:memory:team") == ":memory:team"
    for bad in ("duckdb://host/x.duckdb", "duckdb:///x.duckdb?threads=2", "sqlite:///x.db"):
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, parse_location, bad)


def test_scheme_resolves_to_the_duckdb_stores(tmp_path: Path) -> None:
    uri = _uri(tmp_path / "resolved.duckdb")
    tracking = get_tracking_store(uri, str(tmp_path / "a"))
    registry = get_registry_store(uri, uri)
    assert isinstance(tracking, DuckDBTrackingStore)
    assert isinstance(registry, DuckDBRegistryStore)
    tracking.close()
    registry.close()


# -- bad input -----------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys
    from trackyard.testing import make_client
    from trackyard_duckdb.tracking import DuckDBTrackingStore

    store = DuckDBTrackingStore(sys.argv[1], sys.argv[2])
    client = make_client(store)
    client.create_experiment("held")
    print("READY", flush=True)
    sys.stdin.readline()
    names = sorted(e.name for e in client.search_experiments())
    print("NAMES", ",".join(names), flush=True)
    store.close()
    """
)


def test_file_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, _uri(path), str(tmp_path / "artifacts")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "READY"
        error = _expect(ErrorCode.RESOURCE_CONFLICT, _store, path, tmp_path)
        message = str(error)
        assert f"PID {holder.pid}" in message
        assert "trackyard tracking server" in message and "SQL store" in message
        with pytest.raises(TrackyardError):
            MlflowClient(_uri(path)).get_experiment("0")
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().split() == ["NAMES", "Default,held"]
    finally:
        holder.communicate(timeout=60)
    store = _store(path, tmp_path)  # released: this process may open it now
    assert make_client(store).get_experiment_by_name("held") is not None
    store.close()


def test_forked_child_cannot_use_the_parents_database(tmp_path: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    store = _store(tmp_path / "forked.duckdb", tmp_path)
    client = make_client(store)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what happens, never return into pytest
        code = "no error"
        try:
            client.create_experiment("from-child")
        except TrackyardError as exc:
            code = f"{exc.error_code} {'forked' in str(exc)} {f'PID {os.getppid()}' in str(exc)}"
        except BaseException as exc:  # pragma: no cover - reported to the parent
            code = f"raw {type(exc).__name__}"
        os.write(write, code.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        assert fh.read() == "RESOURCE_CONFLICT True True"
    assert client.get_experiment_by_name("from-child") is None
    client.create_experiment("from-parent")  # the parent is unaffected
    store.close()


def test_file_that_is_not_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    content = b"these are my notes, not a database\n" * 100
    path.write_bytes(content)
    error = _expect(ErrorCode.INVALID_PARAMETER_VALUE, _store, path, tmp_path)
    assert "not a DuckDB database" in str(error)
    assert path.read_bytes() == content


def test_duckdb_database_of_someone_else(tmp_path: Path) -> None:
    path = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (id INTEGER)")
    con.close()
    error = _expect(ErrorCode.INVALID_PARAMETER_VALUE, _store, path, tmp_path)
    assert "not a trackyard store" in str(error) and "sales" in str(error)
    con = duckdb.connect(str(path))
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    assert tables == {"sales"}


@pytest.mark.parametrize(
    "change, named",
    [
        ("UPDATE trackyard_schema SET version = 99 WHERE family = 'tracking'", "tracking v99"),
        ("UPDATE trackyard_schema SET version = 3 WHERE family = 'traces'", "traces v3"),
        ("INSERT INTO trackyard_schema VALUES ('gadgets', 1)", "gadgets v1"),
    ],
)
def test_database_of_a_newer_trackyard(tmp_path: Path, change: str, named: str) -> None:
    path = tmp_path / "newer.duckdb"
    _store(path, tmp_path).close()
    con = duckdb.connect(str(path))
    con.execute(change)
    before = con.execute("SELECT * FROM trackyard_schema ORDER BY family").fetchall()
    con.close()
    error = _expect(ErrorCode.INVALID_STATE, _store, path, tmp_path)
    assert named in str(error) and f"tracking v{schema.tracking.VERSION}" in str(error)
    assert "never migrated down" in str(error)
    _expect(ErrorCode.INVALID_STATE, DuckDBRegistryStore, _uri(path))
    con = duckdb.connect(str(path))
    assert con.execute("SELECT * FROM trackyard_schema ORDER BY family").fetchall() == before
    con.close()


def test_paths_that_cannot_hold_a_database(tmp_path: Path) -> None:
    _expect(ErrorCode.INVALID_PARAMETER_VALUE, _store, tmp_path, tmp_path)
    error = _expect(
        ErrorCode.INVALID_PARAMETER_VALUE, _store, tmp_path / "no" / "x.duckdb", tmp_path
    )
    assert "does not exist" in str(error)
    assert not (tmp_path / "no").exists()


# -- sharing -------------------------------------------------------------------------------


def test_memory_database_is_shared_in_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"duckdb:///:memory:{uuid.uuid4().hex}"
    first = MlflowClient(uri)
    exp = first.create_experiment("shared")
    run_id = first.create_run(exp).info.run_id
    first.log_metric(run_id, "m", 1.0)
    # another artifact root gives another store instance; it sees the same database
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "elsewhere"))
    second = MlflowClient(uri)
    assert second._tracking_store is not first._tracking_store
    assert second.get_run(run_id).data.metrics == {"m": 1.0}
    second.create_registered_model("model")
    second.create_model_version("model", f"runs:/{run_id}/model", run_id=run_id)
    assert first.get_registered_model("model").latest_versions[0].run_id == run_id
    other = MlflowClient(f"duckdb:///:memory:{uuid.uuid4().hex}")
    assert other.get_experiment_by_name("shared") is None


def test_threads_read_while_others_write(tmp_path: Path) -> None:
    store = _store(tmp_path / "threads.duckdb", tmp_path)
    client = make_client(store)
    exp = client.create_experiment("threads")
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(w: int) -> None:
        try:
            for i in range(15):
                run_id = client.create_run(exp, run_name=f"w{w}-{i}").info.run_id
                client.log_batch(
                    run_id,
                    metrics=[Metric("m", float(i), T0 + i, i) for _ in range(3)],
                    params=[Param("w", str(w))],
                )
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    def reader() -> None:
        try:
            while not done.is_set():
                for run in client.search_runs([exp], "metrics.m >= 0", max_results=50):
                    assert run.data.params["w"] in {"0", "1", "2"}
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert len(client.search_runs([exp], max_results=100)) == 45
    store.close()


# -- plans ---------------------------------------------------------------------------------


def test_one_history_is_read_without_scanning_the_others(tmp_path: Path) -> None:
    store = _store(tmp_path / "plans.duckdb", tmp_path)
    client = make_client(store)
    exp = client.create_experiment("plans")
    runs = [client.create_run(exp).info.run_id for _ in range(4)]
    for step in range(0, 60_000, 1_000):  # interleaved, as concurrent training writes them
        for r, run_id in enumerate(runs):
            client.log_batch(
                run_id,
                metrics=[Metric("loss", float(r), T0 + s, s) for s in range(step, step + 1_000)],
            )
    target = client.create_run(exp).info.run_id
    client.log_batch(target, metrics=[Metric("loss", 1.0, T0 + s, s) for s in range(10)])
    client.log_batch(target, metrics=[Metric("loss", 2.0, T0, 0)])  # out of order: sorted read
    assert len(client.get_metric_history(target, "loss")) == 11
    cur = store._db.cursor()
    cur.execute(
        "SELECT s.series_key FROM metric_series s JOIN runs r USING (run_key) "
        "WHERE r.run_id = ? AND s.key = 'loss' AND NOT s.ordered",
        [target],
    )
    series_key = cur.fetchone()[0]
    plan = cur.execute("EXPLAIN ANALYZE " + HISTORY_SQL, [series_key]).fetchall()[0][1]
    assert "Index Scan" in plan and "Sequential Scan" not in plan
    store.close()


def test_small_chunks_are_merged_and_histories_stay_exact(tmp_path: Path) -> None:
    store = _store(tmp_path / "chunks.duckdb", tmp_path)
    client = make_client(store)
    run_id = client.create_run(client.create_experiment("chunks")).info.run_id
    expected: dict[tuple[float, int, int], None] = {}
    for i in range(100):  # forward, one point per call: the series stays ordered
        client.log_metric(run_id, "m", float(i % 7), timestamp=T0 + i, step=i)
        expected[(float(i % 7), T0 + i, i)] = None

    def series() -> tuple[Any, ...]:
        cur = store._db.cursor()
        cur.execute(
            "SELECT s.ordered, s.points, count(c.chunk_key) FROM metric_series s "
            "JOIN metric_chunks c USING (series_key) JOIN runs r USING (run_key) "
            "WHERE r.run_id = ? AND s.key = 'm' GROUP BY ALL",
            [run_id],
        )
        return tuple(cur.fetchone())

    ordered, points, chunks = series()
    assert ordered and points == 100 and chunks < 40
    for i in range(40):  # backwards, with repeats of stored points: no longer ordered
        batch = [Metric("m", float(i), T0 + 50 - i, 3), Metric("m", 1.0, T0 + 1, 1)]
        client.log_batch(run_id, metrics=batch)
        expected[(float(i), T0 + 50 - i, 3)] = None
    ordered, points, chunks = series()
    assert not ordered and points == len(expected) and chunks < 40
    history = [(p.value, p.timestamp, p.step) for p in client.get_metric_history(run_id, "m")]
    assert history == sorted(expected, key=lambda p: (p[1], p[2], p[0]))
    assert client.get_run(run_id).data.metrics["m"] == float(99 % 7)
    page = store.get_metric_history(run_id, "m", max_results=30)
    rest = store.get_metric_history(run_id, "m", page_token=page.token)
    assert [(p.value, p.timestamp, p.step) for p in [*page, *rest]] == history
    store.close()


def test_downsampling_an_ordered_series_cut_in_many_chunks(tmp_path: Path) -> None:
    # Chunks of 37 points: bucket bounds fall inside chunks and a bucket spans several;
    # values from a small set (and NaN) make ties for the lowest and highest common, in
    # and across chunks. The kept points must be those of the definition.
    store = _store(tmp_path / "down.duckdb", tmp_path)
    client = make_client(store)
    run_id = client.create_run(client.create_experiment("down")).info.run_id
    values = [float("nan") if i % 97 == 5 else float((i * 7) % 11 - 5) for i in range(1111)]
    values[300] = -0.0  # equal to 0.0: a tie, not a lower value
    points = [Metric("m", v, T0 + i, i) for i, v in enumerate(values)]
    for start in range(0, len(points), 37):
        client.log_batch(run_id, metrics=points[start : start + 37])
    full = client.get_metric_history(run_id, "m")

    def shape(series: list[Metric]) -> list[tuple[Any, int]]:
        return [("nan" if p.value != p.value else p.value, p.step) for p in series]

    for max_points in (4, 5, 8, 40, 101, 1000, 1110, 1111, 5000):
        got = client.get_metric_history_bulk(run_id, "m", max_points=max_points)[run_id]["m"]
        assert shape(got) == shape(analytics.downsample(full, max_points)), max_points
    store.close()


def test_fsync_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for value, policy in (
        ("none", "none"),
        (" NONE ", "none"),
        ("commit", "commit"),
        ("x", "commit"),
    ):
        monkeypatch.setenv(FSYNC_ENV, value)
        assert fsync_policy() == policy
    monkeypatch.delenv(FSYNC_ENV)
    assert fsync_policy() == "commit"
    for value, mode in (("none", "none"), ("commit", "standard")):
        monkeypatch.setenv(FSYNC_ENV, value)
        store = _store(tmp_path / f"fsync-{value}.duckdb", tmp_path)
        cur = store._db.cursor()
        cur.execute("SELECT current_setting('fsync_mode')")
        assert str(cur.fetchone()[0]).lower() == mode
        store.close()


# -- recycling ------------------------------------------------------------------------------


def test_recycle_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RECYCLE_ENV, raising=False)
    assert recycle_interval() == 2_000
    for value, interval in (("50", 50), (" 7 ", 7), ("0", 0), ("-3", 0), ("many", 2_000)):
        monkeypatch.setenv(RECYCLE_ENV, value)
        assert recycle_interval() == interval


def test_file_database_is_reopened_every_so_many_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RECYCLE_ENV, "5")
    store = _store(tmp_path / "recycle.duckdb", tmp_path)
    client = make_client(store)
    exp = client.create_experiment("recycle")  # write 1
    run_id = client.create_run(exp).info.run_id  # write 2
    for i in range(23):  # writes 3 to 25
        client.log_batch(run_id, metrics=[Metric("m", float(i), T0 + i, i)])
    assert store._db.reopens == 5
    history = client.get_metric_history(run_id, "m")
    assert [(m.value, m.step) for m in history] == [(float(i), i) for i in range(23)]
    assert client.get_run(run_id).data.metrics == {"m": 22.0}
    store.close()
    # a run of reads alone never reopens; 0 turns recycling off
    monkeypatch.setenv(RECYCLE_ENV, "0")
    store = _store(tmp_path / "recycle.duckdb", tmp_path)
    client = make_client(store)
    for i in range(12):
        client.log_metric(run_id, "n", float(i), timestamp=T0, step=i)
    assert store._db.reopens == 0
    assert len(client.get_metric_history(run_id, "n")) == 12
    store.close()


def test_memory_database_is_never_reopened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RECYCLE_ENV, "2")
    uri = f"duckdb:///:memory:recycle-{uuid.uuid4().hex}"
    store = DuckDBTrackingStore(uri, "memory://artifacts")
    client = make_client(store)
    exp = client.create_experiment("kept")
    for i in range(6):
        client.create_run(exp, run_name=f"r{i}")
    assert store._db.reopens == 0
    assert len(client.search_runs([exp])) == 6
    store.close()


def test_threads_keep_working_across_reopens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RECYCLE_ENV, "7")
    store = _store(tmp_path / "recycle-threads.duckdb", tmp_path)
    client = make_client(store)
    exp = client.create_experiment("threads")
    runs = [client.create_run(exp, run_name=f"r{w}").info.run_id for w in range(4)]
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(40):
                client.log_batch(
                    runs[w],
                    metrics=[Metric("m", float(i), T0 + i, i)],
                    tags=[RunTag("i", str(i))],
                )
                if i % 5 == 0:  # a read between writes, on this thread's cursor
                    assert client.get_run(runs[w]).data.metrics["m"] == float(i)
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert store._db.reopens >= 1
    for run_id in runs:
        assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(40))
        assert client.get_run(run_id).data.tags["i"] == "39"
    store.close()


def test_a_failed_reopen_is_raised_by_later_calls_not_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RECYCLE_ENV, "3")
    monkeypatch.setattr("trackyard_duckdb._database._REOPEN_PATIENCE", 0.0)
    store = _store(tmp_path / "lost.duckdb", tmp_path)
    client = make_client(store)
    run_id = client.create_run(client.create_experiment("lost")).info.run_id
    db = store._db
    while db._writes < 2:  # the next write is the third since the last open
        client.set_tag(run_id, "t", str(db._writes))
    taken = TrackyardError("held elsewhere (test)", ErrorCode.RESOURCE_CONFLICT)

    def refuse() -> Any:
        raise taken

    monkeypatch.setattr(store._db, "_connect", refuse)
    client.log_metric(run_id, "m", 1.0, timestamp=T0)  # committed, then the reopen fails
    error = _expect(ErrorCode.RESOURCE_CONFLICT, client.get_run, run_id)
    assert "held elsewhere" in error.message
    assert store.closed  # so the store cache opens a new store for the URI
    store.close()
    monkeypatch.undo()
    client = MlflowClient(tracking_uri=_uri(tmp_path / "lost.duckdb"))
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


def test_run_data_from_parts_makes_metric_objects_only_when_read() -> None:
    # the public fast path that the DuckDB (and SQL) store build their runs with
    rows = [("loss", 0.5, T0, 3), ("acc", float("nan"), T0 + 1, 4)]
    data = RunData.from_parts(rows, {"loss": 0.5, "acc": float("nan")}, {"p": "1"}, {"t": "x"})
    assert data._metric_objs is None
    assert data.params == {"p": "1"} and data.tags == {"t": "x"}
    assert data.metrics["loss"] == 0.5
    objects = data.metric_objects
    assert [(m.key, m.timestamp, m.step) for m in objects] == [("loss", T0, 3), ("acc", T0 + 1, 4)]
    assert data.metric_objects is objects
    same = RunData.from_parts(rows[:1], {"loss": 0.5}, {"p": "1"}, {"t": "x"})
    assert same == RunData([Metric("loss", 0.5, T0, 3)], [Param("p", "1")], [RunTag("t", "x")])


@pytest.mark.parametrize("scheme", ["duckdb", "sqlite"])
def test_the_store_cache_replaces_a_closed_store(tmp_path: Path, scheme: str) -> None:
    from trackyard.backends import clear_store_cache

    uri = f"{scheme}:///{tmp_path / 'cached.db'}"
    root = str(tmp_path / "artifacts")
    try:
        first = get_tracking_store(uri, root)
        assert get_tracking_store(uri, root) is first and not first.closed
        exp = make_client(first).create_experiment("kept")
        first.close()
        assert first.closed
        second = get_tracking_store(uri, root)
        assert second is not first and not second.closed
        assert make_client(second).get_experiment(exp).name == "kept"
        registry = get_registry_store(uri, uri)
        registry.close()
        assert registry.closed
        again = get_registry_store(uri, uri)
        assert again is not registry and not again.closed
        again.create_registered_model("after-reopen")
        assert again.get_registered_model("after-reopen").name == "after-reopen"
    finally:
        clear_store_cache()
