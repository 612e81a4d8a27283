"""The built-in run-context plugin: MLflow's system tags."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trackyard_context import hooks


def _git(*args: str, cwd: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def test_tags_outside_git(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "train.py"
    script.write_text("")
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "carol")
    tags = hooks.trackyard_run_context("0")
    assert tags == {
        "mlflow.user": "carol",
        "mlflow.source.name": str(script),
        "mlflow.source.type": "LOCAL",
    }


def test_git_commit_branch_and_remote(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    _git("init", "-q", "-b", "main", str(repo), cwd=str(tmp_path))
    _git("remote", "add", "origin", "https://example.com/r.git", cwd=str(repo))
    (repo / "src" / "train.py").write_text("print(1)\n")
    _git("add", ".", cwd=str(repo))
    _git("commit", "-q", "-m", "init", cwd=str(repo))
    commit = _git("rev-parse", "HEAD", cwd=str(repo))
    monkeypatch.setattr(sys, "argv", [str(repo / "src" / "train.py")])
    hooks.git_info.cache_clear()
    tags = hooks.trackyard_run_context("0")
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.repoURL"] == "https://example.com/r.git"
    # packed refs are read too
    _git("pack-refs", "--all", cwd=str(repo))
    hooks.git_info.cache_clear()
    assert hooks.git_info(str(repo / "src"))["mlflow.source.git.commit"] == commit
    # a detached HEAD gives the commit without a branch
    _git("checkout", "-q", "--detach", cwd=str(repo))
    hooks.git_info.cache_clear()
    info = hooks.git_info(str(repo))
    assert info["mlflow.source.git.commit"] == commit and "mlflow.source.git.branch" not in info


def test_console_has_no_git_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["-c"])
    tags = hooks.trackyard_run_context("0")
    assert tags["mlflow.source.name"] == "<console>"
    assert not any(k.startswith("mlflow.source.git") for k in tags)
