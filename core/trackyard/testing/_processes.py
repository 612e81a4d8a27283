"""The ``concurrent_processes`` contract: several processes write to one store at once.

A store that declares the capability is reopened by its URI in :data:`WORKERS` other
processes (``python -m trackyard.testing._processes``), which wait for one signal and then
write at the same time; the test process then reads back everything they wrote. A store
that does not declare it skips these tests, with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["WORKERS", "RegistryProcessesCheck", "TrackingProcessesCheck"]

WORKERS = 3
BATCHES = 8  # log_batch calls per worker
POINTS = 5  # metric points per batch
VERSIONS = 6  # model versions per worker
TIMEOUT = 300.0  # seconds for the whole group of workers


def _wait_for(go: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no start signal at {go}")
        time.sleep(0.005)


def _tracking_worker(args: dict[str, Any]) -> dict[str, Any]:
    from trackyard.backends import get_tracking_store
    from trackyard.entities import Metric, Param, RunTag
    from trackyard.testing import make_client

    client = make_client(get_tracking_store(args["uri"], args["artifact_root"]))
    worker, run_id, exp_id = args["worker"], args["run_id"], args["experiment_id"]
    _wait_for(args["go"])
    own_exp = client.create_experiment(f"process-{worker}")
    runs = [client.create_run(exp_id).info.run_id for _ in range(2)]
    for b in range(BATCHES):
        points = [
            Metric(f"w{worker}", float(b * POINTS + i), 1000 + b, b * POINTS + i)
            for i in range(POINTS)
        ]
        client.log_batch(run_id, metrics=points, tags=[RunTag(f"w{worker}.batch", str(b))])
        client.log_batch(runs[b % 2], metrics=[Metric("m", float(b), 1000 + b, b)])
    client.log_batch(run_id, params=[Param(f"w{worker}", str(worker))])
    return {"experiment_id": own_exp, "run_ids": runs}


def _registry_worker(args: dict[str, Any]) -> dict[str, Any]:
    from trackyard.backends import get_registry_store
    from trackyard.testing import make_client

    store = get_registry_store(args["uri"], args["tracking_uri"])
    client = make_client(registry_store=store)
    _wait_for(args["go"])
    versions = [
        client.create_model_version(args["model"], f"s3://bucket/w{args['worker']}/{i}").version
        for i in range(VERSIONS)
    ]
    client.create_registered_model(f"process-{args['worker']}")
    return {"versions": versions}


def _run_workers(kind: str, args: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """Start the workers, let them go at once, and return what each reports."""
    go = tmp / f"go-{kind}"
    procs = []
    for worker in range(WORKERS):
        payload = json.dumps({**args, "kind": kind, "worker": worker, "go": str(go)})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "trackyard.testing._processes", payload],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    time.sleep(0.2)  # let them import and open the store before the signal
    go.write_text("go")
    results = []
    problems = []
    for worker, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            problems.append(f"worker {worker} did not finish in {TIMEOUT} s: {err[-2000:]}")
            continue
        if proc.returncode != 0:
            problems.append(f"worker {worker} failed (exit {proc.returncode}): {err[-3000:]}")
            continue
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert not problems, "\n".join(problems)
    return results


class TrackingProcessesCheck:
    """Mixin for :class:`TrackingStoreSuite`: writers in several processes at once."""

    def test_concurrent_processes_log_to_one_store(self, client: Any, tmp_path: Path) -> None:
        from trackyard.testing._client import require_capability

        store = client._store
        require_capability(store, "concurrent_processes")
        exp_id = client.create_experiment("processes")
        run_id = client.create_run(exp_id).info.run_id
        args = {
            "uri": store.store_uri,
            "artifact_root": store.artifact_uri,
            "experiment_id": exp_id,
            "run_id": run_id,
        }
        results = _run_workers("tracking", args, tmp_path)

        experiments = [r["experiment_id"] for r in results]
        assert len(set(experiments)) == WORKERS
        for worker, exp in enumerate(experiments):
            assert client.get_experiment(exp).name == f"process-{worker}"
        shared = client.get_run(run_id)
        for worker in range(WORKERS):
            history = client.get_metric_history(run_id, f"w{worker}")
            assert [m.step for m in history] == list(range(BATCHES * POINTS))
            assert shared.data.params[f"w{worker}"] == str(worker)
            assert shared.data.tags[f"w{worker}.batch"] == str(BATCHES - 1)
        made = [r for result in results for r in result["run_ids"]]
        assert len(set(made)) == 2 * WORKERS
        for made_id in made:
            run = client.get_run(made_id)
            assert run.info.experiment_id == exp_id
            assert len(client.get_metric_history(made_id, "m")) == BATCHES // 2


class RegistryProcessesCheck:
    """Mixin for :class:`RegistryStoreSuite`: version creators in several processes at once."""

    def test_concurrent_processes_create_versions(
        self, registry_client: Any, tmp_path: Path
    ) -> None:
        from trackyard.testing._client import require_capability

        store = registry_client._registry_store
        require_capability(store, "concurrent_processes")
        registry_client.create_registered_model("shared")
        args = {
            "uri": store.store_uri,
            "tracking_uri": store.tracking_uri or store.store_uri,
            "model": "shared",
        }
        results = _run_workers("registry", args, tmp_path)

        numbers = sorted(int(v) for r in results for v in r["versions"])
        assert numbers == list(range(1, WORKERS * VERSIONS + 1))  # distinct and gap-free
        for number in numbers:
            assert registry_client.get_model_version("shared", str(number)).version == str(number)
        for worker in range(WORKERS):
            assert registry_client.get_registered_model(f"process-{worker}").name


def main(argv: list[str]) -> int:
    """A worker process: ``python -m trackyard.testing._processes '<json>'``."""
    args = json.loads(argv[0])
    work = _tracking_worker if args["kind"] == "tracking" else _registry_worker
    print(json.dumps(work(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
