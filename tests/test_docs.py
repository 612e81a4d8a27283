"""The docs are tested.

- The generated sections (hook reference, command reference) are current, and the hook
  reference documents every hookspec with its exact signature.
- Every hookspec has a complete docstring; every error code, capability and ``TRACKYARD_*``
  variable the code reads is documented.
- The tutorial's code (docs/plugins/tutorial.md) is extracted and run: the whole tracking
  conformance kit against its store (collected below as ``TestTutorialJsonFileStore``), its
  example session, and its packaging through a fake entry point with ``trackyard plugins``,
  ``trackyard doctor`` and ``trackyard quickstart``.
- The getting-started example runs.
- ``mkdocs build --strict`` passes.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "plugins" / "tutorial.md"

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)
_FILE_MARK = re.compile(r"#\s*(?P<name>[\w.-]+\.(?:py|toml))(?:\s+\(continued\))?")


def code_blocks(path: Path, lang: str | None = None) -> list[str]:
    """The fenced code blocks of a Markdown file, optionally only those of one language."""
    return [
        m.group("body")
        for m in _FENCE.finditer(path.read_text(encoding="utf-8"))
        if lang is None or m.group("lang") == lang
    ]


def files_in(path: Path) -> dict[str, str]:
    """Files spelled out in ``path``: blocks whose first line is ``# <file>[ (continued)]``.

    Blocks naming the same file are concatenated in order.
    """
    files: dict[str, str] = {}
    for body in code_blocks(path):
        first = body.split("\n", 1)[0].strip()
        mark = _FILE_MARK.fullmatch(first)
        if mark:
            name = mark.group("name")
            files[name] = files.get(name, "") + body + "\n"
    return files


def _load_generator() -> types.ModuleType:
    if "gen_hook_docs" in sys.modules:
        return sys.modules["gen_hook_docs"]
    spec = importlib.util.spec_from_file_location(
        "gen_hook_docs", ROOT / "scripts" / "gen_hook_docs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_hook_docs"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# -- the tutorial's files, written out once per test process --------------------------------------
TUTORIAL_FILES = files_in(TUTORIAL)
_TUTORIAL_DIR = Path(tempfile.mkdtemp(prefix="trackyard-tutorial-"))
atexit.register(shutil.rmtree, _TUTORIAL_DIR, True)
for _name, _source in TUTORIAL_FILES.items():
    (_TUTORIAL_DIR / _name).write_text(_source, encoding="utf-8")
sys.path.insert(0, str(_TUTORIAL_DIR))

# The conformance test module the tutorial writes; its suite is collected here, so the whole
# TrackingStoreSuite runs against the tutorial's store.
TestTutorialJsonFileStore = importlib.import_module("test_jsonfile").TestJsonFileStore


def test_tutorial_spells_out_its_files() -> None:
    assert set(TUTORIAL_FILES) == {
        "trackyard_jsonfile.py",
        "test_jsonfile.py",
        "try_it.py",
        "pyproject.toml",
    }
    compile(TUTORIAL_FILES["trackyard_jsonfile.py"], "trackyard_jsonfile.py", "exec")


def test_tutorial_store_declares_its_capabilities() -> None:
    from trackyard.stores import TrackingStore

    store_module = importlib.import_module("trackyard_jsonfile")
    cls = store_module.JsonFileStore
    assert issubclass(cls, TrackingStore) and not inspect.isabstract(cls)
    caps = cls.capabilities
    assert (caps.transactions, caps.concurrent_processes, caps.search_or) == (True, False, True)


def test_tutorial_try_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackyard.backends import clear_store_cache
    from trackyard.plugins import get_plugin_manager

    monkeypatch.chdir(tmp_path)
    try:
        runpy.run_path(str(_TUTORIAL_DIR / "try_it.py"), run_name="__main__")
    finally:
        get_plugin_manager().unregister("trackyard_jsonfile")
        clear_store_cache()
    assert (tmp_path / "runs.json").is_file()
    artifacts = list((tmp_path / "trackyard-artifacts").rglob("notes.txt"))
    assert len(artifacts) == 1 and artifacts[0].read_text() == "hello"


def test_tutorial_plugin_installs_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tomllib = pytest.importorskip("tomllib")
    from trackyard.backends import clear_store_cache
    from trackyard.cli import cli
    from trackyard.plugins import reset_plugin_manager

    project = tomllib.loads(TUTORIAL_FILES["pyproject.toml"])
    dist = project["project"]["name"]
    version = project["project"]["version"]
    declared = project["project"]["entry-points"]["trackyard"]
    assert declared, "the tutorial's pyproject.toml declares no trackyard entry point"

    fakes = []
    for name, value in declared.items():
        ep = mock.create_autospec(importlib.metadata.EntryPoint, instance=True)
        ep.name, ep.value, ep.group = name, value, "trackyard"
        ep.dist = types.SimpleNamespace(name=dist, version=version)
        ep.load.side_effect = lambda value=value: importlib.import_module(value)
        fakes.append(ep)
    real = importlib.metadata.entry_points

    def entry_points(group: str | None = None, **kwargs: Any) -> Any:
        if group != "trackyard":
            return real(group=group, **kwargs) if group else real()
        own = [
            e for e in real(group="trackyard") if e.dist is not None and e.dist.name == "trackyard"
        ]
        return [*own, *fakes]

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    monkeypatch.delenv("TRACKYARD_PLUGINS", raising=False)  # tests/conftest.py sets it
    monkeypatch.chdir(tmp_path)
    reset_plugin_manager()
    clear_store_cache()
    try:
        runner = CliRunner()
        listed = runner.invoke(cli, ["plugins"])
        assert listed.exit_code == 0, listed.output
        row = next(
            line for line in listed.output.splitlines() if line.startswith("trackyard_jsonfile")
        )
        assert dist in row and "tracking: jsonfile" in row and row.rstrip().endswith("ok")
        problems = listed.output.partition("problem(s):")[2]
        assert "jsonfile" not in problems, listed.output

        uri = f"jsonfile://{tmp_path}/runs.json"
        doctor = runner.invoke(cli, ["doctor", "--tracking-uri", uri])
        assert doctor.exit_code == 0, doctor.output
        flat = " ".join(doctor.output.split())
        assert f"from plugin 'trackyard_jsonfile' (distribution {dist} {version})" in flat
        assert "capabilities: transactions, search_or" in flat

        quick = runner.invoke(cli, ["quickstart", "--tracking-uri", uri])
        assert quick.exit_code == 0, quick.output
        listed_runs = runner.invoke(
            cli, ["runs", "list", "--tracking-uri", uri, "--experiment", "trackyard-quickstart"]
        )
        assert listed_runs.exit_code == 0 and "FINISHED" in listed_runs.output
    finally:
        reset_plugin_manager()
        clear_store_cache()


# -- other runnable examples ----------------------------------------------------------------------
def test_getting_started_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackyard.backends import clear_store_cache

    (example,) = [b for b in code_blocks(DOCS / "getting-started.md", "python")]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    try:
        exec(compile(example, "getting-started.md", "exec"), namespace)
    finally:
        clear_store_cache()
    assert namespace["best"][0].data.metrics["loss"] == pytest.approx(0.01)
    assert (tmp_path / "trackyard.db").is_file()


# -- generated sections, hooks --------------------------------------------------------------------
def test_generated_sections_are_current() -> None:
    generator = _load_generator()
    stale = [
        str(path.relative_to(ROOT))
        for path, (old, new) in generator.updated_files().items()
        if old != new
    ]
    assert not stale, f"stale generated docs: {stale}; run: python scripts/gen_hook_docs.py"


def _hookspecs() -> dict[str, Any]:
    from trackyard.plugins import hookspecs

    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("trackyard_") and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def _signature(fn: Any) -> str:
    sig = inspect.signature(fn)
    params = ", ".join(
        f"{p.name}: {p.annotation}" if p.annotation is not p.empty else p.name
        for p in sig.parameters.values()
    )
    return f"def {fn.__name__}({params}) -> {sig.return_annotation}: ..."


def test_every_hook_is_documented_with_its_signature() -> None:
    text = (DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n@hookimpl\n(def (trackyard_\w+)\(.*\).*: \.\.\.)\n```", text)
    documented = {name: sig for sig, name in blocks}
    specs = _hookspecs()
    assert specs, "no hookspecs found"
    missing = sorted(set(specs) - set(documented))
    assert not missing, f"hooks missing from docs/plugins/hooks.md: {missing}"
    unknown = sorted(set(documented) - set(specs))
    assert not unknown, f"docs/plugins/hooks.md documents hooks that do not exist: {unknown}"
    for name, fn in specs.items():
        assert documented[name] == _signature(fn), f"documented signature of {name} differs"
        assert f"## {name}\n" in text


def test_hookspec_docstrings_are_complete() -> None:
    generator = _load_generator()
    for name, fn in _hookspecs().items():
        doc = generator.parse_docstring(fn.__doc__)
        assert doc.summary.endswith("."), f"{name}: no one-line summary"
        params = list(inspect.signature(fn).parameters)
        documented = [n for n, _ in doc.sections.get("Arguments", [])]
        assert documented == params, f"{name}: Args document {documented}, hook takes {params}"
        if inspect.signature(fn).return_annotation not in ("None", None):
            assert doc.sections.get("Returns"), f"{name}: no Returns section"
        assert doc.version_added, f"{name}: no '.. versionadded::'"
        opts = fn.trackyard_spec
        if opts.get("firstresult"):
            assert "Stops at first non-None result" in fn.__doc__, name


# -- tables that must list everything -------------------------------------------------------------
def _table_rows(path: Path) -> dict[str, list[str]]:
    """First cell (without backticks) -> the other cells, for every table row of a page."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_error_code_is_documented_with_its_status() -> None:
    from trackyard.errors import ERROR_CODE_TO_HTTP_STATUS, ErrorCode

    rows = _table_rows(DOCS / "errors.md")
    codes = [n for n in vars(ErrorCode) if n.isupper()]
    for code in codes:
        assert code in rows, f"error code {code} is missing from docs/errors.md"
        status = str(ERROR_CODE_TO_HTTP_STATUS.get(code, 500))
        assert rows[code][0] == status, f"{code}: docs say {rows[code][0]}, code says {status}"
    for cls in ("UnknownSchemeError", "BackendConflictError", "PluginLoadError"):
        assert cls in rows, f"{cls} is missing from docs/errors.md"


def test_every_capability_is_documented() -> None:
    import dataclasses

    from trackyard.stores import Capabilities

    rows = _table_rows(DOCS / "plugins" / "conformance.md")
    for f in dataclasses.fields(Capabilities):
        assert f.name in rows, f"capability {f.name} is missing from docs/plugins/conformance.md"
        default = "on" if f.default else "off"
        assert rows[f.name][0].startswith(default), f"{f.name}: default is {default}"


def test_every_environment_variable_is_documented() -> None:
    read = set()
    for source in [*(ROOT / "core").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        read |= set(re.findall(r"\b(TRACKYARD_[A-Z][A-Z0-9_]*[A-Z0-9])\b", source.read_text()))
    read = {v for v in read if not v.startswith("TRACKYARD_TEST_")}
    docs = " ".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    missing = sorted(v for v in read if v not in docs)
    assert not missing, f"environment variables read by the code but not documented: {missing}"


# -- the site -------------------------------------------------------------------------------------
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('mkdocs is not installed (pip install -e ".[test]" or ".[docs]")')
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "plugins" / "tutorial" / "index.html").is_file()
    assert (tmp_path / "site" / "plugins" / "hooks" / "index.html").is_file()
