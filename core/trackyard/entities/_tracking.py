"""Tracking entities: experiments, runs, metrics, params, tags, artifacts' file info."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


class PagedList(list[T], Generic[T]):
    """A list of results with ``token``: the page token of the next page, or None."""

    def __init__(self, items: Any = (), token: str | None = None):
        super().__init__(items)
        self.token = token

    def to_list(self) -> list[T]:
        """Return a plain list copy of the items."""
        return list(self)

    def __repr__(self) -> str:
        return f"PagedList({list.__repr__(self)}, token={self.token!r})"


class ViewType:
    """Which lifecycle stages a search returns."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _NAMES: ClassVar[dict[int, str]] = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}

    @classmethod
    def from_string(cls, name: str) -> int:
        """Map ``"active_only"`` (any case) and friends to the constant."""
        by_name = {v: k for k, v in cls._NAMES.items()}
        try:
            return by_name[name.strip().upper()]
        except (KeyError, AttributeError):
            from trackyard.errors import TrackyardError

            raise TrackyardError.invalid_parameter_value(
                f"Invalid view type {name!r}; expected one of {sorted(by_name)}"
            ) from None

    @classmethod
    def to_string(cls, view_type: int) -> str:
        """Map a constant to its name."""
        return cls._NAMES[view_type]

    @classmethod
    def to_lifecycle_stages(cls, view_type: int) -> frozenset[str]:
        """The lifecycle stages a view type selects."""
        if view_type == cls.ACTIVE_ONLY:
            return frozenset({LifecycleStage.ACTIVE})
        if view_type == cls.DELETED_ONLY:
            return frozenset({LifecycleStage.DELETED})
        if view_type == cls.ALL:
            return frozenset({LifecycleStage.ACTIVE, LifecycleStage.DELETED})
        from trackyard.errors import TrackyardError

        raise TrackyardError.invalid_parameter_value(f"Invalid view type {view_type!r}")


class LifecycleStage:
    """Lifecycle stages of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"

    @classmethod
    def is_valid(cls, stage: str) -> bool:
        """Whether ``stage`` is a known lifecycle stage."""
        return stage in (cls.ACTIVE, cls.DELETED)


class RunStatus:
    """Run statuses, with MLflow's integer values (stored as names in SQL, ints in files)."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    _NAMES: ClassVar[dict[int, str]] = {
        1: "RUNNING",
        2: "SCHEDULED",
        3: "FINISHED",
        4: "FAILED",
        5: "KILLED",
    }
    _VALUES: ClassVar[dict[str, int]] = {v: k for k, v in _NAMES.items()}

    @classmethod
    def from_string(cls, status: str) -> int:
        """Map a status name to its integer."""
        try:
            return cls._VALUES[status]
        except (KeyError, TypeError):
            from trackyard.errors import TrackyardError

            raise TrackyardError.invalid_parameter_value(
                f"Invalid run status {status!r}; expected one of {list(cls._VALUES)}"
            ) from None

    @classmethod
    def to_string(cls, status: int) -> str:
        """Map a status integer to its name."""
        return cls._NAMES[status]

    @classmethod
    def is_terminated(cls, status: int) -> bool:
        """Whether the status is final."""
        return status in (cls.FINISHED, cls.FAILED, cls.KILLED)

    @classmethod
    def all_status(cls) -> list[int]:
        """Every status integer."""
        return list(cls._NAMES)


class SourceType:
    """Where a run's code came from (MLflow's integers, used by the file layout)."""

    NOTEBOOK = 1
    JOB = 2
    PROJECT = 3
    LOCAL = 4
    UNKNOWN = 1000

    _NAMES: ClassVar[dict[int, str]] = {
        1: "NOTEBOOK",
        2: "JOB",
        3: "PROJECT",
        4: "LOCAL",
        1000: "UNKNOWN",
    }

    @classmethod
    def to_string(cls, value: int) -> str:
        """Map a source type integer to its name."""
        return cls._NAMES[value]

    @classmethod
    def from_string(cls, name: str) -> int:
        """Map a source type name to its integer (unknown names give UNKNOWN)."""
        return {v: k for k, v in cls._NAMES.items()}.get(name, cls.UNKNOWN)


@dataclass(slots=True)
class Metric:
    """One metric point. ``timestamp`` is epoch milliseconds."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            isinstance(self.value, float)
            and isinstance(other.value, float)
            and math.isnan(self.value)
            and math.isnan(other.value)
        )
        return (
            same_value
            and self.key == other.key
            and self.timestamp == other.timestamp
            and self.step == other.step
            and self.model_id == other.model_id
            and self.dataset_name == other.dataset_name
            and self.dataset_digest == other.dataset_digest
            and self.run_id == other.run_id
        )

    def to_dictionary(self) -> dict[str, Any]:
        """Return the metric as a plain dict, leaving out unset optional fields."""
        d: dict[str, Any] = {
            "key": self.key,
            "value": self.value,
            "timestamp": self.timestamp,
            "step": self.step,
        }
        for name in ("model_id", "dataset_name", "dataset_digest", "run_id"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        return d


@dataclass(slots=True, frozen=True)
class Param:
    """A run parameter. Parameters are write-once."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class RunTag:
    """A run tag."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class ExperimentTag:
    """An experiment tag."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class FileInfo:
    """One artifact: ``path`` relative to the repository root, ``file_size`` None for dirs."""

    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(slots=True)
class Experiment:
    """An experiment. ``tags`` maps key to value."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def to_dictionary(self) -> dict[str, Any]:
        """Return the experiment as a plain dict."""
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "tags": dict(self.tags),
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
        }


@dataclass(slots=True)
class RunInfo:
    """A run's metadata. ``status`` is a name such as ``"RUNNING"``."""

    run_id: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str | None = None
    run_name: str | None = None

    @property
    def run_uuid(self) -> str:
        """Deprecated alias of :attr:`run_id`, as in MLflow."""
        return self.run_id

    def to_dictionary(self) -> dict[str, Any]:
        """Return the run info as a plain dict."""
        return {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "experiment_id": self.experiment_id,
            "run_name": self.run_name,
            "user_id": self.user_id,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "artifact_uri": self.artifact_uri,
            "lifecycle_stage": self.lifecycle_stage,
        }


class RunData:
    """A run's latest metrics, params and tags, each exposed as a dict as in MLflow."""

    __slots__ = ("_metric_objs", "_metric_rows", "_metrics", "_params", "_tags")

    def __init__(
        self,
        metrics: list[Metric] | None = None,
        params: list[Param] | None = None,
        tags: list[RunTag] | None = None,
    ):
        self._metric_objs: list[Metric] | None = list(metrics or ())
        self._metric_rows: Sequence[tuple[str, float, int, int]] = ()
        self._metrics = {m.key: m.value for m in self._metric_objs}
        self._params = {p.key: p.value for p in params or ()}
        self._tags = {t.key: t.value for t in tags or ()}

    @classmethod
    def from_parts(
        cls,
        metric_rows: Sequence[tuple[str, float, int, int]],
        metrics: dict[str, float],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> RunData:
        """Build from ready-made containers, taken as they are (stores' fast path).

        ``metric_rows`` are ``(key, value, timestamp, step)`` of the latest points and
        ``metrics`` maps each of their keys to its value; their :class:`Metric` objects are
        made only if :attr:`metric_objects` is read. The containers are not copied.
        """
        data = cls.__new__(cls)
        data._metric_objs = None
        data._metric_rows = metric_rows
        data._metrics = metrics
        data._params = params
        data._tags = tags
        return data

    @property
    def metrics(self) -> dict[str, float]:
        """Latest value of each metric."""
        return self._metrics

    @property
    def params(self) -> dict[str, str]:
        """Parameters."""
        return self._params

    @property
    def tags(self) -> dict[str, str]:
        """Tags, including system tags such as ``mlflow.runName``."""
        return self._tags

    @property
    def metric_rows(self) -> Sequence[tuple[str, float, int, int]]:
        """The latest point of each key as ``(key, value, timestamp, step)``.

        The same points as :attr:`metric_objects` without making a :class:`Metric` per key
        (a server answering a search of runs with many metrics prints them straight away).
        """
        if self._metric_objs is None or self._metric_rows:
            return self._metric_rows
        return [(m.key, m.value, m.timestamp, m.step) for m in self._metric_objs]

    @property
    def metric_objects(self) -> list[Metric]:
        """The latest :class:`Metric` of each key, with step and timestamp."""
        if self._metric_objs is None:
            self._metric_objs = [Metric(k, v, t, st) for k, v, t, st in self._metric_rows]
        return self._metric_objs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunData):
            return NotImplemented
        return (self.metrics, self.params, self.tags) == (other.metrics, other.params, other.tags)

    def __repr__(self) -> str:
        return f"<RunData: metrics={self.metrics!r}, params={self.params!r}, tags={self.tags!r}>"

    def to_dictionary(self) -> dict[str, Any]:
        """Return the data as plain dicts."""
        return {"metrics": dict(self.metrics), "params": dict(self.params), "tags": dict(self.tags)}


@dataclass(slots=True, frozen=True)
class InputTag:
    """A tag on a run input (e.g. ``mlflow.data.context``)."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class Dataset:
    """A dataset that a run used."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(slots=True, frozen=True)
class DatasetInput:
    """A dataset input of a run, with its input tags."""

    dataset: Dataset
    tags: tuple[InputTag, ...] = ()


@dataclass(slots=True, frozen=True)
class RunInputs:
    """What a run consumed: datasets and models (``LoggedModelInput``)."""

    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[Any, ...] = ()


@dataclass(slots=True, frozen=True)
class RunOutputs:
    """What a run produced: models (``LoggedModelOutput``, with a step)."""

    model_outputs: tuple[Any, ...] = ()


@dataclass(slots=True)
class Run:
    """A run: :attr:`info`, :attr:`data`, :attr:`inputs`, :attr:`outputs`."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def to_dictionary(self) -> dict[str, Any]:
        """Return the run as plain dicts."""
        return {"info": self.info.to_dictionary(), "data": self.data.to_dictionary()}
