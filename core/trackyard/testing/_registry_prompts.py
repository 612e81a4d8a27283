"""The prompt checks of ``RegistryStoreSuite`` (capability ``prompts``): prompts and their
versions, aliases and tags as MLflow stores them, hidden from the model methods.
"""

from __future__ import annotations

from typing import Any

import pytest

from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    PROMPT_TEXT_TAG_KEY,
    PROMPT_TYPE_TAG_KEY,
    Prompt,
    PromptVersion,
)
from trackyard.errors import ErrorCode
from trackyard.testing._client import require_capability
from trackyard.testing._registry_helpers import _expect, _Listener, _quiet, _snapshot

__all__ = ["RegistryPromptsCheck"]


class RegistryPromptsCheck:
    """Prompt tests, mixed into ``RegistryStoreSuite`` (``registry_client``, ``listener``)."""

    def _prompts(self, client: Any) -> None:
        require_capability(client._registry_store, "prompts")

    def test_create_and_register_prompt(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        prompt = client.create_prompt("greeting", description="says hi", tags={"team": "nlp"})
        assert isinstance(prompt, Prompt)
        assert (prompt.name, prompt.description, prompt.tags) == (
            "greeting",
            "says hi",
            {"team": "nlp"},
        )
        v1 = client.register_prompt("greeting", "Hello {{ name }}!", commit_message="first")
        assert isinstance(v1, PromptVersion)
        assert (v1.name, v1.version, v1.template, v1.commit_message) == (
            "greeting",
            1,
            "Hello {{ name }}!",
            "first",
        )
        assert v1.variables == {"name"} and v1.format(name="Ada") == "Hello Ada!"
        v2 = client.register_prompt(
            "greeting",
            [
                {"role": "system", "content": "You are {{ persona }}"},
                {"role": "user", "content": "{{q}}"},
            ],
            commit_message="chat",
            tags={"kind": "chat"},
            response_format={"type": "object"},
            model_config={"temperature": 0.2},
        )
        assert v2.version == 2 and not v2.is_text_prompt
        assert v2.variables == {"persona", "q"}
        got = client.get_prompt_version("greeting", 2)
        assert got.template == v2.template
        assert got.response_format == {"type": "object"}
        assert got.model_config == {"temperature": 0.2}
        assert got.tags == {"kind": "chat"}
        assert client.get_prompt("greeting", version=1).template == "Hello {{ name }}!"
        # stored as MLflow stores prompts
        store = client._registry_store
        raw = store.get_model_version("greeting", "2")
        assert raw.tags[IS_PROMPT_TAG_KEY] == "true"
        assert raw.tags[PROMPT_TYPE_TAG_KEY] == "chat"
        assert raw.tags[PROMPT_TEXT_TAG_KEY].startswith('[{"role": "system"')
        assert raw.description == "chat"
        model = store.get_registered_model("greeting")
        assert model.tags[IS_PROMPT_TAG_KEY] == "true"
        assert model.tags["kind"] == "chat"  # version tags are set on the prompt too
        prompt = client.get_prompt("greeting")
        assert IS_PROMPT_TAG_KEY not in prompt.tags and prompt.tags["team"] == "nlp"

    def test_register_prompt_creates_the_prompt(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        v = client.register_prompt("fresh", "Hi", commit_message="init", tags={"a": "b"})
        assert v.version == 1
        prompt = client.get_prompt("fresh")
        assert prompt.description == "init" and prompt.tags == {"a": "b"}
        assert client.get_prompt("absent") is None
        client.create_registered_model("a-model")
        assert client.get_prompt("a-model") is None

    def test_the_client_documents_forms(self, registry_client: Any) -> None:
        # create_prompt(name, prompt, tags, description, metadata) and
        # register_prompt(prompt, name, version, tags, description, metadata), next to MLflow's
        client = registry_client
        self._prompts(client)
        made = client.create_prompt(
            "doc", prompt="Hi {{ x }}", tags={"team": "a"}, description="d", metadata={"m": "1"}
        )
        assert (made.name, made.description, made.tags) == ("doc", "d", {"team": "a"})
        first = client.get_prompt_version("doc", 1)
        assert first.template == "Hi {{ x }}" and first.tags == {"team": "a", "m": "1"}
        second = client.register_prompt("Bye {{ x }}", "doc")  # positional, the document's
        assert (second.name, second.version, second.template) == ("doc", 2, "Bye {{ x }}")
        chat = [{"role": "user", "content": "{{ q }}"}]
        third = client.register_prompt(chat, "doc", 3, {"k": "v"}, "third", {"meta": "y"})
        assert (third.version, third.template, third.commit_message) == (3, chat, "third")
        assert third.tags == {"k": "v", "meta": "y"}
        fourth = client.register_prompt(
            prompt="Four {{ x }}", name="doc", version="4", description="four", metadata={"n": "4"}
        )
        assert (fourth.version, fourth.commit_message, fourth.tags) == (4, "four", {"n": "4"})
        assert "n" not in client.get_prompt("doc").tags  # metadata: the version's only
        before = _snapshot(client)
        _expect(  # the registry numbers versions: 9 is not next, and nothing is kept
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.register_prompt,
            prompt="x",
            name="doc",
            version=9,
        )
        _expect(  # one argument, two spellings
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.register_prompt,
            name="doc",
            template="a",
            prompt="b",
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.register_prompt,
            "doc",
            "t",
            tags={"k": "1"},
            metadata={"k": "2"},
        )
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_prompt, "new", metadata={"a": "b"})
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_prompt, "new", prompt=3)
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.create_prompt, "doc", prompt="again")
        assert _snapshot(client) == before
        assert client.load_prompt("doc").version == 4
        # a name with a space is a bad name, never read as the document's (prompt, name)
        error = _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.register_prompt, "a b", "doc")
        assert "prompt=" in error.message
        # MLflow's positional reading stays: the second argument of create_prompt describes
        assert client.create_prompt("plain", "a description").description == "a description"
        assert client.load_prompt("plain", allow_missing=True) is None  # no version made
        client.register_prompt("other", "x")
        names = client.search_prompts("name LIKE '%'", 10, ["name DESC"])  # document's order
        assert [p.name for p in names] == ["plain", "other", "doc"]

    def test_prompt_versions_and_aliases(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        for text in ("one", "two", "three"):
            client.register_prompt("p", text)
        client.set_prompt_alias("p", "production", 2)
        assert client.get_prompt_version_by_alias("p", "production").template == "two"
        assert client.get_prompt_version_by_alias("p", "latest").template == "three"
        assert client.load_prompt("prompts:/p@production").version == 2
        assert client.load_prompt("prompts:/p/1").template == "one"
        assert client.load_prompt("p").version == 3
        assert client.load_prompt("p", version=2).template == "two"
        assert client.load_prompt("nope", allow_missing=True) is None
        assert [v.version for v in client.search_prompt_versions("p")] == [3, 2, 1]
        client.delete_prompt_alias("p", "production")
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.get_prompt_version_by_alias, "p", "production"
        )
        for alias in ("latest", "v2", ""):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.set_prompt_alias, "p", alias, 1)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.set_prompt_alias, "p", "x", 9)
        client.delete_prompt_version("p", 3)
        assert client.load_prompt("p").version == 2
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_prompt_version, "p", 3)
        assert client.register_prompt("p", "four").version == 4
        client.delete_prompt("p")
        assert client.get_prompt("p") is None

    def test_prompt_tags(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        client.register_prompt("p", "text")
        client.set_prompt_tag("p", "owner", "ana")
        assert client.get_prompt("p").tags == {"owner": "ana"}
        client.delete_prompt_tag("p", "owner")
        assert client.get_prompt("p").tags == {}
        client.set_prompt_version_tag("p", 1, "quality", "good")
        assert client.get_prompt_version("p", 1).tags == {"quality": "good"}
        client.delete_prompt_version_tag("p", "1", "quality")
        assert client.get_prompt_version("p", 1).tags == {}
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.set_prompt_tag, "p", IS_PROMPT_TAG_KEY, "no"
        )
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.set_prompt_tag, "p", "k", "x" * 100_001)

    def test_search_prompts(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        client.register_prompt("qa", "q", tags={"team": "nlp"})
        client.register_prompt("summary", "s")
        client.create_prompt("draft")
        client.create_registered_model("not-a-prompt", tags={"team": "nlp"})
        assert [p.name for p in client.search_prompts()] == ["draft", "qa", "summary"]
        assert [p.name for p in client.search_prompts("tags.team = 'nlp'")] == ["qa"]
        assert [p.name for p in client.search_prompts("name LIKE 's%'")] == ["summary"]
        page = client.search_prompts(max_results=2)
        assert len(page) == 2 and page.token
        assert [p.name for p in client.search_prompts(page_token=page.token)] == ["summary"]
        assert all(isinstance(p, Prompt) for p in client.search_prompts())

    def test_prompts_are_invisible_to_model_methods(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        client.register_prompt("hidden", "text")
        client.set_prompt_alias("hidden", "prod", 1)
        client.create_registered_model("visible")
        client.create_model_version("visible", "s3://b/1")
        before = _snapshot(client)
        for fn, args in [
            (client.get_registered_model, ("hidden",)),
            (client.update_registered_model, ("hidden", "d")),
            (client.rename_registered_model, ("hidden", "renamed")),
            (client.delete_registered_model, ("hidden",)),
            (client.set_registered_model_tag, ("hidden", "k", "v")),
            (client.delete_registered_model_tag, ("hidden", "k")),
            (client.get_model_version, ("hidden", "1")),
            (client.update_model_version, ("hidden", "1", "d")),
            (client.delete_model_version, ("hidden", "1")),
            (client.get_model_version_download_uri, ("hidden", "1")),
            (client.set_model_version_tag, ("hidden", "1", "k", "v")),
            (client.delete_model_version_tag, ("hidden", "1", "k")),
            (client.set_registered_model_alias, ("hidden", "a", "1")),
            (client.delete_registered_model_alias, ("hidden", "prod")),
            (client.get_model_version_by_alias, ("hidden", "prod")),
            (client.copy_model_version, ("models:/hidden/1", "visible")),
            (client.download_artifacts, ("models:/hidden@prod", "")),
        ]:
            _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, fn, *args)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, _quiet, client.get_latest_versions, "hidden")
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            _quiet,
            client.transition_model_version_stage,
            "hidden",
            "1",
            "Staging",
        )
        for bad in (
            lambda: client.create_registered_model("fake", tags={IS_PROMPT_TAG_KEY: "true"}),
            lambda: client.create_model_version("visible", "s", tags={IS_PROMPT_TAG_KEY: "x"}),
        ):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, bad)
        assert _snapshot(client) == before
        assert client.get_prompt_version_by_alias("hidden", "prod").template == "text"

    def test_prompt_and_model_names_do_not_mix(self, registry_client: Any) -> None:
        client = registry_client
        self._prompts(client)
        client.create_registered_model("shared")
        client.register_prompt("prompt-x", "x")
        before = _snapshot(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.register_prompt, "shared", "t")
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.create_prompt, "shared")
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.create_registered_model, "prompt-x")
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.get_prompt_version, "shared", 1)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_prompt_version, "nope", 1)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.search_prompt_versions, "nope")
        assert _snapshot(client) == before

    @pytest.mark.parametrize(
        "name", ["has space", "slash/name", "colon:name", "at@sign", "ünïcode", "", "..", None]
    )
    def test_bad_prompt_names(self, registry_client: Any, name: Any) -> None:
        client = registry_client
        self._prompts(client)
        before = _snapshot(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_prompt, name)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.register_prompt, name, "text")
        assert _snapshot(client) == before

    @pytest.mark.parametrize("template", [None, 3, {"role": "user"}, ["not a dict"]])
    def test_bad_prompt_templates(self, registry_client: Any, template: Any) -> None:
        client = registry_client
        self._prompts(client)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.register_prompt, "p", template)
        assert client.get_prompt("p") is None

    def test_prompt_events(self, registry_client: Any, listener: _Listener) -> None:
        client = registry_client
        self._prompts(client)
        client.create_prompt("ev")
        client.register_prompt("ev", "one")
        client.register_prompt("ev-new", "two")
        client.set_prompt_tag("ev", "k", "v")
        client.delete_prompt_tag("ev", "k")
        client.set_prompt_version_tag("ev", 1, "k", "v")
        client.delete_prompt_version_tag("ev", 1, "k")
        client.set_prompt_alias("ev", "prod", 1)
        client.delete_prompt_alias("ev", "prod")
        assert listener.names() == [
            "prompt.created",
            "prompt_version.created",
            "prompt.created",
            "prompt_version.created",
            "prompt_tag.set",
            "prompt_tag.deleted",
            "prompt_version_tag.set",
            "prompt_version_tag.deleted",
            "prompt_alias.created",
            "prompt_alias.deleted",
        ]
        kinds = [type(e.entity).__name__ for e in listener.events]
        assert kinds == [
            "Prompt",
            "PromptVersion",
            "Prompt",
            "PromptVersion",
            "Prompt",
            "Prompt",
            "PromptVersion",
            "PromptVersion",
            "RegisteredModelAlias",
            "RegisteredModelAlias",
        ]
        assert listener.events[4].entity.tags == {"k": "v"}
        assert listener.events[6].entity.tags == {"k": "v"}
