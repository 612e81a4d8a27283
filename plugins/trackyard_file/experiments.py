"""Experiments in the file store (mixed into ``FileTrackingStore``).

An experiment is a folder ``<root>/<experiment_id>`` with ``meta.yaml`` (written last: it
makes the experiment exist) and ``tags/<key>``; a deleted experiment moves whole to
``<root>/.trash``. Creating, renaming, deleting and restoring happen under the root lock
(exclusive), experiment tags under the root lock shared.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import Experiment, ExperimentTag, LifecycleStage, PagedList, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import experiment_not_found as _experiment_not_found
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import not_active as _not_active
from trackyard.stores import now_ms
from trackyard_file._fs import (
    FileLock,
    dump_meta,
    key_parts,
    remove_empty_parents,
    write_atomic,
    writes,
)
from trackyard_file._layout import (
    DEFAULT_EXPERIMENT_ID,
    LOCK_FILE,
    META,
    TAGS,
    append_uri_path,
    key_clash,
    opt_int,
    resolve_location,
)
from trackyard_file._txn import recover

if TYPE_CHECKING:
    from trackyard.search.request import ExperimentSearch

__all__ = ["FileExperiments"]

_logger = logging.getLogger("trackyard.file")


class FileExperiments:
    """The experiment methods of the file tracking store."""

    if TYPE_CHECKING:
        root: str
        trash: str
        artifact_uri: str | None
        _sync_meta: bool
        _sync_data: bool
        _run_dirs: dict[str, str]

        def _root_lock(self, *, shared: bool = False) -> FileLock: ...
        def _experiment_dir(self, experiment_id: str) -> str | None: ...
        def _experiment_dirs(self) -> Iterator[tuple[str, str]]: ...
        def _key_path(self, base: str, key: str, what: str) -> str: ...
        def _check_writable_key(
            self, base: str, key: str, what: str, planned: set[tuple[str, ...]]
        ) -> str: ...
        def _read_meta(self, path: str) -> dict[str, Any]: ...
        def _read_values(self, base: str, racy_after: int = 0) -> tuple[dict[str, str], bool]: ...
        def _run_folders(self, experiment_dir: str) -> Iterator[str]: ...
        def _set_run_stage(
            self, run_dir: str, stage: str, deleted_time: int | None, *, only_from: bool = False
        ) -> None: ...
        def _restore_if_deleted_since(self, run_dir: str, deleted_at: int) -> None: ...
        def _bump(self, run_dir: str) -> None: ...

    # -- experiments -----------------------------------------------------------------------
    def _load_experiment(self, experiment_id: str, directory: str) -> Experiment | None:
        """Read an experiment folder; None if its metadata is missing or names another id."""
        try:
            meta = self._read_meta(os.path.join(directory, META))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except TrackyardError as exc:
            _logger.warning("Skipping experiment folder %s: %s", directory, exc)
            return None
        if str(meta.get("experiment_id")) != experiment_id:
            _logger.warning(
                "Skipping experiment folder %s: its meta.yaml names experiment %r",
                directory,
                meta.get("experiment_id"),
            )
            return None
        return Experiment(
            experiment_id=experiment_id,
            name=str(meta.get("name")),
            artifact_location=str(meta.get("artifact_location") or ""),
            lifecycle_stage=meta.get("lifecycle_stage") or LifecycleStage.ACTIVE,
            tags=self._read_values(os.path.join(directory, TAGS))[0],
            creation_time=opt_int(meta.get("creation_time")),
            last_update_time=opt_int(meta.get("last_update_time")),
        )

    def _all_experiments(self, view_type: int = ViewType.ALL) -> list[Experiment]:
        stages = ViewType.to_lifecycle_stages(view_type)
        out = []
        for experiment_id, directory in self._experiment_dirs():
            exp = self._load_experiment(experiment_id, directory)
            if exp is not None and exp.lifecycle_stage in stages:
                out.append(exp)
        return out

    def _require_experiment(self, experiment_id: str) -> tuple[str, dict[str, Any]]:
        directory = self._experiment_dir(experiment_id)
        if directory is None:
            raise _experiment_not_found(experiment_id)
        try:
            meta = self._read_meta(os.path.join(directory, META))
        except FileNotFoundError:
            raise _experiment_not_found(experiment_id) from None
        if str(meta.get("experiment_id")) != experiment_id:
            raise _experiment_not_found(experiment_id)
        return directory, meta

    def _write_new_experiment(
        self,
        experiment_id: str,
        name: str,
        artifact_location: str | None,
        tags: Iterable[ExperimentTag],
    ) -> None:
        """Create an experiment folder: tags first, meta.yaml last (it makes it exist)."""
        directory = os.path.join(self.root, experiment_id)
        os.mkdir(directory)
        try:
            location = (
                resolve_location(artifact_location)
                if artifact_location
                else append_uri_path(str(self.artifact_uri), experiment_id)
            )
            for tag in tags:
                path = self._key_path(os.path.join(directory, TAGS), tag.key, "experiment tag")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_atomic(path, tag.value.encode("utf-8"), tmp_dir=directory)
            now = now_ms()
            meta = {
                "artifact_location": location,
                "creation_time": now,
                "effective_trace_archival_retention": None,
                "experiment_id": experiment_id,
                "last_update_time": now,
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "name": name,
                "trace_location": None,
                "workspace": "default",
            }
            write_atomic(os.path.join(directory, META), dump_meta(meta), sync=False)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    def _find_by_name(self, name: str) -> Experiment | None:
        found = None
        for exp in self._all_experiments(ViewType.ALL):
            if exp.name == name:
                if exp.lifecycle_stage == LifecycleStage.ACTIVE:
                    return exp
                found = found or exp
        return found

    @writes
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] | None = None,
    ) -> str:
        """Create an experiment with a random 18-digit id.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS if an experiment (even a deleted one) has
                this name; two processes creating one name at once get one experiment.
        """
        tags = list(tags or ())
        planned: set[tuple[str, ...]] = set()
        for tag in tags:
            parts = key_parts(tag.key, "experiment tag")
            for other in planned:
                n = min(len(other), len(parts))
                if other[:n] == parts[:n] and other != parts:
                    raise key_clash("experiment tag", tag.key, "/".join(other))
            planned.add(parts)
        with self._root_lock():
            existing = self._find_by_name(name)
            if existing is not None:
                deleted = existing.lifecycle_stage == LifecycleStage.DELETED
                state = " in deleted state" if deleted else ""
                raise TrackyardError(
                    f"Experiment(name={name}) already exists{state}.",
                    ErrorCode.RESOURCE_ALREADY_EXISTS,
                )
            while True:
                experiment_id = str(10**17 + secrets.randbelow(9 * 10**17))
                if not os.path.lexists(os.path.join(self.root, experiment_id)) and not (
                    os.path.lexists(os.path.join(self.trash, experiment_id))
                ):
                    break
            self._write_new_experiment(experiment_id, name, artifact_location, tags)
        return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment, active or deleted (RESOURCE_DOES_NOT_EXIST if absent)."""
        directory = self._experiment_dir(experiment_id)
        exp = None if directory is None else self._load_experiment(experiment_id, directory)
        if exp is None:
            raise _experiment_not_found(experiment_id)
        return exp

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """Return the experiment with this name, active or deleted, or None."""
        return self._find_by_name(experiment_name)

    def search_experiments(self, request: ExperimentSearch) -> PagedList[Experiment]:
        """Return the page ``request`` asks for, evaluated by :mod:`trackyard.search`."""
        from trackyard import search

        experiments = self._all_experiments(request.view_type)
        return search.search_experiments_in_memory(experiments, request)

    def _rewrite_experiment_meta(self, directory: str, **changes: Any) -> None:
        path = os.path.join(directory, META)
        meta = dict(self._read_meta(path))
        meta.pop("tags", None)  # tags live in tags/; MLflow's deleted experiments carry a copy
        meta.update(changes)
        write_atomic(path, dump_meta(meta), sync=self._sync_meta)

    @writes
    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its active runs deleted and move it to ``.trash``.

        The Default experiment cannot be deleted (as in MLflow's file store).
        """
        if experiment_id == DEFAULT_EXPERIMENT_ID:
            raise _invalid("Cannot delete the default experiment '0': the file store reserves it.")
        with self._root_lock():
            directory, meta = self._require_experiment(experiment_id)
            stage = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
            if stage != LifecycleStage.ACTIVE:
                raise _experiment_not_found(experiment_id)
            now = now_ms()
            for run_dir in self._run_folders(directory):
                with FileLock(os.path.join(run_dir, LOCK_FILE)) as lock:
                    recover(run_dir, lock.fd)
                    self._set_run_stage(run_dir, LifecycleStage.DELETED, now, only_from=True)
                    self._bump(run_dir)
            self._rewrite_experiment_meta(
                directory, lifecycle_stage=LifecycleStage.DELETED, last_update_time=now
            )
            target = os.path.join(self.trash, experiment_id)
            if os.path.dirname(directory) == self.root and not os.path.lexists(target):
                os.makedirs(self.trash, exist_ok=True)
                os.rename(directory, target)
        self._run_dirs.clear()

    @writes
    def restore_experiment(self, experiment_id: str) -> None:
        """Move a deleted experiment back and restore the runs its deletion marked deleted."""
        with self._root_lock():
            directory, meta = self._require_experiment(experiment_id)
            stage = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
            if stage != LifecycleStage.DELETED:
                raise _experiment_not_found(experiment_id)
            deleted_at = opt_int(meta.get("last_update_time")) or 0
            target = os.path.join(self.root, experiment_id)
            if os.path.dirname(directory) == self.trash:
                if os.path.lexists(target):
                    raise TrackyardError(
                        f"Cannot restore experiment {experiment_id}: an experiment with the "
                        "same id already exists.",
                        ErrorCode.RESOURCE_ALREADY_EXISTS,
                    )
                os.rename(directory, target)
                directory = target
            self._run_dirs.clear()
            for run_dir in self._run_folders(directory):
                with FileLock(os.path.join(run_dir, LOCK_FILE)) as lock:
                    recover(run_dir, lock.fd)
                    self._restore_if_deleted_since(run_dir, deleted_at)
                    self._bump(run_dir)
            self._rewrite_experiment_meta(
                directory, lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=now_ms()
            )

    @writes
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; the new name must be free."""
        with self._root_lock():
            directory, meta = self._require_experiment(experiment_id)
            stage = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
            if stage != LifecycleStage.ACTIVE:
                raise _not_active("experiment", experiment_id, stage)
            if meta.get("name") == new_name:
                return
            if self._find_by_name(new_name) is not None:
                raise TrackyardError(
                    f"Experiment(name={new_name}) already exists.",
                    ErrorCode.RESOURCE_ALREADY_EXISTS,
                )
            self._rewrite_experiment_meta(directory, name=new_name, last_update_time=now_ms())

    def _active_experiment(self, experiment_id: str) -> str:
        directory, meta = self._require_experiment(experiment_id)
        stage = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
        if stage != LifecycleStage.ACTIVE:
            raise _not_active("experiment", experiment_id, stage)
        return directory

    @writes
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) a tag of an active experiment."""
        with self._root_lock(shared=True):
            directory = self._active_experiment(experiment_id)
            path = self._check_writable_key(
                os.path.join(directory, TAGS), tag.key, "experiment tag", set()
            )
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, tag.value.encode("utf-8"), tmp_dir=directory, sync=self._sync_data)

    @writes
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Delete a tag of an active experiment (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._root_lock(shared=True):
            directory = self._active_experiment(experiment_id)
            base = os.path.join(directory, TAGS)
            path = self._key_path(base, key, "experiment tag")
            if not os.path.isfile(path) or os.path.islink(path):
                raise TrackyardError(
                    f"No tag with name: {key} in experiment with id {experiment_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            os.unlink(path)
            remove_empty_parents(path, base)
