"""Imports over REST: the REST stores as destinations of ``trackyard copy``/``sync``.

A trackyard server offers its own import API under ``/api/2.0/trackyard`` (see
:mod:`trackyard_rest.server.imports`) when its stores can import. The REST stores ask once,
on the first read of ``capabilities.imports`` (``GET /api/2.0/trackyard/capabilities``;
nothing is asked when a store is built), and cache the answer: a server without the route
(MLflow's) has no imports, and the copy says why.

Each import method is one request, :meth:`RestImportMixin._import_call`, whose body holds the
entities as MLflow-style JSON; the metric points of ``import_run`` and ``import_run_data`` are
split so that every body stays under the server's limit (the first part goes with the run,
the rest follow as ``import_run_data``). A run split that way is not written in one
transaction: if a later part fails, the copy completes the run on its next pass (it
compares points and writes only the missing ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import (
    Capabilities,
    RegistryStoreMixin,
    TrackingStoreMixin,
    params_and_tags,
)
from trackyard.uri import mask_credentials
from trackyard_rest.client import convert
from trackyard_rest.client.base import explain_rest_error

if TYPE_CHECKING:
    from trackyard.entities import Experiment, LoggedModel, Metric, Run, RunData, RunInfo
    from trackyard.entities.model_registry import ModelVersion, RegisteredModel
    from trackyard.entities.trace_assessment import Assessment
    from trackyard_rest.client.http import RestSession

__all__ = [
    "CAPABILITIES_PATH",
    "IMPORTS_API",
    "RestImportMixin",
    "RestRegistryImportMixin",
    "RestTrackingImportMixin",
    "ServerCapabilities",
    "metric_parts",
]

#: trackyard's own API, beside MLflow's.
EXTENSION_API = "/api/2.0/trackyard/"
#: Where a trackyard server says what it offers.
CAPABILITIES_PATH = EXTENSION_API + "capabilities"
#: The import routes' prefix.
IMPORTS_API = EXTENSION_API + "imports/"
#: Largest body sent, whatever the server accepts (keeps each request a few seconds long).
MAX_PART_BYTES = 4 * 1024 * 1024
_ROOM = 0.9  # of the limit, for the request's other fields and headers

_NO_IMPORTS_WHY = (
    "The server at {uri} offers no trackyard import API ({path}): MLflow's REST API cannot "
    "write runs with their own ids and times, so a lossless copy needs a trackyard server "
    "(`trackyard server`) over a store that can import (every built-in one can); or copy "
    "into the server's backing store directly."
)


@dataclass(frozen=True)
class ServerCapabilities(Capabilities):
    """A REST store's capabilities: ``imports`` is asked of the server on first read.

    The other flags are the store class's own. ``probe`` returns (and caches) whether the
    server offers imports.
    """

    probe: Callable[[], bool] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def over(cls, base: Capabilities, probe: Callable[[], bool]) -> ServerCapabilities:
        """``base``'s flags, with ``imports`` decided by ``probe``."""
        values = {f.name: getattr(base, f.name) for f in fields(Capabilities)}
        return cls(**values, probe=probe)

    def __getattribute__(self, name: str) -> Any:
        if name == "imports":
            probe = object.__getattribute__(self, "probe")
            if probe is not None:
                return probe()
        return object.__getattribute__(self, name)

    def names(self) -> list[str]:
        """Names of the flags that are on (``imports`` left out when the server is down)."""
        try:
            offers = bool(self.imports)
        except TrackyardError:
            offers = False
        return [
            f.name
            for f in fields(Capabilities)
            if (offers if f.name == "imports" else getattr(self, f.name))
        ]


class RestImportMixin:
    """The server probe the REST tracking and registry stores share."""

    session: RestSession
    store_uri: str | None
    #: Which store of the server this is (``"tracking"`` or ``"registry"``).
    import_side = ""
    _server_info: dict[str, Any] | None = None

    def _probe_imports_lazily(self) -> None:
        """Give this store its class's capabilities with ``imports`` asked of the server on
        first read (an instance attribute shadowing the class's)."""
        vars(self)["capabilities"] = ServerCapabilities.over(
            type(self).capabilities,  # type: ignore[attr-defined]
            self._offers_imports,
        )

    def server_info(self) -> dict[str, Any]:
        """The server's ``/api/2.0/trackyard/capabilities`` answer (``{}`` from a server
        without it, such as MLflow's), asked once and cached.

        Raises:
            TrackyardError: when the server cannot be reached or refuses the credentials
                (nothing is cached then).
        """
        info = self._server_info
        if info is None:
            response = self.session.request("GET", CAPABILITIES_PATH, ok_statuses=(404, 405))
            info = {}
            if response.status == 200:
                try:
                    decoded = json.loads(response.data or b"{}")
                except ValueError:
                    decoded = None
                info = decoded if isinstance(decoded, dict) else {}
            self._server_info = info
        return info

    def _offers_imports(self) -> bool:
        offered = self.server_info().get("imports")
        return isinstance(offered, dict) and offered.get(self.import_side) is True

    def _import_call(
        self, method: str, endpoint: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One request to the import API (``endpoint`` under ``imports/``)."""
        return self.session.call(method, IMPORTS_API + endpoint, payload)

    def _part_bytes(self) -> int:
        """How big a body may be: within the server's limit and :data:`MAX_PART_BYTES`."""
        limit = self.server_info().get("max_body_bytes")
        if not isinstance(limit, int) or limit <= 0:
            limit = MAX_PART_BYTES
        return int(min(limit, MAX_PART_BYTES) * _ROOM)

    @classmethod
    def explain_error(cls, exc: BaseException, uri: str) -> str | None:
        """Why a copy into a server is refused, besides the usual REST failures."""
        if isinstance(exc, TrackyardError) and exc.error_code == ErrorCode.FEATURE_DISABLED:
            return _NO_IMPORTS_WHY.format(uri=mask_credentials(uri), path=IMPORTS_API)
        return explain_rest_error(exc, uri)


def metric_parts(
    points: Sequence[Metric], budget: int, first_budget: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """``points`` as JSON lists whose encoded size stays within ``budget`` bytes each
    (``first_budget`` for the first list). Always yields at least one (maybe empty) list.
    """
    part: list[dict[str, Any]] = []
    size = 0
    room = budget if first_budget is None else first_budget
    for point in points:
        item = convert.metric_json(point)
        item_size = len(json.dumps(item, allow_nan=False)) + 1
        if part and size + item_size > room:
            yield part
            part, size, room = [], 0, budget
        part.append(item)
        size += item_size
    yield part


def _message(
    entity: Any, fields: Sequence[str], optional: Sequence[str] = (), **extra: Any
) -> dict[str, Any]:
    """``entity``'s ``fields``, its ``optional`` fields that are set, and ``extra``."""
    d = {name: getattr(entity, name) for name in fields}
    d.update((name, value) for name in optional if (value := getattr(entity, name)) is not None)
    d.update(extra)
    return d


def _tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def experiment_json(exp: Experiment) -> dict[str, Any]:
    """An experiment as MLflow's Experiment message."""
    return _message(
        exp,
        ("experiment_id", "name", "artifact_location", "lifecycle_stage"),
        ("creation_time", "last_update_time"),
        tags=_tags(exp.tags),
    )


def run_info_json(info: RunInfo) -> dict[str, Any]:
    """A run's info as MLflow's RunInfo message."""
    return _message(
        info,
        ("run_id", "experiment_id", "status", "lifecycle_stage"),
        ("user_id", "start_time", "end_time", "artifact_uri", "run_name"),
    )


def run_json(run: Run) -> dict[str, Any]:
    """A run's info, params, tags and dataset inputs as MLflow's Run message."""
    datasets = [convert.dataset_input_json(d) for d in run.inputs.dataset_inputs]
    return {
        "info": run_info_json(run.info),
        "data": {"params": _tags(run.data.params), "tags": _tags(run.data.tags)},
        "inputs": {"dataset_inputs": datasets},
    }


def logged_model_json(model: LoggedModel) -> dict[str, Any]:
    """A logged model with its points as MLflow's LoggedModel message (``{info, data}``)."""
    from trackyard_rest.client.logged_models import status_name

    info = _message(
        model,
        ("model_id", "experiment_id", "name"),
        ("model_type", "source_run_id", "status_message"),
        creation_timestamp_ms=model.creation_timestamp,
        last_updated_timestamp_ms=model.last_updated_timestamp,
        artifact_uri=model.artifact_location,
        status=status_name(model.status),
        tags=_tags(model.tags),
    )
    points = [
        {**convert.metric_json(m), **({"run_id": m.run_id} if m.run_id else {})}
        for m in model.metrics or ()
    ]
    return {"info": info, "data": {"params": _tags(model.params), "metrics": points}}


def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    """A model version as MLflow's ModelVersion message (with trackyard's storage location)."""
    return _message(
        mv,
        ("name", "current_stage", "status"),
        (
            "creation_timestamp",
            "last_updated_timestamp",
            "description",
            "user_id",
            "source",
            "run_id",
            "status_message",
            "run_link",
            "model_id",
            "storage_location",
        ),
        version=str(mv.version),
        tags=_tags(mv.tags),
        aliases=list(mv.aliases),
    )


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    """A registered model (without versions) as MLflow's RegisteredModel message."""
    return _message(
        rm,
        ("name",),
        ("creation_timestamp", "last_updated_timestamp", "description", "deployment_job_id"),
        tags=_tags(rm.tags),
        aliases=[{"alias": a, "version": str(v)} for a, v in rm.aliases.items()],
    )


class RestTrackingImportMixin(RestImportMixin, TrackingStoreMixin):
    """The tracking import contract over a trackyard server's import API."""

    import_side = "tracking"

    def import_experiment(self, experiment: Experiment) -> None:
        """POST imports/experiment."""
        self._import_call("POST", "experiment", {"experiment": experiment_json(experiment)})

    def new_experiment_id(self) -> str:
        """GET imports/new-experiment-id."""
        return str(self._import_call("GET", "new-experiment-id")["experiment_id"])

    def import_artifact_location(self, experiment_id: str) -> str:
        """``<the server's artifact root>/<experiment_id>`` (``mlflow-artifacts:/<id>`` when
        the server proxies artifacts), so copied files go where the server keeps them."""
        root = self.server_info().get("artifact_root")
        if not isinstance(root, str) or not root:
            return super().import_artifact_location(experiment_id)
        return f"{root.rstrip('/')}/{experiment_id}"

    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """POST imports/run with the first points; the rest follow as imports/run-data."""
        head = {"run": run_json(run)}
        budget = self._part_bytes()
        first = budget - len(json.dumps(head, allow_nan=False))
        parts = metric_parts(metrics, budget, max(first, 0))
        self._import_call("POST", "run", {**head, "metrics": next(parts)})
        for part in parts:
            self._import_call("POST", "run-data", {"run_id": run.info.run_id, "metrics": part})

    def import_run_data(self, run_id: str, metrics: Sequence[Metric], data: RunData) -> None:
        """POST imports/run-data: params and tags with the first points, then the rest."""
        params, tags = params_and_tags(data)
        head: dict[str, Any] = {
            "run_id": run_id,
            "params": convert.key_values(params),
            "tags": convert.key_values(tags),
        }
        budget = self._part_bytes()
        first = budget - len(json.dumps(head, allow_nan=False))
        for i, part in enumerate(metric_parts(metrics, budget, max(first, 0))):
            payload = {**head, "metrics": part} if i == 0 else {"run_id": run_id, "metrics": part}
            self._import_call("POST", "run-data", payload)

    def import_run_info(self, info: RunInfo) -> None:
        """POST imports/run-info."""
        self._import_call("POST", "run-info", {"run_info": run_info_json(info)})

    def import_logged_model(self, model: LoggedModel) -> None:
        """POST imports/logged-model (its points in the same request)."""
        self._import_call("POST", "logged-model", {"model": logged_model_json(model)})

    def import_assessment(self, assessment: Assessment) -> None:
        """POST imports/assessment."""
        self._import_call("POST", "assessment", {"assessment": assessment.to_dictionary()})

    def read_metric_points(self, run_id: str, keys: Sequence[str]) -> list[Metric]:
        """POST imports/metric-points (every point at once) when the server offers imports;
        else the contract's default (one metric history at a time)."""
        if not self._offers_imports():
            return super().read_metric_points(run_id, keys)
        try:
            out = self._import_call("POST", "metric-points", {"run_id": run_id, "keys": list(keys)})
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.PERMISSION_DENIED:
                raise
            return super().read_metric_points(run_id, keys)  # not an admin: read as a user
        return [convert.metric(m) for m in out.get("metrics", ())]  # as the store reads them


class RestRegistryImportMixin(RestImportMixin, RegistryStoreMixin):
    """The registry import contract over a trackyard server's import API."""

    import_side = "registry"

    def import_registered_model(self, model: RegisteredModel) -> None:
        """POST imports/registered-model."""
        self._import_call(
            "POST", "registered-model", {"registered_model": registered_model_json(model)}
        )

    def import_model_version(self, version: ModelVersion) -> None:
        """POST imports/model-version."""
        self._import_call("POST", "model-version", {"model_version": model_version_json(version)})
