"""models:/ and prompts:/ URIs: parsing and resolution."""

from __future__ import annotations

import pytest
from trackyard_memory.registry import MemoryRegistryStore

from trackyard.entities.model_registry import ModelVersionTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.uri import ModelsURI, parse_models_uri, parse_prompts_uri, resolve_models_uri


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("models:/m/1", ModelsURI("models:/m/1", "m", version="1")),
        ("models:/m/007", ModelsURI("models:/m/007", "m", version="7")),
        ("models:/m/latest", ModelsURI("models:/m/latest", "m", latest=True)),
        ("models:/m/LATEST", ModelsURI("models:/m/LATEST", "m", latest=True)),
        ("models:/m/Staging", ModelsURI("models:/m/Staging", "m", stage="Staging")),
        ("models:/m@champ", ModelsURI("models:/m@champ", "m", alias="champ")),
        ("models:/a@b@c", ModelsURI("models:/a@b@c", "a@b", alias="c")),
        ("models:/my model/2", ModelsURI("models:/my model/2", "my model", version="2")),
        ("models:/m-1234", ModelsURI("models:/m-1234", None, model_id="m-1234")),
    ],
)
def test_parse_models_uri(uri: str, expected: ModelsURI) -> None:
    assert parse_models_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "models:/",
        "models:",
        "models:m/1",
        "models://m/1",
        "models:/m/1/extra",
        "models:/m/",
        "models://",
        "models:/@alias",
        "models:/m@",
        "models:/m/1@a",
        "runs:/abc/model",
        "s3://bucket/m",
        "",
    ],
)
def test_malformed_models_uris(uri: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        parse_models_uri(uri)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "Not a proper models:/ URI" in excinfo.value.message


def test_parse_prompts_uri() -> None:
    assert parse_prompts_uri("prompts:/p/3") == ("prompts:/p/3", "p", "3", None)
    assert parse_prompts_uri("prompts:/p@prod") == ("prompts:/p@prod", "p", None, "prod")
    for bad in ("prompts:/p", "prompts:/p/latest", "prompts:/", "prompts:/p/1/2", "models:/p/1"):
        with pytest.raises(TrackyardError, match="Not a proper prompts:/ URI"):
            parse_prompts_uri(bad)


@pytest.fixture
def store() -> MemoryRegistryStore:
    s = MemoryRegistryStore()
    s.create_registered_model("m")
    for i in range(4):
        s.create_model_version("m", f"s3://b/{i}", tags=[ModelVersionTag("i", str(i))])
    s.transition_model_version_stage("m", "2", "Staging", False)
    s.set_registered_model_alias("m", "champ", "3")
    s.delete_model_version("m", "4")
    return s


def test_resolve_models_uri(store: MemoryRegistryStore) -> None:
    assert resolve_models_uri(store, "models:/m/1").version == "1"
    assert resolve_models_uri(store, "models:/m@champ").version == "3"
    assert resolve_models_uri(store, "models:/m/latest").version == "3"  # 4 is deleted
    assert resolve_models_uri(store, "models:/m@latest").version == "3"
    assert resolve_models_uri(store, "models:/m/staging").version == "2"
    assert resolve_models_uri(store, parse_models_uri("models:/m/None")).version == "3"


@pytest.mark.parametrize(
    "uri, code",
    [
        ("models:/m/4", ErrorCode.RESOURCE_DOES_NOT_EXIST),
        ("models:/nope/1", ErrorCode.RESOURCE_DOES_NOT_EXIST),
        ("models:/m/Production", ErrorCode.RESOURCE_DOES_NOT_EXIST),
        ("models:/m/Bogus", ErrorCode.INVALID_PARAMETER_VALUE),
        ("models:/m@nope", ErrorCode.INVALID_PARAMETER_VALUE),
        ("models:/m-abc123", ErrorCode.FEATURE_DISABLED),
    ],
)
def test_resolve_errors(store: MemoryRegistryStore, uri: str, code: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        resolve_models_uri(store, uri)
    assert excinfo.value.error_code == code


def test_logged_model_ids_say_what_to_use_instead(store: MemoryRegistryStore) -> None:
    with pytest.raises(TrackyardError, match="logged model") as excinfo:
        resolve_models_uri(store, "models:/m-abc")
    assert "models:/<name>@<alias>" in excinfo.value.message
