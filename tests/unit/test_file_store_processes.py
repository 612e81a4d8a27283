"""The file store under several real processes: concurrent appends, racing experiment
creation, and writers killed with SIGKILL in the middle of ``log_batch``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from trackyard.entities import ViewType
from trackyard.testing import make_client
from trackyard_file import _metrics
from trackyard_file.tracking import LOCK_FILE, FileTrackingStore

pytestmark = pytest.mark.skipif(os.name == "nt", reason="uses POSIX signals")

T0 = 1_700_000_000_000


def _spawn(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    return out


def _client(root: Path) -> Any:
    return make_client(FileTrackingStore(str(root)))


def _mlflow_parse(line: str) -> tuple[int, float, int]:
    """Parse a metric line exactly as strictly as MLflow's file store does."""
    parts = line.strip().split(" ")
    assert len(parts) in (2, 3, 5), line
    return int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) == 3 else 0


def _check_metric_file(path: Path) -> list[tuple[int, float, int]]:
    data = path.read_text()
    assert data == "" or data.endswith("\n"), f"{path} ends with a partial line"
    return [_mlflow_parse(line) for line in data.splitlines()]


_LOG_METRICS = """
    import sys
    from trackyard.testing import make_client
    from trackyard_file.tracking import FileTrackingStore
    root, run_id, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    client = make_client(FileTrackingStore(root))
    for i in range(n):
        client.log_metric(run_id, "shared", float(worker * n + i), timestamp=1000 + i,
                          step=worker * n + i)
        if i % 50 == 0:
            client.log_metric(run_id, f"w{worker}", float(i), timestamp=1000 + i, step=i)
"""


def test_four_processes_append_to_one_run(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    client = _client(root)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    n = 1000
    procs = [_spawn(_LOG_METRICS, str(root), run_id, str(w), str(n)) for w in range(4)]
    for proc in procs:
        _finish(proc)
    run_dir = Path(client._store._locate_run(run_id))
    points = _check_metric_file(run_dir / "metrics" / "shared")
    assert sorted(step for _, _, step in points) == list(range(4 * n))
    fresh = _client(root)
    history = fresh.get_metric_history(run_id, "shared")
    assert len(history) == 4 * n
    run = fresh.get_run(run_id)
    assert run.data.metrics["shared"] == float(4 * n - 1)  # the greatest step
    last_sampled = max(i for i in range(n) if i % 50 == 0)
    for w in range(4):
        assert run.data.metrics[f"w{w}"] == float(last_sampled)
    # the summary the writers kept agrees with a full re-read of the files
    entries = _metrics.loads_summary((run_dir / ".trackyard-metrics.json").read_bytes())
    assert entries["shared"].value == float(4 * n - 1)


_CREATE = """
    import sys, time
    from trackyard.errors import TrackyardError
    from trackyard.testing import make_client
    from trackyard_file.tracking import FileTrackingStore
    root, start, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    client = make_client(FileTrackingStore(root))
    while time.time() < start:
        pass
    for name in names:
        try:
            print("created", client.create_experiment(name), flush=True)
        except TrackyardError as exc:
            print("error", exc.error_code, flush=True)
"""


def test_processes_racing_to_create_one_name(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    FileTrackingStore(str(root))
    names = [f"race-{i}" for i in range(15)]
    start = time.time() + 1.5
    procs = [_spawn(_CREATE, str(root), str(start), *names) for _ in range(4)]
    outputs = [_finish(proc).split("\n") for proc in procs]
    lines = [line for out in outputs for line in out if line]
    assert sum(line.startswith("created") for line in lines) == len(names)
    assert sum(line == "error RESOURCE_ALREADY_EXISTS" for line in lines) == 3 * len(names)
    experiments = _client(root).search_experiments(view_type=ViewType.ALL)
    assert sorted(e.name for e in experiments if e.name != "Default") == sorted(names)


_BATCHES = """
    import sys
    from trackyard.entities import Metric, Param, RunTag
    from trackyard.testing import make_client
    from trackyard_file.tracking import FileTrackingStore
    root, run_id, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = make_client(FileTrackingStore(root))
    keys = [f"k{j:02d}" if j % 5 else f"group/k{j:02d}" for j in range(40)]
    for batch in range(first, first + 100000):
        metrics = [Metric(k, float(batch), 1000 + p, batch) for k in keys for p in range(25)]
        client.log_batch(run_id, metrics=metrics, params=[Param(f"p{batch}", str(batch))],
                         tags=[RunTag("last", str(batch)), RunTag("mlflow.runName", f"b{batch}")])
        if batch == first:
            print("started", flush=True)
"""


def _verify_after_crash(root: Path, run_id: str) -> int:
    """Check every invariant of the run after a crash; return the number of whole batches."""
    client = _client(root)
    run = client.get_run(run_id)  # takes the lock and rolls back an interrupted batch
    run_dir = Path(client._store._locate_run(run_id))
    assert (run_dir / LOCK_FILE).read_bytes() == b""
    yaml.safe_load((run_dir / "meta.yaml").read_text())
    steps_by_key = {}
    for path in (run_dir / "metrics").rglob("*"):
        if path.is_file():
            points = _check_metric_file(path)
            steps = sorted({step for _, _, step in points})
            assert len(points) == 25 * len(steps)
            steps_by_key[path.relative_to(run_dir / "metrics").as_posix()] = steps
    batches = next(iter(steps_by_key.values()), [])
    assert len(steps_by_key) in (0, 40)
    assert all(steps == batches for steps in steps_by_key.values()), "a batch was half-written"
    assert batches == list(range(len(batches)))
    assert set(run.data.params) == {f"p{b}" for b in batches}
    if batches:
        assert run.data.tags["last"] == str(batches[-1])
        assert run.info.run_name == f"b{batches[-1]}"
        assert run.data.metrics["k01"] == float(batches[-1])
    return len(batches)


def test_writer_killed_mid_batch_leaves_whole_batches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "mlruns"
    client = _client(root)
    run_id = client.create_run(client.create_experiment("crash")).info.run_id
    rng = random.Random(7)
    done = 0
    # fsync every file so that most of a batch's time is spent applying it: kills land there
    env = {"TRACKYARD_FILE_FSYNC": "all"}
    for _ in range(6):
        proc = _spawn(_BATCHES, str(root), run_id, str(done), env=env)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started", proc.stderr.read()  # type: ignore[union-attr]
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        with caplog.at_level("WARNING", logger="trackyard.file"):
            done = _verify_after_crash(root, run_id)
        assert done >= 1
    assert "Rolling back an interrupted write" in caplog.text


_SEARCH_WHILE_WRITING = """
    import sys
    from trackyard.entities import Metric
    from trackyard.testing import make_client
    from trackyard_file.tracking import FileTrackingStore
    root, exp_id, role = sys.argv[1], sys.argv[2], sys.argv[3]
    client = make_client(FileTrackingStore(root))
    if role == "write":
        ids = [client.create_run(exp_id).info.run_id for _ in range(20)]
        for i in range(30):
            for rid in ids:
                client.log_batch(rid, metrics=[Metric("m", float(i), 1000 + i, i),
                                               Metric("n", -float(i), 1000 + i, i)])
    else:
        for _ in range(60):
            for run in client.search_runs([exp_id], "metrics.m >= 0", max_results=1000):
                m, n = run.data.metrics["m"], run.data.metrics.get("n")
                # a run is read under its shared lock: never half a batch
                assert n == -m, (m, n)
"""


def test_searching_while_other_processes_write(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    client = _client(root)
    exp_id = client.create_experiment("busy")
    roles = ("write", "write", "read", "read")
    procs = [_spawn(_SEARCH_WHILE_WRITING, str(root), exp_id, role) for role in roles]
    for proc in procs:
        _finish(proc)
    runs = _client(root).search_runs([exp_id], max_results=1000)
    assert len(runs) == 40
    assert all(r.data.metrics == {"m": 29.0, "n": -29.0} for r in runs)


_OVERRIDES = """
    import sys
    from trackyard.entities.trace_assessment import Feedback
    from trackyard.testing import make_client
    from trackyard_file.tracking import FileTrackingStore
    root, trace_id, worker, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = make_client(FileTrackingStore(root))
    previous = None
    for i in range(n):
        fb = client.log_assessment(
            Feedback(f"w{worker}", i, trace_id=trace_id, overrides=previous))
        previous = fb.assessment_id
        client.set_trace_tag(trace_id, f"w{worker}-{i}", str(i))
        print(previous, flush=True)
"""


def _check_override_chains(root: Path, trace_id: str) -> dict[str, list[Any]]:
    """Every overridden assessment is invalid, every other one valid; returns them by name."""
    trace = _client(root).get_trace(trace_id)
    by_id = {a.assessment_id: a for a in trace.info.assessments}
    overridden = {a.overrides for a in by_id.values() if a.overrides}
    assert overridden <= set(by_id)
    for a in by_id.values():
        assert a.valid is (a.assessment_id not in overridden), a
    chains: dict[str, list[Any]] = {}
    for a in sorted(by_id.values(), key=lambda a: a.value):
        chains.setdefault(a.name, []).append(a)
    trace_dir = Path(_client(root)._store._locate_trace(trace_id))
    for folder in ("assessments", "tags", "request_metadata"):
        if (trace_dir / folder).exists():  # temporary files never sit where MLflow lists
            assert not [p for p in (trace_dir / folder).iterdir() if p.name.startswith(".")]
    return chains


def _one_trace(root: Path) -> str:
    client = _client(root)
    exp = client.create_experiment("e")
    span = client.start_trace("t", experiment_id=exp)
    client.end_trace(span.trace_id)
    return str(span.trace_id)


def test_three_processes_assess_one_trace(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    trace_id = _one_trace(root)
    n = 15
    procs = [_spawn(_OVERRIDES, str(root), trace_id, str(w), str(n)) for w in range(3)]
    for proc in procs:
        _finish(proc)
    chains = _check_override_chains(root, trace_id)
    assert sorted(chains) == ["w0", "w1", "w2"]
    for chain in chains.values():
        assert [a.value for a in chain] == list(range(n))
        assert [a.valid for a in chain] == [False] * (n - 1) + [True]
    tags = _client(root).get_trace(trace_id).info.tags
    assert {f"w{w}-{i}" for w in range(3) for i in range(n)} <= set(tags)


def test_killed_assessor_leaves_consistent_overrides(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    trace_id = _one_trace(root)
    rng = random.Random(7)
    for round_ in range(4):
        proc = _spawn(_OVERRIDES, str(root), trace_id, f"k{round_}", "400")
        assert proc.stdout is not None
        for _ in range(3):  # it is writing: kill it at some point of its next writes
            assert proc.stdout.readline()
        time.sleep(rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    chains = _check_override_chains(root, trace_id)
    assert len(chains) == 4
    for chain in chains.values():
        assert [a.valid for a in chain][-1] is True
        assert [a.value for a in chain] == list(range(len(chain)))
