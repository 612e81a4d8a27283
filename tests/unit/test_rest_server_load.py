"""40 concurrent clients creating runs and logging batches: no error, every write present.

MLflow 3.17.2's server fails this (HTTP 400 "QueuePool limit reached" after a ~30 s stall:
a request holds one pooled connection while waiting for a second). No timing is asserted:
the figures come from ``benchmarks/bench_server.py --scenario create``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests._services import postgres_base_uri, worker_database_uri
from tests.rest_server import serve

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from trackyard_rest.server import create_app

API = "/api/2.0/mlflow"
CLIENTS = 40
ROUNDS = 3  # create + log-batch rounds per client
METRICS = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'load.db'}"
    else:
        uri = worker_database_uri(postgres_base_uri(), "server_load")
    with serve(create_app(uri, serve_artifacts=False)) as url:
        yield url


def _post(sess: requests.Session, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = sess.post(url, json=body, timeout=120)
    assert r.status_code == 200, f"{url}: HTTP {r.status_code} {r.text[:300]}"
    got: dict[str, Any] = r.json()
    return got


def test_forty_clients_create_and_log(base: str) -> None:
    api = base + API
    exp = _post(requests.Session(), api + "/experiments/create", {"name": f"load-{id(base)}"})
    exp_id = exp["experiment_id"]
    start = threading.Barrier(CLIENTS)
    created: list[tuple[int, str]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        sess = requests.Session()
        try:
            start.wait(60)
            for r in range(ROUNDS):
                run = _post(
                    sess,
                    api + "/runs/create",
                    {"experiment_id": exp_id, "run_name": f"c{i}-r{r}"},
                )
                rid = run["run"]["info"]["run_id"]
                metrics = [
                    {"key": f"m{k}", "value": i + k / 10, "timestamp": 5 + r, "step": r}
                    for k in range(METRICS)
                ]
                params = [{"key": "client", "value": str(i)}, {"key": "round", "value": str(r)}]
                _post(
                    sess,
                    api + "/runs/log-batch",
                    {"run_id": rid, "metrics": metrics, "params": params},
                )
                with lock:
                    created.append((i, rid))
        except Exception as exc:  # reported below with the client's number
            with lock:
                failures.append(f"client {i}: {exc}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a client is still waiting"
    assert failures == []
    assert len(created) == CLIENTS * ROUNDS

    # every run, param and metric point is there
    sess = requests.Session()
    runs: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        body: dict[str, Any] = {"experiment_ids": [exp_id], "max_results": 50}
        if token:
            body["page_token"] = token
        page = _post(sess, api + "/runs/search", body)
        runs.update({r["info"]["run_id"]: r for r in page.get("runs", [])})
        token = page.get("next_page_token")
        if not token:
            break
    assert set(runs) == {rid for _, rid in created}
    for i, rid in created:
        data = runs[rid]["data"]
        assert len(data["metrics"]) == METRICS
        assert {p["key"]: p["value"] for p in data["params"]}["client"] == str(i)
        got = {m["key"]: m["value"] for m in data["metrics"]}
        assert got["m7"] == pytest.approx(i + 0.7)
    rid = created[-1][1]
    hist = sess.get(
        api + "/metrics/get-history", params={"run_id": rid, "metric_key": "m3"}, timeout=60
    ).json()
    assert len(hist["metrics"]) == 1
