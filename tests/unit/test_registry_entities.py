"""Prompt entities: templates, variables, formatting and how they are stored."""

from __future__ import annotations

import json

import pytest

from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    PROMPT_TEXT_TAG_KEY,
    PROMPT_TYPE_TAG_KEY,
    ModelVersion,
    Prompt,
    PromptVersion,
    RegisteredModel,
    is_prompt,
)
from trackyard.errors import ErrorCode, TrackyardError


def test_text_prompt() -> None:
    pv = PromptVersion("p", "2", "Hi {{ name }}, {{x}} and {{ a.b }}; {{bad-var}} {{ 1x }}")
    assert pv.version == 2 and pv.is_text_prompt and pv.prompt_type == "text"
    assert pv.variables == {"name", "x", "a.b"}
    assert pv.uri == "prompts:/p/2"
    assert pv.format(name="Ada", x=1, **{"a.b": True}) == "Hi Ada, 1 and True; {{bad-var}} {{ 1x }}"
    assert pv.to_single_brace_format() == "Hi {name}, {x} and {a.b}; {{bad-var}} {{ 1x }}"
    with pytest.raises(TrackyardError) as excinfo:
        pv.format(name="Ada")
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "['a.b', 'x']" in excinfo.value.message
    partial = pv.format(allow_partial=True, name="Ada")
    assert isinstance(partial, PromptVersion)
    assert partial.template.startswith("Hi Ada, {{x}}")
    assert partial.variables == {"x", "a.b"}


def test_chat_prompt() -> None:
    messages = [{"role": "system", "content": "You are {{ persona }}"}, {"role": "user"}]
    pv = PromptVersion("p", 1, messages)
    assert not pv.is_text_prompt and pv.prompt_type == "chat"
    assert pv.variables == {"persona"}
    assert pv.format(persona="kind") == [
        {"role": "system", "content": "You are kind"},
        {"role": "user"},
    ]
    assert pv.to_single_brace_format()[0]["content"] == "You are {persona}"
    assert messages[0]["content"] == "You are {{ persona }}"  # the template is not changed


def test_storage_round_trip() -> None:
    pv = PromptVersion(
        "p",
        3,
        [{"role": "user", "content": "{{q}}"}],
        commit_message="msg",
        tags={"team": "nlp"},
        response_format={"type": "object"},
        model_config={"temperature": 0.1},
    )
    tags = pv.to_version_tags()
    assert tags[IS_PROMPT_TAG_KEY] == "true"
    assert tags[PROMPT_TYPE_TAG_KEY] == "chat"
    assert json.loads(tags[PROMPT_TEXT_TAG_KEY]) == [{"role": "user", "content": "{{q}}"}]
    assert json.loads(tags["_mlflow_prompt_response_format"]) == {"type": "object"}
    assert json.loads(tags["_mlflow_prompt_model_config"]) == {"temperature": 0.1}
    stored = ModelVersion(
        "p", "3", creation_timestamp=5, description="msg", tags=tags, aliases=["prod"]
    )
    back = PromptVersion.from_model_version(stored)
    assert (back.name, back.version, back.template, back.commit_message) == (
        "p",
        3,
        pv.template,
        "msg",
    )
    assert back.tags == {"team": "nlp"} and back.aliases == ["prod"]
    assert back.response_format == {"type": "object"}
    assert back.model_config == {"temperature": 0.1}
    assert back.last_updated_timestamp == 5
    assert repr(back).startswith("PromptVersion(name=p, version=3, template=[{")


def test_broken_stored_chat_template_reads_as_text() -> None:
    stored = ModelVersion(
        "p",
        "1",
        tags={IS_PROMPT_TAG_KEY: "true", PROMPT_TYPE_TAG_KEY: "chat", PROMPT_TEXT_TAG_KEY: "{"},
    )
    assert PromptVersion.from_model_version(stored).template == "{"


class _SchemaModel:
    """Shaped like a pydantic v2 model class: ``model_json_schema()`` gives its schema."""

    @classmethod
    def model_json_schema(cls) -> dict[str, object]:
        return {"type": "object", "properties": {"text": {"type": "string"}}}


class _Config:
    def to_dict(self) -> dict[str, object]:
        return {"temperature": 0.3}


def test_response_format_and_model_config_objects() -> None:
    pv = PromptVersion("p", 1, "t", response_format=_SchemaModel, model_config=_Config())
    assert pv.response_format == _SchemaModel.model_json_schema()
    assert pv.model_config == {"temperature": 0.3}
    for bad in ({"response_format": 42}, {"model_config": 42}):
        with pytest.raises(TrackyardError) as excinfo:
            PromptVersion("p", 1, "t", **bad)  # type: ignore[arg-type]
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_prompt_from_registered_model() -> None:
    model = RegisteredModel(
        "p", creation_timestamp=1, description="d", tags={IS_PROMPT_TAG_KEY: "true", "a": "b"}
    )
    assert is_prompt(model.tags)
    assert not is_prompt({"a": "b"})
    assert Prompt.from_registered_model(model) == Prompt("p", "d", 1, {"a": "b"})
