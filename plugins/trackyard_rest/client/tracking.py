"""The tracking store for ``http://`` and ``https://`` URIs: MLflow's REST API, as a client.

Every call is one (or, for a big ``log_batch``, a few) requests to ``/api/2.0/mlflow/...`` of
the server at the store URI, through one pooled :class:`~trackyard_rest.client.http.RestSession`.
Searches print the parsed request back to MLflow filter text
(:func:`trackyard.search.printer.format_filter` with ``for_mlflow=True``), so the server sees
exactly what the caller meant; page tokens are MLflow's and pass through unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from trackyard.entities import PagedList, RunStatus, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import Capabilities, TrackingStore
from trackyard_rest.client import convert
from trackyard_rest.client.base import API, RestStoreMixin, search_fields
from trackyard_rest.client.batching import batch_bodies
from trackyard_rest.client.importing import RestTrackingImportMixin
from trackyard_rest.client.logged_models import RestLoggedModelsMixin
from trackyard_rest.client.traces import RestTraceMixin

if TYPE_CHECKING:
    from trackyard.entities import (
        DatasetInput,
        Experiment,
        ExperimentTag,
        LoggedModelInput,
        LoggedModelOutput,
        Metric,
        Param,
        Run,
        RunInfo,
        RunTag,
    )
    from trackyard.search.request import ExperimentSearch, RunSearch

__all__ = ["RestTrackingStore"]


class RestTrackingStore(
    RestTrackingImportMixin, RestLoggedModelsMixin, RestStoreMixin, RestTraceMixin, TrackingStore
):
    """Experiments, runs, metrics, params, tags, run inputs, logged models and traces on an
    MLflow tracking server."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        datasets=True, logged_models=True, traces=True, assessments=True
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__(store_uri, artifact_uri)
        self._open_session(store_uri)
        self._probe_imports_lazily()  # imports: when the server offers them

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """POST experiments/create (with an ``Idempotency-Key`` kept across retries)."""
        payload: dict[str, Any] = {"name": name, "tags": convert.key_values(tags or ())}
        if artifact_location:
            payload["artifact_location"] = artifact_location
        out = self._call("POST", "experiments/create", payload, _idempotency())
        return str(out["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        """GET experiments/get."""
        out = self._call("GET", "experiments/get", {"experiment_id": str(experiment_id)})
        return convert.experiment(out["experiment"])

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """GET experiments/get-by-name; None when the server says it does not exist."""
        try:
            out = self._call("GET", "experiments/get-by-name", {"experiment_name": experiment_name})
        except TrackyardError as exc:
            if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        return convert.experiment(out["experiment"])

    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """POST experiments/search with the filter and order printed for MLflow."""
        payload = search_fields(request)
        payload["view_type"] = ViewType.to_string(request.view_type)
        out = self._call("POST", "experiments/search", payload)
        return PagedList(
            [convert.experiment(e) for e in out.get("experiments", ())],
            out.get("next_page_token") or None,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """POST experiments/delete."""
        self._call("POST", "experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        """POST experiments/restore."""
        self._call("POST", "experiments/restore", {"experiment_id": str(experiment_id)})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """POST experiments/update."""
        self._call(
            "POST",
            "experiments/update",
            {"experiment_id": str(experiment_id), "new_name": new_name},
        )

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """POST experiments/set-experiment-tag."""
        self._call(
            "POST",
            "experiments/set-experiment-tag",
            {"experiment_id": str(experiment_id), "key": tag.key, "value": tag.value},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """POST experiments/delete-experiment-tag."""
        self._call(
            "POST",
            "experiments/delete-experiment-tag",
            {"experiment_id": str(experiment_id), "key": key},
        )

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """POST runs/create (with an ``Idempotency-Key`` kept across retries)."""
        payload: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "user_id": user_id,
            "start_time": int(start_time),
            "tags": convert.key_values(tags),
        }
        if run_name:
            payload["run_name"] = run_name
        out = self._call("POST", "runs/create", payload, _idempotency())
        return convert.run(out["run"])

    def get_run(self, run_id: str) -> Run:
        """GET runs/get."""
        return convert.run(self._call("GET", "runs/get", {"run_id": run_id})["run"])

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """POST runs/update."""
        payload: dict[str, Any] = {"run_id": run_id, "status": RunStatus.to_string(run_status)}
        if end_time is not None:
            payload["end_time"] = int(end_time)
        if run_name is not None:
            payload["run_name"] = run_name
        return convert.run_info(self._call("POST", "runs/update", payload)["run_info"])

    def delete_run(self, run_id: str) -> None:
        """POST runs/delete."""
        self._call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        """POST runs/restore."""
        self._call("POST", "runs/restore", {"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """POST runs/log-batch, split to MLflow's limits (see :mod:`.batching`).

        An empty batch is still sent: the server then checks that the run exists and is
        active, which the client relies on for empty ``log_inputs``/``log_outputs``.
        """
        if not (metrics or params or tags):
            self._call("POST", "runs/log-batch", {"run_id": run_id})
            return
        headers = {"Content-Type": "application/json"}
        for body in batch_bodies(run_id, metrics, params, tags):
            self.session.request("POST", API + "runs/log-batch", body=body, headers=headers)

    def log_metric(self, run_id: str, metric: Metric) -> None:
        """POST runs/log-metric."""
        payload = convert.metric_json(metric)
        payload["run_id"] = run_id
        self._call("POST", "runs/log-metric", payload)

    def log_param(self, run_id: str, param: Param) -> None:
        """POST runs/log-parameter."""
        self._call(
            "POST", "runs/log-parameter", {"run_id": run_id, "key": param.key, "value": param.value}
        )

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """POST runs/set-tag."""
        self._call("POST", "runs/set-tag", {"run_id": run_id, "key": tag.key, "value": tag.value})

    def delete_tag(self, run_id: str, key: str) -> None:
        """POST runs/delete-tag."""
        self._call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """GET metrics/get-history (the server's page tokens pass through).

        ``max_results`` is checked here: on the wire 0 means "every point".
        """
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
        ):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid value {max_results!r} for parameter 'max_results'"
            )
        query: dict[str, Any] = {"run_id": run_id, "metric_key": metric_key}
        if max_results is not None:
            query["max_results"] = max_results
        if page_token:
            query["page_token"] = page_token
        out = self._call("GET", "metrics/get-history", query)
        return PagedList(
            [convert.metric(m, run_id) for m in out.get("metrics", ())],
            out.get("next_page_token") or None,
        )

    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """POST runs/search with the filter and order printed for MLflow."""
        payload = search_fields(request)
        payload["experiment_ids"] = list(request.experiment_ids)
        payload["run_view_type"] = ViewType.to_string(request.view_type)
        out = self._call("POST", "runs/search", payload)
        return PagedList(
            [convert.run(r) for r in out.get("runs", ())], out.get("next_page_token") or None
        )

    # -- run inputs and outputs --------------------------------------------------------------
    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """POST runs/log-inputs."""
        payload: dict[str, Any] = {
            "run_id": run_id,
            "datasets": [convert.dataset_input_json(d) for d in datasets or ()],
        }
        if models:
            payload["models"] = [{"model_id": m.model_id} for m in models]
        self._call("POST", "runs/log-inputs", payload)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """POST runs/outputs."""
        payload = {
            "run_id": run_id,
            "models": [{"model_id": m.model_id, "step": m.step} for m in models],
        }
        self._call("POST", "runs/outputs", payload)


def _idempotency() -> dict[str, str]:
    """A fresh ``Idempotency-Key`` header for one logical create call."""
    return {"Idempotency-Key": uuid.uuid4().hex}
