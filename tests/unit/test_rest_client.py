"""The REST client without MLflow: a scripted HTTP server on loopback answers its requests.

Covers retries (503/429/500/connection errors retried, 400 never), the Idempotency-Key kept
across retries, auth headers from the environment, hook headers, credential masking,
log_batch splitting and refusal of a hostile artifact listing.
"""

from __future__ import annotations

import json
import logging
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests._mlflow_server import free_port
from trackyard import hookimpl
from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.plugins import get_plugin_manager
from trackyard_rest.client.artifacts import MlflowArtifactsRepository, resolve_artifacts_uri
from trackyard_rest.client.batching import (
    MAX_ENTITIES,
    MAX_METRICS,
    MAX_PARAMS,
    MAX_TAGS,
    batch_bodies,
    split_batch,
)
from trackyard_rest.client.http import HttpSettings, RestSession
from trackyard_rest.client.tracking import RestTrackingStore

SECRET = "s3cr3t-pa55"
TOKEN = "tok-abcdef-123456"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """Answers requests from ``replies`` in order (then 200 ``{}``); records every request."""

    replies: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, body, headers or {}))


@pytest.fixture
def server() -> Iterator[Scripted]:
    script = Scripted()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                script.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                status, payload, headers = (
                    script.replies.pop(0) if script.replies else (200, {}, {})
                )
            data = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRACKING_USERNAME", "TRACKING_PASSWORD", "TRACKING_TOKEN"):
        monkeypatch.delenv(f"MLFLOW_{name}", raising=False)
        monkeypatch.delenv(f"TRACKYARD_{name}", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")


def _error(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "message": message}


# -- retries -----------------------------------------------------------------------------------
def test_503_then_200_is_retried_with_the_same_idempotency_key(server: Scripted) -> None:
    server.reply(503, _error("TEMPORARILY_UNAVAILABLE", "busy"))
    server.reply(200, {"experiment_id": "7"})
    store = RestTrackingStore(server.url)
    assert store.create_experiment("e") == "7"
    assert [s.path for s in server.seen] == ["/api/2.0/mlflow/experiments/create"] * 2
    keys = [s.headers["Idempotency-Key"] for s in server.seen]
    assert keys[0] == keys[1] and len(keys[0]) == 32
    assert json.loads(server.seen[1].body) == {"name": "e", "tags": []}


def test_each_create_call_gets_its_own_idempotency_key(server: Scripted) -> None:
    run = {"run": {"info": {"run_id": "r" * 32, "experiment_id": "0"}}}
    server.reply(200, run)
    server.reply(200, run)
    store = RestTrackingStore(server.url)
    store.create_run("0", "u", 1, [], "a")
    store.create_run("0", "u", 1, [], "b")
    assert server.seen[0].headers["Idempotency-Key"] != server.seen[1].headers["Idempotency-Key"]


def test_429_is_retried_after_retry_after(server: Scripted) -> None:
    server.reply(429, _error("REQUEST_LIMIT_EXCEEDED", "slow down"), {"Retry-After": "0"})
    server.reply(200, {"experiment": {"experiment_id": "3", "name": "x"}})
    assert RestTrackingStore(server.url).get_experiment("3").name == "x"
    assert len(server.seen) == 2
    assert server.seen[1].path == "/api/2.0/mlflow/experiments/get?experiment_id=3"


def test_400_is_never_retried_and_keeps_the_servers_error(server: Scripted) -> None:
    server.reply(400, _error("INVALID_PARAMETER_VALUE", "bad name"))
    with pytest.raises(TrackyardError) as excinfo:
        RestTrackingStore(server.url).create_experiment("e")
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert excinfo.value.message == "bad name"
    assert len(server.seen) == 1


def test_404_and_409_are_not_retried(server: Scripted) -> None:
    server.reply(404, _error("RESOURCE_DOES_NOT_EXIST", "no run"))
    server.reply(409, _error("RESOURCE_CONFLICT", "conflict"))
    store = RestTrackingStore(server.url)
    with pytest.raises(TrackyardError, match="no run") as e1:
        store.get_run("r")
    with pytest.raises(TrackyardError, match="conflict") as e2:
        store.get_run("r")
    assert (e1.value.error_code, e2.value.error_code) == (
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_CONFLICT",
    )
    assert len(server.seen) == 2


def test_retries_give_up_after_max_retries(server: Scripted) -> None:
    for _ in range(10):
        server.reply(500, _error("INTERNAL_ERROR", "boom"))
    with pytest.raises(TrackyardError, match="boom") as excinfo:
        RestTrackingStore(server.url).get_run("r")
    assert excinfo.value.error_code == ErrorCode.INTERNAL_ERROR
    assert len(server.seen) == 4  # the call and MLFLOW_HTTP_REQUEST_MAX_RETRIES=3 retries


def test_trackyard_variables_win_over_mlflow_ones(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKYARD_HTTP_REQUEST_MAX_RETRIES", "0")
    server.reply(503, _error("TEMPORARILY_UNAVAILABLE", "busy"))
    with pytest.raises(TrackyardError, match="busy"):
        RestTrackingStore(server.url).get_run("r")
    assert len(server.seen) == 1


def test_non_json_error_body_maps_by_status(server: Scripted) -> None:
    server.reply(404, b"<html>Not Found</html>")
    with pytest.raises(TrackyardError) as excinfo:
        RestTrackingStore(server.url).get_run("r")
    assert excinfo.value.error_code == ErrorCode.ENDPOINT_NOT_FOUND
    assert "HTTP 404" in excinfo.value.message and "Not Found" in excinfo.value.message


def test_connection_errors_are_retried_then_reported_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://alice:{SECRET}@127.0.0.1:{free_port()}"
    store = RestTrackingStore(url)
    with caplog.at_level(logging.DEBUG, logger="trackyard"), pytest.raises(TrackyardError) as exc:
        store.get_run("r")
    assert exc.value.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE
    assert "after 4 attempt(s)" in exc.value.message
    text = exc.value.message + repr(exc.value) + caplog.text + repr(store) + repr(store.session)
    assert "retry 3" in caplog.text
    assert SECRET not in text and "127.0.0.1" in text


# -- auth and headers --------------------------------------------------------------------------
def test_basic_auth_from_mlflow_variables(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    RestTrackingStore(server.url).delete_run("r")
    import base64

    expected = "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()
    assert server.seen[0].headers["Authorization"] == expected


def test_token_and_trackyard_precedence(server: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mlflow-token")
    monkeypatch.setenv("TRACKYARD_TRACKING_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    store = RestTrackingStore(server.url)
    store.delete_run("r")
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    shown = repr(store) + repr(store.session) + repr(store.session.settings)
    assert TOKEN not in shown and "auth=token" in shown


def test_user_info_in_the_url_is_basic_auth(server: Scripted) -> None:
    url = server.url.replace("http://", f"http://carol:{SECRET}@")
    store = RestTrackingStore(url)
    store.delete_run("r")
    assert server.seen[0].headers["Authorization"].startswith("Basic ")
    assert SECRET not in repr(store) and store.session.base_url == server.url


def test_hook_headers_are_merged_into_every_request(server: Scripted) -> None:
    seen_urls: list[str] = []

    def headers(uri: str) -> dict[str, str]:
        seen_urls.append(uri)
        return {"X-Tenant": "blue"}

    plugin = types.ModuleType("tenant_headers")
    headers.__name__ = "trackyard_request_headers"
    plugin.trackyard_request_headers = hookimpl(headers)  # type: ignore[attr-defined]
    get_plugin_manager().register(plugin, "tenant_headers")
    store = RestTrackingStore(server.url)
    store.delete_run("r")
    server.reply(200, {"run": {"info": {"run_id": "r" * 32}}})
    store.get_run("r" * 32)
    assert [s.headers.get("X-Tenant") for s in server.seen] == ["blue", "blue"]
    assert seen_urls[0] == server.url + "/api/2.0/mlflow/runs/delete"


def test_settings_reject_bad_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "soon")
    with pytest.raises(TrackyardError, match="HTTP_REQUEST_TIMEOUT") as excinfo:
        HttpSettings.from_env()
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_session_refuses_non_http_urls() -> None:
    with pytest.raises(TrackyardError, match="Not an http"):
        RestSession(f"ftp://u:{SECRET}@host/x")
    try:
        RestSession(f"ftp://u:{SECRET}@host/x")
    except TrackyardError as exc:
        assert SECRET not in str(exc)


# -- log_batch splitting -----------------------------------------------------------------------
def _metrics(n: int) -> list[Metric]:
    return [Metric(f"m{i % 7}", float(i), 1000 + i, i) for i in range(n)]


def test_split_batch_respects_every_limit() -> None:
    params = [Param(f"p{i}", "v") for i in range(250)]
    tags = [RunTag(f"t{i}", "v") for i in range(130)]
    groups = split_batch(_metrics(2500), params, tags)
    for m, p, t in groups:
        assert len(m) <= MAX_METRICS and len(p) <= MAX_PARAMS and len(t) <= MAX_TAGS
        assert len(m) + len(p) + len(t) <= MAX_ENTITIES
    assert [x for g in groups for x in g[1]] == params  # order kept, params first
    assert [x for g in groups for x in g[0]] == _metrics(2500)
    first_metric = next(i for i, g in enumerate(groups) if g[0])
    assert all(not g[0] for g in groups[:first_metric]) and all(
        g[1] or g[2] for g in groups[:first_metric]
    )
    assert len(split_batch(_metrics(900), params[:100], [])) == 1
    assert split_batch([], [], []) == [([], [], [])]


def test_batch_bodies_stay_under_the_body_limit() -> None:
    tags = [RunTag(f"t{i}", "x" * 8000) for i in range(100)]
    params = [Param(f"p{i}", "y" * 6000) for i in range(100)]
    bodies = batch_bodies("r", _metrics(10), params, tags)
    assert all(len(b) <= 1_000_000 for b in bodies) and len(bodies) >= 2
    decoded = [json.loads(b) for b in bodies]
    assert sum(len(d.get("tags", [])) for d in decoded) == 100
    assert sum(len(d.get("params", [])) for d in decoded) == 100
    assert sum(len(d.get("metrics", [])) for d in decoded) == 10


def test_log_batch_sends_split_requests_and_special_floats(server: Scripted) -> None:
    store = RestTrackingStore(server.url)
    metrics = [
        *_metrics(2100),
        Metric("nan", float("nan"), 1, 0),
        Metric("inf", float("inf"), 1, 0),
    ]
    store.log_batch("r", metrics, [Param("p", "v")], [RunTag("t", "v")])
    assert [s.path for s in server.seen] == ["/api/2.0/mlflow/runs/log-batch"] * 3
    bodies = [json.loads(s.body) for s in server.seen]
    assert [len(b.get("metrics", [])) for b in bodies] == [998, 1000, 104]
    assert bodies[0]["params"] == [{"key": "p", "value": "v"}]
    assert bodies[-1]["metrics"][-2:] == [
        {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "inf", "value": "Infinity", "timestamp": 1, "step": 0},
    ]


def test_log_batch_stops_at_the_first_refused_request(server: Scripted) -> None:
    server.reply(200, {})
    server.reply(400, _error("INVALID_PARAMETER_VALUE", "changed param"))
    with pytest.raises(TrackyardError, match="changed param"):
        RestTrackingStore(server.url).log_batch("r", _metrics(2500), [], [])
    assert len(server.seen) == 2


def test_empty_log_batch_still_asks_the_server(server: Scripted) -> None:
    # the server checks the run exists and is active (empty log_inputs relies on it)
    server.reply(400, _error("INVALID_PARAMETER_VALUE", "run is deleted"))
    with pytest.raises(TrackyardError, match="run is deleted"):
        RestTrackingStore(server.url).log_batch("r", [], [], [])
    assert [json.loads(s.body) for s in server.seen] == [{"run_id": "r"}]


@pytest.mark.parametrize("max_results", [0, -1, True, 1.5, "10"])
def test_bad_history_paging_is_refused_before_sending(server: Scripted, max_results: Any) -> None:
    with pytest.raises(TrackyardError) as err:
        RestTrackingStore(server.url).get_metric_history("r", "m", max_results=max_results)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and server.seen == []


# -- artifacts ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["../evil.txt", "..", "a/../../evil.txt", "/etc/passwd", "a\\b", ""]
)
def test_hostile_listing_is_refused_and_nothing_is_written(
    server: Scripted, tmp_path: Path, name: str
) -> None:
    server.reply(200, {"files": [{"path": name, "is_dir": False, "file_size": 4}]})
    server.reply(200, b"evil")
    dst = tmp_path / "dst"
    dst.mkdir()
    repo = MlflowArtifactsRepository("mlflow-artifacts:/root", tracking_uri=server.url)
    with pytest.raises(TrackyardError, match="unsafe name") as excinfo:
        repo.download_artifacts("", str(dst))
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dst"]
    assert [s.method for s in server.seen] == ["GET"]  # the listing only; no download


def test_download_streams_to_disk(server: Scripted, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 20000  # 5 MB, several chunks
    server.reply(200, {"files": [{"path": "big.bin", "is_dir": False, "file_size": len(payload)}]})
    server.reply(200, payload)
    repo = MlflowArtifactsRepository(f"mlflow-artifacts://{server.url[7:]}/a%20b/root")
    local = repo.download_artifacts("", str(tmp_path))
    assert (Path(local) / "big.bin").read_bytes() == payload
    assert server.seen[0].path == "/api/2.0/mlflow-artifacts/artifacts?path=a+b%2Froot"
    assert server.seen[1].path == "/api/2.0/mlflow-artifacts/artifacts/a%20b/root/big.bin"
    assert not list(tmp_path.rglob(".part-*"))


def test_upload_is_a_streamed_put(server: Scripted, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_bytes(b"hello")
    repo = MlflowArtifactsRepository("mlflow-artifacts:/0/run/artifacts", tracking_uri=server.url)
    repo.log_artifact(str(src), "sub/dir")
    assert (server.seen[0].method, server.seen[0].path, server.seen[0].body) == (
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/sub/dir/f.txt",
        b"hello",
    )
    with pytest.raises(TrackyardError):
        repo.log_artifact(str(src), "../escape")
    assert len(server.seen) == 1


def test_resolving_mlflow_artifacts_uris() -> None:
    assert resolve_artifacts_uri("mlflow-artifacts:/1/r/artifacts", "https://h:5000/pre") == (
        "https://h:5000/pre",
        "1/r/artifacts",
    )
    assert resolve_artifacts_uri("mlflow-artifacts://other:81/x", "https://h:5000") == (
        "https://other:81",
        "x",
    )
    assert resolve_artifacts_uri("mlflow-artifacts://h:5000/x", f"http://u:{SECRET}@h:5000") == (
        f"http://u:{SECRET}@h:5000",  # same server: its credentials are kept (never shown)
        "x",
    )
    with pytest.raises(TrackyardError, match="not an http"):
        resolve_artifacts_uri("mlflow-artifacts:/x", "sqlite:///db")
    with pytest.raises(TrackyardError):
        resolve_artifacts_uri("mlflow-artifacts:/../../etc", "http://h")
