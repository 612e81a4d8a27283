"""Meta-tests that keep the project honest: README, CI and conformance coverage agree."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_every_builtin_backend_has_a_conformance_module() -> None:
    """Each backend this distribution ships runs the kit: a conformance module lists it.

    A module in tests/conformance declares ``COVERS = ("pkg.module:Class", ...)`` and defines
    at least one test class derived from a ``trackyard.testing`` suite.
    """
    import importlib

    from trackyard.testing import ArtifactRepositorySuite, RegistryStoreSuite, TrackingStoreSuite

    suites = (TrackingStoreSuite, ArtifactRepositorySuite, RegistryStoreSuite)
    covered: set[str] = set()
    for path in sorted((ROOT / "tests" / "conformance").glob("test_*.py")):
        module = importlib.import_module(f"tests.conformance.{path.stem}")
        covers = getattr(module, "COVERS", ())
        classes = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, suites) and c not in suites
        ]
        assert not covers or classes, f"{path.name} declares COVERS but runs no suite"
        covered.update(covers)
    pm = PluginManager()
    builtin = {p.name for p in pm.plugins() if p.builtin}
    targets = {
        claim.spec.target
        for kind in KINDS
        for claims in pm._build_tables()[kind].values()
        for claim in claims
        if claim.plugin in builtin
    }
    assert targets, "no built-in backends were discovered; is trackyard installed?"
    missing = sorted(targets - covered)
    assert not missing, f"built-in backends without a conformance module: {missing}"
