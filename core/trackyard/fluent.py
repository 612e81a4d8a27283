"""MLflow's fluent API: ``start_run``, ``log_metric``, ``set_experiment`` ... over ``MlflowClient``.

``import trackyard as mlflow`` runs MLflow-style scripts unchanged::

    import trackyard as mlflow

    mlflow.set_experiment("demo")
    with mlflow.start_run(run_name="baseline"):
        mlflow.log_param("lr", 0.01)
        mlflow.log_metric("loss", 0.25, step=1)

Semantics are MLflow 3.17.2's:

* each thread has its own stack of active runs (a new thread starts with none) and its own
  "last active run"; the active experiment is process-wide;
* ``start_run`` refuses a second run while one is active unless ``nested=True``; a nested run
  gets the ``mlflow.parentRunId`` tag (the active run, or ``parent_run_id=``, which must be the
  active run if there is one);
* ``run_id=`` (or the ``MLFLOW_RUN_ID`` variable, consumed on use) resumes a run;
* the experiment is ``experiment_id=``, else the one set by ``set_experiment``, else
  ``MLFLOW_EXPERIMENT_NAME`` (created if missing) / ``MLFLOW_EXPERIMENT_ID``, else ``"0"``;
* a ``with start_run()`` block ends its run FINISHED, or FAILED when an exception (a
  ``KeyboardInterrupt`` too, as in MLflow) leaves the block; a run still active at interpreter
  exit is ended FINISHED;
* logging functions start a run when none is active.

One difference: logging to the active run goes to the store the run was started in, even
if the tracking URI changed since (MLflow would send it to the new URI, where the run does
not exist); this also keeps environment reads off the hot path.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard import config, validation
from trackyard._async_logging import AsyncLoggingError, RunOperations, flush_all
from trackyard.client import MlflowClient
from trackyard.clock import now_ms
from trackyard.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunTag,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ActiveRun",
    "active_experiment_id",
    "active_run",
    "create_experiment",
    "delete_tag",
    "end_run",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_parent_run",
    "get_run",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_tag",
    "set_tags",
    "start_run",
]

_logger = logging.getLogger("trackyard.fluent")

PARENT_RUN_ID_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
NOTE_TAG = "mlflow.note.content"
SEARCH_MAX_RESULTS = 100_000  # MLflow's default for fluent search_runs
_SEARCH_PAGE = 50_000

_active_experiment_id: str | None = None
_experiment_lock = threading.Lock()


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.last_run_id: str | None = None


_state = _ThreadState()
_clients: dict[tuple[str, str], MlflowClient] = {}


def _client() -> MlflowClient:
    """A client for the tracking and registry URIs in effect now (one per URI pair)."""
    uri = config.get_tracking_uri()
    key = (uri, config.get_registry_uri(uri))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = MlflowClient(tracking_uri=key[0], registry_uri=key[1])
    return client


def _reset() -> None:
    """Forget this thread's runs, the active experiment and the cached clients (tests)."""
    global _active_experiment_id
    _active_experiment_id = None
    _state.stack.clear()
    _state.last_run_id = None
    _clients.clear()


class ActiveRun(Run):
    """The run ``start_run`` returns: a :class:`~trackyard.entities.Run` (as it was when it
    started) that is also a context manager ending the run on exit."""

    def __init__(self, run: Run, client: MlflowClient | None = None) -> None:
        super().__init__(run.info, run.data, run.inputs, run.outputs)
        # Logging to the active run goes to the store it was started in.
        self._client = client or _client()

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool:
        if any(r.info.run_id == self.info.run_id for r in _state.stack):
            status = "FINISHED" if exc_type is None else "FAILED"
            try:
                end_run(status)
            except AsyncLoggingError as exc:
                if exc_type is None:
                    raise
                # The block's own exception goes on; the lost writes are not silent.
                _logger.error("While ending run %s: %s", self.info.run_id, exc)
        return exc_type is None

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id!r}, status={self.info.status!r}>"


# -- runs ---------------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``, and make it this thread's active run.

    Use it as a context manager to end the run (FINISHED, or FAILED on an exception).
    ``log_system_metrics`` is accepted for compatibility; trackyard collects no system
    metrics and says so in a warning when it is true.

    Raises:
        TrackyardError: a run is already active and ``nested`` is false; ``parent_run_id``
            is not the active run; the run, its parent or the experiment is deleted;
            ``description`` and a ``mlflow.note.content`` tag are both given.
    """
    stack = _state.stack
    if experiment_id is not None:
        if isinstance(experiment_id, bool) or not isinstance(experiment_id, (str, int)):
            raise TrackyardError.invalid_parameter_value(
                f"experiment_id must be a str or an int, got {type(experiment_id).__name__}."
            )
        experiment_id = str(experiment_id)
    if stack and not nested:
        raise TrackyardError(
            f"Run with UUID {stack[0].info.run_id} is already active. To start a new run, "
            "first end the current run with mlflow.end_run(). To start a nested run, call "
            "start_run with nested=True",
            ErrorCode.INVALID_STATE,
        )
    client = _client()
    existing = run_id
    if not existing:
        existing = os.environ.pop("MLFLOW_RUN_ID", None) or None
    user_tags = dict(tags or {})
    if description:
        if NOTE_TAG in user_tags:
            raise TrackyardError.invalid_parameter_value(
                f"Description is already set via the tag {NOTE_TAG} in tags. Remove the key "
                f"{NOTE_TAG} from the tags or omit the description."
            )
        user_tags[NOTE_TAG] = description
    if existing:
        run = _resume(client, validation.validate_run_id(existing), run_name, user_tags)
    else:
        run = _create(client, experiment_id, run_name, parent_run_id, user_tags)
    if log_system_metrics:
        _logger.warning("trackyard does not collect system metrics; log_system_metrics ignored.")
    active = ActiveRun(run, client)
    stack.append(active)
    return active


def _resume(client: MlflowClient, run_id: str, run_name: str | None, tags: dict[str, Any]) -> Run:
    run = client.get_run(run_id)
    if _active_experiment_id is not None and _active_experiment_id != run.info.experiment_id:
        raise TrackyardError.invalid_parameter_value(
            f"Cannot start run with ID {run_id} because active experiment ID does not match "
            "environment run ID. Make sure --experiment-name or --experiment-id matches "
            "experiment set with set_experiment(), or just use command-line arguments"
        )
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise TrackyardError.invalid_parameter_value(
            f"Cannot start run with ID {run_id} because it is in the deleted state."
        )
    client.update_run(run_id, status="RUNNING", name=run_name)
    if tags:
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
    return client.get_run(run_id)


def _create(
    client: MlflowClient,
    experiment_id: str | None,
    run_name: str | None,
    parent_run_id: str | None,
    tags: dict[str, Any],
) -> Run:
    stack = _state.stack
    if parent_run_id:
        parent_run_id = validation.validate_run_id(parent_run_id)
        if stack and parent_run_id != stack[-1].info.run_id:
            current = stack[-1].info.run_id
            raise TrackyardError.invalid_parameter_value(
                f"Current run with UUID {current} does not match the specified parent_run_id "
                f"{parent_run_id}. To start a new nested run under the parent run with UUID "
                f"{current}, first end the current run with mlflow.end_run()."
            )
        if client.get_run(parent_run_id).info.lifecycle_stage == LifecycleStage.DELETED:
            raise TrackyardError.invalid_parameter_value(
                f"Cannot start run under parent run with ID {parent_run_id} because it is in "
                "the deleted state."
            )
    elif stack:
        parent_run_id = stack[-1].info.run_id
    if parent_run_id:
        tags[PARENT_RUN_ID_TAG] = parent_run_id
    if run_name:
        tags[RUN_NAME_TAG] = run_name
    exp_id = experiment_id if experiment_id is not None else _experiment_id(client)
    return client.create_run(exp_id, tags=tags, run_name=run_name)


def end_run(status: str = "FINISHED") -> None:
    """End this thread's active run (if any) with ``status``.

    Asynchronous logging queued so far is written first; failures nobody reported yet are
    raised after the run has ended (see :meth:`MlflowClient.set_terminated`).
    """
    stack = _state.stack
    if not stack:
        return
    os.environ.pop("MLFLOW_RUN_ID", None)
    run = stack.pop()
    _state.last_run_id = run.info.run_id
    run._client.set_terminated(run.info.run_id, status)


def active_run() -> ActiveRun | None:
    """This thread's active run, or None."""
    stack = _state.stack
    return stack[-1] if stack else None


def active_experiment_id() -> str | None:
    """The experiment ``set_experiment`` chose in this process, or None."""
    return _active_experiment_id


def last_active_run() -> Run | None:
    """The active run, else the run this thread ended last (fetched afresh), else None."""
    current = active_run()
    if current is not None:
        return current
    last = _state.last_run_id
    return None if last is None else get_run(last)


def get_run(run_id: str) -> Run:
    """Fetch a run."""
    return _client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run, or None."""
    return _client().get_parent_run(run_id)


def _target(run_id: str | None = None) -> tuple[MlflowClient, str]:
    """A client and ``run_id``, else the active run's client and id (starting a run when
    none is active)."""
    if run_id:
        return _client(), run_id
    stack = _state.stack
    active = stack[-1] if stack else start_run()
    return active._client, active.info.run_id


# -- experiments --------------------------------------------------------------------------
def _experiment_id(client: MlflowClient) -> str:
    if _active_experiment_id:
        return _active_experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    env_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if name is not None:
        found = client.get_experiment_by_name(name)
        if found is None:
            return client.create_experiment(name)
        if env_id and env_id != found.experiment_id:
            raise TrackyardError.invalid_parameter_value(
                f"The provided MLFLOW_EXPERIMENT_ID environment variable value `{env_id}` does "
                f"not match the experiment id `{found.experiment_id}` for experiment name "
                f"`{name}`"
            )
        return found.experiment_id
    if env_id is not None:
        try:
            return client.get_experiment(env_id).experiment_id
        except TrackyardError as exc:
            raise TrackyardError.invalid_parameter_value(
                f"The provided MLFLOW_EXPERIMENT_ID environment variable value `{env_id}` does "
                "not exist in the tracking server. Provide a valid experiment_id."
            ) from exc
    return "0"


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment the active one, by name (created if missing) or by id.

    Also sets ``MLFLOW_EXPERIMENT_ID`` so that subprocesses inherit it, as MLflow does.

    Raises:
        TrackyardError: both or neither given; no experiment has the id; it is deleted.
    """
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise TrackyardError.invalid_parameter_value(
            "Must specify exactly one of: `experiment_id` or `experiment_name`."
        )
    client = _client()
    with _experiment_lock:
        if experiment_id is None:
            assert experiment_name is not None
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                _logger.info("Experiment %r does not exist; creating it.", experiment_name)
                try:
                    new_id = client.create_experiment(experiment_name)
                except TrackyardError as exc:
                    if exc.error_code != ErrorCode.RESOURCE_ALREADY_EXISTS:
                        raise
                    experiment = client.get_experiment_by_name(experiment_name)
                    assert experiment is not None
                else:
                    experiment = client.get_experiment(new_id)
        else:
            experiment = client.get_experiment(str(experiment_id))
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise TrackyardError.invalid_parameter_value(
                f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. "
                "You can restore the experiment, or permanently delete the experiment to "
                "create a new one."
            )
        _active_experiment_id = experiment.experiment_id
        os.environ["MLFLOW_EXPERIMENT_ID"] = experiment.experiment_id
    return experiment


def get_experiment(experiment_id: str) -> Experiment:
    """Fetch an experiment by id."""
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """Fetch an experiment by name, or None."""
    return _client().get_experiment_by_name(name)


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    """Create an experiment and return its id."""
    return _client().create_experiment(name, artifact_location, tags)


def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag on the active experiment."""
    _client().set_experiment_tag(_experiment_id(_client()), key, value)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """Every experiment matching ``filter_string`` (all pages, up to ``max_results``)."""
    client = _client()
    found: list[Experiment] = []
    token: str | None = None
    while True:
        left = None if max_results is None else max_results - len(found)
        if left is not None and left <= 0:
            return found
        page = client.search_experiments(
            view_type, min(left or 1000, 1000), filter_string, order_by, token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


# -- logging ------------------------------------------------------------------------------
def _dataset_fields(dataset: Any) -> dict[str, str | None]:
    if dataset is None:
        return {}
    return {"dataset_name": dataset.name, "dataset_digest": dataset.digest}


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> RunOperations | None:
    """Log one metric point to ``run_id`` or the active run."""
    if run_id is None:  # the hot path of a training loop: no keyword dicts
        stack = _state.stack
        active = stack[-1] if stack else start_run()
        client, rid = active._client, active.info.run_id
    else:
        client, rid = _target(run_id)
    if dataset is None:
        return client.log_metric(
            rid, key, value, timestamp, step, synchronous, None, None, model_id
        )
    return client.log_metric(
        rid,
        key,
        value,
        timestamp,
        step,
        synchronous,
        dataset.name,
        dataset.digest,
        model_id,
    )


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> RunOperations | None:
    """Log several metrics at one step and time, in one batch."""
    client, rid = _target(run_id)
    ts = now_ms() if timestamp is None else timestamp
    extra = _dataset_fields(dataset)
    points = [
        Metric(key, value, ts, step or 0, model_id=model_id, **extra)
        for key, value in metrics.items()
    ]
    return client.log_batch(rid, metrics=points, synchronous=synchronous)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param to the active run; return its value (or a ``RunOperations``)."""
    client, rid = _target()
    return client.log_param(rid, key, value, synchronous=synchronous)


def log_params(
    params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None
) -> RunOperations | None:
    """Log several params in one batch."""
    batch = [Param(key, str(value)) for key, value in params.items()]
    client, rid = _target(run_id)
    return client.log_batch(rid, params=batch, synchronous=synchronous)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> RunOperations | None:
    """Set a tag on the active run."""
    client, rid = _target()
    return client.set_tag(rid, key, value, synchronous=synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> RunOperations | None:
    """Set several tags on the active run in one batch."""
    batch = [RunTag(key, str(value)) for key, value in tags.items()]
    client, rid = _target()
    return client.log_batch(rid, tags=batch, synchronous=synchronous)


def delete_tag(key: str) -> None:
    """Delete a tag from the active run."""
    client, rid = _target()
    client.delete_tag(rid, key)


def flush_async_logging() -> None:
    """Write everything logged with ``synchronous=False`` so far, for every store.

    Raises:
        AsyncLoggingError: one error listing each failure not reported yet.
    """
    flush_all()


# -- artifacts ----------------------------------------------------------------------------
def log_artifact(
    local_path: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload a local file or directory to the run's artifacts."""
    client, rid = _target(run_id)
    client.log_artifact(rid, local_path, artifact_path)


def log_artifacts(
    local_dir: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload a directory's contents to the run's artifacts."""
    client, rid = _target(run_id)
    client.log_artifacts(rid, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Save text as an artifact file."""
    client, rid = _target(run_id)
    client.log_text(rid, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict as JSON (or YAML for ``.yaml``/``.yml``)."""
    client, rid = _target(run_id)
    client.log_dict(rid, dictionary, artifact_file)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
) -> None:
    """Save a matplotlib or plotly figure as an artifact of the active run."""
    client, rid = _target()
    client.log_figure(rid, figure, artifact_file, save_kwargs=save_kwargs)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = False,
) -> None:
    """Log an image to the active run, as a file or as a step of the series ``key``."""
    client, rid = _target()
    client.log_image(rid, image, artifact_file, key, step, timestamp, synchronous)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log a DataFrame or dict of columns as a table artifact."""
    client, rid = _target(run_id)
    client.log_table(rid, data, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The artifact URI of the active run (starting one if needed), or of a path in it."""
    client, rid = _target()
    root = client.get_run(rid).info.artifact_uri or ""
    if not artifact_path:
        return root
    return root.rstrip("/") + "/" + validation.validate_artifact_path(artifact_path)


# -- search -------------------------------------------------------------------------------
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> Any:
    """Every run matching ``filter_string`` (all pages, up to ``max_results``).

    Returns a ``pandas.DataFrame`` (MLflow's columns: ``run_id``, ``experiment_id``,
    ``status``, ``artifact_uri``, ``start_time``, ``end_time``, ``metrics.*``, ``params.*``,
    ``tags.*``) for ``output_format="pandas"`` when pandas is installed (else the list, with
    a warning), or a list of runs for ``output_format="list"``. Without experiments, the
    active experiment is searched; ``search_all_experiments`` searches every active one.
    """
    if output_format not in ("pandas", "list"):
        raise TrackyardError.invalid_parameter_value(
            f"Unsupported output format: {output_format}. Supported string values are "
            "'pandas' or 'list'"
        )
    client = _client()
    if experiment_ids and experiment_names:
        raise TrackyardError.invalid_parameter_value(
            "Only experiment_ids or experiment_names can be used, but not both"
        )
    if experiment_names is not None:
        found = (client.get_experiment_by_name(n) for n in experiment_names)
        ids = [e.experiment_id for e in found if e is not None]
    elif experiment_ids:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(ViewType.ACTIVE_ONLY)]
    else:
        ids = [_experiment_id(client)]
    runs: list[Run] = []
    token: str | None = None
    while ids and len(runs) < max_results:
        page = client.search_runs(
            ids,
            filter_string,
            run_view_type,
            min(max_results - len(runs), _SEARCH_PAGE),
            order_by,
            token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return runs
    try:
        from trackyard.analytics import runs_to_pandas

        return runs_to_pandas(runs)
    except ImportError:
        _logger.warning("pandas is not installed: search_runs returns a list of runs.")
        return runs


# -- interpreter exit ---------------------------------------------------------------------
def _end_run_at_exit() -> None:
    try:
        end_run()
    except Exception:
        _logger.exception("trackyard: ending the active run at exit failed")


atexit.register(_end_run_at_exit)
