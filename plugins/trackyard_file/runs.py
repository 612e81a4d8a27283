"""Runs in the file store: reading, creating, logging and searching (mixed into the store).

A run is a folder ``<experiment>/<run_id>`` (see :mod:`trackyard_file.tracking` for its
files). Every change happens under the run's lock with an undo journal
(:mod:`trackyard_file._txn`); a run is read in full under the same lock shared and kept in
memory as a :class:`_State` that is trusted on a cheap check for a short while.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from trackyard.entities import (
    Dataset,
    DatasetInput,
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
from trackyard.errors import invalid_parameter as _invalid
from trackyard.errors import not_active as _not_active
from trackyard.errors import run_not_found as _run_not_found
from trackyard.stores import new_run_tags, now_ms
from trackyard.validation import validate_history_paging
from trackyard_file import _metrics
from trackyard_file._fs import (
    O_BINARY,
    O_CLOEXEC,
    O_NOFOLLOW,
    RACY_NS,
    FileLock,
    Sig,
    check_contained,
    dump_meta,
    read_bytes,
    remove_empty_parents,
    sig,
    walk_files,
    write_all,
    write_atomic,
    write_in_place,
    writes,
)
from trackyard_file._layout import (
    ARTIFACTS,
    DATASETS,
    ID_RE,
    INPUTS,
    LOCK_FILE,
    META,
    METRICS,
    PARAMS,
    RESERVED_EXPERIMENT_FOLDERS,
    RUN_NAME_TAG,
    SUMMARY_FILE,
    TAGS,
    append_uri_path,
    opt_int,
)
from trackyard_file._metrics import Entry
from trackyard_file._txn import Txn, recover
from trackyard_file.run_inputs import read_model_links

if TYPE_CHECKING:
    from trackyard.search.request import RunSearch

__all__ = ["FileRuns"]

_logger = logging.getLogger("trackyard.file")
_METRIC_KEY = attrgetter("key")


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


class FileRuns:
    """The run methods of the file tracking store."""

    if TYPE_CHECKING:
        _root_real: str
        _read_only: bool
        _sync_meta: bool
        _sync_data: bool
        _revalidate: float
        _run_dirs: dict[str, str]
        _states: dict[str, _State]
        _metric_cache: dict[str, dict[str, Entry]]

        def _root_lock(self, *, shared: bool = False) -> FileLock: ...
        def _trim_caches(self) -> None: ...
        def _experiment_dir(self, experiment_id: str) -> str | None: ...
        def _experiment_dirs(self) -> Iterator[tuple[str, str]]: ...
        def _active_experiment(self, experiment_id: str) -> str: ...
        def _key_path(self, base: str, key: str, what: str) -> str: ...
        def _check_writable_key(
            self, base: str, key: str, what: str, planned: set[tuple[str, ...]]
        ) -> str: ...
        def _read_meta(self, path: str) -> dict[str, Any]: ...
        def _read_values(self, base: str, racy_after: int = 0) -> tuple[dict[str, str], bool]: ...
        def _plan_model_metrics(self, txn: Txn, run_id: str, metrics: Sequence[Metric]) -> None: ...

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
        if not isinstance(run_id, str) or not ID_RE.match(run_id):
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
        if self._read_only:
            return  # opened read-only: read what is there
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
        non-empty lock file is the journal of an interrupted write, undone first (read as it
        is in a read-only open).
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
        run_name = meta.get("run_name") or tags.get(RUN_NAME_TAG) or None
        return RunInfo(
            run_id=str(meta.get("run_id") or meta.get("run_uuid")),
            experiment_id=str(meta.get("experiment_id")),
            user_id=str(meta.get("user_id") or ""),
            status=status_name,
            start_time=opt_int(meta.get("start_time")),
            end_time=opt_int(meta.get("end_time")),
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
        if self._read_only:
            return
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
                if not ID_RE.match(source_id):
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
    @writes
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
                    "artifact_uri": append_uri_path(location, run_id, ARTIFACTS),
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

    @writes
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
                    os.path.join(w.run_dir, TAGS), RUN_NAME_TAG, "tag", set()
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
        deleted_time = opt_int(meta.get("deleted_time"))
        if deleted_time is None or deleted_time >= deleted_at:
            self._set_run_stage(run_dir, LifecycleStage.ACTIVE, None)

    @writes
    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (a deleted run keeps its first deleted_time)."""
        with self._write_run(run_id) as w:
            if w.stage == LifecycleStage.ACTIVE:
                w.changed = True
                self._set_run_stage(w.run_dir, LifecycleStage.DELETED, now_ms())

    @writes
    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        with self._write_run(run_id) as w:
            if w.stage != LifecycleStage.ACTIVE:
                w.changed = True
                self._set_run_stage(w.run_dir, LifecycleStage.ACTIVE, None)

    @writes
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
                if t.key == RUN_NAME_TAG:
                    new_name = t.value
            if new_name is not None and new_name != w.meta.get("run_name"):
                meta = dict(w.meta)
                meta["run_name"] = new_name
                txn.replace(os.path.join(run_dir, META), dump_meta(meta))
            grouped: dict[str, list[Metric]] = {}
            for key, same in groupby(metrics, _METRIC_KEY):  # a key's points in batch order
                bucket = grouped.get(key)
                if bucket is None:
                    grouped[key] = list(same)
                else:
                    bucket.extend(same)
            metrics_dir = os.path.join(run_dir, METRICS)
            planned = set()
            metric_paths: dict[str, str] = {}
            for key, points in grouped.items():
                path = self._check_writable_key(metrics_dir, key, "metric", planned)
                metric_paths[path] = key
                txn.append(
                    path,
                    _metrics.format_lines(
                        [
                            (m.timestamp, m.value, m.step, m.dataset_name, m.dataset_digest)
                            for m in points
                        ]
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
            top = _metrics.batch_top(grouped[key])
            if best is None or _metrics.rank(*top) > best:
                step, ts, value = top
            entries[key] = Entry(st.st_size, st.st_size, st.st_ino, st.st_mtime_ns, ts, value, step)
        self._states.pop(run_dir, None)
        self._metric_cache[run_dir] = entries
        self._save_summary(run_dir, entries)

    @writes
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
        if not rows or len(rows[0]) == 3:  # history() gives all 3-tuples or all 5-tuples
            history = [Metric(key, value, ts, step) for ts, step, value in rows]
        else:
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


class _RunWrite:
    """Context manager for a write to a run: locates it, locks it, recovers, reads its meta."""

    __slots__ = ("_lock", "changed", "lock_fd", "meta", "run_dir", "run_id", "stage", "store")

    def __init__(self, store: FileRuns, run_id: str) -> None:
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
