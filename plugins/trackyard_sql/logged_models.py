"""Logged models in MLflow's ``logged_models*`` tables (mixed into the SQL tracking store).

Rows are MLflow's: ``status`` holds MLflow's integers (0 UNSPECIFIED, 1 PENDING, 2 READY,
3 FAILED), deletion sets ``lifecycle_stage = 'deleted'``, a model's artifact location is
``<experiment location>/models/<model_id>/artifacts``, and metrics logged with a ``model_id``
become ``logged_model_metrics`` rows (NaN stored as 0 and infinities as the largest doubles,
as MLflow stores them there; the first value of a (model, key, timestamp, step, run) wins).

Search compiles the AST of a :class:`~trackyard.search.request.LoggedModelSearch` with the
semantics of :mod:`trackyard.search.logged_model_evaluator`: metric, param and tag terms are
``model_id IN (SELECT ...)`` subqueries (on SQLite six times faster than correlated
``EXISTS`` over 10,000 models, measured), metric order keys a correlated subquery for the
newest point. Metric terms and the candidate models are read from trackyard's own indexes
(:mod:`trackyard_sql.indexes`; the queries state the conditions of those partial indexes).
On SQLite a metric term every match satisfies drives the search instead (its points joined
to the models, grouped and ordered in one step) when the order is on model columns. One
query orders the candidates on their ids and order columns and joins the rows of the page
only; the page's tags, params and metric points follow, one query per table.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
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
from trackyard.errors import ErrorCode, TrackyardError, logged_model_not_found
from trackyard.errors import not_active as _not_active
from trackyard.search import And, Comparison, Entity, Expr, Op, Or, like_matches
from trackyard.search.logged_model_evaluator import has_metric_terms
from trackyard.search.request import LoggedModelSearch
from trackyard.stores import now_ms
from trackyard_sql.database import chunks
from trackyard_sql.indexes import METRIC_INDEX, SEARCH_INDEX
from trackyard_sql.snapshot import remember

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect
    from trackyard_sql.snapshot import SearchSnapshots

__all__ = ["SqlLoggedModels"]

MODEL_COLUMNS = (
    "model_id",
    "experiment_id",
    "name",
    "artifact_location",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "status",
    "lifecycle_stage",
    "model_type",
    "source_run_id",
    "status_message",
)
_DBL_MAX = 1.7976931348623157e308
_STRING_ATTRIBUTES = {
    "model_id": "m.model_id",
    "name": "m.name",
    "source_run_id": "m.source_run_id",
    "model_type": "m.model_type",
}
_NUMERIC_ATTRIBUTES = {
    "creation_timestamp": "m.creation_timestamp_ms",
    "last_updated_timestamp": "m.last_updated_timestamp_ms",
}
# Ranks that sort MLflow's status integers as their names sort (FAILED < PENDING < READY <
# UNSPECIFIED), which is the reference order.
_STATUS_RANK = "CASE m.status WHEN 3 THEN 0 WHEN 1 THEN 1 WHEN 2 THEN 2 WHEN 0 THEN 3 END"
# Order keys whose value may be NULL (sorted last); the other columns are NOT NULL.
_NULLABLE_ORDER_KEYS = frozenset({"status", "model_type", "source_run_id"})
_NUMERIC_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def _stored_value(value: float) -> float:
    if math.isnan(value):
        return 0.0
    if math.isinf(value):
        return _DBL_MAX if value > 0 else -_DBL_MAX
    return value


_STATUS_OF_INT = {s.to_int(): s for s in LoggedModelStatus}


def _status(value: Any) -> LoggedModelStatus:
    status = _STATUS_OF_INT.get(value)
    if status is not None:
        return status
    try:
        return LoggedModelStatus.from_int(int(value))
    except (TrackyardError, TypeError, ValueError):
        return LoggedModelStatus.UNSPECIFIED


class _Compiler:
    """Builds the WHERE condition of a logged-model search (``m`` is the model row)."""

    def __init__(self, d: Dialect, datasets: Sequence[tuple[str, str | None]]) -> None:
        self.d = d
        self.datasets = datasets
        self.params: list[Any] = []

    def dataset_condition(self, alias: str) -> str:
        parts = []
        for name, digest in self.datasets:
            cond = self.d.key_equals(f"{alias}.dataset_name")
            self.params.extend(self.d.key_params(name))
            if digest is not None:
                cond += " AND " + self.d.key_equals(f"{alias}.dataset_digest")
                self.params.extend(self.d.key_params(digest))
            parts.append(f"({cond})")
        return "(" + " OR ".join(parts) + ")"

    def expr(self, e: Expr) -> str:
        if isinstance(e, Comparison):
            return self.comparison(e)
        joiner = " AND " if isinstance(e, And) else " OR "
        assert isinstance(e, (And, Or))
        return "(" + joiner.join(self.expr(item) for item in e.items) + ")"

    def comparison(self, c: Comparison) -> str:
        d = self.d
        if c.entity is Entity.ATTRIBUTE:
            if c.key in _STRING_ATTRIBUTES:
                sql, params = d.compare_text(_STRING_ATTRIBUTES[c.key], c.op.value, c.value)
                self.params.extend(params)
                return sql
            if c.key in _NUMERIC_ATTRIBUTES:
                self.params.append(c.value)
                return f"{_NUMERIC_ATTRIBUTES[c.key]} {_NUMERIC_OPS[c.op]} ?"
            if c.key == "status":
                return self.status(c)
            raise TrackyardError.invalid_parameter_value(
                f"logged models have no searchable attribute {c.key!r}"
            )
        if c.entity is Entity.METRIC:
            return (
                "m.model_id IN (SELECT x.model_id FROM logged_model_metrics x WHERE "
                f"{self.metric_points(c, 'x')})"
            )
        if c.entity in (Entity.PARAM, Entity.TAG):
            table, key_col, value_col = (
                ("logged_model_params", "param_key", "param_value")
                if c.entity is Entity.PARAM
                else ("logged_model_tags", "tag_key", "tag_value")
            )
            self.params.extend(d.key_params(c.key))
            sql, params = d.compare_text(f"k.{value_col}", c.op.value, c.value)
            self.params.extend(params)
            return (
                f"m.model_id IN (SELECT k.model_id FROM {table} k WHERE "
                f"{d.key_equals(f'k.{key_col}')} AND {sql})"
            )
        raise TrackyardError.invalid_parameter_value(
            f"logged models cannot be filtered on {c.entity.value}s"
        )

    def metric_points(self, c: Comparison, alias: str) -> str:
        """The condition on ``logged_model_metrics`` rows ``alias`` that satisfy ``c``."""
        d = self.d
        # The value test first: it is cheaper than the name's and usually rejects more rows
        # of the scan (a third faster on SQLite over 20,000 points, measured).
        cond = (
            f"{alias}.metric_value {_NUMERIC_OPS[c.op]} ? AND "
            f"{d.key_equals(f'{alias}.metric_name')} AND {METRIC_INDEX.marker(alias)}"
        )
        self.params.append(c.value)
        self.params.extend(d.key_params(c.key))
        if self.datasets:
            cond += " AND " + self.dataset_condition(alias)
        return cond

    def status(self, c: Comparison) -> str:
        """Status names compare as strings: find the matching integers in Python."""
        matching = []
        for status in LoggedModelStatus:
            name = str(status)
            value = c.value
            if c.op is Op.EQ:
                ok = name == value
            elif c.op is Op.NE:
                ok = name != value
            elif c.op is Op.LIKE:
                ok = like_matches(name, str(value))
            elif c.op is Op.ILIKE:
                ok = like_matches(name, str(value), case_sensitive=False)
            elif c.op is Op.IN:
                ok = name in tuple(value)  # type: ignore[arg-type]
            elif c.op is Op.NOT_IN:
                ok = name not in tuple(value)  # type: ignore[arg-type]
            else:
                raise TrackyardError.invalid_parameter_value(
                    f"status cannot be compared with {c.op.value}"
                )
            if ok:
                matching.append(status.to_int())
        if not matching:
            return "1 = 0"
        self.params.extend(matching)
        return f"m.status IN ({self.d.marks(len(matching))})"


def _driving_metric_term(e: Expr | None) -> tuple[Comparison | None, Expr | None]:
    """A metric comparison every match must satisfy (top level of ``e``) and the rest of ``e``."""
    if isinstance(e, Comparison) and e.entity is Entity.METRIC:
        return e, None
    if isinstance(e, And):
        for i, item in enumerate(e.items):
            if isinstance(item, Comparison) and item.entity is Entity.METRIC:
                rest = e.items[:i] + e.items[i + 1 :]
                return item, (rest[0] if len(rest) == 1 else And(rest)) if rest else None
    return None, e


# Per model id: tags, params and the arguments of its Metric points, as read; entities are
# built afresh from them for every call.
_Children = tuple[
    dict[str, dict[str, str]], dict[str, dict[str, str]], dict[str, list[tuple[Any, ...]]]
]


def _build_models(rows: Sequence[Sequence[Any]], children: _Children) -> list[LoggedModel]:
    """New :class:`LoggedModel` objects from model rows and their children."""
    tags, params, metrics = children
    out = []
    for r in rows:
        mid = r[0]
        points = [Metric(*point) for point in metrics[mid]]
        out.append(
            LoggedModel(
                experiment_id=str(r[1]),
                model_id=mid,
                name=r[2],
                artifact_location=r[3],
                creation_timestamp=int(r[4]),
                last_updated_timestamp=int(r[5]),
                status=_status(r[6]),
                model_type=r[8],
                source_run_id=r[9],
                status_message=r[10],
                tags=dict(tags[mid]),
                params=dict(params[mid]),
                metrics=points or None,
            )
        )
    return out


class SqlLoggedModels:
    """The logged-model methods of the SQL tracking store."""

    _db: Database
    _dialect: Dialect
    _snapshots: SearchSnapshots | None

    if TYPE_CHECKING:

        def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...

    # -- helpers ---------------------------------------------------------------------------
    def _model_row(self, cur: Any, model_id: str, allow_deleted: bool = False) -> tuple[Any, ...]:
        d = self._dialect
        cur.execute(
            d.sql(
                f"SELECT {', '.join(MODEL_COLUMNS)} FROM logged_models "
                f"WHERE {d.key_equals('model_id')}"
            ),
            d.key_params(model_id),
        )
        row = cur.fetchone()
        if row is None or (not allow_deleted and row[7] == LifecycleStage.DELETED):
            raise logged_model_not_found(model_id)
        return tuple(row)

    def _load_models(self, cur: Any, rows: Sequence[Sequence[Any]]) -> list[LoggedModel]:
        return _build_models(rows, self._fetch_children(cur, [r[0] for r in rows]))

    def _fetch_children(self, cur: Any, ids: Sequence[str]) -> _Children:
        """The tags, params and metric points of models ``ids`` (one query per table)."""
        d = self._dialect
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, list[tuple[Any, ...]]] = {i: [] for i in ids}
        for chunk in chunks(ids, 500):
            marks = d.marks(len(chunk))
            cur.execute(
                d.sql(
                    f"SELECT model_id, tag_key, tag_value FROM logged_model_tags "
                    f"WHERE model_id IN ({marks})"
                ),
                chunk,
            )
            for mid, k, v in cur.fetchall():
                tags[mid][k] = v
            cur.execute(
                d.sql(
                    f"SELECT model_id, param_key, param_value FROM logged_model_params "
                    f"WHERE model_id IN ({marks})"
                ),
                chunk,
            )
            for mid, k, v in cur.fetchall():
                params[mid][k] = v
            cur.execute(
                d.sql(
                    # The columns in the order of Metric's arguments: SQLite's rows are used
                    # as they come (other drivers may return decimals or a NULL value).
                    "SELECT metric_name, metric_value, metric_timestamp_ms, metric_step, "
                    "model_id, dataset_name, dataset_digest, run_id FROM "
                    f"logged_model_metrics WHERE model_id IN ({marks}) "
                    "ORDER BY metric_timestamp_ms, metric_step, metric_name"
                ),
                chunk,
            )
            for point in cur.fetchall():
                if type(point[1]) is not float or type(point[2]) is not int:
                    k, v, ts, step, mid, dname, ddigest, rid = point
                    value = float(v) if v is not None else 0.0
                    point = (k, value, int(ts), int(step), mid, dname, ddigest, rid)
                metrics[point[4]].append(point)
        return tags, params, metrics

    def _write_model_params(
        self, cur: Any, model_id: str, experiment_id: Any, params: dict[str, str]
    ) -> None:
        d = self._dialect
        if not params:
            return
        cur.execute(
            d.sql("SELECT param_key, param_value FROM logged_model_params WHERE model_id = ?"),
            (model_id,),
        )
        old = {k: v for k, v in cur.fetchall()}
        rows = []
        for key, value in sorted(params.items()):
            self._db.check_width("logged_model_params", "param_key", key, "model param key")
            if key in old:
                if old[key] != value:
                    raise TrackyardError.invalid_parameter_value(
                        f"Changing param values is not allowed. Param with key={key!r} was "
                        f"already logged with value={old[key]!r} for model ID={model_id!r}."
                    )
                continue
            rows.append((model_id, experiment_id, key, value))
        if rows:
            cur.executemany(
                d.sql(
                    "INSERT INTO logged_model_params (model_id, experiment_id, param_key, "
                    "param_value) VALUES (?, ?, ?, ?)"
                ),
                rows,
            )

    def _write_model_tags(
        self, cur: Any, model_id: str, experiment_id: Any, tags: dict[str, str]
    ) -> None:
        d = self._dialect
        for key, value in sorted(tags.items()):
            self._db.check_width("logged_model_tags", "tag_key", key, "model tag key")
            cur.execute(
                d.sql(
                    "DELETE FROM logged_model_tags WHERE model_id = ? AND "
                    + d.key_equals("tag_key")
                ),
                (model_id, *d.key_params(key)),
            )
            cur.execute(
                d.sql(
                    "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, "
                    "tag_value) VALUES (?, ?, ?, ?)"
                ),
                (model_id, experiment_id, key, value),
            )

    # -- the contract ----------------------------------------------------------------------
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

        d = self._dialect
        model_id = f"m-{uuid.uuid4().hex}"
        name = name or generate_run_name()
        self._db.check_width("logged_models", "name", name, "logged model name")
        self._db.check_width("logged_models", "model_type", model_type, "logged model type")
        tag_map = {t.key: t.value for t in tags or ()}
        param_map = {p.key: p.value for p in params or ()}
        now = now_ms()

        def create(cur: Any) -> LoggedModel:
            exp = self._experiment_row(cur, experiment_id)
            if exp[3] != LifecycleStage.ACTIVE:
                raise _not_active("experiment", experiment_id, exp[3])
            location = "/".join([str(exp[2]).rstrip("/"), "models", model_id, "artifacts"])
            self._db.check_width(
                "logged_models", "artifact_location", location, "logged model artifact location"
            )
            row = (
                model_id,
                exp[0],
                name,
                location,
                now,
                now,
                LoggedModelStatus.PENDING.to_int(),
                LifecycleStage.ACTIVE,
                model_type,
                source_run_id,
                None,
            )
            cur.execute(
                d.sql(
                    f"INSERT INTO logged_models ({', '.join(MODEL_COLUMNS)}) "
                    f"VALUES ({d.marks(len(MODEL_COLUMNS))})"
                ),
                row,
            )
            self._write_model_tags(cur, model_id, exp[0], tag_map)
            self._write_model_params(cur, model_id, exp[0], param_map)
            return self._load_models(cur, [row])[0]

        return self._db.write(create)

    def import_logged_model(self, model: LoggedModel) -> None:
        """Write a new model exactly as given, with its tags, params and metric points."""
        d = self._dialect
        self._db.check_width("logged_models", "name", model.name, "logged model name")
        by_run: dict[str, list[Metric]] = {}
        for m in model.metrics or ():
            by_run.setdefault(m.run_id or "", []).append(m)

        def write(cur: Any) -> None:
            exp = self._experiment_row(cur, model.experiment_id)
            cur.execute(d.sql("SELECT 1 FROM logged_models WHERE model_id = ?"), (model.model_id,))
            if cur.fetchone() is not None:
                raise TrackyardError(
                    f"Logged model {model.model_id!r} already exists.",
                    ErrorCode.RESOURCE_ALREADY_EXISTS,
                )
            row = (
                model.model_id,
                exp[0],
                model.name,
                model.artifact_location,
                model.creation_timestamp,
                model.last_updated_timestamp,
                model.status.to_int(),
                LifecycleStage.ACTIVE,
                model.model_type,
                model.source_run_id,
                model.status_message,
            )
            cur.execute(
                d.sql(
                    f"INSERT INTO logged_models ({', '.join(MODEL_COLUMNS)}) "
                    f"VALUES ({d.marks(len(MODEL_COLUMNS))})"
                ),
                row,
            )
            self._write_model_tags(cur, model.model_id, exp[0], model.tags)
            self._write_model_params(cur, model.model_id, exp[0], model.params)
            for run_id, points in by_run.items():
                self._write_model_metrics(cur, run_id, points)

        self._db.write(write)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """Return a model with its tags, params and metric points."""
        return self._db.read(
            lambda cur: self._load_models(cur, [self._model_row(cur, model_id, allow_deleted)])[0]
        )

    def search_logged_models(self, request: LoggedModelSearch) -> PagedList[LoggedModel]:
        """Compile and run a logged-model search (the page's rows, then one query per table).

        On SQLite, a search repeated while nothing was written is served from the
        connection's search snapshot (:mod:`trackyard_sql.snapshot`).
        """
        d = self._dialect
        ids = []
        for e in request.experiment_ids:
            if e.isascii() and e.isdigit() and (e == "0" or not e.startswith("0")):
                ids.append(int(e))
        if not ids:
            return PagedList([], None)
        # On SQLite, a metric comparison that every match satisfies drives the search: its
        # points join the models, grouped (one row a model) and ordered in one step, which
        # spares the list of candidate ids an IN subquery builds (30% faster over 10,000
        # models, measured). Only for orders on model columns: a metric order key would be
        # computed for every point before the grouping.
        driver, rest = None, request.filter
        if d.is_sqlite and all(
            k.entity is Entity.ATTRIBUTE and k.key != "status" for k in request.order_by
        ):
            driver, rest = _driving_metric_term(request.filter)
        compiler = _Compiler(d, request.datasets)
        where = []
        if driver is not None:
            where.append(compiler.metric_points(driver, "x0"))
        where += [
            "m.lifecycle_stage = ?",
            f"m.experiment_id IN ({d.marks(len(ids))})",
            SEARCH_INDEX.marker("m"),
        ]
        params: list[Any] = [*compiler.params, LifecycleStage.ACTIVE, *ids]
        compiler.params.clear()
        if rest is not None:
            where.append(compiler.expr(rest))
        if request.datasets and not has_metric_terms(request.filter):
            cond = compiler.dataset_condition("x")
            where.append(
                f"m.model_id IN (SELECT x.model_id FROM logged_model_metrics x WHERE {cond})"
            )
        params.extend(compiler.params)
        # The candidates are ordered on the ids and the columns the order needs only (on
        # SQLite an index covers the default order); the page's rows are joined to the ids
        # that survive the limit, then the page's children follow, one query per table.
        select_extra: list[str] = ["m.model_id"]
        extra_params: list[Any] = []
        # (column of the ordered ids, direction, may be NULL, compared as text)
        keys: list[tuple[str, str, bool, bool]] = []
        for i, key in enumerate(request.order_by):
            direction = "ASC" if key.ascending else "DESC"
            if key.entity is Entity.METRIC:
                alias = f"o{i}"
                cond = d.key_equals("x.metric_name")
                extra_params.extend(d.key_params(key.key))
                name = getattr(key, "dataset_name", None)
                digest = getattr(key, "dataset_digest", None)
                if name is not None:
                    cond += " AND " + d.key_equals("x.dataset_name")
                    extra_params.extend(d.key_params(name))
                if digest is not None:
                    cond += " AND " + d.key_equals("x.dataset_digest")
                    extra_params.extend(d.key_params(digest))
                select_extra.append(
                    "(SELECT x.metric_value FROM logged_model_metrics x WHERE "
                    f"x.model_id = m.model_id AND {cond} ORDER BY x.metric_timestamp_ms DESC, "
                    f"x.metric_step DESC, {d.order_text('x.run_id')} ASC LIMIT 1) AS {alias}"
                )
                keys.append((alias, direction, True, False))
            elif key.key == "status":
                select_extra.append(f"{_STATUS_RANK} AS o{i}")
                keys.append((f"o{i}", direction, True, False))
            elif key.key in _NUMERIC_ATTRIBUTES or key.key in _STRING_ATTRIBUTES:
                attribute = _NUMERIC_ATTRIBUTES.get(key.key) or _STRING_ATTRIBUTES[key.key]
                if attribute not in select_extra:
                    select_extra.append(attribute)
                keys.append(
                    (
                        attribute[2:],
                        direction,
                        key.key in _NULLABLE_ORDER_KEYS,
                        key.key in _STRING_ATTRIBUTES,
                    )
                )
            else:
                raise TrackyardError.invalid_parameter_value(
                    f"logged models cannot be ordered by {key.key!r}"
                )

        def order(alias: str) -> str:
            terms = []
            for column, direction, nullable, text in keys:
                column = f"{alias}.{column}"
                if nullable:
                    terms.append(f"CASE WHEN {column} IS NULL THEN 1 ELSE 0 END")
                terms.append(f"{d.order_text(column) if text else column} {direction}")
            return ", ".join(terms)

        paging, paging_params = d.limit_offset(request.max_results + 1, request.offset)
        if driver is not None:
            group = dict.fromkeys([*(f"m.{k[0]}" for k in keys), "m.model_id"])
            page_ids = (
                f"SELECT {', '.join(select_extra)} FROM logged_model_metrics x0 "
                f"JOIN logged_models m ON m.model_id = x0.model_id WHERE {' AND '.join(where)} "
                f"GROUP BY {', '.join(group)} ORDER BY {order('m')} {paging}"
            )
        else:
            inner = (
                f"SELECT {', '.join(select_extra)} FROM logged_models m WHERE {' AND '.join(where)}"
            )
            page_ids = f"SELECT t.* FROM ({inner}) t ORDER BY {order('t')} {paging}"
        sql = d.sql(
            f"SELECT {', '.join('r.' + c for c in MODEL_COLUMNS)} FROM ({page_ids}) p "
            f"{'CROSS ' if d.is_sqlite else ''}JOIN logged_models r ON r.model_id = p.model_id "
            f"ORDER BY {order('p')}"
        )
        all_params = [*extra_params, *params, *paging_params]
        snapshots = self._snapshots

        def run(cur: Any) -> PagedList[LoggedModel]:
            memo = snapshots.results(cur) if snapshots is not None else None
            key = ("logged_models", sql, tuple(all_params))
            found = memo.get(key) if memo is not None else None
            if found is None:
                cur.execute(sql, all_params)
                rows = cur.fetchall()  # the page and the row that says whether more follow
                ids = [r[0] for r in rows[: request.max_results]]
                found = (rows, self._fetch_children(cur, ids))
                if memo is not None:
                    remember(memo, key, found, len(rows))
            page = request.paged(found[0])  # the token is the request's own
            return PagedList(_build_models(page, found[1]), page.token)

        return self._db.read(run)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Set a model's status and last-updated time."""
        d = self._dialect

        def update(cur: Any) -> LoggedModel:
            self._model_row(cur, model_id)
            cur.execute(
                d.sql(
                    "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? "
                    "WHERE model_id = ?"
                ),
                (status.to_int(), now_ms(), model_id),
            )
            return self._load_models(cur, [self._model_row(cur, model_id)])[0]

        return self._db.write(update)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """Set tags; the last value of a repeated key wins."""
        tag_map = {t.key: t.value for t in tags}

        def write(cur: Any) -> None:
            row = self._model_row(cur, model_id)
            self._write_model_tags(cur, model_id, row[1], tag_map)

        self._db.write(write)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Delete a tag (RESOURCE_DOES_NOT_EXIST if absent)."""
        d = self._dialect

        def delete(cur: Any) -> None:
            self._model_row(cur, model_id)
            cur.execute(
                d.sql(
                    "DELETE FROM logged_model_tags WHERE model_id = ? AND "
                    + d.key_equals("tag_key")
                ),
                (model_id, *d.key_params(key)),
            )
            if cur.rowcount == 0:
                raise TrackyardError(
                    f"No tag with key {key!r} found for model with ID {model_id!r}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._db.write(delete)

    def delete_logged_model(self, model_id: str) -> None:
        """Mark a model deleted."""
        d = self._dialect

        def delete(cur: Any) -> None:
            self._model_row(cur, model_id)
            cur.execute(
                d.sql(
                    "UPDATE logged_models SET lifecycle_stage = ?, last_updated_timestamp_ms = ? "
                    "WHERE model_id = ?"
                ),
                (LifecycleStage.DELETED, now_ms(), model_id),
            )

        self._db.write(delete)

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """Add params; a key already set with another value is INVALID_PARAMETER_VALUE."""
        param_map = {p.key: p.value for p in params}

        def write(cur: Any) -> None:
            row = self._model_row(cur, model_id)
            self._write_model_params(cur, model_id, row[1], param_map)

        self._db.write(write)

    # -- called inside log_batch's transaction ---------------------------------------------
    def _write_model_metrics(self, cur: Any, run_id: str, metrics: Sequence[Metric]) -> None:
        """Record metrics with a ``model_id`` as ``logged_model_metrics`` rows.

        Raises RESOURCE_DOES_NOT_EXIST (and so rolls the batch back) for an unknown model.
        """
        d = self._dialect
        experiments: dict[str, Any] = {}
        for model_id in sorted({m.model_id for m in metrics if m.model_id is not None}):
            experiments[model_id] = self._model_row(cur, model_id)[1]
        if not experiments:
            return
        seen: set[tuple[Any, ...]] = set()
        rows = []
        for m in metrics:
            if m.model_id is None:
                continue
            ident = (m.model_id, m.key, m.timestamp, m.step)
            if ident in seen:
                continue
            seen.add(ident)
            rows.append(
                (
                    m.model_id,
                    m.key,
                    m.timestamp,
                    m.step,
                    _stored_value(m.value),
                    experiments[m.model_id],
                    run_id,
                    m.dataset_name,
                    m.dataset_digest,
                )
            )
        columns = (
            "model_id",
            "metric_name",
            "metric_timestamp_ms",
            "metric_step",
            "metric_value",
            "experiment_id",
            "run_id",
            "dataset_name",
            "dataset_digest",
        )
        insert = d.insert_ignore("logged_model_metrics", columns)
        if insert is not None:
            cur.executemany(insert, rows)
            return
        exists = d.sql(
            "SELECT 1 FROM logged_model_metrics WHERE model_id = ? AND metric_name = ? AND "
            "metric_timestamp_ms = ? AND metric_step = ? AND run_id = ?"
        )
        plain = d.sql(
            f"INSERT INTO logged_model_metrics ({', '.join(columns)}) "
            f"VALUES ({d.marks(len(columns))})"
        )
        for row in rows:
            cur.execute(exists, (row[0], row[1], row[2], row[3], row[6]))
            if cur.fetchone() is None:
                cur.execute(plain, row)
