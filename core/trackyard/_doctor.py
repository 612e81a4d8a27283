"""``trackyard doctor``: check a store end to end and say what is wrong in plain words.

The checks, in order (a failed check skips those that need it):

1. **plugins**: every installed plugin loaded, no scheme is claimed twice, every backend class
   they name exists (a problem with a plugin *not* serving this URI is only a warning).
2. **plugin**: which plugin and class serve the tracking URI's scheme.
3. **connect**: the store opens (database reachable, driver installed, schema usable).
4. **read**: experiments can be searched.
5. **write**: a scratch experiment ``trackyard-doctor-<hex>`` gets a run with a metric, a param
   and a tag, which are read back and compared.
6. **artifacts**: a probe file is written, listed, read back and deleted through the artifact
   repository of the scratch experiment's artifact location (or of the artifact root when no
   experiment could be made).
7. **cleanup**: the scratch run and experiment are deleted. As in MLflow this is a soft delete:
   the experiment stays in the store as a deleted experiment, and its name stays taken.
8. **registry**: the model registry URI resolves and can be searched; a scheme that no plugin
   serves as a registry is a warning, since tracking still works.

With ``write=False`` (``--read-only``) the write, artifacts and cleanup checks are skipped
and the stores are opened with :func:`trackyard.stores.read_only_opens`: a store that honours
it (the built-in SQL, DuckDB and file stores do) creates, migrates and indexes nothing, and
the connect and registry checks say what a normal open would have done instead (a missing
index, a database file that does not exist yet).

:func:`plugin_problems` is also what ``trackyard plugins`` reports.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import textwrap
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import click

from trackyard import config
from trackyard.errors import (
    BackendConflictError,
    ErrorCode,
    PluginLoadError,
    TrackyardError,
    UnknownSchemeError,
)
from trackyard.uri import StoreURI, mask_credentials

if TYPE_CHECKING:
    from trackyard.client import MlflowClient
    from trackyard.plugins.manager import PluginInfo, PluginManager
    from trackyard.stores import ArtifactRepository, ReadOnlyOpen, TrackingStore

__all__ = ["Check", "Doctor", "PluginProblem", "doctor", "explain", "plugin_problems"]

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

SCRATCH_PREFIX = "trackyard-doctor-"
_NOUN = {"tracking": "tracking store", "registry": "model registry store", "artifact": "artifact"}


# -- plugin problems ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PluginProblem:
    """One thing wrong with the installed plugins.

    Attributes:
        plugins: names of the plugins involved (two or more for a conflict).
        kind: ``"error"`` (the plugin or a backend it names cannot be used) or ``"conflict"``.
        message: what is wrong, naming the plugins and their distributions.
        schemes: the schemes that do not work because of it.
    """

    plugins: tuple[str, ...]
    kind: str
    message: str
    schemes: tuple[str, ...] = ()


def plugin_problems(manager: PluginManager) -> list[PluginProblem]:
    """Find every plugin problem: load errors, bad hook results, conflicts, missing classes.

    Each backend class a plugin names is imported to check that it exists; its optional
    dependencies (database drivers, cloud SDKs) are only needed when a store is opened, so
    their absence is not reported here (``trackyard doctor`` reports it for a given URI).
    """
    from trackyard.plugins.manager import KINDS

    problems: list[PluginProblem] = []
    for info in manager.plugins():
        if info.error:
            problems.append(PluginProblem((info.name,), "error", f"{info.label} {info.error}"))
    seen: set[str] = set()
    for kind in KINDS:
        conflicts = manager.conflicts(kind)
        for scheme in manager.schemes(kind):
            if scheme in conflicts:
                names = conflicts[scheme]
                try:
                    manager.resolve(kind, f"{scheme}://")
                except BackendConflictError as exc:
                    message = exc.message
                else:  # pragma: no cover - conflicts() and resolve() share one rule
                    continue
                problems.append(PluginProblem(names, "conflict", message, (f"{kind}:{scheme}",)))
                continue
            try:
                manager.resolve(kind, f"{scheme}://")
            except PluginLoadError as exc:
                if exc.message in seen:
                    continue
                seen.add(exc.message)
                problems.append(
                    PluginProblem((exc.plugin,), "error", exc.message, (f"{kind}:{scheme}",))
                )
            except TrackyardError:  # an unclaimed scheme cannot be listed; nothing to report
                continue
            except Exception as exc:  # never let one plugin break the listing
                names = manager.scheme_table(kind).get(scheme, ())
                message = (
                    f"resolving the {_NOUN[kind]} scheme {scheme!r} (plugins: "
                    f"{', '.join(names) or '?'}) raised {exc!r}"
                )
                where = (f"{kind}:{scheme}",)
                problems.append(PluginProblem(tuple(names), "error", message, where))
    return problems


# -- explaining failures -----------------------------------------------------------------------
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _local_file(uri: str) -> str | None:
    """The local file a ``<scheme>:///<path>`` database URI names (not ``file:``), if any."""
    try:
        parsed = StoreURI.parse(uri)
    except TrackyardError:
        return None
    if parsed.is_path or parsed.scheme == "file" or ":///" not in uri:
        return None
    path = uri.split(":///", 1)[1].split("?", 1)[0]
    return os.path.abspath(path) if path and not path.startswith(":") else None


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _local_path_problem(path: str) -> str | None:
    """Explain why nothing can be written at ``path`` by looking at what exists above it."""
    existing = _nearest_existing(path)
    if existing != os.path.abspath(path) and not os.path.isdir(existing):
        return (
            f"{existing!r} is a file, not a directory, so {os.path.abspath(path)!r} cannot be "
            "created under it"
        )
    real = os.path.realpath(existing)
    if real == "/proc" or real.startswith(("/proc/", "/sys/")) or real == "/sys":
        top = "/" + real.split("/")[1]
        return (
            f"{os.path.abspath(path)!r} is inside {top}, a kernel file system where files cannot "
            "be created"
        )
    return None


def _explain_oserror(err: OSError, where: str) -> str:
    target = err.filename or where
    code = err.errno
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied writing {target!r}: the user running trackyard may not create "
            "files there. Choose a writable location or fix the permissions."
        )
    if code == errno.EROFS:
        return f"{target!r} is on a read-only file system."
    if code == errno.ENOSPC:
        return f"no space left on the device holding {target!r}."
    if code == errno.EDQUOT:
        return f"disk quota exceeded for {target!r}."
    if code == errno.ENOTDIR:
        problem = _local_path_problem(str(target))
        return (problem or f"part of {target!r} is a file, not a directory") + "."
    if code == errno.ENOENT:
        problem = _local_path_problem(str(target))
        return (problem or f"{target!r} does not exist and could not be created") + "."
    return f"{err.strerror or err} ({target!r})."


def _backend_explanation(exc: BaseException, uri: str) -> str | None:
    """Ask the store classes serving ``uri`` (``explain_error``) what ``exc`` means."""
    from trackyard.plugins.manager import get_plugin_manager

    try:
        parsed = StoreURI.parse(uri)
        manager = get_plugin_manager()
    except Exception:
        return None
    for kind in ("tracking", "registry"):
        try:
            cls = manager.resolve(kind, parsed)
            explain = getattr(cls, "explain_error", None)
            text = explain(exc, uri) if explain is not None else None
        except Exception:  # no such store, a broken plugin, or a bad explain_error
            continue
        if text:
            return str(text)
    return None


def explain(exc: BaseException, uri: str = "") -> str:
    """Say in plain words why ``exc`` happened while using ``uri``.

    Plugin problems (unknown scheme, conflicts, missing drivers) and missing modules are
    worded here; then the store class serving ``uri`` is asked
    (:meth:`~trackyard.stores.TrackingStore.explain_error`: an unreachable database server,
    refused credentials, a database file that cannot be created ...); permission and path
    problems come next. Anything else is shown as ``<error code or type>: <message>``.
    """
    if isinstance(exc, (UnknownSchemeError, BackendConflictError, PluginLoadError)):
        return exc.message
    if isinstance(exc, ModuleNotFoundError):
        return f"a module this backend needs is not installed: {exc.name}."
    if uri:
        text = _backend_explanation(exc, uri)
        if text:
            return text
    masked = mask_credentials(uri) if uri else ""
    for err in _chain(exc):
        if isinstance(err, OSError) and err.errno is not None:
            return _explain_oserror(err, masked)
    if isinstance(exc, TrackyardError):
        return f"{exc.error_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


# -- the checks ---------------------------------------------------------------------------------
@dataclass
class Check:
    """The outcome of one step of ``trackyard doctor``.

    Attributes:
        name: the step (``plugins``, ``plugin``, ``connect``, ``read``, ``write``,
            ``artifacts``, ``cleanup``, ``registry``).
        status: ``"ok"``, ``"warn"``, ``"fail"`` or ``"skip"``.
        detail: what was done or what is wrong, in plain words.
        ms: how long the step took, in milliseconds (None when skipped).
    """

    name: str
    status: str
    detail: str
    ms: float | None = None


@dataclass
class Doctor:
    """Runs the checks of ``trackyard doctor`` against one tracking URI.

    Args:
        tracking_uri: the store to check (default: the configured tracking URI).
        artifact_root: the default artifact root the store is opened with (default: the
            configured root, ``TRACKYARD_ARTIFACT_ROOT`` or ``./trackyard-artifacts``).
        registry_uri: the model registry URI (default: the configured one, else the
            tracking URI).
        write: False checks without writing anything: no scratch experiment, no probe file,
            and the stores are opened read-only (:func:`trackyard.stores.read_only_opens`).
    """

    tracking_uri: str | None = None
    artifact_root: str | None = None
    registry_uri: str | None = None
    write: bool = True
    checks: list[Check] = field(default_factory=list)
    scratch_experiment: str | None = None
    _exp_id: str | None = field(default=None, init=False, repr=False)
    _run_id: str | None = field(default=None, init=False, repr=False)
    _absent: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tracking_uri = self.tracking_uri or config.get_tracking_uri()
        root = self.artifact_root or config.get_artifact_root()
        if StoreURI.parse(root).is_path:
            root = os.path.abspath(root)
        self.artifact_root = root
        self.registry_uri = self.registry_uri or config.get_registry_uri(self.tracking_uri)
        self.scratch_experiment = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(c.status != FAIL for c in self.checks)

    def _add(self, name: str, status: str, detail: str, ms: float | None = None) -> Check:
        check = Check(name, status, detail, None if ms is None else round(ms, 1))
        self.checks.append(check)
        return check

    def _timed(self, name: str, fn: Callable[[], str], uri: str) -> tuple[bool, Any]:
        """Run ``fn``; record ok with its message, or fail with the explanation."""
        start = time.perf_counter()
        try:
            detail = fn()
        except Exception as exc:
            self._add(name, FAIL, explain(exc, uri), (time.perf_counter() - start) * 1000)
            return False, exc
        self._add(name, OK, detail, (time.perf_counter() - start) * 1000)
        return True, None

    # -- run ------------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        """Run every check and return them (also kept in :attr:`checks`)."""
        from trackyard.plugins.manager import get_plugin_manager

        manager = get_plugin_manager()
        uri = str(self.tracking_uri)
        self._check_plugins(manager, uri)
        store = None
        if self._check_plugin(manager, uri):
            store = self._check_connect(uri)
        try:
            self._run_with(manager, uri, store)
        finally:
            if store is not None and not self.write:  # opened read-only, outside the cache
                with contextlib.suppress(Exception):
                    store.close()
        return self.checks

    def _run_with(self, manager: PluginManager, uri: str, store: TrackingStore | None) -> None:
        client = self._client(store) if store is not None else None
        wrote = False
        if client is None and self._absent:
            self._add("read", SKIP, "the store does not exist yet: nothing to read")
            self._add("write", SKIP, "--read-only: nothing was written")
        elif client is None:
            self._add("read", SKIP, "needs an open store")
            self._add("write", SKIP, "needs an open store")
        else:
            self._timed("read", lambda: self._read(client), uri)
            if self.write:
                wrote, _ = self._timed("write", lambda: self._write_probe(client), uri)
            else:
                self._add("write", SKIP, "--read-only: nothing was written")
        location = self._artifact_location(client, store, wrote)
        if not self.write:
            self._add("artifacts", SKIP, "--read-only: nothing was written")
        else:
            self._check_artifacts(manager, location, uri)
        if client is not None and self._exp_id is not None:
            self._timed("cleanup", lambda: self._cleanup(client), uri)
        else:
            self._add("cleanup", SKIP, "nothing to clean up")
        if store is None and self.registry_uri == self.tracking_uri:
            why = "does not exist yet" if self._absent else "could not be opened"
            self._add("registry", SKIP, f"same URI as the tracking store, which {why}")
        else:
            self._check_registry(manager)

    def _check_plugins(self, manager: PluginManager, uri: str) -> None:
        start = time.perf_counter()
        problems = plugin_problems(manager)
        ms = (time.perf_counter() - start) * 1000
        count = len(manager.plugins())
        if not problems:
            self._add("plugins", OK, f"{count} plugin(s) loaded, no problems", ms)
            return
        messages = "; ".join(p.message for p in problems)
        self._add("plugins", WARN, f"{len(problems)} plugin problem(s): {messages}", ms)

    def _check_plugin(self, manager: PluginManager, uri: str) -> bool:
        start = time.perf_counter()
        try:
            parsed = StoreURI.parse(uri)
            cls = manager.resolve("tracking", parsed)
            info = manager.provider("tracking", parsed)
        except Exception as exc:
            self._add("plugin", FAIL, explain(exc, uri), (time.perf_counter() - start) * 1000)
            return False
        self._add(
            "plugin",
            OK,
            f"scheme {parsed.backend!r} is served by {cls.__module__}.{cls.__qualname__} "
            f"from {_plugin_label(info)}",
            (time.perf_counter() - start) * 1000,
        )
        return True

    def _opening(self) -> contextlib.AbstractContextManager[ReadOnlyOpen | None]:
        """Open stores read-only when checking without writing."""
        from trackyard.stores import read_only_opens

        return contextlib.nullcontext() if self.write else read_only_opens()

    def _check_connect(self, uri: str) -> TrackingStore | None:
        from trackyard.backends import get_tracking_store

        local_file = _local_file(uri)
        new_file = local_file is not None and not os.path.exists(local_file)
        start = time.perf_counter()
        with self._opening() as request:
            try:
                store = get_tracking_store(uri, self.artifact_root)
            except Exception as exc:
                ms = (time.perf_counter() - start) * 1000
                if request is not None and request.absent_reason:
                    self._absent = True
                    self._add("connect", WARN, _would(request.absent_reason), ms)
                else:
                    self._add("connect", FAIL, explain(exc, uri), ms)
                return None
        caps = ", ".join(store.capabilities.names()) or "none"
        how = "opened the store" if request is None else "opened the store read-only"
        detail = f"{how} ({type(store).__name__}; capabilities: {caps})"
        if request is not None:
            detail += "".join(f"; {note}" for note in request.notes)
        elif new_file:
            detail += f"; {local_file!r} did not exist and was created as a new database"
        self._add("connect", OK, detail, (time.perf_counter() - start) * 1000)
        return store

    def _client(self, store: TrackingStore) -> MlflowClient:
        from trackyard.client import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        client._store = store  # the store opened with this artifact root
        return client

    def _read(self, client: MlflowClient) -> str:
        page = client.search_experiments(max_results=100)
        more = " or more" if page.token else ""
        return f"searched experiments: {len(page)}{more} active"

    def _write_probe(self, client: MlflowClient) -> str:
        from trackyard.entities import Metric, Param, RunTag
        from trackyard.stores import now_ms

        name = str(self.scratch_experiment)
        exp_id = client.create_experiment(
            name, tags={"mlflow.note.content": "Scratch experiment of `trackyard doctor`."}
        )
        self._exp_id = exp_id
        run = client.create_run(exp_id, run_name="doctor-probe")
        self._run_id = run_id = str(run.info.run_id)
        token = uuid.uuid4().hex
        metric = Metric("doctor.probe", 0.5, now_ms(), 1)
        client.log_batch(
            run_id,
            metrics=[metric],
            params=[Param("doctor.probe", token)],
            tags=[RunTag("doctor.probe", token)],
        )
        data = client.get_run(run_id).data
        problems = []
        if data.metrics.get("doctor.probe") != 0.5:
            problems.append(f"metric read back as {data.metrics.get('doctor.probe')!r}, not 0.5")
        if data.params.get("doctor.probe") != token:
            problems.append(f"param read back as {data.params.get('doctor.probe')!r}")
        if data.tags.get("doctor.probe") != token:
            problems.append(f"tag read back as {data.tags.get('doctor.probe')!r}")
        history = client.get_metric_history(run_id, "doctor.probe")
        if [(m.value, m.step) for m in history] != [(0.5, 1)]:
            problems.append(f"metric history read back as {[m.value for m in history]!r}")
        client.set_terminated(run_id)
        if problems:
            raise TrackyardError(
                "the store accepted the writes but returned different data: " + "; ".join(problems),
                ErrorCode.DATA_LOSS,
            )
        return (
            f"created experiment {name!r} (id {exp_id}) and a run, logged a metric, a param "
            "and a tag, and read them back"
        )

    def _artifact_location(
        self, client: MlflowClient | None, store: TrackingStore | None, wrote: bool
    ) -> str:
        if client is not None and wrote and self._exp_id is not None:
            with contextlib.suppress(Exception):
                location = client.get_experiment(self._exp_id).artifact_location
                if location:
                    return str(location)
        if store is not None and store.artifact_uri:
            return str(store.artifact_uri)
        return str(self.artifact_root)

    def _check_artifacts(self, manager: PluginManager, location: str, uri: str) -> None:
        start = time.perf_counter()
        try:
            detail = self._artifact_probe(manager, location)
        except Exception as exc:
            message = f"cannot use the artifact location {mask_credentials(location)!r}: "
            message += explain(exc, location)
            self._add("artifacts", FAIL, message, (time.perf_counter() - start) * 1000)
            return
        self._add("artifacts", OK, detail, (time.perf_counter() - start) * 1000)

    def _artifact_probe(self, manager: PluginManager, location: str) -> str:
        from trackyard.backends import get_artifact_repository

        parsed = StoreURI.parse(location)
        info = manager.provider("artifact", parsed)
        repo: ArtifactRepository = get_artifact_repository(
            location, self.tracking_uri, self.registry_uri
        )
        local_root = _local_root(parsed)
        ancestor = _nearest_existing(local_root) if local_root is not None else None
        probe = f"{self.scratch_experiment}.txt"
        data = f"trackyard doctor probe {uuid.uuid4().hex}\n".encode()
        repo.write_bytes(data, probe)
        try:
            listed = [f.path for f in repo.list_artifacts()]
            if probe not in listed:
                raise TrackyardError(
                    f"wrote {probe!r} but listing the artifact root does not show it",
                    ErrorCode.DATA_LOSS,
                )
            with tempfile.TemporaryDirectory(prefix="trackyard-doctor-") as tmp:
                back = _read_bytes(repo.download_artifacts(probe, tmp))
            if back != data:
                raise TrackyardError(
                    f"wrote {len(data)} bytes to {probe!r} but read back {len(back)} different "
                    "bytes",
                    ErrorCode.DATA_LOSS,
                )
        finally:
            deleted = repo.capabilities.delete_artifacts
            if deleted:
                repo.delete_artifacts(probe)
            if local_root is not None and ancestor is not None:
                _remove_empty_dirs(local_root, ancestor)
        cls = type(repo)
        done = "wrote, listed, read back and deleted" if deleted else "wrote, listed and read back"
        detail = (
            f"{done} a probe file under {mask_credentials(location)!r} "
            f"({cls.__module__}.{cls.__qualname__} from {_plugin_label(info)})"
        )
        if not deleted:
            detail += f"; this repository cannot delete files: remove {probe!r} by hand"
        return detail

    def _cleanup(self, client: MlflowClient) -> str:
        if self._run_id is not None:
            client.delete_run(self._run_id)
        client.delete_experiment(str(self._exp_id))
        return (
            f"deleted the scratch run and experiment {self.scratch_experiment!r}. As in MLflow "
            "this is a soft delete: the experiment stays in the store as a deleted experiment "
            "(trackyard experiments list --view deleted)"
        )

    def _check_registry(self, manager: PluginManager) -> None:
        from trackyard.backends import get_registry_store
        from trackyard.search.request import RegisteredModelSearch

        uri = str(self.registry_uri)
        start = time.perf_counter()
        try:
            parsed = StoreURI.parse(uri)
            cls = manager.resolve("registry", parsed)
            info = manager.provider("registry", parsed)
        except UnknownSchemeError as exc:
            self._add(
                "registry",
                WARN,
                f"no plugin provides a model registry store for {exc.scheme!r} "
                f"({mask_credentials(uri)!r}): tracking works, but the model registry "
                "(MlflowClient's model methods, trackyard models) does not",
                (time.perf_counter() - start) * 1000,
            )
            return
        except Exception as exc:
            self._add("registry", FAIL, explain(exc, uri), (time.perf_counter() - start) * 1000)
            return
        notes: list[str] = []
        try:
            with self._opening() as request:
                try:
                    store = get_registry_store(uri, self.tracking_uri)
                except Exception:
                    if request is not None and request.absent_reason:
                        ms = (time.perf_counter() - start) * 1000
                        self._add("registry", WARN, _would(request.absent_reason), ms)
                        return
                    raise
            try:
                store.search_registered_models(RegisteredModelSearch(max_results=1))
            finally:
                if request is not None:  # opened read-only, outside the cache
                    notes = request.notes
                    with contextlib.suppress(Exception):
                        store.close()
        except Exception as exc:
            self._add("registry", FAIL, explain(exc, uri), (time.perf_counter() - start) * 1000)
            return
        self._add(
            "registry",
            OK,
            f"{mask_credentials(uri)!r}: {cls.__module__}.{cls.__qualname__} from "
            f"{_plugin_label(info)}; searched registered models"
            + (" (opened read-only)" if not self.write else "")
            + "".join(f"; {note}" for note in notes),
            (time.perf_counter() - start) * 1000,
        )


def _would(reason: str) -> str:
    """The detail of a check whose store does not exist yet (a read-only open)."""
    return f"{reason}; nothing was created (--read-only)"


def _plugin_label(info: PluginInfo) -> str:
    return info.label


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _remove_empty_dirs(path: str, stop: str) -> None:
    """Remove ``path`` and its parents while they are empty, up to (not including) ``stop``."""
    current = os.path.abspath(path)
    stop = os.path.abspath(stop)
    while current != stop and current.startswith(stop.rstrip(os.sep) + os.sep):
        try:
            os.rmdir(current)  # fails, harmlessly, when the directory is not empty
        except OSError:
            return
        current = os.path.dirname(current)


def _local_root(parsed: StoreURI) -> str | None:
    if parsed.is_path:
        return os.path.abspath(parsed.raw)
    if parsed.scheme == "file":
        path = urllib.parse.urlsplit(parsed.raw).path
        return os.path.abspath(urllib.parse.unquote(path)) if path else None
    return None


# -- the command ----------------------------------------------------------------------------------
_LABELS = {OK: "ok", WARN: "WARN", FAIL: "FAIL", SKIP: "skip"}


def _render(checks: list[Check], width: int = 100) -> str:
    name_width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        timing = "" if c.ms is None else f"  ({c.ms:.1f} ms)"
        head = f"  {_LABELS[c.status]:<4}  {c.name:<{name_width}}  "
        body = textwrap.wrap(
            c.detail + timing,
            width=max(40, width - len(head)),
            break_long_words=False,
            break_on_hyphens=False,
        ) or [""]
        lines.append(head + body[0])
        lines.extend(" " * len(head) + rest for rest in body[1:])
    return "\n".join(lines)


@click.command()
@click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    help="Tracking store to check (default: $TRACKYARD_TRACKING_URI, $MLFLOW_TRACKING_URI, "
    f"or {config.DEFAULT_TRACKING_URI}).",
)
@click.option(
    "--artifact-root",
    default=None,
    metavar="URI",
    help="Default artifact root to open the store with, checked for writing (default: "
    f"$TRACKYARD_ARTIFACT_ROOT or {config.DEFAULT_ARTIFACT_ROOT}).",
)
@click.option(
    "--registry-uri",
    default=None,
    metavar="URI",
    help="Model registry URI to check (default: $TRACKYARD_REGISTRY_URI, "
    "$MLFLOW_REGISTRY_URI, or the tracking URI).",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Check without writing: no scratch experiment, no probe file, and stores opened "
    "read-only (no database file, schema or index created; the checks say what a normal "
    "open would do).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def doctor(
    ctx: click.Context,
    tracking_uri: str | None,
    artifact_root: str | None,
    registry_uri: str | None,
    read_only: bool,
    as_json: bool,
) -> None:
    """Check a tracking store end to end and say what is wrong.

    Resolves the plugin for the URI, opens the store, reads, writes and reads back a probe
    in a scratch experiment named trackyard-doctor-<hex> (deleted afterwards: a soft delete,
    as in MLflow), checks that the artifact location is writable, and checks the model
    registry URI. Exits with status 1 when a check fails. With --read-only, nothing is
    written and the stores are opened read-only: what a normal open would create (a
    database file, a schema, missing indexes) is reported instead.
    """
    doc = Doctor(tracking_uri, artifact_root, registry_uri, write=not read_only)
    try:
        doc.run()
    finally:
        from trackyard.backends import clear_store_cache

        with contextlib.suppress(Exception):
            clear_store_cache()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "tracking_uri": mask_credentials(str(doc.tracking_uri)),
                    "artifact_root": mask_credentials(str(doc.artifact_root)),
                    "registry_uri": mask_credentials(str(doc.registry_uri)),
                    "ok": doc.ok,
                    "checks": [asdict(c) for c in doc.checks],
                },
                indent=2,
            )
        )
    else:
        click.echo(f"tracking URI:  {mask_credentials(str(doc.tracking_uri))}")
        click.echo(f"artifact root: {mask_credentials(str(doc.artifact_root))}")
        click.echo(f"registry URI:  {mask_credentials(str(doc.registry_uri))}\n")
        click.echo(_render(doc.checks))
        failed = [c for c in doc.checks if c.status == FAIL]
        warned = [c for c in doc.checks if c.status == WARN]
        click.echo("")
        if failed:
            names = ", ".join(c.name for c in failed)
            click.echo(f"{len(failed)} check(s) failed: {names}.")
        else:
            note = f" ({len(warned)} warning(s))" if warned else ""
            click.echo(f"All checks passed{note}.")
    if not doc.ok:
        ctx.exit(1)
