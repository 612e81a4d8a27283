"""Hostile input: every store refuses it with MLflow's error code and keeps nothing of it.

The cases are modelled on MLflow's CVE history (path traversal through model version
sources, ids and names that become paths, artifact paths at the filesystem's edges, filters
that overflow databases). Each case runs against a store holding a little data; the store's
whole observable state (:func:`trackyard.testing._state.store_state`, local files included)
is taken before and after, and must be unchanged. The suites mix these checks in, so every
backend runs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from trackyard.entities import Metric, Param, RunTag, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.parser import MAX_FILTER_COMPARISONS, MAX_FILTER_VALUES
from trackyard.testing._client import require_capability
from trackyard.testing._state import describe_difference, store_state
from trackyard.validation import (
    MAX_ARTIFACT_PATH_DEPTH,
    MAX_ARTIFACT_PATH_LENGTH,
    MAX_ARTIFACT_PATH_SEGMENT_BYTES,
)

__all__ = [
    "BAD_NAMES",
    "EDGE_ARTIFACT_PATHS",
    "ID_LIKE_FOLDERS",
    "TRAVERSING_SOURCES",
    "RegistryHostileInputCheck",
    "TrackingHostileInputCheck",
]

INVALID = ErrorCode.INVALID_PARAMETER_VALUE
MISSING = ErrorCode.RESOURCE_DOES_NOT_EXIST

#: Experiment and model names every store refuses: blank, or holding control characters.
BAD_NAMES: tuple[str, ...] = (
    "",
    " ",
    "   ",
    "\t",
    "\n \r",
    "a\x00b",
    "\x00",
    "a\nb",
    "a\rb",
    "tab\tname",
    "bell\x07",
    "esc\x1b[31m",
    "del\x7f",
    "c1\x85",
)

#: Names of the files and folders stores keep next to their entities, given where an id
#: belongs: none may ever be read or written as an entity.
ID_LIKE_FOLDERS: tuple[str, ...] = (
    "tags",
    "Tags",
    "TAGS",
    "meta",
    "meta.yaml",
    "params",
    "metrics",
    "artifacts",
    "datasets",
    "traces",
    "models",
    "inputs",
    "outputs",
    ".trash",
    "..",
    ".",
    "../0",
    "0/..",
    "a/b",
    "%2e%2e",
    "..%2f0",
    "0\x00",
    "",
)

#: Model version sources with a ``..`` segment in some form: all refused.
TRAVERSING_SOURCES: tuple[str, ...] = (
    "../../etc/passwd",
    "models/../../../secret",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    "a/%2e%2e/%2e%2e/x",
    "%252e%252e/x",
    "%25252e%25252e/x",
    "..\\..\\x",
    "a\\..\\..\\x",
    "file:///tmp/model/../../etc",
    "file:///tmp/model/%2e%2e/%2e%2e/etc",
    "file:///tmp/x#/../../..",
    "file:///tmp/x?p=../../y",
    "runs:/0123456789abcdef0123456789abcdef/../../x",
    "runs:/0123456789abcdef0123456789abcdef/%2e%2e/x",
    "models:/m/1/../../x",
    "models:/m/1/%2e%2e/x",
    "mlflow-artifacts:/../x",
    "mlflow-artifacts:/a/%2e%2e/%2e%2e/x",
    "s3://bucket/a/../../b",
    "s3://bucket/a?x=../../y",
    "http://host/a/%2E%2E/b",
    "https://host/a/%252E%252E/b",
    "/tmp/a/ ../b",
    "/tmp/a/..",
    "..",
)


def _edge_paths() -> tuple[str, ...]:
    long_segment = "a" * (MAX_ARTIFACT_PATH_SEGMENT_BYTES + 1)
    wide_segment = "é" * (MAX_ARTIFACT_PATH_SEGMENT_BYTES // 2 + 1)  # 2 bytes each
    too_deep = "/".join(["d"] * MAX_ARTIFACT_PATH_DEPTH) + "/f.txt"
    very_deep = "/".join(["d"] * 5000) + "/f.txt"
    too_long = "/".join(["x" * 99] * (MAX_ARTIFACT_PATH_LENGTH // 100 + 1))
    return (
        long_segment,
        f"dir/{long_segment}",
        f"{long_segment}/f.txt",
        wide_segment,
        "a" * 100_000,
        too_deep,
        very_deep,
        too_long,
    )


#: Artifact paths no filesystem can hold, refused before any I/O.
EDGE_ARTIFACT_PATHS: tuple[str, ...] = _edge_paths()

#: Artifact paths right at the limits: every store must take them.
LIMIT_ARTIFACT_PATHS: tuple[str, ...] = (
    "a" * MAX_ARTIFACT_PATH_SEGMENT_BYTES,
    "é" * (MAX_ARTIFACT_PATH_SEGMENT_BYTES // 2),
    "/".join(["d"] * (MAX_ARTIFACT_PATH_DEPTH - 1)) + "/f.txt",
)


class Case(NamedTuple):
    """One refused call: what it is, the call, and the error codes allowed for it."""

    label: str
    call: Callable[[], object]
    codes: tuple[str, ...] = (INVALID,)


def _run_cases(client: Any, cases: list[Case], *, roots: tuple[Path, ...], registry: bool) -> None:
    """Run every case; each must raise one of its codes and leave the state unchanged."""
    problems: list[str] = []
    before = store_state(client, registry=registry, tracking=not registry, roots=roots)
    for case in cases:
        try:
            case.call()
        except TrackyardError as exc:
            if exc.error_code not in case.codes:
                problems.append(f"{case.label}: {exc.error_code} ({str(exc)[:160]})")
        except Exception as exc:  # a raw error is what these checks exist to catch
            problems.append(f"{case.label}: raw {type(exc).__name__}: {str(exc)[:160]}")
        else:
            problems.append(f"{case.label}: accepted")
        after = store_state(client, registry=registry, tracking=not registry, roots=roots)
        if after != before:
            problems.append(f"{case.label}: left {describe_difference(before, after)}")
            before = after
    assert not problems, f"{len(problems)} of {len(cases)} cases failed:\n" + "\n".join(problems)


def _planted_run_meta(experiment_id: str, artifact_uri: str) -> str:
    """A run's meta.yaml as the file store writes it, naming the run ``tags``."""
    return (
        f"artifact_uri: {artifact_uri}\nend_time: null\nentry_point_name: ''\n"
        f"experiment_id: '{experiment_id}'\nlifecycle_stage: active\nrun_id: tags\n"
        "run_name: planted\nrun_uuid: tags\nsource_name: ''\nsource_type: 4\n"
        "source_version: ''\nstart_time: 1\nstatus: 1\ntags: []\nuser_id: x\n"
    )


class TrackingHostileInputCheck:
    """Hostile input through the client, for :class:`~trackyard.testing.TrackingStoreSuite`."""

    @pytest.fixture
    def hostile_world(self, client: Any, tmp_path: Path) -> dict[str, str]:
        """An experiment with a run holding data and an artifact, and a file outside."""
        exp_id = str(client.create_experiment(f"hostile-{uuid.uuid4().hex[:8]}"))
        run_id = str(client.create_run(exp_id, run_name="target").info.run_id)
        client.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 1_700_000_000_000, 0)],
            params=[Param("p", "v")],
            tags=[RunTag("t", "v")],
        )
        client.log_text(run_id, "inside", "dir/inside.txt")
        secret = tmp_path / "outside" / "secret.txt"
        secret.parent.mkdir()
        secret.write_text("SECRET")
        # A tag whose key and value mimic a run's own file, as an attacker would plant it.
        client.set_experiment_tag(
            exp_id, "meta.yaml", _planted_run_meta(exp_id, str(secret.parent))
        )
        return {"exp_id": exp_id, "run_id": run_id, "secret": str(secret)}

    def test_hostile_names_and_locations_are_refused(
        self, client: Any, hostile_world: dict[str, str], tmp_path: Path
    ) -> None:
        exp_id = hostile_world["exp_id"]
        cases: list[Case] = []
        for name in BAD_NAMES:
            cases.append(
                Case(f"create_experiment({name!r})", _bind(client.create_experiment, name))
            )
            cases.append(
                Case(f"rename_experiment({name!r})", _bind(client.rename_experiment, exp_id, name))
            )
        for location in ("/tmp/a\x00b", "/tmp/a\nb", "file:///tmp/\x1b", "runs:/abc/x"):
            cases.append(
                Case(
                    f"create_experiment(artifact_location={location!r})",
                    _bind(client.create_experiment, f"loc-{uuid.uuid4().hex}", location),
                )
            )
        _run_cases(client, cases, roots=(tmp_path,), registry=False)

    def test_ids_that_would_become_paths_are_refused(
        self, client: Any, hostile_world: dict[str, str], tmp_path: Path
    ) -> None:
        run_id = hostile_world["run_id"]
        cases: list[Case] = []
        codes = (INVALID, MISSING)
        for bad in ID_LIKE_FOLDERS:
            cases += [
                Case(f"get_run({bad!r})", _bind(client.get_run, bad), codes),
                Case(f"set_tag({bad!r})", _bind(client.set_tag, bad, "k", "v"), codes),
                Case(f"log_param({bad!r})", _bind(client.log_param, bad, "k", "v"), codes),
                Case(f"log_metric({bad!r})", _bind(client.log_metric, bad, "k", 1.0), codes),
                Case(f"delete_run({bad!r})", _bind(client.delete_run, bad), codes),
                Case(f"list_artifacts({bad!r})", _bind(client.list_artifacts, bad), codes),
                Case(
                    f"download_artifacts({bad!r})",
                    _bind(client.download_artifacts, bad, "secret.txt", str(tmp_path)),
                    codes,
                ),
                Case(f"get_experiment({bad!r})", _bind(client.get_experiment, bad), codes),
                Case(
                    f"set_experiment_tag({bad!r})",
                    _bind(client.set_experiment_tag, bad, "k", "v"),
                    codes,
                ),
                Case(f"create_run({bad!r})", _bind(client.create_run, bad), codes),
                Case(f"delete_experiment({bad!r})", _bind(client.delete_experiment, bad), codes),
            ]
        for key in ("../x", "a/../../b", "/abs", "a//b", "./a", "a/", "a\x00b", "a\\b", ""):
            cases += [
                Case(f"set_tag(key={key!r})", _bind(client.set_tag, run_id, key, "v")),
                Case(f"log_param(key={key!r})", _bind(client.log_param, run_id, key, "v")),
                Case(f"log_metric(key={key!r})", _bind(client.log_metric, run_id, key, 1.0)),
            ]
        _run_cases(client, cases, roots=(tmp_path,), registry=False)

    def test_a_planted_file_is_never_read_as_a_run(
        self, client: Any, hostile_world: dict[str, str]
    ) -> None:
        for bad in ("tags", "Tags"):
            with pytest.raises(TrackyardError) as excinfo:
                client.get_run(bad)
            assert excinfo.value.error_code in (INVALID, MISSING), excinfo.value
        runs = client.search_runs([hostile_world["exp_id"]], run_view_type=ViewType.ALL)
        assert [r.info.run_id for r in runs] == [hostile_world["run_id"]]

    def test_nul_bytes_in_values_are_refused(
        self, client: Any, hostile_world: dict[str, str], tmp_path: Path
    ) -> None:
        run_id, exp_id = hostile_world["run_id"], hostile_world["exp_id"]
        cases = [
            Case("log_param NUL", _bind(client.log_param, run_id, "p2", "a\x00b")),
            Case("set_tag NUL", _bind(client.set_tag, run_id, "t2", "a\x00b")),
            Case("set_experiment_tag NUL", _bind(client.set_experiment_tag, exp_id, "t", "\x00")),
            Case(
                "log_batch with a NUL param last",
                _bind(
                    client.log_batch,
                    run_id,
                    [Metric("m", 2.0, 1_700_000_000_001, 1)],
                    [Param("p3", "ok"), Param("p4", "\x00")],
                    [RunTag("t3", "ok")],
                ),
            ),
            Case("create_run run_name NUL", _bind(client.create_run, exp_id, run_name="a\x00")),
            Case("update_run name NUL", _bind(client.update_run, run_id, name="a\x00b")),
        ]
        _run_cases(client, cases, roots=(tmp_path,), registry=False)

    def test_artifact_paths_at_the_edges_are_refused_before_io(
        self, client: Any, hostile_world: dict[str, str], tmp_path: Path
    ) -> None:
        run_id = hostile_world["run_id"]
        source = tmp_path / "upload" / "f.txt"
        source.parent.mkdir()
        source.write_text("x")
        dst = tmp_path / "downloads"
        dst.mkdir()
        cases: list[Case] = []
        for path in EDGE_ARTIFACT_PATHS:
            shown = f"{path[:20]}...({len(path)} chars)"
            cases += [
                Case(f"log_text({shown})", _bind(client.log_text, run_id, "x", path)),
                Case(
                    f"log_artifact({shown})", _bind(client.log_artifact, run_id, str(source), path)
                ),
                Case(f"list_artifacts({shown})", _bind(client.list_artifacts, run_id, path)),
                Case(
                    f"download_artifacts({shown})",
                    _bind(client.download_artifacts, run_id, path, str(dst)),
                ),
            ]
        _run_cases(client, cases, roots=(tmp_path,), registry=False)

    def test_artifact_paths_at_the_limits_are_taken(
        self, client: Any, run_id: str, tmp_path: Path
    ) -> None:
        for path in LIMIT_ARTIFACT_PATHS:
            client.log_text(run_id, "edge", path)
            dst = tmp_path / f"dl-{uuid.uuid4().hex}"
            dst.mkdir()
            local = client.download_artifacts(run_id, path, str(dst))
            assert Path(local).read_text() == "edge"

    def test_oversized_filters_are_refused_by_the_parser(
        self, client: Any, hostile_world: dict[str, str], tmp_path: Path
    ) -> None:
        exp_ids = [hostile_world["exp_id"]]
        values = ",".join(f"'r{i}'" for i in range(MAX_FILTER_VALUES + 1))
        cases: list[Case] = []
        for joiner in (" AND ", " OR "):
            for size in (MAX_FILTER_COMPARISONS + 1, 5000):
                text = joiner.join(f"metrics.m{i} > {i}" for i in range(size))
                cases.append(
                    Case(f"search_runs {size} terms", _bind(client.search_runs, exp_ids, text))
                )
                text = joiner.join(f"tags.t{i} = 'v'" for i in range(size))
                cases.append(
                    Case(
                        f"search_experiments {size} terms",
                        _bind(client.search_experiments, filter_string=text),
                    )
                )
        cases.append(
            Case("search_runs huge IN", _bind(client.search_runs, exp_ids, f"run_id IN ({values})"))
        )
        cases.append(
            Case(
                "search_runs deep parentheses",
                _bind(client.search_runs, exp_ids, "(" * 5000 + "metrics.m > 0" + ")" * 5000),
            )
        )
        _run_cases(client, cases, roots=(tmp_path,), registry=False)

    @pytest.mark.parametrize("joiner", [" AND ", " OR "])
    def test_filters_at_the_size_limit_work(
        self, client: Any, hostile_world: dict[str, str], joiner: str
    ) -> None:
        if joiner == " OR ":
            require_capability(client._tracking_store, "search_or")
        exp_ids = [hostile_world["exp_id"]]
        text = joiner.join(
            ["metrics.m > 0"] + [f"params.p{i} != 'x'" for i in range(MAX_FILTER_COMPARISONS - 1)]
        )
        found = client.search_runs(exp_ids, text)
        expected = [hostile_world["run_id"]] if joiner == " OR " else []
        assert [r.info.run_id for r in found] == expected
        values = ",".join(f"'{i}'" for i in range(MAX_FILTER_VALUES - 1))
        text = f"run_id IN ({values}, '{hostile_world['run_id']}')"
        assert [r.info.run_id for r in client.search_runs(exp_ids, text)] == [
            hostile_world["run_id"]
        ]


class RegistryHostileInputCheck:
    """Hostile input through the client, for :class:`~trackyard.testing.RegistryStoreSuite`."""

    @pytest.fixture
    def hostile_registry(self, registry_client: Any) -> str:
        """A registered model with one version, a tag and an alias."""
        client = registry_client
        client.create_registered_model("victim", tags={"t": "v"})
        client.create_model_version("victim", "s3://bucket/model", tags={"t": "v"})
        client.set_registered_model_alias("victim", "champion", "1")
        return "victim"

    def test_hostile_model_names_are_refused(
        self, registry_client: Any, hostile_registry: str, tmp_path: Path
    ) -> None:
        client = registry_client
        cases: list[Case] = []
        for name in BAD_NAMES:
            cases += [
                Case(
                    f"create_registered_model({name!r})",
                    _bind(client.create_registered_model, name),
                ),
                Case(
                    f"rename_registered_model(to {name!r})",
                    _bind(client.rename_registered_model, hostile_registry, name),
                ),
                Case(
                    f"create_model_version({name!r})",
                    _bind(client.create_model_version, name, "s3://bucket/m"),
                ),
            ]
        for name in ("..", ".", "a/b", "../victim", "victim/../victim", "a:b"):
            cases.append(
                Case(f"get_registered_model({name!r})", _bind(client.get_registered_model, name))
            )
        _run_cases(client, cases, roots=(tmp_path,), registry=True)

    def test_traversing_sources_are_refused(
        self, registry_client: Any, hostile_registry: str, tmp_path: Path
    ) -> None:
        client = registry_client
        cases = [
            Case(
                f"create_model_version(source={source!r})",
                _bind(client.create_model_version, hostile_registry, source),
            )
            for source in (*TRAVERSING_SOURCES, "s3://b/\x00x", "/tmp/a\nb")
        ]
        for source in ("models:/nosuch/1", f"models:/{hostile_registry}/99", "models:/m@nope"):
            cases.append(
                Case(
                    f"create_model_version(source={source!r})",
                    _bind(client.create_model_version, hostile_registry, source),
                    (MISSING,),
                )
            )
        _run_cases(client, cases, roots=(tmp_path,), registry=True)
        # the next version is still number 2: refused calls used up no number
        assert client.create_model_version(hostile_registry, "s3://bucket/v2").version == "2"

    def test_prompt_versions_cannot_point_at_local_paths(
        self, registry_client: Any, tmp_path: Path
    ) -> None:
        client = registry_client
        require_capability(client._registry_store, "prompts")
        client.register_prompt("hostile-prompt", "Hello {{name}}")
        local = tmp_path / "model"
        local.mkdir()
        cases = [
            Case(
                f"create_model_version(prompt, {source!r})",
                _bind(client.create_model_version, "hostile-prompt", source),
                (INVALID, MISSING),
            )
            for source in (str(local), local.as_uri(), "/etc", "file:///etc/passwd")
        ]
        _run_cases(client, cases, roots=(tmp_path,), registry=True)

    def test_nul_bytes_and_oversized_filters_are_refused(
        self, registry_client: Any, hostile_registry: str, tmp_path: Path
    ) -> None:
        client = registry_client
        name = hostile_registry
        big = " AND ".join(f"tags.t{i} = 'v'" for i in range(MAX_FILTER_COMPARISONS + 1))
        names = " OR ".join(f"name = 'x{i}'" for i in range(5000))
        cases = [
            Case(
                "set_registered_model_tag NUL",
                _bind(client.set_registered_model_tag, name, "k", "\x00"),
            ),
            Case(
                "set_model_version_tag NUL",
                _bind(client.set_model_version_tag, name, "1", "k", "a\x00"),
            ),
            Case("search_registered_models big", _bind(client.search_registered_models, big)),
            Case("search_model_versions big", _bind(client.search_model_versions, names)),
        ]
        _run_cases(client, cases, roots=(tmp_path,), registry=True)


def _bind(fn: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[[], object]:
    def call() -> object:
        return fn(*args, **kwargs)

    return call
