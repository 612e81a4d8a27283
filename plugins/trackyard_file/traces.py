"""Traces, spans and assessments in the file store (mixed into ``FileTrackingStore``).

The files are MLflow 3's (see :mod:`trackyard_file._trace_files`), so MLflow reads the
traces trackyard writes and the reverse.

Safety: every change to a trace happens under the trace's lock (``.trackyard.lock`` in its
folder). A change touching several files (a trace's info with its tags and metadata, an
assessment with the one it overrides) goes through the undo journal of
:mod:`trackyard_file._txn`, so it is all-or-nothing even if the process dies; single files
are replaced atomically, their temporary files kept out of the folders MLflow lists. A new
trace becomes visible when ``trace_info.yaml`` is written (last) and a deleted one disappears
when it is removed (first). Search reads the infos of the searched experiments (cached by
file signature) and applies the reference evaluator of
:mod:`trackyard.search.trace_evaluator`, reading spans only for ``span.`` filters.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList
from trackyard.entities.trace import Span, Trace, TraceData, TraceInfo, TraceTagKey
from trackyard.entities.trace_assessment import Assessment, new_assessment_id
from trackyard.errors import ErrorCode, TrackyardError, already_exists
from trackyard.errors import experiment_not_found as _experiment_not_found
from trackyard.search.trace_evaluator import (
    SpanFields,
    filter_has_spans,
    search_traces_in_memory,
)
from trackyard.stores import now_ms
from trackyard_file._fs import (
    RACY_NS,
    FileLock,
    read_bytes,
    remove_empty_parents,
    root_from_uri,
    write_atomic,
    writes,
)
from trackyard_file._layout import LOCK_FILE, META, SCHEME_RE, TAGS, append_uri_path
from trackyard_file._trace_files import (
    ASSESSMENTS,
    REQUEST_METADATA,
    SPANS_FILE,
    TRACE_INFO,
    TRACES,
    assessment_from_yaml,
    assessment_to_yaml,
    dump_spans,
    info_from_yaml,
    info_to_yaml,
    is_assessment_id,
    is_trace_id,
    load_spans,
)
from trackyard_file._txn import Txn, recover

if TYPE_CHECKING:
    from trackyard.search.request import TraceSearch

__all__ = ["FileTraces"]

_logger = logging.getLogger("trackyard.file")


def _not_found(trace_id: str) -> TrackyardError:
    return TrackyardError(
        f"Trace with ID {trace_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _assessment_not_found(assessment_id: str) -> TrackyardError:
    return TrackyardError(
        f"Assessment with ID {assessment_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _local_path(uri: str) -> str | None:
    """The local folder a path or ``file:`` URI names; None for other schemes."""
    if SCHEME_RE.match(uri) and uri[:5].lower() != "file:":
        return None
    try:
        return root_from_uri(uri)
    except TrackyardError:
        return None


class FileTraces:
    """The trace and assessment methods of the file tracking store."""

    if TYPE_CHECKING:
        root: str
        _root_real: str
        _read_only: bool
        _sync_meta: bool
        _sync_data: bool
        _trace_dirs: dict[str, str]

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

    # -- locating and reading ----------------------------------------------------------------
    def _trace_folders(self, experiment_dir: str) -> Iterator[str]:
        """The trace folders of an experiment folder (not checked for trace_info.yaml)."""
        try:
            it = os.scandir(os.path.join(experiment_dir, TRACES))
        except (FileNotFoundError, NotADirectoryError):
            return
        with it:
            for entry in it:
                if is_trace_id(entry.name) and entry.is_dir(follow_symlinks=False):
                    yield entry.path

    def _locate_trace(self, trace_id: str, *, refresh: bool = False) -> str:
        """The folder of a trace (in any experiment, ``.trash`` included); not-found if none."""
        if not is_trace_id(trace_id):
            raise _not_found(str(trace_id))
        cached = None if refresh else self._trace_dirs.get(trace_id)
        if cached is not None and os.path.isfile(os.path.join(cached, TRACE_INFO)):
            return cached
        for _, exp_dir in self._experiment_dirs():
            candidate = os.path.join(exp_dir, TRACES, trace_id)
            if os.path.isfile(os.path.join(candidate, TRACE_INFO)) and not os.path.islink(
                candidate
            ):
                self._trim_caches()
                self._trace_dirs[trace_id] = candidate
                return candidate
        self._trace_dirs.pop(trace_id, None)
        raise _not_found(trace_id)

    def _settle_trace(self, trace_dir: str) -> None:
        """Undo an interrupted multi-file write to a trace before reading it."""
        if self._read_only:
            return  # opened read-only: read what is there
        path = os.path.join(trace_dir, LOCK_FILE)
        try:
            if os.stat(path, follow_symlinks=False).st_size == 0:
                return
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            with FileLock(path) as lock:
                recover(trace_dir, lock.fd)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            pass

    def _load_info(self, trace_dir: str) -> TraceInfo | None:
        """A trace folder's info (without assessments); None if it is not (or no longer) one."""
        racy_after = time.time_ns() - RACY_NS  # older files are cached by signature
        try:
            meta = self._read_meta(os.path.join(trace_dir, TRACE_INFO))
            tags, _ = self._read_values(os.path.join(trace_dir, TAGS), racy_after)
            metadata, _ = self._read_values(os.path.join(trace_dir, REQUEST_METADATA), racy_after)
            info = info_from_yaml(meta, tags, metadata)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (TrackyardError, KeyError, TypeError, ValueError) as exc:
            _logger.warning("Skipping trace folder %s: %s", trace_dir, exc)
            return None
        if info.trace_id != os.path.basename(trace_dir):
            _logger.warning("Skipping trace folder %s: it names trace %r", trace_dir, info.trace_id)
            return None
        return info

    def _load_assessments(self, trace_dir: str) -> list[Assessment]:
        """A trace's assessments, oldest first."""
        base = os.path.join(trace_dir, ASSESSMENTS)
        try:
            names = os.listdir(base)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for name in names:
            stem, ext = os.path.splitext(name)
            if ext != ".yaml" or not is_assessment_id(stem):
                continue
            try:
                out.append(assessment_from_yaml(self._read_meta(os.path.join(base, name))))
            except FileNotFoundError:
                continue
            except (TrackyardError, KeyError, TypeError, ValueError) as exc:
                _logger.warning("Skipping assessment file %s: %s", name, exc)
        out.sort(key=lambda a: (a.create_time_ms or 0, a.assessment_id or ""))
        return out

    def _read_trace_info(self, trace_id: str) -> tuple[str, TraceInfo]:
        for attempt in range(2):
            trace_dir = self._locate_trace(trace_id, refresh=attempt > 0)
            self._settle_trace(trace_dir)
            info = self._load_info(trace_dir)
            if info is not None:
                info.assessments = self._load_assessments(trace_dir)
                return trace_dir, info
        raise _not_found(trace_id)

    # -- spans -------------------------------------------------------------------------------
    def _spans_location(self, trace_dir: str, info_tags: dict[str, str]) -> str:
        """Where a trace's ``traces.json`` is: its tag ``mlflow.artifactLocation``.

        A location in the trace's own folder follows the folder when its experiment moves
        to ``.trash`` (the tag still names the active place).
        """
        own = os.path.join(trace_dir, "artifacts")
        location = info_tags.get(TraceTagKey.ARTIFACT_LOCATION)
        if not location:
            return own
        local = _local_path(location)
        if local is not None:
            exp_id = os.path.basename(os.path.dirname(os.path.dirname(trace_dir)))
            active = os.path.join(
                self.root, exp_id, TRACES, os.path.basename(trace_dir), "artifacts"
            )
            if os.path.normpath(local) == os.path.normpath(active):
                return own
        return location

    def _read_spans(self, location: str) -> list[Span]:
        local = _local_path(location)
        try:
            if local is not None:
                data = read_bytes(os.path.join(local, SPANS_FILE))
            else:
                from trackyard.backends import get_artifact_repository

                repo = get_artifact_repository(location)
                with tempfile.TemporaryDirectory() as tmp:
                    path = repo.download_artifacts(SPANS_FILE, tmp)
                    with open(path, "rb") as fh:
                        data = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return []
        except TrackyardError as exc:
            if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                return []
            raise
        try:
            return load_spans(data)
        except (TrackyardError, ValueError, TypeError, KeyError) as exc:
            _logger.warning("Cannot read the spans in %s: %s", location, exc)
            return []

    def _write_spans(self, location: str, spans: Sequence[Span], trace_dir: str) -> None:
        data = dump_spans(spans)
        local = _local_path(location)
        if local is None:
            from trackyard.backends import get_artifact_repository

            get_artifact_repository(location).write_bytes(data, SPANS_FILE)
            return
        os.makedirs(local, exist_ok=True)
        inside = os.path.realpath(local).startswith(os.path.realpath(trace_dir) + os.sep)
        write_atomic(
            os.path.join(local, SPANS_FILE),
            data,
            tmp_dir=trace_dir if inside else None,
            sync=self._sync_data,
        )

    def _delete_spans(self, location: str, trace_dir: str) -> None:
        """Remove a deleted trace's spans when they live outside its folder."""
        local = _local_path(location)
        if local is None:
            from trackyard.backends import get_artifact_repository

            with contextlib.suppress(TrackyardError, OSError):
                get_artifact_repository(location).delete_artifacts()
            return
        real = os.path.realpath(local)
        if real.startswith(os.path.realpath(trace_dir) + os.sep):
            return
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(local, SPANS_FILE))
            os.rmdir(local)

    # -- locked writes -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked_trace(self, trace_id: str) -> Iterator[tuple[str, int]]:
        """Locate a trace and hold its lock (after undoing an interrupted write)."""
        for attempt in range(2):
            trace_dir = self._locate_trace(trace_id, refresh=attempt > 0)
            try:
                lock = FileLock(os.path.join(trace_dir, LOCK_FILE))
                lock.__enter__()
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                recover(trace_dir, lock.fd)
                if not os.path.isfile(os.path.join(trace_dir, TRACE_INFO)):
                    continue  # deleted (or moved with its experiment) meanwhile
                yield trace_dir, lock.fd
                return
            finally:
                lock.__exit__(None, None, None)
        raise _not_found(trace_id)

    # -- traces ------------------------------------------------------------------------------
    @writes
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        """Write a trace's info, tags and metadata (merging into an existing trace's)."""
        trace_id = trace_info.trace_id
        if not is_trace_id(trace_id):
            raise TrackyardError(
                f"Invalid trace ID: {trace_id!r}", ErrorCode.INVALID_PARAMETER_VALUE
            )
        info = copy.deepcopy(trace_info)
        info.assessments = []
        with self._root_lock(shared=True):
            exp_dir = self._active_experiment(info.experiment_id)
            location = str(self._read_meta(os.path.join(exp_dir, META)).get("artifact_location"))
            for _, other_dir in self._experiment_dirs():
                if other_dir != exp_dir and os.path.isfile(
                    os.path.join(other_dir, TRACES, trace_id, TRACE_INFO)
                ):
                    raise TrackyardError(
                        f"Trace {trace_id!r} already exists in another experiment.",
                        ErrorCode.INVALID_STATE,
                    )
            trace_dir = os.path.join(exp_dir, TRACES, trace_id)
            os.makedirs(trace_dir, exist_ok=True)
            with FileLock(os.path.join(trace_dir, LOCK_FILE)) as lock:
                recover(trace_dir, lock.fd)
                existing = os.path.isfile(os.path.join(trace_dir, TRACE_INFO))
                try:
                    self._write_info(info, trace_dir, location, existing, lock.fd)
                except BaseException:
                    if not existing:
                        shutil.rmtree(trace_dir, ignore_errors=True)
                    raise
                if existing:
                    info.assessments = self._load_assessments(trace_dir)
        self._trace_dirs[trace_id] = trace_dir
        return info

    def _write_info(
        self, info: TraceInfo, trace_dir: str, location: str, existing: bool, lock_fd: int
    ) -> None:
        """Plan and apply the files of a trace's info; merges ``info``'s tags and metadata."""
        tags_dir = os.path.join(trace_dir, TAGS)
        meta_dir = os.path.join(trace_dir, REQUEST_METADATA)
        if existing:
            old_tags, _ = self._read_values(tags_dir)
            old_meta, _ = self._read_values(meta_dir)
        else:
            # a folder without trace_info.yaml is the leftover of an interrupted write
            for sub in (TAGS, REQUEST_METADATA, ASSESSMENTS):
                shutil.rmtree(os.path.join(trace_dir, sub), ignore_errors=True)
            old_tags, old_meta = {}, {}
        info.tags.setdefault(
            TraceTagKey.ARTIFACT_LOCATION,
            old_tags.get(TraceTagKey.ARTIFACT_LOCATION)
            or append_uri_path(location, TRACES, info.trace_id, "artifacts"),
        )
        txn = Txn(trace_dir, sync=self._sync_data, sync_meta=self._sync_meta)
        for base, values, what in (
            (tags_dir, info.tags, "trace tag"),
            (meta_dir, info.trace_metadata, "trace metadata key"),
        ):
            planned: set[tuple[str, ...]] = set()
            for key, value in values.items():
                path = self._check_writable_key(base, key, what, planned)
                txn.replace(path, str(value).encode("utf-8"))
        txn.replace(os.path.join(trace_dir, TRACE_INFO), info_to_yaml(info))
        txn.apply(lock_fd)
        info.tags = {**old_tags, **info.tags}
        info.trace_metadata = {**old_meta, **info.trace_metadata}

    @writes
    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        """Store spans in their traces' ``traces.json`` (a span replaces one with its id)."""
        self._active_experiment(location)
        grouped: dict[str, list[Span]] = {}
        for span in spans:
            grouped.setdefault(span.trace_id, []).append(span)
        for trace_id in grouped:  # every trace must exist before anything is written
            self._locate_trace(trace_id)
        for trace_id, group in grouped.items():
            with self._locked_trace(trace_id) as (trace_dir, _):
                info = self._load_info(trace_dir)
                if info is None:
                    raise _not_found(trace_id)
                target = self._spans_location(trace_dir, info.tags)
                merged = {s.span_id: s for s in self._read_spans(target)}
                merged.update((s.span_id, s) for s in group)
                self._write_spans(target, list(merged.values()), trace_dir)
        return list(spans)

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """A trace's info with its assessments."""
        return self._read_trace_info(trace_id)[1]

    def get_trace(self, trace_id: str) -> Trace:
        """A trace with its spans (by start time) and assessments."""
        trace_dir, info = self._read_trace_info(trace_id)
        spans = self._read_spans(self._spans_location(trace_dir, info.tags))
        spans.sort(key=lambda s: (s.start_time_ns, s.span_id))
        return Trace(info, TraceData(spans))

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        """The page ``request`` asks for, evaluated by the reference trace evaluator."""
        with_spans = filter_has_spans(request.filter)
        pairs: list[tuple[TraceInfo, list[SpanFields] | None]] = []
        folders: dict[str, str] = {}
        for experiment_id in dict.fromkeys(request.experiment_ids):
            exp_dir = self._experiment_dir(experiment_id)
            if exp_dir is None:
                continue
            for trace_dir in self._trace_folders(exp_dir):
                self._settle_trace(trace_dir)
                info = self._load_info(trace_dir)
                if info is None or info.experiment_id != experiment_id:
                    continue
                fields = None
                if with_spans:
                    fields = [
                        SpanFields(s.name, s.span_type, s.status.status_code.value)
                        for s in self._read_spans(self._spans_location(trace_dir, info.tags))
                    ]
                folders[info.trace_id] = trace_dir
                pairs.append((info, fields))
        page = search_traces_in_memory(pairs, request)
        for info in page:
            info.assessments = self._load_assessments(folders[info.trace_id])
        return page

    @writes
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set (or overwrite) a trace tag."""
        with self._locked_trace(trace_id) as (trace_dir, _):
            path = self._check_writable_key(os.path.join(trace_dir, TAGS), key, "trace tag", set())
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, value.encode("utf-8"), tmp_dir=trace_dir, sync=self._sync_data)

    @writes
    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a trace tag (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._locked_trace(trace_id) as (trace_dir, _):
            base = os.path.join(trace_dir, TAGS)
            path = self._key_path(base, key, "trace tag")
            if not os.path.isfile(path) or os.path.islink(path):
                raise TrackyardError(
                    f"Tag with key {key} not found in trace with ID {trace_id}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            os.unlink(path)
            remove_empty_parents(path, base)

    @writes
    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces of one experiment (by ids, or the oldest up to a time); return how many."""
        exp_dir = self._experiment_dir(experiment_id)
        if exp_dir is None:
            raise _experiment_not_found(experiment_id)
        if trace_ids is not None:
            doomed = [
                os.path.join(exp_dir, TRACES, t)
                for t in dict.fromkeys(trace_ids)
                if is_trace_id(t) and os.path.isfile(os.path.join(exp_dir, TRACES, t, TRACE_INFO))
            ]
        else:
            assert max_timestamp_millis is not None
            old = []
            for trace_dir in self._trace_folders(exp_dir):
                info = self._load_info(trace_dir)
                if info is not None and info.request_time <= max_timestamp_millis:
                    old.append((info.request_time, info.trace_id, trace_dir))
            old.sort()
            doomed = [d for _, _, d in old[:max_traces]]
        return sum(self._delete_trace_folder(d) for d in doomed)

    def _delete_trace_folder(self, trace_dir: str) -> bool:
        """Delete one trace: its trace_info.yaml first (then it no longer exists), then the rest."""
        try:
            lock = FileLock(os.path.join(trace_dir, LOCK_FILE))
            lock.__enter__()
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            recover(trace_dir, lock.fd)
            info = self._load_info(trace_dir)
            try:
                os.unlink(os.path.join(trace_dir, TRACE_INFO))
            except FileNotFoundError:
                return False
            if info is not None:
                self._trace_dirs.pop(info.trace_id, None)
                self._delete_spans(self._spans_location(trace_dir, info.tags), trace_dir)
            shutil.rmtree(trace_dir, ignore_errors=True)
            return True
        finally:
            lock.__exit__(None, None, None)

    # -- assessments -------------------------------------------------------------------------
    def _assessment_path(self, trace_dir: str, assessment_id: str) -> str:
        return os.path.join(trace_dir, ASSESSMENTS, f"{assessment_id}.yaml")

    def _find_assessment(self, trace_id: str | None, assessment_id: str) -> tuple[str, Assessment]:
        """``(trace folder, assessment)``; the trace is looked up when ``trace_id`` is None."""
        if not is_assessment_id(assessment_id):
            raise _assessment_not_found(str(assessment_id))
        if trace_id is not None:
            candidates: list[str] = [self._locate_trace(trace_id)]
        else:
            candidates = [
                d for _, exp_dir in self._experiment_dirs() for d in self._trace_folders(exp_dir)
            ]
        for trace_dir in candidates:
            path = self._assessment_path(trace_dir, assessment_id)
            try:
                found = assessment_from_yaml(self._read_meta(path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if os.path.isfile(os.path.join(trace_dir, TRACE_INFO)):
                return trace_dir, found
        raise _assessment_not_found(assessment_id)

    def _load_one(self, trace_dir: str, assessment_id: str) -> Assessment | None:
        try:
            return assessment_from_yaml(
                self._read_meta(self._assessment_path(trace_dir, assessment_id))
            )
        except (FileNotFoundError, NotADirectoryError):
            return None

    @writes
    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new assessment; the one it overrides becomes invalid in the same write."""
        if assessment.trace_id is None:
            raise TrackyardError(
                "An assessment needs a trace ID.", ErrorCode.INVALID_PARAMETER_VALUE
            )
        with self._locked_trace(assessment.trace_id) as (trace_dir, lock_fd):
            txn = Txn(trace_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            if assessment.overrides is not None:
                old = (
                    self._load_one(trace_dir, assessment.overrides)
                    if is_assessment_id(assessment.overrides)
                    else None
                )
                if old is None:
                    raise _assessment_not_found(assessment.overrides)
                old.valid = False
                txn.replace(
                    self._assessment_path(trace_dir, assessment.overrides), assessment_to_yaml(old)
                )
            new = copy.deepcopy(assessment)
            new.assessment_id = new_assessment_id()
            new.create_time_ms = new.create_time_ms or now_ms()
            new.last_update_time_ms = new.last_update_time_ms or new.create_time_ms
            new.valid = True
            txn.create(self._assessment_path(trace_dir, new.assessment_id), assessment_to_yaml(new))
            txn.apply(lock_fd)
            return new

    @writes
    def import_assessment(self, assessment: Assessment) -> None:
        """Write an assessment exactly as given (id, times, validity and link kept)."""
        assessment_id = assessment.assessment_id
        if assessment.trace_id is None or not is_assessment_id(assessment_id):
            raise TrackyardError(
                f"Cannot import assessment {assessment_id!r} of trace {assessment.trace_id!r}.",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        assert assessment_id is not None
        with self._locked_trace(assessment.trace_id) as (trace_dir, lock_fd):
            if self._load_one(trace_dir, assessment_id) is not None:
                raise already_exists(f"Assessment {assessment_id!r}")
            new = copy.deepcopy(assessment)
            new.create_time_ms = new.create_time_ms or now_ms()
            new.last_update_time_ms = new.last_update_time_ms or new.create_time_ms
            txn = Txn(trace_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            txn.create(self._assessment_path(trace_dir, assessment_id), assessment_to_yaml(new))
            txn.apply(lock_fd)

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        """An assessment (looked up by id alone when ``trace_id`` is None)."""
        return self._find_assessment(trace_id, assessment_id)[1]

    @writes
    def update_assessment(self, assessment: Assessment) -> Assessment:
        """Replace a stored assessment's mutable fields (its times, validity and link stay)."""
        if assessment.assessment_id is None:
            raise _assessment_not_found("None")
        _, current = self._find_assessment(assessment.trace_id, assessment.assessment_id)
        assert current.trace_id is not None and current.assessment_id is not None
        with self._locked_trace(current.trace_id) as (locked_dir, _):
            latest = self._load_one(locked_dir, current.assessment_id)
            if latest is None:
                raise _assessment_not_found(current.assessment_id)
            updated = dataclasses.replace(
                copy.deepcopy(assessment),
                assessment_id=latest.assessment_id,
                trace_id=latest.trace_id,
                create_time_ms=latest.create_time_ms,
                last_update_time_ms=max(now_ms(), latest.create_time_ms or 0),
                valid=latest.valid,
                overrides=latest.overrides,
            )
            write_atomic(
                self._assessment_path(locked_dir, current.assessment_id),
                assessment_to_yaml(updated),
                tmp_dir=locked_dir,
                sync=self._sync_data,
            )
            return updated

    @writes
    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; the one it overrode becomes valid again."""
        if not is_assessment_id(assessment_id):
            raise _assessment_not_found(str(assessment_id))
        with self._locked_trace(trace_id) as (trace_dir, lock_fd):
            current = self._load_one(trace_dir, assessment_id)
            if current is None:
                raise _assessment_not_found(assessment_id)
            txn = Txn(trace_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            txn.remove(self._assessment_path(trace_dir, assessment_id))
            if current.overrides and is_assessment_id(current.overrides):
                old = self._load_one(trace_dir, current.overrides)
                if old is not None and not old.valid:
                    old.valid = True
                    txn.replace(
                        self._assessment_path(trace_dir, current.overrides), assessment_to_yaml(old)
                    )
            txn.apply(lock_fd)
