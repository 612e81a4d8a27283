"""MlflowClient's registry and prompt methods, over the in-memory reference store."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from trackyard_memory.registry import MemoryRegistryStore

from tests.event_recorder import EventRecorder, recording
from trackyard.entities.model_registry import ModelVersion, ModelVersionStatus, RegisteredModelTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import Capabilities
from trackyard.testing import make_client


@pytest.fixture
def client() -> Any:
    return make_client(registry_store=MemoryRegistryStore())


@pytest.fixture
def recorder() -> Iterator[EventRecorder]:
    with recording("test-registry-recorder") as rec:
        yield rec


def test_stage_methods_warn_naming_aliases(client: Any) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    with pytest.warns(FutureWarning, match="set_registered_model_alias"):
        client.get_latest_versions("m")
    with pytest.warns(FutureWarning, match="get_model_version_by_alias"):
        client.transition_model_version_stage("m", "1", "Staging")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.get_model_version_by_alias("m", "latest")  # the replacement does not warn


def test_events_carry_masked_registry_uri(recorder: EventRecorder) -> None:
    client = make_client(
        registry_store=MemoryRegistryStore(), registry_uri="postgresql://ml:secret@db/registry"
    )
    client.create_registered_model("m")
    (event,) = recorder.events
    assert event.name == "registered_model.created"
    assert "secret" not in event.store_uri and "***" in event.store_uri


def test_more_events(client: Any, recorder: EventRecorder) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    client.update_registered_model("m", "d")
    client.rename_registered_model("m", "n")
    client.set_registered_model_tag("n", "k", "v")
    client.delete_registered_model_tag("n", "k")
    client.update_model_version("n", "1", "d")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage("n", "1", "Staging", True)
    client.delete_model_version("n", "1")
    client.delete_registered_model("n")
    assert [e.name for e in recorder.events] == [
        "registered_model.created",
        "model_version.created",
        "registered_model.updated",
        "registered_model.renamed",
        "registered_model_tag.set",
        "registered_model_tag.deleted",
        "model_version.updated",
        "model_version.stage_transitioned",
        "model_version.deleted",
        "registered_model.deleted",
    ]
    renamed = recorder.events[3]
    assert renamed.entity.name == "n" and renamed.data == {"old_name": "m"}
    assert recorder.events[4].data == {"name": "n", "key": "k", "value": "v"}
    assert recorder.events[8].data == {"name": "n", "version": "1"}


def test_events_cost_nothing_without_listeners(client: Any) -> None:
    calls = []
    client._emit_registry("x.y", lambda: calls.append(1))
    assert calls == []


class _SlowStore(MemoryRegistryStore):
    """Reports new versions as PENDING_REGISTRATION until read twice."""

    reads = 0

    def create_model_version(self, *args: Any, **kwargs: Any) -> ModelVersion:
        mv = super().create_model_version(*args, **kwargs)
        mv.status = ModelVersionStatus.PENDING_REGISTRATION
        return mv

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        self.reads += 1
        mv = super().get_model_version(name, version)
        if self.reads < 2:
            mv.status = ModelVersionStatus.PENDING_REGISTRATION
        return mv


def test_create_model_version_awaits_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    import trackyard._registry_client as rc

    monkeypatch.setattr(rc, "_POLL_SECONDS", 0.01)
    store = _SlowStore()
    client = make_client(registry_store=store)
    client.create_registered_model("m")
    assert client.create_model_version("m", "s3://b/1").status == "READY"
    assert store.reads == 2
    pending = client.create_model_version("m", "s3://b/2", await_creation_for=0)
    assert pending.status == "PENDING_REGISTRATION"
    store.reads = -(10**6)
    with pytest.raises(TrackyardError) as excinfo:
        client.create_model_version("m", "s3://b/3", await_creation_for=0.05)
    assert excinfo.value.error_code == ErrorCode.DEADLINE_EXCEEDED


def test_prompts_need_the_capability() -> None:
    class NoPrompts(MemoryRegistryStore):
        capabilities = Capabilities(prompts=False)

    client = make_client(registry_store=NoPrompts())
    for call in (
        lambda: client.create_prompt("p"),
        lambda: client.register_prompt("p", "t"),
        lambda: client.get_prompt("p"),
        lambda: client.search_prompts(),
    ):
        with pytest.raises(TrackyardError) as excinfo:
            call()
        assert excinfo.value.error_code == ErrorCode.FEATURE_DISABLED
    assert list(client.search_registered_models()) == []


def test_search_prompts_by_experiment(client: Any) -> None:
    client.register_prompt("linked", "a")
    client.register_prompt("other", "b")
    store = client._registry_store  # the client keeps this tag for itself
    store.set_registered_model_tag("linked", RegisteredModelTag("_mlflow_experiment_ids", ",1,7,"))
    store.set_registered_model_tag("other", RegisteredModelTag("_mlflow_experiment_ids", ",17,"))
    assert [p.name for p in client.search_prompts("experiment_id = '7'")] == ["linked"]
    assert [p.name for p in client.search_prompts("experiment_id = '17'")] == ["other"]
    assert [p.name for p in client.search_prompts("name = 'linked' AND experiment_id = '1'")] == [
        "linked"
    ]
    assert list(client.search_prompts("experiment_id = '1' AND name = 'other'")) == []
    with pytest.raises(TrackyardError, match="numeric"):
        client.search_prompts("experiment_id = 'abc'")


def test_search_prompts_with_or(client: Any) -> None:
    client.register_prompt("a", "1")
    client.register_prompt("b", "2")
    client.create_registered_model("c")
    found = client.search_prompts("name = 'a' OR name = 'c'")
    assert [p.name for p in found] == ["a"]  # the OR stays inside the prompt filter


def _linked_prompts(client: Any) -> None:
    """Prompts 'linked' (experiments 1 and 7), 'other' (17), 'noted' and 'plain' (none)."""
    for name in ("linked", "other", "noted", "plain"):
        client.register_prompt(name, "t")
    client.create_registered_model("model-1")  # a model, never a prompt
    store = client._registry_store  # the store takes the tag MLflow's prompt linking writes
    store.set_registered_model_tag("linked", RegisteredModelTag("_mlflow_experiment_ids", ",1,7,"))
    store.set_registered_model_tag("other", RegisteredModelTag("_mlflow_experiment_ids", ",17,"))
    client.set_prompt_tag("noted", "note", "experiment_id = '1'")
    client.set_prompt_tag("plain", "note", 'experiment_id = "7"')


def _found(client: Any, filter_string: str) -> list[str]:
    return [p.name for p in client.search_prompts(filter_string)]


def test_search_prompts_quoted_experiment_id_text_is_a_value(client: Any) -> None:
    _linked_prompts(client)
    # text that reads like the experiment term, inside a quoted value, is only a value
    assert _found(client, "tags.note = \"experiment_id = '1'\"") == ["noted"]
    assert _found(client, "tags.note = 'experiment_id = \"7\"'") == ["plain"]
    assert _found(client, "tags.note LIKE '%experiment_id = %'") == ["noted", "plain"]
    assert _found(client, "name = 'experiment_id = 1'") == []
    both = "experiment_id = '1' AND tags.note = 'experiment_id = \"7\"'"
    assert _found(client, both) == []
    assert _found(client, "experiment_id = '7' OR tags.note = 'experiment_id = \"7\"'") == [
        "linked",
        "plain",
    ]


def test_search_prompts_experiment_scoping_composes(client: Any) -> None:
    _linked_prompts(client)
    assert _found(client, "experiment_id = '7' OR experiment_id = '17'") == ["linked", "other"]
    assert _found(client, "(experiment_id = '17' OR name = 'noted') AND tags.note != 'x'") == [
        "noted"
    ]
    assert _found(client, "(experiment_id = '1' OR name LIKE 'n%') AND name != 'linked'") == [
        "noted"
    ]
    assert _found(client, "attributes.experiment_id = '17'") == ["other"]
    assert _found(client, "experiment_id = '2'") == []
    assert _found(client, "name = 'model-1' OR experiment_id = '1'") == ["linked"]


@pytest.mark.parametrize(
    "filter_string, needle",
    [
        ("experiment_id = 'abc'", "Invalid experiment_id: 'abc'. Must be a numeric value."),
        ("name = 'a' OR experiment_id = '1x'", "Invalid experiment_id: '1x'"),
        ("experiment_id = ''", "Invalid experiment_id: ''"),
        ("experiment_id = '-1'", "Invalid experiment_id: '-1'"),
        ("experiment_id = 1", "expected a quoted string"),
        ("experiment_id != '1'", "comparator '!=' is not supported"),
        ("experiment_id IN ('1')", "comparator 'IN' is not supported"),
        ("tags.x = 'a' AND experiment_id LIKE '1'", "comparator 'LIKE' is not supported"),
    ],
)
def test_search_prompts_bad_experiment_terms(client: Any, filter_string: str, needle: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        client.search_prompts(filter_string)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert needle in excinfo.value.message


def test_experiment_id_is_only_a_prompt_filter_key(client: Any) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        client.search_registered_models("experiment_id = '1'")
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "unknown attribute 'experiment_id'" in excinfo.value.message


def test_search_prompt_versions_scopes_by_name_as_a_node(client: Any) -> None:
    client.register_prompt("p", "one")
    client.register_prompt("p", "two")
    client.register_prompt("p2", "other")
    versions = client.search_prompt_versions("p")
    assert [(v.name, v.version) for v in versions] == [("p", 2), ("p", 1)]
    first = client.search_prompt_versions("p", max_results=1)
    assert [v.version for v in first] == [2] and first.token
    rest = client.search_prompt_versions("p", max_results=1, page_token=first.token)
    assert [v.version for v in rest] == [1] and rest.token is None


def test_register_prompt_leaves_nothing_when_the_version_fails(client: Any) -> None:
    with pytest.raises(TrackyardError):
        client.register_prompt("p", "x" * 100_001)  # the template is a tag value: too long
    assert client.get_prompt("p") is None


def test_load_prompt_arguments(client: Any) -> None:
    client.register_prompt("p", "one")
    with pytest.raises(TrackyardError, match="not both"):
        client.load_prompt("prompts:/p/1", version=1)
    with pytest.raises(TrackyardError) as excinfo:
        client.load_prompt("prompts:/p/9")
    assert excinfo.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert client.load_prompt("prompts:/p/9", allow_missing=True) is None
    with pytest.raises(TrackyardError, match="Not a proper prompts:/ URI"):
        client.load_prompt("prompts:/p", allow_missing=True)


def test_registry_only_client_fails_clearly_for_tracking(client: Any) -> None:
    with pytest.raises(TrackyardError):
        client.create_experiment("x")


def test_client_resolves_the_registry_store_from_the_registry_uri(tmp_path: Any) -> None:
    from trackyard import MlflowClient
    from trackyard.backends import clear_store_cache

    uri = f"sqlite:///{tmp_path / 'r.db'}"
    try:
        client = MlflowClient(tracking_uri=uri)
        client.create_registered_model("m")  # the registry URI defaults to the tracking URI
        assert type(client._registry_store).__name__ == "SqlRegistryStore"
        other = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 't.db'}", registry_uri=uri)
        assert other.get_registered_model("m").name == "m"
    finally:
        clear_store_cache()


def _memory_store(tmp_path: Any) -> Any:
    return MemoryRegistryStore()


def _file_store(tmp_path: Any) -> Any:
    from trackyard_file.registry import FileRegistryStore

    return FileRegistryStore(str(tmp_path / "mlruns"))


def _sql_store(tmp_path: Any) -> Any:
    from trackyard_sql.registry import SqlRegistryStore

    return SqlRegistryStore(f"sqlite:///{tmp_path / 'r.db'}")


@pytest.mark.parametrize("make_store", [_memory_store, _file_store, _sql_store])
def test_registry_errors_have_one_wording(make_store: Any, tmp_path: Any) -> None:
    """Stores and the client build registry errors with trackyard.errors, worded one way."""
    from trackyard import errors

    store = make_store(tmp_path)
    client = make_client(registry_store=store)
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    client.register_prompt("p", "Hello")
    cases = [
        (lambda: client.get_registered_model("nope"), errors.registered_model_not_found("nope")),
        (lambda: client.create_registered_model("m"), errors.registered_model_exists("m")),
        (lambda: store.rename_registered_model("p", "m"), errors.registered_model_exists("m")),
        (lambda: client.get_model_version("m", "7"), errors.model_version_not_found("m", "7")),
        (lambda: client.get_model_version("p", "1"), errors.registered_model_not_found("p")),
        (
            lambda: client.get_model_version_by_alias("m", "gone"),
            errors.alias_not_found("m", "gone"),
        ),
        (lambda: client.get_prompt_version("nope", 1), errors.prompt_not_found("nope")),
        (lambda: client.get_prompt_version("p", 9), errors.prompt_not_found("p", "9")),
        (lambda: store.get_registered_model("nope"), errors.registered_model_not_found("nope")),
        (lambda: store.get_model_version("m", "7"), errors.model_version_not_found("m", "7")),
    ]
    for call, expected in cases:
        with pytest.raises(TrackyardError) as excinfo:
            call()
        got = excinfo.value
        assert (got.error_code, got.message) == (expected.error_code, expected.message)
    if hasattr(store, "close"):
        store.close()
