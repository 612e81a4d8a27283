"""Meta-tests that keep the project honest: README, CI and conformance coverage agree."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

from trackyard.plugins.manager import KINDS, PluginManager

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_leads_with_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) >= 2
    assert commands[0].endswith("trackyard quickstart")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"^TEST_COMMAND='(.+)'$", ci, re.M)
    assert match, "TEST_COMMAND not found in .ci/run"
    assert match.group(1) == _readme_commands()[1]


def test_docs_quote_the_readme_commands() -> None:
    """Pages that show how to install and test use the README's commands, verbatim."""
    quickstart, tests = _readme_commands()[:2]
    for page in ("getting-started.md", "development.md"):
        text = (ROOT / "docs" / page).read_text()
        assert tests in text.splitlines(), f"docs/{page} does not show the README's test command"
    assert quickstart in (ROOT / "docs" / "getting-started.md").read_text().splitlines()
    for page in (ROOT / "docs").rglob("*.md"):
        for line in page.read_text().splitlines():
            if line.startswith("python3 -m venv") and "pytest" in line:
                assert line == tests, f"{page.relative_to(ROOT)} shows a stale test command: {line}"


def _installed_contrib() -> dict[str, Path]:
    """Distribution name -> tests folder, for the contrib plugins installed in this run."""
    import importlib.metadata

    tomllib = pytest.importorskip("tomllib")
    found = {}
    for project in sorted((ROOT / "contrib").glob("*/pyproject.toml")):
        name = tomllib.loads(project.read_text())["project"]["name"]
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = project.parent / "tests"
    return found


def _load(path: Path) -> types.ModuleType:
    if path.is_relative_to(ROOT / "tests"):
        return importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    name = "_conformance_" + "_".join(path.relative_to(ROOT).with_suffix("").parts[1:])
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def test_every_discovered_backend_has_a_conformance_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each backend of trackyard and of the installed contrib plugins runs the kit.

    A suite subclass names the backend it tests with ``covers = "pkg.module:Class"``; the kit's
    ``test_fixture_builds_the_backend_its_scheme_resolves_to`` then checks, in every such
    class, that its fixture builds exactly that backend, the one its URI's scheme resolves to.
    """
    from trackyard.testing import ArtifactRepositorySuite, RegistryStoreSuite, TrackingStoreSuite
    from trackyard.testing._backend import import_target

    contrib = _installed_contrib()
    folders = [ROOT / "tests" / "conformance", *contrib.values()]
    suites = (TrackingStoreSuite, ArtifactRepositorySuite, RegistryStoreSuite)
    covered: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted(folder.glob("test_*.py")):
            if "Suite" not in path.read_text(encoding="utf-8"):
                continue
            for obj in vars(_load(path)).values():
                if (
                    isinstance(obj, type)
                    and issubclass(obj, suites)
                    and obj.__name__.startswith("Test")
                    and obj.covers
                ):
                    covered.setdefault(obj.covers, []).append(f"{path.name}::{obj.__name__}")
    for target in covered:
        import_target(target)  # names a class that exists

    dists = ["trackyard", *contrib]
    monkeypatch.setenv("TRACKYARD_PLUGINS", ",".join(dists))
    pm = PluginManager()
    infos = {p.name: p for p in pm.plugins()}
    assert not [p.label for p in infos.values() if p.error], "a plugin failed to load"
    discovered = {
        target: infos[plugin].distribution
        for kind in KINDS
        for _scheme, target, plugin in pm.backends(kind)
    }
    assert {d for d in discovered.values()} == set(dists), "a distribution contributed nothing"
    missing = sorted(f"{t} (from {d})" for t, d in discovered.items() if t not in covered)
    assert not missing, f"backends without a conformance suite that covers them: {missing}"


def test_strict_typing_gate_is_clean(tmp_path: Path) -> None:
    """`mypy` (strict, configured in pyproject.toml) finds nothing in core and the plugins."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
