"""``RegistryStoreSuite``: the behaviour every model registry store must have.

Tests drive the store through :class:`trackyard.MlflowClient` (so input is validated exactly
as users' input is) and compare searches with the pure-Python reference in
:mod:`trackyard.search.registry_evaluator`.

Fixtures a backend overrides:

- ``registry_store`` (required): a fresh, empty registry store.
- ``tracking_store`` (optional): a tracking store sharing the registry's database, for the few
  tests that need runs (``runs:/`` URIs). The default returns None and those tests skip.

Capabilities used: ``prompts`` (prompt tests and prompt exclusion in search),
``search_or`` (``OR`` filters), ``concurrent_versions`` (eight threads creating versions).

The search checks live in :mod:`trackyard.testing._registry_search`, the prompt checks in
:mod:`trackyard.testing._registry_prompts`; this suite mixes them in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from trackyard.entities.model_registry import ModelVersion, RegisteredModel, RegisteredModelAlias
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._backend import BackendCheck
from trackyard.testing._client import make_client, require_capability
from trackyard.testing._hostile import RegistryHostileInputCheck
from trackyard.testing._processes import RegistryProcessesCheck
from trackyard.testing._registry_helpers import IS_PROMPT as IS_PROMPT  # kept importable here
from trackyard.testing._registry_helpers import (
    _expect,
    _Listener,
    _literal,
    _quiet,
    _read,
    _snapshot,
)
from trackyard.testing._registry_prompts import RegistryPromptsCheck
from trackyard.testing._registry_search import (
    MODEL_SEARCH_CASES,
    VERSION_SEARCH_CASES,
    RegistrySearchCheck,
)
from trackyard.testing.webhooks import WebhookChecks

__all__ = ["MODEL_SEARCH_CASES", "VERSION_SEARCH_CASES", "RegistryStoreSuite"]


class RegistryStoreSuite(
    BackendCheck,
    RegistrySearchCheck,
    RegistryPromptsCheck,
    RegistryProcessesCheck,
    RegistryHostileInputCheck,
    WebhookChecks,
):
    """Mixin test class: subclass it and override the ``registry_store`` fixture."""

    backend_kind = "registry"

    def _backend_under_test(self, request: pytest.FixtureRequest) -> tuple[object, str | None]:
        store = request.getfixturevalue("registry_store")
        return store, store.store_uri

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture
    def registry_store(self) -> Any:
        """A fresh, empty registry store. Backends must override this."""
        pytest.fail(
            f"{type(self).__name__} must override the 'registry_store' fixture to return a "
            "fresh model registry store (see trackyard.testing)."
        )

    @pytest.fixture
    def tracking_store(self) -> Any:
        """A tracking store sharing the registry's database, or None (the default)."""
        return None

    @pytest.fixture
    def registry_client(self, registry_store: Any, tracking_store: Any) -> Any:
        return make_client(tracking_store, registry_store)

    @pytest.fixture
    def model(self, registry_client: Any) -> str:
        registry_client.create_registered_model("model-a", tags={"team": "vision"})
        return "model-a"

    @pytest.fixture
    def listener(self) -> Iterator[_Listener]:
        from trackyard.plugins.manager import get_plugin_manager

        recorder = _Listener()
        name = f"registry-suite-listener-{id(recorder)}"
        get_plugin_manager().register(recorder, name)
        try:
            yield recorder
        finally:
            get_plugin_manager().unregister(name)

    # -- registered models -----------------------------------------------------------------
    def test_create_and_get_registered_model(self, registry_client: Any) -> None:
        client = registry_client
        created = client.create_registered_model(
            "first", tags={"team": "nlp", "n": 3}, description="a model"
        )
        assert isinstance(created, RegisteredModel)
        assert created.name == "first"
        assert created.description == "a model"
        assert created.tags == {"team": "nlp", "n": "3"}
        assert created.creation_timestamp and created.last_updated_timestamp
        assert created.latest_versions == [] and created.aliases == {}
        got = client.get_registered_model("first")
        assert (got.name, got.description, got.tags) == ("first", "a model", created.tags)
        assert got.creation_timestamp == created.creation_timestamp

    def test_unusual_model_names(self, registry_client: Any) -> None:
        for name in (" spaced ", "ünïcode-模型", "a.b-c_d", "quote'name", 'dq"name', "x" * 200):
            registry_client.create_registered_model(name)
            assert registry_client.get_registered_model(name).name == name
            version = registry_client.create_model_version(name, "s3://b/x")
            assert registry_client.get_model_version(name, version.version).name == name
            found = registry_client.search_model_versions(f"name = {_literal(name)}")
            assert [v.name for v in found] == [name]

    def test_duplicate_model_name(self, registry_client: Any, model: str) -> None:
        before = _snapshot(registry_client)
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, registry_client.create_registered_model, model)
        _expect(
            ErrorCode.RESOURCE_ALREADY_EXISTS,
            registry_client.create_registered_model,
            model,
            tags={"other": "x"},
            description="changed?",
        )
        assert _snapshot(registry_client) == before

    def test_get_missing_model(self, registry_client: Any) -> None:
        for fn, args in [
            (registry_client.get_registered_model, ("nope",)),
            (registry_client.update_registered_model, ("nope", "d")),
            (registry_client.rename_registered_model, ("nope", "other")),
            (registry_client.delete_registered_model, ("nope",)),
            (registry_client.set_registered_model_tag, ("nope", "k", "v")),
            (registry_client.delete_registered_model_tag, ("nope", "k")),
            (registry_client.create_model_version, ("nope", "s3://b/x")),
        ]:
            _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, fn, *args)
        assert _snapshot(registry_client)["models"] == []

    @pytest.mark.parametrize(
        "name", ["", "a/b", "a:b", "/lead", "trail/", "..", ".", "a/../b", None, 7]
    )
    def test_bad_model_names(self, registry_client: Any, name: Any) -> None:
        client = registry_client
        client.create_registered_model("keep")
        before = _snapshot(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_registered_model, name)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.rename_registered_model, "keep", name)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.copy_model_version, "models:/keep/1", name
        )
        assert _snapshot(client) == before

    def test_update_registered_model(self, registry_client: Any, model: str) -> None:
        before = registry_client.get_registered_model(model)
        updated = registry_client.update_registered_model(model, "new description")
        assert updated.description == "new description"
        assert updated.last_updated_timestamp >= before.last_updated_timestamp
        assert registry_client.get_registered_model(model).description == "new description"
        cleared = registry_client.update_registered_model(model, None)
        assert cleared.description is None

    def test_rename_carries_versions_tags_and_aliases(self, registry_client: Any) -> None:
        client = registry_client
        client.create_registered_model("old", tags={"t": "1"}, description="d")
        for i in range(3):
            client.create_model_version("old", f"s3://b/{i}", tags={"i": str(i)})
        client.delete_model_version("old", "3")
        client.set_registered_model_alias("old", "champion", "2")
        client.set_model_version_tag("old", "1", "k", "v")
        renamed = client.rename_registered_model("old", "new")
        assert renamed.name == "new"
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_registered_model, "old")
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_model_version, "old", "1")
        model = client.get_registered_model("new")
        assert model.tags == {"t": "1"} and model.description == "d"
        assert model.aliases == {"champion": "2"}
        assert client.get_model_version_by_alias("new", "champion").version == "2"
        assert client.get_model_version("new", "1").tags == {"i": "0", "k": "v"}
        assert client.get_model_version("new", "2").aliases == ["champion"]
        assert [v.version for v in client.search_model_versions("name = 'new'")] == ["2", "1"]
        assert list(client.search_model_versions("name = 'old'")) == []
        # numbering continues, deleted version 3 included
        assert client.create_model_version("new", "s3://b/next").version == "4"
        # the old name is free again
        client.create_registered_model("old")
        assert client.create_model_version("old", "s3://b/fresh").version == "1"

    def test_rename_onto_existing_name(self, registry_client: Any) -> None:
        client = registry_client
        client.create_registered_model("one")
        client.create_model_version("one", "s3://b/1")
        client.create_registered_model("two")
        before = _snapshot(client)
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.rename_registered_model, "one", "two")
        assert _snapshot(client) == before

    def test_rename_to_same_name(self, registry_client: Any, model: str) -> None:
        registry_client.create_model_version(model, "s3://b/1")
        assert registry_client.rename_registered_model(model, model).name == model
        assert registry_client.get_model_version(model, "1").source == "s3://b/1"

    def test_delete_registered_model(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1", tags={"a": "b"})
        client.create_model_version(model, "s3://b/2")
        client.set_registered_model_alias(model, "champ", "1")
        client.delete_registered_model(model)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_registered_model, model)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_model_version, model, "1")
        assert list(client.search_model_versions()) == []
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_registered_model, model)
        client.create_registered_model(model)
        assert client.get_registered_model(model).aliases == {}
        assert client.create_model_version(model, "s3://b/again").version == "1"
        assert client.get_model_version(model, "1").tags == {}

    def test_registered_model_tags(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.set_registered_model_tag(model, "k", "v1")
        client.set_registered_model_tag(model, "k", "v2")
        client.set_registered_model_tag(model, "num", 5)
        client.set_registered_model_tag(model, "a b/c.d-e:f", "unusual key")
        client.set_registered_model_tag(model, "wide", "x" * 5000)
        tags = client.get_registered_model(model).tags
        assert tags["k"] == "v2" and tags["num"] == "5" and tags["a b/c.d-e:f"] == "unusual key"
        assert len(tags["wide"]) == 5000
        client.delete_registered_model_tag(model, "k")
        assert "k" not in client.get_registered_model(model).tags
        client.delete_registered_model_tag(model, "k")  # absent: no error, as MLflow

    @pytest.mark.parametrize("key", ["", "../x", "/abs", "a//b", "bad@key", "k" * 251])
    def test_bad_tag_keys(self, registry_client: Any, model: str, key: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.set_registered_model_tag, model, key, "v")
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.set_model_version_tag, model, "1", key, "v"
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.create_registered_model, "m2", tags={key: "v"}
        )
        assert _snapshot(client) == before

    def test_tag_values_over_100000_characters(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        big = "x" * 100_001
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.set_registered_model_tag, model, "k", big)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.set_model_version_tag, model, "1", "k", big
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.create_registered_model, "m2", tags={"k": big}
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.create_model_version,
            model,
            "s3://b/2",
            tags={"k": big},
        )
        assert _snapshot(client) == before
        client.set_model_version_tag(model, "1", "k", "y" * 100_000)  # the limit itself is fine
        assert len(client.get_model_version(model, "1").tags["k"]) == 100_000

    # -- model versions --------------------------------------------------------------------
    def test_create_model_versions(self, registry_client: Any, model: str) -> None:
        client = registry_client
        first = client.create_model_version(
            model,
            "s3://bucket/model",
            run_id="0123456789abcdef0123456789abcdef",
            tags={"framework": "torch", "n": 1},
            run_link="http://host/run",
            description="first version",
        )
        assert isinstance(first, ModelVersion)
        assert first.name == model and first.version == "1"
        assert first.source == "s3://bucket/model"
        assert first.run_id == "0123456789abcdef0123456789abcdef"
        assert first.run_link == "http://host/run"
        assert first.description == "first version"
        assert first.tags == {"framework": "torch", "n": "1"}
        assert first.status == "READY" and first.current_stage == "None"
        assert first.creation_timestamp and first.last_updated_timestamp
        assert first.aliases == []
        second = client.create_model_version(model, "runs:/abc/model")
        assert second.version == "2" and second.run_id is None
        got = client.get_model_version(model, 1)
        assert got.to_dictionary() == first.to_dictionary()
        assert client.get_model_version(model, "2").source == "runs:/abc/model"
        rm = client.get_registered_model(model)
        assert rm.last_updated_timestamp >= second.creation_timestamp

    def test_version_numbers_are_never_reused(self, registry_client: Any, model: str) -> None:
        client = registry_client
        for _ in range(3):
            client.create_model_version(model, "s3://b/x")
        client.delete_model_version(model, "3")
        assert client.create_model_version(model, "s3://b/x").version == "4"
        for v in ("1", "2", "4"):
            client.delete_model_version(model, v)
        assert list(client.search_model_versions(f"name = '{model}'")) == []
        assert client.create_model_version(model, "s3://b/x").version == "5"

    @pytest.mark.parametrize("version", ["abc", "1.0", "", " 1", 1.5, True, None, "v1"])
    def test_bad_version_numbers(self, registry_client: Any, model: str, version: Any) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/x")
        before = _snapshot(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.get_model_version, model, version)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.set_registered_model_alias,
            model,
            "champ",
            version,
        )
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.update_model_version, model, version, "d")
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.delete_model_version, model, version)
        assert _snapshot(client) == before

    def test_missing_versions(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/x")
        for fn, args in [
            (client.get_model_version, (model, "99")),
            (client.get_model_version, (model, "-1")),
            (client.update_model_version, (model, "99", "d")),
            (client.delete_model_version, (model, "99")),
            (client.set_model_version_tag, (model, "99", "k", "v")),
            (client.delete_model_version_tag, (model, "99", "k")),
            (client.get_model_version_download_uri, (model, "99")),
            (client.set_registered_model_alias, (model, "champ", "99")),
        ]:
            _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, fn, *args)
        assert client.get_registered_model(model).aliases == {}

    def test_update_model_version(self, registry_client: Any, model: str) -> None:
        client = registry_client
        created = client.create_model_version(model, "s3://b/x")
        updated = client.update_model_version(model, "1", "now described")
        assert updated.description == "now described"
        assert updated.last_updated_timestamp >= created.last_updated_timestamp
        assert client.get_model_version(model, "1").description == "now described"
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.update_model_version, model, "1")

    def test_delete_model_version_hides_it_and_drops_aliases(
        self, registry_client: Any, model: str
    ) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1", run_id="run1", description="d")
        client.create_model_version(model, "s3://b/2")
        client.set_registered_model_alias(model, "champ", "1")
        client.set_registered_model_alias(model, "other", "2")
        client.delete_model_version(model, "1")
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_model_version, model, "1")
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.get_model_version_by_alias, model, "champ"
        )
        assert client.get_registered_model(model).aliases == {"other": "2"}
        assert [v.version for v in client.search_model_versions()] == ["2"]
        assert [v.version for v in _quiet(client.get_latest_versions, model)] == ["2"]
        assert [v.version for v in client.get_registered_model(model).latest_versions] == ["2"]
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_model_version, model, "1")
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.set_model_version_tag, model, "1", "k", "v"
        )
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.set_registered_model_alias,
            model,
            "champ",
            "1",
        )
        assert list(client.search_model_versions("run_id = 'run1'")) == []

    def test_model_version_tags(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1", tags={"a": "1"})
        client.set_model_version_tag(model, "1", "a", "2")
        client.set_model_version_tag(model, "1", "b", 3)
        assert client.get_model_version(model, "1").tags == {"a": "2", "b": "3"}
        client.delete_model_version_tag(model, "1", "a")
        assert client.get_model_version(model, "1").tags == {"b": "3"}
        client.delete_model_version_tag(model, "1", "a")  # absent: no error
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.set_model_version_tag, model, key="k")
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.set_model_version_tag,
            model,
            "1",
            "k",
            "v",
            stage="Staging",
        )

    def test_tags_by_stage(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        client.create_model_version(model, "s3://b/2")
        _quiet(client.transition_model_version_stage, model, "1", "Staging")
        with pytest.warns(FutureWarning, match="alias"):
            client.set_model_version_tag(model, key="k", value="v", stage="staging")
        assert client.get_model_version(model, "1").tags == {"k": "v"}
        with pytest.warns(FutureWarning):
            client.delete_model_version_tag(model, key="k", stage="Staging")
        assert client.get_model_version(model, "1").tags == {}
        with pytest.warns(FutureWarning):
            _expect(
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
                client.set_model_version_tag,
                model,
                key="k",
                value="v",
                stage="Production",
            )

    def test_download_uri(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://bucket/path/model")
        client.create_model_version(model, "runs:/0123456789abcdef0123456789abcdef/model")
        assert client.get_model_version_download_uri(model, "1") == "s3://bucket/path/model"
        assert (
            client.get_model_version_download_uri(model, "2")
            == "runs:/0123456789abcdef0123456789abcdef/model"
        )
        # a models:/ source is resolved when the version is created
        client.set_registered_model_alias(model, "champ", "1")
        client.create_registered_model("derived")
        for source, expected in [
            (f"models:/{model}/1", "s3://bucket/path/model"),
            (f"models:/{model}@champ", "s3://bucket/path/model"),
            (f"models:/{model}/latest", "runs:/0123456789abcdef0123456789abcdef/model"),
        ]:
            mv = client.create_model_version("derived", source)
            assert mv.source == source
            assert client.get_model_version_download_uri("derived", mv.version) == expected
        # moving the alias later does not change what the copy points at
        client.set_registered_model_alias(model, "champ", "2")
        assert client.get_model_version_download_uri("derived", "2") == "s3://bucket/path/model"

    @pytest.mark.parametrize(
        "source, code",
        [
            ("models:/", ErrorCode.INVALID_PARAMETER_VALUE),
            ("models:/x/1/2", ErrorCode.INVALID_PARAMETER_VALUE),
            ("models:/model-a@", ErrorCode.INVALID_PARAMETER_VALUE),
            ("models://model-a/1", ErrorCode.INVALID_PARAMETER_VALUE),
            ("models:/model-a/99", ErrorCode.RESOURCE_DOES_NOT_EXIST),
            ("models:/nope/1", ErrorCode.RESOURCE_DOES_NOT_EXIST),
            ("models:/model-a@nope", ErrorCode.INVALID_PARAMETER_VALUE),
            ("models:/model-a/Production", ErrorCode.RESOURCE_DOES_NOT_EXIST),
            ("models:/model-a/Bogus", ErrorCode.INVALID_PARAMETER_VALUE),
            ("models:/m-0123456789", ErrorCode.RESOURCE_DOES_NOT_EXIST),
        ],
    )
    def test_models_uri_sources_that_name_nothing(
        self, registry_client: Any, model: str, source: str, code: str, tracking_store: Any
    ) -> None:
        client = registry_client
        if source.startswith("models:/m-"):  # logged models live in the tracking store
            if tracking_store is None:  # this client has none to look in
                code = ErrorCode.INVALID_PARAMETER_VALUE
            elif not tracking_store.capabilities.logged_models:
                code = ErrorCode.FEATURE_DISABLED
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        _expect(code, client.create_model_version, model, source)
        _expect(code, client.copy_model_version, source, "copy-target")
        # for downloads, as in MLflow, "models:/x/1/2" is the path "2" below version 1 of x
        download_code = ErrorCode.RESOURCE_DOES_NOT_EXIST if source == "models:/x/1/2" else code
        _expect(download_code, client.download_artifacts, source, "")
        assert _snapshot(client) == before

    # -- stages (deprecated) ---------------------------------------------------------------
    def test_stages(self, registry_client: Any, model: str) -> None:
        client = registry_client
        for i in range(4):
            client.create_model_version(model, f"s3://b/{i}")
        with pytest.warns(FutureWarning, match="alias"):
            mv = client.transition_model_version_stage(model, "1", "staging")
        assert mv.current_stage == "Staging"
        _quiet(client.transition_model_version_stage, model, "2", "Staging")
        _quiet(client.transition_model_version_stage, model, "3", "PRODUCTION")
        with pytest.warns(FutureWarning, match="alias"):
            latest = client.get_latest_versions(model)
        assert sorted((v.current_stage, v.version) for v in latest) == [
            ("None", "4"),
            ("Production", "3"),
            ("Staging", "2"),
        ]
        staged = _quiet(client.get_latest_versions, model, ["Staging"])
        assert [v.version for v in staged] == ["2"]
        assert _quiet(client.get_latest_versions, model, ["Archived"]) == []
        rm = client.get_registered_model(model)
        assert sorted((v.current_stage, v.version) for v in rm.latest_versions) == [
            ("None", "4"),
            ("Production", "3"),
            ("Staging", "2"),
        ]
        # archive the other Staging versions
        _quiet(client.transition_model_version_stage, model, "4", "Staging", True)
        stages = {v.version: v.current_stage for v in client.search_model_versions()}
        assert stages == {"1": "Archived", "2": "Archived", "3": "Production", "4": "Staging"}
        assert client.get_model_version_stages(model, "1") == [
            "None",
            "Staging",
            "Production",
            "Archived",
        ]

    @pytest.mark.parametrize("stage", ["bogus", "", "Deleted_Internal", None])
    def test_bad_stages(self, registry_client: Any, model: str, stage: Any) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            _quiet,
            client.transition_model_version_stage,
            model,
            "1",
            stage,
        )
        if stage is not None:
            _expect(
                ErrorCode.INVALID_PARAMETER_VALUE,
                _quiet,
                client.get_latest_versions,
                model,
                [stage],
            )
        assert _snapshot(client) == before

    def test_archive_needs_an_active_stage(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        for stage in ("None", "Archived"):
            _expect(
                ErrorCode.INVALID_PARAMETER_VALUE,
                _quiet,
                client.transition_model_version_stage,
                model,
                "1",
                stage,
                True,
            )
        assert _snapshot(client) == before

    # -- aliases ---------------------------------------------------------------------------
    def test_aliases(self, registry_client: Any, model: str) -> None:
        client = registry_client
        for i in range(3):
            client.create_model_version(model, f"s3://b/{i}")
        client.set_registered_model_alias(model, "champion", "1")
        client.set_registered_model_alias(model, "challenger", 2)
        client.set_registered_model_alias(model, "also-two", "2")
        assert client.get_model_version_by_alias(model, "champion").version == "1"
        assert sorted(client.get_model_version(model, "2").aliases) == ["also-two", "challenger"]
        assert client.get_registered_model(model).aliases == {
            "champion": "1",
            "challenger": "2",
            "also-two": "2",
        }
        client.set_registered_model_alias(model, "champion", "3")  # moves
        assert client.get_model_version_by_alias(model, "champion").version == "3"
        assert client.get_model_version(model, "1").aliases == []
        client.delete_registered_model_alias(model, "champion")
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.get_model_version_by_alias, model, "champion"
        )
        client.delete_registered_model_alias(model, "champion")  # absent: no error
        assert client.get_registered_model(model).aliases == {"challenger": "2", "also-two": "2"}
        found = client.search_model_versions(f"name = '{model}'")
        assert {v.version: sorted(v.aliases) for v in found} == {
            "3": [],
            "2": ["also-two", "challenger"],
            "1": [],
        }

    def test_alias_names_that_are_allowed(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        for alias in ("v", "v1a", "V1_", "vv1", "éa", "a" * 255, "1", "latest-ish", "_-"):
            client.set_registered_model_alias(model, alias, "1")
            assert client.get_model_version_by_alias(model, alias).version == "1"

    @pytest.mark.parametrize(
        "alias",
        ["latest", "LATEST", "Latest", "v3", "V12", "v0", "", "a" * 256, "a b", "x/y", "a.b", None],
    )
    def test_bad_aliases(self, registry_client: Any, model: str, alias: Any) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.set_registered_model_alias, model, alias, "1"
        )
        assert _snapshot(client) == before

    def test_latest_alias(self, registry_client: Any, model: str) -> None:
        client = registry_client
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_model_version_by_alias, model, "latest"
        )
        for i in range(3):
            client.create_model_version(model, f"s3://b/{i}")
        _quiet(client.transition_model_version_stage, model, "1", "Production")
        assert client.get_model_version_by_alias(model, "latest").version == "3"
        assert client.get_model_version_by_alias(model, "LATEST").version == "3"
        client.delete_model_version(model, "3")
        assert client.get_model_version_by_alias(model, "latest").version == "2"

    def test_alias_errors(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(model, "s3://b/1")
        before = _snapshot(client)
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.set_registered_model_alias, model, "a", "2"
        )
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.set_registered_model_alias, "nope", "a", "1"
        )
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.get_model_version_by_alias, model, "no")
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_model_version_by_alias, "nope", "a")
        assert _snapshot(client) == before

    # -- models:/ and runs:/ URIs ------------------------------------------------------------
    def test_copy_model_version(self, registry_client: Any, model: str) -> None:
        client = registry_client
        client.create_model_version(
            model,
            "s3://bucket/m1",
            run_id="run1",
            tags={"t": "1"},
            run_link="http://run",
            description="d",
        )
        client.create_model_version(model, "s3://bucket/m2")
        client.set_registered_model_alias(model, "champ", "1")
        _quiet(client.transition_model_version_stage, model, "2", "Staging")
        copy = client.copy_model_version(f"models:/{model}/1", "copies")
        assert (copy.name, copy.version) == ("copies", "1")
        assert copy.source == f"models:/{model}/1"
        assert (copy.run_id, copy.tags, copy.run_link, copy.description) == (
            "run1",
            {"t": "1"},
            "http://run",
            "d",
        )
        assert client.get_model_version_download_uri("copies", "1") == "s3://bucket/m1"
        assert client.copy_model_version(f"models:/{model}@champ", "copies").version == "2"
        latest = client.copy_model_version(f"models:/{model}/latest", "copies")
        assert latest.source == f"models:/{model}/2"
        staged = client.copy_model_version(f"models:/{model}/Staging", "copies")
        assert staged.source == f"models:/{model}/2"
        assert client.get_model_version("copies", "4").source == f"models:/{model}/2"
        # copying onto an existing model adds a version; aliases are not copied
        assert client.get_registered_model("copies").aliases == {}

    def test_copy_from_runs_uri(self, registry_client: Any) -> None:
        client = registry_client
        uri = "runs:/0123456789abcdef0123456789abcdef/model"
        copy = client.copy_model_version(uri, "from-run")
        assert copy.source == uri and copy.run_id == "0123456789abcdef0123456789abcdef"
        assert client.get_model_version_download_uri("from-run", "1") == uri

    @pytest.mark.parametrize("uri", ["s3://bucket/model", "file:///tmp/x", "", "runs:/", "m/1"])
    def test_copy_unsupported_uris(self, registry_client: Any, model: str, uri: str) -> None:
        client = registry_client
        before = _snapshot(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.copy_model_version, uri, "target")
        assert _snapshot(client) == before

    def test_download_artifacts_through_models_uri(
        self, registry_client: Any, model: str, tmp_path: Any
    ) -> None:
        client = registry_client
        src = tmp_path / "model-files"
        (src / "sub").mkdir(parents=True)
        (src / "MLmodel").write_text("flavors: {}\n")
        (src / "sub" / "weights.bin").write_text("123")
        client.create_model_version(model, src.as_uri())
        client.set_registered_model_alias(model, "champ", "1")
        client.create_registered_model("copied")
        client.create_model_version("copied", f"models:/{model}@champ")
        for uri in (f"models:/{model}/1", f"models:/{model}@champ", "models:/copied/latest"):
            dst = tmp_path / f"dst-{abs(hash(uri))}"
            dst.mkdir()
            local = client.download_artifacts(uri, "", str(dst))
            assert _read(os.path.join(local, "sub", "weights.bin")) == "123"
            one = client.download_artifacts(uri, "MLmodel", str(dst))
            assert _read(one) == "flavors: {}\n"

    def test_download_artifacts_through_runs_uri(
        self, registry_client: Any, tracking_store: Any, model: str, tmp_path: Any
    ) -> None:
        if tracking_store is None:
            pytest.skip("the backend's 'tracking_store' fixture returns None (no runs)")
        client = registry_client
        exp = client.create_experiment("registry-runs")
        run_id = client.create_run(exp).info.run_id
        client.log_text(run_id, "weights", "model/weights.txt")
        client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
        mv = client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
        assert client.get_model_version_download_uri(model, mv.version) == f"runs:/{run_id}/model"
        client.set_registered_model_alias(model, "prod", mv.version)
        dst = tmp_path / "dst"
        dst.mkdir()
        local = client.download_artifacts(f"models:/{model}@prod", "weights.txt", str(dst))
        assert _read(local) == "weights"
        local = client.download_artifacts(f"runs:/{run_id}/model", "", str(dst))
        assert sorted(os.listdir(local)) == ["MLmodel", "weights.txt"]

    # -- events ----------------------------------------------------------------------------
    def test_events_after_commit(self, registry_client: Any, listener: _Listener) -> None:
        client = registry_client
        client.create_registered_model("evented")
        mv = client.create_model_version("evented", "s3://b/1")
        client.set_model_version_tag("evented", "1", "k", "v")
        client.delete_model_version_tag("evented", "1", "k")
        client.set_registered_model_alias("evented", "champ", "1")
        client.delete_registered_model_alias("evented", "champ")
        client.delete_registered_model_alias("evented", "never-set")  # nothing deleted
        assert listener.names() == [
            "registered_model.created",
            "model_version.created",
            "model_version_tag.set",
            "model_version_tag.deleted",
            "model_version_alias.created",
            "model_version_alias.deleted",
        ]
        created, version, tag_set, tag_deleted, alias_created, alias_deleted = listener.events
        assert isinstance(created.entity, RegisteredModel) and created.entity.name == "evented"
        assert version.entity.to_dictionary() == mv.to_dictionary()
        assert tag_set.entity.tags == {"k": "v"} and tag_set.data["key"] == "k"
        assert tag_deleted.entity.tags == {}
        assert alias_created.entity == RegisteredModelAlias("champ", "1")
        assert alias_created.data["name"] == "evented"
        assert alias_deleted.entity == RegisteredModelAlias("champ", "1")
        # a failed change fires nothing
        listener.events.clear()
        with pytest.raises(TrackyardError):
            client.create_registered_model("evented")
        with pytest.raises(TrackyardError):
            client.set_registered_model_alias("evented", "latest", "1")
        assert listener.events == []

    # -- concurrency -----------------------------------------------------------------------
    def test_concurrent_versions_are_distinct_and_gap_free(
        self, registry_client: Any, model: str
    ) -> None:
        client = registry_client
        require_capability(client._registry_store, "concurrent_versions")
        workers = 8
        barrier = threading.Barrier(workers)
        results: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work(i: int) -> None:
            try:
                barrier.wait(timeout=30)
                mv = client.create_model_version(model, f"s3://b/{i}", tags={"worker": str(i)})
                with lock:
                    results.append(mv.version)
            except BaseException as exc:  # collected and re-raised in the main thread
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        if errors:
            raise errors[0]
        assert sorted(results, key=int) == [str(i) for i in range(1, workers + 1)]
        found = client.search_model_versions(f"name = '{model}'")
        assert sorted(int(v.version) for v in found) == list(range(1, workers + 1))
        workers_seen = {v.tags["worker"] for v in found}
        assert workers_seen == {str(i) for i in range(workers)}
