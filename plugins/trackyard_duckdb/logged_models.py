"""Logged models in the DuckDB store (mixed into the tracking store).

Tables: :mod:`trackyard_duckdb.schema.tracking` (version 2). Every call is one transaction.
A model's metric points keep one point per (key, timestamp, step, run id), the first value
wins, as in MLflow's SQL store; NaN and infinities are kept as themselves, as the store keeps
run metrics. ``log_batch`` checks the models its metrics name before anything is written
(:meth:`DuckDBLoggedModels._check_model_metrics`) and inserts their points in the batch's
transaction (:meth:`DuckDBLoggedModels._record_model_metrics`).

Search compiles the request into one query for the page's ids
(:mod:`trackyard_duckdb._logged_model_search`, with the semantics of trackyard's reference
evaluator), with the page's rows, then the page's tags and params (one query) and points (one
more), in one snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
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
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import logged_model_not_found as model_not_found
from trackyard.stores import now_ms
from trackyard_duckdb._logged_model_search import compile_logged_model_search

if TYPE_CHECKING:
    from trackyard.search.request import LoggedModelSearch
    from trackyard_duckdb._database import Database

__all__ = [
    "DuckDBLoggedModels",
    "insert_logged_model",
    "insert_points",
    "models_from_rows",
    "read_models",
]

MODEL_COLUMNS = (
    "model_id",
    "experiment_id",
    "name",
    "artifact_location",
    "creation_timestamp",
    "last_updated_timestamp",
    "model_type",
    "source_run_id",
    "status",
    "status_message",
    "lifecycle_stage",
)
_COLUMNS = ", ".join(MODEL_COLUMNS)
_POINT_COLUMNS = "model_id, key, value, timestamp, step, run_id, dataset_name, dataset_digest"
_INSERT_POINTS = (
    f"INSERT INTO logged_model_metrics ({_POINT_COLUMNS}) "
    "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), "
    "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
    "unnest(?::VARCHAR[])"
)


def _status(value: Any) -> LoggedModelStatus:
    try:
        return LoggedModelStatus.from_int(int(value))
    except (TrackyardError, TypeError, ValueError):
        return LoggedModelStatus.UNSPECIFIED


def _insert_pairs(cur: Any, table: str, model_id: str, pairs: dict[str, str]) -> None:
    if pairs:
        cur.execute(
            f"INSERT INTO {table} SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [model_id, list(pairs), list(pairs.values())],
        )


def insert_points(cur: Any, points: Iterable[tuple[str, str, Metric]]) -> None:
    """Insert ``(model_id, run_id, metric)`` points; an existing (or repeated) one is kept.

    The existing points are read per model (``model_id = ?`` goes through the index), so the
    cost follows the models written to, not the table.
    """
    seen: dict[tuple[str, str, int, int, str], Metric] = {}
    for model_id, run_id, m in points:
        seen.setdefault((model_id, m.key, m.timestamp, m.step, run_id), m)
    for model_id in sorted({ident[0] for ident in seen}):
        cur.execute(
            "SELECT key, timestamp, step, run_id FROM logged_model_metrics WHERE model_id = ?",
            [model_id],
        )
        for key, ts, step, run_id in cur.fetchall():
            seen.pop((model_id, key, ts, step, run_id), None)
    if not seen:
        return
    idents = list(seen)
    metrics = list(seen.values())
    cur.execute(
        _INSERT_POINTS,
        [
            [i[0] for i in idents],
            [i[1] for i in idents],
            [float(m.value) for m in metrics],
            [i[2] for i in idents],
            [i[3] for i in idents],
            [i[4] for i in idents],
            [m.dataset_name for m in metrics],
            [m.dataset_digest for m in metrics],
        ],
    )


def insert_logged_model(cur: Any, model: LoggedModel, experiment_id: int, stage: str) -> None:
    """Insert a new model row with its tags, params and metric points (the caller writes)."""
    cur.execute(
        f"INSERT INTO logged_models ({_COLUMNS}) VALUES ({', '.join('?' * len(MODEL_COLUMNS))})",
        [
            model.model_id,
            experiment_id,
            model.name,
            model.artifact_location,
            model.creation_timestamp,
            model.last_updated_timestamp,
            model.model_type,
            model.source_run_id,
            model.status.to_int(),
            model.status_message,
            stage,
        ],
    )
    _insert_pairs(cur, "logged_model_tags", model.model_id, model.tags)
    _insert_pairs(cur, "logged_model_params", model.model_id, model.params)
    insert_points(cur, ((model.model_id, m.run_id or "", m) for m in model.metrics or ()))


def read_models(cur: Any, where: str, params: Sequence[Any]) -> list[LoggedModel]:
    """The models whose rows match ``where`` (over ``logged_models``), in model id order."""
    cur.execute(f"SELECT {_COLUMNS} FROM logged_models WHERE {where} ORDER BY model_id", params)
    return models_from_rows(cur, cur.fetchall())


def models_from_rows(cur: Any, rows: Sequence[Sequence[Any]]) -> list[LoggedModel]:
    """Models from ``logged_models`` rows (:data:`MODEL_COLUMNS`), in their order.

    Their tags and params are read in one query, their points in another.
    """
    if not rows:
        return []
    ids = [row[0] for row in rows]
    # one model (a get): an equality the index answers; several (a search): one scan each
    owned, owners = (
        ("model_id = ?", ids[0]) if len(ids) == 1 else ("model_id IN (SELECT unnest(?))", ids)
    )
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    model_params: dict[str, dict[str, str]] = {i: {} for i in ids}
    cur.execute(
        f"SELECT true, model_id, key, value FROM logged_model_tags WHERE {owned} UNION ALL "
        f"SELECT false, model_id, key, value FROM logged_model_params WHERE {owned} "
        "ORDER BY 2, 3",
        [owners, owners],
    )
    for is_tag, model_id, key, value in cur.fetchall():
        (tags if is_tag else model_params)[model_id][key] = value
    points: dict[str, list[Metric]] = {i: [] for i in ids}
    cur.execute(
        f"SELECT {_POINT_COLUMNS} FROM logged_model_metrics WHERE {owned} "
        "ORDER BY model_id, key, timestamp, step, run_id",
        [owners],
    )
    for model_id, key, value, ts, step, run_id, ds_name, ds_digest in cur.fetchall():
        points[model_id].append(
            Metric(
                key,
                float(value),
                int(ts),
                int(step),
                model_id=model_id,
                dataset_name=ds_name,
                dataset_digest=ds_digest,
                run_id=run_id,
            )
        )
    return [
        LoggedModel(
            experiment_id=str(row[1]),
            model_id=row[0],
            name=row[2],
            artifact_location=row[3],
            creation_timestamp=int(row[4]),
            last_updated_timestamp=int(row[5]),
            model_type=row[6],
            source_run_id=row[7],
            status=_status(row[8]),
            status_message=row[9],
            tags=tags[row[0]],
            params=model_params[row[0]],
            metrics=points[row[0]] or None,
        )
        for row in rows
    ]


class DuckDBLoggedModels:
    """The logged-model methods of the DuckDB tracking store."""

    if TYPE_CHECKING:
        _db: Database

        def _active_experiment(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _model_stage(cur: Any, model_id: str, allow_deleted: bool = False) -> str:
        """The lifecycle stage of a model; not-found if absent (or deleted, unless allowed)."""
        cur.execute("SELECT lifecycle_stage FROM logged_models WHERE model_id = ?", [model_id])
        row = cur.fetchone()
        if row is None or (not allow_deleted and row[0] != LifecycleStage.ACTIVE):
            raise model_not_found(model_id)
        return str(row[0])

    @staticmethod
    def _read_model(cur: Any, model_id: str) -> LoggedModel:
        return read_models(cur, "model_id = ?", [model_id])[0]

    def _touch(self, cur: Any, model_id: str, **changes: Any) -> None:
        """Set columns of an active model and its last-updated time."""
        self._model_stage(cur, model_id)
        sets = "".join(f"{column} = ?, " for column in changes)
        cur.execute(
            f"UPDATE logged_models SET {sets}last_updated_timestamp = ? WHERE model_id = ?",
            [*changes.values(), now_ms(), model_id],
        )

    # -- the contract ------------------------------------------------------------------------
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

        model_id = f"m-{uuid.uuid4().hex}"
        tag_map = {t.key: t.value for t in tags or ()}
        param_map = {p.key: p.value for p in params or ()}
        model_name = name or generate_run_name()

        def create(cur: Any) -> LoggedModel:
            row = self._active_experiment(cur, experiment_id)
            now = now_ms()
            model = LoggedModel(
                experiment_id=str(row[0]),
                model_id=model_id,
                name=model_name,
                artifact_location="/".join(
                    [str(row[2]).rstrip("/"), "models", model_id, "artifacts"]
                ),
                creation_timestamp=now,
                last_updated_timestamp=now,
                model_type=model_type,
                source_run_id=source_run_id,
                status=LoggedModelStatus.PENDING,
                tags=tag_map,
                params=param_map,
            )
            insert_logged_model(cur, model, int(row[0]), LifecycleStage.ACTIVE)
            return model

        return self._db.write(create)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """Return a model with its tags, params and metric points."""

        def get(cur: Any) -> LoggedModel:
            self._model_stage(cur, model_id, allow_deleted)
            return self._read_model(cur, model_id)

        return self._db.read(get)

    def search_logged_models(self, request: LoggedModelSearch) -> PagedList[LoggedModel]:
        """One compiled query for the page's ids, then the page's models with their children."""
        ids = []
        for e in dict.fromkeys(request.experiment_ids):
            # only the canonical spelling names an experiment ("01" does not, as elsewhere)
            if e.isascii() and e.isdigit() and (e == "0" or e[0] != "0") and int(e) < 2**63:
                ids.append(int(e))
        if not ids:
            return PagedList([], None)
        sql, params = compile_logged_model_search(request, ids, MODEL_COLUMNS)

        def read(cur: Any) -> PagedList[LoggedModel]:
            cur.execute(sql, params)
            page = request.paged(cur.fetchall())
            return PagedList(models_from_rows(cur, page), page.token)

        return self._db.read(read)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Set a model's status and last-updated time; return the model."""

        def finalize(cur: Any) -> LoggedModel:
            self._touch(cur, model_id, status=status.to_int())
            return self._read_model(cur, model_id)

        return self._db.write(finalize)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """Set tags; the last value of a repeated key wins."""
        tag_map = {t.key: t.value for t in tags}

        def set_tags(cur: Any) -> None:
            self._model_stage(cur, model_id)
            if tag_map:
                cur.execute(
                    "DELETE FROM logged_model_tags WHERE model_id = ? AND key IN "
                    "(SELECT unnest(?::VARCHAR[]))",
                    [model_id, list(tag_map)],
                )
                _insert_pairs(cur, "logged_model_tags", model_id, tag_map)

        self._db.write(set_tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Delete a tag (RESOURCE_DOES_NOT_EXIST if the model or the tag is absent)."""

        def delete(cur: Any) -> None:
            self._model_stage(cur, model_id)
            cur.execute(
                "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ? RETURNING key",
                [model_id, key],
            )
            if not cur.fetchall():
                raise TrackyardError(
                    f"No tag with key {key!r} found for model with ID {model_id!r}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._db.write(delete)

    def delete_logged_model(self, model_id: str) -> None:
        """Mark a model deleted: it disappears from get and search."""
        self._db.write(
            lambda cur: self._touch(cur, model_id, lifecycle_stage=LifecycleStage.DELETED)
        )

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """Add params; a key already set with another value is INVALID_PARAMETER_VALUE."""
        new = {p.key: p.value for p in params}

        def log(cur: Any) -> None:
            self._model_stage(cur, model_id)
            if not new:
                return
            cur.execute(
                "SELECT key, value FROM logged_model_params WHERE model_id = ? AND key IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [model_id, list(new)],
            )
            old = dict(cur.fetchall())
            for key, value in old.items():
                if new[key] != value:
                    raise TrackyardError.invalid_parameter_value(
                        f"Changing param values is not allowed. Param with key={key!r} was "
                        f"already logged with value={value!r} for model ID={model_id!r}."
                    )
            fresh = {k: v for k, v in new.items() if k not in old}
            _insert_pairs(cur, "logged_model_params", model_id, fresh)

        self._db.write(log)

    # -- called by log_batch, inside its transaction ----------------------------------------
    def _check_model_metrics(self, cur: Any, metrics: Sequence[Metric]) -> None:
        """Refuse metrics naming a model that is absent or deleted (before any write)."""
        for model_id in sorted({m.model_id for m in metrics if m.model_id is not None}):
            self._model_stage(cur, model_id)

    @staticmethod
    def _record_model_metrics(cur: Any, run_id: str, metrics: Sequence[Metric]) -> None:
        """Record metrics with a ``model_id`` as points of that model."""
        insert_points(cur, ((m.model_id, run_id, m) for m in metrics if m.model_id is not None))
