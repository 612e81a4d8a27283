"""``--auth basic``: users, permissions, deny-by-default routes, filtered searches."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.rest_server import serve

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from trackyard_rest.server import create_app
from trackyard_rest.server.auth import auth_database_uri
from trackyard_rest.server.auth.rules import app_routes, unmapped_routes
from trackyard_rest.server.auth.setup import AuthSetupError

API = "/api/2.0/mlflow"
API3 = "/api/3.0/mlflow"
ADMIN = ("root", "root-password-0001")
PASSWORD = "user-password-0001"


class Server:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    def call(
        self, method: str, path: str, who: tuple[str, str] | None, **kw: Any
    ) -> requests.Response:
        rooted = path.startswith(("/api/", "/v1/", "/health", "/version"))
        base = self.url if rooted else self.url + API
        return requests.request(method, base + path, auth=who, timeout=30, **kw)

    def ok(self, method: str, path: str, who: tuple[str, str] | None, **kw: Any) -> Any:
        r = self.call(method, path, who, **kw)
        assert r.status_code == 200, (method, path, r.status_code, r.text)
        return r.json()

    def status(self, method: str, path: str, who: tuple[str, str] | None, **kw: Any) -> int:
        return self.call(method, path, who, **kw).status_code


def user(name: str) -> tuple[str, str]:
    return (name, PASSWORD)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("auth")
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACKYARD_AUTH_ADMIN_USERNAME", ADMIN[0])
    mp.setenv("TRACKYARD_AUTH_ADMIN_PASSWORD", ADMIN[1])
    try:
        app = create_app(
            f"sqlite:///{root / 'ty.db'}", artifacts_destination=str(root / "art"), auth="basic"
        )
    finally:
        mp.undo()
    with serve(app) as url:
        s = Server(url, app)
        for name in ("reader", "editor", "manager", "outsider"):
            s.ok("POST", "/users/create", ADMIN, json={"username": name, "password": PASSWORD})
        yield s


@pytest.fixture(scope="module")
def exp(srv: Server) -> str:
    """An experiment the admin made: reader READ, editor EDIT, manager MANAGE on it."""
    exp_id = str(
        srv.ok("POST", "/experiments/create", ADMIN, json={"name": "shared"})["experiment_id"]
    )
    for name, level in (("reader", "READ"), ("editor", "EDIT"), ("manager", "MANAGE")):
        srv.ok(
            "POST",
            "/experiments/permissions/create",
            ADMIN,
            json={"experiment_id": exp_id, "username": name, "permission": level},
        )
    srv.ok(
        "POST",
        "/experiments/permissions/create",
        ADMIN,
        json={"experiment_id": exp_id, "username": "outsider", "permission": "NO_PERMISSIONS"},
    )
    return exp_id


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_refuses_anonymous_requests(srv: Server) -> None:
    routes = list(app_routes(srv.app))
    assert len(routes) > 60  # both prefixes, the auth API, /health, /version, docs
    assert any(p.startswith("/ajax-api/") for p, _ in routes)
    for path, methods in routes:
        for method in sorted(methods - {"HEAD"}):
            r = requests.request(method, srv.url + _concrete(path), timeout=30, json={})
            if path == "/health":
                assert r.status_code == 200
                continue
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["WWW-Authenticate"].startswith("Basic "), (method, path)
            assert r.json()["error_code"] == "UNAUTHENTICATED"


def test_every_route_has_a_rule(srv: Server) -> None:
    assert unmapped_routes(srv.app) == []


def test_a_route_without_a_rule_is_admin_only(srv: Server) -> None:
    path = API + "/not-in-the-policy"
    srv.app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    try:
        assert unmapped_routes(srv.app) == [f"GET {path}"]
        assert requests.get(srv.url + path, timeout=30).status_code == 401
        assert requests.get(srv.url + path, auth=user("manager"), timeout=30).status_code == 403
        assert requests.get(srv.url + path, auth=ADMIN, timeout=30).json() == {"ok": True}
    finally:
        srv.app.router.routes.pop()


def test_wrong_password_unknown_user_and_bad_headers(srv: Server) -> None:
    assert srv.status("GET", "/users/current", ("reader", "not-the-password")) == 401
    assert srv.status("GET", "/users/current", ("nobody", PASSWORD)) == 401
    for header in ("Bearer abc", "Basic !!!", "Basic " + "cmVhZGVy"):  # no colon
        r = requests.get(srv.url + API + "/users/current", headers={"Authorization": header})
        assert r.status_code == 401
    assert srv.status("GET", "/health", None) == 200
    assert srv.status("GET", "/version", None) == 401
    assert srv.status("GET", "/version", user("outsider")) == 200


def test_read_user_cannot_write(srv: Server, exp: str) -> None:
    who = user("reader")
    assert srv.ok("GET", "/experiments/get", who, params={"experiment_id": exp})
    tag = {"experiment_id": exp, "key": "k", "value": "v"}
    assert srv.status("POST", "/experiments/set-experiment-tag", who, json=tag) == 403
    assert srv.status("POST", "/runs/create", who, json={"experiment_id": exp}) == 403
    run = srv.ok("POST", "/runs/create", ADMIN, json={"experiment_id": exp})["run"]["info"]
    batch = {"run_id": run["run_id"], "metrics": [{"key": "m", "value": 1, "timestamp": 1}]}
    assert srv.status("POST", "/runs/log-batch", who, json=batch) == 403
    assert srv.ok("GET", "/runs/get", who, params={"run_id": run["run_id"]})
    got = srv.ok("GET", "/runs/get", ADMIN, params={"run_id": run["run_id"]})["run"]
    assert "metrics" not in got["data"]  # the refused batch wrote nothing


def test_edit_user_writes_but_cannot_delete_or_manage(srv: Server, exp: str) -> None:
    who = user("editor")
    tag = {"experiment_id": exp, "key": "k", "value": "v"}
    srv.ok("POST", "/experiments/set-experiment-tag", who, json=tag)
    run = srv.ok("POST", "/runs/create", who, json={"experiment_id": exp})["run"]["info"]
    batch = {"run_id": run["run_id"], "metrics": [{"key": "m", "value": 1, "timestamp": 1}]}
    srv.ok("POST", "/runs/log-batch", who, json=batch)
    assert srv.status("POST", "/runs/delete", who, json={"run_id": run["run_id"]}) == 403
    assert srv.status("POST", "/experiments/delete", who, json={"experiment_id": exp}) == 403
    grant = {"experiment_id": exp, "username": "outsider", "permission": "READ"}
    assert srv.status("PATCH", "/experiments/permissions/update", who, json=grant) == 403
    assert srv.status("POST", f"{API3}/users/permissions/grant", who, json={
        "username": "outsider", "resource_type": "experiment", "resource_id": exp,
        "permission": "READ"}) == 403  # fmt: skip


def test_manage_user_grants_and_revokes(srv: Server, exp: str) -> None:
    who = user("manager")
    body = {"experiment_id": exp, "username": "outsider", "permission": "EDIT"}
    srv.ok("PATCH", "/experiments/permissions/update", who, json=body)
    got = srv.ok(
        "GET",
        "/experiments/permissions/get",
        who,
        params={"experiment_id": exp, "username": "outsider"},
    )["experiment_permission"]
    assert got["permission"] == "EDIT" and got["experiment_id"] == exp
    tag = {"experiment_id": exp, "key": "by", "value": "outsider"}
    srv.ok("POST", "/experiments/set-experiment-tag", user("outsider"), json=tag)
    three = {"username": "outsider", "resource_type": "experiment", "resource_id": exp}
    srv.ok(
        "POST",
        f"{API3}/users/permissions/grant",
        who,
        json={**three, "permission": "NO_PERMISSIONS"},
    )
    assert (
        srv.status("GET", "/experiments/get", user("outsider"), params={"experiment_id": exp})
        == 403
    )
    eff = srv.ok("GET", f"{API3}/users/permissions/get", who, params=three)
    assert eff == {"allowed": False, "permission": "NO_PERMISSIONS"}
    bad = {**body, "permission": "OWNER"}
    assert srv.call("PATCH", "/experiments/permissions/update", who, json=bad).json()[
        "error_code"] == "INVALID_PARAMETER_VALUE"  # fmt: skip
    dup = srv.call("POST", "/experiments/permissions/create", who, json=body)
    assert dup.status_code == 400 and dup.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_creators_get_manage(srv: Server) -> None:
    who = user("outsider")
    mine = srv.ok("POST", "/experiments/create", who, json={"name": "outsider-own"})[
        "experiment_id"
    ]
    srv.ok("POST", "/experiments/delete", who, json={"experiment_id": mine})
    srv.ok("POST", "/experiments/restore", who, json={"experiment_id": mine})
    srv.ok("POST", "/registered-models/create", who, json={"name": "outsider-model"})
    listed = srv.ok("GET", f"{API3}/users/current/permissions", who)
    assert {"resource_type": "registered_model", "resource_pattern": "outsider-model",
            "permission": "MANAGE"} in listed["permissions"]  # fmt: skip
    srv.ok(
        "POST", "/registered-models/rename", who, json={"name": "outsider-model", "new_name": "om2"}
    )
    got = srv.ok(
        "GET",
        "/registered-models/permissions/get",
        who,
        params={"name": "om2", "username": "outsider"},
    )
    assert got["registered_model_permission"]["permission"] == "MANAGE"
    # others read it (default READ) but cannot change it
    assert srv.ok("GET", "/registered-models/get", user("reader"), params={"name": "om2"})
    assert (
        srv.status("DELETE", "/registered-models/delete", user("reader"), json={"name": "om2"})
        == 403
    )
    srv.ok("DELETE", "/registered-models/delete", who, json={"name": "om2"})
    assert srv.ok("GET", f"{API3}/users/permissions/list", who, params={"username": "outsider"})[
        "permissions"][-1]["resource_pattern"] != "om2"  # fmt: skip


def test_searches_show_only_readable_things(srv: Server, exp: str) -> None:
    hidden = []
    for i in range(5):
        e = srv.ok("POST", "/experiments/create", ADMIN, json={"name": f"hidden-{i}"})[
            "experiment_id"
        ]
        hidden.append(e)
        grant = {"experiment_id": e, "username": "outsider", "permission": "NO_PERMISSIONS"}
        srv.ok("POST", "/experiments/permissions/create", ADMIN, json=grant)
        srv.ok("POST", "/runs/create", ADMIN, json={"experiment_id": e})
    who = user("outsider")
    everything = srv.ok("POST", "/experiments/search", ADMIN, json={"max_results": 1000})
    all_ids = {e["experiment_id"] for e in everything["experiments"]}
    assert set(hidden) | {exp} <= all_ids
    seen: list[str] = []
    token = None
    while True:  # small pages are refilled past hidden experiments, as MLflow's
        body: dict[str, Any] = {"max_results": 2, **({"page_token": token} if token else {})}
        page = srv.ok("POST", "/experiments/search", who, json=body)
        got = [e["experiment_id"] for e in page.get("experiments", [])]
        assert len(got) == 2 or "next_page_token" not in page
        seen += got
        token = page.get("next_page_token")
        if not token:
            break
    assert set(seen) == all_ids - set(hidden) - {exp}
    got = srv.ok("GET", "/experiments/search", who, params={"max_results": 1000})
    assert {e["experiment_id"] for e in got["experiments"]} == set(seen)
    runs = srv.ok("POST", "/runs/search", who, json={"experiment_ids": hidden})
    assert runs == {}
    assert len(srv.ok("POST", "/runs/search", ADMIN, json={"experiment_ids": hidden})["runs"]) == 5
    srv.ok("POST", "/registered-models/create", ADMIN, json={"name": "secret-model"})
    srv.ok(
        "POST", "/model-versions/create", ADMIN, json={"name": "secret-model", "source": "s3://b/m"}
    )
    grant = {"name": "secret-model", "username": "outsider", "permission": "NO_PERMISSIONS"}
    srv.ok("POST", "/registered-models/permissions/create", ADMIN, json=grant)
    names = [
        m["name"]
        for m in srv.ok("GET", "/registered-models/search", who).get("registered_models", [])
    ]
    assert "secret-model" not in names
    assert "secret-model" in [
        m["name"]
        for m in srv.ok("GET", "/registered-models/search", user("reader"))["registered_models"]
    ]
    versions = srv.ok(
        "GET", "/model-versions/search", who, params={"filter": "name='secret-model'"}
    )
    assert versions == {}
    assert srv.status("GET", "/registered-models/get", who, params={"name": "secret-model"}) == 403


def test_user_endpoints_are_admin_only(srv: Server) -> None:
    who = user("manager")
    new = {"username": "intruder", "password": PASSWORD}
    assert srv.status("POST", "/users/create", who, json=new) == 403
    assert srv.status("GET", "/users/list", who) == 403
    assert (
        srv.status(
            "PATCH", "/users/update-admin", who, json={"username": "manager", "is_admin": True}
        )
        == 403
    )
    assert srv.status("DELETE", "/users/delete", who, json={"username": "reader"}) == 403
    assert srv.status("GET", "/users/get", who, params={"username": "reader"}) == 403
    pw = {"username": "reader", "password": "x" * 20}
    assert srv.status("PATCH", "/users/update-password", who, json=pw) == 403
    assert (
        srv.status("GET", f"{API3}/users/permissions/list", who, params={"username": "reader"})
        == 403
    )
    assert (
        srv.ok("GET", "/users/get", who, params={"username": "manager"})["user"]["is_admin"]
        is False
    )
    short = srv.call(
        "POST", "/users/create", ADMIN, json={"username": "shorty", "password": "short"}
    )
    assert short.status_code == 400 and "12 characters" in short.json()["message"]
    own = srv.call("DELETE", "/users/delete", ADMIN, json={"username": ADMIN[0]})
    assert own.status_code == 400


def test_password_changes_and_deletion_take_effect_at_once(srv: Server) -> None:
    srv.ok("POST", "/users/create", ADMIN, json={"username": "temp", "password": PASSWORD})
    who = user("temp")
    assert srv.ok("GET", "/users/current", who)["user"]["username"] == "temp"
    change = {"username": "temp", "password": "another-password-2"}
    assert srv.status("PATCH", "/users/update-password", who, json=change) == 400  # no current
    srv.ok("PATCH", "/users/update-password", who, json={**change, "current_password": PASSWORD})
    assert srv.status("GET", "/users/current", who) == 401
    assert srv.status("GET", "/users/current", ("temp", "another-password-2")) == 200
    srv.ok("PATCH", "/users/update-admin", ADMIN, json={"username": "temp", "is_admin": True})
    assert srv.status("GET", "/users/list", ("temp", "another-password-2")) == 200
    srv.ok("DELETE", "/users/delete", ADMIN, json={"username": "temp"})
    assert srv.status("GET", "/users/current", ("temp", "another-password-2")) == 401


def test_no_password_hash_is_ever_returned(srv: Server) -> None:
    answers = [
        srv.call("GET", "/users/list", ADMIN).text,
        srv.call("GET", "/users/get", ADMIN, params={"username": "reader"}).text,
        srv.call("GET", "/users/current", user("reader")).text,
        srv.call("POST", "/users/create", ADMIN, json={"username": "h", "password": PASSWORD}).text,
        srv.call("GET", f"{API3}/users/current/permissions", user("reader")).text,
        srv.call("GET", "/openapi.json", ADMIN).text,
    ]
    for text in answers:
        assert "scrypt$" not in text and "password_hash" not in text


def test_auth_tables_leave_mlflow_schema_alone(srv: Server, tmp_path: Path) -> None:
    db = srv.app.state.auth_store.uri.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        version = conn.execute("select version_num from alembic_version").fetchall()
    assert {"trackyard_auth_users", "trackyard_auth_permissions", "trackyard_auth_schema"} <= tables
    assert "experiments" in tables and len(version) == 1  # the tracking schema, untouched
    assert auth_database_uri("postgresql://u@h/db") == "postgresql://u@h/db"
    assert (
        auth_database_uri(str(tmp_path / "mlruns")) == f"sqlite:///{tmp_path / 'trackyard-auth.db'}"
    )
    assert auth_database_uri("memory://", "sqlite:///x.db") == "sqlite:///x.db"


def test_no_admin_and_no_way_to_make_one_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("TRACKYARD_AUTH_ADMIN_USERNAME", "TRACKYARD_AUTH_ADMIN_PASSWORD",
                "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    uri = f"sqlite:///{tmp_path / 'none.db'}"
    with pytest.raises(AuthSetupError, match="no admin user"):
        create_app(uri, auth="basic")
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "too-short")
    with pytest.raises(AuthSetupError, match="12 characters"):
        create_app(uri, auth="basic")
    monkeypatch.setenv("TRACKYARD_AUTH_ADMIN_USERNAME", "boss")
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD")
    with pytest.raises(AuthSetupError, match="no password is set"):
        create_app(uri, auth="basic")


def test_scrypt_cost_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from trackyard_rest.server.auth import passwords

    monkeypatch.setenv("TRACKYARD_AUTH_SCRYPT_COST", "13")
    stored = passwords.hash_password("correct horse battery")
    assert stored.split("$")[1] == str(2**13)
    monkeypatch.delenv("TRACKYARD_AUTH_SCRYPT_COST")
    assert passwords.scrypt_n() == 2**14
    assert passwords.verify("correct horse battery", stored)  # old hashes keep their cost
    assert not passwords.verify("wrong horse battery", stored)
    for bad in ("11", "21", "x"):
        monkeypatch.setenv("TRACKYARD_AUTH_SCRYPT_COST", bad)
        with pytest.raises(ValueError, match="TRACKYARD_AUTH_SCRYPT_COST"):
            passwords.hash_password("correct horse battery")


def test_logged_models_follow_their_experiment_and_webhooks_are_admin_only(
    srv: Server, exp: str
) -> None:
    created = srv.ok("POST", "/logged-models", user("editor"), json={"experiment_id": exp})
    model_id = created["model"]["info"]["model_id"]
    assert srv.status("POST", "/logged-models", user("reader"), json={"experiment_id": exp}) == 403
    assert srv.ok("GET", f"/logged-models/{model_id}", user("reader"))["model"]["info"]
    found = srv.ok("POST", "/logged-models/search", user("reader"), json={"experiment_ids": [exp]})
    assert [m["info"]["model_id"] for m in found["models"]] == [model_id]
    tags = {"tags": [{"key": "k", "value": "v"}]}
    assert srv.status("PATCH", f"/logged-models/{model_id}/tags", user("reader"), json=tags) == 403
    srv.ok("PATCH", f"/logged-models/{model_id}/tags", user("editor"), json=tags)
    assert srv.status("DELETE", f"/logged-models/{model_id}", user("editor")) == 403
    srv.ok("DELETE", f"/logged-models/{model_id}", user("manager"))
    assert srv.status("GET", "/webhooks", user("manager")) == 403
    assert srv.status("GET", "/webhooks", ADMIN) == 200


def test_traces_follow_their_experiment(srv: Server, exp: str) -> None:
    from trackyard.entities.trace import Span, SpanStatus, SpanStatusCode
    from trackyard_rest.otlp import encode_spans

    trace_id = "tr-" + "ab" * 16
    info = {
        "trace_id": trace_id,
        "trace_location": {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": exp},
        },
        "request_time": "2023-11-14T22:13:20.000Z",
        "execution_duration": "0.005s",
        "state": "OK",
    }
    body = {"trace": {"trace_info": info}}
    assert srv.status("POST", f"{API3}/traces", user("reader"), json=body) == 403
    srv.ok("POST", f"{API3}/traces", user("editor"), json=body)
    span = Span(trace_id, "cd" * 8, None, "root", 1, 2, SpanStatus(SpanStatusCode.OK))
    otlp = {"data": encode_spans([span]), "headers": {"x-mlflow-experiment-id": exp}}
    for who, status in (("reader", 403), ("outsider", 403), ("editor", 200)):
        assert srv.status("POST", "/v1/traces", user(who), **otlp) == status
    assert srv.status("POST", "/v1/traces", user("editor"), data=b"") == 400  # no header
    got = srv.ok("GET", f"{API3}/traces/get", user("reader"), params={"trace_id": trace_id})
    assert [s["name"] for s in got["trace"]["spans"]] == ["root"]
    assert srv.status("GET", f"{API3}/traces/{trace_id}", user("outsider")) == 403
    batch = {"trace_ids": [trace_id]}
    assert srv.status("GET", f"{API3}/traces/batchGet", user("outsider"), params=batch) == 403
    assert srv.ok("GET", f"{API3}/traces/batchGet", user("reader"), params=batch)["traces"]
    where = {
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]
    }
    assert srv.status("POST", f"{API3}/traces/search", user("outsider"), json=where) == 403
    assert srv.ok("POST", f"{API3}/traces/search", user("reader"), json=where)["traces"]
    tag = {"key": "k", "value": "v"}
    assert srv.status("PATCH", f"{API}/traces/{trace_id}/tags", user("reader"), json=tag) == 403
    srv.ok("PATCH", f"{API}/traces/{trace_id}/tags", user("editor"), json=tag)
    gone = {"experiment_id": exp, "request_ids": [trace_id]}
    assert srv.status("POST", f"{API}/traces/delete-traces", user("editor"), json=gone) == 403
    assert srv.ok("POST", f"{API}/traces/delete-traces", user("manager"), json=gone) == {
        "traces_deleted": 1
    }


def test_the_import_api_is_admin_only(srv: Server, exp: str) -> None:
    base = srv.url + "/api/2.0/trackyard"
    caps = requests.get(base + "/capabilities", auth=user("reader"), timeout=30)
    assert caps.status_code == 200 and caps.json()["imports"]["tracking"] is True
    run = {"info": {"run_id": "a" * 32, "experiment_id": exp, "start_time": 1}}
    for who in ("editor", "manager"):
        r = requests.post(base + "/imports/run", json={"run": run}, auth=user(who), timeout=30)
        assert r.status_code == 403, r.text
        assert r.json()["error_code"] == "PERMISSION_DENIED"
    assert srv.status("GET", "/runs/get", ADMIN, params={"run_id": "a" * 32}) == 404
    r = requests.get(base + "/imports/new-experiment-id", auth=ADMIN, timeout=30)
    assert r.status_code == 200 and r.json()["experiment_id"]
    r = requests.post(base + "/imports/run", json={"run": run}, auth=ADMIN, timeout=30)
    assert r.status_code == 200, r.text
    assert srv.ok("GET", "/runs/get", ADMIN, params={"run_id": "a" * 32})["run"]["info"]
