"""Bad plugins, installed as third-party distributions would be (fake entry points).

For each kind of bad input (a hook that raises, a hook that returns the wrong type, a scheme
claimed twice, a class that does not exist, a hook module that fails to import, a misspelled
hook): the error names the plugin and its distribution, every other scheme keeps working,
``trackyard plugins`` shows the problem, and ``trackyard doctor`` on a healthy URI still
passes, with a warning.
"""

from __future__ import annotations

import importlib.metadata
import types
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner

from trackyard import MlflowClient
from trackyard._doctor import plugin_problems
from trackyard.backends import clear_store_cache, get_artifact_repository
from trackyard.cli import cli
from trackyard.entities import Metric
from trackyard.errors import BackendConflictError, PluginLoadError, UnknownSchemeError
from trackyard.plugins import (
    BackendSpec,
    PluginManager,
    PluginWarning,
    get_plugin_manager,
    hookimpl,
    reset_plugin_manager,
)

pytestmark = pytest.mark.filterwarnings("ignore::trackyard.plugins.PluginWarning")

DUMMY = "tests.unit.plugin_fixtures:DummyStore"
OTHER = "tests.unit.plugin_fixtures:OtherStore"
_REAL_ENTRY_POINTS = importlib.metadata.entry_points


def plugin(**hooks: Callable[..., Any]) -> types.ModuleType:
    """An in-memory hook module with the given hook functions."""
    module = types.ModuleType("fake_plugin_hooks")
    for name, fn in hooks.items():
        fn.__name__ = name
        setattr(module, name, hookimpl(fn))
    return module


def tracking(*specs: BackendSpec) -> Callable[[], list[BackendSpec]]:
    return lambda: list(specs)


def entry_point(name: str, obj: Any, dist: str, version: str) -> EntryPoint:
    """A fake entry point of the ``trackyard`` group from distribution ``dist``."""
    ep = mock.create_autospec(EntryPoint, instance=True)
    ep.name, ep.value, ep.group = name, f"{name.replace('-', '_')}.hooks", "trackyard"
    ep.dist = types.SimpleNamespace(name=dist, version=version)
    if isinstance(obj, BaseException):
        ep.load.side_effect = obj
    else:
        ep.load.return_value = obj
    return ep  # type: ignore[no-any-return]


GOOD = entry_point(
    "good",
    plugin(trackyard_tracking_stores=tracking(BackendSpec(("goodstore",), DUMMY))),
    "trackyard-good",
    "1.0",
)


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., PluginManager]]:
    """Install fake third-party plugins next to trackyard's own, as the only others."""

    def _install(*eps: EntryPoint) -> PluginManager:
        def entry_points(group: str | None = None, **kwargs: Any) -> Any:
            if group != "trackyard":
                return _REAL_ENTRY_POINTS(group=group, **kwargs) if group else _REAL_ENTRY_POINTS()
            own = [
                ep
                for ep in _REAL_ENTRY_POINTS(group="trackyard")
                if ep.dist is not None and ep.dist.name == "trackyard"
            ]
            return [*own, GOOD, *eps]

        # tests/conftest.py allows only trackyard's own plugins; these tests need others
        monkeypatch.delenv("TRACKYARD_PLUGINS", raising=False)
        monkeypatch.delenv("TRACKYARD_DISABLE_PLUGINS", raising=False)
        monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
        reset_plugin_manager()
        clear_store_cache()
        return get_plugin_manager()

    yield _install
    reset_plugin_manager()
    clear_store_cache()


def assert_sqlite_session_works(tmp_path: Path) -> None:
    """A whole client session on the built-in SQLite store and local artifacts."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/ok.db")
    exp_id = client.create_experiment("still-works", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(exp_id).info.run_id
    client.log_batch(run_id, metrics=[Metric("m", 1.5, 0, 0)])
    client.log_text(run_id, "hi", "a.txt")
    assert client.get_run(run_id).data.metrics == {"m": 1.5}
    assert [f.path for f in client.list_artifacts(run_id)] == ["a.txt"]


def assert_other_schemes_work(manager: PluginManager, tmp_path: Path) -> None:
    from tests.unit.plugin_fixtures import DummyStore

    assert manager.resolve("tracking", "goodstore://x") is DummyStore
    repo = get_artifact_repository(f"memory://{tmp_path.name}/artifacts")
    repo.write_bytes(b"x", "probe.txt")
    assert [f.path for f in repo.list_artifacts()] == ["probe.txt"]


def plugins_output() -> str:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    return result.output


def row_of(output: str, name: str) -> str:
    (row,) = [line for line in output.splitlines() if line.split(" ", 1)[0] == name]
    return row


def doctor_passes_with_warning(tmp_path: Path, *needles: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "doctor",
            "--tracking-uri",
            f"sqlite:///{tmp_path}/doctor.db",
            "--artifact-root",
            str(tmp_path / "doctor-artifacts"),
        ],
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "WARN plugins" in flat and "All checks passed" in flat, result.output
    for needle in needles:
        assert needle in flat, result.output


# -- a hook that raises ---------------------------------------------------------------------------
def test_hook_that_raises(install: Callable[..., PluginManager], tmp_path: Path) -> None:
    def boom() -> list[BackendSpec]:
        raise RuntimeError("cannot reach the license server")

    manager = install(
        entry_point("raiser", plugin(trackyard_tracking_stores=boom), "trackyard-raiser", "0.2")
    )
    with pytest.warns(
        PluginWarning, match=r"plugin 'raiser' \(distribution trackyard-raiser 0.2\)"
    ):
        manager.plugins()
    (problem,) = plugin_problems(manager)
    assert problem.plugins == ("raiser",) and problem.kind == "error"
    assert "plugin 'raiser' (distribution trackyard-raiser 0.2)" in problem.message
    assert "raised in trackyard_tracking_stores()" in problem.message
    assert "cannot reach the license server" in problem.message

    output = plugins_output()
    assert "ERROR" in row_of(output, "raiser")
    assert "ok" in row_of(output, "good") and "ok" in row_of(output, "trackyard_sql")
    assert "1 problem(s):" in output
    assert "distribution trackyard-raiser 0.2" in " ".join(output.split())

    with pytest.raises(UnknownSchemeError) as excinfo:  # a scheme it would have served
        manager.resolve("tracking", "raised://x")
    assert "plugin 'raiser' (distribution trackyard-raiser 0.2) raised" in str(excinfo.value)

    assert_other_schemes_work(manager, tmp_path)
    assert_sqlite_session_works(tmp_path)
    doctor_passes_with_warning(tmp_path, "plugin 'raiser'", "trackyard-raiser 0.2")


# -- a hook that returns the wrong type -----------------------------------------------------------
@pytest.mark.parametrize(
    "result, says",
    [
        ({"scheme": "x", "target": DUMMY}, "returned str from trackyard_tracking_stores()"),
        (["x://", "y://"], "returned str from trackyard_tracking_stores()"),
        (42, "returned int from trackyard_tracking_stores()"),
        (BackendSpec(("single",), DUMMY), "returned one BackendSpec"),
    ],
    ids=["dict", "list-of-str", "int", "bare-spec"],
)
def test_hook_that_returns_the_wrong_type(
    install: Callable[..., PluginManager], tmp_path: Path, result: Any, says: str
) -> None:
    bad = plugin(trackyard_tracking_stores=lambda: result)
    manager = install(entry_point("wrongtype", bad, "trackyard-wrongtype", "0.3"))
    (problem,) = plugin_problems(manager)
    assert problem.plugins == ("wrongtype",)
    assert "plugin 'wrongtype' (distribution trackyard-wrongtype 0.3)" in problem.message
    assert says in problem.message

    output = plugins_output()
    assert "ERROR" in row_of(output, "wrongtype")
    assert says in " ".join(output.split())

    assert_other_schemes_work(manager, tmp_path)
    assert_sqlite_session_works(tmp_path)
    doctor_passes_with_warning(tmp_path, "plugin 'wrongtype'", "trackyard-wrongtype 0.3")


# -- a scheme already claimed ---------------------------------------------------------------------
def test_scheme_claimed_by_two_third_party_plugins(
    install: Callable[..., PluginManager], tmp_path: Path
) -> None:
    claimer = plugin(
        trackyard_tracking_stores=tracking(
            BackendSpec(("goodstore",), OTHER), BackendSpec(("claimer-only",), OTHER)
        )
    )
    manager = install(entry_point("claimer", claimer, "trackyard-claimer", "0.4"))
    conflicts = manager.conflicts("tracking")
    assert list(conflicts) == ["goodstore"]
    assert set(conflicts["goodstore"]) == {"good", "claimer"}
    (problem,) = plugin_problems(manager)
    assert problem.kind == "conflict" and set(problem.plugins) == {"good", "claimer"}
    assert problem.schemes == ("tracking:goodstore",)
    for label in ("trackyard-good 1.0", "trackyard-claimer 0.4"):
        assert label in problem.message

    with pytest.raises(BackendConflictError) as excinfo:
        manager.resolve("tracking", "goodstore://x")
    text = str(excinfo.value)
    assert "plugin 'good' (distribution trackyard-good 1.0)" in text
    assert "plugin 'claimer' (distribution trackyard-claimer 0.4)" in text
    assert "TRACKYARD_DISABLE_PLUGINS" in text and "replaces=True" in text

    output = plugins_output()
    assert "CONFLICT" in row_of(output, "good") and "CONFLICT" in row_of(output, "claimer")
    assert "ok" in row_of(output, "trackyard_sql")
    assert "trackyard-claimer 0.4" in " ".join(output.split())

    from tests.unit.plugin_fixtures import OtherStore

    assert manager.resolve("tracking", "claimer-only://x") is OtherStore  # its other scheme
    repo = get_artifact_repository(f"memory://{tmp_path.name}/conflict")
    repo.write_bytes(b"x", "probe.txt")
    assert_sqlite_session_works(tmp_path)
    doctor_passes_with_warning(tmp_path, "trackyard-claimer 0.4", "trackyard-good 1.0")


def test_scheme_of_a_builtin_claimed_again(
    install: Callable[..., PluginManager], tmp_path: Path
) -> None:
    claimer = plugin(trackyard_tracking_stores=tracking(BackendSpec(("sqlite",), DUMMY)))
    manager = install(entry_point("claimer", claimer, "trackyard-claimer", "0.4"))
    conflicts = manager.conflicts("tracking")
    assert list(conflicts) == ["sqlite"]
    assert set(conflicts["sqlite"]) == {"trackyard_sql", "claimer"}
    with pytest.raises(BackendConflictError) as excinfo:
        MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/x.db").search_experiments()
    text = str(excinfo.value)
    assert "plugin 'trackyard_sql' (distribution trackyard 0.1.0)" in text
    assert "plugin 'claimer' (distribution trackyard-claimer 0.4)" in text

    output = plugins_output()
    assert "CONFLICT" in row_of(output, "trackyard_sql")
    assert "CONFLICT" in row_of(output, "claimer")
    assert_other_schemes_work(manager, tmp_path)

    result = CliRunner().invoke(cli, ["doctor", "--tracking-uri", f"sqlite:///{tmp_path}/d.db"])
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "FAIL plugin" in flat and "trackyard-claimer 0.4" in flat


def test_replaces_is_not_a_problem(install: Callable[..., PluginManager], tmp_path: Path) -> None:
    over = plugin(
        trackyard_tracking_stores=tracking(BackendSpec(("goodstore",), OTHER, replaces=True))
    )
    manager = install(entry_point("override", over, "trackyard-override", "2.0"))
    assert dict(manager.conflicts("tracking")) == {}
    assert plugin_problems(manager) == []
    from tests.unit.plugin_fixtures import OtherStore

    assert manager.resolve("tracking", "goodstore://") is OtherStore
    assert manager.provider("tracking", "goodstore://").distribution == "trackyard-override"
    assert "problem" not in plugins_output()


# -- a class that does not exist ------------------------------------------------------------------
@pytest.mark.parametrize(
    "target, says",
    [
        ("tests.unit.plugin_fixtures:NoSuchStore", "has no attribute 'NoSuchStore'"),
        ("trackyard_no_such_module.store:Store", "could not import"),
        ("tests.unit.plugin_fixtures:NotAStore", "is not a subclass of trackyard.stores"),
    ],
    ids=["missing-class", "missing-module", "not-a-store"],
)
def test_backend_class_that_does_not_exist(
    install: Callable[..., PluginManager], tmp_path: Path, target: str, says: str
) -> None:
    ghost = plugin(
        trackyard_tracking_stores=tracking(
            BackendSpec(("ghost",), target, install_hint='pip install "trackyard-ghost[all]"')
        )
    )
    manager = install(entry_point("ghost", ghost, "trackyard-ghost", "0.5"))
    assert manager.schemes("tracking").count("ghost") == 1  # listing needs no import
    with pytest.raises(PluginLoadError) as excinfo:
        MlflowClient(tracking_uri="ghost://somewhere").search_experiments()
    err = excinfo.value
    assert (err.plugin, err.distribution) == ("ghost", "trackyard-ghost")
    assert "plugin 'ghost' (distribution trackyard-ghost 0.5)" in err.message
    assert says in err.message and target in err.message

    (problem,) = plugin_problems(manager)
    assert problem.plugins == ("ghost",) and problem.schemes == ("tracking:ghost",)
    output = plugins_output()
    assert "ERROR" in row_of(output, "ghost")
    assert says in " ".join(output.split())

    assert_other_schemes_work(manager, tmp_path)
    assert_sqlite_session_works(tmp_path)
    doctor_passes_with_warning(tmp_path, "plugin 'ghost'", "trackyard-ghost 0.5")


def test_backend_module_that_raises_when_imported(
    install: Callable[..., PluginManager], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "trackyard_boom_store.py").write_text(
        "raise RuntimeError('needs a GPU at import time')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    boom = plugin(
        trackyard_tracking_stores=tracking(BackendSpec(("boom",), "trackyard_boom_store:Store"))
    )
    manager = install(entry_point("boom", boom, "trackyard-boom", "0.8"))
    with pytest.raises(PluginLoadError) as excinfo:
        manager.resolve("tracking", "boom://x")
    err = excinfo.value
    assert (err.plugin, err.distribution) == ("boom", "trackyard-boom")
    assert "plugin 'boom' (distribution trackyard-boom 0.8) raised" in err.message
    assert "needs a GPU at import time" in err.message
    assert isinstance(err.__cause__, RuntimeError)
    assert "ERROR" in row_of(plugins_output(), "boom")
    assert_other_schemes_work(manager, tmp_path)


# -- a hook module that cannot be imported, a misspelled hook -------------------------------------
def test_hook_module_that_fails_to_import(
    install: Callable[..., PluginManager], tmp_path: Path
) -> None:
    broken = entry_point(
        "broken", ModuleNotFoundError("No module named 'numpy'"), "trackyard-broken", "0.6"
    )
    manager = install(broken)
    (problem,) = plugin_problems(manager)
    assert "plugin 'broken' (distribution trackyard-broken 0.6) failed to import" in problem.message
    assert "ERROR" in row_of(plugins_output(), "broken")
    assert_other_schemes_work(manager, tmp_path)
    assert_sqlite_session_works(tmp_path)


def test_misspelled_hook(install: Callable[..., PluginManager], tmp_path: Path) -> None:
    typo = plugin(trackyard_tracking_store=tracking(BackendSpec(("typo",), DUMMY)))
    manager = install(entry_point("typo", typo, "trackyard-typo", "0.7"))
    (problem,) = plugin_problems(manager)
    assert "plugin 'typo' (distribution trackyard-typo 0.7)" in problem.message
    assert "did you mean 'trackyard_tracking_stores'?" in problem.message
    assert "ERROR" in row_of(plugins_output(), "typo")
    assert_other_schemes_work(manager, tmp_path)


def test_several_problems_are_all_listed(
    install: Callable[..., PluginManager], tmp_path: Path
) -> None:
    def boom() -> list[BackendSpec]:
        raise ValueError("nope")

    install(
        entry_point("raiser", plugin(trackyard_tracking_stores=boom), "trackyard-raiser", "0.2"),
        entry_point(
            "ghost",
            plugin(
                trackyard_artifact_repositories=tracking(
                    BackendSpec(("ghostfs",), "tests.unit.plugin_fixtures:Nothing")
                )
            ),
            "trackyard-ghost",
            "0.5",
        ),
    )
    output = plugins_output()
    assert "2 problem(s):" in output
    assert "ERROR" in row_of(output, "raiser") and "ERROR" in row_of(output, "ghost")
    assert "artifact repository scheme 'ghostfs'" in " ".join(output.split())


def test_clean_install_has_no_problems() -> None:
    reset_plugin_manager()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PluginWarning)
            assert plugin_problems(get_plugin_manager()) == []
            output = plugins_output()
        assert "problem" not in output
        assert "trackyard_sql" in output and "trackyard_fsspec" in output
    finally:
        reset_plugin_manager()
