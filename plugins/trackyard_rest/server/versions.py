"""``/api/2.0/mlflow/model-versions/...``: versions, their tags, stages and download URIs.

``model-versions/create`` refuses a ``source`` that points at the server's own disk unless
it lies inside the artifact directory of the run (``run_id``) or logged model
(``model_id``) it comes from, as MLflow's server does: otherwise any client could register,
then download, any file the server can read. A prompt version (its request tags say
``mlflow.prompt.is_prompt=true``) has no files: its source must be one of MLflow's
placeholders (``dummy-source``, ``prompt-template``), as MLflow's server requires.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard import validation
from trackyard.entities.model_registry import (
    PROMPT_SOURCE_PLACEHOLDERS,
    ModelVersionTag,
)
from trackyard.entities.model_registry import is_prompt as tagged_as_prompt
from trackyard.errors import TrackyardError
from trackyard.search.request import ModelVersionSearch
from trackyard.uri import split_uri
from trackyard_rest.server.backend import Backend, backend
from trackyard_rest.server.errors import missing, required
from trackyard_rest.server.registry import ModelName, registry_tags
from trackyard_rest.server.registry_events import is_prompt, version_event
from trackyard_rest.server.schemas import KeyValue
from trackyard_rest.server.wire import empty_response, json_response, model_version_json, page

__all__ = ["check_source", "router"]

router = APIRouter(tags=["model versions"])


class VersionRef(ModelName):
    version: str | None = None

    def both(self) -> tuple[str, str]:
        name = self.checked()
        if self.version is None:
            raise missing("version")
        return name, validation.validate_model_version(self.version)


class CreateVersion(ModelName):
    source: str | None = None
    run_id: str | None = None
    tags: list[KeyValue] | None = None
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class UpdateVersion(VersionRef):
    description: str | None = None


class TransitionStage(VersionRef):
    stage: str | None = None
    archive_existing_versions: bool | None = False


class VersionTag(VersionRef):
    key: str | None = None
    value: str | None = None


def _local_path(uri: str) -> Path | None:
    """The resolved local path ``uri`` names, or None when it is not local."""
    parts = split_uri(uri)
    if parts.scheme not in ("", "file"):
        return None
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    if uri.startswith("file:") and not uri.startswith("file://"):
        path = uri[len("file:") :]
    return Path(os.path.abspath(path)).resolve()


def check_source(b: Backend, source: str, run_id: str | None, model_id: str | None) -> None:
    """Refuse a local ``source`` outside its run's (or logged model's) artifact directory."""
    local = _local_path(source)
    if local is None:
        return
    roots: list[str | None] = []
    if run_id:
        roots.append(b.tracking.get_run(run_id).info.artifact_uri)
    if model_id and getattr(b.tracking.capabilities, "logged_models", False):
        model = b.tracking.get_logged_model(model_id)
        roots.append(model.artifact_location)
    for root in roots:
        base = _local_path(root) if root else None
        if base is not None and (local == base or base in local.parents):
            return
    raise TrackyardError.invalid_parameter_value(
        f"Invalid model version source: '{source}'. To use a local path as a model version "
        "source, the run_id (or model_id) request parameter has to be given and the local "
        "path has to lie inside the artifact directory of that run (or logged model)."
    )


@router.post("/model-versions/create")
def create_model_version(body: CreateVersion, request: HttpRequest) -> Response:
    """Create the next version → ``{model_version}``."""
    name = body.checked()
    required(body.source, "source")
    source = validation.validate_model_version_source(body.source)
    run_id = validation.validate_run_id(body.run_id) if body.run_id else None
    tags = [ModelVersionTag(k, v) for k, v in registry_tags(body.tags).items()]
    b = backend(request)
    if tagged_as_prompt({t.key: t.value for t in tags}):
        if source not in PROMPT_SOURCE_PLACEHOLDERS:
            raise TrackyardError.invalid_parameter_value(
                f"Invalid prompt source: '{source}'. Prompt sources must be one of "
                f"{sorted(PROMPT_SOURCE_PLACEHOLDERS)}."
            )
    else:
        check_source(b, source, run_id, body.model_id or None)
    version = b.registry.create_model_version(
        name,
        source,
        run_id,
        tags,
        body.run_link,
        body.description,
        model_id=body.model_id or None,
    )
    number = str(version.version)
    version_event(b, "", "created", name, number, is_prompt(b, name), version)
    return json_response({"model_version": model_version_json(version)})


@router.get("/model-versions/get")
def get_model_version(
    request: HttpRequest, name: str | None = None, version: str | None = None
) -> Response:
    """``?name&version`` → ``{model_version}``."""
    found = backend(request).registry.get_model_version(
        *VersionRef(name=name, version=version).both()
    )
    return json_response({"model_version": model_version_json(found)})


@router.patch("/model-versions/update")
def update_model_version(body: UpdateVersion, request: HttpRequest) -> Response:
    """Set a version's description → ``{model_version}``."""
    name, version = body.both()
    b = backend(request)
    found = b.registry.update_model_version(name, version, body.description)
    if not is_prompt(b, name):  # the client has no prompt_version.updated event
        b.emit_registry("model_version.updated", found)
    return json_response({"model_version": model_version_json(found)})


@router.delete("/model-versions/delete")
def delete_model_version(body: VersionRef, request: HttpRequest) -> Response:
    """Delete a version → ``{}``."""
    name, version = body.both()
    b = backend(request)
    b.registry.delete_model_version(name, version)
    prompt = is_prompt(b, name)
    version_event(b, "", "deleted", name, version, prompt, None, name=name, version=version)
    return empty_response()


@router.get("/model-versions/search")
def search_model_versions(
    request: HttpRequest,
    filter: str | None = None,
    max_results: int | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    page_token: str | None = None,
) -> Response:
    """Search versions → ``{model_versions[], next_page_token}``."""
    search = ModelVersionSearch.parse(
        filter, 10000 if max_results is None else max_results, order_by, page_token
    )
    found = backend(request).registry.search_model_versions(search)
    return json_response(page("model_versions", map(model_version_json, found), found.token))


@router.get("/model-versions/get-download-uri")
def get_download_uri(
    request: HttpRequest, name: str | None = None, version: str | None = None
) -> Response:
    """``?name&version`` → ``{artifact_uri}``."""
    uri = backend(request).registry.get_model_version_download_uri(
        *VersionRef(name=name, version=version).both()
    )
    return json_response({"artifact_uri": uri})


@router.post("/model-versions/transition-stage")
def transition_stage(body: TransitionStage, request: HttpRequest) -> Response:
    """Move a version to a stage (deprecated in MLflow) → ``{model_version}``."""
    name, version = body.both()
    required(body.stage, "stage")
    stage = validation.validate_stage(body.stage)
    archive = bool(body.archive_existing_versions)
    b = backend(request)
    found = b.registry.transition_model_version_stage(name, version, stage, archive)
    b.emit_registry("model_version.stage_transitioned", found, archive_existing_versions=archive)
    return json_response({"model_version": model_version_json(found)})


@router.post("/model-versions/set-tag")
def set_model_version_tag(body: VersionTag, request: HttpRequest) -> Response:
    """Set a version tag → ``{}``."""
    name, version = body.both()
    required(body.key, "key"), required(body.value, "value")
    k, v = validation.validate_registry_tag(body.key, body.value)
    b = backend(request)
    b.registry.set_model_version_tag(name, version, ModelVersionTag(k, v))
    data = {"name": name, "version": version, "key": k, "value": v}
    version_event(b, "tag", "set", name, version, is_prompt(b, name), **data)
    return empty_response()


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag(body: VersionTag, request: HttpRequest) -> Response:
    """Delete a version tag → ``{}``."""
    name, version = body.both()
    required(body.key, "key")
    key = validation.validate_key(body.key, "tag")
    b = backend(request)
    b.registry.delete_model_version_tag(name, version, key)
    data = {"name": name, "version": version, "key": key}
    version_event(b, "tag", "deleted", name, version, is_prompt(b, name), **data)
    return empty_response()
