"""The tracking server over plain HTTP: wire format, errors, guards, idempotency keys."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.rest_server import serve

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from trackyard_rest.server import create_app

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("server")
    app = create_app(f"sqlite:///{root / 'ty.db'}", artifacts_destination=str(root / "art"))
    with serve(app) as url:
        yield url


def call(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, base + API + path, timeout=30, **kwargs)


def ok(base: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    r = call(base, method, path, **kwargs)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def new_experiment(base: str, name: str) -> str:
    return str(ok(base, "POST", "/experiments/create", json={"name": name})["experiment_id"])


def new_run(base: str, exp: str, **extra: Any) -> dict[str, Any]:
    return ok(base, "POST", "/runs/create", json={"experiment_id": exp, **extra})["run"]


def test_experiments_round_trip(base: str) -> None:
    exp = ok(
        base,
        "POST",
        "/experiments/create",
        json={"name": "exp-a", "tags": [{"key": "team", "value": "x"}], "unknown": 1},
    )["experiment_id"]
    assert isinstance(exp, str)
    got = ok(base, "GET", "/experiments/get", params={"experiment_id": exp})["experiment"]
    assert got["name"] == "exp-a" and got["tags"] == [{"key": "team", "value": "x"}]
    assert got["artifact_location"] == f"mlflow-artifacts:/{exp}"
    assert isinstance(got["creation_time"], int)
    by_name = ok(base, "GET", "/experiments/get-by-name", params={"experiment_name": "exp-a"})
    assert by_name["experiment"]["experiment_id"] == exp
    ok(base, "POST", "/experiments/update", json={"experiment_id": exp, "new_name": "exp-b"})
    ok(
        base,
        "POST",
        "/experiments/set-experiment-tag",
        json={"experiment_id": exp, "key": "k", "value": "v"},
    )
    ok(
        base,
        "POST",
        "/experiments/delete-experiment-tag",
        json={"experiment_id": exp, "key": "team"},
    )
    found = ok(base, "GET", "/experiments/search", params={"filter": "name = 'exp-b'"})
    assert [e["experiment_id"] for e in found["experiments"]] == [exp]
    assert found["experiments"][0]["tags"] == [{"key": "k", "value": "v"}]
    ok(base, "POST", "/experiments/delete", json={"experiment_id": exp})
    assert ok(base, "POST", "/experiments/search", json={"filter": "name = 'exp-b'"}) == {}
    deleted = ok(
        base,
        "GET",
        "/experiments/search",
        params={"filter": "name = 'exp-b'", "view_type": "DELETED_ONLY"},
    )
    assert deleted["experiments"][0]["lifecycle_stage"] == "deleted"
    ok(base, "POST", "/experiments/restore", json={"experiment_id": exp})
    page = ok(base, "GET", "/experiments/search", params={"max_results": "1"})
    assert len(page["experiments"]) == 1 and page["next_page_token"]


def test_runs_metrics_params_tags(base: str) -> None:
    exp = new_experiment(base, "runs-exp")
    run = new_run(base, exp, start_time="123", user_id="ann", tags=[{"key": "t", "value": "v"}])
    rid = run["info"]["run_id"]
    assert run["info"]["run_uuid"] == rid and run["info"]["start_time"] == 123
    assert run["info"]["user_id"] == "ann" and run["info"]["status"] == "RUNNING"
    assert {"key": "t", "value": "v"} in run["data"]["tags"]
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{exp}/{rid}/artifacts"
    batch = {
        "run_id": rid,
        "metrics": [
            {"key": "loss", "value": "NaN", "timestamp": "5", "step": 1},
            {"key": "acc", "value": 0.5, "timestamp": 5},
            {"key": "acc", "value": 0.75, "timestamp": 6, "step": 2},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "phase", "value": "train"}],
    }
    assert ok(base, "POST", "/runs/log-batch", json=batch) == {}
    ok(
        base,
        "POST",
        "/runs/log-metric",
        json={"run_id": rid, "key": "acc", "value": 0.9, "timestamp": 7, "step": 3},
    )
    ok(base, "POST", "/runs/log-parameter", json={"run_id": rid, "key": "bs", "value": "32"})
    ok(base, "POST", "/runs/set-tag", json={"run_id": rid, "key": "x", "value": "1"})
    ok(base, "POST", "/runs/delete-tag", json={"run_id": rid, "key": "x"})
    got = ok(base, "GET", "/runs/get", params={"run_id": rid})["run"]
    metrics = {m["key"]: m for m in got["data"]["metrics"]}
    assert metrics["loss"]["value"] == "NaN" and metrics["acc"] == {
        "key": "acc",
        "value": 0.9,
        "timestamp": 7,
        "step": 3,
    }
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"lr": "0.1", "bs": "32"}
    assert "x" not in {t["key"] for t in got["data"]["tags"]}
    assert got["inputs"] == {} and got["outputs"] == {}
    history = ok(base, "GET", "/metrics/get-history", params={"run_id": rid, "metric_key": "acc"})
    assert [m["value"] for m in history["metrics"]] == [0.5, 0.75, 0.9]
    found = ok(
        base,
        "POST",
        "/runs/search",
        json={
            "experiment_ids": [exp],
            "filter": "metrics.acc > 0.8",
            "order_by": ["start_time DESC"],
        },
    )
    assert [r["info"]["run_id"] for r in found["runs"]] == [rid]
    assert (
        ok(
            base,
            "POST",
            "/runs/search",
            json={"experiment_ids": [exp], "filter": "metrics.acc > 5"},
        )
        == {}
    )
    info = ok(
        base, "POST", "/runs/update", json={"run_id": rid, "status": "FINISHED", "end_time": 999}
    )
    assert info["run_info"]["status"] == "FINISHED" and info["run_info"]["end_time"] == 999
    ok(base, "POST", "/runs/delete", json={"run_id": rid})
    assert ok(base, "POST", "/runs/search", json={"experiment_ids": [exp]}) == {}
    ok(base, "POST", "/runs/restore", json={"run_id": rid})
    assert len(ok(base, "POST", "/runs/search", json={"experiment_ids": [exp]})["runs"]) == 1


def test_log_inputs_shows_datasets(base: str) -> None:
    rid = new_run(base, new_experiment(base, "inputs-exp"))["info"]["run_id"]
    dataset = {"name": "d", "digest": "abc", "source_type": "local", "source": "{}"}
    body = {
        "run_id": rid,
        "datasets": [
            {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "train"}]}
        ],
    }
    ok(base, "POST", "/runs/log-inputs", json=body)
    inputs = ok(base, "GET", "/runs/get", params={"run_id": rid})["run"]["inputs"]
    assert inputs["dataset_inputs"][0]["dataset"]["name"] == "d"
    assert inputs["dataset_inputs"][0]["tags"] == [{"key": "mlflow.data.context", "value": "train"}]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "text"),
    [
        (
            "GET",
            "/experiments/get",
            {"params": {"experiment_id": "999"}},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "999",
        ),
        (
            "GET",
            "/experiments/get-by-name",
            {"params": {"experiment_name": "nope"}},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "nope",
        ),
        ("GET", "/experiments/get", {}, 400, "INVALID_PARAMETER_VALUE", "'experiment_id'"),
        (
            "POST",
            "/experiments/create",
            {"json": {"name": "Default"}},
            400,
            "RESOURCE_ALREADY_EXISTS",
            "Default",
        ),
        (
            "POST",
            "/runs/log-metric",
            {"json": {"run_id": "a" * 32, "key": "k", "timestamp": 1}},
            400,
            "INVALID_PARAMETER_VALUE",
            "'value'",
        ),
        (
            "POST",
            "/runs/log-metric",
            {"json": {"run_id": "a" * 32, "key": "k", "value": "abc", "timestamp": 1}},
            400,
            "INVALID_PARAMETER_VALUE",
            "'value'",
        ),
        (
            "GET",
            "/runs/get",
            {"params": {"run_id": "f" * 32}},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "f" * 32,
        ),
        (
            "POST",
            "/runs/create",
            {"data": b"not json", "headers": {"Content-Type": "application/json"}},
            400,
            "INVALID_PARAMETER_VALUE",
            "",
        ),
        ("POST", "/runs/nope", {"json": {}}, 404, "ENDPOINT_NOT_FOUND", "/runs/nope"),
        (
            "GET",
            "/registered-models/get",
            {"params": {"name": "ghost"}},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "ghost",
        ),
    ],
)
def test_errors_as_mlflow(
    base: str, method: str, path: str, kwargs: dict[str, Any], status: int, code: str, text: str
) -> None:
    r = call(base, method, path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_code"] == code and text in body["message"]
    assert "Traceback" not in r.text


def test_log_batch_limits_and_atomicity(base: str) -> None:
    rid = new_run(base, new_experiment(base, "limits"))["info"]["run_id"]
    too_many = [{"key": f"m{i}", "value": 1, "timestamp": 1} for i in range(1001)]
    r = call(base, "POST", "/runs/log-batch", json={"run_id": rid, "metrics": too_many})
    assert r.status_code == 400 and "at most 1000 metrics" in r.json()["message"]
    bad = {
        "run_id": rid,
        "metrics": [{"key": "ok", "value": 1, "timestamp": 1}],
        "params": [{"key": "a/../b", "value": "1"}],
    }
    assert call(base, "POST", "/runs/log-batch", json=bad).status_code == 400
    assert "metrics" not in ok(base, "GET", "/runs/get", params={"run_id": rid})["run"]["data"]


def test_ajax_mirror_health_version_openapi(base: str) -> None:
    exp = requests.get(
        base + "/ajax-api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": "Default"},
        timeout=10,
    )
    assert exp.status_code == 200 and exp.json()["experiment"]["experiment_id"] == "0"
    assert requests.get(base + "/health", timeout=10).text == "OK"
    from trackyard_rest.server.app import MLFLOW_API_VERSION

    assert requests.get(base + "/version", timeout=10).text == MLFLOW_API_VERSION
    spec = requests.get(base + "/openapi.json", timeout=10).json()
    assert f"{API}/runs/log-batch" in spec["paths"]
    # log-batch reads its body itself but still documents the LogBatch model
    body = spec["paths"][f"{API}/runs/log-batch"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert {"run_id", "metrics", "params", "tags"} <= set(schema["properties"])
    assert f"{API}/registered-models/alias" in spec["paths"]


def test_registry_round_trip(base: str, tmp_path: Path) -> None:
    run = new_run(base, new_experiment(base, "reg-exp"))
    rid = run["info"]["run_id"]
    model = ok(
        base,
        "POST",
        "/registered-models/create",
        json={"name": "m", "tags": [{"key": "a", "value": "b"}]},
    )
    assert model["registered_model"]["name"] == "m"
    mv = ok(
        base,
        "POST",
        "/model-versions/create",
        json={"name": "m", "source": f"runs:/{rid}/model", "run_id": rid},
    )
    assert mv["model_version"]["version"] == "1" and mv["model_version"]["status"] == "READY"
    ok(
        base,
        "POST",
        "/model-versions/create",
        json={"name": "m", "source": f"runs:/{rid}/model2", "run_id": rid},
    )
    ok(
        base,
        "POST",
        "/registered-models/alias",
        json={"name": "m", "alias": "champ", "version": "1"},
    )
    by_alias = ok(base, "GET", "/registered-models/alias", params={"name": "m", "alias": "champ"})
    assert by_alias["model_version"]["aliases"] == ["champ"]
    got = ok(base, "GET", "/registered-models/get", params={"name": "m"})["registered_model"]
    assert got["aliases"] == [{"alias": "champ", "version": "1"}]
    ok(
        base,
        "POST",
        "/model-versions/set-tag",
        json={"name": "m", "version": "2", "key": "k", "value": "v"},
    )
    ok(
        base,
        "PATCH",
        "/model-versions/update",
        json={"name": "m", "version": "2", "description": "d"},
    )
    moved = ok(
        base,
        "POST",
        "/model-versions/transition-stage",
        json={
            "name": "m",
            "version": "2",
            "stage": "production",
            "archive_existing_versions": False,
        },
    )
    assert moved["model_version"]["current_stage"] == "Production"
    latest = ok(
        base,
        "POST",
        "/registered-models/get-latest-versions",
        json={"name": "m", "stages": ["Production"]},
    )
    assert [v["version"] for v in latest["model_versions"]] == ["2"]
    found = ok(
        base,
        "GET",
        "/model-versions/search",
        params={"filter": "name = 'm'", "order_by": ["version_number ASC"]},
    )
    assert [v["version"] for v in found["model_versions"]] == ["1", "2"]
    assert ok(base, "GET", "/model-versions/search", params={"filter": "name = 'zz'"}) == {}
    uri = ok(base, "GET", "/model-versions/get-download-uri", params={"name": "m", "version": "1"})
    assert uri["artifact_uri"]
    ok(base, "PATCH", "/registered-models/update", json={"name": "m", "description": "desc"})
    ok(base, "POST", "/registered-models/rename", json={"name": "m", "new_name": "m2"})
    assert [
        m["name"] for m in ok(base, "GET", "/registered-models/search")["registered_models"]
    ] == ["m2"]
    ok(base, "DELETE", "/registered-models/alias", json={"name": "m2", "alias": "champ"})
    ok(
        base,
        "DELETE",
        "/model-versions/delete-tag",
        json={"name": "m2", "version": "2", "key": "k"},
    )
    ok(base, "DELETE", "/model-versions/delete", json={"name": "m2", "version": "1"})
    ok(base, "DELETE", "/registered-models/delete-tag", json={"name": "m2", "key": "a"})
    ok(base, "DELETE", "/registered-models/delete", json={"name": "m2"})
    assert ok(base, "GET", "/registered-models/search") == {}


def test_local_model_source_outside_the_run_is_refused(base: str, tmp_path: Path) -> None:
    rid = new_run(base, new_experiment(base, "src-exp"))["info"]["run_id"]
    ok(base, "POST", "/registered-models/create", json={"name": "src"})
    for source in ("/etc", f"file://{tmp_path}", "relative/dir", f"runs:/{rid}/../../x"):
        r = call(
            base,
            "POST",
            "/model-versions/create",
            json={"name": "src", "source": source, "run_id": rid},
        )
        assert r.status_code == 400, (source, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert ok(base, "GET", "/model-versions/search", params={"filter": "name = 'src'"}) == {}


def test_idempotency_key_gives_one_run(base: str) -> None:
    exp = new_experiment(base, "idem")
    headers = {"Idempotency-Key": "retry-1"}
    first = ok(base, "POST", "/runs/create", json={"experiment_id": exp}, headers=headers)["run"]
    again = ok(base, "POST", "/runs/create", json={"experiment_id": exp}, headers=headers)["run"]
    assert again["info"]["run_id"] == first["info"]["run_id"]

    def create(_: int) -> str:
        body = ok(
            base,
            "POST",
            "/runs/create",
            json={"experiment_id": exp},
            headers={"Idempotency-Key": "burst"},
        )
        return str(body["run"]["info"]["run_id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(create, range(16)))
    assert len(ids) == 1
    runs = ok(base, "POST", "/runs/search", json={"experiment_ids": [exp], "run_view_type": "ALL"})[
        "runs"
    ]
    assert len(runs) == 2  # one per key
    other = ok(
        base, "POST", "/runs/create", json={"experiment_id": exp}, headers={"Idempotency-Key": "k2"}
    )
    assert other["run"]["info"]["run_id"] not in ids | {first["info"]["run_id"]}
    e1 = ok(base, "POST", "/experiments/create", json={"name": "idem-exp"}, headers=headers)
    e2 = ok(base, "POST", "/experiments/create", json={"name": "idem-exp"}, headers=headers)
    assert e1 == e2
    r = call(
        base,
        "POST",
        "/experiments/create",
        json={"name": "idem-exp"},
        headers={"Idempotency-Key": "other"},
    )
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    # the key is the server's bookkeeping: answers carry only the tags the client wrote
    got = ok(base, "GET", "/experiments/get", params={"experiment_id": e1["experiment_id"]})
    assert "tags" not in got["experiment"]
    fetched = ok(base, "GET", "/runs/get", params={"run_id": first["info"]["run_id"]})["run"]
    assert "trackyard.idempotencyKey" not in {t["key"] for t in fetched["data"]["tags"]}
    assert "trackyard.idempotencyKey" not in {t["key"] for t in first["data"]["tags"]}
    found = ok(
        base,
        "POST",
        "/runs/search",
        json={"experiment_ids": [exp], "filter": "tags.`trackyard.idempotencyKey` = 'retry-1'"},
    )["runs"]
    assert [r["info"]["run_id"] for r in found] == [first["info"]["run_id"]]


def test_prompt_versions_take_only_placeholder_sources(base: str) -> None:
    prompt_tag = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    ok(base, "POST", "/registered-models/create", json={"name": "pr", "tags": prompt_tag})
    made = ok(
        base,
        "POST",
        "/model-versions/create",
        json={"name": "pr", "source": "dummy-source", "tags": prompt_tag},
    )
    assert made["model_version"]["source"] == "dummy-source"
    for source in ("s3://b/x", "/etc", "models/x"):
        r = call(
            base,
            "POST",
            "/model-versions/create",
            json={"name": "pr", "source": source, "tags": prompt_tag},
        )
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # without the prompt tag, a placeholder is a relative local path: refused as one
    r = call(base, "POST", "/model-versions/create", json={"name": "pr", "source": "dummy-source"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_an_empty_description_clears_a_models(base: str) -> None:
    ok(base, "POST", "/registered-models/create", json={"name": "desc", "description": "d"})
    cleared = ok(base, "PATCH", "/registered-models/update", json={"name": "desc"})
    assert "description" not in cleared["registered_model"]


def test_host_check_and_body_limit(tmp_path: Path) -> None:
    app = create_app(
        f"sqlite:///{tmp_path / 'g.db'}", allowed_hosts=["ml.example.org"], max_body_bytes=4096
    )
    with serve(app) as url:
        health = url + "/health"
        assert requests.get(health, timeout=10).status_code == 200
        assert (
            requests.get(health, headers={"Host": "localhost:5000"}, timeout=10).status_code == 200
        )
        assert (
            requests.get(health, headers={"Host": "ml.example.org"}, timeout=10).status_code == 200
        )
        evil = requests.get(health, headers={"Host": "evil.example.com"}, timeout=10)
        assert evil.status_code == 403 and evil.json()["error_code"] == "PERMISSION_DENIED"
        big = {"name": "x" * 5000}
        r = requests.post(url + API + "/experiments/create", json=big, timeout=10)
        assert r.status_code == 413 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"name": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        r = requests.post(
            url + API + "/experiments/create",
            data=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert r.status_code == 413
        names = [
            e["name"]
            for e in requests.get(url + API + "/experiments/search", timeout=10).json()[
                "experiments"
            ]
        ]
        assert names == ["Default"]
        # the artifact proxy is part of the app, on both prefixes, and streams past the limit
        blob = bytes(range(256)) * 64  # 16 KiB > max_body_bytes
        put = requests.put(
            url + "/api/2.0/mlflow-artifacts/artifacts/a/b.bin", data=blob, timeout=10
        )
        assert put.status_code == 200, put.text
        listed = requests.get(
            url + "/ajax-api/2.0/mlflow-artifacts/artifacts", params={"path": "a"}, timeout=10
        ).json()
        assert listed["files"] == [{"path": "b.bin", "is_dir": False, "file_size": len(blob)}]
        got = requests.get(url + "/api/2.0/mlflow-artifacts/artifacts/a/b.bin", timeout=10)
        assert got.content == blob
    any_host = create_app(f"sqlite:///{tmp_path / 'g.db'}", allowed_hosts=["*"])
    with serve(any_host) as url:
        r = requests.get(url + "/health", headers={"Host": "anything.test"}, timeout=10)
        assert r.status_code == 200


def test_unexpected_errors_hide_details(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'u.db'}")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    with serve(app) as url:
        r = requests.get(url + "/boom", timeout=10)
    assert r.status_code == 500
    assert r.json()["error_code"] == "INTERNAL_ERROR"
    assert "secret" not in r.text and "Traceback" not in r.text
    assert json.loads(r.text)["message"]
