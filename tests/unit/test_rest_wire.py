"""Run search answers: printed by orjson, the same JSON as the standard printer."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")

from trackyard.entities import Metric, Run, RunData, RunInfo
from trackyard_rest.server.wire import json_response, page, run_json, runs_response


def _run(metrics: list[Metric]) -> Run:
    info = RunInfo("r" * 32, "0", "run", "u", "RUNNING", 1, None, "file:///a", "active")
    return Run(info, RunData(metrics))


def test_runs_response_prints_what_json_response_prints() -> None:
    points = [
        Metric("é/x", 0.1, 1_700_000_000_000, 3),
        Metric("nan", float("nan"), 1, 0),
        Metric("inf", float("-inf"), 2, -1),
        Metric("big", 1e300, 2**62, 2**62),
    ]
    payload = page("runs", [run_json(_run(points))], "tok")
    fast = runs_response(payload)
    assert fast.media_type == "application/json"
    assert json.loads(bytes(fast.body)) == json.loads(bytes(json_response(payload).body))
    metrics = json.loads(bytes(fast.body))["runs"][0]["data"]["metrics"]
    assert [m["value"] for m in metrics][1:3] == ["NaN", "-Infinity"]


def test_runs_response_falls_back_for_what_orjson_cannot_print() -> None:
    payload = {"runs": [{"data": {"metrics": [{"key": "k", "timestamp": 2**70}]}}]}
    assert json.loads(bytes(runs_response(payload).body)) == payload
