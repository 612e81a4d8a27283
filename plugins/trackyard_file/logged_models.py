"""Logged models in the file store, in MLflow 3's layout (mixed into ``FileTrackingStore``).

Layout (MLflow's)::

    <experiment>/models/<model_id>/
      meta.yaml        artifact_location, creation_timestamp, experiment_id,
                       last_updated_timestamp, model_id, model_type, name, source_run_id,
                       status (0..3), status_message[, lifecycle_stage]
      metrics/<key>    "<timestamp> <value> <step> <run_id>[ <dataset_name> <dataset_digest>]"
      params/<key>, tags/<key>
      .trackyard.lock  the model's lock (trackyard only; MLflow ignores it)

The artifact location is ``<experiment artifact location>/models/<model_id>/artifacts``.
Model changes happen under the model's lock and replace ``meta.yaml`` atomically; metric
points logged with a ``model_id`` are appended inside the run's ``log_batch`` journal, so a
batch and its model points are written together or not at all. Search loads the models of
the searched experiments and applies the reference evaluator.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    PagedList,
)
from trackyard.entities.logged_model import is_logged_model_id
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import logged_model_not_found as model_not_found
from trackyard.errors import not_active as _not_active
from trackyard.search.logged_model_evaluator import search_logged_models_in_memory
from trackyard.search.request import LoggedModelSearch
from trackyard.stores import now_ms
from trackyard_file._fs import (
    FileLock,
    dump_meta,
    key_parts,
    read_bytes,
    write_atomic,
    writes,
)

if TYPE_CHECKING:
    from trackyard_file._txn import Txn

__all__ = ["FileLoggedModels"]

MODELS = "models"
_META = "meta.yaml"
_LOCK = ".trackyard.lock"


def _status(value: Any) -> LoggedModelStatus:
    try:
        return LoggedModelStatus.from_int(int(value))
    except (TrackyardError, TypeError, ValueError):
        return LoggedModelStatus.UNSPECIFIED


def _metric_lines(run_id: str, points: Sequence[Metric]) -> bytes:
    out = []
    for m in points:
        line = f"{m.timestamp} {m.value} {m.step} {run_id}"
        if (
            m.dataset_name
            and m.dataset_digest
            and len(m.dataset_name.split()) == 1 == len(m.dataset_digest.split())
            and m.dataset_name == m.dataset_name.strip()
            and m.dataset_digest == m.dataset_digest.strip()
        ):
            line += f" {m.dataset_name} {m.dataset_digest}"
        out.append(line + "\n")
    return "".join(out).encode("utf-8")


def _read_points(path: str, key: str, model_id: str) -> list[Metric]:
    try:
        text = read_bytes(path).decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return []
    points: dict[tuple[int, int, str], Metric] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) not in (4, 6):
            continue  # a partial last line, or not a model metric line
        try:
            ts, value, step = int(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            continue
        ident = (ts, step, parts[3])
        if ident in points:
            continue  # the first value of a (timestamp, step, run) wins, as in SQL
        points[ident] = Metric(
            key,
            value,
            ts,
            step,
            model_id=model_id,
            dataset_name=parts[4] if len(parts) == 6 else None,
            dataset_digest=parts[5] if len(parts) == 6 else None,
            run_id=parts[3],
        )
    return list(points.values())


class FileLoggedModels:
    """The logged-model methods of the file tracking store."""

    if TYPE_CHECKING:
        root: str

        def _experiment_dir(self, experiment_id: str) -> str | None: ...
        def _experiment_dirs(self) -> Iterator[tuple[str, str]]: ...
        def _require_experiment(self, experiment_id: str) -> tuple[str, dict[str, Any]]: ...
        def _read_meta(self, path: str) -> dict[str, Any]: ...
        def _read_values(self, base: str, racy_after: int = 0) -> tuple[dict[str, str], bool]: ...

    # -- locating ----------------------------------------------------------------------------
    def _model_dir(self, model_id: str) -> str:
        """The folder of a model (any experiment, ``.trash`` included); not-found otherwise."""
        if not is_logged_model_id(model_id):
            raise model_not_found(model_id)
        cache: dict[str, str] = self.__dict__.setdefault("_model_dirs", {})
        cached = cache.get(model_id)
        if cached is not None and os.path.isfile(os.path.join(cached, _META)):
            return cached
        for _, directory in self._experiment_dirs():
            candidate = os.path.join(directory, MODELS, model_id)
            if os.path.isfile(os.path.join(candidate, _META)):
                cache[model_id] = candidate
                return candidate
        raise model_not_found(model_id)

    def _model_meta(self, model_dir: str, model_id: str, allow_deleted: bool) -> dict[str, Any]:
        try:
            meta = self._read_meta(os.path.join(model_dir, _META))
        except FileNotFoundError:
            raise model_not_found(model_id) from None
        deleted = meta.get("lifecycle_stage") == LifecycleStage.DELETED
        if deleted and not allow_deleted:
            raise model_not_found(model_id)
        return meta

    def _load_model(self, model_dir: str, meta: dict[str, Any]) -> LoggedModel:
        model_id = str(meta.get("model_id"))
        tags, _ = self._read_values(os.path.join(model_dir, "tags"))
        params, _ = self._read_values(os.path.join(model_dir, "params"))
        metrics: list[Metric] = []
        metrics_dir = os.path.join(model_dir, "metrics")
        for dirpath, _dirs, files in os.walk(metrics_dir):
            for name in files:
                path = os.path.join(dirpath, name)
                key = os.path.relpath(path, metrics_dir).replace(os.sep, "/")
                metrics.extend(_read_points(path, key, model_id))
        return LoggedModel(
            experiment_id=str(meta.get("experiment_id")),
            model_id=model_id,
            name=str(meta.get("name")),
            artifact_location=str(meta.get("artifact_location")),
            creation_timestamp=int(meta.get("creation_timestamp") or 0),
            last_updated_timestamp=int(meta.get("last_updated_timestamp") or 0),
            model_type=meta.get("model_type"),
            source_run_id=meta.get("source_run_id"),
            status=_status(meta.get("status")),
            status_message=meta.get("status_message"),
            tags=tags,
            params=params,
            metrics=metrics or None,
        )

    def _write_values(self, base: str, values: dict[str, str], what: str) -> None:
        for key, value in values.items():
            path = os.path.join(base, *key_parts(key, what))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, value.encode("utf-8"))

    # -- the contract ------------------------------------------------------------------------
    @writes
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model in an active experiment."""
        from trackyard.stores import generate_run_name

        exp_dir, exp_meta = self._require_experiment(experiment_id)
        stage = exp_meta.get("lifecycle_stage", LifecycleStage.ACTIVE)
        if stage != LifecycleStage.ACTIVE or os.path.dirname(exp_dir) != self.root:
            raise _not_active("experiment", experiment_id, LifecycleStage.DELETED)
        tag_map = {t.key: t.value for t in tags or ()}
        param_map = {p.key: p.value for p in params or ()}
        for key in tag_map:
            key_parts(key, "tag")
        for key in param_map:
            key_parts(key, "param")
        model_id = f"m-{uuid.uuid4().hex}"
        now = now_ms()
        location = "/".join(
            [str(exp_meta.get("artifact_location")).rstrip("/"), MODELS, model_id, "artifacts"]
        )
        meta = {
            "artifact_location": location,
            "creation_timestamp": now,
            "experiment_id": experiment_id,
            "last_updated_timestamp": now,
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "model_id": model_id,
            "model_type": model_type,
            "name": name or generate_run_name(),
            "source_run_id": source_run_id,
            "status": LoggedModelStatus.PENDING.to_int(),
            "status_message": None,
        }
        model_dir = self._write_model(exp_dir, meta, tag_map, param_map, ())
        return self._load_model(model_dir, meta)

    def _write_model(
        self,
        exp_dir: str,
        meta: dict[str, Any],
        tags: dict[str, str],
        params: dict[str, str],
        metrics: Sequence[Metric],
    ) -> str:
        """Write a model's folder in a staging folder renamed into place; return its path."""
        model_id = str(meta["model_id"])
        model_dir = os.path.join(exp_dir, MODELS, model_id)
        staging = os.path.join(exp_dir, MODELS, f".tmp-{model_id}")
        shutil.rmtree(staging, ignore_errors=True)  # the leftover of an interrupted write
        for sub in ("metrics", "params", "tags"):
            os.makedirs(os.path.join(staging, sub), exist_ok=True)
        self._write_values(os.path.join(staging, "tags"), tags, "tag")
        self._write_values(os.path.join(staging, "params"), params, "param")
        lines: dict[str, list[bytes]] = {}
        for m in metrics:
            lines.setdefault(m.key, []).append(_metric_lines(m.run_id or "", [m]))
        for key, chunks in lines.items():
            path = os.path.join(staging, "metrics", *key_parts(key, "metric"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, b"".join(chunks))
        write_atomic(os.path.join(staging, _META), dump_meta(meta))
        os.rename(staging, model_dir)  # the model appears whole
        return model_dir

    @writes
    def import_logged_model(self, model: LoggedModel) -> None:
        """Write a new model exactly as given, with its tags, params and metric points."""
        exp_dir, _ = self._require_experiment(model.experiment_id)
        try:
            self._model_dir(model.model_id)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
        else:
            raise TrackyardError(
                f"Logged model {model.model_id!r} already exists.",
                ErrorCode.RESOURCE_ALREADY_EXISTS,
            )
        meta = {
            "artifact_location": model.artifact_location,
            "creation_timestamp": model.creation_timestamp,
            "experiment_id": model.experiment_id,
            "last_updated_timestamp": model.last_updated_timestamp,
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "model_id": model.model_id,
            "model_type": model.model_type,
            "name": model.name,
            "source_run_id": model.source_run_id,
            "status": model.status.to_int(),
            "status_message": model.status_message,
        }
        self._write_model(exp_dir, meta, model.tags, model.params, model.metrics or ())

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """Return a model with its tags, params and metric points."""
        model_dir = self._model_dir(model_id)
        return self._load_model(model_dir, self._model_meta(model_dir, model_id, allow_deleted))

    def search_logged_models(self, request: LoggedModelSearch) -> PagedList[LoggedModel]:
        """Load the searched experiments' models and apply the reference evaluator."""
        models = []
        for experiment_id in dict.fromkeys(request.experiment_ids):
            exp_dir = self._experiment_dir(experiment_id)
            if exp_dir is None:
                continue
            base = os.path.join(exp_dir, MODELS)
            try:
                names = sorted(os.listdir(base))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                if not is_logged_model_id(name):
                    continue
                model_dir = os.path.join(base, name)
                try:
                    meta = self._read_meta(os.path.join(model_dir, _META))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if meta.get("lifecycle_stage") == LifecycleStage.DELETED:
                    continue
                models.append(self._load_model(model_dir, meta))
        return search_logged_models_in_memory(models, request)

    def _update_meta(self, model_id: str, **changes: Any) -> LoggedModel:
        model_dir = self._model_dir(model_id)
        with FileLock(os.path.join(model_dir, _LOCK)):
            meta = dict(self._model_meta(model_dir, model_id, False))
            meta.update(changes)
            meta["last_updated_timestamp"] = now_ms()
            write_atomic(os.path.join(model_dir, _META), dump_meta(meta))
        return self._load_model(model_dir, meta)

    @writes
    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Set a model's status."""
        return self._update_meta(model_id, status=status.to_int())

    @writes
    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """Set tags; the last value of a repeated key wins."""
        model_dir = self._model_dir(model_id)
        tag_map = {t.key: t.value for t in tags}
        for key in tag_map:
            key_parts(key, "tag")
        with FileLock(os.path.join(model_dir, _LOCK)):
            self._model_meta(model_dir, model_id, False)
            self._write_values(os.path.join(model_dir, "tags"), tag_map, "tag")

    @writes
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Delete a tag (RESOURCE_DOES_NOT_EXIST if absent)."""
        model_dir = self._model_dir(model_id)
        path = os.path.join(model_dir, "tags", *key_parts(key, "tag"))
        with FileLock(os.path.join(model_dir, _LOCK)):
            self._model_meta(model_dir, model_id, False)
            try:
                os.remove(path)
            except (FileNotFoundError, IsADirectoryError):
                raise TrackyardError(
                    f"No tag with key {key!r} found for model with ID {model_id!r}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                ) from None

    @writes
    def delete_logged_model(self, model_id: str) -> None:
        """Mark a model deleted (``lifecycle_stage: deleted`` in its meta.yaml)."""
        self._update_meta(model_id, lifecycle_stage=LifecycleStage.DELETED)

    @writes
    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """Add params; a key already set with another value is INVALID_PARAMETER_VALUE."""
        model_dir = self._model_dir(model_id)
        new = {p.key: p.value for p in params}
        base = os.path.join(model_dir, "params")
        with FileLock(os.path.join(model_dir, _LOCK)):
            self._model_meta(model_dir, model_id, False)
            for key, value in new.items():
                path = os.path.join(base, *key_parts(key, "param"))
                try:
                    old = read_bytes(path).decode("utf-8")
                except FileNotFoundError:
                    continue
                if old != value:
                    raise TrackyardError.invalid_parameter_value(
                        f"Changing param values is not allowed. Param with key={key!r} was "
                        f"already logged with value={old!r} for model ID={model_id!r}."
                    )
            self._write_values(base, new, "param")

    # -- called by log_batch, before its journal is applied ----------------------------------
    def _plan_model_metrics(self, txn: Txn, run_id: str, metrics: Sequence[Metric]) -> None:
        """Add the model points of ``metrics`` to the batch's journal (unknown model: error)."""
        grouped: dict[tuple[str, str], list[Metric]] = {}
        for m in metrics:
            if m.model_id is not None:
                grouped.setdefault((m.model_id, m.key), []).append(m)
        dirs = {}
        for model_id in sorted({model_id for model_id, _ in grouped}):
            model_dir = self._model_dir(model_id)
            self._model_meta(model_dir, model_id, False)
            dirs[model_id] = model_dir
        for (model_id, key), points in grouped.items():
            path = os.path.join(dirs[model_id], "metrics", *key_parts(key, "metric"))
            txn.append(path, _metric_lines(run_id, points))
