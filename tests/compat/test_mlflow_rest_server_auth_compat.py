"""MLflow's own client against a trackyard server with ``--auth basic``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from tests.rest_server import serve

pytestmark = [pytest.mark.compat, requires_mlflow]

ADMIN = ("admin", "admin-password-0001")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    pytest.importorskip("fastapi", reason="the server needs trackyard[server]")
    from trackyard_rest.server import create_app

    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_USERNAME", ADMIN[0])  # MLflow's variables work too
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN[1])
    app = create_app(
        f"sqlite:///{tmp_path / 'ty.db'}", artifacts_destination=str(tmp_path / "a"), auth="basic"
    )
    with serve(app) as url:
        yield url


SCENARIO = """
import os
import mlflow
from mlflow import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request


def auth_call(path, method, **kw):  # as MLflow's AuthServiceClient (needs Flask-WTF) calls
    resp = http_request(get_default_host_creds(uri), path, method, **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()


uri = ARGS["uri"]
out = {}
try:
    MlflowClient(tracking_uri=uri).search_experiments()
except mlflow.exceptions.MlflowException as exc:
    out["anonymous"] = str(exc)
os.environ["MLFLOW_TRACKING_USERNAME"] = ARGS["user"]
os.environ["MLFLOW_TRACKING_PASSWORD"] = ARGS["password"]
api = "/api/2.0/mlflow"
alice_pw = "alice-password-01"
user = auth_call(api + "/users/create", "POST", json={"username": "alice", "password": alice_pw})
user = user["user"]
got = auth_call(api + "/users/get", "GET", params={"username": "alice"})["user"]
client = MlflowClient(tracking_uri=uri)
exp_id = client.create_experiment("secured")
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("secured")
with mlflow.start_run() as run:
    mlflow.log_metric("loss", 0.5)
client.create_registered_model("guarded")
os.environ["MLFLOW_TRACKING_USERNAME"] = "alice"
os.environ["MLFLOW_TRACKING_PASSWORD"] = "alice-password-01"
alice = MlflowClient(tracking_uri=uri)
out["alice_reads"] = alice.get_run(run.info.run_id).data.metrics
try:
    alice.log_metric(run.info.run_id, "loss", 1.0)
except mlflow.exceptions.MlflowException as exc:
    out["alice_write"] = str(exc)[:200]
mine = alice.create_experiment("alice-own")
alice.set_experiment_tag(mine, "owner", "alice")
out["alice_tag"] = alice.get_experiment(mine).tags
os.environ["MLFLOW_TRACKING_PASSWORD"] = "wrong-password-0"
try:
    MlflowClient(tracking_uri=uri).search_experiments()
except mlflow.exceptions.MlflowException as exc:
    out["wrong"] = str(exc)[:200]
out["user"] = [user["username"], user["is_admin"], got["username"]]
emit(out)
"""


def test_mlflow_client_with_and_without_credentials(server: str) -> None:
    out = run_mlflow(SCENARIO, uri=server, user=ADMIN[0], password=ADMIN[1])
    assert out["anonymous"].startswith("UNAUTHENTICATED")  # HTTP 401
    assert out["user"] == ["alice", False, "alice"]
    assert out["alice_reads"] == {"loss": 0.5}  # default READ
    assert out["alice_write"].startswith("PERMISSION_DENIED")  # HTTP 403
    assert out["alice_tag"] == {"owner": "alice"}  # creator's MANAGE
    assert out["wrong"].startswith("UNAUTHENTICATED")
