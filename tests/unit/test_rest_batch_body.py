"""The log-batch body read without pydantic gives what the pydantic model gives, or steps aside."""

from __future__ import annotations

import random
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import TrackyardError
from trackyard_rest.server.batch_body import read_plain
from trackyard_rest.server.runs import _batch_from_model

RID = "a" * 32


def _same_as_model(body: Any) -> None:
    plain = read_plain(body)
    assert plain is not None, body
    run_id, metrics, params, tags = _batch_from_model(body)
    assert plain == (run_id, metrics, params, tags)


@pytest.mark.parametrize(
    "body",
    [
        {"run_id": RID},
        {"run_uuid": RID, "metrics": [{"key": "a", "value": 1, "timestamp": 2}]},
        {"run_id": RID, "run_uuid": "b" * 32, "metrics": []},
        {
            "run_id": RID,
            "metrics": [
                {"key": "a", "value": -0.0, "timestamp": 0, "step": None},
                {"key": "b", "value": 2**60, "timestamp": -5, "step": -1, "extra": [1]},
                {"key": "c", "value": 1e308, "timestamp": 2**70, "step": 2**70},
                {"key": "d/e f", "value": 1.5, "timestamp": 3, "model_id": "m-1"},
                {"key": "d", "value": 1.5, "timestamp": 3, "dataset_name": "x", "model_id": None},
            ],
            "params": [{"key": "p", "value": "1"}, {"key": "q", "value": None}, {"key": "r"}],
            "tags": [{"key": "t", "value": ""}],
            "unknown": {"x": 1},
        },
    ],
)
def test_plain_bodies_read_as_the_model_reads_them(body: dict[str, Any]) -> None:
    _same_as_model(body)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "x",
        b'{"run_id": "x"}',
        {"run_id": 5},
        {"run_id": RID, "metrics": "x"},
        {"run_id": RID, "metrics": [5]},
        {"run_id": RID, "metrics": [{"key": "a", "value": "NaN", "timestamp": 1}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": True, "timestamp": 1}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": 1, "timestamp": "1"}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": 1, "timestamp": 1.0}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": 1, "timestamp": True}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": 1, "timestamp": 1, "step": 1.0}]},
        {"run_id": RID, "metrics": [{"key": 7, "value": 1, "timestamp": 1}]},
        {"run_id": RID, "metrics": [{"value": 1, "timestamp": 1}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": 10**400, "timestamp": 1}]},
        {"run_id": RID, "metrics": [{"key": "a", "value": 1, "timestamp": 1, "model_id": 3}]},
        {"run_id": RID, "params": [{"key": "p", "value": 3}]},
        {"run_id": RID, "tags": [{"value": "v"}]},
        {"run_id": RID, "tags": {"key": "t"}},
    ],
)
def test_other_bodies_go_through_the_model(body: Any) -> None:
    assert read_plain(body) is None


def test_model_path_keeps_coercions_and_errors() -> None:
    body = {"run_id": RID, "metrics": [{"key": 7, "value": "NaN", "timestamp": "5"}]}
    _, metrics, _, _ = _batch_from_model(body)
    assert metrics[0].key == "7" and metrics[0].timestamp == 5
    with pytest.raises(TrackyardError) as err:
        _batch_from_model({"run_id": RID, "metrics": [{"key": "a", "timestamp": 1}]})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'metrics.0.value'" in err.value.message
    with pytest.raises(TrackyardError, match="expected a JSON object"):
        _batch_from_model([1])


def test_random_plain_bodies_match_the_model() -> None:
    rng = random.Random(14)
    texts = ["a", "", "x y", 'q"\\', "é/ü", "NULL", "{,}"]
    for _ in range(300):
        metrics = []
        for _ in range(rng.randint(0, 6)):
            item: dict[str, Any] = {
                "key": rng.choice(texts),
                "value": rng.choice([0, -3, 2**53 + 1, 0.1, -1e-300, float("inf")]),
                "timestamp": rng.choice([0, 1, -1, 2**63 - 1]),
            }
            if rng.random() < 0.5:
                item["step"] = rng.choice([None, 0, 7, -2])
            if rng.random() < 0.2:
                item[rng.choice(["model_id", "dataset_name", "dataset_digest"])] = rng.choice(
                    [None, "m"]
                )
            metrics.append(item)
        pairs = [{"key": rng.choice(texts), "value": rng.choice([None, "v", ""])}]
        body = {"run_id": RID, "metrics": metrics, "params": pairs, "tags": pairs}
        _same_as_model(body)


def test_entities_of_a_plain_body() -> None:
    body = {
        "run_id": RID,
        "metrics": [{"key": "m", "value": 2, "timestamp": 3, "step": 4}],
        "params": [{"key": "p"}],
        "tags": [{"key": "t", "value": "v"}],
    }
    assert read_plain(body) == (RID, [Metric("m", 2.0, 3, 4)], [Param("p", "")], [RunTag("t", "v")])
    assert read_plain({"run_id": "", "run_uuid": ""}) == (None, [], [], [])
