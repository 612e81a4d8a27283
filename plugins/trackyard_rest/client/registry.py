"""The model registry store for ``http://`` and ``https://`` URIs (MLflow's REST API).

Registered models, versions, their tags and aliases through ``/api/2.0/mlflow/registered-models``
and ``/model-versions``. Searches print the parsed request back to MLflow filter text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from trackyard.entities import PagedList
from trackyard.stores import Capabilities, RegistryStore
from trackyard_rest.client import convert
from trackyard_rest.client.base import RestStoreMixin, search_fields
from trackyard_rest.client.importing import RestRegistryImportMixin
from trackyard_rest.client.webhooks import RestWebhooksMixin

if TYPE_CHECKING:
    from trackyard.entities.model_registry import (
        ModelVersion,
        ModelVersionTag,
        RegisteredModel,
        RegisteredModelTag,
    )
    from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch

__all__ = ["RestRegistryStore"]


class RestRegistryStore(RestRegistryImportMixin, RestWebhooksMixin, RestStoreMixin, RegistryStore):
    """Registered models, model versions, tags, aliases and webhooks on an MLflow server."""

    capabilities: ClassVar[Capabilities] = Capabilities(prompts=True, webhooks=True)

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri, tracking_uri)
        self._open_session(store_uri)
        self._probe_imports_lazily()  # imports: when the server offers them

    # -- registered models -------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """POST registered-models/create."""
        payload: dict[str, Any] = {"name": name, "tags": convert.key_values(tags or ())}
        if description is not None:
            payload["description"] = description
        if deployment_job_id:
            payload["deployment_job_id"] = deployment_job_id
        out = self._call("POST", "registered-models/create", payload)
        return convert.registered_model(out["registered_model"])

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """PATCH registered-models/update."""
        payload: dict[str, Any] = {"name": name, "description": description or ""}
        if deployment_job_id is not None:
            payload["deployment_job_id"] = deployment_job_id
        out = self._call("PATCH", "registered-models/update", payload)
        return convert.registered_model(out["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """POST registered-models/rename."""
        out = self._call("POST", "registered-models/rename", {"name": name, "new_name": new_name})
        return convert.registered_model(out["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        """DELETE registered-models/delete."""
        self._call("DELETE", "registered-models/delete", {"name": name})

    def search_registered_models(
        self, request: RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        """GET registered-models/search with the filter and order printed for MLflow."""
        out = self._call("GET", "registered-models/search", search_fields(request))
        return PagedList(
            [convert.registered_model(m) for m in out.get("registered_models", ())],
            out.get("next_page_token") or None,
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        """GET registered-models/get."""
        out = self._call("GET", "registered-models/get", {"name": name})
        return convert.registered_model(out["registered_model"])

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """POST registered-models/get-latest-versions."""
        payload: dict[str, Any] = {"name": name}
        if stages:
            payload["stages"] = list(stages)
        out = self._call("POST", "registered-models/get-latest-versions", payload)
        return [convert.model_version(v) for v in out.get("model_versions", ())]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        """POST registered-models/set-tag."""
        self._call(
            "POST", "registered-models/set-tag", {"name": name, "key": tag.key, "value": tag.value}
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """DELETE registered-models/delete-tag."""
        self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    # -- model versions ----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """POST model-versions/create (``local_model_path`` is the client's business)."""
        payload: dict[str, Any] = {
            "name": name,
            "source": source,
            "tags": convert.key_values(tags or ()),
        }
        for key, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value is not None:
                payload[key] = value
        out = self._call("POST", "model-versions/create", payload)
        return convert.model_version(out["model_version"])

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """PATCH model-versions/update."""
        payload = {"name": name, "version": str(version), "description": description or ""}
        out = self._call("PATCH", "model-versions/update", payload)
        return convert.model_version(out["model_version"])

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """POST model-versions/transition-stage."""
        payload = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        out = self._call("POST", "model-versions/transition-stage", payload)
        return convert.model_version(out["model_version"])

    def delete_model_version(self, name: str, version: str) -> None:
        """DELETE model-versions/delete."""
        self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """GET model-versions/get."""
        out = self._call("GET", "model-versions/get", {"name": name, "version": str(version)})
        return convert.model_version(out["model_version"])

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """GET model-versions/get-download-uri."""
        out = self._call(
            "GET", "model-versions/get-download-uri", {"name": name, "version": str(version)}
        )
        return str(out.get("artifact_uri", ""))

    def search_model_versions(self, request: ModelVersionSearch) -> PagedList[ModelVersion]:
        """GET model-versions/search with the filter and order printed for MLflow."""
        out = self._call("GET", "model-versions/search", search_fields(request))
        return PagedList(
            [convert.model_version(v) for v in out.get("model_versions", ())],
            out.get("next_page_token") or None,
        )

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        """POST model-versions/set-tag."""
        payload = {"name": name, "version": str(version), "key": tag.key, "value": tag.value}
        self._call("POST", "model-versions/set-tag", payload)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """DELETE model-versions/delete-tag."""
        payload = {"name": name, "version": str(version), "key": key}
        self._call("DELETE", "model-versions/delete-tag", payload)

    # -- aliases -----------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """POST registered-models/alias."""
        payload = {"name": name, "alias": alias, "version": str(version)}
        self._call("POST", "registered-models/alias", payload)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """DELETE registered-models/alias."""
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """GET registered-models/alias."""
        out = self._call("GET", "registered-models/alias", {"name": name, "alias": alias})
        return convert.model_version(out["model_version"])
