"""Code written for ``mlflow.MlflowClient`` keeps working when only the import changes.

Each test runs the same calls in MLflow 3.17.2 (the peer) and in trackyard, both on SQLite
with local artifacts, and compares what comes back:

- metric values given as numeric strings, bytes and booleans (MLflow converts with
  ``float()``); timestamps and steps given as strings (refused by both);
- experiment ids: a name where an id belongs is INVALID_PARAMETER_VALUE, ints and padded
  digits are read as numbers (as MLflow's SQL store does);
- ``log_artifact`` of a missing file raises ``FileNotFoundError`` with ``errno``/``filename``;
- where ``download_artifacts`` puts files for every ``runs:/`` and ``models:/`` form, the
  ``registered_model_meta`` file, ``list_artifacts`` paths and the argument rules of
  ``mlflow.artifacts``.

Needs ``TRACKYARD_TEST_MLFLOW_PYTHON`` (an interpreter with mlflow 3.17.2); skips otherwise.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard import MlflowClient
from trackyard import artifacts as ty_artifacts
from trackyard.errors import TrackyardError

pytestmark = [pytest.mark.compat, requires_mlflow]

DBL_MAX = 1.7976931348623157e308

# Metric values (JSON-friendly; "b:" marks bytes). Booleans are accepted by both.
METRIC_VALUES: list[Any] = [
    "0.5",
    " 1e3 ",
    "  7\n",
    "+3",
    "1_000",
    "nan",
    "NaN",
    "-inf",
    "Infinity",
    "1e400",
    "\uff11",
    "",
    "abc",
    "0x10",
    "1.5f",
    "b: 2.5",
    True,
    False,
    3,
    None,
]
# (timestamp, step) pairs: strings are refused by both.
TIMES: list[tuple[Any, Any]] = [("1000", 0), ("abc", 0), (" 12 ", 0), (5, "3"), (5, "x"), (5, 2)]

_PEER_HELPERS = r"""
import errno, math, os

def outcome(fn):
    try:
        return {"ok": fn()}
    except Exception as exc:
        return {"error": getattr(exc, "error_code", None) or type(exc).__name__}

def value_of(v):
    return v[3:].encode() if isinstance(v, str) and v.startswith("b: ") else v

def plain(x):
    if isinstance(x, float) and (
        math.isnan(x) or math.isinf(x) or abs(x) == 1.7976931348623157e308
    ):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x
"""


def _outcome(fn: Any) -> dict[str, Any]:
    try:
        return {"ok": fn()}
    except TrackyardError as exc:
        return {"error": exc.error_code}


def _value_of(v: Any) -> Any:
    return v[3:].encode() if isinstance(v, str) and v.startswith("b: ") else v


def _plain(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x) or abs(x) == DBL_MAX):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def test_metric_values_and_times(tmp_path: Path) -> None:
    mlflow = run_mlflow(
        _PEER_HELPERS
        + r"""
from mlflow import MlflowClient
from mlflow.entities import Metric
c = MlflowClient(ARGS["uri"])
run_id = c.create_run(c.create_experiment("e")).info.run_id

def logged(key, v):
    c.log_metric(run_id, key, value_of(v), timestamp=1, step=0)
    return plain(c.get_metric_history(run_id, key)[-1].value)

def batched(key, v):
    c.log_batch(run_id, metrics=[Metric(key, value_of(v), 1, 0)])
    return plain(c.get_metric_history(run_id, key)[-1].value)

def timed(key, t, s):
    c.log_metric(run_id, key, 1.0, timestamp=t, step=s)
    m = c.get_metric_history(run_id, key)[-1]
    return [m.timestamp, m.step]

emit({
    "log_metric": [outcome(lambda: logged(f"v{i}", v)) for i, v in enumerate(ARGS["values"])],
    "log_batch": [outcome(lambda: batched(f"b{i}", v)) for i, v in enumerate(ARGS["values"])],
    "times": [outcome(lambda: timed(f"t{i}", t, s)) for i, (t, s) in enumerate(ARGS["times"])],
})
""",
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        values=METRIC_VALUES,
        times=TIMES,
    )

    from trackyard.entities import Metric

    c = MlflowClient(f"sqlite:///{tmp_path / 'trackyard.db'}")
    run_id = c.create_run(c.create_experiment("e")).info.run_id

    def logged(key: str, v: Any) -> Any:
        c.log_metric(run_id, key, _value_of(v), timestamp=1, step=0)
        return _plain(c.get_metric_history(run_id, key)[-1].value)

    def batched(key: str, v: Any) -> Any:
        c.log_batch(run_id, metrics=[Metric(key, _value_of(v), 1, 0)])
        return _plain(c.get_metric_history(run_id, key)[-1].value)

    def timed(key: str, t: Any, s: Any) -> Any:
        c.log_metric(run_id, key, 1.0, timestamp=t, step=s)
        m = c.get_metric_history(run_id, key)[-1]
        return [m.timestamp, m.step]

    ours = {
        "log_metric": [
            _outcome(lambda i=i, v=v: logged(f"v{i}", v)) for i, v in enumerate(METRIC_VALUES)
        ],
        "log_batch": [
            _outcome(lambda i=i, v=v: batched(f"b{i}", v)) for i, v in enumerate(METRIC_VALUES)
        ],
        "times": [
            _outcome(lambda i=i, t=t, s=s: timed(f"t{i}", t, s)) for i, (t, s) in enumerate(TIMES)
        ],
    }
    for what in ("log_metric", "log_batch"):
        assert dict(zip(map(repr, METRIC_VALUES), ours[what], strict=True)) == dict(
            zip(map(repr, METRIC_VALUES), mlflow[what], strict=True)
        ), what
    assert ours["times"] == mlflow["times"]
    assert {"ok": 0.5} in ours["log_metric"]  # the case the issue reported


# Experiment ids given to get_experiment / create_run ("{id}" is the experiment's real id).
EXPERIMENT_IDS: list[Any] = [
    "churn-model",
    "abc",
    "1.0",
    "{id}",
    "int:{id}",
    "0{id}",
    " {id} ",
    "+{id}",
    "987654",
    "-1",
]


def test_experiment_ids(tmp_path: Path) -> None:
    script = (
        _PEER_HELPERS
        + r"""
from mlflow import MlflowClient
c = MlflowClient(ARGS["uri"])
exp_id = c.create_experiment("churn-model")

def given(raw):
    raw = raw.replace("{id}", exp_id)
    return int(raw[4:]) if raw.startswith("int:") else raw

emit({
    "get_experiment": [outcome(lambda: c.get_experiment(given(r)).name) for r in ARGS["ids"]],
    "create_run": [outcome(lambda: bool(c.create_run(given(r)).info.run_id))
                   for r in ARGS["ids"]],
    "search_runs_name": outcome(lambda: len(c.search_runs(["churn-model"]))),
})
"""
    )
    mlflow = run_mlflow(script, uri=f"sqlite:///{tmp_path / 'mlflow.db'}", ids=EXPERIMENT_IDS)

    c = MlflowClient(f"sqlite:///{tmp_path / 'trackyard.db'}")
    exp_id = c.create_experiment("churn-model")

    def given(raw: str) -> Any:
        raw = raw.replace("{id}", exp_id)
        return int(raw[4:]) if raw.startswith("int:") else raw

    ours = {
        "get_experiment": [
            _outcome(lambda r=r: c.get_experiment(given(r)).name) for r in EXPERIMENT_IDS
        ],
        "create_run": [
            _outcome(lambda r=r: bool(c.create_run(given(r)).info.run_id)) for r in EXPERIMENT_IDS
        ],
        # the name where an id belongs is refused before any store is asked
        "search_runs_name": _outcome(lambda: len(c.search_runs(["churn-model"]))),
    }
    for what in ("get_experiment", "create_run"):
        assert dict(zip(EXPERIMENT_IDS, ours[what], strict=True)) == dict(
            zip(EXPERIMENT_IDS, mlflow[what], strict=True)
        ), what
    assert ours == mlflow
    assert ours["search_runs_name"] == {"error": "INVALID_PARAMETER_VALUE"}
    # MLflow's run echoes the id as given ("07"); trackyard's carries the canonical one
    assert c.create_run(f" 0{exp_id}").info.experiment_id == exp_id


def test_log_artifact_of_a_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing" / "file.txt")
    mlflow = run_mlflow(
        r"""
from mlflow import MlflowClient
c = MlflowClient(ARGS["uri"])
run_id = c.create_run("0").info.run_id
try:
    c.log_artifact(run_id, ARGS["missing"])
except FileNotFoundError as exc:
    emit({"errno": exc.errno, "filename": exc.filename, "str": str(exc)})
""",
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        missing=missing,
    )
    c = MlflowClient(f"sqlite:///{tmp_path / 'trackyard.db'}")
    run_id = c.create_run("0").info.run_id
    with pytest.raises(FileNotFoundError) as excinfo:
        c.log_artifact(run_id, missing)
    exc = excinfo.value
    assert {"errno": exc.errno, "filename": exc.filename, "str": str(exc)} == mlflow


# What to download: (label, how); "{run}" is the run id.
DOWNLOADS: list[tuple[str, dict[str, Any]]] = [
    ("alias", {"artifact_uri": "models:/m@champ"}),
    ("version", {"artifact_uri": "models:/m/1"}),
    ("version slash", {"artifact_uri": "models:/m/1/"}),
    ("latest", {"artifact_uri": "models:/m/latest"}),
    ("local source", {"artifact_uri": "models:/m/2"}),
    ("alias file", {"artifact_uri": "models:/m@champ/MLmodel"}),
    ("version subdir", {"artifact_uri": "models:/m/1/data"}),
    ("version deep", {"artifact_uri": "models:/m/2/data/sub/w.bin"}),
    ("run dir", {"artifact_uri": "runs:/{run}/model"}),
    ("run subdir", {"artifact_uri": "runs:/{run}/model/data"}),
    ("run file", {"artifact_uri": "runs:/{run}/model/data/sub/w.bin"}),
    ("run dir slash", {"artifact_uri": "runs:/{run}/model/"}),
    ("run root", {"artifact_uri": "runs:/{run}/"}),
    ("run_id", {"run_id": "{run}"}),
    ("run_id path", {"run_id": "{run}", "artifact_path": "model/data"}),
    ("run_id file", {"run_id": "{run}", "artifact_path": "notes/readme.txt"}),
    ("missing dst", {"artifact_uri": "runs:/{run}/notes", "dst": "a/b/c"}),
    ("both", {"artifact_uri": "runs:/{run}/model", "run_id": "{run}"}),
    ("neither", {}),
    ("uri and path", {"artifact_uri": "runs:/{run}/model", "artifact_path": "x"}),
    ("missing path", {"run_id": "{run}", "artifact_path": "nope"}),
    ("unknown alias", {"artifact_uri": "models:/m@nope"}),
]
LISTINGS: list[dict[str, Any]] = [
    {"run_id": "{run}"},
    {"run_id": "{run}", "artifact_path": "model/data"},
    {"artifact_uri": "runs:/{run}/model"},
    {"artifact_uri": "runs:/{run}/model/data/sub"},
    {"artifact_uri": "models:/m@champ"},
    {"artifact_uri": "models:/m/1/data"},
    {"artifact_uri": "runs:/{run}/nothing"},
]

_DOWNLOAD_SCRIPT = r"""
import os, tempfile
from mlflow import MlflowClient
import mlflow.artifacts as ma

c = MlflowClient()
exp = c.create_experiment("e", artifact_location=ARGS["art"])
run_id = c.create_run(exp).info.run_id
c.log_artifacts(run_id, ARGS["src_parent"])
c.log_text(run_id, "hello", "notes/readme.txt")
c.create_registered_model("m")
c.create_model_version("m", f"runs:/{run_id}/model", run_id=run_id)
c.set_registered_model_alias("m", "champ", "1")
c.create_model_version("m", ARGS["src"])
emit(run_id)
"""


def _fill(value: Any, run_id: str) -> Any:
    return value.replace("{run}", run_id) if isinstance(value, str) else value


def _tree(root: str) -> list[str]:
    out = []
    for dirpath, _, files in os.walk(root):
        out.extend(Path(dirpath, name).relative_to(root).as_posix() for name in files)
    return sorted(out)


def _world(tmp_path: Path, who: str) -> tuple[Path, Path]:
    """Source files for one side: ``model/{MLmodel, data/sub/w.bin}``."""
    src = tmp_path / who / "src" / "model"
    (src / "data" / "sub").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "data" / "sub" / "w.bin").write_text("w")
    return src, tmp_path / who


def test_download_and_list_layouts(tmp_path: Path) -> None:
    src_m, base_m = _world(tmp_path, "mlflow")
    uri_m = f"sqlite:///{base_m / 'm.db'}"
    # MLflow looks models:/ URIs up in its default registry, so the URI goes in the environment
    common = {"art": str(base_m / "art"), "src": str(src_m), "src_parent": str(src_m.parent)}
    script = (
        _PEER_HELPERS
        + _DOWNLOAD_SCRIPT
        + r"""
def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                  for d, _, fs in os.walk(root) for f in fs)

def fill(v):
    return v.replace("{run}", run_id) if isinstance(v, str) else v

downloads = {}
for label, how in ARGS["downloads"]:
    dst = tempfile.mkdtemp(dir=ARGS["scratch"])
    kwargs = {k: fill(v) for k, v in how.items() if k != "dst"}
    target = os.path.join(dst, how["dst"]) if "dst" in how else dst
    def call():
        local = ma.download_artifacts(dst_path=target, **kwargs)
        meta = os.path.join(local, "registered_model_meta")
        return {"local": os.path.relpath(local, dst).replace(os.sep, "/"), "files": tree(dst),
                "meta": open(meta).read() if os.path.isfile(meta) else None}
    downloads[label] = outcome(call)
listings = [outcome(lambda: [[f.path, f.is_dir, f.file_size]
                             for f in ma.list_artifacts(**{k: fill(v) for k, v in how.items()})])
            for how in ARGS["listings"]]
emit({"downloads": downloads, "listings": listings})
"""
    )
    (base_m / "scratch").mkdir()
    mlflow = run_mlflow(
        script,
        tracking_uri=uri_m,
        scratch=str(base_m / "scratch"),
        downloads=DOWNLOADS,
        listings=LISTINGS,
        **common,
    )

    src, base = _world(tmp_path, "trackyard")
    uri = f"sqlite:///{base / 't.db'}"
    c = MlflowClient(uri)
    exp = c.create_experiment("e", artifact_location=str(base / "art"))
    run_id = c.create_run(exp).info.run_id
    c.log_artifacts(run_id, str(src.parent))
    c.log_text(run_id, "hello", "notes/readme.txt")
    c.create_registered_model("m")
    c.create_model_version("m", f"runs:/{run_id}/model", run_id=run_id)
    c.set_registered_model_alias("m", "champ", "1")
    c.create_model_version("m", str(src))

    downloads = {}
    for n, (label, how) in enumerate(DOWNLOADS):
        dst = base / f"dl-{n}"
        dst.mkdir()
        kwargs = {k: _fill(v, run_id) for k, v in how.items() if k != "dst"}
        target = dst / how["dst"] if "dst" in how else dst

        def call(kwargs: dict[str, Any] = kwargs, dst: Path = dst, target: Path = target) -> Any:
            local = ty_artifacts.download_artifacts(
                dst_path=str(target), tracking_uri=uri, **kwargs
            )
            meta = Path(local, "registered_model_meta")
            return {
                "local": Path(os.path.relpath(local, dst)).as_posix(),
                "files": _tree(str(dst)),
                "meta": meta.read_text() if meta.is_file() else None,
            }

        downloads[label] = _outcome(call)
    listings = [
        _outcome(
            lambda how=how: [
                [f.path, f.is_dir, f.file_size]
                for f in ty_artifacts.list_artifacts(
                    tracking_uri=uri, **{k: _fill(v, run_id) for k, v in how.items()}
                )
            ]
        )
        for how in LISTINGS
    ]
    for label, _ in DOWNLOADS:
        assert downloads[label] == mlflow["downloads"][label], label
    assert listings == mlflow["listings"]
    assert downloads["alias"]["ok"]["local"] == "."  # not dst/model (the reported bug)
