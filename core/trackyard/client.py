"""``MlflowClient``: MLflow's client API over whatever stores the URIs select.

The client validates every input, resolves stores through the plugin system and delegates;
it holds no storage logic. Code written against ``mlflow.MlflowClient`` runs unchanged after
``from trackyard import MlflowClient``.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, SupportsFloat, overload

from trackyard import config, validation
from trackyard._analytics_client import AnalyticsClientMixin
from trackyard._artifact_client import ArtifactClientMixin
from trackyard._async_client import AsyncLoggingClientMixin, async_logging_enabled
from trackyard._async_logging import RunOperations
from trackyard._logged_model_client import LoggedModelClientMixin
from trackyard._names import generate_run_name
from trackyard._prompt_client import PromptClientMixin
from trackyard._registry_client import RegistryClientMixin
from trackyard._run_io_client import RunInputsClientMixin
from trackyard._tracing_client import TracingClientMixin
from trackyard._webhook_client import WebhookClientMixin
from trackyard.clock import now_ms
from trackyard.entities import (
    Experiment,
    ExperimentTag,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError, local_path_error

if TYPE_CHECKING:
    from trackyard.stores import ArtifactRepository, TrackingStore

__all__ = ["MlflowClient", "RunOperations"]

_PARENT_RUN_TAG = "mlflow.parentRunId"
_RUN_NAME_TAG = "mlflow.runName"
_USER_TAG = "mlflow.user"


class MlflowClient(
    AsyncLoggingClientMixin,
    AnalyticsClientMixin,
    RegistryClientMixin,
    PromptClientMixin,
    ArtifactClientMixin,
    LoggedModelClientMixin,
    RunInputsClientMixin,
    TracingClientMixin,
    WebhookClientMixin,
):
    """The MLflow client API: experiments, runs, metrics, params, tags and artifacts.

    Args:
        tracking_uri: where runs live, e.g. ``sqlite:///trackyard.db`` or
            ``postgresql://...``. Defaults to :func:`trackyard.get_tracking_uri`.
        registry_uri: where registered models live; defaults to the tracking URI.

    Constructing a client is cheap: stores are resolved on first use and shared per process.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None):
        self._tracking_uri = (
            os.fspath(tracking_uri) if tracking_uri is not None else config.get_tracking_uri()
        )
        self._registry_uri = (
            os.fspath(registry_uri)
            if registry_uri is not None
            else config.get_registry_uri(self._tracking_uri)
        )
        self._store: TrackingStore | None = None

    # -- plumbing --------------------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        """The tracking URI this client uses."""
        return self._tracking_uri

    @property
    def _tracking_store(self) -> TrackingStore:
        store = self._store
        if store is None:
            from trackyard.backends import get_tracking_store

            store = self._store = get_tracking_store(self._tracking_uri)
        return store

    def _emit(self, name: str, entity: Any, /, **data: Any) -> None:
        from trackyard.plugins.events import emit_event

        emit_event(name, entity, self._tracking_uri, data)

    def _artifact_repo(self, run_id: str) -> ArtifactRepository:
        from trackyard.backends import get_artifact_repository

        run = self.get_run(run_id)
        uri = run.info.artifact_uri
        if not uri:
            raise TrackyardError(
                f"Run {run_id!r} has no artifact location.", ErrorCode.INVALID_STATE
            )
        return get_artifact_repository(uri, self._tracking_uri, self._registry_uri)

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> str:
        """Create an experiment and return its id.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS if an experiment (even a deleted one) has
                this name; INVALID_PARAMETER_VALUE for a bad name, location or tag.
        """
        validation.validate_experiment_name(name)
        location = validation.validate_experiment_artifact_location(artifact_location)
        exp_tags = [
            ExperimentTag(*validation.validate_experiment_tag(k, v))
            for k, v in (tags or {}).items()
        ]
        experiment_id = self._tracking_store.create_experiment(name, location, exp_tags)
        self._emit("experiment.created", experiment_id, name=name)
        return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment by id (RESOURCE_DOES_NOT_EXIST if there is none)."""
        return self._tracking_store.get_experiment(validation.validate_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name, or None."""
        if not isinstance(name, str):
            raise TrackyardError.invalid_parameter_value(f"Invalid experiment name: {name!r}")
        return self._tracking_store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """Return one page of experiments matching ``filter_string``, in ``order_by`` order.

        See :mod:`trackyard.search` for the filter grammar. Defaults: 1000 results, newest
        first; the next page's token is in ``result.token``.
        """
        from trackyard.search.request import ExperimentSearch

        request = ExperimentSearch.parse(
            view_type, max_results, filter_string, _order_list(order_by), page_token
        )
        return self._tracking_store.search_experiments(request)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted (its name stays taken)."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        self._tracking_store.delete_experiment(experiment_id)
        self._emit("experiment.deleted", experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and the runs its deletion marked."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        self._tracking_store.restore_experiment(experiment_id)
        self._emit("experiment.restored", experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        validation.validate_experiment_name(new_name)
        self._tracking_store.rename_experiment(experiment_id, new_name)
        self._emit("experiment.renamed", experiment_id, name=new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Set a tag on an experiment."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        k, v = validation.validate_experiment_tag(key, value)
        self._tracking_store.set_experiment_tag(experiment_id, ExperimentTag(k, v))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete a tag from an experiment."""
        experiment_id = validation.validate_experiment_id(experiment_id)
        validation.validate_key(key, "experiment tag")
        self._tracking_store.delete_experiment_tag(experiment_id, key)

    # -- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a run and return it.

        Tags from ``trackyard_run_context`` plugins are added; the built-in one sets what
        MLflow's fluent ``start_run`` sets (MLflow's ``MlflowClient.create_run`` sets none):
        ``mlflow.user`` (also the run's ``user_id``), ``mlflow.source.name``,
        ``mlflow.source.type`` and, for a script in a git checkout,
        ``mlflow.source.git.commit`` / ``.branch`` / ``.repoURL``. The tags you pass win.
        Without a name, one like ``quick-newt-42`` is made up.
        """
        from trackyard.plugins.manager import get_plugin_manager

        experiment_id = validation.validate_experiment_id(experiment_id)
        user_tags = {
            t.key: t.value for t in (validation.validate_tag(k, v) for k, v in (tags or {}).items())
        }
        validation.validate_run_name(run_name, user_tags)
        if start_time is not None:
            start_time = validation.validate_timestamp(start_time, "start_time")
        merged = get_plugin_manager().run_context(experiment_id)
        merged.update(user_tags)
        name = run_name or merged.get(_RUN_NAME_TAG) or generate_run_name()
        merged[_RUN_NAME_TAG] = name
        run_tags = [validation.validate_tag(k, v) for k, v in merged.items()]
        run = self._tracking_store.create_run(
            experiment_id=experiment_id,
            user_id=merged.get(_USER_TAG, "unknown"),
            start_time=now_ms() if start_time is None else start_time,
            tags=run_tags,
            run_name=name,
        )
        self._emit("run.created", run)
        return run

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags."""
        return self._tracking_store.get_run(validation.validate_run_id(run_id))

    def get_parent_run(self, run_id: str) -> Run | None:
        """Return the parent of a nested run (tag ``mlflow.parentRunId``), or None."""
        parent = self.get_run(run_id).data.tags.get(_PARENT_RUN_TAG)
        return self.get_run(parent) if parent else None

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Change a run's status (e.g. ``"FAILED"``) and/or name."""
        run_id = validation.validate_run_id(run_id)
        validation.validate_run_name(name)
        current = self.get_run(run_id).info
        status_value = RunStatus.from_string(status if status is not None else current.status)
        self._tracking_store.update_run_info(run_id, status_value, current.end_time, name)
        self._emit("run.updated", run_id, status=status, name=name)

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        """End a run: status ``FINISHED`` unless given, end time now unless given.

        Asynchronous logging queued so far is written first; failures of this run's queued
        operations that nobody reported yet are raised (after the run has ended) as
        :class:`~trackyard._async_logging.AsyncLoggingError`.
        """
        run_id = validation.validate_run_id(run_id)
        try:
            self._flush_run_async(run_id)
        except TrackyardError as exc:
            failure: TrackyardError | None = exc
        else:
            failure = None
        status_value = RunStatus.from_string(status or "FINISHED")
        if end_time is not None:
            end_time = validation.validate_timestamp(end_time, "end_time")
        end = now_ms() if end_time is None else end_time
        self._tracking_store.update_run_info(run_id, status_value, end, None)
        self._emit("run.terminated", run_id, status=RunStatus.to_string(status_value))
        if failure is not None:
            raise failure

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted."""
        run_id = validation.validate_run_id(run_id)
        self._tracking_store.delete_run(run_id)
        self._emit("run.deleted", run_id)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        run_id = validation.validate_run_id(run_id)
        self._tracking_store.restore_run(run_id)
        self._emit("run.restored", run_id)

    @overload
    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = ...,
        run_view_type: int = ...,
        max_results: int = ...,
        order_by: list[str] | None = ...,
        page_token: str | None = ...,
        output_format: Literal["list"] = ...,
    ) -> PagedList[Run]: ...

    @overload
    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = ...,
        run_view_type: int = ...,
        max_results: int = ...,
        order_by: list[str] | None = ...,
        page_token: str | None = ...,
        *,
        output_format: Literal["pandas", "arrow"],
    ) -> Any: ...

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
        output_format: str = "list",
    ) -> Any:
        """Return one page of runs from ``experiment_ids`` matching ``filter_string``.

        The grammar is MLflow's (``metrics.acc > 0.9 AND params.lr = '0.1'``) plus ``OR`` and
        parentheses; see :mod:`trackyard.search`. Default order: newest first.

        ``output_format="list"`` (the default) returns a ``PagedList[Run]``; ``"pandas"`` or
        ``"arrow"`` return the same page as one table with ``metrics.*``, ``params.*`` and
        ``tags.*`` columns (see :func:`trackyard.analytics.runs_to_pandas`).
        """
        output_format = self._check_output_format(output_format)
        from trackyard.search.request import RunSearch

        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        ids = [validation.validate_experiment_id(e) for e in experiment_ids]
        request = RunSearch.parse(
            ids, filter_string, run_view_type, max_results, _order_list(order_by), page_token
        )
        return self._runs_output(self._tracking_store.search_runs(request), output_format)

    # -- logging ---------------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: SupportsFloat | str | bytes,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> RunOperations | None:
        """Log one metric point (timestamp defaults to now, step to 0).

        ``value`` is converted as MLflow converts it: numbers, booleans, numeric strings
        (``"0.5"``, ``"nan"``) and one-element arrays or tensors are accepted.

        With ``synchronous=False`` (or ``synchronous=None`` and
        ``TRACKYARD_ENABLE_ASYNC_LOGGING``/``MLFLOW_ENABLE_ASYNC_LOGGING`` on) the point is
        queued and a :class:`RunOperations` is returned; see :mod:`trackyard._async_logging`.
        """
        if synchronous is False or (synchronous is None and async_logging_enabled()):
            extra = (
                None
                if dataset_name is None and dataset_digest is None and model_id is None
                else {
                    "model_id": model_id,
                    "dataset_name": dataset_name,
                    "dataset_digest": dataset_digest,
                }
            )
            return self._log_metric_async(run_id, key, value, timestamp, step, extra)
        metric = validation.validate_metric(
            key,
            value,
            now_ms() if timestamp is None else timestamp,
            0 if step is None else step,
            model_id=model_id,
            dataset_name=dataset_name,
            dataset_digest=dataset_digest,
        )
        self._tracking_store.log_metric(validation.validate_run_id(run_id), metric)
        return None

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param (write-once: a different value later is INVALID_PARAMETER_VALUE).

        Returns the value, or a :class:`RunOperations` when logging asynchronously.
        """
        if synchronous is False or (synchronous is None and async_logging_enabled()):
            return self._log_batch_async(run_id, params=[Param(key, value)])
        param = validation.validate_param(key, value)
        self._tracking_store.log_param(validation.validate_run_id(run_id), param)
        return value

    def set_tag(
        self, run_id: str, key: str, value: Any, synchronous: bool | None = None
    ) -> RunOperations | None:
        """Set a tag on a run (``mlflow.runName`` also renames it)."""
        if synchronous is False or (synchronous is None and async_logging_enabled()):
            return self._log_batch_async(run_id, tags=[RunTag(key, value)])
        tag = validation.validate_tag(key, value)
        self._tracking_store.set_tag(validation.validate_run_id(run_id), tag)
        return None

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag from a run (RESOURCE_DOES_NOT_EXIST if it has none)."""
        validation.validate_key(key, "tag")
        self._tracking_store.delete_tag(validation.validate_run_id(run_id), key)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Iterable[Param] = (),
        tags: Iterable[RunTag] = (),
        synchronous: bool | None = None,
    ) -> RunOperations | None:
        """Log many metrics, params and tags at once.

        Any number of items is accepted and written in one transaction on stores that have
        transactions: if any item is invalid or conflicts, nothing is written.
        Asynchronously, the items are validated now and written in batches of MLflow's
        sizes (at most 1000 metrics, 100 params, 100 tags), merged with other queued work.
        """
        if synchronous is False or (synchronous is None and async_logging_enabled()):
            return self._log_batch_async(run_id, metrics, params, tags)
        run_id = validation.validate_run_id(run_id)
        m, p, t = validation.validate_batch(metrics, params, tags)
        if m or p or t:
            self._tracking_store.log_batch(run_id, m, p, t)
        return None

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Return every point logged for one metric, ordered by timestamp then step."""
        run_id = validation.validate_run_id(run_id)
        validation.validate_key(key, "metric")
        store = self._tracking_store
        page = store.get_metric_history(run_id, key)
        points = list(page)
        while page.token:
            page = store.get_metric_history(run_id, key, page_token=page.token)
            points.extend(page)
        return points

    # -- artifacts -------------------------------------------------------------------------
    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Upload a local file or directory to the run's artifacts (under ``artifact_path``).

        Raises:
            LocalFileNotFoundError: ``local_path`` does not exist; it is both a
                :class:`TrackyardError` and a ``FileNotFoundError``, which MLflow raises.
        """
        artifact_path = validation.validate_artifact_path(artifact_path) or None
        local_path = os.fspath(local_path)
        if not os.path.exists(local_path):
            raise local_path_error(errno.ENOENT, local_path)
        repo = self._artifact_repo(run_id)
        if os.path.isdir(local_path):
            name = os.path.basename(os.path.normpath(local_path))
            repo.log_artifacts(
                local_path, posixpath.join(artifact_path, name) if artifact_path else name
            )
        else:
            repo.log_artifact(local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Upload the contents of a local directory to the run's artifacts.

        Raises:
            LocalPathError: ``local_dir`` is missing (a ``FileNotFoundError`` too) or is not a
                directory (a ``NotADirectoryError`` too); MLflow uploads nothing then.
        """
        artifact_path = validation.validate_artifact_path(artifact_path) or None
        local_dir = os.fspath(local_dir)
        if not os.path.isdir(local_dir):
            code = errno.ENOTDIR if os.path.exists(local_dir) else errno.ENOENT
            raise local_path_error(code, local_dir, "log_artifacts() uploads a directory")
        self._artifact_repo(run_id).log_artifacts(local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save ``text`` as the artifact file ``artifact_file`` (UTF-8)."""
        artifact_file = validation.validate_artifact_path(artifact_file, allow_empty=False)
        if not isinstance(text, str):
            raise TrackyardError.invalid_parameter_value(f"log_text needs a str, got {type(text)}")
        self._artifact_repo(run_id).write_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Save a dict as JSON, or YAML when ``artifact_file`` ends in ``.yaml``/``.yml``."""
        artifact_file = validation.validate_artifact_path(artifact_file, allow_empty=False)
        if artifact_file.lower().endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(dictionary, indent=2, default_flow_style=False, sort_keys=False)
        else:
            text = json.dumps(dictionary, indent=2)
        self._artifact_repo(run_id).write_bytes(text.encode("utf-8"), artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """List the direct children of ``path`` in the run's artifacts."""
        path = validation.validate_artifact_path(path) or None
        return self._artifact_repo(run_id).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Download an artifact file or directory and return its local path.

        As in MLflow, what ``path`` names lands in ``dst_path`` under its own name
        (``"model/data"`` gives ``<dst_path>/data``); ``""`` or a trailing ``/`` downloads
        a directory's contents. ``dst_path`` is created if missing (default: a new temporary
        directory). ``run_id`` may also be a ``runs:/`` or ``models:/`` URI, with ``path``
        below what it names; see :func:`trackyard.artifacts.download_artifacts`.
        """
        from trackyard import artifacts

        if isinstance(run_id, str) and run_id.startswith(("runs:", "models:")):
            location = artifacts.locate(self, run_id, path)
        else:
            location = artifacts.locate_run_path(self, validation.validate_run_id(run_id), path)
        return artifacts.download(self, location, dst_path)

    def __repr__(self) -> str:
        from trackyard.uri import mask_credentials

        return f"MlflowClient(tracking_uri={mask_credentials(self._tracking_uri)!r})"


def _order_list(order_by: Sequence[str] | None) -> list[str] | None:
    if order_by is None:
        return None
    if isinstance(order_by, str):
        return [order_by]
    return list(order_by)
