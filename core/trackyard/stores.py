"""Store contracts: abstract base classes every backend implements, and capabilities.

Method names and signatures mirror MLflow's tracking and registry ``AbstractStore`` and its
``ArtifactRepository``. Unlike MLflow's, these are real :mod:`abc` classes: a subclass that
misses an abstract method cannot be instantiated.

Stores receive input that :mod:`trackyard.validation` already checked; they must still refuse
keys or paths that would escape their storage root.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from trackyard._gc_store import DeletedExperiment, DeletedRun, GcStoreMixin, deleted_in_time
from trackyard._import_store import RegistryImportMixin, TrackingImportMixin, params_and_tags
from trackyard._logged_model_store import LoggedModelStoreMixin
from trackyard._run_io_store import RunInputsStoreMixin
from trackyard._webhook_store import WebhookStoreMixin
from trackyard.clock import now_ms
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.analytics import MetricHistories
    from trackyard.entities import (
        Experiment,
        ExperimentTag,
        FileInfo,
        Metric,
        PagedList,
        Param,
        Run,
        RunInfo,
        RunTag,
    )
    from trackyard.entities.model_registry import (
        ModelVersion,
        ModelVersionTag,
        RegisteredModel,
        RegisteredModelTag,
    )
    from trackyard.entities.trace import Span, Trace, TraceInfo
    from trackyard.entities.trace_assessment import Assessment
    from trackyard.search.request import (
        ExperimentSearch,
        ModelVersionSearch,
        RegisteredModelSearch,
        RunSearch,
        TraceSearch,
    )

__all__ = [
    "ArtifactRepository",
    "Capabilities",
    "DeletedExperiment",
    "DeletedRun",
    "ReadOnlyOpen",
    "RegistryStore",
    "RegistryStoreMixin",
    "TrackingStore",
    "TrackingStoreMixin",
    "deleted_in_time",
    "download_destination",
    "generate_run_name",
    "new_run_tags",
    "not_a_file",
    "now_ms",
    "params_and_tags",
    "read_only_open",
    "read_only_opens",
    "unsupported",
]


def generate_run_name() -> str:
    """A random ``adjective-noun-number`` name, as the client gives unnamed runs and models.

    Public for stores that name entities themselves (logged models created directly on a
    store, runs created without a name).
    """
    from trackyard._names import generate_run_name as generate

    return generate()


@dataclass(frozen=True)
class Capabilities:
    """What a store promises beyond the core contract; everything is off unless declared.

    Each flag has a contract and conformance-kit tests that hold a store to it: declare a
    flag only when the store passes them (``trackyard.testing``).

    Attributes:
        transactions: a failed ``log_batch`` writes nothing (tracking stores).
        concurrent_processes: several processes may write to one store at once; the kit
            reopens the store by its URI in other processes and writes from all of them.
        search_or: filters may use ``OR`` and parentheses (a trackyard extension).
        concurrent_versions: concurrent ``create_model_version`` calls on one registered
            model get distinct, gap-free version numbers (registry stores).
        prompts: the registry keeps prompts (registered models tagged as prompts).
        delete_artifacts: ``delete_artifacts`` works (artifact repositories); without it the
            method raises FEATURE_DISABLED.
        logged_models: the tracking store keeps logged models (``create_logged_model`` and
            the rest of :class:`trackyard._logged_model_store.LoggedModelStoreMixin`), and
            records metrics logged with a ``model_id`` as points of that model.
        datasets: the tracking store keeps run inputs and outputs (``log_inputs``,
            ``log_outputs``; ``Run.inputs``/``Run.outputs``) and filters runs on
            ``datasets.``.
        traces: the tracking store keeps traces and their spans (``start_trace``,
            ``log_spans``, ``get_trace``, ``search_traces``, trace tags, ``delete_traces``),
            held to ``trackyard.testing.TraceStoreSuite``.
        assessments: the tracking store keeps assessments of traces (feedback and
            expectations), held to the assessment tests of ``TraceStoreSuite``.
        webhooks: the registry store keeps webhooks (``create_webhook`` and the rest of
            :class:`trackyard._webhook_store.WebhookStoreMixin`), held to
            ``trackyard.testing.webhooks.WebhookChecks``; the client then delivers
            registry events to them.
        gc: the tracking store can list deleted runs and experiments and remove them for
            good (:class:`trackyard._gc_store.GcStoreMixin`), held to
            ``trackyard.testing.gc.GcChecks``; ``trackyard gc`` needs it.
        imports: the store writes entities as they are, ids and times kept
            (``import_experiment``, ``import_run``; ``import_registered_model``,
            ``import_model_version`` for a registry; see
            :class:`trackyard._import_store.TrackingImportMixin`), so it can be the
            destination of :func:`trackyard.copy_store`.
    """

    transactions: bool = False
    concurrent_processes: bool = False
    search_or: bool = False
    concurrent_versions: bool = False
    prompts: bool = False
    delete_artifacts: bool = False
    logged_models: bool = False
    datasets: bool = False
    traces: bool = False
    assessments: bool = False
    webhooks: bool = False
    gc: bool = False
    imports: bool = False

    def names(self) -> list[str]:
        """Names of the capabilities that are on."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass
class ReadOnlyOpen:
    """A request that the stores opened now write nothing; see :func:`read_only_opens`.

    Stores read it with :func:`read_only_open` while they are being constructed.

    Attributes:
        notes: what a normal open would have written, in plain words, one entry per change
            (``"1 trackyard index is missing (...); a normal open creates it"``).
        absent_reason: what is missing, set by :meth:`absent` when the store does not
            exist yet (None otherwise).
    """

    notes: list[str] = field(default_factory=list)
    absent_reason: str | None = None

    def note(self, text: str) -> None:
        """Record something a normal open would have written (and this one did not)."""
        self.notes.append(text)

    def missing_default_experiment(self, experiment_id: object, name: str = "Default") -> None:
        """Note that the ``Default`` experiment, which a normal open creates, is missing."""
        self.note(
            f"the {name} experiment (id {experiment_id}) is missing; a normal open creates it"
        )

    def absent(self, text: str) -> TrackyardError:
        """The error to raise for a store that does not exist yet (a normal open creates it).

        ``text`` says what is missing and what a normal open does about it (``"the database
        file '/data/x.db' does not exist; a normal open creates it"``). It is recorded in
        :attr:`absent_reason`, so a caller can tell "nothing to open yet" from a failure.
        """
        self.absent_reason = text
        return TrackyardError(text[:1].upper() + text[1:] + ".", ErrorCode.RESOURCE_DOES_NOT_EXIST)


_read_only: contextvars.ContextVar[ReadOnlyOpen | None] = contextvars.ContextVar(
    "trackyard_read_only_open", default=None
)


@contextlib.contextmanager
def read_only_opens() -> Iterator[ReadOnlyOpen]:
    """Open stores without writing anything: no file, no schema, no migration, no index.

    Inside the block (in this thread or task), :func:`trackyard.backends.get_tracking_store`
    and ``get_registry_store`` construct a new store on each call, outside the process's
    store cache: the caller closes it. A store class that honours the request (the built-in
    SQL, DuckDB and file stores do) reads :func:`read_only_open` in its constructor and then:

    - creates, migrates or alters nothing where it keeps its data, and inserts no rows (such
      as the ``Default`` experiment);
    - records what a normal open would have done with :meth:`ReadOnlyOpen.note`;
    - raises the error of :meth:`ReadOnlyOpen.absent` when there is nothing to open yet (a
      database that a normal open would create);
    - should refuse writes made through the store afterwards.

    ``trackyard doctor --read-only`` opens the stores it checks this way::

        from trackyard.backends import get_tracking_store
        from trackyard.stores import read_only_opens

        with read_only_opens() as request:
            store = get_tracking_store("sqlite:///trackyard.db")
        print(request.notes)  # e.g. a missing index a normal open would create
        store.close()

    A store class that ignores the request opens as usual (and may write while opening).
    """
    request = ReadOnlyOpen()
    token = _read_only.set(request)
    try:
        yield request
    finally:
        _read_only.reset(token)


def read_only_open() -> ReadOnlyOpen | None:
    """The request of the enclosing :func:`read_only_opens` block, or None (a normal open).

    For store classes: call it in the constructor and, when it is not None, open without
    writing anything (see :func:`read_only_opens`).
    """
    return _read_only.get()


def download_destination(dst_path: str) -> str:
    """Resolve the directory an artifact repository downloads into (symbolic links followed).

    Raises:
        TrackyardError: RESOURCE_DOES_NOT_EXIST when ``dst_path`` does not exist and
            INVALID_PARAMETER_VALUE when it is not a directory (MLflow's codes).
    """
    dst_root = os.path.realpath(dst_path)
    if not os.path.exists(dst_root):
        raise TrackyardError(
            f"The destination path for downloaded artifacts does not exist: {dst_path!r}",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )
    if not os.path.isdir(dst_root):
        raise TrackyardError(
            f"The destination path for downloaded artifacts is not a directory: {dst_path!r}",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return dst_root


def not_a_file(artifact_path: str, where: str) -> TrackyardError:
    """The INVALID_PARAMETER_VALUE error for reading a directory as a file (``where`` is
    the repository's root as it may be shown)."""
    return TrackyardError(
        f"Artifact {artifact_path!r} under {where!r} is a directory, not a file.",
        ErrorCode.INVALID_PARAMETER_VALUE,
    )


def new_run_tags(tags: Sequence[RunTag] | None, run_name: str | None) -> tuple[dict[str, str], str]:
    """Settle a new run's tags and name, as every store must for ``create_run``.

    The client has already done this, but stores are also called directly: a ``run_name``
    that disagrees with an ``mlflow.runName`` tag is INVALID_PARAMETER_VALUE; without either,
    a name is made up. Returns the tags (``mlflow.runName`` included) and the name.
    """
    from trackyard._names import generate_run_name
    from trackyard.validation import validate_run_name_agrees

    tag_map = {t.key: t.value for t in tags or ()}
    validate_run_name_agrees(run_name, tag_map)
    name = run_name or tag_map.get("mlflow.runName") or generate_run_name()
    tag_map["mlflow.runName"] = name
    return tag_map, name


def unsupported(store: object, feature: str) -> TrackyardError:
    """Build the ``FEATURE_DISABLED`` error for a feature a store does not have."""
    return TrackyardError(
        f"{type(store).__name__} does not support {feature}.", ErrorCode.FEATURE_DISABLED
    )


class TrackingStore(
    LoggedModelStoreMixin, RunInputsStoreMixin, GcStoreMixin, TrackingImportMixin, ABC
):
    """Experiments, runs, metrics, params and tags.

    A backend is constructed as ``Store(store_uri=..., artifact_uri=...)``, where
    ``artifact_uri`` is the default artifact root for new experiments. Instances are cached
    per process and shared between threads, so they must be thread-safe.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        self.store_uri = store_uri
        self.artifact_uri = artifact_uri

    # -- experiments -----------------------------------------------------------------------
    @abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """Create an experiment and return its id (RESOURCE_ALREADY_EXISTS if the name is taken)."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment (RESOURCE_DOES_NOT_EXIST if absent)."""

    @abstractmethod
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Return the experiment with this name, active or deleted, or None."""

    @abstractmethod
    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """Return the page of experiments that ``request`` asks for (filter, order, paging).

        ``request`` was parsed and checked by the client (see :mod:`trackyard.search.request`).
        """

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo :meth:`delete_experiment`."""

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment."""

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) an experiment tag."""

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete an experiment tag (RESOURCE_DOES_NOT_EXIST if absent)."""

    # -- runs ------------------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a run in an active experiment; ``tags`` already include system tags."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags."""

    @abstractmethod
    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status, end time and (if not None) name; return the new info."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted."""

    @abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Undo :meth:`delete_run`."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """Write metrics, params and tags to an active run.

        Stores with ``capabilities.transactions`` write all of it or nothing. Identical metric
        rows are idempotent; a param re-logged with a different value is INVALID_PARAMETER_VALUE.
        """

    def log_metric(self, run_id: str, metric: Metric) -> None:
        """Log one metric point (defaults to :meth:`log_batch`)."""
        self.log_batch(run_id, [metric], [], [])

    def log_param(self, run_id: str, param: Param) -> None:
        """Log one param (defaults to :meth:`log_batch`)."""
        self.log_batch(run_id, [], [param], [])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Set one tag (defaults to :meth:`log_batch`)."""
        self.log_batch(run_id, [], [], [tag])

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a run tag (RESOURCE_DOES_NOT_EXIST if absent)."""

    @abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Return every point of one metric ordered by (timestamp, step, value)."""

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], keys: Sequence[str], max_points: int | None = None
    ) -> MetricHistories:
        """Histories of ``keys`` for every run of ``run_ids``, downsampled to ``max_points``.

        The default calls :meth:`get_metric_history` once per series
        (:func:`trackyard.analytics.metric_history_bulk`); stores may answer in one query,
        returning exactly what it returns.
        """
        from trackyard.analytics import metric_history_bulk

        return metric_history_bulk(self, run_ids, keys, max_points)

    @abstractmethod
    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """Return the page of runs that ``request`` asks for (see :mod:`trackyard.search`).

        Only runs of ``request.experiment_ids`` in the stages of ``request.view_type`` match.
        """

    # -- traces (capability ``traces``; these defaults raise FEATURE_DISABLED) ---------------
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        """Record a trace's info (create it, or replace its fields and merge its tags).

        The experiment must exist and be active. Returns the info as stored (with the tags
        the store adds, such as ``mlflow.artifactLocation``).
        """
        raise unsupported(self, "traces")

    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        """Store finished spans of traces of experiment ``location`` (replacing same ids)."""
        raise unsupported(self, "traces")

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """Return a trace's info with its assessments (RESOURCE_DOES_NOT_EXIST if absent)."""
        raise unsupported(self, "traces")

    def get_trace(self, trace_id: str) -> Trace:
        """Return a trace with its spans (ordered by start time) and assessments."""
        raise unsupported(self, "traces")

    def batch_get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """Return the traces of ``trace_ids`` in that order, skipping absent ones.

        This default calls :meth:`get_trace` for each; stores may fetch them at once.
        """
        traces = []
        for trace_id in trace_ids:
            try:
                traces.append(self.get_trace(trace_id))
            except TrackyardError as exc:
                if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                    raise
        return traces

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        """Return the page of trace infos ``request`` asks for (see ``trace_evaluator``)."""
        raise unsupported(self, "traces")

    def search_traces_with_spans(self, request: TraceSearch) -> PagedList[Trace]:
        """Return the page of whole traces (spans and assessments included) ``request`` asks for.

        What ``MlflowClient.search_traces`` returns by default. This default calls
        :meth:`search_traces` then :meth:`batch_get_traces`; stores may do both at once (one
        transaction, each trace's info read once).
        """
        from trackyard.entities import PagedList

        infos = self.search_traces(request)
        return PagedList(self.batch_get_traces([i.trace_id for i in infos]), infos.token)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set (or overwrite) a trace tag."""
        raise unsupported(self, "traces")

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a trace tag (RESOURCE_DOES_NOT_EXIST if absent)."""
        raise unsupported(self, "traces")

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces of one experiment and return how many were deleted.

        Exactly one of ``trace_ids`` (those traces, when they belong to the experiment) and
        ``max_timestamp_millis`` (traces that started at or before it, oldest first, at most
        ``max_traces`` of them) is given; the client checks that.
        """
        raise unsupported(self, "traces")

    # -- assessments (capability ``assessments``) --------------------------------------------
    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new assessment (its id and times are set); if it overrides another, that
        one becomes invalid in the same write. RESOURCE_DOES_NOT_EXIST for a missing trace.
        """
        raise unsupported(self, "assessments")

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        """Return an assessment (``trace_id`` None: look it up by id alone)."""
        raise unsupported(self, "assessments")

    def update_assessment(self, assessment: Assessment) -> Assessment:
        """Replace a stored assessment's mutable fields with ``assessment``'s."""
        raise unsupported(self, "assessments")

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; one it overrode becomes valid again."""
        raise unsupported(self, "assessments")

    @classmethod
    def explain_error(cls, exc: BaseException, uri: str) -> str | None:
        """Say in plain words why ``exc`` happened while opening or using the store at ``uri``.

        ``trackyard doctor`` asks the class that serves a URI before its own generic
        explanations, so a backend can explain its failures (an unreachable server, refused
        credentials, a file that cannot be created) and say what to do. Stores should raise
        errors with the same wording from ordinary calls too.

        Args:
            exc: the exception (its ``__cause__`` chain may hold a driver's error).
            uri: the store URI; it may contain a password, which must never be repeated.

        Returns:
            The explanation, or None when the backend has nothing to say about ``exc``.
        """
        return None

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has made this store unusable (default False: a store that
        stays usable after ``close`` need not override it). The process's store cache
        (:func:`trackyard.backends.get_tracking_store` and ``get_registry_store``) opens a
        new store in place of a closed one."""
        return False


class RegistryStore(WebhookStoreMixin, RegistryImportMixin, ABC):
    """Registered models, model versions, their tags and aliases.

    Constructed as ``Store(store_uri=..., tracking_uri=...)``; cached per process and shared
    between threads. Version numbers are strings in the API, integers in storage; they start
    at 1 per model and are never reused, deleted versions included. Deleted versions
    (stage ``Deleted_Internal``) are invisible to every read.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        self.store_uri = store_uri
        self.tracking_uri = tracking_uri

    # -- registered models -----------------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a model (RESOURCE_ALREADY_EXISTS if the name is taken)."""

    @abstractmethod
    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """Set a model's description."""

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow."""

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases."""

    @abstractmethod
    def search_registered_models(
        self, request: RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        """Return the page of models ``request`` asks for (prompts left out unless asked for)."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model (RESOURCE_DOES_NOT_EXIST if absent)."""

    @abstractmethod
    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Return the newest version per stage (all four stages when ``stages`` is None)."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        """Set a model tag."""

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a model tag."""

    # -- model versions --------------------------------------------------------------------
    @abstractmethod
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
        """Create the next version of a model (concurrent callers get distinct numbers)."""

    @abstractmethod
    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """Set a version's description."""

    @abstractmethod
    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """Move a version to a stage (deprecated in MLflow, kept for compatibility)."""

    @abstractmethod
    def delete_model_version(self, name: str, version: str) -> None:
        """Soft-delete a version: it disappears, its number is never reused, its aliases go."""

    @abstractmethod
    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Return a version (RESOURCE_DOES_NOT_EXIST if absent or deleted)."""

    @abstractmethod
    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Return where a version's files are: its storage location, else its source."""

    @abstractmethod
    def search_model_versions(self, request: ModelVersionSearch) -> PagedList[ModelVersion]:
        """Return the page of versions ``request`` asks for (prompt versions as for models)."""

    @abstractmethod
    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        """Set a version tag."""

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Delete a version tag."""

    # -- aliases ---------------------------------------------------------------------------
    @abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""

    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at."""

    @classmethod
    def explain_error(cls, exc: BaseException, uri: str) -> str | None:
        """As :meth:`TrackingStore.explain_error`, for the registry store serving ``uri``."""
        return None

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""

    @property
    def closed(self) -> bool:
        """As :attr:`TrackingStore.closed`, for a registry store."""
        return False


# Bases for a plugin's store mixins (a class holding some of a store's methods, mixed into
# the store class before the ABC): the store ABC for the type checker, so that the mixin's
# ``self`` has every contract method and its overrides are checked against the contract;
# ``object`` at run time, so that the store class's MRO is unchanged.
if TYPE_CHECKING:
    TrackingStoreMixin = TrackingStore
    RegistryStoreMixin = RegistryStore
else:
    TrackingStoreMixin = RegistryStoreMixin = object


class ArtifactRepository(ABC):
    """Files of one artifact root (a run's artifacts, or any location).

    Constructed as ``Repo(artifact_uri, tracking_uri=None, registry_uri=None)``. Every path
    argument is relative to the root; a path that would leave the root is refused with
    INVALID_PARAMETER_VALUE before anything is written.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(
        self,
        artifact_uri: str,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
    ) -> None:
        self.artifact_uri = artifact_uri
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri

    @abstractmethod
    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Copy one local file into ``artifact_path`` (a directory under the root)."""

    @abstractmethod
    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Copy a local directory's contents into ``artifact_path``."""

    @abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """List the direct children of ``path`` ([] if it is a file or absent)."""

    @abstractmethod
    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        """Download one file to ``local_path`` (its parent directory exists)."""

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write ``data`` as the file ``artifact_file`` (a path relative to the root)."""
        from trackyard.validation import validate_artifact_path

        artifact_file = validate_artifact_path(artifact_file, allow_empty=False)
        directory, name = posixpath.split(artifact_file)
        import tempfile  # lazily: tempfile pulls shutil, bz2 and lzma into every import

        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, name)
            with open(local, "wb") as fh:
                fh.write(data)
            self.log_artifact(local, directory or None)

    @contextlib.contextmanager
    def open_artifact(self, artifact_file: str) -> Iterator[BinaryIO]:
        """Open the file ``artifact_file`` (relative to the root) for reading, in binary.

        A context manager: read the stream in chunks to serve a large file without holding
        it in memory (the tracking server's artifact proxy does). This default downloads the
        file into a temporary directory, removed on exit; repositories that can read in
        place override it.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for an unsafe or empty path, or when the
                path names a directory; RESOURCE_DOES_NOT_EXIST when there is no such file.
        """
        from trackyard.uri import mask_credentials
        from trackyard.validation import validate_artifact_path

        rel = validate_artifact_path(artifact_file, allow_empty=False)
        if self._is_directory(rel):
            raise not_a_file(rel, mask_credentials(self.artifact_uri))
        import tempfile

        with tempfile.TemporaryDirectory(prefix="trackyard-open-") as tmp:
            local = os.path.join(tmp, posixpath.basename(rel))
            self._download_file(rel, local)
            with open(local, "rb") as fh:
                yield fh

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete ``artifact_path`` (or everything) under the root.

        Repositories that implement it declare ``Capabilities(delete_artifacts=True)``; this
        default raises FEATURE_DISABLED.
        """
        raise unsupported(self, "deleting artifacts")

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        """Download a file or directory and return the local path of what was downloaded.

        ``dst_path`` must be an existing directory (a temporary one is made if None). Nothing
        is ever written outside it: every target path is resolved (symlinks included) and
        checked to lie within ``dst_path``.
        """
        from trackyard.validation import validate_artifact_path

        rel = validate_artifact_path(artifact_path)
        if dst_path is None:
            import tempfile

            dst_path = tempfile.mkdtemp(prefix="trackyard-download-")
        dst_root = download_destination(dst_path)

        def local_target(remote: str) -> str:
            target = os.path.realpath(os.path.join(dst_root, *remote.split("/")))
            if target != dst_root and not target.startswith(dst_root + os.sep):
                raise TrackyardError(
                    f"Refusing to download {remote!r}: it would be written outside {dst_path!r}.",
                    ErrorCode.INVALID_PARAMETER_VALUE,
                )
            return target

        def fetch(remote: str) -> None:
            target = local_target(remote)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self._download_file(remote, target)

        def walk(remote_dir: str) -> None:
            target = local_target(remote_dir) if remote_dir else dst_root
            os.makedirs(target, exist_ok=True)
            for info in self.list_artifacts(remote_dir or None):
                child = info.path
                if info.is_dir:
                    walk(child)
                else:
                    fetch(child)

        if rel and not self._is_directory(rel):
            fetch(rel)
            return local_target(rel)
        walk(rel)
        return local_target(rel) if rel else dst_root

    def _is_directory(self, artifact_path: str) -> bool:
        """Whether ``artifact_path`` is a directory (default: it has listed children)."""
        parent = posixpath.dirname(artifact_path)
        for info in self.list_artifacts(parent or None):
            if info.path == artifact_path:
                return info.is_dir
        raise TrackyardError(
            f"Artifact {artifact_path!r} does not exist under {self.artifact_uri!r}.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )
