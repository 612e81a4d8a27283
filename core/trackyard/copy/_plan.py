"""What a copy shares: its two ends, its checkpoint, its report and its progress bar."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import RegistryStore, TrackingStore

__all__ = [
    "Checkpoint",
    "CopyReport",
    "Endpoint",
    "ExperimentPartCopier",
    "Progress",
    "digest",
    "join_uri",
    "pages",
]


def join_uri(base: str, *parts: str) -> str:
    """``base`` with ``parts`` appended as path segments (URIs and paths alike)."""
    return "/".join([base.rstrip("/"), *parts])


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value (what a checkpoint remembers of an entity)."""
    text = json.dumps(value, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of a paged listing: ``fetch(token)`` returns a ``PagedList``."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


@dataclass
class Endpoint:
    """One side of a copy: its tracking and registry stores (registry None if it has none)."""

    uri: str
    tracking: TrackingStore
    registry: RegistryStore | None

    @classmethod
    def open(cls, uri: str, artifact_root: str | None = None) -> Endpoint:
        """Open the stores that serve ``uri`` (the registry store lives at the same URI)."""
        from trackyard.backends import get_registry_store, get_tracking_store

        tracking = get_tracking_store(uri, artifact_root)
        try:
            registry: RegistryStore | None = get_registry_store(uri, uri)
        except TrackyardError:
            registry = None
        return cls(uri, tracking, registry)


class ExperimentPartCopier:
    """Base of the copiers of what an experiment holds besides runs (traces, logged models).

    ``enabled`` says whether both stores declare ``capability``.
    """

    capability = ""

    def __init__(
        self, src: TrackingStore, dst: TrackingStore, checkpoint: Checkpoint, report: CopyReport
    ) -> None:
        self.src = src
        self.dst = dst
        self.checkpoint = checkpoint
        self.report = report
        self.enabled = bool(
            getattr(src.capabilities, self.capability)
            and getattr(dst.capabilities, self.capability)
        )

    @staticmethod
    def imported(write: Callable[[], None]) -> bool:
        """Run an ``import_*`` call; False when the destination cannot import such entities
        (FEATURE_DISABLED, the contract's default), so the caller counts them as skipped.
        """
        try:
            write()
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.FEATURE_DISABLED:
                raise
            return False
        return True

    @staticmethod
    def exists(fetch: Callable[[str], object], ident: str) -> bool:
        """Whether ``fetch(ident)`` finds its entity (False on RESOURCE_DOES_NOT_EXIST)."""
        try:
            fetch(ident)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
            return False
        return True


_WRITTEN = (  # the CopyReport counts that say something was written
    "experiments",
    "runs",
    "runs_updated",
    "metric_points",
    "params",
    "tags",
    "artifacts",
    "registered_models",
    "model_versions",
    "aliases",
    "traces",
    "assessments",
    "logged_models",
)


@dataclass
class CopyReport:
    """What one copy did. ``written`` is zero when the destination already had everything.

    Attributes:
        experiments: experiments created in the destination.
        runs: runs created in the destination.
        runs_updated: existing runs that received new points, params, tags or info.
        runs_unchanged: runs the destination already held as they are.
        metric_points: metric points written.
        params: params written.
        tags: run tags written.
        artifacts: artifact files written.
        artifact_bytes: bytes of those files.
        registered_models: registered models and prompts created.
        model_versions: model versions created.
        aliases: aliases set.
        traces: traces written (with their spans).
        traces_unchanged: traces the destination already held.
        traces_skipped: source traces that could not be copied: the destination keeps no
            traces, or their experiment is deleted.
        assessments: trace assessments written (ids, times and validity kept), to new
            traces and to traces the destination already held.
        assessments_skipped: source assessments that could not be copied: the destination
            keeps or imports none.
        logged_models: logged models written (with tags, params and metric points).
        logged_models_skipped: source logged models that could not be copied: the
            destination keeps or imports none, or their experiment is deleted.
        experiment_map: source experiment id -> destination experiment id.
    """

    # tracking
    experiments: int = 0
    runs: int = 0
    runs_updated: int = 0
    runs_unchanged: int = 0
    # run data
    metric_points: int = 0
    params: int = 0
    tags: int = 0
    # files
    artifacts: int = 0
    artifact_bytes: int = 0
    # registry
    registered_models: int = 0
    model_versions: int = 0
    aliases: int = 0
    # tracing
    traces: int = 0
    traces_unchanged: int = 0
    traces_skipped: int = 0
    assessments: int = 0
    assessments_skipped: int = 0
    logged_models: int = 0
    logged_models_skipped: int = 0
    experiment_map: dict[str, str] = field(default_factory=dict)

    @property
    def written(self) -> int:
        """How many things were written (0 for a copy that found nothing new)."""
        return sum(getattr(self, name) for name in _WRITTEN)

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.experiments} experiments, {self.runs} runs created, {self.runs_updated} "
            f"updated, {self.runs_unchanged} unchanged; {self.metric_points} metric points, "
            f"{self.params} params, {self.tags} tags, {self.artifacts} artifact files "
            f"({self.artifact_bytes} bytes); {self.registered_models} registered models, "
            f"{self.model_versions} versions, {self.aliases} aliases; {self.traces} traces "
            f"({self.traces_skipped} skipped), {self.assessments} assessments "
            f"({self.assessments_skipped} skipped), {self.logged_models} logged models "
            f"({self.logged_models_skipped} skipped)"
        )


class Checkpoint:
    """What earlier copies between the same two stores finished, in a JSON-lines file.

    One record per finished entity, appended and flushed as soon as it is done, so a copy
    that is killed loses at most the entity it was writing (which the next copy compares
    and completes). A torn last line is ignored.
    """

    def __init__(self, path: str | None, src: str, dst: str) -> None:
        self.path = path
        self.done: dict[str, dict[str, str]] = {}
        self._fh: Any = None
        if path is None:
            return
        if os.path.exists(path):
            self._load(path, src, dst)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        if not self.done and os.path.getsize(path) == 0:
            self._write({"kind": "header", "src": _masked(src), "dst": _masked(dst)})

    def _load(self, path: str, src: str, dst: str) -> None:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if number >= len(lines) - 1:
                    break  # the last line, torn by a kill
                raise TrackyardError(
                    f"Checkpoint {path!r} is damaged at line {number}.", ErrorCode.INVALID_STATE
                ) from None
            kind = record.get("kind")
            if kind == "header":
                if (record.get("src"), record.get("dst")) != (_masked(src), _masked(dst)):
                    raise TrackyardError(
                        f"Checkpoint {path!r} belongs to a copy from {record.get('src')!r} to "
                        f"{record.get('dst')!r}, not from {_masked(src)!r} to {_masked(dst)!r}.",
                        ErrorCode.INVALID_PARAMETER_VALUE,
                    )
                continue
            self.done.setdefault(kind, {})[record["id"]] = record["value"]

    def _write(self, record: dict[str, str]) -> None:
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()

    def get(self, kind: str, ident: str) -> str | None:
        """What was recorded for entity ``ident`` of ``kind``, or None."""
        return self.done.get(kind, {}).get(ident)

    def record(self, kind: str, ident: str, value: str) -> None:
        """Remember that entity ``ident`` of ``kind`` is done (``value``: its digest or id)."""
        if self.get(kind, ident) == value:
            return
        self.done.setdefault(kind, {})[ident] = value
        if self._fh is not None:
            self._write({"kind": kind, "id": ident, "value": value})

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _masked(uri: str) -> str:
    from trackyard.uri import mask_credentials

    return mask_credentials(uri)


class Progress:
    """A progress bar on a terminal (tqdm, imported on use); silent otherwise.

    Args:
        enabled: True forces a bar, False none; None shows one when stderr is a terminal
            and tqdm is installed.
    """

    def __init__(self, enabled: bool | None) -> None:
        self._bar: Any = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=0, unit="run", desc="copy", file=sys.stderr)

    def add_total(self, n: int) -> None:
        """Announce ``n`` more items."""
        if self._bar is not None:
            self._bar.total += n
            self._bar.refresh()

    def update(self, n: int = 1) -> None:
        """Mark ``n`` items done."""
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
