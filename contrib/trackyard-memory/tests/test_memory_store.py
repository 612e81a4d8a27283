"""What the memory stores promise beyond the conformance kit: names, sharing, reset, plugins."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from trackyard import MlflowClient
from trackyard.backends import get_registry_store, get_tracking_store
from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.plugins import get_plugin_manager
from trackyard.search import ExperimentSearch, RegisteredModelSearch

from trackyard_memory import fresh_uri, reset, space_names
from trackyard_memory._spaces import ARTIFACT_BUCKET, parse_memory_uri
from trackyard_memory.registry import MemoryRegistryStore
from trackyard_memory.tracking import MemoryTrackingStore


@pytest.fixture
def uri() -> Iterator[str]:
    name = fresh_uri("store")
    yield name
    reset(name)


def test_same_name_same_data_other_name_other_data(uri: str) -> None:
    a = MemoryTrackingStore(uri)
    b = MemoryTrackingStore(uri)
    exp_id = a.create_experiment("shared")
    assert b.get_experiment(exp_id).name == "shared"
    other = MemoryTrackingStore(fresh_uri("other"))
    assert other.get_experiment_by_name("shared") is None
    assert uri.removeprefix("memory://") in space_names()


def test_anonymous_stores_are_private_and_closing_forgets(uri: str) -> None:
    a = MemoryTrackingStore("memory://")
    b = MemoryTrackingStore("memory://")
    a.create_experiment("mine")
    assert b.get_experiment_by_name("mine") is None
    a.close()
    assert a.get_experiment_by_name("mine") is None  # an empty store again
    assert a.get_experiment("0").name == "Default"
    named = MemoryTrackingStore(uri)
    named.create_experiment("kept")
    named.close()  # a named store's data outlives its instances
    assert MemoryTrackingStore(uri).get_experiment_by_name("kept") is not None


def test_reset_clears_in_place_for_every_instance(uri: str) -> None:
    tracking = MemoryTrackingStore(uri)
    registry = MemoryRegistryStore(uri)
    tracking.create_experiment("gone")
    registry.create_registered_model("gone")
    assert reset(uri) is True
    assert tracking.get_experiment_by_name("gone") is None
    assert [e.name for e in tracking.search_experiments(ExperimentSearch.parse())] == ["Default"]
    assert list(registry.search_registered_models(RegisteredModelSearch.parse())) == []
    tracking.create_experiment("again")  # still usable, still shared with new instances
    assert MemoryTrackingStore(uri).get_experiment_by_name("again") is not None
    assert reset("never-used-name") is False


def test_default_artifacts_live_in_memory_and_reset_deletes_them(uri: str) -> None:
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("arts"))
    artifact_uri = run.info.artifact_uri
    assert artifact_uri.startswith(f"memory://{ARTIFACT_BUCKET}/{uri.removeprefix('memory://')}/")
    client.log_text(run.info.run_id, "hello", "notes/readme.txt")
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["notes"]
    fs = fsspec.filesystem("memory")
    assert fs.exists(artifact_uri.removeprefix("memory:/") + "/notes/readme.txt")
    reset(uri)
    assert not fs.exists(artifact_uri.removeprefix("memory:/"))


def test_an_artifact_root_the_user_chose_is_used(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryTrackingStore(uri, artifact_uri=str(tmp_path / "arts"))
    assert store.get_experiment("0").artifact_location == str(tmp_path / "arts" / "0")
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", "s3://bucket/root")
    other = fresh_uri("root")
    assert get_tracking_store(other).artifact_uri == "s3://bucket/root"
    reset(other)


@pytest.mark.parametrize(
    "bad", ["memory://has space", "memory://-lead", "memory://a?x=1", "memory://a#f", "file://x"]
)
def test_bad_uris(bad: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        MemoryTrackingStore(bad)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_uri_names() -> None:
    assert parse_memory_uri("memory://team") == "team"
    assert parse_memory_uri("memory://team/") == "team"
    assert parse_memory_uri("MEMORY://Team.v2_x-1") == "Team.v2_x-1"
    assert parse_memory_uri("memory://") is None
    assert parse_memory_uri("memory:") is None
    assert fresh_uri() != fresh_uri()


def test_threads_get_distinct_ids_and_whole_batches(uri: str) -> None:
    store = MemoryTrackingStore(uri)
    exp_id = store.create_experiment("threads")
    run_id = store.create_run(exp_id, "u", 0, [], "r").info.run_id
    ids: list[str] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            ids.append(store.create_experiment(f"e{i}"))
            for j in range(20):
                store.log_batch(
                    run_id,
                    [Metric("m", float(j), j, i * 100 + j)],
                    [Param(f"p{i}", "v")],
                    [RunTag(f"t{i}", str(j))],
                )
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 8
    assert len(store.get_metric_history(run_id, "m")) == 160
    with pytest.raises(TrackyardError):
        store.log_batch(run_id, [Metric("late", 1.0, 0, 0)], [Param("p0", "changed")], [])
    assert "late" not in store.get_run(run_id).data.metrics  # nothing of a failed batch


def test_reads_return_copies(uri: str) -> None:
    store = MemoryTrackingStore(uri)
    exp_id = store.create_experiment("copies", tags=[])
    store.get_experiment(exp_id).tags["sneaky"] = "x"
    assert store.get_experiment(exp_id).tags == {}
    run_id = store.create_run(exp_id, "u", 0, [], "r").info.run_id
    store.log_batch(run_id, [Metric("m", 1.0, 0, 0)], [], [])
    store.get_metric_history(run_id, "m")[0].value = 99.0
    assert store.get_run(run_id).data.metrics == {"m": 1.0}


def test_tracking_and_registry_end_to_end(uri: str, tmp_path: Path) -> None:
    """One URI for runs, artifacts and the registry, as a unit test of training code would."""
    client = MlflowClient(uri)  # the registry URI defaults to the tracking URI
    run = client.create_run(client.create_experiment("train"), run_name="fit")
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", 0.1, 0, 1)], params=[Param("lr", "0.1")])
    client.log_text(run_id, "weights", "model/weights.txt")
    client.create_registered_model("net")
    version = client.create_model_version("net", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("net", "champion", version.version)
    local = client.download_artifacts("models:/net@champion", "weights.txt", str(tmp_path))
    assert Path(local).read_text() == "weights"
    assert isinstance(get_registry_store(uri), MemoryRegistryStore)
    assert client.search_runs([run.info.experiment_id], "metrics.loss < 1")[0].info.run_id == (
        run_id
    )


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    manager = get_plugin_manager()
    (info,) = [p for p in manager.plugins() if p.name == "trackyard_memory"]
    assert info.distribution == "trackyard-memory" and not info.builtin and info.error is None
    assert info.schemes == {"tracking": ["memory"], "registry": ["memory"]}
    assert manager.resolve("tracking", "memory://x") is MemoryTrackingStore
    assert manager.resolve("registry", "memory://x") is MemoryRegistryStore
    # memory:// artifact URIs stay with trackyard's fsspec plugin: another kind, no conflict
    assert manager.scheme_table("artifact")["memory"] == ("trackyard_fsspec",)


def test_listing_schemes_imports_no_store() -> None:
    code = (
        "import sys\n"
        "from trackyard.plugins import get_plugin_manager\n"
        "assert 'memory' in get_plugin_manager().schemes('tracking')\n"
        "loaded = [m for m in ('trackyard_memory.tracking', 'trackyard_memory.registry', "
        "'fsspec') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"TRACKYARD_PLUGINS": "trackyard,trackyard-memory", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
