"""``synchronous=False`` logging: queued, coalesced, bounded, flushed, and never silent on failure.

Runs on the default SQLite store and on the in-memory store (trackyard-memory).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trackyard
from trackyard import MlflowClient, RunOperations
from trackyard._async_logging import AsyncLoggingError, writer_for
from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.plugins.manager import reset_plugin_manager


@pytest.fixture(params=["sqlite", "memory"])
def client(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    if request.param == "memory":
        from trackyard_memory import fresh_uri, reset

        monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
        reset_plugin_manager()
        uri = fresh_uri("async")
        yield MlflowClient(uri)
        reset(uri)
    else:
        yield MlflowClient(f"sqlite:///{tmp_path / 'async.db'}")


def _run(client: MlflowClient) -> str:
    exp = client.get_experiment_by_name("async")
    exp_id = exp.experiment_id if exp else client.create_experiment("async")
    return client.create_run(exp_id).info.run_id


def test_async_calls_return_run_operations_and_store_every_point(client: MlflowClient) -> None:
    run = _run(client)
    ops = [client.log_metric(run, "loss", i / 10, step=i, synchronous=False) for i in range(2500)]
    assert all(isinstance(op, RunOperations) for op in ops)
    big = [Metric("acc", float(i), 1_700_000_000_000 + i, i) for i in range(2345)]
    batch = client.log_batch(run, metrics=big, params=[Param("lr", "0.1")], synchronous=False)
    assert isinstance(batch, RunOperations)
    tag = client.set_tag(run, "phase", "train", synchronous=False)
    param = client.log_param(run, "seed", 7, synchronous=False)
    assert isinstance(param, RunOperations) and isinstance(tag, RunOperations)
    RunOperations.combine([*ops, batch, tag, param]).wait()
    data = client.get_run(run).data
    assert data.params == {"lr": "0.1", "seed": "7"} and data.tags["phase"] == "train"
    loss = client.get_metric_history(run, "loss")
    assert sorted(m.step for m in loss) == list(range(2500))
    assert [m.value for m in sorted(loss, key=lambda m: m.step)][:3] == [0.0, 0.1, 0.2]
    assert len(client.get_metric_history(run, "acc")) == 2345


def test_sync_calls_keep_their_results(client: MlflowClient) -> None:
    run = _run(client)
    assert client.log_metric(run, "m", 1.0) is None
    assert client.log_param(run, "p", 3) == 3
    assert client.set_tag(run, "t", "v", synchronous=True) is None
    assert client.log_batch(run, tags=[RunTag("u", "w")]) is None
    assert client.get_run(run).data.metrics == {"m": 1.0}


def test_metric_extras_and_non_plain_values_take_the_checked_path(client: MlflowClient) -> None:
    run = _run(client)
    client.log_metric(run, "s", "0.5", synchronous=False)
    client.log_metric(run, "t", True, timestamp=123, step=4, synchronous=False)
    client.log_metric(run, "i", 3, synchronous=False)
    trackyard.flush_async_logging()
    metrics = client.get_run(run).data.metrics
    assert metrics == {"s": 0.5, "t": 1.0, "i": 3.0}
    (point,) = client.get_metric_history(run, "t")
    assert (point.timestamp, point.step) == (123, 4)


def test_tags_apply_in_order_and_runname_renames(client: MlflowClient) -> None:
    run = _run(client)
    for i in range(250):
        client.set_tag(run, "k", f"v{i}", synchronous=False)
        client.set_tag(run, f"key{i}", str(i), synchronous=False)
    client.set_tag(run, "mlflow.runName", "renamed", synchronous=False).wait()  # type: ignore[union-attr]
    got = client.get_run(run)
    assert got.data.tags["k"] == "v249" and got.data.tags["key249"] == "249"
    assert got.info.run_name == "renamed"


def test_bad_input_raises_in_the_caller_and_queues_nothing(client: MlflowClient) -> None:
    run = _run(client)
    with pytest.raises(TrackyardError) as info:
        client.log_metric(run, "bad//key", 1.0, synchronous=False)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with pytest.raises(TrackyardError):
        client.log_metric(run, "m", None, synchronous=False)  # type: ignore[arg-type]
    with pytest.raises(TrackyardError):
        client.log_metric("not a run id!", "m", 1.0, synchronous=False)
    with pytest.raises(TrackyardError):
        client.log_batch(run, params=[Param("p", "1"), Param("p", "2")], synchronous=False)
    trackyard.flush_async_logging()
    assert client.get_run(run).data.metrics == {} and client.get_run(run).data.params == {}


def test_param_conflict_fails_only_the_guilty_operation(
    client: MlflowClient, caplog: pytest.LogCaptureFixture
) -> None:
    run = _run(client)
    first = client.log_param(run, "p", "1", synchronous=False)
    clash = client.log_param(run, "p", "2", synchronous=False)
    other = client.log_param(run, "q", "3", synchronous=False)
    point = client.log_metric(run, "m", 1.0, synchronous=False)
    with caplog.at_level(logging.ERROR, logger="trackyard.async_logging"):
        first.wait()
        with pytest.raises(AsyncLoggingError) as info:
            clash.wait()
    other.wait()
    point.wait()  # type: ignore[union-attr]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert len(info.value.failures) == 1 and run in str(info.value)
    assert "Asynchronous logging failed" in caplog.text  # logged when it happened
    assert client.get_run(run).data.params == {"p": "1", "q": "3"}
    trackyard.flush_async_logging()  # wait() reported it: flush does not raise it again


def test_wait_after_a_batch_failed_in_the_store(client: MlflowClient) -> None:
    """The issue's bad input: the store refuses the batch (the run was deleted meanwhile)."""
    run, other = _run(client), _run(client)
    client.delete_run(run)
    ops = [
        client.log_batch(
            run, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")], synchronous=False
        ),
        client.log_metric(run, "m", 2.0, synchronous=False),
        client.log_metric(other, "m", 3.0, synchronous=False),
    ]
    combined = RunOperations.combine(ops)
    with pytest.raises(AsyncLoggingError) as info:
        combined.wait()
    failures = info.value.failures
    assert {f.run_id for f in failures} == {run}
    assert len(failures) == 2  # the params batch and the metrics batch of the deleted run
    assert "2 asynchronous logging operation(s) failed" in str(info.value)
    ops[2].wait()  # type: ignore[union-attr]  # the healthy run's point was written
    assert client.get_run(other).data.metrics == {"m": 3.0}
    with pytest.raises(AsyncLoggingError):
        ops[1].wait()  # type: ignore[union-attr]  # each wait() reports its own failures


def test_flush_raises_unreported_failures_once(client: MlflowClient) -> None:
    run = _run(client)
    client.delete_run(run)
    client.log_metric(run, "m", 1.0, synchronous=False)
    with pytest.raises(AsyncLoggingError) as info:
        trackyard.flush_async_logging()
    assert info.value.failures[0].run_id == run
    trackyard.flush_async_logging()  # reported: not raised twice


def test_set_terminated_writes_queued_work_first(client: MlflowClient) -> None:
    run = _run(client)
    for i in range(3000):
        client.log_metric(run, "m", float(i), step=i, synchronous=False)
    client.set_terminated(run)
    assert len(client.get_metric_history(run, "m")) == 3000
    assert client.get_run(run).info.status == "FINISHED"


def test_set_terminated_raises_the_runs_unreported_failures_after_ending_it(
    client: MlflowClient,
) -> None:
    run = _run(client)
    client.log_param(run, "p", "1")
    client.log_param(run, "p", "2", synchronous=False)
    with pytest.raises(AsyncLoggingError):
        client.set_terminated(run, "KILLED")
    assert client.get_run(run).info.status == "KILLED"


def test_environment_switches_the_default(
    client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(client)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    assert isinstance(client.log_metric(run, "m", 1.0), RunOperations)
    assert client.log_metric(run, "m", 1.0, synchronous=True) is None
    monkeypatch.setenv("TRACKYARD_ENABLE_ASYNC_LOGGING", "false")  # trackyard's wins
    assert client.log_metric(run, "m", 2.0) is None
    trackyard.flush_async_logging()


def test_bounded_queue_applies_back_pressure(
    client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE", "64")
    fresh = MlflowClient(client.tracking_uri)
    run = _run(fresh)
    from trackyard.backends import clear_store_cache

    clear_store_cache()  # a new store, so a new writer that reads the size
    fresh = MlflowClient(client.tracking_uri)
    writer = writer_for(fresh._tracking_store)
    assert writer.max_pending == 64
    longest = 0
    for i in range(4000):
        fresh.log_metric(run, "m", float(i), step=i, synchronous=False)
        longest = max(longest, len(writer.queue))
    assert longest < 64
    trackyard.flush_async_logging()
    assert len(fresh.get_metric_history(run, "m")) == 4000


def test_bad_queue_size_is_refused(client: MlflowClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE", "lots")
    run = _run(client)
    from trackyard.backends import clear_store_cache

    clear_store_cache()
    with pytest.raises(TrackyardError, match="QUEUE_SIZE"):
        MlflowClient(client.tracking_uri).log_metric(run, "m", 1.0, synchronous=False)


def test_one_writer_thread_per_store_shared_by_clients_and_threads(client: MlflowClient) -> None:
    run = _run(client)
    other = MlflowClient(client.tracking_uri)

    def work(c: MlflowClient, key: str) -> None:
        for i in range(500):
            c.log_metric(run, key, float(i), step=i, synchronous=False)

    threads = [threading.Thread(target=work, args=(c, k)) for c, k in ((client, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trackyard.flush_async_logging()
    assert client._async_writer is other._async_writer is writer_for(client._tracking_store)
    names = [t.name for t in threading.enumerate() if t.name == "trackyard-async-logging"]
    assert len(names) >= 1
    assert len(client.get_metric_history(run, "a")) == len(client.get_metric_history(run, "b"))


_EXIT_SCRIPT = """
import sys
from trackyard import MlflowClient
from trackyard.entities import Metric, Param

client = MlflowClient(sys.argv[1])
exp = client.create_experiment("exit")
runs = [client.create_run(exp).info.run_id for _ in range(2)]
for i in range(20000):
    client.log_metric(runs[i % 2], "m", float(i), step=i, synchronous=False)
client.log_batch(
    runs[0], metrics=[Metric("b", 1.0, 1, s) for s in range(3000)],
    params=[Param("p", "1")], synchronous=False,
)
client.log_param(runs[1], "doomed", "x")
client.log_param(runs[1], "doomed", "y", synchronous=False)  # fails in the writer
print(" ".join(runs))
# no flush: the interpreter exits with the queue full
"""


def test_interpreter_exit_with_a_full_queue_stores_every_point(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    env = {**os.environ, "TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE": "1000"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_EXIT_SCRIPT), uri],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.split()
    client = MlflowClient(uri)
    assert len(client.get_metric_history(first, "m")) == 10000
    assert len(client.get_metric_history(second, "m")) == 10000
    assert len(client.get_metric_history(first, "b")) == 3000
    assert client.get_run(first).data.params == {"p": "1"}
    assert client.get_run(second).data.params == {"doomed": "x"}
    assert "Asynchronous logging failed" in proc.stderr and "doomed" not in proc.stdout


def _child_logs(uri: str, run: str) -> None:
    client = MlflowClient(uri)
    for i in range(1000):
        client.log_metric(run, "child", float(i), step=i, synchronous=False)
    trackyard.flush_async_logging()


@pytest.mark.skipif(sys.platform != "linux", reason="needs the fork start method")
def test_a_forked_child_gets_its_own_writer(tmp_path: Path) -> None:
    import multiprocessing

    uri = f"sqlite:///{tmp_path / 'fork.db'}"
    client = MlflowClient(uri)
    run = _run(client)
    for i in range(500):  # the parent's writer is running when the child is forked
        client.log_metric(run, "parent", float(i), step=i, synchronous=False)
    child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(uri, run))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    trackyard.flush_async_logging()
    assert len(client.get_metric_history(run, "parent")) == 500
    assert len(client.get_metric_history(run, "child")) == 1000


_FLUENT_EXIT_SCRIPT = """
import sys
import trackyard as mlflow

mlflow.set_tracking_uri(sys.argv[1])
run = mlflow.start_run()  # left active: ended at exit
for i in range(5000):
    mlflow.log_metric("m", float(i), step=i, synchronous=False)
print(run.info.run_id)
"""


def test_fluent_run_left_active_at_exit_is_ended_after_its_queue_is_written(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'fluent-exit.db'}"
    env = {**os.environ, "TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE": "500"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FLUENT_EXIT_SCRIPT), uri],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    client = MlflowClient(uri)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert len(client.get_metric_history(run_id, "m")) == 5000
