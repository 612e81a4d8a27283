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
        traces/<trace_id>/              traces, their tags, metadata, assessments and (with the
                                        default artifact root) spans (see
                                        :mod:`trackyard_file._trace_files`)

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
the reference evaluator of :mod:`trackyard.search`. The store's parts live in
:mod:`trackyard_file._layout` (names and paths), :mod:`trackyard_file.experiments`,
:mod:`trackyard_file.runs`, :mod:`trackyard_file.traces`, :mod:`trackyard_file.logged_models` and
:mod:`trackyard_file.run_inputs`.
"""

from __future__ import annotations

import os

from trackyard import config
from trackyard.stores import Capabilities, TrackingStore
from trackyard_file._fs import (
    CachedReader,
    check_root,
    fsync_policy,
    path_to_file_uri,
    root_from_uri,
)
from trackyard_file._layout import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    LOCK_FILE,
    SCHEME_RE,
    SUMMARY_FILE,
    TRASH,
    FileLayout,
    resolve_location,
)
from trackyard_file._metrics import Entry
from trackyard_file.experiments import FileExperiments
from trackyard_file.gc import FileGc
from trackyard_file.importing import FileTrackingImports
from trackyard_file.logged_models import FileLoggedModels
from trackyard_file.run_inputs import FileRunInputs
from trackyard_file.runs import FileRuns, _State
from trackyard_file.traces import FileTraces

__all__ = ["LOCK_FILE", "REVALIDATE_ENV", "SUMMARY_FILE", "FileTrackingStore"]

_CACHE_LIMIT = 200_000
#: Environment variable: how long (seconds) a run read in full may be trusted on the cheap
#: check alone (see FileTrackingStore._snapshot); 0 checks every file on every read.
REVALIDATE_ENV = "TRACKYARD_FILE_REVALIDATE_SECONDS"


class FileTrackingStore(
    FileGc,
    FileTrackingImports,
    FileTraces,
    FileRuns,
    FileExperiments,
    FileLoggedModels,
    FileRunInputs,
    FileLayout,
    TrackingStore,
    CachedReader,
):
    """MLflow's tracking store API over a folder in MLflow's ``mlruns`` layout.

    Args:
        store_uri: the root folder: a path or a ``file:`` URI. Created with the Default
            experiment and ``.trash`` if missing. Defaults to ``./mlruns``, as MLflow.
            Inside :func:`trackyard.stores.read_only_opens` nothing is created, reads write
            nothing, and every writing method raises INVALID_STATE
            (:func:`trackyard_file._fs.writes`).
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
        traces=True,
        assessments=True,
        gc=True,
        imports=True,
    )

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        store_uri = store_uri or "./mlruns"
        root = root_from_uri(store_uri)
        default_root = artifact_uri is None or (
            not os.environ.get("TRACKYARD_ARTIFACT_ROOT")
            and not SCHEME_RE.match(artifact_uri)
            and os.path.abspath(artifact_uri) == os.path.abspath(config.DEFAULT_ARTIFACT_ROOT)
        )
        if default_root or artifact_uri is None:
            artifact_root = path_to_file_uri(root)
        else:
            artifact_root = resolve_location(artifact_uri).rstrip("/") or artifact_uri
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
        self._trace_dirs: dict[str, str] = {}
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
        self._trace_dirs.clear()

    # -- bootstrap -------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        request = check_root(self.root)
        self._read_only = request is not None
        if request is not None:  # trackyard.stores.read_only_opens: create nothing
            self._root_real = os.path.realpath(self.root)
            if self._experiment_dir(DEFAULT_EXPERIMENT_ID) is None:
                request.missing_default_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME)
            return
        os.makedirs(self.root, exist_ok=True)
        self._root_real = os.path.realpath(self.root)
        if os.path.isdir(self.trash) and self._experiment_dir(DEFAULT_EXPERIMENT_ID):
            return
        with self._root_lock():
            os.makedirs(self.trash, exist_ok=True)
            if self._experiment_dir(DEFAULT_EXPERIMENT_ID) is None:
                self._write_new_experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, None, ())

    # -- caches ----------------------------------------------------------------------------
    def _trim_caches(self) -> None:
        for cache in (
            self._meta_cache,
            self._text_cache,
            self._metric_cache,
            self._run_dirs,
            self._states,
            self._trace_dirs,
        ):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
