"""``/api/2.0/mlflow/runs/...`` and ``metrics/get-history``: runs and what is logged to them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from pydantic import ValidationError
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard import validation
from trackyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
)
from trackyard.entities.logged_model import LoggedModelInput, LoggedModelOutput
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.request import RunSearch
from trackyard_rest.server import idempotency
from trackyard_rest.server.backend import backend
from trackyard_rest.server.batch_body import read_plain
from trackyard_rest.server.errors import missing, request_error, required
from trackyard_rest.server.schemas import (
    KeyValue,
    Request,
    ViewTypeField,
    key_values,
    request_body_schema,
)
from trackyard_rest.server.wire import (
    empty_response,
    json_response,
    metric_json,
    page,
    run_info_json,
    run_json,
    runs_response,
)

__all__ = ["router"]

router = APIRouter(tags=["runs"])


class RunRef(Request):
    run_id: str | None = None
    run_uuid: str | None = None  # deprecated spelling, still sent by old clients

    def rid(self) -> str:
        value = self.run_id or self.run_uuid
        if not value:
            raise missing("run_id")
        return validation.validate_run_id(value)


class CreateRun(Request):
    experiment_id: str | None = None
    user_id: str | None = None
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] | None = None


class UpdateRun(RunRef):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class SearchRuns(Request):
    experiment_ids: list[str] | None = None
    filter: str | None = None
    run_view_type: ViewTypeField = 1
    max_results: int | None = 1000
    order_by: list[str] | None = None
    page_token: str | None = None


class MetricIn(Request):
    key: str
    value: float
    timestamp: int
    step: int | None = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogMetric(RunRef, MetricIn):
    pass


class LogParam(RunRef):
    key: str | None = None
    value: str | None = None


class LogBatch(RunRef):
    metrics: list[MetricIn] | None = None
    params: list[KeyValue] | None = None
    tags: list[KeyValue] | None = None


class DatasetInputIn(Request):
    dataset: dict[str, object]
    tags: list[KeyValue] | None = None


class ModelIn(Request):
    model_id: str
    step: int | None = 0


class LogInputs(RunRef):
    datasets: list[DatasetInputIn] | None = None
    models: list[ModelIn] | None = None


class LogOutputs(RunRef):
    models: list[ModelIn] | None = None


def _metric(m: MetricIn) -> Metric:
    return Metric(
        m.key,
        m.value,
        m.timestamp,
        m.step or 0,
        model_id=m.model_id,
        dataset_name=m.dataset_name,
        dataset_digest=m.dataset_digest,
    )


@router.post("/runs/create")
def create_run(
    body: CreateRun,
    request: HttpRequest,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Create a run → ``{run}``; ``Idempotency-Key`` makes a retried create return it again."""
    b = backend(request)
    store = b.tracking
    if not body.experiment_id:
        # MLflow 3.17.2's server answers 400 BAD_REQUEST here (its insert fails on the
        # experiment foreign key); nothing is written
        raise TrackyardError(
            "runs/create needs an experiment_id: no experiment was given.",
            ErrorCode.BAD_REQUEST,
        )
    experiment_id = validation.validate_experiment_id(body.experiment_id)
    tags = key_values(body.tags)
    key = idempotency.check_key(idempotency_key)
    if key is not None:
        tags[idempotency.TAG] = key
    checked = [validation.validate_tag(k, v) for k, v in tags.items()]
    validation.validate_run_name(body.run_name, {t.key: t.value for t in checked})
    start_time = validation.validate_timestamp(body.start_time or 0, "start_time")

    def create() -> Run:
        return store.create_run(
            experiment_id=experiment_id,
            user_id=body.user_id or "",
            start_time=start_time,
            tags=checked,
            run_name=body.run_name or None,
        )

    if key is None:
        run, created = create(), True
    else:
        run, created = idempotency.create_run_with_key(
            store,
            experiment_id,
            key,
            user_id=body.user_id or "",
            start_time=start_time,
            tags=checked,
            run_name=body.run_name or None,
            create=create,
        )
    if created:  # not a retry answered with the run made before
        b.emit("run.created", run)
    return json_response({"run": run_json(run, outputs=False)})


@router.post("/runs/update")
def update_run(body: UpdateRun, request: HttpRequest) -> Response:
    """Set status, end time and/or name → ``{run_info}``."""
    run_id = body.rid()
    b = backend(request)
    store = b.tracking
    validation.validate_run_name(body.run_name)
    current = store.get_run(run_id).info
    status = RunStatus.from_string(body.status if body.status else current.status)
    end_time = current.end_time
    if body.end_time is not None:
        end_time = validation.validate_timestamp(body.end_time, "end_time")
    info = store.update_run_info(run_id, status, end_time, body.run_name or None)
    if body.end_time is not None and RunStatus.is_terminated(status):
        # what MLflow's client sends for set_terminated / end_run
        b.emit("run.terminated", run_id, status=RunStatus.to_string(status))
    else:
        b.emit("run.updated", run_id, status=body.status or None, name=body.run_name or None)
    return json_response({"run_info": run_info_json(info)})


@router.post("/runs/delete")
def delete_run(body: RunRef, request: HttpRequest) -> Response:
    """Mark a run deleted → ``{}``."""
    run_id = body.rid()
    b = backend(request)
    b.tracking.delete_run(run_id)
    b.emit("run.deleted", run_id)
    return empty_response()


@router.post("/runs/restore")
def restore_run(body: RunRef, request: HttpRequest) -> Response:
    """Restore a deleted run → ``{}``."""
    run_id = body.rid()
    b = backend(request)
    b.tracking.restore_run(run_id)
    b.emit("run.restored", run_id)
    return empty_response()


@router.get("/runs/get")
def get_run(
    request: HttpRequest, run_id: str | None = None, run_uuid: str | None = None
) -> Response:
    """``?run_id`` → ``{run: {info, data, inputs, outputs}}``."""
    run = backend(request).tracking.get_run(RunRef(run_id=run_id, run_uuid=run_uuid).rid())
    return json_response({"run": run_json(run)})


@router.post("/runs/search")
def search_runs(body: SearchRuns, request: HttpRequest) -> Response:
    """Search runs → ``{runs[], next_page_token}``."""
    ids = [validation.validate_experiment_id(e) for e in body.experiment_ids or ()]
    search = RunSearch.parse(
        ids,
        body.filter or "",
        body.run_view_type,
        1000 if body.max_results is None else body.max_results,
        body.order_by,
        body.page_token,
    )
    found = backend(request).tracking.search_runs(search)
    return runs_response(page("runs", (run_json(r) for r in found), found.token))


@router.post("/runs/log-metric")
def log_metric(body: LogMetric, request: HttpRequest) -> Response:
    """Log one metric point → ``{}``."""
    run_id = body.rid()
    m = body
    metric = validation.validate_metric(
        m.key,
        m.value,
        m.timestamp,
        m.step or 0,
        model_id=m.model_id,
        dataset_name=m.dataset_name,
        dataset_digest=m.dataset_digest,
    )
    backend(request).tracking.log_metric(run_id, metric)
    return empty_response()


@router.post("/runs/log-parameter")
def log_param(body: LogParam, request: HttpRequest) -> Response:
    """Log one param (write-once) → ``{}``."""
    run_id = body.rid()
    required(body.key, "key"), required(body.value, "value")
    backend(request).tracking.log_param(run_id, validation.validate_param(body.key, body.value))
    return empty_response()


@router.post("/runs/set-tag")
def set_tag(body: LogParam, request: HttpRequest) -> Response:
    """Set a run tag → ``{}``."""
    run_id = body.rid()
    required(body.key, "key"), required(body.value, "value")
    backend(request).tracking.set_tag(run_id, validation.validate_tag(body.key, body.value))
    return empty_response()


@router.post("/runs/delete-tag")
def delete_tag(body: LogParam, request: HttpRequest) -> Response:
    """Delete a run tag → ``{}`` (404 when the run has no such tag)."""
    run_id = body.rid()
    required(body.key, "key")
    key = validation.validate_key(body.key, "tag")
    backend(request).tracking.delete_tag(run_id, key)
    return empty_response()


def _check_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    limits = (
        (n_metrics, validation.MAX_METRICS_PER_BATCH, "metrics"),
        (n_params, validation.MAX_PARAMS_TAGS_PER_BATCH, "params"),
        (n_tags, validation.MAX_PARAMS_TAGS_PER_BATCH, "tags"),
        (n_metrics + n_params + n_tags, validation.MAX_ENTITIES_PER_BATCH, "total entities"),
    )
    for count, limit, what in limits:
        if count > limit:
            raise TrackyardError.invalid_parameter_value(
                f"A batch logging request can contain at most {limit} {what}. Got {count} "
                f"{what}. Please split up {what} across multiple requests and try again."
            )


def _batch_from_model(data: Any) -> tuple[str, list[Metric], list[Param], list[RunTag]]:
    """The pydantic path of :func:`log_batch` (any body not in the plain form)."""
    try:
        body = LogBatch.model_validate(data, from_attributes=True)
    except ValidationError as exc:
        raise request_error(list(exc.errors(include_url=False))) from None
    run_id = body.rid()
    _check_batch_limits(len(body.metrics or ()), len(body.params or ()), len(body.tags or ()))
    metrics = [_metric(m) for m in body.metrics or ()]
    params = [Param(p.key, "" if p.value is None else p.value) for p in body.params or ()]
    tags = [RunTag(t.key, "" if t.value is None else t.value) for t in body.tags or ()]
    return run_id, metrics, params, tags


@router.post("/runs/log-batch", openapi_extra=request_body_schema(LogBatch))
def log_batch(body: Annotated[Any, Body()], request: HttpRequest) -> Response:
    """Log metrics, params and tags in one write (MLflow's per-request limits) → ``{}``.

    A body in the plain JSON form is read without pydantic (:mod:`.batch_body`); any other
    is validated by the :class:`LogBatch` model, with the same errors as every route.
    """
    plain = read_plain(body)
    if plain is None:
        run_id, metrics, params, tags = _batch_from_model(body)
    else:
        raw_id, metrics, params, tags = plain
        if not raw_id:
            raise missing("run_id")
        run_id = validation.validate_run_id(raw_id)
        _check_batch_limits(len(metrics), len(params), len(tags))
    m, p, t = validation.validate_batch(metrics, params, tags)
    backend(request).tracking.log_batch(run_id, m, p, t)
    return empty_response()


def _dataset_input(item: DatasetInputIn) -> DatasetInput:
    d = item.dataset

    def text(name: str, required: bool = True) -> str | None:
        value = d.get(name)
        if value is None:
            if required:
                raise missing(f"dataset.{name}")
            return None
        return str(value)

    ds = Dataset(
        name=str(text("name")),
        digest=str(text("digest")),
        source_type=str(text("source_type")),
        source=str(text("source")),
        schema=text("schema", False),
        profile=text("profile", False),
    )
    tags = tuple(InputTag(t.key, t.value or "") for t in item.tags or ())
    return DatasetInput(ds, tags)


@router.post("/runs/log-inputs")
def log_inputs(body: LogInputs, request: HttpRequest) -> Response:
    """Log datasets and logged models a run used → ``{}``."""
    run_id = body.rid()
    client = backend(request).client
    datasets = [_dataset_input(d) for d in body.datasets or ()]
    models = [LoggedModelInput(m.model_id) for m in body.models or ()]
    client.log_inputs(run_id, datasets, models or None)
    return empty_response()


@router.post("/runs/outputs")
def log_outputs(body: LogOutputs, request: HttpRequest) -> Response:
    """Log logged models a run produced → ``{}``."""
    run_id = body.rid()
    models = [LoggedModelOutput(m.model_id, m.step or 0) for m in body.models or ()]
    backend(request).client.log_outputs(run_id, models)
    return empty_response()


@router.get("/metrics/get-history")
def get_metric_history(
    request: HttpRequest,
    run_id: str | None = None,
    run_uuid: str | None = None,
    metric_key: str | None = None,
    page_token: str | None = None,
    max_results: Annotated[int | None, Query()] = None,
) -> Response:
    """``?run_id&metric_key`` → ``{metrics[], next_page_token}`` in history order."""
    rid = RunRef(run_id=run_id, run_uuid=run_uuid).rid()
    if metric_key is None:
        raise missing("metric_key")
    validation.validate_key(metric_key, "metric")
    store = backend(request).tracking
    if not max_results and not page_token:  # MLflow's client sends max_results=0: all
        points = store.get_metric_history(rid, metric_key)
        items = list(points)
        while points.token:  # the whole history, as MLflow's server answers without paging
            points = store.get_metric_history(rid, metric_key, page_token=points.token)
            items.extend(points)
        return json_response(page("metrics", map(metric_json, items), None))
    validation.validate_history_paging(max_results or None, page_token or None)
    points = store.get_metric_history(rid, metric_key, max_results or None, page_token or None)
    return json_response(page("metrics", map(metric_json, points), points.token))
