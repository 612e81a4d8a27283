"""Crash safety: a writer killed with SIGKILL at a random moment leaves a sound store.

A child process repeats one operation (``log_batch``, ``create_run``, an artifact upload,
model version creation) with numbered inputs and reports each call that returned; the test
kills it at a random moment, ``TRACKYARD_RELIABILITY_CRASHES`` times per operation and
backend (the issue's heavy setting is 100). Afterwards the store must open in a new
process-level client, every acknowledged call must be there, every batch, run, file and
version must be whole or absent (no torn row or file), and searches and new writes work.
Runs on every backend whose data outlives a process, DuckDB included: the parent closes its
stores before the children start, as only one process may open a DuckDB file.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._backends import CRASHES, Backend
from tests.reliability.test_concurrency import WORKER, client_for
from trackyard.backends import clear_store_cache

if not hasattr(signal, "SIGKILL"):  # pragma: no cover - Windows
    pytest.skip("SIGKILL is POSIX only", allow_module_level=True)

OPERATIONS = ("log_batch", "create_run", "artifact", "version")
#: Longest wait for a child to report it is ready (it opens the store, makes its first call).
READY_TIMEOUT = 120.0


def _kill_at_random(payload: dict[str, Any], rng: random.Random) -> list[int]:
    """Start a crash worker, kill it with SIGKILL at a random moment, return what it acked."""
    proc = subprocess.Popen(
        [sys.executable, WORKER, json.dumps(payload)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(Path(__file__).parents[2]),
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffered = b""
    deadline = time.monotonic() + READY_TIMEOUT
    while b'"ready"' not in buffered:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"crash worker did not start: {proc.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
        if select.select([fd], [], [], 0.1)[0]:
            buffered += os.read(fd, 65536)
    time.sleep(rng.uniform(0.0, 0.8))  # anywhere from right after the first call to many in
    proc.send_signal(signal.SIGKILL)
    rest, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    acked = []
    for line in (buffered + rest).decode().splitlines():
        if '"acked"' in line:
            acked.append(json.loads(line)["acked"])
    return acked


@pytest.mark.parametrize("operation", OPERATIONS)
def test_sigkill_during_writes_leaves_a_sound_store(
    persistent_backend: Backend, operation: str, tmp_path: Path
) -> None:
    rng = random.Random(f"{persistent_backend.name}-{operation}")
    client = client_for(persistent_backend)
    exp_id = client.create_experiment("crash")
    run_id = client.create_run(exp_id, run_name="target").info.run_id
    client.create_registered_model("crashed")
    payload = {
        "job": "crash",
        "op": operation,
        "uri": persistent_backend.uri,
        "artifact_root": persistent_backend.artifact_root,
        "experiment_id": exp_id,
        "run_id": run_id,
        "model": "crashed",
    }
    clear_store_cache()  # hold no connection or file lock (DuckDB: one process per file)
    acked: set[int] = set()
    start = 0
    for _ in range(CRASHES):
        done = _kill_at_random({**payload, "start": start}, rng)
        acked.update(done)
        start += 100_000  # inputs of each child are distinct

    # a fresh client (new store instance) opens the store and sees whole writes only
    from trackyard.testing._state import store_state
    from trackyard.testing.fixtures import reset_state

    reset_state()
    client = client_for(persistent_backend)
    store_state(client, registry=True)  # everything reads back without error
    check = CHECKS[operation]
    check(client, exp_id, run_id, acked)
    # and the store takes new writes
    client.log_metric(run_id, "after", 1.0)
    client.create_model_version("crashed", "s3://bucket/after")
    assert client.search_runs([exp_id], "metrics.after = 1")[0].info.run_id == run_id


def _check_batches(client: Any, exp_id: str, run_id: str, acked: set[int]) -> None:
    data = client.get_run(run_id).data
    seen = {int(key[1:]) for key in data.metrics if key.startswith("k")}
    assert acked <= seen, f"acknowledged batches missing: {sorted(acked - seen)[:10]}"
    for i in seen:
        history = client.get_metric_history(run_id, f"k{i}")
        assert len(history) == 50, f"batch {i}: {len(history)} of 50 points"
        params = [k for k in data.params if k.startswith(f"p{i}.")]
        tags = [k for k in data.tags if k.startswith(f"t{i}.")]
        assert (len(params), len(tags)) == (20, 20), f"batch {i} is torn"
    for key in data.params:
        assert int(key[1:].split(".")[0]) in seen, f"param {key} without its batch"


def _check_runs(client: Any, exp_id: str, run_id: str, acked: set[int]) -> None:
    runs = client.search_runs([exp_id], max_results=50_000)
    made = {}
    for run in runs:
        if run.info.run_id == run_id:
            continue
        i = int(run.info.run_name[1:])
        assert i not in made, f"run r{i} twice"
        made[i] = run
        user_tags = {k: v for k, v in run.data.tags.items() if k.startswith("n")}
        assert user_tags == {f"n{j}": str(i) for j in range(10)}, f"run r{i} is torn"
    assert acked <= set(made), f"acknowledged runs missing: {sorted(acked - set(made))[:10]}"
    assert client.search_runs([exp_id], "tags.n0 != ''", max_results=50_000) is not None


def _check_artifacts(client: Any, exp_id: str, run_id: str, acked: set[int]) -> None:
    listed = {info.path for info in client.list_artifacts(run_id, "f")}
    names = {int(Path(p).stem) for p in listed}
    assert acked <= names, f"acknowledged files missing: {sorted(acked - names)[:10]}"
    if not names:
        return
    dst = Path(client.download_artifacts(run_id, "f"))
    for i in names:
        content = (dst / f"{i}.txt").read_text()
        assert content == f"{i}:" + "x" * 200_000 + f":{i}", f"file {i}.txt is torn"
    leftovers = [p for p in listed if not p.endswith(".txt")]
    assert not leftovers, leftovers


def _check_versions(client: Any, exp_id: str, run_id: str, acked: set[int]) -> None:
    versions = client.search_model_versions("name = 'crashed'", max_results=50_000)
    sources = {}
    for v in versions:
        i = int(v.source.rsplit("/", 1)[1])
        assert i not in sources, f"source {i} registered twice"
        sources[i] = v
        assert v.tags == {f"n{j}": str(i) for j in range(5)}, f"version {v.version} is torn"
    assert acked <= set(sources), f"acknowledged versions missing: {sorted(acked - set(sources))}"
    numbers = sorted(int(v.version) for v in versions)
    assert len(set(numbers)) == len(numbers)


CHECKS = {
    "log_batch": _check_batches,
    "create_run": _check_runs,
    "artifact": _check_artifacts,
    "version": _check_versions,
}
