"""The ``trackyard`` command line: quickstart's hint, paging runs, missing experiments, warnings."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackyard.cli import cli
from trackyard.cli.quickstart import try_next
from trackyard.cli.tracking import find_experiment


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from trackyard.backends import clear_store_cache

    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    yield f"sqlite:///{tmp_path / 'cli.db'}"
    clear_store_cache()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_python_m_trackyard_cli_runs_the_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trackyard.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    for command in ("quickstart", "doctor", "plugins", "experiments", "runs", "models"):
        assert command in out.stdout


def test_quickstart_hint_names_the_store_it_used(uri: str, tmp_path: Path) -> None:
    code, out = run("quickstart", "--tracking-uri", uri, "--epochs", "3")
    assert code == 0, out
    (hint,) = [line for line in out.splitlines() if line.startswith("Try: ")]
    args = shlex.split(hint.removeprefix("Try: "))
    assert args[:3] == ["trackyard", "runs", "list"]
    assert args[args.index("--tracking-uri") + 1] == uri
    code, listed = run(*args[1:])  # the hint, as printed, works from any environment
    assert code == 0, listed
    assert "FINISHED" in listed


def test_quickstart_hint_masks_a_password() -> None:
    hint = try_next("postgresql://ml:hunter2@db/ml", "trackyard-quickstart")
    assert "hunter2" not in hint
    assert "--tracking-uri 'postgresql://ml:***@db/ml'" in hint
    assert "password" in hint
    plain = try_next("sqlite:////data/my runs.db", "trackyard-quickstart")
    assert plain == (
        "Try: trackyard runs list --tracking-uri 'sqlite:////data/my runs.db' "
        "--experiment trackyard-quickstart"
    )


def test_runs_list_pages_with_page_token(uri: str) -> None:
    from trackyard import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("paged")
    made = {client.create_run(exp_id).info.run_id for _ in range(5)}
    seen: list[str] = []
    token: str | None = None
    for _ in range(3):
        args = ["runs", "list", "--tracking-uri", uri, "--experiment", "paged"]
        args += ["--max-results", "2"] + (["--page-token", token] if token else [])
        code, out = run(*args)
        assert code == 0, out
        seen += [line.split()[0] for line in out.splitlines() if line[:32] in made]
        tokens = [line.split(": ", 1)[1] for line in out.splitlines() if "page token:" in line]
        token = tokens[0] if tokens else None
        if token:
            assert f"--page-token {token}" in out
    assert token is None  # the third page is the last
    assert sorted(seen) == sorted(made) and len(seen) == 5

    code, out = run("runs", "list", "--tracking-uri", uri, "--experiment", "paged")
    assert code == 0 and "page token" not in out
    code, out = run(
        "runs", "list", "--tracking-uri", uri, "--experiment", "paged", "--page-token", "junk"
    )
    assert code == 1 and "INVALID_PARAMETER_VALUE" in out


def test_missing_experiment_names_the_store(uri: str) -> None:
    from trackyard import MlflowClient

    MlflowClient(tracking_uri=uri).create_experiment("there")
    for ref in ("not-there", "42"):
        code, out = run("runs", "list", "--tracking-uri", uri, "--experiment", ref)
        assert code == 1
        flat = " ".join(out.split())
        assert f"No experiment named or numbered {ref!r} in the tracking store {uri}" in flat


def test_missing_experiment_masks_the_password(tmp_path: Path) -> None:
    import click

    from trackyard.testing import make_client
    from trackyard_file.tracking import FileTrackingStore

    store = FileTrackingStore(str(tmp_path / "mlruns"), str(tmp_path / "artifacts"))
    client = make_client(store, tracking_uri="postgresql://ml:hunter2@db/ml")
    assert find_experiment(client, "0").name == "Default"
    with pytest.raises(click.ClickException) as excinfo:
        find_experiment(client, "nope")
    assert "hunter2" not in excinfo.value.message
    assert "postgresql://ml:***@db/ml" in excinfo.value.message


def test_broken_plugin_is_reported_once_per_process(tmp_path: Path) -> None:
    """However many plugin managers and commands meet a broken plugin, it is printed once."""
    dist = tmp_path / "trackyard_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: trackyard-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[trackyard]\nbroken = trackyard_broken_hooks\n")
    (tmp_path / "trackyard_broken_hooks.py").write_text("import a_module_that_is_missing\n")
    script = (
        "from trackyard.plugins import get_plugin_manager, reset_plugin_manager\n"
        "from trackyard.cli import main\n"
        "for _ in range(3):\n"
        "    reset_plugin_manager()\n"
        "    get_plugin_manager().schemes('tracking')\n"
        "main(['plugins'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKYARD_")}
    env["TRACKYARD_PLUGINS"] = "trackyard,trackyard-broken"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("failed to import 'trackyard_broken_hooks'") == 1, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("broken "))
    assert "ERROR" in row  # the table still shows it
