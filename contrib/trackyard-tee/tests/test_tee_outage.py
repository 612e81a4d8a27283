"""A secondary that goes away and comes back: queueing, replay, restarts, crashes, rejects.

Outages are real failure modes, not mocks: a file-store root is replaced by a plain file (every
path under it then fails with ``NotADirectoryError``), or a SQLite database's directory does not
exist yet. Subprocesses play the part of a training job that exits and of a later process that
replays.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from trackyard import MlflowClient
from trackyard.backends import clear_store_cache, get_tracking_store
from trackyard.entities import Metric, Param, RunTag, ViewType
from trackyard.errors import ErrorCode, TrackyardError

from trackyard_tee import format_tee_uri, get_store
from trackyard_tee.store import ORIGIN_RUN_TAG, TeeTrackingStore

T0 = 1_700_000_000_000


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own directory (default artifact roots land there)."""
    monkeypatch.chdir(tmp_path)


def take_away(root: Path) -> None:
    """Make a directory unreachable: move it aside and put a plain file in its place."""
    os.rename(root, root.with_name(root.name + ".away"))
    root.write_text("the volume is not mounted")


def bring_back(root: Path) -> None:
    """Undo :func:`take_away`."""
    root.unlink()
    os.rename(root.with_name(root.name + ".away"), root)


def _queue_dir(store: TeeTrackingStore, number: int = 1) -> Path:
    return Path(store.status()[number - 1].queue_dir)


def _journal_seqs(queue_dir: Path) -> list[int]:
    journal = queue_dir / "journal.log"
    if not journal.exists():
        return []
    return [json.loads(line.split(" ", 1)[1])["seq"] for line in journal.read_text().splitlines()]


@pytest.fixture
def mlruns(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


@pytest.fixture
def tee_uri(tmp_path: Path, mlruns: Path) -> str:
    """SQLite primary, file-store secondary, retry at every write."""
    return format_tee_uri(
        [f"sqlite:///{tmp_path / 'primary.db'}", str(mlruns)], tmp_path / "queue", retry_interval=0
    )


@pytest.fixture
def client(tee_uri: str) -> Iterator[MlflowClient]:
    yield MlflowClient(tee_uri)


def _workload(client: MlflowClient, exp_id: str, run_id: str) -> str:
    """Writes of every kind; returns the id of a second run it creates."""
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0 / (i + 1), T0 + i, i) for i in range(50)],
        params=[Param("lr", "0.1"), Param("batch", "32")],
        tags=[RunTag("phase", "train")],
    )
    client.log_metric(run_id, "acc", float("nan"), timestamp=T0, step=1)
    client.log_metric(run_id, "acc", 0.9, timestamp=T0 + 1, step=2)
    client.log_param(run_id, "optimizer", "adam")
    client.set_tag(run_id, "note", "temp")
    client.delete_tag(run_id, "note")
    client.set_tag(run_id, "mlflow.runName", "renamed")
    client.set_experiment_tag(exp_id, "team", "vision")
    client.set_experiment_tag(exp_id, "gone", "soon")
    client.delete_experiment_tag(exp_id, "gone")
    client.rename_experiment(exp_id, "renamed-exp")
    other_exp = client.create_experiment("second", tags={"k": "v"})
    other = client.create_run(other_exp, run_name="other", start_time=T0).info.run_id
    client.log_batch(other, metrics=[Metric("m", float(i), T0 + i, i) for i in range(10)])
    client.set_terminated(other, "FAILED", end_time=T0 + 99)
    client.set_terminated(run_id, end_time=T0 + 100)
    doomed = client.create_run(other_exp, run_name="doomed").info.run_id
    client.delete_run(doomed)
    third_exp = client.create_experiment("third")
    client.delete_experiment(third_exp)
    client.restore_experiment(third_exp)
    client.delete_experiment(third_exp)
    return other


def _assert_mirrored(store: TeeTrackingStore) -> None:
    statuses = store.flush()
    assert [(s.pending, s.available, s.last_error) for s in statuses] == [(0, True, None)] * len(
        statuses
    )
    assert store.verify() == []


# -- going away and coming back ---------------------------------------------------------------


def test_file_secondary_goes_away_and_comes_back(
    client: MlflowClient, tee_uri: str, mlruns: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = get_store(tee_uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id, run_name="first").info.run_id
    client.log_metric(run_id, "before", 1.0, timestamp=T0)
    queue_dir = _queue_dir(store)
    assert _journal_seqs(queue_dir) == []  # healthy: applied directly, nothing journaled

    take_away(mlruns)
    with caplog.at_level(logging.WARNING, logger="trackyard.tee"):
        other = _workload(client, exp_id, run_id)
    assert any("unavailable" in r.getMessage() for r in caplog.records)

    # The primary has everything; the secondary's writes wait, in order, on disk.
    assert client.get_run(run_id).data.params["optimizer"] == "adam"
    assert len(client.get_metric_history(other, "m")) == 10
    (status,) = store.status()
    assert not status.available and status.rejected == 0
    seqs = _journal_seqs(queue_dir)
    assert seqs == list(range(1, len(seqs) + 1)) and status.pending == len(seqs) > 20

    bring_back(mlruns)
    client.set_tag(run_id, "after", "outage")  # the next write replays the backlog first
    (status,) = store.status()
    assert (status.available, status.pending) == (True, 0)
    assert not (queue_dir / "journal.log").exists()  # drained journals are deleted
    assert json.loads((queue_dir / "state.json").read_text()) == {"hwm": len(seqs) + 1}
    _assert_mirrored(store)

    # The mirror, read directly, is the primary's data under the secondary's own ids.
    mirror = MlflowClient(str(mlruns))
    exp = mirror.get_experiment_by_name("renamed-exp")
    assert exp is not None and exp.tags["team"] == "vision" and "gone" not in exp.tags
    runs = mirror.search_runs([exp.experiment_id], "tags.after = 'outage'")
    assert [r.data.tags[ORIGIN_RUN_TAG] for r in runs] == [run_id]
    assert runs[0].info.run_name == "renamed" and runs[0].info.status == "FINISHED"
    assert len(mirror.get_metric_history(runs[0].info.run_id, "loss")) == 50
    third = mirror.get_experiment_by_name("third")
    assert third is not None and third.lifecycle_stage == "deleted"


def test_sqlite_secondary_missing_at_start_is_replayed_by_flush(tmp_path: Path) -> None:
    absent = tmp_path / "not-mounted-yet"
    uri = format_tee_uri(
        [str(tmp_path / "mlruns"), f"sqlite:///{absent / 'mirror.db'}"],
        tmp_path / "queue",
        retry_interval=3600,
    )
    client = MlflowClient(uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    _workload(client, exp_id, run_id)
    store = get_store(uri)
    (status,) = store.status()
    assert not status.available and status.pending > 20
    assert "could not open the database file" in str(status.last_error)

    absent.mkdir()
    client.log_metric(run_id, "late", 1.0)  # retry interval not over: queued, not replayed
    assert store.status()[0].pending == status.pending + 1
    _assert_mirrored(store)  # flush ignores the interval
    mirror = MlflowClient(f"sqlite:///{absent / 'mirror.db'}")
    assert mirror.get_experiment_by_name("second") is not None


def test_one_secondary_down_does_not_hold_back_another(tmp_path: Path, mlruns: Path) -> None:
    uri = format_tee_uri(
        [
            f"sqlite:///{tmp_path / 'primary.db'}",
            str(mlruns),
            f"sqlite:///{tmp_path / 'mirror.db'}",
        ],
        tmp_path / "queue",
        retry_interval=0,
    )
    client = MlflowClient(uri)
    store = get_store(uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    take_away(mlruns)
    _workload(client, exp_id, run_id)
    down, up = store.status()
    assert (down.available, up.available) == (False, True)
    assert down.pending > 20 and up.pending == 0
    assert [d for d in store.verify() if "secondary 2" in d] == []  # the healthy one is current
    bring_back(mlruns)
    _assert_mirrored(store)


def test_retry_interval_spares_an_unavailable_secondary(tmp_path: Path, mlruns: Path) -> None:
    uri = format_tee_uri(
        [f"sqlite:///{tmp_path / 'primary.db'}", str(mlruns)],
        tmp_path / "queue",
        retry_interval=3600,
    )
    client = MlflowClient(uri)
    store = get_store(uri)
    exp_id = client.create_experiment("exp")
    take_away(mlruns)
    run_id = client.create_run(exp_id).info.run_id
    bring_back(mlruns)  # back, but the tee will not look before the interval is over
    client.log_metric(run_id, "m", 1.0)
    assert store.status()[0].pending == 2
    _assert_mirrored(store)


# -- restarts ---------------------------------------------------------------------------------

_SCRIPT_ENV = {"TRACKYARD_PLUGINS": "trackyard,trackyard-tee"}


def _python(code: str, cwd: Path) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRACKYARD_", "MLFLOW_", "PYTEST_"))
    }
    env.update(_SCRIPT_ENV)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_queued_writes_survive_a_restart(tmp_path: Path, tee_uri: str, mlruns: Path) -> None:
    MlflowClient(str(mlruns)).search_experiments()  # the secondary exists...
    take_away(mlruns)  # ...but is unreachable while the job runs
    out = _python(
        f"""
        from trackyard import MlflowClient
        from trackyard.entities import Metric
        client = MlflowClient({tee_uri!r})
        exp = client.create_experiment("job")
        run = client.create_run(exp, run_name="job-run").info.run_id
        for step in range(20):
            client.log_batch(run, metrics=[Metric("loss", 1.0 / (step + 1), {T0} + step, step)])
        client.log_param(run, "epochs", "20")
        client.set_terminated(run)
        print(run)
        """,
        tmp_path,
    )
    run_id = out.strip()
    queue_dir = next((tmp_path / "queue").iterdir())
    assert _journal_seqs(queue_dir) == list(range(1, 25))

    bring_back(mlruns)
    out = _python(
        f"""
        from trackyard_tee import get_store
        (status,) = get_store({tee_uri!r}).flush()
        print(status.pending, status.available)
        """,
        tmp_path,
    )
    assert out.split() == ["0", "True"]

    clear_store_cache()
    store = get_store(tee_uri)
    _assert_mirrored(store)
    mirror = MlflowClient(str(mlruns))
    (exp,) = [e for e in mirror.search_experiments() if e.name == "job"]
    (run,) = mirror.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    assert run.data.tags[ORIGIN_RUN_TAG] == run_id
    assert run.data.params == {"epochs": "20"} and run.info.status == "FINISHED"
    assert len(mirror.get_metric_history(run.info.run_id, "loss")) == 20


def test_processes_queue_concurrently(tmp_path: Path, tee_uri: str, mlruns: Path) -> None:
    MlflowClient(tee_uri).create_experiment("shared")
    take_away(mlruns)
    code = f"""
        import sys
        from trackyard import MlflowClient
        from trackyard.entities import Metric
        client = MlflowClient({tee_uri!r})
        exp = client.get_experiment_by_name("shared").experiment_id
        run = client.create_run(exp, run_name=sys.argv[1]).info.run_id
        for step in range(40):
            client.log_metric(run, "m", float(step), {T0} + step, step)
        """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKYARD_", "PYTEST_"))}
    env.update(_SCRIPT_ENV)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), f"worker-{i}"], cwd=tmp_path, env=env
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    queue_dir = next((tmp_path / "queue").iterdir())
    assert _journal_seqs(queue_dir) == list(range(1, 3 * 41 + 1))  # no seq lost or reused
    bring_back(mlruns)
    clear_store_cache()
    store = get_store(tee_uri)
    _assert_mirrored(store)
    mirror = MlflowClient(str(mlruns))
    exp = mirror.get_experiment_by_name("shared")
    assert exp is not None
    assert len(mirror.search_runs([exp.experiment_id])) == 3


# -- crashes and damage -----------------------------------------------------------------------


def test_replay_after_a_crash_before_the_high_water_mark_writes_no_duplicates(
    client: MlflowClient, tee_uri: str, mlruns: Path
) -> None:
    store = get_store(tee_uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    take_away(mlruns)
    _workload(client, exp_id, run_id)
    queue_dir = _queue_dir(store)
    saved = (queue_dir / "journal.log").read_bytes()
    bring_back(mlruns)
    _assert_mirrored(store)
    mirror = MlflowClient(str(mlruns))
    every = [e.experiment_id for e in mirror.search_experiments(ViewType.ALL)]
    runs_before = len(mirror.search_runs(every, run_view_type=ViewType.ALL))

    # A process that applied every record and died before saving its high-water mark, and
    # before writing its id map, leaves exactly this behind:
    (queue_dir / "journal.log").write_bytes(saved)
    (queue_dir / "state.json").write_text('{"hwm": 0}')
    (queue_dir / "ids.log").write_bytes(b"")
    clear_store_cache()
    store = get_store(tee_uri)
    _assert_mirrored(store)  # every history compared point by point: nothing doubled
    mirror = MlflowClient(str(mlruns))
    exps = mirror.search_experiments(ViewType.ALL)
    assert len(exps) == 4  # Default, renamed-exp, second, third: none created twice
    runs = mirror.search_runs([e.experiment_id for e in exps], run_view_type=ViewType.ALL)
    assert len(runs) == runs_before == 3
    assert store.status()[0].rejected == 0


def test_a_torn_last_record_is_ignored_and_cut_off(
    client: MlflowClient, tee_uri: str, mlruns: Path
) -> None:
    store = get_store(tee_uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    take_away(mlruns)
    client.log_metric(run_id, "m", 1.0, timestamp=T0)
    client.log_metric(run_id, "m", 2.0, timestamp=T0 + 1)
    queue_dir = _queue_dir(store)
    with open(queue_dir / "journal.log", "ab") as fh:
        fh.write(b'0badf00d {"seq": 3, "op": "log_ba')  # the process died mid-append
    assert store.status()[0].pending == 2
    client.log_metric(run_id, "m", 3.0, timestamp=T0 + 2)  # cuts the torn tail, appends #3
    assert _journal_seqs(queue_dir) == [1, 2, 3]
    bring_back(mlruns)
    _assert_mirrored(store)


def test_a_damaged_record_stops_replay_and_loses_nothing(
    client: MlflowClient, tee_uri: str, mlruns: Path
) -> None:
    store = get_store(tee_uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    take_away(mlruns)
    for i in range(3):
        client.log_metric(run_id, "m", float(i), timestamp=T0 + i)
    queue_dir = _queue_dir(store)
    lines = (queue_dir / "journal.log").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"m"', b'"n"')  # bit rot: the checksum no longer matches
    (queue_dir / "journal.log").write_bytes(b"".join(lines))
    bring_back(mlruns)
    (status,) = store.flush()
    assert status.pending == 2 and not status.available
    assert "DATA_LOSS" in str(status.last_error) or "damaged" in str(status.last_error)
    assert (queue_dir / "journal.log").read_bytes() == b"".join(lines)  # kept for inspection


# -- refusals ---------------------------------------------------------------------------------


def test_a_write_the_secondary_refuses_is_kept_and_reported(
    client: MlflowClient, tee_uri: str, mlruns: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = get_store(tee_uri)
    client.search_experiments()  # create both targets
    MlflowClient(str(mlruns)).create_experiment("taken")  # made on the secondary directly
    with caplog.at_level(logging.WARNING, logger="trackyard.tee"):
        exp_id = client.create_experiment("taken")
    assert any("refused" in r.getMessage() for r in caplog.records)
    (status,) = store.status()
    assert (status.available, status.pending, status.rejected) == (True, 0, 1)
    (line,) = (Path(status.queue_dir) / "rejected.log").read_text().splitlines()
    rejected = json.loads(line.split(" ", 1)[1])
    assert rejected["op"] == "create_experiment"
    assert rejected["error_code"] == ErrorCode.RESOURCE_ALREADY_EXISTS
    assert rejected["args"]["experiment_id"] == exp_id

    ok = client.create_experiment("fine")  # later writes are mirrored as usual
    client.create_run(ok)
    diffs = store.verify()
    assert diffs and all("taken" in d or f"experiment {exp_id}" in d for d in diffs)


def test_the_primary_refusing_a_write_reaches_no_secondary(
    client: MlflowClient, tee_uri: str, mlruns: Path
) -> None:
    store = get_store(tee_uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    client.log_param(run_id, "p", "1")
    with pytest.raises(TrackyardError) as excinfo:
        client.log_batch(run_id, metrics=[Metric("m", 1.0, T0, 0)], params=[Param("p", "2")])
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with pytest.raises(TrackyardError):
        client.create_experiment("exp")
    (status,) = store.status()
    assert (status.pending, status.rejected) == (0, 0)
    _assert_mirrored(store)
    mirror = MlflowClient(str(mlruns))
    exp = mirror.get_experiment_by_name("exp")
    assert exp is not None
    (run,) = mirror.search_runs([exp.experiment_id])
    assert run.data.params == {"p": "1"} and run.data.metrics == {}


def test_an_operator_can_skip_a_write_that_never_succeeds(
    client: MlflowClient, tee_uri: str, mlruns: Path
) -> None:
    store = get_store(tee_uri)
    exp_id = client.create_experiment("exp")
    run_id = client.create_run(exp_id).info.run_id
    take_away(mlruns)
    client.log_metric(run_id, "m", 1.0, timestamp=T0)
    client.log_metric(run_id, "m", 2.0, timestamp=T0 + 1)
    record = store.skip_next(1)
    assert record is not None and record.seq == 1 and record.op == "log_batch"
    (status,) = store.status()
    assert (status.pending, status.rejected) == (1, 1)
    bring_back(mlruns)
    store.flush()
    mirror = MlflowClient(str(mlruns))
    exp = mirror.get_experiment_by_name("exp")
    assert exp is not None
    (run,) = mirror.search_runs([exp.experiment_id], f"tags.`{ORIGIN_RUN_TAG}` = '{run_id}'")
    assert [p.value for p in mirror.get_metric_history(run.info.run_id, "m")] == [2.0]


# -- the command line -------------------------------------------------------------------------


def test_cli_status_flush_and_verify(tmp_path: Path, tee_uri: str, mlruns: Path) -> None:
    client = MlflowClient(tee_uri)
    exp_id = client.create_experiment("exp")
    take_away(mlruns)
    client.create_run(exp_id)

    def trackyard(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKYARD_", "PYTEST_"))}
        env.update(_SCRIPT_ENV)
        return subprocess.run(
            [sys.executable, "-m", "trackyard.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = trackyard("tee", "status", tee_uri)
    assert done.returncode == 0, done.stderr
    assert "pending writes: 1" in done.stdout
    done = trackyard("tee", "flush", tee_uri)
    assert done.returncode == 1 and "UNAVAILABLE" in done.stdout
    bring_back(mlruns)
    done = trackyard("tee", "flush", tee_uri)
    assert done.returncode == 0 and "pending writes: 0" in done.stdout
    done = trackyard("tee", "verify", tee_uri)
    assert done.returncode == 0 and "mirrors the primary" in done.stdout, done.stdout


def test_resolved_through_the_plugin_system(tee_uri: str) -> None:
    from trackyard.plugins import get_plugin_manager

    manager = get_plugin_manager()
    assert manager.resolve("tracking", tee_uri) is TeeTrackingStore
    (info,) = [p for p in manager.plugins() if p.name == "trackyard_tee"]
    assert info.distribution == "trackyard-tee" and not info.builtin
    assert info.schemes == {"tracking": ["tee"]}
    assert isinstance(get_tracking_store(tee_uri), TeeTrackingStore)


def test_queue_directory_is_separate_per_primary_and_secondary(tmp_path: Path) -> None:
    a = format_tee_uri([str(tmp_path / "p1"), str(tmp_path / "s")], tmp_path / "q")
    b = format_tee_uri([str(tmp_path / "p2"), str(tmp_path / "s")], tmp_path / "q")
    dirs = {s.queue_dir for uri in (a, b) for s in get_store(uri).status()}
    assert len(dirs) == 2
    for d in dirs:
        description = json.loads((Path(d) / "target.json").read_text())
        assert description["secondary"] == str(tmp_path / "s")
