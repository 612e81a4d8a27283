"""The plugin system: discovery, scheme tables, conflicts, errors, allow/block lists, hooks."""

from __future__ import annotations

import logging
import re
import sys
import types
import warnings
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from trackyard.errors import BackendConflictError, PluginLoadError, UnknownSchemeError
from trackyard.plugins import BackendSpec, Event, PluginManager, PluginWarning, hookimpl
from trackyard.stores import TrackingStore

# A backend class for tests: any concrete TrackingStore subclass will do.
DUMMY = "tests.unit.plugin_fixtures:DummyStore"
ROOT = Path(__file__).resolve().parents[2]


def plugin_module(name: str, **hooks: Any) -> types.ModuleType:
    """Build an in-memory plugin module with the given hook functions."""
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        fn.__name__ = hook_name
        setattr(module, hook_name, hookimpl(fn))
    return module


def tracking(*specs: BackendSpec) -> Any:
    return lambda: list(specs)


@pytest.fixture
def pm() -> PluginManager:
    return PluginManager(load_entry_points=False)


def test_register_and_resolve(pm: PluginManager) -> None:
    pm.register(
        plugin_module("p1", trackyard_tracking_stores=tracking(BackendSpec(("dummy",), DUMMY))),
        "p1",
    )
    from tests.unit.plugin_fixtures import DummyStore

    assert pm.resolve("tracking", "dummy://x") is DummyStore
    assert pm.resolve("tracking", "DUMMY+driver://x") is DummyStore
    assert pm.schemes("tracking") == ["dummy"]
    assert pm.scheme_table("tracking")["dummy"] == ("p1",)
    with pytest.raises(TypeError):
        pm.scheme_table("tracking")["other"] = ("x",)  # read-only view


def test_backend_class_is_imported_lazily(pm: PluginManager) -> None:
    sys.modules.pop("tests.unit.plugin_fixtures_lazy", None)
    pm.register(
        plugin_module(
            "lazy",
            trackyard_tracking_stores=tracking(
                BackendSpec(("lazy",), "tests.unit.plugin_fixtures_lazy:LazyStore")
            ),
        ),
        "lazy",
    )
    assert pm.schemes("tracking") == ["lazy"]
    assert "tests.unit.plugin_fixtures_lazy" not in sys.modules
    pm.resolve("tracking", "lazy://")
    assert "tests.unit.plugin_fixtures_lazy" in sys.modules


def test_unknown_scheme_message(pm: PluginManager) -> None:
    pm.register(
        plugin_module(
            "sqlish",
            trackyard_tracking_stores=tracking(
                BackendSpec(("postgresql", "sqlite"), DUMMY),
            ),
        ),
        "sqlish",
    )
    with pytest.raises(UnknownSchemeError) as excinfo:
        pm.resolve("tracking", "postgress://ml:hunter2@db/ml")
    err = excinfo.value
    text = str(err)
    assert "hunter2" not in text
    assert "'postgress://ml:***@db/ml'" in text
    assert "installed: postgresql, sqlite" in text
    assert "did you mean 'postgresql'?" in text
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert (err.scheme, err.suggestion, err.available) == (
        "postgress",
        "postgresql",
        ("postgresql", "sqlite"),
    )
    assert isinstance(err, KeyError)


def test_unknown_known_scheme_gives_install_hint(pm: PluginManager) -> None:
    with pytest.raises(UnknownSchemeError) as excinfo:
        pm.resolve("tracking", "postgresql://db/ml")
    assert 'pip install "trackyard[postgres]"' in str(excinfo.value)
    with pytest.raises(UnknownSchemeError) as excinfo:
        pm.resolve("artifact", "s3://bucket/path")
    assert 'pip install "trackyard[s3]"' in str(excinfo.value)
    with pytest.raises(UnknownSchemeError) as excinfo:  # no extra exists for it yet
        pm.resolve("tracking", "duckdb:///x.duckdb")
    assert "pip install" not in str(excinfo.value)
    assert "may not be installed" in str(excinfo.value)


def _declared_extras() -> set[str]:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    return set(project["optional-dependencies"])


def _hinted_extras(text: str) -> set[str]:
    return {
        extra.strip()
        for group in re.findall(r"trackyard\[([^\]]+)\]", text)
        for extra in group.split(",")
    }


def test_every_install_hint_names_an_extra_that_exists() -> None:
    """Hints in the unknown-scheme table, in built-in BackendSpecs and in the sources and docs."""
    from trackyard.plugins import _messages

    extras = _declared_extras()
    assert {"postgres", "mysql", "s3", "gcs"} <= extras
    hints = [hint for _, hint in _messages.INSTALL_HINTS.values()]
    assert all(_hinted_extras(h) for h in hints)
    manager = PluginManager()
    for kind in ("tracking", "registry", "artifact"):
        for scheme, _target, _plugin in manager.backends(kind):
            hints.extend(c for c in [manager.install_hint(kind, f"{scheme}://x")] if c)
    assert hints
    for hint in hints:  # a hint may name another package instead (pip install pyodbc)
        named = _hinted_extras(hint)
        assert named <= extras, f"{hint!r} names extras pyproject.toml lacks: {named - extras}"
    for folder, pattern in (("core", "*.py"), ("plugins", "*.py"), ("docs", "*.md")):
        for path in (ROOT / folder).rglob(pattern):
            missing = _hinted_extras(path.read_text(encoding="utf-8")) - extras
            assert not missing, f"{path.relative_to(ROOT)} hints at missing extras {missing}"


def test_same_target_twice_is_a_no_op(pm: PluginManager) -> None:
    spec = BackendSpec(("dummy",), DUMMY)
    pm.register(plugin_module("a", trackyard_tracking_stores=tracking(spec)), "a")
    pm.register(plugin_module("b", trackyard_tracking_stores=tracking(spec)), "b")
    pm.resolve("tracking", "dummy://")


def test_conflict_names_both_plugins_when_used(pm: PluginManager) -> None:
    pm.register(
        plugin_module(
            "first",
            trackyard_tracking_stores=tracking(
                BackendSpec(("dummy",), DUMMY), BackendSpec(("only-first",), DUMMY)
            ),
        ),
        "first",
        distribution="trackyard-first",
        version="1.0",
    )
    pm.register(
        plugin_module(
            "second",
            trackyard_tracking_stores=tracking(
                BackendSpec(("dummy",), "tests.unit.plugin_fixtures:OtherStore")
            ),
        ),
        "second",
        distribution="trackyard-second",
        version="2.0",
    )
    pm.resolve("tracking", "only-first://")  # other schemes keep working
    with pytest.raises(BackendConflictError) as excinfo:
        pm.resolve("tracking", "dummy://")
    text = str(excinfo.value)
    assert "trackyard-first 1.0" in text and "trackyard-second 2.0" in text
    assert excinfo.value.plugins == ("first", "second")


def test_replaces_wins_a_conflict(pm: PluginManager) -> None:
    pm.register(
        plugin_module("a", trackyard_tracking_stores=tracking(BackendSpec(("dummy",), DUMMY))), "a"
    )
    pm.register(
        plugin_module(
            "b",
            trackyard_tracking_stores=tracking(
                BackendSpec(("dummy",), "tests.unit.plugin_fixtures:OtherStore", replaces=True)
            ),
        ),
        "b",
    )
    from tests.unit.plugin_fixtures import OtherStore

    assert pm.resolve("tracking", "dummy://") is OtherStore


def test_missing_module_names_plugin_and_hint(pm: PluginManager) -> None:
    pm.register(
        plugin_module(
            "broken",
            trackyard_tracking_stores=tracking(
                BackendSpec(("gone",), "no_such_module_xyz:Store", install_hint="pip install xyz")
            ),
        ),
        "broken",
        distribution="trackyard-broken",
    )
    with pytest.raises(PluginLoadError) as excinfo:
        pm.resolve("tracking", "gone://")
    text = str(excinfo.value)
    assert "trackyard-broken" in text and "pip install xyz" in text
    assert isinstance(excinfo.value.__cause__, ImportError)
    assert excinfo.value.plugin == "broken"


def test_missing_class_and_wrong_base(pm: PluginManager) -> None:
    pm.register(
        plugin_module(
            "p",
            trackyard_tracking_stores=tracking(
                BackendSpec(("noclass",), "tests.unit.plugin_fixtures:Missing"),
                BackendSpec(("notastore",), "tests.unit.plugin_fixtures:NotAStore"),
            ),
        ),
        "p",
    )
    with pytest.raises(PluginLoadError, match="no attribute 'Missing'"):
        pm.resolve("tracking", "noclass://")
    wrong_base = r"not a subclass of trackyard\.stores\.TrackingStore"
    with pytest.raises(PluginLoadError, match=wrong_base):
        pm.resolve("tracking", "notastore://")


def test_hook_that_raises_or_returns_wrong_type(pm: PluginManager) -> None:
    def boom() -> Any:
        raise RuntimeError("kaput")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm.register(
            plugin_module("raiser", trackyard_tracking_stores=boom),
            "raiser",
            distribution="trackyard-raiser",
        )
        pm.register(plugin_module("wrong", trackyard_tracking_stores=lambda: "sqlite"), "wrong")
        pm.register(
            plugin_module("single", trackyard_tracking_stores=lambda: BackendSpec(("one",), DUMMY)),
            "single",
        )
        pm.register(
            plugin_module(
                "fine", trackyard_tracking_stores=tracking(BackendSpec(("dummy",), DUMMY))
            ),
            "fine",
        )
        assert pm.schemes("tracking") == ["dummy"]
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert any("raiser" in m and "trackyard-raiser" in m and "kaput" in m for m in messages)
    assert any("'wrong'" in m and "str" in m for m in messages)
    assert any("'single'" in m and "return a list" in m for m in messages)
    infos = {p.name: p for p in pm.plugins()}
    assert infos["raiser"].error and infos["wrong"].error and infos["single"].error
    assert infos["fine"].error is None
    with pytest.raises(UnknownSchemeError, match="failed to load"):
        pm.resolve("tracking", "nothing://")


def test_misspelled_hook_is_reported(pm: PluginManager) -> None:
    module = types.ModuleType("typo")

    @hookimpl
    def trackyard_tracking_store() -> list[BackendSpec]:  # missing the final "s"
        return []

    module.trackyard_tracking_store = trackyard_tracking_store  # type: ignore[attr-defined]
    with pytest.warns(PluginWarning, match="did you mean 'trackyard_tracking_stores'"):
        pm.register(module, "typo")
    assert {p.name: p for p in pm.plugins()}["typo"].error


def test_strict_mode_raises_on_misspelled_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    import pluggy

    monkeypatch.setenv("TRACKYARD_STRICT_PLUGINS", "1")
    pm = PluginManager(load_entry_points=False)
    module = types.ModuleType("typo2")

    @hookimpl
    def trackyard_on_events(event: Event) -> None:
        pass

    module.trackyard_on_events = trackyard_on_events  # type: ignore[attr-defined]
    with pytest.raises(pluggy.PluginValidationError):
        pm.register(module, "typo2")


def test_class_instead_of_instance(pm: PluginManager) -> None:
    class Plugin:
        @hookimpl
        def trackyard_tracking_stores(self) -> list[BackendSpec]:
            return []

    with pytest.warns(PluginWarning, match=r"forget the \(\)"):
        pm.register(Plugin, "klass")
    pm.register(Plugin(), "instance")
    assert {p.name: p for p in pm.plugins()}["instance"].error is None


def test_fallback_backend(pm: PluginManager) -> None:
    pm.register(
        plugin_module(
            "fb",
            trackyard_artifact_repositories=lambda: [
                BackendSpec(("file",), "tests.unit.plugin_fixtures:PickyRepo", fallback=True)
            ],
        ),
        "fb",
    )
    from tests.unit.plugin_fixtures import PickyRepo

    assert pm.resolve("artifact", "accepted://x") is PickyRepo
    with pytest.raises(UnknownSchemeError):
        pm.resolve("artifact", "refused://x")


def test_register_backend_in_process(pm: PluginManager) -> None:
    pm.register_backend("tracking", BackendSpec(("inproc",), DUMMY), plugin="mine")
    from tests.unit.plugin_fixtures import DummyStore

    assert pm.resolve("tracking", "inproc://") is DummyStore
    pm.unregister("mine")
    with pytest.raises(UnknownSchemeError):
        pm.resolve("tracking", "inproc://")


def test_run_context_merges_and_isolates_failures(pm: PluginManager) -> None:
    def broken(experiment_id: str) -> dict[str, str]:
        raise ValueError("nope")

    pm.register(
        plugin_module(
            "c1", trackyard_run_context=lambda experiment_id: {"a": "1", "exp": experiment_id}
        ),
        "c1",
    )
    pm.register(plugin_module("c2", trackyard_run_context=broken), "c2")
    pm.register(plugin_module("c3", trackyard_run_context=lambda: {"a": "2", "b": 3}), "c3")
    assert pm.run_context("7") == {"a": "2", "exp": "7", "b": "3"}


def test_request_headers_join_duplicates(pm: PluginManager) -> None:
    pm.register(plugin_module("h1", trackyard_request_headers=lambda uri: {"X-A": "1"}), "h1")
    pm.register(
        plugin_module("h2", trackyard_request_headers=lambda uri: {"X-A": "2", "X-B": uri}), "h2"
    )
    assert pm.request_headers("http://h") == {"X-A": "1 2", "X-B": "http://h"}


def test_events_reach_every_listener(pm: PluginManager) -> None:
    seen: list[str] = []

    def bad(event: Event) -> None:
        raise RuntimeError("listener bug")

    pm.register(plugin_module("e1", trackyard_on_event=bad), "e1")
    pm.register(plugin_module("e2", trackyard_on_event=lambda event: seen.append(event.name)), "e2")
    assert pm.has_event_listeners()
    pm.notify(Event("run.created", None))
    assert seen == ["run.created"]


def test_cli_hook(pm: PluginManager) -> None:
    import click

    group = click.Group("root")
    pm.register(
        plugin_module("cli", trackyard_cli=lambda cli: cli.add_command(click.Command("hello"))),
        "cli",
    )
    pm.extend_cli(group)
    assert "hello" in group.commands


class _Wrapper:
    """A plugin of wrappers only: it observes every call and alters some results."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.failures = 0

    @hookimpl(wrapper=True)
    def trackyard_run_context(self, experiment_id: str) -> Any:
        self.seen.append(f"run_context {experiment_id}")
        results = yield
        return [{**r, "wrapped": "yes"} for r in results]

    @hookimpl(wrapper=True)
    def trackyard_on_event(self, event: Event) -> Any:
        self.seen.append(f"event {event.name}")
        try:
            return (yield)
        except RuntimeError:
            self.failures += 1
            raise

    @hookimpl(wrapper=True)
    def trackyard_tracking_stores(self) -> Any:
        results = yield
        return [[s for s in specs if "blocked" not in s.schemes] for specs in results]


def test_wrappers_take_part_in_every_call(pm: PluginManager) -> None:
    wrapper = _Wrapper()
    pm.register(wrapper, "wrapper")
    assert not pm.has_event_listeners()  # a wrapper alone is not a listener
    pm.register(plugin_module("c1", trackyard_run_context=lambda: {"a": "1"}), "c1")
    assert pm.run_context("7") == {"a": "1", "wrapped": "yes"}

    def bad(event: Event) -> None:
        raise RuntimeError("listener bug")

    seen: list[str] = []
    pm.register(plugin_module("e1", trackyard_on_event=bad), "e1")
    pm.register(plugin_module("e2", trackyard_on_event=lambda event: seen.append(event.name)), "e2")
    pm.notify(Event("run.created", None))
    assert seen == ["run.created"]  # the failing listener did not stop the other
    assert wrapper.failures == 1  # the wrapper saw the failure, once
    assert wrapper.seen == ["run_context 7", "event run.created", "event run.created"]

    pm.register(
        plugin_module(
            "stores",
            trackyard_tracking_stores=tracking(
                BackendSpec(("dummy",), DUMMY), BackendSpec(("blocked",), DUMMY)
            ),
        ),
        "stores",
    )
    assert pm.schemes("tracking") == ["dummy"]  # the wrapper removed a spec
    assert pm.scheme_table("tracking")["dummy"] == ("stores",)  # still attributed


def test_trace_plugins_logs_every_hook_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(experiment_id: str) -> dict[str, str]:
        raise ValueError("nope")

    monkeypatch.setenv("TRACKYARD_TRACE_PLUGINS", "1")
    traced = PluginManager(load_entry_points=False)
    traced.register(plugin_module("c1", trackyard_run_context=lambda: {"a": "1"}), "c1")
    traced.register(plugin_module("c2", trackyard_run_context=broken), "c2")
    with caplog.at_level(logging.DEBUG, logger="trackyard.plugins"):
        assert traced.run_context("7") == {"a": "1"}
    text = caplog.text
    assert "hook trackyard_run_context(experiment_id='7') calls c1" in text
    assert "hook trackyard_run_context returned [{'a': '1'}]" in text
    assert "hook trackyard_run_context(experiment_id='7') calls c2" in text
    assert "hook trackyard_run_context raised ValueError('nope')" in text

    caplog.clear()
    monkeypatch.delenv("TRACKYARD_TRACE_PLUGINS")
    quiet = PluginManager(load_entry_points=False)
    quiet.register(plugin_module("c1", trackyard_run_context=lambda: {"a": "1"}), "c1")
    with caplog.at_level(logging.DEBUG, logger="trackyard.plugins"):
        quiet.run_context("7")
    assert "hook trackyard_run_context" not in caplog.text


# -- entry points ------------------------------------------------------------------------------
def _fake_entry_points(*eps: EntryPoint) -> Any:
    def entry_points(group: str | None = None, **_: Any) -> list[EntryPoint]:
        return [ep for ep in eps if ep.group == group]

    return entry_points


def _ep(name: str, value: str, dist: str = "thirdparty", version: str = "0.3") -> EntryPoint:
    ep = mock.create_autospec(EntryPoint, instance=True)
    ep.name, ep.value, ep.group = name, value, "trackyard"
    ep.dist = types.SimpleNamespace(name=dist, version=version)
    ep.load.side_effect = lambda: __import__(value, fromlist=["_"])
    return ep  # type: ignore[no-any-return]


def test_entry_points_allow_and_block_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        _ep("good", "tests.unit.plugin_fixtures"),
        _ep("other", "tests.unit.plugin_fixtures_other", dist="other-dist"),
    ]
    monkeypatch.setattr("importlib.metadata.entry_points", _fake_entry_points(*eps))
    monkeypatch.delenv("TRACKYARD_PLUGINS", raising=False)  # tests/conftest.py sets it
    pm = PluginManager()
    assert set(pm.schemes("tracking")) == {"fixture", "fixture-other"}
    info = {p.name: p for p in pm.plugins()}["good"]
    assert (info.distribution, info.version, info.builtin) == ("thirdparty", "0.3", False)

    monkeypatch.setenv("TRACKYARD_PLUGINS", "good")
    assert PluginManager().schemes("tracking") == ["fixture"]
    monkeypatch.setenv("TRACKYARD_PLUGINS", "other-dist")  # distribution names work too
    assert PluginManager().schemes("tracking") == ["fixture-other"]
    monkeypatch.setenv("TRACKYARD_PLUGINS", "")
    assert PluginManager().schemes("tracking") == []
    monkeypatch.delenv("TRACKYARD_PLUGINS")
    monkeypatch.setenv("TRACKYARD_DISABLE_PLUGINS", "good")
    assert PluginManager().schemes("tracking") == ["fixture-other"]


def test_entry_point_that_fails_to_import(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        _ep("good", "tests.unit.plugin_fixtures"),
        _ep("crashing", "tests.unit.no_such_plugin_module", dist="trackyard-crash"),
    ]
    monkeypatch.setattr("importlib.metadata.entry_points", _fake_entry_points(*eps))
    monkeypatch.delenv("TRACKYARD_PLUGINS", raising=False)
    pm = PluginManager()
    with pytest.warns(PluginWarning, match="crashing.*trackyard-crash"):
        schemes = pm.schemes("tracking")
    assert schemes == ["fixture"]  # other schemes keep working
    pm.resolve("tracking", "fixture://")
    with pytest.raises(UnknownSchemeError, match="crashing"):
        pm.resolve("tracking", "missing://")


def test_discovery_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def entry_points(group: str | None = None, **_: Any) -> list[EntryPoint]:
        calls.append(str(group))
        return []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    pm = PluginManager()
    assert calls == []
    pm.schemes("tracking")
    pm.schemes("artifact")
    assert calls == ["trackyard"]


def test_dummy_store_is_concrete() -> None:
    from tests.unit.plugin_fixtures import DummyStore

    assert issubclass(DummyStore, TrackingStore)
