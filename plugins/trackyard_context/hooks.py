"""Default tags for new runs, as MLflow's default and git run-context providers set them.

``mlflow.user`` (``MLFLOW_TRACKING_USERNAME``, else the OS user), ``mlflow.source.name`` (the
main script), ``mlflow.source.type`` (``LOCAL``) and, when the script lies in a git checkout,
``mlflow.source.git.commit`` / ``.branch`` / ``.repoURL``. Git metadata is read from the
``.git`` directory directly (no subprocess) and cached per process.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys

from trackyard.plugins.hookspecs import hookimpl

__all__ = ["git_info", "source_name", "trackyard_run_context"]


def source_name() -> str:
    """The main script's absolute path, or ``<console>`` in an interactive session."""
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not main or main == "-c":
        return "<console>"
    return os.path.abspath(main)


def _user() -> str:
    name = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, e.g. in some containers
        return "unknown"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _find_git_dir(start: str) -> str | None:
    directory = start
    while True:
        candidate = os.path.join(directory, ".git")
        if os.path.isdir(candidate):
            return candidate
        if os.path.isfile(candidate):  # worktree or submodule: "gitdir: <path>"
            content = _read(candidate) or ""
            if content.startswith("gitdir:"):
                target = content.split(":", 1)[1].strip()
                return os.path.normpath(os.path.join(directory, target))
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _resolve_ref(git_dir: str, ref: str) -> str | None:
    common = _read(os.path.join(git_dir, "commondir"))
    dirs = [git_dir]
    if common:
        dirs.append(os.path.normpath(os.path.join(git_dir, common)))
    for d in dirs:
        loose = _read(os.path.join(d, *ref.split("/")))
        if loose:
            return loose
        packed = _read(os.path.join(d, "packed-refs"))
        if packed:
            for line in packed.splitlines():
                if line.endswith(" " + ref) and not line.startswith("#"):
                    return line.split(" ", 1)[0]
    return None


def _remote_url(git_dir: str) -> str | None:
    common = _read(os.path.join(git_dir, "commondir"))
    base = os.path.normpath(os.path.join(git_dir, common)) if common else git_dir
    text = _read(os.path.join(base, "config")) or ""
    in_origin = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_origin = line.replace(" ", "") == '[remote"origin"]'
        elif in_origin and line.startswith("url"):
            return line.split("=", 1)[1].strip()
    return None


@functools.lru_cache(maxsize=64)
def git_info(directory: str) -> dict[str, str]:
    """Commit, branch and origin URL of the checkout containing ``directory`` ({} if none)."""
    git_dir = _find_git_dir(os.path.abspath(directory))
    if git_dir is None:
        return {}
    head = _read(os.path.join(git_dir, "HEAD"))
    if not head:
        return {}
    info: dict[str, str] = {}
    if head.startswith("ref:"):
        ref = head.split(":", 1)[1].strip()
        commit = _resolve_ref(git_dir, ref)
        if ref.startswith("refs/heads/"):
            info["mlflow.source.git.branch"] = ref[len("refs/heads/") :]
    else:
        commit = head
    if not commit or len(commit) < 40:
        return {}
    info["mlflow.source.git.commit"] = commit
    url = _remote_url(git_dir)
    if url:
        info["mlflow.source.git.repoURL"] = url
    return info


@hookimpl
def trackyard_run_context(experiment_id: str) -> dict[str, str]:
    """MLflow's default system tags for a run created from this process."""
    name = source_name()
    tags = {
        "mlflow.user": _user(),
        "mlflow.source.name": name,
        "mlflow.source.type": "LOCAL",
    }
    if name != "<console>":  # as MLflow: git tags only for a script in a checkout
        tags.update(git_info(os.path.dirname(name)))
    return tags
