"""``/api/2.0/mlflow/registered-models/...``: registered models, their tags and aliases.

Model versions are in :mod:`trackyard_rest.server.versions`. As MLflow's server does, these
routes call the registry store directly: prompts (registered models tagged
``mlflow.prompt.is_prompt``) are served like any model, since MLflow's client builds its
prompt API on these endpoints.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard import validation
from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from trackyard.errors import TrackyardError
from trackyard.plugins.events import listening
from trackyard.search.request import RegisteredModelSearch
from trackyard_rest.server.backend import Backend, backend
from trackyard_rest.server.errors import missing, required
from trackyard_rest.server.registry_events import is_prompt, model_event
from trackyard_rest.server.schemas import KeyValue, Request, key_values
from trackyard_rest.server.wire import (
    empty_response,
    json_response,
    model_version_json,
    page,
    registered_model_json,
)

__all__ = ["optional_text", "registry_tags", "router"]

router = APIRouter(tags=["registered models"])


class ModelName(Request):
    name: str | None = None

    def checked(self) -> str:
        if self.name is None:
            raise missing("name")
        return validation.validate_model_name(self.name)


class CreateModel(ModelName):
    tags: list[KeyValue] | None = None
    description: str | None = None
    deployment_job_id: str | None = None


class UpdateModel(ModelName):
    description: str | None = None
    deployment_job_id: str | None = None


class RenameModel(ModelName):
    new_name: str | None = None


class LatestVersions(ModelName):
    stages: list[str] | None = None


class ModelTag(ModelName):
    key: str | None = None
    value: str | None = None


class AliasRequest(ModelName):
    alias: str | None = None
    version: str | None = None


def optional_text(value: str | None) -> str | None:
    """A free-text field; an empty string is kept as MLflow keeps it."""
    return value


def registry_tags(items: list[KeyValue] | None) -> dict[str, str]:
    """Checked registry tags (values up to 100,000 characters)."""
    return dict(validation.validate_registry_tag(k, v) for k, v in key_values(items).items())


@router.post("/registered-models/create")
def create_registered_model(body: CreateModel, request: HttpRequest) -> Response:
    """Create a registered model → ``{registered_model}``."""
    name = body.checked()
    tags = [RegisteredModelTag(k, v) for k, v in registry_tags(body.tags).items()]
    b = backend(request)
    model = b.registry.create_registered_model(name, tags, body.description, body.deployment_job_id)
    prompt = any(t.key == IS_PROMPT_TAG_KEY for t in tags)
    model_event(b, "", "created", name, prompt, model)
    return json_response({"registered_model": registered_model_json(model)})


@router.get("/registered-models/get")
def get_registered_model(request: HttpRequest, name: str | None = None) -> Response:
    """``?name`` → ``{registered_model}``."""
    model = backend(request).registry.get_registered_model(ModelName(name=name).checked())
    return json_response({"registered_model": registered_model_json(model)})


@router.patch("/registered-models/update")
def update_registered_model(body: UpdateModel, request: HttpRequest) -> Response:
    """Set the description → ``{registered_model}``."""
    name = body.checked()
    b = backend(request)
    # the wire has no null: an empty or missing description clears it, as the client's None
    description = body.description or None
    model = b.registry.update_registered_model(name, description, body.deployment_job_id)
    if IS_PROMPT_TAG_KEY not in model.tags:  # the client has no prompt.updated event
        b.emit_registry("registered_model.updated", model)
    return json_response({"registered_model": registered_model_json(model)})


@router.post("/registered-models/rename")
def rename_registered_model(body: RenameModel, request: HttpRequest) -> Response:
    """Rename → ``{registered_model}``."""
    name = body.checked()
    required(body.new_name, "new_name")
    new_name = validation.validate_model_name(body.new_name)
    b = backend(request)
    model = b.registry.rename_registered_model(name, new_name)
    if IS_PROMPT_TAG_KEY not in model.tags:  # prompts cannot be renamed through the client
        b.emit_registry("registered_model.renamed", model, old_name=name)
    return json_response({"registered_model": registered_model_json(model)})


@router.delete("/registered-models/delete")
def delete_registered_model(body: ModelName, request: HttpRequest) -> Response:
    """Delete a model with its versions → ``{}``."""
    name = body.checked()
    b = backend(request)
    prompt = is_prompt(b, name)
    b.registry.delete_registered_model(name)
    model_event(b, "", "deleted", name, prompt, None, name=name)
    return empty_response()


@router.get("/registered-models/search")
def search_registered_models(
    request: HttpRequest,
    filter: str | None = None,
    max_results: int | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    page_token: str | None = None,
) -> Response:
    """Search registered models → ``{registered_models[], next_page_token}``."""
    search = RegisteredModelSearch.parse(
        filter, 100 if max_results is None else max_results, order_by, page_token
    )
    found = backend(request).registry.search_registered_models(search)
    return json_response(page("registered_models", map(registered_model_json, found), found.token))


def _latest(request: HttpRequest, body: LatestVersions) -> Response:
    name = body.checked()
    stages = [validation.validate_stage(s) for s in body.stages] if body.stages else None
    found = backend(request).registry.get_latest_versions(name, stages)
    return json_response(page("model_versions", map(model_version_json, found), None))


@router.post("/registered-models/get-latest-versions")
def get_latest_versions(body: LatestVersions, request: HttpRequest) -> Response:
    """The newest version per stage (deprecated in MLflow) → ``{model_versions[]}``."""
    return _latest(request, body)


@router.get("/registered-models/get-latest-versions", name="get_latest_versions_get")
def get_latest_versions_get(
    request: HttpRequest,
    name: str | None = None,
    stages: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The GET form of get-latest-versions (``stages`` repeated)."""
    return _latest(request, LatestVersions(name=name, stages=stages))


@router.post("/registered-models/set-tag")
def set_registered_model_tag(body: ModelTag, request: HttpRequest) -> Response:
    """Set a model tag → ``{}``."""
    name = body.checked()
    required(body.key, "key"), required(body.value, "value")
    k, v = validation.validate_registry_tag(body.key, body.value)
    b = backend(request)
    b.registry.set_registered_model_tag(name, RegisteredModelTag(k, v))
    model_event(b, "tag", "set", name, is_prompt(b, name), name=name, key=k, value=v)
    return empty_response()


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag(body: ModelTag, request: HttpRequest) -> Response:
    """Delete a model tag → ``{}``."""
    name = body.checked()
    required(body.key, "key")
    key = validation.validate_key(body.key, "tag")
    b = backend(request)
    b.registry.delete_registered_model_tag(name, key)
    model_event(b, "tag", "deleted", name, is_prompt(b, name), name=name, key=key)
    return empty_response()


@router.post("/registered-models/alias")
def set_alias(body: AliasRequest, request: HttpRequest) -> Response:
    """Point an alias at a version → ``{}``."""
    name = body.checked()
    required(body.alias, "alias"), required(body.version, "version")
    alias = validation.validate_model_alias(body.alias)
    version = validation.validate_model_version(body.version)
    b = backend(request)
    b.registry.set_registered_model_alias(name, alias, version)
    entity = RegisteredModelAlias(alias, version)
    model_event(b, "alias", "created", name, is_prompt(b, name), entity, name=name)
    return empty_response()


@router.delete("/registered-models/alias")
def delete_alias(body: AliasRequest, request: HttpRequest) -> Response:
    """Remove an alias → ``{}``."""
    name = body.checked()
    required(body.alias, "alias")
    alias = validation.validate_model_alias(body.alias)
    b = backend(request)
    pointed = _alias_target(b, name, alias)
    b.registry.delete_registered_model_alias(name, alias)
    if pointed is not None:  # as the client: no event when the alias did not exist
        entity = RegisteredModelAlias(alias, pointed)
        model_event(b, "alias", "deleted", name, is_prompt(b, name), entity, name=name)
    return empty_response()


def _alias_target(b: Backend, name: str, alias: str) -> str | None:
    """The version ``alias`` points at, read only when a plugin listens for events."""
    if not listening():
        return None
    try:
        return b.registry.get_model_version_by_alias(name, alias).version
    except TrackyardError:
        return None


@router.get("/registered-models/alias")
def get_by_alias(
    request: HttpRequest, name: str | None = None, alias: str | None = None
) -> Response:
    """``?name&alias`` → ``{model_version}``."""
    model = ModelName(name=name).checked()
    if alias is None:
        raise missing("alias")
    version = backend(request).registry.get_model_version_by_alias(model, alias)
    return json_response({"model_version": model_version_json(version)})
