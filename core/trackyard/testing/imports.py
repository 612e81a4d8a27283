"""``ImportChecks``: entities written as they are (capability ``imports``), part of every
``TrackingStoreSuite``.

Each test needs ``imports`` (and ``logged_models`` or ``traces`` and ``assessments`` for
theirs) and skips, saying so, without it. An import keeps ids, times and states exactly, and a
second import of the same entity is RESOURCE_ALREADY_EXISTS with nothing changed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from trackyard.entities import (
    AssessmentSource,
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunTag,
)
from trackyard.entities.trace_assessment import Expectation, Feedback
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._client import require_capability

__all__ = ["ImportChecks"]

_T0 = 1_600_000_000_000


def _refused(code: str, fn: Any, *args: Any) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args)
    assert excinfo.value.error_code == code


def _imported_run(store: Any) -> tuple[str, Run, list[Metric]]:
    """An imported experiment (an id the store gives) holding one imported finished run."""
    exp_id = store.new_experiment_id()
    location = f"{store.artifact_uri.rstrip('/')}/imported-{exp_id}"
    name = f"imported-{uuid.uuid4().hex[:8]}"
    store.import_experiment(
        Experiment(exp_id, name, location, LifecycleStage.ACTIVE, {"t": "1"}, _T0, _T0 + 5)
    )
    run_id = uuid.uuid4().hex
    info = RunInfo(
        run_id, exp_id, "importer", "FINISHED", _T0 + 10, _T0 + 99, LifecycleStage.ACTIVE,
        f"{location}/{run_id}/artifacts", "copied-run",
    )  # fmt: skip
    data = RunData(params=[Param("lr", "0.1")], tags=[RunTag("mlflow.runName", "copied-run")])
    points = [Metric("loss", 1.0 / (s + 1), _T0 + 20 + s, s) for s in range(3)]
    store.import_run(Run(info, data), points)
    return exp_id, Run(info, data), points


class ImportChecks:
    """Checks of the ``import_*`` methods (see :mod:`trackyard._import_store`)."""

    def test_import_keeps_experiment_and_run_as_they_are(self, tracking_store: Any) -> None:
        require_capability(tracking_store, "imports")
        exp_id, run, points = _imported_run(tracking_store)
        exp = tracking_store.get_experiment(exp_id)
        assert (exp.tags.get("t"), exp.creation_time, exp.last_update_time) == ("1", _T0, _T0 + 5)
        got = tracking_store.get_run(run.info.run_id)
        assert dataclass_fields(got.info, "artifact_uri") == dataclass_fields(
            run.info, "artifact_uri"
        )
        assert got.data.params == {"lr": "0.1"}
        assert tracking_store.read_metric_points(run.info.run_id, ["loss"]) == points
        _refused(ErrorCode.RESOURCE_ALREADY_EXISTS, tracking_store.import_run, run, points)
        assert tracking_store.read_metric_points(run.info.run_id, ["loss"]) == points

    def test_import_logged_model_keeps_it_as_it_is(self, tracking_store: Any) -> None:
        require_capability(tracking_store, "imports")
        require_capability(tracking_store, "logged_models")
        exp_id, run, _ = _imported_run(tracking_store)
        run_id = run.info.run_id
        model_id = f"m-{uuid.uuid4().hex}"
        model = LoggedModel(
            experiment_id=exp_id,
            model_id=model_id,
            name="clf",
            artifact_location=f"{tracking_store.artifact_uri.rstrip('/')}/models/{model_id}",
            creation_timestamp=_T0 + 30,
            last_updated_timestamp=_T0 + 40,
            model_type="agent",
            source_run_id=run_id,
            status=LoggedModelStatus.READY,
            status_message="done",
            tags={"a": "b"},
            params={"depth": "3"},
            metrics=[
                Metric("acc", 0.5, _T0 + 31, 1, model_id=model_id, run_id=run_id),
                Metric("acc", 0.75, _T0 + 32, 2, model_id=model_id, run_id=run_id,
                       dataset_name="eval", dataset_digest="abc"),
            ],
        )  # fmt: skip
        tracking_store.import_logged_model(model)
        got = tracking_store.get_logged_model(model_id)
        assert sorted(got.metrics or (), key=repr) == sorted(model.metrics or (), key=repr)
        assert dataclass_fields(got, "metrics") == dataclass_fields(model, "metrics")
        _refused(ErrorCode.RESOURCE_ALREADY_EXISTS, tracking_store.import_logged_model, model)
        assert len(tracking_store.get_logged_model(model_id).metrics or ()) == 2

    def test_import_assessment_keeps_id_times_and_validity(
        self, tracking_store: Any, client: Any
    ) -> None:
        require_capability(tracking_store, "imports")
        require_capability(tracking_store, "traces")
        require_capability(tracking_store, "assessments")
        exp_id, run, _ = _imported_run(tracking_store)
        root = client.start_trace("root", experiment_id=exp_id)
        client.end_trace(root.trace_id)
        trace_id = root.trace_id
        old = Feedback("good", True, source=AssessmentSource("LLM_JUDGE", "j"), trace_id=trace_id,
                       rationale="fine", create_time_ms=_T0 + 50, last_update_time_ms=_T0 + 51,
                       valid=False)  # fmt: skip
        old.assessment_id = f"a-{uuid.uuid4().hex}"
        new = Feedback("good", False, trace_id=trace_id, overrides=old.assessment_id,
                       metadata={"k": "v"}, create_time_ms=_T0 + 60,
                       last_update_time_ms=_T0 + 60)  # fmt: skip
        new.assessment_id = f"a-{uuid.uuid4().hex}"
        truth = Expectation("answer", {"text": "42"}, trace_id=trace_id, span_id=root.span_id,
                            create_time_ms=_T0 + 70, last_update_time_ms=_T0 + 80)  # fmt: skip
        truth.assessment_id = f"a-{uuid.uuid4().hex}"
        truth.run_id = run.info.run_id
        for assessment in (new, old, truth):  # any order: nothing is derived on import
            tracking_store.import_assessment(assessment)
        for assessment in (old, new, truth):
            got = tracking_store.get_assessment(trace_id, assessment.assessment_id)
            assert got.to_dictionary() == assessment.to_dictionary()
        held = tracking_store.get_trace_info(trace_id).assessments
        assert {a.assessment_id for a in held} == {a.assessment_id for a in (old, new, truth)}
        _refused(ErrorCode.RESOURCE_ALREADY_EXISTS, tracking_store.import_assessment, old)
        assert tracking_store.get_assessment(trace_id, old.assessment_id).valid is False
        stray = Feedback("good", 1, trace_id="tr-" + uuid.uuid4().hex)
        stray.assessment_id = f"a-{uuid.uuid4().hex}"
        _refused(ErrorCode.RESOURCE_DOES_NOT_EXIST, tracking_store.import_assessment, stray)


def dataclass_fields(obj: Any, *leave_out: str) -> dict[str, Any]:
    """``obj``'s dataclass fields as a dict, without ``leave_out``."""
    import dataclasses

    return {
        f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in leave_out
    }
