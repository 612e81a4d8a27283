"""``trackyard copy``/``sync`` into a trackyard server: the import API and the REST stores.

A real trackyard server (uvicorn on a free loopback port, in a thread) over SQLite and a
local artifact proxy; sources are SQLite and file stores filled by ``test_copy._populate``.
Stores compare through ``dump_store`` of the server's URL (artifacts through the proxy).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from tests.rest_server import serve
from tests.unit.test_copy import _populate, _uri
from tests.unit.test_copy import _with_memory_store as _with_memory_store  # state reset
from trackyard import MlflowClient, TrackyardError
from trackyard.backends import clear_store_cache, get_registry_store, get_tracking_store
from trackyard.copy import copy_store, dump_store, sync_stores
from trackyard.entities import Metric, Param
from trackyard.errors import ErrorCode
from trackyard_rest.client.tracking import RestTrackingStore
from trackyard_rest.server import create_app


@dataclasses.dataclass
class Server:
    url: str
    backing: str
    tmp: Path


def _server(tmp_path: Path, **options: Any) -> Any:
    backing = f"sqlite:///{tmp_path / 'server.db'}"
    app = create_app(backing, artifacts_destination=str(tmp_path / "proxied"), **options)
    return backing, serve(app)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A trackyard server over a new SQLite file, proxying artifacts to a local folder."""
    backing, running = _server(tmp_path)
    with running as url:
        yield Server(url, backing, tmp_path)
    clear_store_cache()


def _assert_same(src: str, server: str, backing: str) -> None:
    """The server's store holds what ``src`` does, and serves the same artifact files.

    The registry is compared in the server's own store: MLflow's wire format has no version
    storage location and prints a missing description as ``""``.
    """
    assert dump_store(backing, artifacts=False) == dump_store(src, artifacts=False)
    served = dump_store(server, registry=False)["runs"]
    files = dump_store(src, registry=False)["runs"]
    assert {k: r["artifacts"] for k, r in served.items()} == {
        k: r["artifacts"] for k, r in files.items()
    }


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_copy_to_a_server_is_lossless_and_idempotent(tmp_path, server, kind):
    src = _uri(kind, tmp_path, "src")
    _populate(src, str(tmp_path / "art-src"))
    report = copy_store(src, server.url)
    assert (report.runs, report.model_versions, report.artifacts) == (4, 3, 3)
    assert (report.traces, report.traces_skipped, report.logged_models) == (1, 1, 1)
    _assert_same(src, server.url, server.backing)
    # the server's own store holds the same, artifacts behind its proxy
    exp = MlflowClient(server.backing).get_experiment_by_name("train")
    assert exp is not None and exp.artifact_location == f"mlflow-artifacts:/{exp.experiment_id}"
    assert list((tmp_path / "proxied" / exp.experiment_id).glob("*/artifacts/model/MLmodel"))
    again = copy_store(src, server.url)
    assert again.written == 0, again.summary()
    assert again.runs_unchanged == 4


def test_sync_to_a_server_is_incremental(tmp_path, server):
    src = _uri("sqlite", tmp_path, "src")
    ids = _populate(src, str(tmp_path / "art-src"), runs=2)
    mark = str(tmp_path / "sync.jsonl")
    first = sync_stores(src, server.url, checkpoint=mark, once=True)
    assert first.runs == 3
    c = MlflowClient(src)
    c.log_batch(ids[0], metrics=[Metric("loss", 0.01, 9_000 + s, 100 + s) for s in range(5)])
    c.log_param(ids[0], "new", "yes")
    added = c.create_run(c.get_experiment_by_name("train").experiment_id, run_name="later")
    c.log_metric(added.info.run_id, "acc", 0.5, timestamp=1, step=0)
    c.log_text(added.info.run_id, "late", "notes.txt")
    second = sync_stores(src, server.url, checkpoint=mark, once=True)
    assert (second.runs, second.runs_updated, second.metric_points) == (1, 1, 6)
    assert second.artifacts == 1
    _assert_same(src, server.url, server.backing)
    assert MlflowClient(server.url).get_run(ids[0]).data.params["new"] == "yes"
    third = sync_stores(src, server.url, checkpoint=mark, once=True)
    assert third.written == 0, third.summary()


def test_a_different_run_on_the_server_is_refused_and_kept(tmp_path, server):
    src = _uri("sqlite", tmp_path, "src")
    ids = _populate(src, str(tmp_path / "art-src"), runs=1)
    copy_store(src, server.url)
    # the server's run gets another value of a param the source is about to log
    MlflowClient(server.url).log_param(ids[0], "extra", "server")
    MlflowClient(src).log_param(ids[0], "extra", "laptop")
    before = dump_store(server.backing, artifacts=False)
    with pytest.raises(TrackyardError) as info:
        copy_store(src, server.url)
    assert info.value.error_code == ErrorCode.INVALID_STATE
    assert dump_store(server.backing, artifacts=False) == before

    # a run with the source's id but another start time: refused before anything is written
    other = _uri("file", tmp_path, "other")
    oc = MlflowClient(other)
    exp = oc.create_experiment("elsewhere")
    run = oc.create_run(exp)
    store = get_tracking_store(server.url)
    moved = MlflowClient(server.url).get_run(ids[0])
    clash = dataclasses.replace(
        oc.get_run(run.info.run_id),
        info=dataclasses.replace(moved.info, run_id=run.info.run_id, start_time=1),
    )
    store.import_run(clash, [])
    before = dump_store(server.backing, artifacts=False)
    with pytest.raises(TrackyardError) as info:
        copy_store(other, server.url)
    assert info.value.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS
    assert dump_store(server.backing, artifacts=False) == before


def test_import_routes_refuse_bad_input_and_write_nothing(tmp_path, server):
    src = _uri("sqlite", tmp_path, "src")
    ids = _populate(src, str(tmp_path / "art-src"), runs=1)
    copy_store(src, server.url, include_artifacts=False)
    store = get_tracking_store(server.url)
    run = MlflowClient(src).get_run(ids[0])
    before = dump_store(server.backing, artifacts=False)
    with pytest.raises(TrackyardError) as info:
        store.import_run(run, [Metric("x", 1.0, 1, 0)])
    assert info.value.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS
    with pytest.raises(TrackyardError) as info:  # a run without an id
        store._import_call("POST", "run", {"run": {"info": {"experiment_id": "0"}}})
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with pytest.raises(TrackyardError) as info:  # a point without a key
        store._import_call("POST", "run-data", {"run_id": ids[0], "metrics": [{"value": 1}]})
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    registry = get_registry_store(server.url, server.url)
    with pytest.raises(TrackyardError) as info:
        registry.import_registered_model(MlflowClient(src).get_registered_model("m"))
    assert info.value.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS
    assert dump_store(server.backing, artifacts=False) == before


def test_long_metric_lists_are_split_under_the_body_limit(tmp_path):
    backing, running = _server(tmp_path, max_body_bytes=64 * 1024)
    src = _uri("sqlite", tmp_path, "src")
    c = MlflowClient(src)
    run = c.create_run(c.create_experiment("big"))
    rid = run.info.run_id
    points = [Metric("loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(6_000)]
    points += [Metric("nan", float("nan"), s, s) for s in range(200)]
    c.log_batch(rid, metrics=points, params=[Param("p", "x" * 6000)])
    with running as url:
        store = get_tracking_store(url)
        assert store._part_bytes() < 64 * 1024
        report = copy_store(src, url)
        assert report.metric_points == 6_200
        assert len(MlflowClient(url).get_metric_history(rid, "loss")) == 6_000
        _assert_same(src, url, backing)
        c.log_batch(rid, metrics=[Metric("loss", 0.0, 99_999, s) for s in range(6_000, 9_000)])
        more = copy_store(src, url)
        assert more.metric_points == 3_000
        assert len(store.read_metric_points(rid, ["loss"])) == 9_000
    clear_store_cache()


def test_capabilities_are_asked_once_and_only_when_read(server):
    store = RestTrackingStore(server.url)
    assert store._server_info is None  # building the store asked nothing
    assert store.capabilities.datasets and store._server_info is None
    assert store.capabilities.imports
    info = store._server_info
    assert info is not None and info["imports"] == {"tracking": True, "registry": True}
    assert store.capabilities.imports and store._server_info is info  # cached
    assert "imports" in store.capabilities.names()
    assert "probe" not in store.capabilities.names()
    assert not RestTrackingStore.capabilities.imports  # the class alone cannot know
    store.close()


def test_cli_sync_to_a_server(tmp_path, server):
    from click.testing import CliRunner

    from trackyard.cli import cli

    src = (tmp_path / "mlruns").as_uri()
    _populate(src, str(tmp_path / "art-src"), runs=1)
    mark = str(tmp_path / "sync.jsonl")
    result = CliRunner().invoke(cli, ["sync", src, server.url, "--once", "--checkpoint", mark])
    assert result.exit_code == 0, result.output
    _assert_same(src, server.url, server.backing)
    lines = [json.loads(line) for line in Path(mark).read_text().splitlines() if line.strip()]
    assert any(entry.get("kind") == "run" for entry in lines) or lines


def test_a_real_mlflow_server_is_refused_with_the_reason(tmp_path, mlflow_server):
    mlflow_server.reset()
    src = _uri("sqlite", tmp_path, "src")
    _populate(src, str(tmp_path / "art-src"), runs=1)
    store = RestTrackingStore(mlflow_server.url)
    assert not store.capabilities.imports
    with pytest.raises(TrackyardError) as info:
        copy_store(src, mlflow_server.url)
    assert info.value.error_code == ErrorCode.FEATURE_DISABLED
    assert "offers no trackyard import API" in info.value.message
    assert "MLflow's REST API cannot write runs with their own ids" in info.value.message
    assert MlflowClient(mlflow_server.url).get_experiment_by_name("train") is None


def test_a_server_whose_store_cannot_import_offers_no_imports(tmp_path, monkeypatch):
    from trackyard.stores import Capabilities

    backing = f"sqlite:///{tmp_path / 'server.db'}"
    app = create_app(backing, artifacts_destination=str(tmp_path / "proxied"))
    # the same server over a store that does not declare imports (as a plugin's might)
    monkeypatch.setattr(app.state.backend.tracking, "capabilities", Capabilities())
    src = _uri("sqlite", tmp_path, "src")
    _populate(src, str(tmp_path / "art-src"), runs=1)
    with serve(app) as url:
        store = RestTrackingStore(url)
        assert not store.capabilities.imports
        assert store.server_info()["imports"] == {"tracking": False, "registry": True}
        with pytest.raises(TrackyardError) as info:
            store.new_experiment_id()
        assert info.value.error_code == ErrorCode.FEATURE_DISABLED
        assert info.value.get_http_status_code() == 501
        with pytest.raises(TrackyardError) as info:
            copy_store(src, url)
        assert info.value.error_code == ErrorCode.FEATURE_DISABLED
        assert "offers no trackyard import API" in info.value.message
        assert MlflowClient(backing).get_experiment_by_name("train") is None
        store.close()
    clear_store_cache()


def test_sync_waits_for_a_server_that_is_down(tmp_path, monkeypatch, caplog):
    import threading

    import uvicorn

    from tests.rest_server import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    src = _uri("sqlite", tmp_path, "src")
    _populate(src, str(tmp_path / "art-src"), runs=1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    outcome: dict[str, Any] = {}

    def sync() -> None:
        try:
            outcome["report"] = sync_stores(
                src, url, checkpoint=str(tmp_path / "s.jsonl"), interval=1.0, max_passes=4
            )
        except BaseException as exc:
            outcome["error"] = exc

    backing = f"sqlite:///{tmp_path / 'server.db'}"
    app = create_app(backing, artifacts_destination=str(tmp_path / "proxied"))
    worker = threading.Thread(target=sync)
    worker.start()
    deadline = time.monotonic() + 30
    while "sync pass failed" not in caplog.text:  # the first pass found nobody
        assert time.monotonic() < deadline and worker.is_alive(), outcome
        time.sleep(0.05)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        worker.join(60)
        assert "error" not in outcome, outcome  # a later pass copied everything
        assert outcome["report"].written == 0
        assert MlflowClient(backing).get_experiment_by_name("train") is not None
    finally:
        server.should_exit = True
        thread.join(10)
        clear_store_cache()
