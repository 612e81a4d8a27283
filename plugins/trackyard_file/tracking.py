"""The file tracking store: experiments and runs as folders, in MLflow's ``mlruns`` layout.

Layout (MLflow 3.x's, so either tool reads what the other wrote)::

    <root>/
      .trash/<experiment_id>/...        deleted experiments, moved whole
      .trackyard.lock                   trackyard's root lock (a file: MLflow ignores it)
      <experiment_id>/                  18 random digits; "0" is Default
        meta.yaml                       experiment fields (artifact_location, name, ...)
        tags/<key>                      value, no trailing newline; "/" in a key makes sub-folders
        datasets/<id>/meta.yaml         datasets referenced by run inputs
        <run_id>/                       32 hex digits
          meta.yaml                     run fields; status and source_type as integers
          metrics/<key>                 "<timestamp> <value> <step>[ <dataset> <digest>]" lines
          params/<key>, tags/<key>      value, no trailing newline
          inputs/<id>/meta.yaml         dataset and model inputs
          outputs/<model_id>/meta.yaml  model outputs (see :mod:`trackyard_file.run_inputs`)
          artifacts/                    the default artifact folder
          .trackyard.lock               the run's lock; holds the undo journal of a multi-file
                                        write while it is in progress (trackyard only)
          .trackyard-metrics.json       latest-metrics summary (trackyard only)
        models/<model_id>/              logged models (see :mod:`trackyard_file.logged_models`)

Safety:

- Every change to a run happens under the run's lock, and a run is read in full under the
  same lock shared, so a reader never sees half a batch. Experiment creation, renaming,
  deletion and restoring happen under the root lock (exclusive), run creation and experiment
  tags under the root lock shared. Locks are ``flock`` locks on the lock files, so they hold
  across processes and threads.
- Metadata files, params and tags are written to a temporary file and renamed into place (a
  replaced meta.yaml is fsynced first by default, see ``TRACKYARD_FILE_FSYNC``). Metric points are
  appended with one ``write()`` per metric key per batch on an ``O_APPEND`` descriptor, after
  cutting off a partial last line that a killed writer may have left.
- A write touching more than one file (a ``log_batch`` with several keys, a rename) first
  saves an undo journal in the run's lock file; if the writer dies, the next trackyard
  process that touches the run rolls the partial write back, so a batch is all-or-nothing.
  Params are checked against the files before anything is written, so a conflicting batch
  writes nothing. (Files are created as rarely as possible: on common disks creating a file
  costs twenty times more than writing to an open one.)
- Keys become paths only through :func:`trackyard_file._fs.key_parts`; symbolic links inside
  the store are never followed when writing, and a folder resolving outside the root is
  refused.

Speed: the latest value of each metric comes from the run's summary file, checked per metric
file by size, inode and mtime (a file that only grew is read from where the summary stopped),
so a search does not re-read metric histories. A run read in full is kept in memory and
trusted on a two-``stat`` check for a short while (see :meth:`FileTrackingStore._snapshot`);
otherwise every file is checked with ``stat`` and only changed ones are read. Searches use
the reference evaluator of :mod:`trackyard.search`.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import stat
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from trackyard import config
from trackyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    SourceType,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import experiment_not_found as _experiment_not_found
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import not_active as _not_active
from trackyard.errors import run_not_found as _run_not_found
from trackyard.stores import Capabilities, TrackingStore, new_run_tags, now_ms
from trackyard.validation import validate_history_paging
from trackyard_file import _metrics
from trackyard_file._fs import (
    O_BINARY,
    O_CLOEXEC,
    O_NOFOLLOW,
    RACY_NS,
    CachedReader,
    FileLock,
    Sig,
    check_contained,
    dump_meta,
    fsync_policy,
    key_parts,
    path_to_file_uri,
    read_bytes,
    remove_empty_parents,
    root_from_uri,
    sig,
    walk_files,
    write_all,
    write_atomic,
    write_in_place,
)
from trackyard_file._metrics import Entry
from trackyard_file._txn import Txn, recover
from trackyard_file.logged_models import FileLoggedModels
from trackyard_file.run_inputs import FileRunInputs, read_model_links

if TYPE_CHECKING:
    from trackyard.search.request import ExperimentSearch, RunSearch

__all__ = ["FileTrackingStore"]

_logger = logging.getLogger("trackyard.file")

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
TRASH = ".trash"
META = "meta.yaml"
METRICS, PARAMS, TAGS, ARTIFACTS, INPUTS, DATASETS = (
    "metrics",
    "params",
    "tags",
    "artifacts",
    "inputs",
    "datasets",
)
LOCK_FILE = ".trackyard.lock"
SUMMARY_FILE = ".trackyard-metrics.json"
#: Folders inside an experiment that are not runs (MLflow's reserved names).
RESERVED_EXPERIMENT_FOLDERS = frozenset({"tags", "datasets", "traces", "models"})
#: Folders at the root that are not experiments.
RESERVED_ROOT_FOLDERS = frozenset({TRASH, "models"})

_RUN_NAME_TAG = "mlflow.runName"
_DATASET_CONTEXT_TAG = "mlflow.data.context"
_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}\Z")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}\Z")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")
_CACHE_LIMIT = 200_000
#: Environment variable: how long (seconds) a run read in full may be trusted on the cheap
#: check alone (see FileTrackingStore._snapshot); 0 checks every file on every read.
REVALIDATE_ENV = "TRACKYARD_FILE_REVALIDATE_SECONDS"


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _append_uri_path(base: str, *parts: str) -> str:
    """Append path segments to a path or URI (keeping a URI's query string in place)."""
    if _SCHEME_RE.match(base):
        split = urllib.parse.urlsplit(base)
        if split.query or split.fragment:
            path = "/".join([split.path.rstrip("/"), *parts])
            return urllib.parse.urlunsplit(split._replace(path=path))
    return "/".join([base.rstrip("/"), *parts])


def _resolve_location(location: str) -> str:
    """Make a bare relative path absolute; leave URIs (``s3://``, ``file:``...) alone."""
    if _SCHEME_RE.match(location):
        return location
    return os.path.abspath(location)


class _State:
    """A run folder as last read in full, with what tells whether it changed since."""

    __slots__ = (
        "checked",
        "entries",
        "inputs",
        "meta",
        "meta_sig",
        "outputs",
        "params",
        "racy",
        "stamp_sig",
        "tags",
    )

    def __init__(
        self,
        *,
        meta_sig: Sig,
        stamp_sig: Sig | None,
        checked: float,
        racy: bool,
        meta: dict[str, Any],
        tags: dict[str, str],
        params: dict[str, str],
        entries: dict[str, Entry],
        inputs: RunInputs,
        outputs: RunOutputs,
    ) -> None:
        self.meta_sig = meta_sig
        self.stamp_sig = stamp_sig
        self.checked = checked
        self.racy = racy
        self.meta = meta
        self.tags = tags
        self.params = params
        self.entries = entries
        self.inputs = inputs
        self.outputs = outputs


# ---------------------------------------------------------------------------------------------
# The store


class FileTrackingStore(FileLoggedModels, FileRunInputs, TrackingStore, CachedReader):
    """MLflow's tracking store API over a folder in MLflow's ``mlruns`` layout.

    Args:
        store_uri: the root folder: a path or a ``file:`` URI. Created with the Default
            experiment and ``.trash`` if missing. Defaults to ``./mlruns``, as MLflow.
        artifact_uri: the default artifact root of new experiments. Without one (or with
            trackyard's generic default, ``./trackyard-artifacts``, when
            ``TRACKYARD_ARTIFACT_ROOT`` is not set) it is the store root as a ``file://``
            URI (MLflow writes a plain path when its root is one), so experiment ``<id>`` keeps
            its artifacts in ``<root>/<id>``, as in MLflow.

    Raises:
        TrackyardError: the root exists but is not a folder, or the URI is not a local one.
    """

    capabilities = Capabilities(
        transactions=True,
        concurrent_processes=True,
        search_or=True,
        logged_models=True,
        datasets=True,
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        store_uri = store_uri or "./mlruns"
        root = root_from_uri(store_uri)
        default_root = artifact_uri is None or (
            not os.environ.get("TRACKYARD_ARTIFACT_ROOT")
            and not _SCHEME_RE.match(artifact_uri)
            and os.path.abspath(artifact_uri) == os.path.abspath(config.DEFAULT_ARTIFACT_ROOT)
        )
        if default_root or artifact_uri is None:
            artifact_root = path_to_file_uri(root)
        else:
            artifact_root = _resolve_location(artifact_uri).rstrip("/") or artifact_uri
        super().__init__(store_uri, artifact_root)
        self.root = root
        self.trash = os.path.join(root, TRASH)
        self._root_lock_path = os.path.join(root, LOCK_FILE)
        policy = fsync_policy()
        self._sync_meta = policy in ("meta", "all")
        self._sync_data = policy == "all"
        self._init_caches()
        self._metric_cache: dict[str, dict[str, Entry]] = {}
        self._run_dirs: dict[str, str] = {}
        self._states: dict[str, _State] = {}
        try:
            self._revalidate = float(os.environ.get(REVALIDATE_ENV, "2"))
        except ValueError:
            self._revalidate = 2.0
        self._bootstrap()

    def __repr__(self) -> str:
        return f"FileTrackingStore({self.root!r})"

    def close(self) -> None:
        """Forget the in-memory caches (files are never kept open)."""
        self._meta_cache.clear()
        self._text_cache.clear()
        self._metric_cache.clear()
        self._run_dirs.clear()
        self._states.clear()

    # -- bootstrap -------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise TrackyardError(
                f"The file store root {self.root!r} exists and is not a folder.",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        os.makedirs(self.root, exist_ok=True)
        self._root_real = os.path.realpath(self.root)
        if os.path.isdir(self.trash) and self._experiment_dir(DEFAULT_EXPERIMENT_ID):
            return
        with self._root_lock():
            os.makedirs(self.trash, exist_ok=True)
            if self._experiment_dir(DEFAULT_EXPERIMENT_ID) is None:
                self._write_new_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, None, ())

    # -- locks and caches ------------------------------------------------------------------
    def _root_lock(self, *, shared: bool = False) -> FileLock:
        return FileLock(self._root_lock_path, shared=shared)

    def _trim_caches(self) -> None:
        for cache in (
            self._meta_cache,
            self._text_cache,
            self._metric_cache,
            self._run_dirs,
            self._states,
        ):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()

    # -- paths -----------------------------------------------------------------------------
    def _experiment_dir(self, experiment_id: str) -> str | None:
        """The folder of an experiment (active first, then ``.trash``), or None."""
        if (
            not isinstance(experiment_id, str)
            or not _EXPERIMENT_ID_RE.match(experiment_id)
            or experiment_id in RESERVED_ROOT_FOLDERS
        ):
            return None
        for parent in (self.root, self.trash):
            directory = os.path.join(parent, experiment_id)
            try:
                st = os.stat(os.path.join(directory, META), follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(st.st_mode) and not os.path.islink(directory):
                return directory
        return None

    def _experiment_dirs(self) -> Iterator[tuple[str, str]]:
        """``(experiment_id, folder)`` of every experiment folder, active ones first."""
        seen: set[str] = set()
        for parent in (self.root, self.trash):
            try:
                it = os.scandir(parent)
            except FileNotFoundError:
                continue
            with it:
                for entry in it:
                    name = entry.name
                    if (
                        name in RESERVED_ROOT_FOLDERS
                        or name.startswith(".")
                        or name in seen
                        or not entry.is_dir(follow_symlinks=False)
                        or not _EXPERIMENT_ID_RE.match(name)
                    ):
                        continue
                    seen.add(name)
                    yield name, entry.path

    def _key_path(self, base: str, key: str, what: str) -> str:
        """The file of ``key`` below ``base``, refusing paths that leave the store root."""
        parts = key_parts(key, what)
        path = os.path.join(base, *parts)
        check_contained(self._root_real, os.path.dirname(path))
        return path

    def _check_writable_key(
        self, base: str, key: str, what: str, planned: set[tuple[str, ...]]
    ) -> str:
        """Check that ``key`` can be written as a file below ``base``; return its path.

        Refuses symbolic links on the way, a folder where the file would go, a file where
        a folder would go (``m`` and ``m/sub`` cannot both exist), and such clashes within
        the keys of one write (``planned``).
        """
        parts = key_parts(key, what)
        for i in range(1, len(parts)):
            if parts[:i] in planned:
                raise _key_clash(what, key, "/".join(parts[:i]))
        for other in planned:
            if len(other) > len(parts) and other[: len(parts)] == parts:
                raise _key_clash(what, "/".join(other), key)
        planned.add(parts)
        directory = base
        for i, part in enumerate(parts):
            directory = os.path.join(directory, part)
            try:
                st = os.lstat(directory)
            except FileNotFoundError:
                break
            if stat.S_ISLNK(st.st_mode):
                raise _invalid(
                    f"Refusing to write {what} {key!r}: {directory!r} is a symbolic link."
                )
            last = i == len(parts) - 1
            if last and stat.S_ISDIR(st.st_mode):
                raise _key_clash(what, f"{key}/...", key)
            if not last and not stat.S_ISDIR(st.st_mode):
                raise _key_clash(what, key, "/".join(parts[: i + 1]))
        check_contained(self._root_real, os.path.dirname(os.path.join(base, *parts)))
        return os.path.join(base, *parts)

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
            creation_time=_opt_int(meta.get("creation_time")),
            last_update_time=_opt_int(meta.get("last_update_time")),
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
                _resolve_location(artifact_location)
                if artifact_location
                else _append_uri_path(str(self.artifact_uri), experiment_id)
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
                    raise _key_clash("experiment tag", tag.key, "/".join(other))
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

    def restore_experiment(self, experiment_id: str) -> None:
        """Move a deleted experiment back and restore the runs its deletion marked deleted."""
        with self._root_lock():
            directory, meta = self._require_experiment(experiment_id)
            stage = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
            if stage != LifecycleStage.DELETED:
                raise _experiment_not_found(experiment_id)
            deleted_at = _opt_int(meta.get("last_update_time")) or 0
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

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) a tag of an active experiment."""
        with self._root_lock(shared=True):
            directory = self._active_experiment(experiment_id)
            path = self._check_writable_key(
                os.path.join(directory, TAGS), tag.key, "experiment tag", set()
            )
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, tag.value.encode("utf-8"), tmp_dir=directory, sync=self._sync_data)

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

    # -- runs: locating and reading --------------------------------------------------------
    def _run_folders(self, experiment_dir: str) -> Iterator[str]:
        """The run folders of an experiment folder (not checked for metadata yet)."""
        try:
            it = os.scandir(experiment_dir)
        except FileNotFoundError:
            return
        with it:
            for entry in it:
                name = entry.name
                if (
                    name.lower() not in RESERVED_EXPERIMENT_FOLDERS
                    and not name.startswith(".")
                    and entry.is_dir(follow_symlinks=False)
                ):
                    yield entry.path

    def _locate_run(self, run_id: str, *, refresh: bool = False) -> str:
        """The folder of a run (in an active or deleted experiment)."""
        if not isinstance(run_id, str) or not _ID_RE.match(run_id):
            raise _invalid(f"Invalid run ID: {run_id!r}")
        if run_id.lower() in RESERVED_EXPERIMENT_FOLDERS:
            # the store's own folders (an experiment's tags/ ...) are never read as a run
            raise _run_not_found(run_id)
        if not refresh:
            cached = self._run_dirs.get(run_id)
            if cached is not None:
                return cached
        for _, exp_dir in self._experiment_dirs():
            candidate = os.path.join(exp_dir, run_id)
            try:
                st = os.stat(os.path.join(candidate, META), follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(st.st_mode) and not os.path.islink(candidate):
                self._trim_caches()
                self._run_dirs[run_id] = candidate
                return candidate
        self._run_dirs.pop(run_id, None)
        raise _run_not_found(run_id)

    def _run_meta(self, run_dir: str, run_id: str) -> dict[str, Any]:
        """A run's meta.yaml; checked to name this run and the experiment it lies in."""
        meta = self._read_meta(os.path.join(run_dir, META))
        recorded = meta.get("run_id") or meta.get("run_uuid")
        exp_id = os.path.basename(os.path.dirname(run_dir))
        if recorded != run_id or str(meta.get("experiment_id")) != exp_id:
            raise TrackyardError(
                f"Run '{run_id}' metadata is in an invalid state: {run_dir}/meta.yaml names "
                f"run {recorded!r} of experiment {meta.get('experiment_id')!r}.",
                ErrorCode.INVALID_STATE,
            )
        return meta

    def _settle(self, run_dir: str) -> None:
        """If a write to the run is in progress or was interrupted, wait for it or undo it."""
        path = os.path.join(run_dir, LOCK_FILE)
        try:
            if os.stat(path, follow_symlinks=False).st_size == 0:
                return
        except FileNotFoundError:
            return
        try:
            with FileLock(path) as lock:
                if recover(run_dir, lock.fd):
                    self._bump(run_dir)
        except PermissionError:  # a read-only store: read what is there
            pass

    @contextmanager
    def _read_lock(self, run_dir: str) -> Iterator[None]:
        """Hold the run's lock shared while reading it, so no trackyard write is half-seen.

        A run trackyard never wrote to has no lock file: it is read without a lock. A
        non-empty lock file is the journal of an interrupted write, undone first.
        """
        path = os.path.join(run_dir, LOCK_FILE)
        for _ in range(3):
            try:
                lock = FileLock(path, shared=True, create=False)
                lock.__enter__()
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                break
            if lock.nested or os.fstat(lock.fd).st_size == 0:
                try:
                    yield
                finally:
                    lock.__exit__(None, None, None)
                return
            lock.__exit__(None, None, None)
            self._settle(run_dir)
        yield

    def _stamp(self, run_dir: str) -> Sig | None:
        """The signature of the run's summary file, which every trackyard write rewrites."""
        try:
            return sig(os.stat(os.path.join(run_dir, SUMMARY_FILE), follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _bump(self, run_dir: str) -> None:
        """Mark a run changed for every process: rewrite its summary (new mtime)."""
        self._states.pop(run_dir, None)
        self._save_summary(run_dir, self._known_entries(run_dir))

    def _snapshot(self, run_dir: str) -> _State:
        """What the run folder holds, from memory when it provably has not changed.

        Cheap check (two ``stat`` calls): meta.yaml and the summary file are unchanged, the
        memory copy was checked in full less than ``TRACKYARD_FILE_REVALIDATE_SECONDS`` ago,
        and nothing it relied on was modified within 50 ms of being read (a later change
        could then carry the same mtime). Trackyard writers rewrite the summary after every
        change, so their changes are always seen; another program's in-place rewrites of
        existing files (MLflow rewrites tags and appends metric lines in place) are seen at
        the next full check. Otherwise every file is checked (``stat``) and the changed ones
        are read again.

        Raises:
            FileNotFoundError: the run folder or its meta.yaml is gone.
        """
        meta_path = os.path.join(run_dir, META)
        st_meta = os.stat(meta_path, follow_symlinks=False)
        stamp = self._stamp(run_dir)
        state = self._states.get(run_dir)
        now = time.monotonic()
        if (
            state is not None
            and not state.racy
            and now - state.checked < self._revalidate
            and state.meta_sig == sig(st_meta)
            and state.stamp_sig == stamp
        ):
            return state
        racy_after = time.time_ns() - RACY_NS
        with self._read_lock(run_dir):
            # Trackyard writers wait while this lock is held: what is read is one snapshot.
            st_meta = os.stat(meta_path, follow_symlinks=False)
            stamp = self._stamp(run_dir)
            meta = self._read_meta(meta_path)
            tags, racy_tags = self._read_values(os.path.join(run_dir, TAGS), racy_after)
            params, racy_params = self._read_values(os.path.join(run_dir, PARAMS), racy_after)
            entries, racy_metrics = self._latest_entries(run_dir, racy_after)
            inputs = self._read_inputs(run_dir)
            model_inputs, model_outputs = read_model_links(self._read_meta, run_dir)
            if model_inputs:
                inputs = RunInputs(inputs.dataset_inputs, model_inputs)
        state = _State(
            meta_sig=sig(st_meta),
            stamp_sig=stamp,
            checked=now,
            racy=(
                racy_tags
                or racy_params
                or racy_metrics
                or st_meta.st_mtime_ns > racy_after
                or (stamp is not None and stamp[1] > racy_after)
            ),
            meta=meta,
            tags=tags,
            params=params,
            entries=entries,
            inputs=inputs,
            outputs=RunOutputs(model_outputs),
        )
        self._trim_caches()
        self._states[run_dir] = state
        return state

    def _run_state(self, run_id: str) -> tuple[str, _State]:
        """Locate a run and read it, looking again if its folder moved; check its meta.yaml."""
        for attempt in range(2):
            run_dir = self._locate_run(run_id, refresh=attempt > 0)
            try:
                state = self._snapshot(run_dir)
            except (FileNotFoundError, NotADirectoryError):
                continue
            meta = state.meta
            recorded = meta.get("run_id") or meta.get("run_uuid")
            exp_id = os.path.basename(os.path.dirname(run_dir))
            if recorded != run_id or str(meta.get("experiment_id")) != exp_id:
                raise TrackyardError(
                    f"Run '{run_id}' metadata is in an invalid state: {run_dir}/meta.yaml "
                    f"names run {recorded!r} of experiment {meta.get('experiment_id')!r}.",
                    ErrorCode.INVALID_STATE,
                )
            return run_dir, state
        raise _run_not_found(run_id)

    def _run_info(self, meta: dict[str, Any], tags: dict[str, str]) -> RunInfo:
        status = meta.get("status")
        if status is None:
            status_name = "RUNNING"
        elif isinstance(status, str):
            status_name = status
        else:
            status_name = RunStatus.to_string(int(status))
        run_name = meta.get("run_name") or tags.get(_RUN_NAME_TAG) or None
        return RunInfo(
            run_id=str(meta.get("run_id") or meta.get("run_uuid")),
            experiment_id=str(meta.get("experiment_id")),
            user_id=str(meta.get("user_id") or ""),
            status=status_name,
            start_time=_opt_int(meta.get("start_time")),
            end_time=_opt_int(meta.get("end_time")),
            lifecycle_stage=meta.get("lifecycle_stage") or LifecycleStage.ACTIVE,
            artifact_uri=meta.get("artifact_uri"),
            run_name=None if run_name is None else str(run_name),
        )

    def _to_run(self, state: _State) -> Run:
        """Fresh entity objects for a snapshot (callers may change them freely)."""
        tags = state.tags
        return Run(
            info=self._run_info(state.meta, tags),
            data=RunData(
                metrics=[
                    Metric(key, e.value, e.timestamp, e.step)
                    for key, e in state.entries.items()
                    if e.timestamp is not None
                ],
                params=[Param(k, v) for k, v in state.params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            ),
            inputs=state.inputs,
            outputs=state.outputs,
        )

    def _load_summary(self, run_dir: str) -> dict[str, Entry]:
        try:
            return _metrics.loads_summary(read_bytes(os.path.join(run_dir, SUMMARY_FILE)))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as exc:
            _logger.debug("Cannot read the metric summary of %s: %s", run_dir, exc)
            return {}

    def _save_summary(self, run_dir: str, entries: dict[str, Entry]) -> None:
        try:
            write_in_place(os.path.join(run_dir, SUMMARY_FILE), _metrics.dumps_summary(entries))
        except OSError as exc:  # a read-only store still reads fine
            _logger.debug("Cannot save the metric summary of %s: %s", run_dir, exc)

    def _known_entries(self, run_dir: str) -> dict[str, Entry]:
        known = self._metric_cache.get(run_dir)
        if known is None:
            known = self._load_summary(run_dir)
        return known

    def _latest_entries(self, run_dir: str, racy_after: int = 0) -> tuple[dict[str, Entry], bool]:
        """``{key: Entry}`` for every metric file of a run, using and refreshing the summary.

        The second value is True when a metric file was modified after ``racy_after``.
        """
        known = self._known_entries(run_dir)
        result: dict[str, Entry] = {}
        changed = False
        racy = False
        for key, entry in walk_files(os.path.join(run_dir, METRICS)):
            try:
                st = entry.stat(follow_symlinks=False)
                if st.st_mtime_ns > racy_after:
                    racy = True
                previous = known.get(key)
                if previous is not None and previous.matches(st):
                    result[key] = previous
                    continue
                result[key] = _metrics.scan_file(entry.path, st, previous)
            except FileNotFoundError:
                continue
            changed = True
        if changed or len(result) != len(known):
            self._save_summary(run_dir, result)
        self._trim_caches()
        self._metric_cache[run_dir] = result
        return result, racy

    def _read_inputs(self, run_dir: str) -> RunInputs:
        """Dataset inputs, as MLflow writes them (``destination_id`` is not trusted)."""
        base = os.path.join(run_dir, INPUTS)
        try:
            names = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            return RunInputs()
        datasets_dir = os.path.join(os.path.dirname(run_dir), DATASETS)
        inputs = []
        for name in names:
            try:
                meta = self._read_meta(os.path.join(base, name, META))
                if meta.get("source_type") != "DATASET":
                    continue
                source_id = str(meta.get("source_id"))
                if not _ID_RE.match(source_id):
                    continue
                ds = self._read_meta(os.path.join(datasets_dir, source_id, META))
            except (FileNotFoundError, NotADirectoryError, TrackyardError):
                continue
            raw_tags = meta.get("tags") or {}
            tags = tuple(InputTag(str(k), str(v)) for k, v in raw_tags.items())
            inputs.append(
                DatasetInput(
                    Dataset(
                        name=str(ds.get("name")),
                        digest=str(ds.get("digest")),
                        source_type=str(ds.get("source_type")),
                        source=str(ds.get("source")),
                        schema=ds.get("schema"),
                        profile=ds.get("profile"),
                    ),
                    tags,
                )
            )
        return RunInputs(dataset_inputs=tuple(inputs))

    # -- runs: creating and changing -------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a run in an active experiment; meta.yaml, written last, makes it exist."""
        tag_map, name = new_run_tags(tags, run_name)
        with self._root_lock(shared=True):
            exp_dir = self._active_experiment(experiment_id)
            exp_meta = self._read_meta(os.path.join(exp_dir, META))
            run_id = uuid.uuid4().hex
            run_dir = os.path.join(exp_dir, run_id)
            check_contained(self._root_real, exp_dir)
            os.mkdir(run_dir)
            try:
                for sub in (METRICS, PARAMS, TAGS, ARTIFACTS):
                    os.mkdir(os.path.join(run_dir, sub))
                planned: set[tuple[str, ...]] = set()
                tags_dir = os.path.join(run_dir, TAGS)
                for key, value in tag_map.items():
                    path = self._check_writable_key(tags_dir, key, "tag", planned)
                    directory = os.path.dirname(path)
                    if directory != tags_dir:
                        os.makedirs(directory, exist_ok=True)
                    fd = os.open(
                        path,
                        os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_BINARY,
                        0o666,
                    )
                    try:
                        write_all(fd, value.encode("utf-8"))
                    finally:
                        os.close(fd)
                location = str(exp_meta.get("artifact_location") or "")
                meta: dict[str, Any] = {
                    "artifact_uri": _append_uri_path(location, run_id, ARTIFACTS),
                    "deleted_time": None,
                    "end_time": None,
                    "entry_point_name": "",
                    "experiment_id": experiment_id,
                    "lifecycle_stage": LifecycleStage.ACTIVE,
                    "run_id": run_id,
                    "run_name": name,
                    "source_name": "",
                    "source_type": SourceType.LOCAL,
                    "source_version": "",
                    "start_time": start_time,
                    "status": RunStatus.RUNNING,
                    "tags": [],
                    "user_id": user_id,
                }
                # A new file: nothing to lose if it does not reach the disk, so no fsync.
                write_atomic(
                    os.path.join(run_dir, META), dump_meta(meta), tmp_dir=run_dir, sync=False
                )
            except BaseException:
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
        self._run_dirs[run_id] = run_dir
        info = self._run_info(meta, tag_map)
        return Run(
            info=info,
            data=RunData(tags=[RunTag(k, v) for k, v in tag_map.items()]),
        )

    def get_run(self, run_id: str) -> Run:
        """Return a run (active or deleted) with its latest metrics, params and tags."""
        return self._to_run(self._run_state(run_id)[1])

    def _write_run(self, run_id: str) -> _RunWrite:
        return _RunWrite(self, run_id)

    def update_run_info(
        self, run_id: str, run_status: int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status and end time, and the name (meta.yaml and tag) when given."""
        with self._write_run(run_id) as w:
            w.require_active()
            meta = dict(w.meta)
            meta["status"] = int(run_status)
            meta["end_time"] = end_time
            txn = Txn(w.run_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            if run_name:
                meta["run_name"] = run_name
                path = self._check_writable_key(
                    os.path.join(w.run_dir, TAGS), _RUN_NAME_TAG, "tag", set()
                )
                txn.replace(path, run_name.encode("utf-8"))
            txn.replace(os.path.join(w.run_dir, META), dump_meta(meta))
            w.changed = True
            txn.apply(w.lock_fd)
            tags = self._read_values(os.path.join(w.run_dir, TAGS))[0]
            return self._run_info(meta, tags)

    def _set_run_stage(
        self, run_dir: str, stage: str, deleted_time: int | None, *, only_from: bool = False
    ) -> None:
        path = os.path.join(run_dir, META)
        try:
            meta = dict(self._read_meta(path))
        except (FileNotFoundError, TrackyardError):
            return
        current = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
        if only_from and current == stage:
            return
        meta["lifecycle_stage"] = stage
        meta["deleted_time"] = deleted_time
        write_atomic(path, dump_meta(meta), tmp_dir=run_dir, sync=self._sync_meta)

    def _restore_if_deleted_since(self, run_dir: str, deleted_at: int) -> None:
        try:
            meta = self._read_meta(os.path.join(run_dir, META))
        except (FileNotFoundError, TrackyardError):
            return
        if (meta.get("lifecycle_stage") or LifecycleStage.ACTIVE) != LifecycleStage.DELETED:
            return
        deleted_time = _opt_int(meta.get("deleted_time"))
        if deleted_time is None or deleted_time >= deleted_at:
            self._set_run_stage(run_dir, LifecycleStage.ACTIVE, None)

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (a deleted run keeps its first deleted_time)."""
        with self._write_run(run_id) as w:
            if w.stage == LifecycleStage.ACTIVE:
                w.changed = True
                self._set_run_stage(w.run_dir, LifecycleStage.DELETED, now_ms())

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        with self._write_run(run_id) as w:
            if w.stage != LifecycleStage.ACTIVE:
                w.changed = True
                self._set_run_stage(w.run_dir, LifecycleStage.ACTIVE, None)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """Write metrics, params and tags to an active run, all or nothing.

        Everything is checked first (the run is active, params are new or unchanged, keys
        do not clash with existing files); then the files are written under the run's lock
        with an undo journal, so neither a failure nor a killed process leaves part of it.
        """
        with self._write_run(run_id) as w:
            w.require_active()
            run_dir = w.run_dir
            txn = Txn(run_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            params_dir = os.path.join(run_dir, PARAMS)
            planned: set[tuple[str, ...]] = set()
            for p in params:
                path = self._check_writable_key(params_dir, p.key, "param", planned)
                try:
                    current = read_bytes(path).decode("utf-8")
                except FileNotFoundError:
                    txn.create(path, p.value.encode("utf-8"))
                    continue
                if current != p.value:
                    raise _invalid(
                        f"Changing param values is not allowed. Param with key='{p.key}' was "
                        f"already logged with value='{current}' for run ID='{run_id}'. "
                        f"Attempted logging new value '{p.value}'."
                    )
            tags_dir = os.path.join(run_dir, TAGS)
            planned = set()
            new_name = None
            for t in tags:
                path = self._check_writable_key(tags_dir, t.key, "tag", planned)
                txn.replace(path, t.value.encode("utf-8"))
                if t.key == _RUN_NAME_TAG:
                    new_name = t.value
            if new_name is not None and new_name != w.meta.get("run_name"):
                meta = dict(w.meta)
                meta["run_name"] = new_name
                txn.replace(os.path.join(run_dir, META), dump_meta(meta))
            grouped: dict[str, list[Metric]] = {}
            for m in metrics:
                bucket = grouped.get(m.key)
                if bucket is None:
                    bucket = grouped[m.key] = []
                bucket.append(m)
            metrics_dir = os.path.join(run_dir, METRICS)
            planned = set()
            metric_paths: dict[str, str] = {}
            for key, points in grouped.items():
                path = self._check_writable_key(metrics_dir, key, "metric", planned)
                metric_paths[path] = key
                txn.append(
                    path,
                    _metrics.format_lines(
                        (m.timestamp, m.value, m.step, m.dataset_name, m.dataset_digest)
                        for m in points
                    ),
                )
            self._plan_model_metrics(txn, run_id, metrics)
            if not txn:
                return
            known = self._known_entries(run_dir) if grouped else {}
            before: dict[str, Entry | None] = {}
            for path, key in metric_paths.items():
                try:
                    st = os.stat(path, follow_symlinks=False)
                except FileNotFoundError:
                    before[key] = None
                    continue
                before[key] = _metrics.scan_file(path, st, known.get(key))
            w.changed = True
            txn.apply(w.lock_fd)
            if grouped:
                self._update_summary(run_dir, known, before, grouped, metric_paths, txn)
                w.changed = False  # the summary was rewritten: that tells other processes

    def _update_summary(
        self,
        run_dir: str,
        known: dict[str, Entry],
        before: dict[str, Entry | None],
        grouped: dict[str, list[Metric]],
        metric_paths: dict[str, str],
        txn: Txn,
    ) -> None:
        """Merge a batch's points into the run's entries and persist the summary."""
        entries = dict(known)
        for path, key in metric_paths.items():
            pre_size, st, written = txn.appended[path]
            prev = before.get(key)
            if (
                prev.consumed if prev is not None else 0
            ) != pre_size or st.st_size != pre_size + written:
                entries.pop(key, None)  # another writer got in between: rescan on read
                continue
            if prev is None or prev.timestamp is None:
                best = None
                ts, value, step = None, 0.0, 0
            else:
                best = _metrics.rank(prev.step, prev.timestamp, prev.value)
                ts, value, step = prev.timestamp, prev.value, prev.step
            for m in grouped[key]:
                r = _metrics.rank(m.step, m.timestamp, m.value)
                if best is None or r > best:
                    best, ts, value, step = r, m.timestamp, m.value, m.step
            entries[key] = Entry(st.st_size, st.st_size, st.st_ino, st.st_mtime_ns, ts, value, step)
        self._states.pop(run_dir, None)
        self._metric_cache[run_dir] = entries
        self._save_summary(run_dir, entries)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a tag of an active run (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._write_run(run_id) as w:
            w.require_active()
            path = self._key_path(os.path.join(w.run_dir, TAGS), key, "tag")
            if not os.path.isfile(path) or os.path.islink(path):
                raise TrackyardError(
                    f"No tag with name: {key} in run with id {run_id}",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            w.changed = True
            os.unlink(path)
            remove_empty_parents(path, os.path.join(w.run_dir, TAGS))

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every point of a metric ordered by (timestamp, step, value); identical rows once."""
        from trackyard import search

        offset = validate_history_paging(max_results, page_token)
        run_dir, _ = self._run_state(run_id)
        path = self._key_path(os.path.join(run_dir, METRICS), metric_key, "metric")
        try:
            data = read_bytes(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return PagedList([], None)
        except OSError as exc:  # e.g. ELOOP: a symbolic link, never followed
            raise _invalid(f"Cannot read metric {metric_key!r}: {exc}") from exc
        key = metric_key
        rows = _metrics.history(data.decode("utf-8", "replace"), path)
        history = [
            Metric(key, row[2], row[0], row[1])
            if len(row) == 3 or row[3] is None
            else Metric(key, row[2], row[0], row[1], dataset_name=row[3], dataset_digest=row[4])
            for row in rows
        ]
        if max_results is None:
            return PagedList(history[offset:], None)
        return search.paginate(history, max_results, page_token)

    # -- search ----------------------------------------------------------------------------
    def search_runs(self, request: RunSearch) -> PagedList[Run]:
        """Return the page ``request`` asks for, evaluated by :mod:`trackyard.search`."""
        from trackyard import search

        stages = ViewType.to_lifecycle_stages(request.view_type)
        runs: list[Run] = []
        for experiment_id in dict.fromkeys(request.experiment_ids):
            exp_dir = self._experiment_dir(experiment_id)
            if exp_dir is None:
                continue
            for run_dir in self._run_folders(exp_dir):
                run = self._load_run_for_search(run_dir, experiment_id, stages)
                if run is not None:
                    runs.append(run)
        return search.search_runs_in_memory(runs, request)

    def _load_run_for_search(
        self, run_dir: str, experiment_id: str, stages: frozenset[str]
    ) -> Run | None:
        try:
            state = self._snapshot(run_dir)
        except (FileNotFoundError, NotADirectoryError):
            return None  # not a run (or one being created)
        except TrackyardError as exc:
            _logger.warning("Skipping run folder %s: %s", run_dir, exc)
            return None
        meta = state.meta
        run_id = meta.get("run_id") or meta.get("run_uuid")
        if run_id != os.path.basename(run_dir) or str(meta.get("experiment_id")) != experiment_id:
            _logger.warning("Skipping run folder %s: its meta.yaml names another run", run_dir)
            return None
        if (meta.get("lifecycle_stage") or LifecycleStage.ACTIVE) not in stages:
            return None
        return self._to_run(state)


def _key_clash(what: str, key: str, other: str) -> TrackyardError:
    return _invalid(
        f"Cannot log {what} {key!r}: the file store keeps keys as paths, and {what} {other!r} "
        "is in the way (a key cannot be both a value and a folder of other keys)."
    )


class _RunWrite:
    """Context manager for a write to a run: locates it, locks it, recovers, reads its meta."""

    __slots__ = ("_lock", "changed", "lock_fd", "meta", "run_dir", "run_id", "stage", "store")

    def __init__(self, store: FileTrackingStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.run_dir = ""
        self.meta: dict[str, Any] = {}
        self.stage = LifecycleStage.ACTIVE
        self._lock: FileLock | None = None
        self.lock_fd = -1
        #: set before a change; on exit the run is then marked changed for every process
        self.changed = False

    def __enter__(self) -> _RunWrite:
        store = self.store
        for attempt in range(2):
            run_dir = store._locate_run(self.run_id, refresh=attempt > 0)
            lock = FileLock(os.path.join(run_dir, LOCK_FILE))
            try:
                lock.__enter__()
            except (FileNotFoundError, NotADirectoryError):
                continue  # the experiment moved (deleted or restored): look again
            try:
                if recover(run_dir, lock.fd):
                    store._bump(run_dir)
                self.meta = store._run_meta(run_dir, self.run_id)
            except (FileNotFoundError, NotADirectoryError):
                lock.__exit__(None, None, None)
                continue
            except BaseException:
                lock.__exit__(None, None, None)
                raise
            self._lock = lock
            self.lock_fd = lock.fd
            self.run_dir = run_dir
            self.stage = self.meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
            return self
        raise _run_not_found(self.run_id)

    def __exit__(self, *exc: object) -> None:
        if self._lock is None:
            return
        try:
            if self.changed:
                self.store._bump(self.run_dir)
        finally:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def require_active(self) -> None:
        """Raise INVALID_PARAMETER_VALUE unless the run is active."""
        if self.stage != LifecycleStage.ACTIVE:
            raise _not_active("run", self.run_id, self.stage)
