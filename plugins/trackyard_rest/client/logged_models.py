"""Logged models over MLflow's REST API (``/api/2.0/mlflow/logged-models...``).

:class:`RestLoggedModelsMixin` implements the logged-model part of the tracking store contract
(:class:`trackyard.stores.LoggedModelStoreMixin`) for :class:`RestTrackingStore`. Metric
points reach a model through ``runs/log-batch`` items carrying ``model_id``; a model's files
live under its ``artifact_uri`` (usually ``mlflow-artifacts:/...``, served by the server's
artifact proxy), which the client reaches through the artifact repository of that URI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from trackyard.entities import LoggedModel, LoggedModelStatus, PagedList
from trackyard.search.printer import format_filter
from trackyard_rest.client import convert
from trackyard_rest.client.base import RestStoreMixin

if TYPE_CHECKING:
    from trackyard.entities import LoggedModelParameter, LoggedModelTag
    from trackyard.search.request import LoggedModelSearch

__all__ = ["RestLoggedModelsMixin", "logged_model", "status_name"]

_PREFIX = "LOGGED_MODEL_"
#: Status names MLflow's JSON uses that are not ``LOGGED_MODEL_<our name>``.
_WIRE_NAMES = {LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED"}
#: MLflow sends at most this many params with ``logged-models`` create, the rest after.
_PARAMS_PER_REQUEST = 100


def status_name(status: LoggedModelStatus) -> str:
    """A status as MLflow's JSON names it (``LOGGED_MODEL_READY``)."""
    return _WIRE_NAMES.get(status, _PREFIX + status.value)


def _status(value: Any) -> LoggedModelStatus:
    if isinstance(value, int):
        return LoggedModelStatus.from_int(value)
    text = str(value or "").upper()
    for status, name in _WIRE_NAMES.items():
        if text == name:
            return status
    text = text.removeprefix(_PREFIX)
    if text == "STATUS_UNSPECIFIED":
        return LoggedModelStatus.UNSPECIFIED
    return LoggedModelStatus.parse(text)


def logged_model(d: Mapping[str, Any]) -> LoggedModel:
    """A :class:`LoggedModel` from its JSON (``{info, data: {params, metrics}}``)."""
    info = d.get("info") or {}
    data = d.get("data") or {}
    metrics = [convert.metric(m) for m in data.get("metrics", ())]
    return LoggedModel(
        experiment_id=str(info.get("experiment_id", "")),
        model_id=info["model_id"],
        name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""),
        creation_timestamp=int(info.get("creation_timestamp_ms", 0)),
        last_updated_timestamp=int(info.get("last_updated_timestamp_ms", 0)),
        model_type=info.get("model_type") or None,
        source_run_id=info.get("source_run_id") or None,
        status=_status(info.get("status")),
        status_message=info.get("status_message") or None,
        tags=convert.tag_map(info.get("tags")),
        params=convert.tag_map(data.get("params")),
        metrics=metrics or None,
    )


def _model_path(model_id: str, *more: str) -> str:
    return "/".join(["logged-models", quote(model_id, safe=""), *more])


class RestLoggedModelsMixin(RestStoreMixin):
    """The logged-model methods of the REST tracking store."""

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """POST logged-models (the first 100 params with it, the rest in batches after)."""
        params = list(params or ())
        payload: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "tags": convert.key_values(tags or ()),
            "params": convert.key_values(params[:_PARAMS_PER_REQUEST]),
        }
        for key, value in (("name", name), ("source_run_id", source_run_id)):
            if value:
                payload[key] = value
        if model_type is not None:
            payload["model_type"] = model_type
        model = logged_model(self._call("POST", "logged-models", payload)["model"])
        if len(params) > _PARAMS_PER_REQUEST:
            self.log_logged_model_params(model.model_id, params[_PARAMS_PER_REQUEST:])
            model = self.get_logged_model(model.model_id)
        return model

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """GET logged-models/<id> (``?allow_deleted=true`` also finds a deleted one)."""
        query = {"allow_deleted": "true"} if allow_deleted else None
        return logged_model(self._call("GET", _model_path(model_id), query)["model"])

    def search_logged_models(self, request: LoggedModelSearch) -> PagedList[LoggedModel]:
        """POST logged-models/search: the filter printed for MLflow, the caller's order as
        MLflow's objects (the server adds the same tie-breakers)."""
        payload: dict[str, Any] = {
            "experiment_ids": list(request.experiment_ids),
            "max_results": request.max_results,
            "order_by": request.wire_order_by,
        }
        if request.filter is not None:
            payload["filter"] = format_filter(request.filter, for_mlflow=True)
        if request.datasets:
            payload["datasets"] = [
                {"dataset_name": name, **({"dataset_digest": digest} if digest else {})}
                for name, digest in request.datasets
            ]
        if request.page_token:
            payload["page_token"] = request.page_token
        out = self._call("POST", "logged-models/search", payload)
        return PagedList(
            [logged_model(m) for m in out.get("models", ())], out.get("next_page_token") or None
        )

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """PATCH logged-models/<id> with the final status."""
        payload = {"model_id": model_id, "status": status_name(status)}
        return logged_model(self._call("PATCH", _model_path(model_id), payload)["model"])

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """PATCH logged-models/<id>/tags."""
        payload = {"model_id": model_id, "tags": convert.key_values(tags)}
        self._call("PATCH", _model_path(model_id, "tags"), payload)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """DELETE logged-models/<id>/tags/<key>."""
        self._call("DELETE", _model_path(model_id, "tags", quote(key, safe="")), {})

    def delete_logged_model(self, model_id: str) -> None:
        """DELETE logged-models/<id>."""
        self._call("DELETE", _model_path(model_id), {"model_id": model_id})

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """POST logged-models/<id>/params, 100 params a request."""
        params = list(params)
        for start in range(0, len(params), _PARAMS_PER_REQUEST):
            batch = convert.key_values(params[start : start + _PARAMS_PER_REQUEST])
            payload = {"model_id": model_id, "params": batch}
            self._call("POST", _model_path(model_id, "params"), payload)
