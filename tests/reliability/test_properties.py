"""Property tests: random operations and random filters, the same answer on every backend.

- Random sequences of client operations, applied to a fresh store and to a small model of
  MLflow's rules kept here, end in the same observable state, and every call fails exactly
  when the model says it must, with the model's error code.
- Random filter strings either parse, and then every backend returns what the reference
  evaluator (``trackyard.search``) returns for the same runs, or fail with
  INVALID_PARAMETER_VALUE, on every backend alike: never a crash or a database error.

Examples per test and backend: ``TRACKYARD_RELIABILITY_EXAMPLES`` (default small for CI).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability._backends import EXAMPLES, make_backend
from trackyard import search
from trackyard.entities import LifecycleStage, Metric, Param, RunTag, ViewType
from trackyard.errors import ErrorCode, TrackyardError

BACKENDS = ("sqlite", "file", "memory", "duckdb", "postgresql", "mysql")
T0 = 1_700_000_000_000
INVALID = ErrorCode.INVALID_PARAMETER_VALUE
EXISTS = ErrorCode.RESOURCE_ALREADY_EXISTS
MISSING = ErrorCode.RESOURCE_DOES_NOT_EXIST

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextlib.contextmanager
def fresh_client(name: str) -> Iterator[Any]:
    """A client over a new, empty store of backend ``name``."""
    from trackyard.backends import get_tracking_store
    from trackyard.testing import make_client

    tmp = Path(tempfile.mkdtemp(prefix="trackyard-prop-"))
    store: Any = None
    try:
        if name == "memory":
            memory = pytest.importorskip(
                "trackyard_memory.tracking", reason="contrib/trackyard-memory is not installed"
            )
            store = memory.MemoryTrackingStore("memory://", str(tmp / "artifacts"))
        else:
            backend = make_backend(name, tmp)
            store = get_tracking_store(backend.uri, backend.artifact_root)
        yield make_client(store)
    finally:
        from trackyard.backends import clear_store_cache

        clear_store_cache()
        close = getattr(store, "close", None)
        if close is not None:
            close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- random operation sequences against a model ------------------------------------------------
@dataclass
class ModelRun:
    experiment: int
    deleted: bool = False
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def latest(self) -> dict[str, float]:
        return {key: max(points)[1] for key, points in self.history.items()}


@dataclass
class Model:
    """MLflow's rules for the operations below, kept as plain Python."""

    experiments: list[str] = field(default_factory=list)  # names, by creation order
    runs: list[ModelRun] = field(default_factory=list)

    def expect(self, op: tuple[Any, ...]) -> set[str]:
        """Apply ``op``; return the error codes the store may answer (empty: must succeed)."""
        kind = op[0]
        if kind == "create_experiment":
            if op[1] in self.experiments:
                return {EXISTS}
            self.experiments.append(op[1])
            return set()
        if kind == "rename_experiment":
            if not self.experiments:
                return set()
            i = op[1] % len(self.experiments)
            if op[2] in self.experiments and self.experiments[i] != op[2]:
                return {EXISTS}
            self.experiments[i] = op[2]
            return set()
        if kind == "create_run":
            if not self.experiments:
                return set()
            self.runs.append(ModelRun(op[1] % len(self.experiments)))
            return set()
        if not self.runs:
            return set()
        run = self.runs[op[1] % len(self.runs)]
        if kind == "toggle_run":
            run.deleted = not run.deleted
            return set()
        if kind == "log_batch" and not op[2] and not op[3]:
            return set()  # an empty batch never reaches the store (as in MLflow's client)
        if run.deleted:
            return {INVALID}
        if kind == "log_metric":
            run.history.setdefault(op[2], []).append((op[4], float(op[3])))
        elif kind == "log_param":
            if run.params.get(op[2], op[3]) != op[3]:
                return {INVALID}
            run.params[op[2]] = op[3]
        elif kind == "set_tag":
            run.tags[op[2]] = op[3]
        elif kind == "delete_tag":
            if op[2] not in run.tags:
                return {MISSING}
            del run.tags[op[2]]
        elif kind == "log_batch":
            if any(run.params.get(k, v) != v for k, v in op[3]) or len(dict(op[3])) < len(op[3]):
                return {INVALID}
            for key, value, step in op[2]:
                run.history.setdefault(key, []).append((step, float(value)))
            run.params.update(dict(op[3]))
        return set()


NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta"])
KEYS = st.sampled_from(["m", "n", "a/b"])
VALUES = st.sampled_from(["x", "y", "z"])
INDEX = st.integers(0, 7)
NUMBERS = st.integers(-3, 3)
STEPS = st.integers(0, 3)
OPERATIONS = st.one_of(
    st.tuples(st.just("create_experiment"), NAMES),
    st.tuples(st.just("rename_experiment"), INDEX, NAMES),
    st.tuples(st.just("create_run"), INDEX),
    st.tuples(st.just("create_run"), INDEX),
    st.tuples(st.just("toggle_run"), INDEX),
    st.tuples(st.just("log_metric"), INDEX, KEYS, NUMBERS, STEPS),
    st.tuples(st.just("log_param"), INDEX, KEYS, VALUES),
    st.tuples(st.just("set_tag"), INDEX, KEYS, VALUES),
    st.tuples(st.just("delete_tag"), INDEX, KEYS),
    st.tuples(
        st.just("log_batch"),
        INDEX,
        st.lists(st.tuples(KEYS, NUMBERS, STEPS), max_size=3),
        st.lists(st.tuples(KEYS, VALUES), max_size=2),
    ),
)


def _apply(client: Any, op: tuple[Any, ...], exp_ids: list[str], run_ids: list[str]) -> None:
    kind = op[0]
    if kind == "create_experiment":
        exp_ids.append(client.create_experiment(op[1]))
    elif kind == "rename_experiment":
        if exp_ids:
            client.rename_experiment(exp_ids[op[1] % len(exp_ids)], op[2])
    elif kind == "create_run":
        if exp_ids:
            run_ids.append(client.create_run(exp_ids[op[1] % len(exp_ids)]).info.run_id)
    elif run_ids:
        run_id = run_ids[op[1] % len(run_ids)]
        if kind == "toggle_run":
            deleted = client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
            (client.restore_run if deleted else client.delete_run)(run_id)
        elif kind == "log_metric":
            client.log_metric(run_id, op[2], op[3], T0, op[4])
        elif kind == "log_param":
            client.log_param(run_id, op[2], op[3])
        elif kind == "set_tag":
            client.set_tag(run_id, op[2], op[3])
        elif kind == "delete_tag":
            client.delete_tag(run_id, op[2])
        elif kind == "log_batch":
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), T0, s) for k, v, s in op[2]],
                params=[Param(k, v) for k, v in op[3]],
                tags=[RunTag("batch", "1")] if op[2] or op[3] else [],
            )


def _observed(client: Any, exp_ids: list[str], run_ids: list[str]) -> dict[str, Any]:
    state: dict[str, Any] = {"experiments": [client.get_experiment(e).name for e in exp_ids]}
    runs = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        runs.append(
            (
                run.info.lifecycle_stage == LifecycleStage.DELETED,
                run.data.params,
                {k: v for k, v in run.data.tags.items() if k in ("m", "n", "a/b")},
                run.data.metrics,
                {
                    key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
                    for key in run.data.metrics
                },
            )
        )
    state["runs"] = runs
    return state


def _expected(model: Model) -> dict[str, Any]:
    return {
        "experiments": list(model.experiments),
        "runs": [
            (
                r.deleted,
                r.params,
                {k: v for k, v in r.tags.items()},
                r.latest(),
                {k: sorted(set(v)) for k, v in r.history.items()},  # identical points: one
            )
            for r in model.runs
        ],
    }


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(ops=st.lists(OPERATIONS, max_size=25))
def test_random_operations_match_the_model(backend: str, ops: list[tuple[Any, ...]]) -> None:
    model = Model()
    with fresh_client(backend) as client:
        exp_ids: list[str] = []
        run_ids: list[str] = []
        for op in ops:
            codes = model.expect(op)
            try:
                _apply(client, op, exp_ids, run_ids)
            except TrackyardError as exc:
                assert codes, f"{op}: the model expects success, the store says {exc}"
                assert exc.error_code in codes, f"{op}: {exc.error_code} not in {codes}: {exc}"
            else:
                assert not codes, f"{op}: the model expects {codes}, the store accepted it"
            if op[0] == "log_batch" and not codes and (op[2] or op[3]) and model.runs:
                model.runs[op[1] % len(model.runs)].tags["batch"] = "1"
        observed = _observed(client, exp_ids, run_ids)
        expected = _expected(model)
        for runs in (observed["runs"], expected["runs"]):
            for i, (deleted, params, tags, metrics, history) in enumerate(runs):
                runs[i] = (
                    deleted,
                    params,
                    {k: v for k, v in tags.items() if k != "batch"},
                    metrics,
                    history,
                )
        assert observed == expected


# -- random filters: every backend agrees with the reference evaluator ---------------------------
IDENTIFIERS = st.sampled_from(
    [
        "metrics.acc",
        "metrics.loss",
        "metrics.`val loss`",
        "params.lr",
        "params.opt",
        "params.none",
        "tags.team",
        'tags."mlflow.user"',
        "attributes.status",
        "status",
        "run_name",
        "attributes.run_id",
        "start_time",
        "end_time",
        "created",
        "metric.acc",
        "param.lr",
        "tag.team",
        "attr.status",
        "bogus.key",
        "metrics",
        "`metrics.acc`",
    ]
)
COMPARATORS = st.sampled_from(
    [
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "LIKE",
        "ILIKE",
        "like",
        "IS NULL",
        "IS NOT NULL",
        "IN",
        "NOT IN",
        "==",
        "<>",
        "~",
    ]
)
LITERALS = st.one_of(
    st.integers(-2, 3).map(str),
    st.sampled_from(
        [
            "0.5",
            "1e0",
            "-0.25",
            "nan",
            "'0.1'",
            "'adam'",
            "'a%'",
            "'%A%'",
            "'_gd'",
            "'vision'",
            "'FINISHED'",
            "'run-1%'",
            "''",
            "'it''s'",
            '"x"',
            "'\\\\'",
            "'%'",
            "('a', 'b')",
            "('FINISHED', 'FAILED')",
            "()",
            "'1700000005000'",
            "1700000005000",
            "'; DROP TABLE runs; --'",
        ]
    ),
)


NUMERIC_IDS = ["metrics.acc", "metrics.loss", "metrics.`val loss`", "metric.acc", "metrics.none"]
TIME_IDS = ["start_time", "end_time", "created", "attributes.start_time"]
STRING_IDS = [
    "params.lr",
    "params.opt",
    "params.none",
    "tags.team",
    'tags."mlflow.user"',
    "tag.team",
    "attributes.status",
    "status",
    "run_name",
    "`Run name`",
]
IN_IDS = ["attributes.run_id", "run_id"]
NUMBERS_TEXT = st.sampled_from(["0", "1", "-1", "0.5", "1e0", "-0.25", "0.25", "2"])
STRINGS = st.sampled_from(
    [
        "'0.1'",
        "'0.01'",
        "'adam'",
        "'Adam'",
        "'a%'",
        "'%A%'",
        "'_gd'",
        "'vision'",
        "'%ion'",
        "'FINISHED'",
        "'FAILED'",
        "'run-1%'",
        "'run-1'",
        "''",
        "'it''s'",
        '"sgd"',
        "'\\'",
        "'%'",
        "'_'",
        "'u1'",
        "'; DROP TABLE runs; --'",
    ]
)
LISTS = st.sampled_from(["('run-1', 'run-2')", "('x')", "('a','b',)", "('')"])


@st.composite
def filters(draw: Any) -> str:
    def comparison() -> str:
        if draw(st.integers(0, 7)) == 0:  # anything goes: mostly invalid
            op = draw(COMPARATORS)
            if op in ("IS NULL", "IS NOT NULL"):
                return f"{draw(IDENTIFIERS)} {op}"
            return f"{draw(IDENTIFIERS)} {op} {draw(LITERALS)}"
        family = draw(st.sampled_from(["number", "time", "string", "null", "in"]))
        if family == "number":
            op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
            return f"{draw(st.sampled_from(NUMERIC_IDS))} {op} {draw(NUMBERS_TEXT)}"
        if family == "time":
            op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
            value = draw(st.sampled_from(["0", "1700000005000", "1700000005005"]))
            return f"{draw(st.sampled_from(TIME_IDS))} {op} {value}"
        if family == "string":
            op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
            return f"{draw(st.sampled_from(STRING_IDS))} {op} {draw(STRINGS)}"
        if family == "null":
            ident = draw(st.sampled_from(["params.opt", "params.none", "tags.team", "tags.none"]))
            return f"{ident} {draw(st.sampled_from(['IS NULL', 'IS NOT NULL']))}"
        op = draw(st.sampled_from(["IN", "NOT IN"]))
        return f"{draw(st.sampled_from(IN_IDS))} {op} {draw(LISTS)}"

    def expr(depth: int) -> str:
        parts = [comparison()]
        for _ in range(draw(st.integers(0, 2))):
            joiner = draw(
                st.sampled_from([" AND ", " OR ", " and ", " or "] * 5 + [" AND NOT ", " "])
            )
            inner = expr(depth + 1) if depth < 2 and draw(st.booleans()) else comparison()
            parts.append(joiner + (f"({inner})" if draw(st.booleans()) else inner))
        return "".join(parts)

    text = expr(0)
    if draw(st.integers(0, 9)) == 0:  # now and then, damage it
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(
            st.sampled_from(["", "(", ")", "'", "`", '"', " AND", ",", "\x00"])
        )
    return text


@pytest.fixture(params=BACKENDS)
def populated(request: pytest.FixtureRequest) -> Iterator[tuple[Any, list[str], list[Any]]]:
    """A backend with a dozen runs holding every kind of value the filters touch."""
    with fresh_client(request.param) as client:
        exp = client.create_experiment("filters")
        for i in range(12):
            run = client.create_run(
                exp,
                start_time=T0 + i * 1000,
                run_name=f"run-{i}",
                tags={"team": ["vision", "Vision", "nlp"][i % 3], "mlflow.user": f"u{i % 2}"}
                if i % 4
                else {},
            )
            rid = run.info.run_id
            metrics = [Metric("acc", [0.25, 0.5, 1.0, float("nan")][i % 4], T0, 0)]
            if i % 3:
                metrics.append(Metric("loss", -0.25 * i, T0, 0))
            if i % 5 == 0:
                metrics.append(Metric("val loss", float(i), T0, 0))
            params = [
                Param("lr", ["0.1", "0.01"][i % 2]),
                Param("opt", ["adam", "sgd", "Adam", "_gd"][i % 4]),
            ]
            client.log_batch(rid, metrics=metrics, params=params)
            if i % 3 == 1:
                client.set_terminated(
                    rid, ["FINISHED", "FAILED"][i % 2], end_time=T0 + i * 1000 + 5
                )
        runs = [client.get_run(r.info.run_id) for r in client.search_runs([exp], max_results=100)]
        yield client, [exp], runs


@SETTINGS
@given(filter_string=filters())
def test_random_filters_agree_with_the_evaluator_or_are_refused(
    populated: tuple[Any, list[str], list[Any]], filter_string: str
) -> None:
    client, exp_ids, runs = populated
    try:
        request = search.RunSearch.parse(exp_ids, filter_string, ViewType.ACTIVE_ONLY, 1000, None)
    except TrackyardError as exc:
        assert exc.error_code == INVALID
        with pytest.raises(TrackyardError) as excinfo:
            client.search_runs(exp_ids, filter_string, max_results=1000)
        assert excinfo.value.error_code == INVALID, excinfo.value
        return
    expected = [r.info.run_id for r in search.search_runs_in_memory(runs, request)]
    try:
        got = [r.info.run_id for r in client.search_runs(exp_ids, filter_string, max_results=1000)]
    except TrackyardError as exc:  # a store may refuse what it cannot do, never crash
        if exc.error_code == ErrorCode.FEATURE_DISABLED:
            return
        raise
    assert got == expected, filter_string
