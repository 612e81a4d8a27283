"""``RunInputChecks``: run inputs and outputs, part of every ``TrackingStoreSuite``.

Every test needs the ``datasets`` capability (and ``logged_models`` where models take part)
and skips, saying so, without it. ``datasets.`` run searches are compared with the reference
evaluator (:func:`trackyard.search.search_runs_in_memory`).
"""

from __future__ import annotations

from typing import Any

import pytest

from trackyard import search
from trackyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._client import require_capability

__all__ = ["DATASET_SEARCH_CASES", "RunInputChecks"]

CONTEXT = "mlflow.data.context"

DATASET_SEARCH_CASES: list[tuple[str, list[str] | None]] = [
    ("datasets.name = 'train'", None),
    ("datasets.name != 'train'", None),
    ("datasets.name LIKE 'tr%'", ["start_time ASC"]),
    ("datasets.name ILIKE 'EVAL%'", None),
    ("datasets.digest IN ('d0', 'd3')", None),
    ("datasets.digest NOT IN ('d0')", None),
    ("datasets.context = 'evaluation'", None),
    ("datasets.context != 'training'", None),
    ("datasets.name = 'train' AND metrics.acc > 0.3", ["metrics.acc DESC"]),
    ("datasets.context = 'training' AND params.lr = '0.1'", None),
]


def _ds(name: str, digest: str, context: str | None = None, source: str = "/data") -> DatasetInput:
    tags = (InputTag(CONTEXT, context),) if context else ()
    return DatasetInput(Dataset(name, digest, "local", source, '{"cols": 2}', None), tags)


def _summary(run: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (
            i.dataset.name,
            i.dataset.digest,
            i.dataset.source_type,
            i.dataset.source,
            i.dataset.schema,
            tuple(sorted((t.key, t.value) for t in i.tags)),
        )
        for i in run.inputs.dataset_inputs
    )


def _expect(code: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    assert excinfo.value.error_code == code, f"expected {code}: {excinfo.value}"


class RunInputChecks:
    """log_inputs / log_outputs, Run.inputs / Run.outputs and ``datasets.`` searches."""

    @pytest.fixture
    def io_client(self, client: Any) -> Any:
        require_capability(client._store, "datasets")
        return client

    def test_log_dataset_inputs(self, io_client: Any, exp_id: str, run_id: str) -> None:
        client = io_client
        client.log_inputs(
            run_id,
            [
                _ds("train", "d1", "training"),
                _ds("eval", "d2", "evaluation"),
                _ds("train", "d1", "ignored", source="/other"),  # same name+digest: first wins
            ],
        )
        want = [
            ("eval", "d2", "local", "/data", '{"cols": 2}', ((CONTEXT, "evaluation"),)),
            ("train", "d1", "local", "/data", '{"cols": 2}', ((CONTEXT, "training"),)),
        ]
        assert _summary(client.get_run(run_id)) == want
        client.log_inputs(run_id, [_ds("train", "d1", "training")])  # again: no change
        assert _summary(client.get_run(run_id)) == want
        # a dataset is one per experiment: another run reuses it, with its own input tags
        other = client.create_run(exp_id).info.run_id
        client.log_inputs(other, [_ds("train", "d1", "retraining", source="/moved")])
        assert _summary(client.get_run(other)) == [
            ("train", "d1", "local", "/data", '{"cols": 2}', ((CONTEXT, "retraining"),))
        ]
        found = client.search_runs([exp_id], "datasets.context = 'retraining'")
        assert [r.info.run_id for r in found] == [other]
        assert _summary(found[0]) == _summary(client.get_run(other))

    def test_model_inputs_and_outputs(self, io_client: Any, exp_id: str, run_id: str) -> None:
        client = io_client
        require_capability(client._store, "logged_models")
        a = client.create_logged_model(exp_id, "a").model_id
        b = client.create_logged_model(exp_id, "b").model_id
        client.log_inputs(run_id, models=[LoggedModelInput(a)])
        client.log_inputs(run_id, models=[LoggedModelInput(a)])  # again: no change
        client.log_outputs(run_id, [LoggedModelOutput(b, 3)])
        client.log_outputs(run_id, [LoggedModelOutput(b, 5)])  # the new step
        run = client.get_run(run_id)
        assert list(run.inputs.model_inputs) == [LoggedModelInput(a)]
        assert list(run.outputs.model_outputs) == [LoggedModelOutput(b, 5)]
        (found,) = client.search_runs([exp_id], f"attributes.run_id = '{run_id}'")
        assert list(found.outputs.model_outputs) == [LoggedModelOutput(b, 5)]
        missing = "m-" + "4" * 32
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.log_outputs,
            run_id,
            [LoggedModelOutput(missing, 1)],
        )
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.log_inputs,
            run_id,
            [_ds("new", "n1")],
            [LoggedModelInput(missing)],
        )
        run = client.get_run(run_id)
        assert _summary(run) == []  # the failed call wrote nothing
        assert list(run.outputs.model_outputs) == [LoggedModelOutput(b, 5)]

    @pytest.mark.parametrize(
        "bad",
        [
            "not a list",
            [Dataset("n", "d", "local", "/s")],
            [DatasetInput(Dataset(None, "d", "local", "/s"))],  # type: ignore[arg-type]
            [DatasetInput(Dataset("n", None, "local", "/s"))],  # type: ignore[arg-type]
            [DatasetInput(Dataset("n", "d", "local", None))],  # type: ignore[arg-type]
            [DatasetInput(Dataset("n", "d" * 37, "local", "/s"))],
            [DatasetInput(Dataset("n" * 501, "d", "local", "/s"))],
            [DatasetInput(Dataset("n", "d", "local", "/s"), (InputTag("k", "v" * 501),))],
            [DatasetInput(Dataset("n", "d", "local", "/s"), (InputTag("k", None),))],  # type: ignore[arg-type]
        ],
    )
    def test_log_inputs_bad_input_writes_nothing(
        self, io_client: Any, run_id: str, bad: Any
    ) -> None:
        client = io_client
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_inputs,
            run_id,
            [_ds("ok", "ok"), *bad] if isinstance(bad, list) else bad,
        )
        assert _summary(client.get_run(run_id)) == []

    def test_log_inputs_to_missing_or_deleted_run(self, io_client: Any, exp_id: str) -> None:
        client = io_client
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.log_inputs, "f" * 32, [_ds("a", "b")])
        run = client.create_run(exp_id).info.run_id
        client.delete_run(run)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_inputs, run, [_ds("a", "b")])
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.log_inputs, run, [])
        client.restore_run(run)
        assert _summary(client.get_run(run)) == []

    @pytest.fixture
    def dataset_search_fixture(self, io_client: Any) -> tuple[Any, list[str], list[Any]]:
        client = io_client
        exp = client.create_experiment("inputs-search")
        ids = []
        for i in range(8):
            rid = client.create_run(exp, start_time=1_700_000_000_000 + i * 1000).info.run_id
            client.log_batch(rid, metrics=[Metric("acc", i / 8, 1, 0)])
            client.log_param(rid, "lr", ["0.1", "0.01"][i % 2])
            if i % 4 != 3:
                inputs = [
                    _ds(
                        ["train", "eval", "Eval-2"][i % 3],
                        f"d{i}",
                        ["training", "evaluation", None][i % 3],
                    )
                ]
                if i % 2:
                    inputs.append(_ds("extra", f"x{i}", "training"))
                client.log_inputs(rid, inputs)
            ids.append(rid)
        return client, [exp], [client.get_run(r) for r in ids]

    @pytest.mark.parametrize("filter_string, order_by", DATASET_SEARCH_CASES)
    def test_dataset_searches_match_evaluator(
        self, dataset_search_fixture: Any, filter_string: str, order_by: list[str] | None
    ) -> None:
        client, exp_ids, runs = dataset_search_fixture
        request = search.RunSearch.parse(exp_ids, filter_string, 1, 1000, order_by)
        want = [r.info.run_id for r in search.search_runs_in_memory(runs, request)]
        got = client.search_runs(exp_ids, filter_string, order_by=order_by)
        assert [r.info.run_id for r in got] == want
