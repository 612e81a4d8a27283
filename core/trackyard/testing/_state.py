"""A store's observable state, to check that a refused call left nothing behind.

:func:`store_state` reads everything a client can see (experiments, runs with their data,
metric histories and artifacts, registered models, versions and aliases) plus the files
under the given local folders, as plain comparable values. The hostile-input checks take it
before and after each refused call and require the two to be equal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trackyard.entities import ViewType
from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["describe_difference", "store_state"]

_MAX_LISTED = 1000  # artifacts per run listed; a refused call on a fixture never gets near
# Files that change without any data changing: SQLite's journals and lock files.
_VOLATILE_SUFFIXES = ("-wal", "-shm", "-journal", ".lock")
_DATABASE_SUFFIXES = (".db", ".sqlite", ".duckdb", ".wal")


def _artifacts(client: Any, run_id: str) -> list[tuple[str, bool, int | None]]:
    found: list[tuple[str, bool, int | None]] = []
    pending: list[str | None] = [None]
    while pending and len(found) < _MAX_LISTED:
        for info in client.list_artifacts(run_id, pending.pop()):
            found.append((info.path, info.is_dir, info.file_size))
            if info.is_dir:
                pending.append(info.path)
    return sorted(found)


def _run_state(client: Any, run: Any) -> dict[str, Any]:
    info = run.info
    return {
        "info": (
            info.run_id,
            info.experiment_id,
            info.run_name,
            info.status,
            info.lifecycle_stage,
            info.start_time,
            info.end_time,
            info.artifact_uri,
        ),
        "metrics": sorted(run.data.metrics.items()),
        "params": sorted(run.data.params.items()),
        "tags": sorted(run.data.tags.items()),
        "history": {
            key: sorted(
                (m.step, m.timestamp, repr(m.value))
                for m in client.get_metric_history(info.run_id, key)
            )
            for key in sorted(run.data.metrics)
        },
        "artifacts": _artifacts(client, info.run_id),
    }


def _tracking_state(client: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for exp in client.search_experiments(view_type=ViewType.ALL, max_results=_MAX_LISTED):
        runs = client.search_runs(
            [exp.experiment_id], run_view_type=ViewType.ALL, max_results=_MAX_LISTED
        )
        state[exp.experiment_id] = {
            "experiment": (
                exp.name,
                exp.lifecycle_stage,
                exp.artifact_location,
                exp.last_update_time,
                sorted(exp.tags.items()),
            ),
            "runs": {run.info.run_id: _run_state(client, run) for run in runs},
        }
    return state


def _registry_state(client: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for model in client.search_registered_models(max_results=_MAX_LISTED):
        state[model.name] = (
            model.description,
            model.last_updated_timestamp,
            sorted(model.tags.items()),
            sorted(model.aliases.items()),
        )
    for version in client.search_model_versions(max_results=_MAX_LISTED):
        state[f"{version.name}/{version.version}"] = (
            version.source,
            version.run_id,
            version.status,
            version.current_stage,
            version.description,
            version.last_updated_timestamp,
            sorted(version.tags.items()),
            sorted(version.aliases),
        )
    return state


def _files(root: Path) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.endswith(_VOLATILE_SUFFIXES):
                continue
            if os.path.isdir(path):
                found[rel] = None
            else:  # a database file's size may change with its page cache; its rows are compared
                found[rel] = -1 if name.endswith(_DATABASE_SUFFIXES) else os.path.getsize(path)
    return found


def store_state(
    client: Any, *, tracking: bool = True, registry: bool = False, roots: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Everything ``client`` can see in its stores, and the files under ``roots``.

    Args:
        client: a client bound to the stores under test.
        tracking: include experiments and runs.
        registry: include registered models and model versions.
        roots: local folders whose files (names and sizes) are included.
    """
    state: dict[str, Any] = {}
    if tracking:
        state["tracking"] = _tracking_state(client)
    if registry:
        try:
            state["registry"] = _registry_state(client)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.FEATURE_DISABLED:
                raise
    for root in roots:
        state[f"files:{root}"] = _files(root)
    return state


def describe_difference(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Say, briefly, where two states from :func:`store_state` differ."""
    lines: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(lines) > 10:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in a:
                    lines.append(f"added {where}/{key}: {b[key]!r}"[:300])
                elif key not in b:
                    lines.append(f"removed {where}/{key}: {a[key]!r}"[:300])
                else:
                    walk(a[key], b[key], f"{where}/{key}")
        elif a != b:
            lines.append(f"changed {where}: {a!r} -> {b!r}"[:300])

    walk(before, after, "")
    return "; ".join(lines)
