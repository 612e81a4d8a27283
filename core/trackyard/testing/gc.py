"""``GcChecks``: garbage collection of deleted data, part of every ``TrackingStoreSuite``.

Every test but one needs the ``gc`` capability and skips, saying so, without it; the other
checks that a store without it answers FEATURE_DISABLED. The store-level tests pin deletion
times with explicit cutoffs; the :func:`trackyard.gc.collect` tests move garbage
collection's clock forward instead of waiting.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from trackyard import gc as gc_module
from trackyard.backends import get_artifact_repository
from trackyard.entities import LifecycleStage, Metric, Param, RunTag, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._client import require_capability
from trackyard.testing._state import describe_difference, store_state

__all__ = ["GcChecks"]

DAY_MS = 86_400_000


def _code(fn: Any, *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    return excinfo.value


def _full_run(client: Any, exp_id: str, *, artifact: bool = True) -> str:
    """A run with params, a metric history, tags and (optionally) an artifact file."""
    run_id = str(client.create_run(exp_id, tags={"team": "gc"}).info.run_id)
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(5)],
        params=[Param("lr", "0.1")],
        tags=[RunTag("note", "kept until gc")],
    )
    if artifact:
        client.log_text(run_id, "weights", "model/weights.txt")
    return run_id


def _trace(client: Any, exp_id: str) -> str:
    root = client.start_trace("root", inputs={"q": 1}, experiment_id=exp_id)
    client.set_trace_tag(root.trace_id, "k", "v")
    client.end_trace(root.trace_id, outputs={"a": 2})
    return str(root.trace_id)


def _artifact_files(uri: str) -> list[str]:
    repo = get_artifact_repository(uri)
    found: list[str] = []
    pending: list[str | None] = [None]
    while pending:
        for info in repo.list_artifacts(pending.pop()):
            if info.is_dir:
                pending.append(info.path)
            else:
                found.append(info.path)
    return sorted(found)


def _run_ids(client: Any, exp_ids: list[str]) -> set[str]:
    runs = client.search_runs(exp_ids, run_view_type=ViewType.ALL, max_results=1000)
    return {r.info.run_id for r in runs}


def _later(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """Let garbage collection believe it runs ``days`` days from now."""
    from trackyard.clock import now_ms

    monkeypatch.setattr("trackyard.gc.now_ms", lambda: now_ms() + days * DAY_MS)


def _tick() -> None:
    """Let the millisecond clock move on, so deletion times are strictly ordered."""
    time.sleep(0.003)


class GcChecks:
    """The hard-delete contract and ``trackyard.gc`` on the store under test."""

    def test_store_without_gc_refuses(self, tracking_store: Any) -> None:
        if tracking_store.capabilities.gc:
            pytest.skip(f"{type(tracking_store).__name__} declares 'gc': covered by the others")
        exc = _code(tracking_store.deleted_runs)
        assert exc.error_code == ErrorCode.FEATURE_DISABLED
        exc = _code(gc_module.collect, tracking_store, dry_run=True)
        assert exc.error_code == ErrorCode.FEATURE_DISABLED

    def test_deleted_runs_and_experiments_by_deletion_time(
        self, tracking_store: Any, client: Any
    ) -> None:
        require_capability(tracking_store, "gc")
        store = tracking_store
        kept = client.create_experiment("gc-kept")
        doomed = client.create_experiment("gc-doomed")
        active = client.create_run(kept).info.run_id
        first, second = (client.create_run(kept).info.run_id for _ in range(2))
        inner = client.create_run(doomed).info.run_id
        client.delete_run(first)
        _tick()
        after_first = int(time.time() * 1000)
        _tick()
        client.delete_run(second)
        _tick()
        after_second = int(time.time() * 1000)
        _tick()
        client.delete_experiment(doomed)

        every = store.deleted_runs()
        assert [r.run_id for r in every] == sorted([first, second, inner])
        assert active not in {r.run_id for r in every}
        by_id = {r.run_id: r for r in every}
        assert by_id[first].experiment_id == kept and by_id[inner].experiment_id == doomed
        assert first in by_id[first].artifact_uri
        assert by_id[first].deleted_time is not None
        assert by_id[first].deleted_time <= after_first < by_id[second].deleted_time
        assert [r.run_id for r in store.deleted_runs(after_first)] == [first]
        assert {r.run_id for r in store.deleted_runs(after_second)} == {first, second}
        assert [r.run_id for r in store.deleted_runs(None, [doomed])] == [inner]
        assert store.deleted_runs(None, ["123456789"]) == []

        experiments = store.deleted_experiments()
        assert [e.experiment_id for e in experiments] == [doomed]
        assert experiments[0].name == "gc-doomed" and experiments[0].active_runs == 0
        assert store.deleted_experiments(after_second) == []
        client.restore_run(inner)
        assert store.deleted_experiments()[0].active_runs == 1

    def test_hard_delete_run_removes_it_and_nothing_else(
        self, tracking_store: Any, client: Any, exp_id: str
    ) -> None:
        require_capability(tracking_store, "gc")
        store = tracking_store
        doomed = _full_run(client, exp_id, artifact=False)
        kept = _full_run(client, exp_id, artifact=False)
        if store.capabilities.datasets:
            from trackyard.entities import Dataset, DatasetInput

            dataset = DatasetInput(Dataset("train", "d1", "local", "/data", None, None))
            client.log_inputs(doomed, [dataset])
            client.log_inputs(kept, [dataset])
        client.delete_run(doomed)
        refused = _code(store.hard_delete_run, kept)
        assert refused.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        before = store_state(client)
        assert (
            _code(store.hard_delete_run, "f" * 32).error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
        )

        store.hard_delete_run(doomed)
        assert _code(client.get_run, doomed).error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
        assert _run_ids(client, [exp_id]) == {kept}
        assert store.deleted_runs() == []
        after = store_state(client)
        del before["tracking"][exp_id]["runs"][doomed]
        assert after == before, describe_difference(before, after)
        if store.capabilities.datasets:
            assert len(client.get_run(kept).inputs.dataset_inputs) == 1

    def test_hard_delete_experiment_removes_it_with_its_runs(
        self, tracking_store: Any, client: Any
    ) -> None:
        require_capability(tracking_store, "gc")
        store = tracking_store
        doomed = client.create_experiment("gc-exp", tags={"k": "v"})
        runs = [_full_run(client, doomed, artifact=False) for _ in range(2)]
        other = client.create_experiment("gc-other")
        survivor = _full_run(client, other, artifact=False)
        traces = store.capabilities.traces
        if traces:
            doomed_trace, kept_trace = (_trace(client, e) for e in (doomed, other))
        if store.capabilities.datasets:
            from trackyard.entities import Dataset, DatasetInput

            dataset = DatasetInput(Dataset("train", "d1", "local", "/data", None, None))
            client.log_inputs(runs[1], [dataset])
        refused = _code(store.hard_delete_experiment, doomed)
        assert refused.error_code == ErrorCode.INVALID_PARAMETER_VALUE  # still active
        client.delete_experiment(doomed)
        client.restore_run(runs[0])
        busy = _code(store.hard_delete_experiment, doomed)
        assert busy.error_code == ErrorCode.INVALID_PARAMETER_VALUE and "active" in str(busy)
        client.delete_run(runs[0])
        before = store_state(client)

        store.hard_delete_experiment(doomed)
        assert _code(client.get_experiment, doomed).error_code == (
            ErrorCode.RESOURCE_DOES_NOT_EXIST
        )
        for run_id in runs:
            assert _code(client.get_run, run_id).error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
        assert store.deleted_runs() == [] and store.deleted_experiments() == []
        after = store_state(client)
        del before["tracking"][doomed]
        assert after == before, describe_difference(before, after)
        assert client.get_run(survivor).data.params == {"lr": "0.1"}
        if traces:
            gone = _code(client.get_trace, doomed_trace)
            assert gone.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
            assert client.get_trace(kept_trace).info.trace_id == kept_trace
        missing = _code(store.hard_delete_experiment, doomed)
        assert missing.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
        # the name is free again, as after MLflow's gc
        again = client.create_experiment("gc-exp")
        assert client.get_experiment_by_name("gc-exp").experiment_id == again

    def test_gc_honours_the_retention_and_removes_artifacts(
        self, tracking_store: Any, client: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        require_capability(tracking_store, "gc")
        store = tracking_store
        kept_exp = client.create_experiment("gc-live")
        doomed_exp = client.create_experiment("gc-dead")
        active = _full_run(client, kept_exp)
        deleted = _full_run(client, kept_exp)
        inner = _full_run(client, doomed_exp)
        uris = {r: client.get_run(r).info.artifact_uri for r in (active, deleted, inner)}
        assert _artifact_files(uris[inner]) == ["model/weights.txt"]
        client.delete_run(deleted)
        client.delete_experiment(doomed_exp)
        before = store_state(client)

        young = gc_module.collect(store, older_than="1d")
        assert (young.runs, young.experiments, young.failures) == ((), (), ())
        _later(monkeypatch, 2)
        plan = gc_module.collect(store, older_than="1d", dry_run=True)
        assert plan.dry_run and plan.ok, plan.failures
        assert sorted(plan.runs) == sorted([deleted, inner]) and plan.experiments == (doomed_exp,)
        after = store_state(client)
        assert after == before, describe_difference(before, after)
        # (the file store moves a deleted experiment, with its default artifacts, to .trash)
        assert _artifact_files(uris[deleted]) == ["model/weights.txt"]

        done = gc_module.collect(store, older_than=timedelta(days=1))
        assert done.ok, done.failures
        assert sorted(done.runs) == sorted([deleted, inner]) and done.experiments == (doomed_exp,)
        assert _artifact_files(uris[deleted]) == [] and _artifact_files(uris[inner]) == []
        assert _run_ids(client, [kept_exp]) == {active}
        assert _artifact_files(uris[active]) == ["model/weights.txt"]
        assert client.get_run(active).info.lifecycle_stage == LifecycleStage.ACTIVE
        remaining = store_state(client)
        del before["tracking"][doomed_exp]
        del before["tracking"][kept_exp]["runs"][deleted]
        assert remaining == before, describe_difference(before, remaining)
        again = gc_module.collect(store)
        assert (again.runs, again.experiments, again.failures) == ((), (), ())

    def test_gc_named_ids_remove_exactly_those(self, tracking_store: Any, client: Any) -> None:
        require_capability(tracking_store, "gc")
        store = tracking_store
        exp = client.create_experiment("gc-named")
        x, y = (_full_run(client, exp, artifact=False) for _ in range(2))
        gone = client.create_experiment("gc-named-gone")
        inner = _full_run(client, gone, artifact=False)
        busy = client.create_experiment("gc-named-busy")
        restored = client.create_run(busy).info.run_id
        for run_id in (x, y):
            client.delete_run(run_id)
        client.delete_experiment(gone)
        client.delete_experiment(busy)
        client.restore_run(restored)

        report = gc_module.collect(store, run_ids=[x])
        assert report.runs == (x,) and report.experiments == ()
        assert {r.run_id for r in store.deleted_runs()} == {y, inner}
        report = gc_module.collect(store, experiment_ids=[gone])
        assert report.runs == (inner,) and report.experiments == (gone,)
        assert [r.run_id for r in store.deleted_runs()] == [y]
        report = gc_module.collect(store)
        assert report.runs == (y,) and report.experiments == ()
        assert [(p.kind, p.id) for p in report.skipped] == [("experiment", busy)]
        assert client.get_run(restored).info.lifecycle_stage == LifecycleStage.ACTIVE
        assert client.get_experiment(busy).lifecycle_stage == LifecycleStage.DELETED

    def test_gc_bad_input_is_refused_and_writes_nothing(
        self, tracking_store: Any, client: Any, exp_id: str
    ) -> None:
        require_capability(tracking_store, "gc")
        store = tracking_store
        deleted = _full_run(client, exp_id)
        active = _full_run(client, exp_id)
        client.delete_run(deleted)
        gone = client.create_experiment("gc-bad-gone")
        client.delete_experiment(gone)
        before = store_state(client)
        bad = ErrorCode.INVALID_PARAMETER_VALUE
        # (arguments, error code, text the message must hold, text it must not)
        cases: list[tuple[dict[str, Any], str, list[str], list[str]]] = [
            ({"older_than": "-1d"}, bad, ["-1d"], []),
            ({"older_than": timedelta(hours=-1)}, bad, ["future"], []),
            ({"older_than": "soon"}, bad, ["soon"], []),
            ({"older_than": ""}, bad, [], []),
            ({"older_than": "3h2d"}, bad, [], []),
            ({"run_ids": [deleted, active]}, bad, [active], [deleted]),
            ({"run_ids": ["0" * 32]}, ErrorCode.RESOURCE_DOES_NOT_EXIST, ["0" * 32], []),
            ({"run_ids": deleted}, bad, [], []),
            ({"run_ids": [deleted], "older_than": "1d"}, bad, [deleted], []),
            ({"experiment_ids": [exp_id, gone]}, bad, [exp_id], [gone]),
            ({"experiment_ids": [gone], "older_than": "1d"}, bad, [gone], []),
        ]
        for kwargs, code, mentioned, unmentioned in cases:
            exc = _code(gc_module.collect, store, **kwargs)
            assert exc.error_code == code, f"{kwargs}: {exc.error_code} {exc}"
            assert all(t in str(exc) for t in mentioned), f"{kwargs}: {exc}"
            assert not any(t in str(exc) for t in unmentioned), f"{kwargs}: {exc}"
        after = store_state(client)
        assert after == before, describe_difference(before, after)
        assert _artifact_files(client.get_run(deleted).info.artifact_uri) == ["model/weights.txt"]
