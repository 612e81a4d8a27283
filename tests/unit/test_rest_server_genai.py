"""The server's webhooks and logged-models routes, and the events its writes fire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.event_recorder import EventRecorder, recording
from tests.rest_server import serve
from tests.webhook_receiver import Receiver, receiving

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from trackyard.errors import TrackyardError
from trackyard.webhooks import flush, urls
from trackyard_rest.server import create_app

API = "/api/2.0/mlflow"
SECRET = "whsec-server-0123456789"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("genai")
    app = create_app(f"sqlite:///{root / 'ty.db'}", artifacts_destination=str(root / "art"))
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def webhook_env(monkeypatch: pytest.MonkeyPatch, fernet_key: str) -> None:
    """Webhook secrets encrypted with one key; deliveries to loopback allowed."""
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", fernet_key)
    monkeypatch.setenv(urls.ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
    monkeypatch.setenv("TRACKYARD_WEBHOOK_REQUEST_TIMEOUT", "5")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
def recorder() -> Iterator[EventRecorder]:
    with recording("test-server-recorder") as rec:
        yield rec


def call(base: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, base + API + path, timeout=30, **kwargs)


def ok(base: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    r = call(base, method, path, **kwargs)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _hook(base: str, name: str, url: str, events: list[tuple[str, str]]) -> dict[str, Any]:
    body = {
        "name": name,
        "url": url,
        "events": [{"entity": e, "action": a} for e, a in events],
        "secret": SECRET,
        "description": "d",
    }
    hook: dict[str, Any] = ok(base, "POST", "/webhooks", json=body)["webhook"]
    return hook


def test_registry_writes_through_the_server_are_delivered(base: str, receiver: Receiver) -> None:
    events = [
        ("MODEL_VERSION", "CREATED"),
        ("REGISTERED_MODEL", "CREATED"),
        ("MODEL_VERSION_TAG", "SET"),
        ("MODEL_VERSION_ALIAS", "CREATED"),
        ("MODEL_VERSION_ALIAS", "DELETED"),
        ("PROMPT", "CREATED"),
        ("PROMPT_TAG", "SET"),
    ]
    hook = _hook(base, "server-hook", receiver.url, events)
    model = {"name": "served-model", "tags": [{"key": "team", "value": "a"}]}
    ok(base, "POST", "/registered-models/create", json=model)
    version = {"name": "served-model", "source": "s3://bucket/m", "run_id": ""}
    ok(base, "POST", "/model-versions/create", json=version)
    tag = {"name": "served-model", "version": "1", "key": "k", "value": "v"}
    ok(base, "POST", "/model-versions/set-tag", json=tag)
    alias = {"name": "served-model", "alias": "champion", "version": "1"}
    ok(base, "POST", "/registered-models/alias", json=alias)
    ok(base, "DELETE", "/registered-models/alias", json=alias)
    prompt_tags = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    ok(base, "POST", "/registered-models/create", json={"name": "pr", "tags": prompt_tags})
    ok(base, "POST", "/registered-models/set-tag", json={"name": "pr", "key": "a", "value": "b"})
    assert flush(30)
    got = {f"{b['entity']}.{b['action']}": b["data"] for b in receiver.bodies()}
    assert sorted(got) == sorted(f"{e.lower()}.{a.lower()}" for e, a in events)
    assert got["model_version.created"]["source"] == "s3://bucket/m"
    assert got["model_version.created"]["version"] == "1"
    assert got["registered_model.created"]["tags"] == {"team": "a"}
    assert got["model_version_alias.deleted"] == {"name": "served-model", "alias": "champion"}
    assert got["prompt.created"] == {"name": "pr", "tags": {}, "description": None}
    assert got["prompt_tag.set"] == {"name": "pr", "key": "a", "value": "b"}
    ok(base, "DELETE", f"/webhooks/{hook['webhook_id']}")


def test_tracking_writes_fire_the_clients_events(base: str, recorder: EventRecorder) -> None:
    exp = ok(base, "POST", "/experiments/create", json={"name": "evented"})["experiment_id"]
    run = ok(base, "POST", "/runs/create", json={"experiment_id": exp})["run"]["info"]
    rid = run["run_id"]
    ok(base, "POST", "/runs/update", json={"run_id": rid, "run_name": "renamed"})
    ok(base, "POST", "/runs/update", json={"run_id": rid, "status": "FINISHED", "end_time": 5})
    ok(base, "POST", "/runs/delete", json={"run_id": rid})
    ok(base, "POST", "/experiments/update", json={"experiment_id": exp, "new_name": "evented2"})
    ok(base, "POST", "/experiments/delete", json={"experiment_id": exp})
    seen = [(e.name, e.data) for e in recorder.events]
    assert seen == [
        ("experiment.created", {"name": "evented"}),
        ("run.created", {}),
        ("run.updated", {"status": None, "name": "renamed"}),
        ("run.terminated", {"status": "FINISHED"}),
        ("run.deleted", {}),
        ("experiment.renamed", {"name": "evented2"}),
        ("experiment.deleted", {}),
    ]
    assert recorder.events[1].entity.info.run_id == rid
    assert recorder.events[0].store_uri.startswith("sqlite:")


def test_refused_write_fires_nothing(base: str, recorder: EventRecorder) -> None:
    r = call(base, "POST", "/registered-models/create", json={"name": ""})
    assert r.status_code == 400
    r = call(base, "POST", "/runs/delete", json={"run_id": "0" * 32})
    assert r.status_code == 404
    assert recorder.events == []


def test_webhook_crud_and_test(base: str, receiver: Receiver) -> None:
    hook = _hook(base, "crud-hook", receiver.url, [("MODEL_VERSION", "CREATED")])
    assert "secret" not in hook and SECRET not in str(hook)
    assert hook["events"] == [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    assert hook["status"] == "ACTIVE" and hook["description"] == "d"
    hid = hook["webhook_id"]
    assert ok(base, "GET", f"/webhooks/{hid}")["webhook"] == hook
    listed = ok(base, "GET", "/webhooks", params={"max_results": 100})["webhooks"]
    assert hid in [w["webhook_id"] for w in listed]
    patch = {"status": "DISABLED", "events": [{"entity": "PROMPT", "action": "CREATED"}]}
    updated = ok(base, "PATCH", f"/webhooks/{hid}", json=patch)["webhook"]
    assert updated["status"] == "DISABLED"
    assert updated["events"] == [{"entity": "PROMPT", "action": "CREATED"}]
    result = ok(base, "POST", f"/webhooks/{hid}/test", json={})["result"]
    assert result["success"] is True and result["response_status"] == 200
    assert receiver.bodies()[-1]["entity"] == "prompt"
    bad = {"name": "bad", "url": receiver.url, "events": [{"entity": "RUN", "action": "SET"}]}
    r = call(base, "POST", "/webhooks", json=bad)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    outside = {**bad, "url": "http://10.1.2.3/hook", "events": patch["events"]}
    r = call(base, "POST", "/webhooks", json=outside)
    assert r.status_code == 400, r.text
    ok(base, "DELETE", f"/webhooks/{hid}")
    r = call(base, "GET", f"/webhooks/{hid}")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_logged_models_round_trip(base: str, recorder: EventRecorder) -> None:
    exp = ok(base, "POST", "/experiments/create", json={"name": "lm"})["experiment_id"]
    rid = ok(base, "POST", "/runs/create", json={"experiment_id": exp})["run"]["info"]["run_id"]
    create = {
        "experiment_id": exp,
        "name": "clf",
        "model_type": "sklearn",
        "source_run_id": rid,
        "params": [{"key": "alpha", "value": "0.5"}],
        "tags": [{"key": "t", "value": "1"}],
    }
    model = ok(base, "POST", "/logged-models", json=create)["model"]
    info = model["info"]
    mid = info["model_id"]
    assert mid.startswith("m-") and info["status"] == "LOGGED_MODEL_PENDING"
    assert (info["name"], info["experiment_id"], info["source_run_id"]) == ("clf", exp, rid)
    assert info["tags"] == [{"key": "t", "value": "1"}]
    assert model["data"]["params"] == [{"key": "alpha", "value": "0.5"}]
    metric = {"run_id": rid, "key": "acc", "value": 0.9, "timestamp": 1, "step": 0, "model_id": mid}
    ok(base, "POST", "/runs/log-metric", json=metric)
    ok(base, "POST", f"/logged-models/{mid}/params", json={"params": [{"key": "b", "value": "2"}]})
    ok(base, "PATCH", f"/logged-models/{mid}/tags", json={"tags": [{"key": "u", "value": "2"}]})
    ok(base, "DELETE", f"/logged-models/{mid}/tags/t")
    done = ok(base, "PATCH", f"/logged-models/{mid}", json={"status": "LOGGED_MODEL_READY"})
    assert done["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    got = ok(base, "GET", f"/logged-models/{mid}")["model"]
    assert got["info"]["tags"] == [{"key": "u", "value": "2"}]
    assert {p["key"] for p in got["data"]["params"]} == {"alpha", "b"}
    (point,) = got["data"]["metrics"]
    assert (point["key"], point["value"], point["model_id"], point["run_id"]) == (
        "acc",
        0.9,
        mid,
        rid,
    )
    other = ok(base, "POST", "/logged-models", json={"experiment_id": exp})["model"]["info"]
    search = {"experiment_ids": [exp], "filter": "metrics.acc > 0.5", "max_results": 10}
    hits = ok(base, "POST", "/logged-models/search", json=search)["models"]
    assert [h["info"]["model_id"] for h in hits] == [mid]
    ordered = {"experiment_ids": [exp], "order_by": [{"field_name": "name", "ascending": True}]}
    names = [
        h["info"]["name"] for h in ok(base, "POST", "/logged-models/search", json=ordered)["models"]
    ]
    assert names == sorted([other["name"], "clf"])
    assert ok(base, "POST", "/logged-models/search", json={**search, "filter": "name = 'x'"}) == {}
    r = call(base, "PATCH", f"/logged-models/{mid}", json={"status": "LOGGED_MODEL_PENDING"})
    assert r.status_code == 400
    r = call(base, "POST", "/logged-models", json={"name": "no-exp"})
    assert r.status_code == 400 and "experiment_id" in r.json()["message"]
    ok(base, "DELETE", f"/logged-models/{mid}")
    assert call(base, "GET", f"/logged-models/{mid}").status_code == 404
    deleted = ok(base, "GET", f"/logged-models/{mid}", params={"allow_deleted": "true"})
    assert deleted["model"]["info"]["model_id"] == mid
    names_seen = [e.name for e in recorder.events if e.name.startswith("logged_model.")]
    assert names_seen == [
        "logged_model.created",
        "logged_model.finalized",
        "logged_model.created",
        "logged_model.deleted",
    ]


def test_logged_models_need_the_capability(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # contrib's tee store keeps no logged models (Capabilities.logged_models False)
    from trackyard.testing.fixtures import reset_state

    pytest.importorskip("trackyard_tee", reason="the contrib tee store is not installed")
    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-tee")
    reset_state()
    targets = f"{(tmp_path / 'a').as_uri()},{(tmp_path / 'b').as_uri()}"
    uri = f"tee:///?targets={targets}&queue={tmp_path / 'queue'}"
    app = create_app(uri, artifacts_destination=str(tmp_path))
    with serve(app) as url:
        r = call(url, "POST", "/logged-models", json={"experiment_id": "0"})
        s = call(url, "POST", "/logged-models/search", json={"experiment_ids": ["0"]})
    for answer in (r, s):
        assert answer.status_code == 501, answer.text
        assert answer.json()["error_code"] == "FEATURE_DISABLED"


def test_history_bulk_interval_samples_as_mlflow(base: str) -> None:
    exp = ok(base, "POST", "/experiments/create", json={"name": "bulk"})["experiment_id"]
    runs = [
        ok(base, "POST", "/runs/create", json={"experiment_id": exp})["run"]["info"]["run_id"]
        for _ in range(2)
    ]
    points = [{"key": "m", "value": s / 10, "timestamp": 100 + s, "step": s} for s in range(10)]
    ok(base, "POST", "/runs/log-batch", json={"run_id": runs[0], "metrics": points})
    ok(base, "POST", "/runs/log-batch", json={"run_id": runs[1], "metrics": points[:3]})

    def steps(**params: Any) -> list[tuple[str, int]]:
        query = {"run_ids": runs, "metric_key": "m", **params}
        got = ok(base, "GET", "/metrics/get-history-bulk-interval", params=query)
        return [(m["run_id"], m["step"]) for m in got.get("metrics", [])]

    a, b = runs
    # NTILE(4) over 10 points starts buckets at 0, 3, 6, 8; the last point replaces 8
    assert steps(max_results=4) == [(a, 0), (a, 3), (a, 6), (a, 9), (b, 0), (b, 1), (b, 2)]
    assert steps(max_results=3, start_step=2, end_step=7) == [(a, 2), (a, 4), (a, 7), (b, 2)]
    assert steps(max_results=1) == [(a, 9), (b, 2)]
    assert len(steps()) == 13  # default 2500 a run: everything
    one = ok(
        base,
        "GET",
        "/metrics/get-history-bulk-interval",
        params={"run_ids": a, "metric_key": "m", "max_results": 1},
    )
    assert one == {
        "metrics": [{"key": "m", "value": 0.9, "timestamp": 109, "step": 9, "run_id": a}]
    }
    for bad in (
        {"max_results": 0},
        {"max_results": 2501},
        {"start_step": 1},
        {"start_step": 5, "end_step": 2},
    ):
        r = call(
            base,
            "GET",
            "/metrics/get-history-bulk-interval",
            params={"run_ids": runs, "metric_key": "m", **bad},
        )
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", bad
    r = call(
        base,
        "GET",
        "/metrics/get-history-bulk-interval",
        params={"run_ids": [a, "f" * 32], "metric_key": "m"},
    )
    assert r.status_code == 404


def test_create_run_without_experiment_is_refused(base: str) -> None:
    before = ok(base, "POST", "/runs/search", json={"experiment_ids": ["0"]})
    for body in ({}, {"experiment_id": ""}):
        r = call(base, "POST", "/runs/create", json=body)
        assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST", r.text
    assert ok(base, "POST", "/runs/search", json={"experiment_ids": ["0"]}) == before


def test_logged_model_artifacts_are_listed_and_read(base: str, tmp_path: Any) -> None:
    from trackyard import MlflowClient

    client = MlflowClient(base, base)
    exp = client.create_experiment(f"lm-files-{tmp_path.name}")
    model = client.create_logged_model(exp, "files")
    assert model.artifact_location.startswith("mlflow-artifacts:/")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "sub" / "w.bin").write_bytes(b"\x00\x01")
    client.log_model_artifacts(model.model_id, str(src))
    where = f"/logged-models/{model.model_id}/artifacts"
    top = ok(base, "GET", f"{where}/directories")
    assert top["root_uri"] == model.artifact_location
    assert sorted((f["path"], f["is_dir"]) for f in top["files"]) == [
        ("MLmodel", False),
        ("sub", True),
    ]
    sub = ok(base, "GET", f"{where}/directories", params={"artifact_directory_path": "sub"})
    assert sub["files"] == [{"path": "sub/w.bin", "is_dir": False, "file_size": 2}]
    got = call(base, "GET", f"{where}/files", params={"artifact_file_path": "sub/w.bin"})
    assert got.status_code == 200 and got.content == b"\x00\x01"
    for bad in ("../../x", "/etc/passwd", "%2e%2e%2fx", "a;b"):
        r = call(base, "GET", f"{where}/files", params={"artifact_file_path": bad})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", bad
    r = call(base, "GET", f"{where}/files")
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
    r = call(base, "GET", f"/logged-models/m-{'0' * 32}/artifacts/directories")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_rest_client_webhooks_run_on_the_server(base: str, receiver: Receiver) -> None:
    """Through the REST store: the server signs, tests and delivers (once); secrets stay there."""
    from trackyard import MlflowClient
    from trackyard.webhooks.payloads import verify_signature

    client = MlflowClient(base, base)
    store = client._registry_store
    assert store.remote_webhooks
    hook = client.create_webhook(
        "rest-client-hook", receiver.url, ["registered_model.created"], secret=SECRET
    )
    assert hook.secret is None and SECRET not in repr(client.get_webhook(hook.webhook_id))
    with pytest.raises(TrackyardError) as exc:
        store.get_webhook_secret(hook.webhook_id)
    assert exc.value.error_code == "FEATURE_DISABLED"
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200, result
    _, headers, body = receiver.requests[-1]
    assert verify_signature(SECRET, headers, body)
    client.update_webhook(hook.webhook_id, secret="rotated")
    seen = len(receiver.requests)
    client.create_registered_model("rest-client-hooked")
    assert flush(30)
    delivered = receiver.bodies()[seen:]
    assert [b["data"]["name"] for b in delivered] == ["rest-client-hooked"]  # once, by the server
    _, headers, body = receiver.requests[-1]
    assert verify_signature("rotated", headers, body)
    client.delete_webhook(hook.webhook_id)
