"""``TrackingStoreSuite``: the behaviour every tracking store must have.

Tests drive the store through :class:`trackyard.MlflowClient` (so input is validated exactly as
users' input is) and, for search, compare the store's answers with the pure-Python evaluator
in :mod:`trackyard.search`, which defines the semantics.
"""

from __future__ import annotations

import json
import math
import os
import threading
import uuid
from typing import Any

import pytest

from trackyard import search
from trackyard.entities import LifecycleStage, Metric, Param, Run, RunTag, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._backend import BackendCheck
from trackyard.testing._client import make_client, require_capability
from trackyard.testing._hostile import TrackingHostileInputCheck
from trackyard.testing._processes import TrackingProcessesCheck
from trackyard.testing.analytics import AnalyticsChecks
from trackyard.testing.gc import GcChecks
from trackyard.testing.imports import ImportChecks
from trackyard.testing.logged_models import LoggedModelChecks
from trackyard.testing.run_inputs import RunInputChecks

__all__ = ["EXPERIMENT_SEARCH_CASES", "SEARCH_CASES", "TrackingStoreSuite"]

T0 = 1_700_000_000_000  # a fixed epoch-ms origin so orders are deterministic


def _code(excinfo: pytest.ExceptionInfo[TrackyardError]) -> str:
    return excinfo.value.error_code


def _expect(code: str, fn: Any, *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    assert _code(excinfo) == code, f"expected {code}, got {_code(excinfo)}: {excinfo.value}"
    return excinfo.value


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


# (filter_string, order_by, needs) checked against the evaluator on the search fixture;
# ``needs`` names the capability a case requires ("" for none), as in the registry cases.
SEARCH_CASES: list[tuple[str, list[str] | None, str]] = [
    ("", None, ""),
    ("", ["metrics.acc DESC"], ""),
    ("", ["metrics.acc ASC"], ""),
    ("", ["metrics.loss"], ""),
    ("", ["params.lr DESC", "start_time ASC"], ""),
    ("", ["tags.team"], ""),
    ("", ["attributes.run_name"], ""),
    ("", ["status DESC"], ""),
    ("", ["end_time"], ""),
    ("", ["created ASC"], ""),
    ("metrics.acc > 0.5", None, ""),
    ("metrics.acc >= 0.5", ["metrics.acc"], ""),
    ("metrics.acc < 0.5", None, ""),
    ("metrics.acc <= 0.25", None, ""),
    ("metrics.acc = 0.75", None, ""),
    ("metrics.acc != 0.75", ["metrics.acc DESC"], ""),
    ("metrics.loss > -1e9", None, ""),
    ("metrics.`val loss` < 10", None, ""),
    ('metrics."val loss" >= 0', None, ""),
    ("params.lr = '0.1'", None, ""),
    ("params.lr != '0.1'", None, ""),
    ("params.optimizer LIKE 'ad%'", None, ""),
    ("params.optimizer LIKE 'A%'", None, ""),
    ("params.optimizer ILIKE 'A%'", None, ""),
    ("params.optimizer LIKE '_gd'", None, ""),
    ("params.optimizer IS NULL", None, ""),
    ("params.optimizer IS NOT NULL", ["params.optimizer"], ""),
    ("tags.team = 'vision'", None, ""),
    ("tags.team != 'vision'", None, ""),
    ("tags.`mlflow.runName` LIKE 'run-1%'", None, ""),
    ("tags.team IS NULL", None, ""),
    ("tags.team ILIKE '%ION'", None, ""),
    ("attributes.status = 'FINISHED'", None, ""),
    ("attributes.status != 'RUNNING'", ["start_time ASC"], ""),
    ("status = 'FAILED'", None, ""),
    ("run_name = 'run-03'", None, ""),
    ("attributes.run_name LIKE 'run-0%'", ["run_name DESC"], ""),
    ("`Run name` = 'run-05'", None, ""),
    ("attributes.user_id = 'alice'", None, ""),
    ("attributes.start_time > 1700000005000", None, ""),
    ("created <= 1700000003000", None, ""),
    ("attributes.end_time > 0", None, ""),
    ("attributes.artifact_uri LIKE '%artifacts'", None, ""),
    ("metrics.acc > 0.2 AND params.lr = '0.01'", None, ""),
    ("metrics.acc > 0.2 and tags.team = 'nlp' AND params.batch = '32'", None, ""),
    ("metrics.acc > 0.9 OR params.optimizer = 'sgd'", ["metrics.acc DESC"], "search_or"),
    ("(metrics.acc > 0.9 OR tags.team = 'nlp') AND params.lr = '0.1'", None, "search_or"),
    ("metrics.acc > 0.9 OR tags.team = 'nlp' AND params.lr = '0.1'", None, "search_or"),
    (
        "tags.team = 'x' OR (status = 'FINISHED' AND metrics.loss < 1)",
        ["metrics.loss"],
        "search_or",
    ),
    ("params.note LIKE '%;%'", None, ""),
    ('params.note = "a;b"', None, ""),
]


# (filter_string, order_by, needs) for experiment search, on seven experiments (one deleted).
EXPERIMENT_SEARCH_CASES: list[tuple[str, list[str] | None, str]] = [
    ("", None, ""),
    ("name LIKE 'ev-%'", ["name ASC"], ""),
    ("tags.k = 'a'", None, ""),
    ("tags.k IS NULL", ["name DESC"], ""),
    ("name ILIKE 'EV-0%' AND tags.k != 'b'", None, ""),
    ("tags.k = 'a' OR name = 'ev-00'", ["experiment_id DESC"], "search_or"),
    ("attribute.creation_time > 0", ["last_update_time DESC"], ""),
]


class TrackingStoreSuite(
    BackendCheck,
    TrackingProcessesCheck,
    TrackingHostileInputCheck,
    AnalyticsChecks,
    LoggedModelChecks,
    RunInputChecks,
    GcChecks,
    ImportChecks,
):
    """Mixin test class: subclass it and override the ``tracking_store`` fixture."""

    backend_kind = "tracking"

    def _backend_under_test(self, request: pytest.FixtureRequest) -> tuple[object, str | None]:
        store = request.getfixturevalue("tracking_store")
        return store, store.store_uri

    # -- fixtures --------------------------------------------------------------------------
    @pytest.fixture
    def tracking_store(self) -> Any:
        """A fresh, empty store (only the Default experiment). Backends must override this."""
        pytest.fail(
            f"{type(self).__name__} must override the 'tracking_store' fixture to return a "
            "fresh tracking store (see trackyard.testing)."
        )

    @pytest.fixture
    def client(self, tracking_store: Any) -> Any:
        return make_client(tracking_store)

    @pytest.fixture
    def exp_id(self, client: Any) -> str:
        return str(client.create_experiment(f"exp-{uuid.uuid4().hex[:8]}"))

    @pytest.fixture
    def run_id(self, client: Any, exp_id: str) -> str:
        return str(client.create_run(exp_id, tags={"mlflow.user": "tester"}).info.run_id)

    # -- experiments -----------------------------------------------------------------------
    def test_default_experiment_exists(self, client: Any) -> None:
        exp = client.get_experiment("0")
        assert exp.name == "Default"
        assert exp.lifecycle_stage == LifecycleStage.ACTIVE
        assert client.get_experiment_by_name("Default").experiment_id == "0"

    def test_create_and_get_experiment(self, client: Any) -> None:
        exp_id = client.create_experiment("first", tags={"owner": "ml", "n": 3})
        assert isinstance(exp_id, str)
        exp = client.get_experiment(exp_id)
        assert exp.experiment_id == exp_id
        assert exp.name == "first"
        assert exp.tags == {"owner": "ml", "n": "3"}
        assert exp.lifecycle_stage == LifecycleStage.ACTIVE
        assert exp.artifact_location and exp_id in exp.artifact_location
        assert exp.creation_time and exp.last_update_time
        assert client.get_experiment_by_name("first").experiment_id == exp_id

    def test_create_experiment_with_artifact_location(self, client: Any, tmp_path: Any) -> None:
        location = str(tmp_path / "elsewhere")
        exp_id = client.create_experiment("located", artifact_location=location)
        assert client.get_experiment(exp_id).artifact_location.endswith("elsewhere")

    def test_experiment_ids_are_distinct(self, client: Any) -> None:
        ids = {client.create_experiment(f"e{i}") for i in range(5)}
        assert len(ids) == 5

    def test_duplicate_experiment_name(self, client: Any) -> None:
        exp_id = client.create_experiment("dup")
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.create_experiment, "dup")
        client.delete_experiment(exp_id)
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.create_experiment, "dup")

    def test_get_missing_experiment(self, client: Any) -> None:
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_experiment, "987654")
        assert client.get_experiment_by_name("no such experiment") is None

    def test_experiment_ids_are_integers(self, client: Any, exp_id: str) -> None:
        # Every store numbers experiments, so a name where an id belongs is refused up front
        # (MLflow's SQL store does the same; its file store would silently find nothing).
        assert exp_id.isdigit()
        assert client.get_experiment(int(exp_id)).experiment_id == exp_id
        assert client.get_experiment(f" 0{exp_id}").experiment_id == exp_id
        name = client.get_experiment(exp_id).name
        for call, args in [
            (client.get_experiment, (name,)),
            (client.get_experiment, ("abc",)),
            (client.create_run, ("churn-model",)),
            (client.set_experiment_tag, ("abc", "k", "v")),
            (client.delete_experiment, ("abc",)),
            (client.search_runs, (["churn-model"],)),
            (client.search_runs, ([exp_id, "abc"],)),
            (client.search_runs, ("1.5",)),
        ]:
            error = _expect(ErrorCode.INVALID_PARAMETER_VALUE, call, *args)
            assert "Experiment ID must be a valid integer" in error.message
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_experiment, "-1")
        assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.ACTIVE

    def test_search_runs_takes_int_experiment_ids(self, client: Any, exp_id: str) -> None:
        run_id = client.create_run(exp_id).info.run_id
        assert [r.info.run_id for r in client.search_runs([int(exp_id)])] == [run_id]
        assert [r.info.run_id for r in client.search_runs(int(exp_id))] == [run_id]
        assert [r.info.run_id for r in client.search_runs([f"0{exp_id}"])] == [run_id]

    @pytest.mark.parametrize("name", ["", "   ", "x" * 501, None, 7])
    def test_bad_experiment_name(self, client: Any, name: Any) -> None:
        before = len(client.search_experiments(view_type=ViewType.ALL))
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_experiment, name)
        assert len(client.search_experiments(view_type=ViewType.ALL)) == before

    def test_bad_experiment_artifact_location(self, client: Any) -> None:
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.create_experiment,
            "runs-loc",
            artifact_location="runs:/abc/x",
        )
        assert client.get_experiment_by_name("runs-loc") is None

    def test_delete_and_restore_experiment_cascades_to_runs(self, client: Any, exp_id: str) -> None:
        run = client.create_run(exp_id)
        client.delete_experiment(exp_id)
        assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED
        assert client.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
        assert client.get_experiment_by_name(client.get_experiment(exp_id).name) is not None
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_run, exp_id)
        client.restore_experiment(exp_id)
        assert client.get_experiment(exp_id).lifecycle_stage == LifecycleStage.ACTIVE
        assert client.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE

    def test_delete_missing_experiment(self, client: Any) -> None:
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_experiment, "424242")
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.restore_experiment, "424242")

    def test_rename_experiment(self, client: Any, exp_id: str) -> None:
        client.rename_experiment(exp_id, "renamed")
        assert client.get_experiment(exp_id).name == "renamed"
        assert client.get_experiment_by_name("renamed").experiment_id == exp_id
        other = client.create_experiment("other")
        _expect(ErrorCode.RESOURCE_ALREADY_EXISTS, client.rename_experiment, other, "renamed")
        assert client.get_experiment(other).name == "other"
        client.delete_experiment(other)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.rename_experiment, other, "x2")

    def test_experiment_tags(self, client: Any, exp_id: str) -> None:
        client.set_experiment_tag(exp_id, "k", "v1")
        client.set_experiment_tag(exp_id, "k", "v2")
        client.set_experiment_tag(exp_id, "mlflow.note.content", "a note")
        assert client.get_experiment(exp_id).tags == {"k": "v2", "mlflow.note.content": "a note"}
        client.delete_experiment_tag(exp_id, "k")
        assert "k" not in client.get_experiment(exp_id).tags
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_experiment_tag, exp_id, "k")
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.set_experiment_tag, exp_id, "big", "x" * 20001
        )
        assert "big" not in client.get_experiment(exp_id).tags
        client.set_experiment_tag(exp_id, "max", "x" * 20000)
        assert len(client.get_experiment(exp_id).tags["max"]) == 20000

    def test_search_experiments(self, client: Any) -> None:
        ids = [
            client.create_experiment(f"search-{i}", tags={"parity": str(i % 2)}) for i in range(6)
        ]
        client.delete_experiment(ids[0])
        active = client.search_experiments()
        assert {e.experiment_id for e in active} >= set(ids[1:])
        assert ids[0] not in {e.experiment_id for e in active}
        deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
        assert [e.experiment_id for e in deleted] == [ids[0]]
        every = client.search_experiments(view_type=ViewType.ALL)
        assert set(ids) | {"0"} == {e.experiment_id for e in every}
        odd = client.search_experiments(filter_string="tags.parity = '1'")
        assert {e.experiment_id for e in odd} == {ids[1], ids[3], ids[5]}
        by_name = client.search_experiments(
            filter_string="name LIKE 'search-%'", order_by=["name DESC"]
        )
        assert [e.name for e in by_name] == [f"search-{i}" for i in (5, 4, 3, 2, 1)]

    @pytest.mark.parametrize("filter_string, order_by, needs", EXPERIMENT_SEARCH_CASES)
    def test_search_experiments_matches_evaluator_and_pages(
        self, client: Any, filter_string: str, order_by: list[str] | None, needs: str
    ) -> None:
        if needs:
            require_capability(client._store, needs)
        for i in range(7):
            eid = client.create_experiment(f"ev-{i:02d}", tags={"k": "ab"[i % 2]} if i % 3 else {})
            if i == 4:
                client.delete_experiment(eid)
        everything = list(client.search_experiments(view_type=ViewType.ALL, max_results=50000))
        for view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            expected = search.search_experiments_in_memory(
                everything,
                search.ExperimentSearch.parse(view, 50000, filter_string, order_by),
            )
            got = client.search_experiments(
                view_type=view, filter_string=filter_string, order_by=order_by
            )
            assert [e.experiment_id for e in got] == [e.experiment_id for e in expected], view
            paged: list[str] = []
            token = None
            while True:
                page = client.search_experiments(
                    view_type=view,
                    filter_string=filter_string,
                    order_by=order_by,
                    max_results=2,
                    page_token=token,
                )
                paged.extend(e.experiment_id for e in page)
                token = page.token
                if not token:
                    break
            assert paged == [e.experiment_id for e in expected]

    # -- runs ------------------------------------------------------------------------------
    def test_create_run(self, client: Any, exp_id: str) -> None:
        run = client.create_run(exp_id, start_time=T0, tags={"team": "vision"}, run_name="first")
        info = run.info
        assert len(info.run_id) == 32 and int(info.run_id, 16) >= 0
        assert info.run_uuid == info.run_id
        assert info.experiment_id == exp_id
        assert info.status == "RUNNING"
        assert info.start_time == T0
        assert info.end_time is None
        assert info.lifecycle_stage == LifecycleStage.ACTIVE
        assert info.run_name == "first"
        assert info.artifact_uri.rstrip("/").endswith(f"{info.run_id}/artifacts")
        tags = run.data.tags
        assert tags["team"] == "vision"
        assert tags["mlflow.runName"] == "first"
        assert tags["mlflow.source.type"] == "LOCAL"
        assert "mlflow.source.name" in tags and "mlflow.user" in tags
        assert info.user_id == tags["mlflow.user"]
        assert run.data.metrics == {} and run.data.params == {}
        fetched = client.get_run(info.run_id)
        assert fetched.info == info
        assert fetched.data.tags == tags

    def test_create_run_user_tags_win_over_context(self, client: Any, exp_id: str) -> None:
        run = client.create_run(exp_id, tags={"mlflow.user": "alice", "mlflow.source.type": "JOB"})
        assert run.info.user_id == "alice"
        assert run.data.tags["mlflow.source.type"] == "JOB"

    def test_create_run_generates_a_name(self, client: Any, exp_id: str) -> None:
        run = client.create_run(exp_id)
        assert run.info.run_name and len(run.info.run_name) <= 20
        assert run.data.tags["mlflow.runName"] == run.info.run_name
        named = client.create_run(exp_id, tags={"mlflow.runName": "from-tag"})
        assert named.info.run_name == "from-tag"

    def test_create_run_name_conflict(self, client: Any, exp_id: str) -> None:
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.create_run,
            exp_id,
            run_name="a",
            tags={"mlflow.runName": "b"},
        )
        assert len(client.search_runs([exp_id], run_view_type=ViewType.ALL)) == 0

    def test_create_run_in_missing_or_deleted_experiment(self, client: Any, exp_id: str) -> None:
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.create_run, "919191")
        client.delete_experiment(exp_id)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_run, exp_id)

    def test_get_missing_run(self, client: Any) -> None:
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_run, uuid.uuid4().hex)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.get_run, "../etc")

    def test_update_run(self, client: Any, run_id: str) -> None:
        client.update_run(run_id, status="FAILED")
        assert client.get_run(run_id).info.status == "FAILED"
        client.update_run(run_id, name="renamed")
        run = client.get_run(run_id)
        assert run.info.run_name == "renamed"
        assert run.info.status == "FAILED"
        assert run.data.tags["mlflow.runName"] == "renamed"
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.update_run, run_id, status="DONE")

    def test_set_run_name_tag_renames(self, client: Any, run_id: str) -> None:
        client.set_tag(run_id, "mlflow.runName", "by-tag")
        assert client.get_run(run_id).info.run_name == "by-tag"

    def test_set_terminated(self, client: Any, exp_id: str) -> None:
        run_id = client.create_run(exp_id).info.run_id
        client.set_terminated(run_id)
        info = client.get_run(run_id).info
        assert info.status == "FINISHED"
        assert info.end_time is not None and info.end_time >= info.start_time
        other = client.create_run(exp_id).info.run_id
        client.set_terminated(other, status="KILLED", end_time=T0 + 5)
        info = client.get_run(other).info
        assert (info.status, info.end_time) == ("KILLED", T0 + 5)
        # writes to a finished run still work (lifecycle, not status, gates writes)
        client.log_metric(other, "after", 1.0)
        assert client.get_run(other).data.metrics["after"] == 1.0

    def test_delete_and_restore_run(self, client: Any, exp_id: str, run_id: str) -> None:
        client.delete_run(run_id)
        assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
        assert run_id not in {r.info.run_id for r in client.search_runs([exp_id])}
        deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
        assert [r.info.run_id for r in deleted] == [run_id]
        for call in (
            lambda: client.log_metric(run_id, "m", 1.0),
            lambda: client.log_param(run_id, "p", "v"),
            lambda: client.set_tag(run_id, "t", "v"),
            lambda: client.log_batch(run_id, metrics=[Metric("m", 1.0, T0, 0)]),
        ):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, call)
        run = client.get_run(run_id)
        assert run.data.metrics == {} and run.data.params == {} and "t" not in run.data.tags
        client.restore_run(run_id)
        assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
        client.log_metric(run_id, "m", 1.0)

    def test_missing_run_writes(self, client: Any) -> None:
        missing = uuid.uuid4().hex
        for call in (
            lambda: client.log_metric(missing, "m", 1.0),
            lambda: client.log_param(missing, "p", "v"),
            lambda: client.set_tag(missing, "t", "v"),
            lambda: client.delete_run(missing),
            lambda: client.restore_run(missing),
            lambda: client.set_terminated(missing),
            lambda: client.get_metric_history(missing, "m"),
        ):
            _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, call)

    def test_get_parent_run(self, client: Any, exp_id: str, run_id: str) -> None:
        child = client.create_run(exp_id, tags={"mlflow.parentRunId": run_id})
        assert client.get_parent_run(child.info.run_id).info.run_id == run_id
        assert client.get_parent_run(run_id) is None

    # -- params, tags, metrics ---------------------------------------------------------------
    def test_params_are_write_once(self, client: Any, run_id: str) -> None:
        assert client.log_param(run_id, "lr", 0.1) == 0.1
        client.log_param(run_id, "lr", "0.1")  # same value again: fine
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_param, run_id, "lr", "0.2")
        assert client.get_run(run_id).data.params == {"lr": "0.1"}

    def test_long_values_are_truncated(
        self, client: Any, run_id: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("MLFLOW_TRUNCATE_LONG_VALUES", raising=False)
        monkeypatch.delenv("TRACKYARD_TRUNCATE_LONG_VALUES", raising=False)
        client.log_param(run_id, "long", "p" * 7000)
        client.set_tag(run_id, "long", "t" * 9000)
        data = client.get_run(run_id).data
        assert data.params["long"] == "p" * 6000
        assert data.tags["long"] == "t" * 8000
        monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "false")
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_param, run_id, "l2", "p" * 6001)
        assert "l2" not in client.get_run(run_id).data.params

    def test_tags(self, client: Any, run_id: str) -> None:
        client.set_tag(run_id, "k", "v1")
        client.set_tag(run_id, "k", "v2")
        client.set_tag(run_id, "n", 5)
        tags = client.get_run(run_id).data.tags
        assert (tags["k"], tags["n"]) == ("v2", "5")
        client.delete_tag(run_id, "k")
        assert "k" not in client.get_run(run_id).data.tags
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_tag, run_id, "k")

    def test_log_metric_and_latest_value_rule(self, client: Any, run_id: str) -> None:
        client.log_metric(run_id, "m", 1.0, timestamp=T0, step=5)
        client.log_metric(run_id, "m", 9.0, timestamp=T0 + 10, step=4)  # older step
        assert client.get_run(run_id).data.metrics["m"] == 1.0
        client.log_metric(run_id, "m", 0.5, timestamp=T0 + 1, step=5)  # same step, later time
        assert client.get_run(run_id).data.metrics["m"] == 0.5
        client.log_metric(run_id, "m", 0.7, timestamp=T0 + 1, step=5)  # same step+time, bigger
        assert client.get_run(run_id).data.metrics["m"] == 0.7
        client.log_metric(run_id, "m", 0.6, timestamp=T0 + 1, step=5)  # smaller: no change
        assert client.get_run(run_id).data.metrics["m"] == 0.7
        latest = {m.key: m for m in client.get_run(run_id).data.metric_objects}["m"]
        assert (latest.step, latest.timestamp) == (5, T0 + 1)
        history = client.get_metric_history(run_id, "m")
        assert [(p.value, p.timestamp, p.step) for p in history] == [
            (1.0, T0, 5),
            (0.5, T0 + 1, 5),
            (0.6, T0 + 1, 5),
            (0.7, T0 + 1, 5),
            (9.0, T0 + 10, 4),
        ]
        assert client.get_metric_history(run_id, "absent") == []

    def test_log_metric_defaults_and_extras(self, client: Any, run_id: str) -> None:
        model_id = None  # a model id means something only to stores with logged models
        if client._store.capabilities.logged_models:
            experiment_id = client.get_run(run_id).info.experiment_id
            model_id = client.create_logged_model(experiment_id).model_id
        client.log_metric(
            run_id, "d", 2, dataset_name="train", dataset_digest="abc", model_id=model_id
        )
        (point,) = client.get_metric_history(run_id, "d")
        assert point.value == 2.0 and isinstance(point.value, float)
        assert point.step == 0 and point.timestamp > T0

    def test_special_float_values_round_trip(self, client: Any, run_id: str) -> None:
        for i, v in enumerate([float("nan"), float("inf"), float("-inf"), -0.5, 1e-300, 1e300]):
            client.log_metric(run_id, f"v{i}", v, timestamp=T0, step=0)
        metrics = client.get_run(run_id).data.metrics
        assert math.isnan(metrics["v0"])
        assert metrics["v1"] == float("inf") and metrics["v2"] == float("-inf")
        assert (metrics["v3"], metrics["v4"], metrics["v5"]) == (-0.5, 1e-300, 1e300)
        assert math.isnan(client.get_metric_history(run_id, "v0")[0].value)

    def test_nan_takes_part_in_latest_rule_as_zero(self, client: Any, run_id: str) -> None:
        client.log_metric(run_id, "n", -1.0, timestamp=T0, step=1)
        client.log_metric(run_id, "n", float("nan"), timestamp=T0, step=1)  # NaN counts as 0 > -1
        assert math.isnan(client.get_run(run_id).data.metrics["n"])
        client.log_metric(run_id, "n", 0.5, timestamp=T0, step=1)
        assert client.get_run(run_id).data.metrics["n"] == 0.5

    def test_log_batch(self, client: Any, run_id: str) -> None:
        metrics = [Metric("acc", 0.1 * i, T0 + i, i) for i in range(10)]
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param("a", "1"), Param("b", "2")],
            tags=[RunTag("t", "x"), RunTag("t", "y")],  # last value of a key wins
        )
        run = client.get_run(run_id)
        assert run.data.params == {"a": "1", "b": "2"}
        assert run.data.tags["t"] == "y"
        assert run.data.metrics["acc"] == pytest.approx(0.9)
        assert [m.value for m in client.get_metric_history(run_id, "acc")] == [
            m.value for m in metrics
        ]
        client.log_batch(run_id)  # empty is fine

    def test_identical_metric_rows_are_idempotent(self, client: Any, run_id: str) -> None:
        point = Metric("dup", 1.5, T0, 3)
        client.log_batch(run_id, metrics=[point, point])
        client.log_batch(run_id, metrics=[point])
        client.log_metric(run_id, "dup", 1.5, timestamp=T0, step=3)
        client.log_metric(run_id, "dup", 2.5, timestamp=T0, step=3)  # same ts/step, new value
        values = sorted(m.value for m in client.get_metric_history(run_id, "dup"))
        assert values == [1.5, 2.5]

    def test_log_batch_duplicate_param_keys(self, client: Any, run_id: str) -> None:
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_batch,
            run_id,
            metrics=[Metric("m", 1.0, T0, 0)],
            params=[Param("p", "1"), Param("p", "2")],
        )
        run = client.get_run(run_id)
        assert run.data.params == {} and run.data.metrics == {}

    def test_big_batch_with_one_invalid_key_at_the_end(self, client: Any, run_id: str) -> None:
        metrics = [Metric("good", float(i), T0 + i, i) for i in range(4999)]
        metrics.append(Metric("bad/../key", 1.0, T0, 0))
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_batch, run_id, metrics=metrics)
        assert client.get_metric_history(run_id, "good") == []
        assert client.get_run(run_id).data.metrics == {}

    def test_big_batch_failing_in_the_store_writes_nothing(self, client: Any, run_id: str) -> None:
        require_capability(client._store, "transactions")
        client.log_param(run_id, "fixed", "old")
        metrics = [Metric("atomic", float(i), T0 + i, i) for i in range(5000)]
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_batch,
            run_id,
            metrics=metrics,
            params=[Param("new", "1"), Param("fixed", "changed")],
            tags=[RunTag("written", "no")],
        )
        run = client.get_run(run_id)
        assert client.get_metric_history(run_id, "atomic") == []
        assert run.data.params == {"fixed": "old"}
        assert "written" not in run.data.tags
        assert "atomic" not in run.data.metrics

    @pytest.mark.parametrize(
        "key",
        [
            "k" * 251,
            "a/../b",
            "..",
            "a//b",
            "/abs",
            "a/",
            "./a",
            "nul\x00byte",
            "",
            "bad*char",
            "semi;colon",
        ],
    )
    def test_bad_keys(self, client: Any, run_id: str, key: str) -> None:
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_metric, run_id, key, 1.0)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_param, run_id, key, "v")
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.set_tag, run_id, key, "v")
        data = client.get_run(run_id).data
        assert data.metrics == {} and data.params == {}
        assert key not in data.tags

    def test_good_unusual_keys(self, client: Any, run_id: str) -> None:
        keys = ["k" * 250, "a/b/c", "with space", "colon:ok", "dash-dot.under_score", "ünïcödé"]
        for key in keys:
            client.log_metric(run_id, key, 1.0, timestamp=T0)
            client.log_param(run_id, key, "v")
            client.set_tag(run_id, key, "v")
        data = client.get_run(run_id).data
        for key in keys:
            assert data.metrics[key] == 1.0 and data.params[key] == "v" and data.tags[key] == "v"

    @pytest.mark.parametrize(
        "value, timestamp, step",
        [
            ("high", T0, 0),
            ("0x10", T0, 0),
            (None, T0, 0),
            ([1], T0, 0),
            (1.0, -1, 0),
            (1.0, "now", 0),
            (1.0, T0, "first"),
            (1.0, T0, 1.5j),
            (1.0, 2**70, 0),
            (1.0, T0, 2**63),
            (1.0, T0, -(2**64)),
        ],
    )
    def test_bad_metric_values(
        self, client: Any, run_id: str, value: Any, timestamp: Any, step: Any
    ) -> None:
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_metric,
            run_id,
            "m",
            value,
            timestamp=timestamp,
            step=step,
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_batch,
            run_id,
            metrics=[Metric("ok", 1.0, T0, 0), Metric("m", value, timestamp, step)],
        )
        assert client.get_run(run_id).data.metrics == {}

    def test_numeric_strings_and_bools_are_metric_values(self, client: Any, run_id: str) -> None:
        # MLflow's client converts with float(): "0.5", " 1e3 ", "nan", True are all accepted
        client.log_metric(run_id, "s", "0.5", timestamp=T0)
        client.log_metric(run_id, "flag", True, timestamp=T0)
        strings: list[Any] = [" 1e3 ", "nan"]
        client.log_batch(
            run_id, metrics=[Metric("b", strings[0], T0, 1), Metric("n", strings[1], T0, 0)]
        )
        metrics = client.get_run(run_id).data.metrics
        assert (metrics["s"], metrics["flag"], metrics["b"]) == (0.5, 1.0, 1000.0)
        assert math.isnan(metrics["n"])
        assert [m.value for m in client.get_metric_history(run_id, "b")] == [1000.0]

    def test_metric_history_many_points(self, client: Any, run_id: str) -> None:
        points = [Metric("long", float(i), T0 + i, i) for i in range(3000)]
        client.log_batch(run_id, metrics=points[:1000])
        client.log_batch(run_id, metrics=points[1000:])
        history = client.get_metric_history(run_id, "long")
        assert len(history) == 3000
        assert [p.step for p in history] == list(range(3000))
        store = client._store
        page = store.get_metric_history(run_id, "long", max_results=1000)
        assert len(page) == 1000 and page.token
        second = store.get_metric_history(run_id, "long", max_results=1000, page_token=page.token)
        assert second[0].step == 1000

    @pytest.mark.parametrize("max_results", [0, -1, True, 1.5, "10"])
    def test_metric_history_bad_paging_is_refused(
        self, client: Any, run_id: str, max_results: Any
    ) -> None:
        client.log_metric(run_id, "m", 1.0, step=0)
        history = client._store.get_metric_history
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, history, run_id, "m", max_results=max_results)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, history, run_id, "m", page_token="not-a-token")

    def test_concurrent_threads_log_to_one_store(self, client: Any, exp_id: str) -> None:
        run_ids = [client.create_run(exp_id).info.run_id for _ in range(2)]
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for b in range(5):
                    client.log_batch(
                        run_ids[worker % 2],
                        metrics=[
                            Metric(f"k{j}", float(worker), T0 + b, worker * 100 + b)
                            for j in range(20)
                        ],
                        tags=[RunTag(f"w{worker}", str(b))],
                    )
                    client.log_metric(run_ids[worker % 2], "single", float(b), T0 + b, worker)
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for r, rid in enumerate(run_ids):
            assert len(client.get_metric_history(rid, "k0")) == 10
            assert len(client.get_metric_history(rid, "single")) == 10
            tags = client.get_run(rid).data.tags
            assert {f"w{w}" for w in range(4) if w % 2 == r} <= set(tags)

    # -- search ----------------------------------------------------------------------------
    @pytest.fixture
    def search_fixture(self, client: Any) -> tuple[Any, list[str], list[Run]]:
        """Two experiments with runs that cover every kind of value a filter can meet."""
        exp_a = client.create_experiment("search-a")
        exp_b = client.create_experiment("search-b")
        spec: list[dict[str, Any]] = []
        optimizers = ["adam", "sgd", "Adam", None, "adagrad"]
        for i in range(24):
            spec.append(
                {
                    "exp": exp_a if i % 5 else exp_b,
                    "name": f"run-{i:02d}",
                    # a few equal start times exercise the run_id tie-breaker
                    "start": T0 + (i // 3) * 1000 if i % 7 == 0 else T0 + i * 1000,
                    "metrics": {
                        "acc": [0.25, 0.5, 0.75, 1.0, float("nan"), None][i % 6],
                        "loss": None if i % 4 == 0 else 2.0 - i * 0.1,
                        "val loss": None if i % 3 else float(i),
                    },
                    "params": {
                        "lr": ["0.1", "0.01", "0.001"][i % 3],
                        "batch": ["32", "64"][i % 2],
                        "optimizer": optimizers[i % 5],
                        "note": "a;b" if i == 7 else None,
                    },
                    "tags": {
                        "team": ["vision", "nlp", None, "Vision"][i % 4],
                        "mlflow.user": "alice" if i % 2 else "bob",
                    },
                    "status": ["RUNNING", "FINISHED", "FAILED", "FINISHED"][i % 4],
                }
            )
        run_ids = []
        for s in spec:
            tags = {k: v for k, v in s["tags"].items() if v is not None}
            run = client.create_run(s["exp"], start_time=s["start"], tags=tags, run_name=s["name"])
            rid = run.info.run_id
            metrics = []
            for key, value in s["metrics"].items():
                if value is not None:
                    metrics.append(Metric(key, -5.0, s["start"], 0))
                    metrics.append(Metric(key, value, s["start"] + 1, 1))
            params = [Param(k, v) for k, v in s["params"].items() if v is not None]
            client.log_batch(rid, metrics=metrics, params=params)
            if s["status"] != "RUNNING":
                client.set_terminated(rid, s["status"], end_time=s["start"] + 500)
            run_ids.append(rid)
        client.delete_run(run_ids[-1])
        runs = [client.get_run(r) for r in run_ids]
        return client, [exp_a, exp_b], runs

    def _expected(
        self,
        runs: list[Run],
        exp_ids: list[str],
        filter_string: str,
        order_by: list[str] | None,
        view: int = ViewType.ACTIVE_ONLY,
    ) -> list[str]:
        request = search.RunSearch.parse(exp_ids, filter_string, view, 50000, order_by)
        return [r.info.run_id for r in search.search_runs_in_memory(runs, request)]

    @pytest.mark.parametrize("filter_string, order_by, needs", SEARCH_CASES)
    def test_search_runs_matches_evaluator(
        self, search_fixture: Any, filter_string: str, order_by: list[str] | None, needs: str
    ) -> None:
        client, exp_ids, runs = search_fixture
        if needs:
            require_capability(client._store, needs)
        expected = self._expected(runs, exp_ids, filter_string, order_by)
        got = client.search_runs(exp_ids, filter_string, order_by=order_by)
        assert [r.info.run_id for r in got] == expected
        assert got.token is None
        paged: list[str] = []
        token = None
        while True:
            page = client.search_runs(
                exp_ids, filter_string, order_by=order_by, max_results=5, page_token=token
            )
            assert len(page) <= 5
            paged.extend(r.info.run_id for r in page)
            token = page.token
            if not token:
                break
        assert paged == expected

    def test_search_runs_returns_full_runs(self, search_fixture: Any) -> None:
        client, exp_ids, runs = search_fixture
        by_id = {r.info.run_id: r for r in runs}
        for got in client.search_runs(exp_ids, run_view_type=ViewType.ALL):
            want = by_id[got.info.run_id]
            assert got.info == want.info
            assert got.data.params == want.data.params
            assert got.data.tags == want.data.tags
            assert set(got.data.metrics) == set(want.data.metrics)
            for k, v in want.data.metrics.items():
                assert _same_float(got.data.metrics[k], v)

    def test_search_runs_view_types_and_experiments(self, search_fixture: Any) -> None:
        client, exp_ids, runs = search_fixture
        for view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
            for ids in ([exp_ids[0]], [exp_ids[1]], exp_ids):
                got = client.search_runs(ids, run_view_type=view)
                assert [r.info.run_id for r in got] == self._expected(runs, ids, "", None, view)
        assert client.search_runs(exp_ids[0], "metrics.acc > 0") is not None  # a bare id works
        assert list(client.search_runs(["123456"])) == []

    def test_search_runs_default_order(self, search_fixture: Any) -> None:
        client, exp_ids, _ = search_fixture
        got = client.search_runs(exp_ids)
        keys = [(-r.info.start_time, r.info.run_id) for r in got]
        assert keys == sorted(keys)

    def test_search_runs_in_list(self, search_fixture: Any) -> None:
        client, exp_ids, runs = search_fixture
        some = [runs[1].info.run_id, runs[2].info.run_id, runs[9].info.run_id]
        quoted = ", ".join(f"'{r}'" for r in some)
        got = client.search_runs(exp_ids, f"attributes.run_id IN ({quoted})")
        assert {r.info.run_id for r in got} == set(some)
        got = client.search_runs(exp_ids, f"run_id NOT IN ({quoted})")
        assert not {r.info.run_id for r in got} & set(some)
        assert [r.info.run_id for r in got] == self._expected(
            runs, exp_ids, f"run_id NOT IN ({quoted})", None
        )

    @pytest.mark.parametrize(
        "bad_filter",
        [
            "metrics.acc == 0.5",
            "metrics.acc <> 0.5",
            "params.lr = '0.1",
            "params.lr = 0.1",
            "metrics.acc > '0.5'",
            "foo.bar = 'x'",
            "params.lr = '0.1'; DROP TABLE runs",
            "params.lr = '0.1' AND",
            "(metrics.acc > 0.5",
            "metrics.acc > 0.5)",
            "tags.x = 'a' OR 1=1",
            "experiment_id = '0'",
            "lifecycle_stage = 'deleted'",
            "params.lr IN ('0.1')",
            "run_id IN ()",
            "start_time > 'yesterday'",
            "metrics.acc IS NULL",
        ],
    )
    def test_search_runs_bad_filters(self, search_fixture: Any, bad_filter: str) -> None:
        client, exp_ids, runs = search_fixture
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_runs, exp_ids, bad_filter)
        # the store is intact afterwards
        assert len(client.search_runs(exp_ids, run_view_type=ViewType.ALL)) == len(runs)

    def test_search_runs_injection_in_values_is_literal(self, search_fixture: Any) -> None:
        client, exp_ids, runs = search_fixture
        for value in ["x' OR '1'='1", "0.1'; DELETE FROM runs; --", "%' OR 1=1 --"]:
            assert list(client.search_runs(exp_ids, f'params.lr = "{value}"')) == []
            assert list(client.search_runs(exp_ids, f'tags.team LIKE "{value}"')) == []
        assert len(client.search_runs(exp_ids, run_view_type=ViewType.ALL)) == len(runs)

    @pytest.mark.parametrize(
        "order_by",
        [
            ["metrics.acc SIDEWAYS"],
            ["nosuch ASC"],
            ["`Run name` ASC"],
            ["metrics.acc DESC, start_time"],
        ],
    )
    def test_search_runs_bad_order_by(self, search_fixture: Any, order_by: list[str]) -> None:
        client, exp_ids, _ = search_fixture
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.search_runs, exp_ids, "", order_by=order_by
        )

    @pytest.mark.parametrize(
        "token",
        ["not-a-token", "eyJvZmZzZXQiOiAtMX0=", "eyJvZmZzZXQiOiAiMSJ9", "e30=", "W10=", "%%%"],
    )
    def test_search_runs_bad_page_token(self, search_fixture: Any, token: str) -> None:
        client, exp_ids, _ = search_fixture
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_runs, exp_ids, page_token=token)

    def test_search_max_results_limits(self, search_fixture: Any) -> None:
        client, exp_ids, _ = search_fixture
        for bad in (0, -1, 50001, True, "10"):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_runs, exp_ids, max_results=bad)
        for bad in (0, 50001):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_experiments, max_results=bad)
        assert len(client.search_runs(exp_ids, max_results=50000)) > 0

    # -- artifacts through the client ---------------------------------------------------------
    def test_artifacts_round_trip(self, client: Any, run_id: str, tmp_path: Any) -> None:
        client.log_text(run_id, "hello\n", "notes/readme.txt")
        client.log_dict(run_id, {"a": 1, "b": [1, 2]}, "config.json")
        client.log_dict(run_id, {"a": 1, "b": [1, 2]}, "conf/config.yaml")
        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "one.txt").write_text("1")
        (src / "sub" / "two.txt").write_text("22")
        client.log_artifact(run_id, str(src / "one.txt"))
        client.log_artifact(run_id, str(src / "one.txt"), "copies")
        client.log_artifacts(run_id, str(src), "tree")
        client.log_artifact(run_id, str(src / "sub"))  # a directory keeps its name
        top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
        assert top == {
            ("notes", True),
            ("config.json", False),
            ("conf", True),
            ("one.txt", False),
            ("copies", True),
            ("tree", True),
            ("sub", True),
        }
        tree = client.list_artifacts(run_id, "tree")
        assert [(f.path, f.is_dir) for f in tree] == [("tree/one.txt", False), ("tree/sub", True)]
        assert [f.file_size for f in tree] == [1, None]
        dst = tmp_path / "dst"
        dst.mkdir()
        local = client.download_artifacts(run_id, "tree", str(dst))
        assert _read(os.path.join(local, "sub", "two.txt")) == "22"
        local = client.download_artifacts(run_id, "config.json", str(dst))
        assert json.loads(_read(local)) == {"a": 1, "b": [1, 2]}
        import yaml

        local = client.download_artifacts(run_id, "conf/config.yaml", str(dst))
        assert yaml.safe_load(_read(local)) == {"a": 1, "b": [1, 2]}
        assert _read(client.download_artifacts(run_id, "notes/readme.txt")) == "hello\n"

    @pytest.mark.parametrize(
        "path", ["../escape.txt", "/abs.txt", "a\\b.txt", "%2e%2e/x.txt", "a/../../x.txt", "C:\\x"]
    )
    def test_artifact_paths_cannot_escape(
        self, client: Any, run_id: str, path: str, tmp_path: Any
    ) -> None:
        src = tmp_path / "source.txt"
        src.write_text("x")
        dst = tmp_path / "downloads"
        dst.mkdir()
        before = {p for p in tmp_path.rglob("*") if not str(p).endswith(("-wal", "-shm"))}
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_text, run_id, "x", path)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_artifact, run_id, str(src), path)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.download_artifacts, run_id, path, str(dst)
        )
        after = {p for p in tmp_path.rglob("*") if not str(p).endswith(("-wal", "-shm"))}
        assert after == before
        assert client.list_artifacts(run_id) == []
        assert not os.path.exists("/abs.txt")
