"""SQL writes under load: batched latest-metric upserts, SQLite's in-process writer queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy")

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from trackyard.entities import Metric, Param
from trackyard.errors import ErrorCode, TrackyardError
from trackyard_sql.tracking import SqlTrackingStore

T0 = 1_700_000_000_000


@pytest.fixture(params=["sqlite", "sqlite-portable", "postgresql", "mysql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    if request.param.startswith("sqlite"):
        uri = f"sqlite:///{tmp_path / 'w.db'}"
    else:
        base = postgres_base_uri() if request.param == "postgresql" else mysql_base_uri()
        uri = worker_database_uri(base, "writebatch")
    made = SqlTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "artifacts"))
    if request.param == "sqlite-portable":
        made._use_portable_statements()
    yield made
    made.close()


def test_latest_metrics_of_a_large_batch_follow_the_later_rule(store: SqlTrackingStore) -> None:
    # 250 keys: more than one multi-row statement; each key decided on its own row
    exp = store.create_experiment(f"latest-{id(store)}")
    rid = store.create_run(exp, "u", T0, [], "r").info.run_id
    keys = [f"k{i:03d}" for i in range(250)]
    store.log_batch(rid, [Metric(k, 1.0, T0 + 10, 5) for k in keys], [], [])
    second = []
    for i, k in enumerate(keys):
        if i % 3 == 0:
            second.append(Metric(k, 2.0, T0 + 20, 6))  # later step: replaces
        elif i % 3 == 1:
            second.append(Metric(k, 3.0, T0 + 30, 4))  # earlier step: kept out
        else:
            second.append(Metric(k, 0.5, T0 + 10, 5))  # same step and time, lower value
    store.log_batch(rid, second, [], [])
    run = store.get_run(rid)
    expected = {k: 2.0 if i % 3 == 0 else 1.0 for i, k in enumerate(keys)}
    assert run.data.metrics == expected
    steps = {m.key: m.step for m in run.data.metric_objects}
    assert steps == {k: 6 if i % 3 == 0 else 5 for i, k in enumerate(keys)}
    assert len(store.get_metric_history(rid, "k001")) == 2


def test_sqlite_writers_of_one_process_queue_without_holding_connections(
    tmp_path: Path,
) -> None:
    # While one write transaction is open, other writer threads wait on the process's queue
    # (not in SQLite's busy handler, each with a pooled connection of its own).
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 'q.db'}", str(tmp_path / "artifacts"))
    try:
        db = store.database
        exp = store.create_experiment("queue")
        rids = [store.create_run(exp, "u", T0, [], f"r{i}").info.run_id for i in range(12)]
        inside = threading.Event()
        release = threading.Event()

        def hold(cur: object) -> None:
            inside.set()
            assert release.wait(60)

        holder = threading.Thread(target=db.write, args=(hold,))
        holder.start()
        assert inside.wait(60)
        writers = [
            threading.Thread(target=store.log_batch, args=(rid, [Metric("m", 1.0, T0, 0)], [], []))
            for rid in rids
        ]
        for t in writers:
            t.start()
        for t in writers:
            t.join(0.05)
        checked_out = db.engine.pool.checkedout()  # type: ignore[attr-defined]
        release.set()
        holder.join(60)
        for t in writers:
            t.join(60)
        assert checked_out == 1
        assert all(store.get_run(rid).data.metrics == {"m": 1.0} for rid in rids)
    finally:
        store.close()


def test_sqlite_log_batches_waiting_together_share_a_commit_and_fail_alone(
    tmp_path: Path,
) -> None:
    # 12 batches queue behind an open write; they are then written in one transaction,
    # except the 3 that refuse a changed param: each of those fails alone, writing nothing.
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 'g.db'}", str(tmp_path / "artifacts"))
    try:
        db = store.database
        exp = store.create_experiment("group")
        rids = [store.create_run(exp, "u", T0, [], f"r{i}").info.run_id for i in range(12)]
        bad = set(rids[2::4])
        for rid in bad:
            store.log_batch(rid, [], [Param("p", "1")], [])
        inside, release = threading.Event(), threading.Event()

        def hold(cur: object) -> None:
            inside.set()
            assert release.wait(60)

        errors: dict[str, TrackyardError] = {}

        def log(rid: str) -> None:
            try:
                store.log_batch(rid, [Metric("m", 1.0, T0, 0)], [Param("p", "2")], [])
            except TrackyardError as exc:
                errors[rid] = exc

        holder = threading.Thread(target=db.write, args=(hold,))
        holder.start()
        assert inside.wait(60)
        epoch = db.write_epoch
        writers = [threading.Thread(target=log, args=(rid,)) for rid in rids]
        for t in writers:
            t.start()
        deadline = time.monotonic() + 30
        while len(db._pending) < len(rids) and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        holder.join(60)
        for t in writers:
            t.join(60)
        transactions = db.write_epoch - epoch
        assert set(errors) == bad
        assert {e.error_code for e in errors.values()} == {ErrorCode.INVALID_PARAMETER_VALUE}
        for rid in rids:
            data = store.get_run(rid).data
            assert data.metrics == ({} if rid in bad else {"m": 1.0})
            assert data.params == {"p": "1" if rid in bad else "2"}
        # the hold, one group, and each refused batch alone (12 without grouping)
        assert transactions <= 2 + len(bad), transactions
    finally:
        store.close()


def test_awkward_keys_and_values_round_trip(store: SqlTrackingStore) -> None:
    # PostgreSQL sends a batch's columns as array literals: quoting and escaping must hold
    exp = store.create_experiment(f"awkward-{id(store)}")
    rid = store.create_run(exp, "u", T0, [], "r").info.run_id
    keys = ['q"uote', "back\\slash", "comma,brace}{", "NULL", "sp ace", "üñí/ḱ", 'a\\"b']
    values = [0.1, -0.0, 1e308, 5e-324, float("inf"), float("-inf"), 2.0**60]
    points = [
        Metric(k, v, T0 + i, i - 3) for i, (k, v) in enumerate(zip(keys, values, strict=True))
    ]
    points.append(Metric("nan", float("nan"), T0, 0))
    store.log_batch(rid, points, [], [])
    store.log_batch(rid, points, [], [])  # identical points again: skipped, not failed
    got = store.get_run(rid).data.metrics
    assert set(got) == {*keys, "nan"}
    for p in points[:-1]:
        assert got[p.key] == p.value
        (hist,) = store.get_metric_history(rid, p.key)
        assert (hist.value, hist.timestamp, hist.step) == (p.value, p.timestamp, p.step)
    assert got["nan"] != got["nan"]
