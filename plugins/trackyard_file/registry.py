"""The file model registry store: registered models and versions in MLflow's ``models/`` layout.

Layout (MLflow 3.x's, next to the experiments of the same root)::

    <root>/
      .trackyard-models.lock            trackyard's registry lock (a file: MLflow ignores it);
                                        holds the undo journal of a multi-file change
      models/
        <name>/                         the registered model's name is the folder's name
          meta.yaml                     name, creation_timestamp, last_updated_timestamp,
                                        description, aliases {alias: 'version'}, ...
          tags/<key>                    value, no trailing newline; "/" makes sub-folders
          aliases/<alias>               the version number the alias points at
          version-<n>/
            meta.yaml                   name, version (int), current_stage, source,
                                        storage_location, run_id, status, ...
            tags/<key>

Behaviour follows MLflow's registry: version numbers are ``max + 1`` over every version,
deleted ones included; a deleted version keeps its folder with stage ``Deleted_Internal``
and loses its aliases; prompts are registered models tagged ``mlflow.prompt.is_prompt`` and
are left out of searches unless asked for (:mod:`trackyard.search.registry_evaluator`).

Webhooks (which MLflow's file store does not keep) live in ``<root>/.trackyard-webhooks.json``
(:mod:`trackyard_file.webhooks`).

Safety: every change happens under the registry lock. New versions are assembled in a hidden
folder and renamed to ``version-<n>`` in one step, so MLflow never sees a version without its
``meta.yaml``; a renamed model is one folder rename; a deleted model is first renamed to a
hidden name, then removed; changes touching several files use the undo journal of
:mod:`trackyard_file._txn`. Model names become folder names only after
:func:`_check_name` (no separators, no ``.``/``..``, at most 255 bytes).
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from trackyard import errors, search
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from trackyard.errors import TrackyardError
from trackyard.errors import invalid_parameter as _invalid
from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch
from trackyard.stores import Capabilities, RegistryStore, now_ms
from trackyard_file._fs import (
    CachedReader,
    FileLock,
    check_contained,
    check_root,
    dump_meta,
    fsync_policy,
    key_parts,
    read_bytes,
    remove_empty_parents,
    root_from_uri,
    write_atomic,
    writes,
)
from trackyard_file._txn import Txn, recover
from trackyard_file.importing import FileRegistryImports
from trackyard_file.webhooks import FileWebhooks

__all__ = ["FileRegistryStore"]

MODELS = "models"
META = "meta.yaml"
TAGS = "tags"
ALIASES = "aliases"
VERSION_PREFIX = "version-"
LOCK_FILE = ".trackyard-models.lock"
#: Names of trackyard's own entries inside ``models/`` and model folders.
RESERVED_PREFIX = ".trackyard-"


def _check_name(name: str, what: str = "registered model name") -> str:
    """Refuse a name that could not be one folder inside ``models/``."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(RESERVED_PREFIX)
    ):
        raise _invalid(
            f"Invalid {what} {name!r} for the file store: it must be usable as one folder "
            f"name (no '/' or '\\\\', not '.' or '..', not starting with {RESERVED_PREFIX!r})."
        )
    if len(name.encode("utf-8")) > 255:
        raise _invalid(
            f"The {what} {name[:40]!r}... is {len(name.encode('utf-8'))} bytes long in UTF-8; "
            "the file store keeps it as a folder name, which holds at most 255 bytes."
        )
    return name


def _version_number(version: object) -> int:
    try:
        return int(str(version))
    except ValueError:
        raise _invalid(f"Parameter 'version' must be an integer, got {version!r}.") from None


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


class FileRegistryStore(FileRegistryImports, FileWebhooks, RegistryStore, CachedReader):
    """MLflow's model registry store API over the ``models/`` folder of a file store root.

    Args:
        store_uri: the root folder (a path or a ``file:`` URI), usually the tracking root.
            Defaults to the tracking URI, then ``./mlruns``. Inside
            :func:`trackyard.stores.read_only_opens` nothing is created, reads write nothing,
            and every writing method raises INVALID_STATE (:func:`trackyard_file._fs.writes`).
        tracking_uri: the tracking URI (used only as the default root).
    """

    capabilities = Capabilities(
        concurrent_processes=True,
        search_or=True,
        concurrent_versions=True,
        prompts=True,
        webhooks=True,
        imports=True,
    )

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        store_uri = store_uri or tracking_uri or "./mlruns"
        super().__init__(store_uri, tracking_uri)
        self.root = root_from_uri(store_uri)
        # in trackyard.stores.read_only_opens: create nothing, refuse writes
        self._read_only = check_root(self.root) is not None
        if not self._read_only:
            os.makedirs(self.root, exist_ok=True)
        self._root_real = os.path.realpath(self.root)
        self.models = os.path.join(self.root, MODELS)
        self._lock_path = os.path.join(self.root, LOCK_FILE)
        policy = fsync_policy()
        self._sync_meta = policy in ("meta", "all")
        self._sync_data = policy == "all"
        self._init_caches()

    def __repr__(self) -> str:
        return f"FileRegistryStore({self.root!r})"

    def close(self) -> None:
        """Forget the in-memory caches (files are never kept open)."""
        self._meta_cache.clear()
        self._text_cache.clear()

    # -- locking ---------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[int]:
        """Hold the registry lock (undoing an interrupted change first); yield its fd."""
        os.makedirs(self.models, exist_ok=True)
        with FileLock(self._lock_path) as lock:
            recover(self.models, lock.fd)
            yield lock.fd

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Hold the registry lock shared while reading, so no change is half-seen.

        Without a lock file (a registry trackyard never wrote to) reads take no lock. A
        non-empty lock file is the journal of an interrupted change, undone first (read as
        it is in a read-only open).
        """
        for _ in range(3):
            try:
                lock = FileLock(self._lock_path, shared=True, create=False)
                lock.__enter__()
            except (FileNotFoundError, PermissionError):
                break
            if lock.nested or os.fstat(lock.fd).st_size == 0:
                try:
                    yield
                finally:
                    lock.__exit__(None, None, None)
                return
            lock.__exit__(None, None, None)
            if self._read_only:
                break  # opened read-only: read what is there
            try:
                with FileLock(self._lock_path) as exclusive:
                    recover(self.models, exclusive.fd)
            except PermissionError:  # a read-only store: read what is there
                break
        yield

    def _txn(self) -> Txn:
        return Txn(self.models, sync=self._sync_data, sync_meta=self._sync_meta)

    # -- paths and reading -----------------------------------------------------------------
    def _model_dir(self, name: str) -> str:
        return os.path.join(self.models, _check_name(name))

    def _has_meta(self, directory: str) -> bool:
        try:
            st = os.stat(os.path.join(directory, META), follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return stat.S_ISREG(st.st_mode) and not os.path.islink(directory)

    def _require_model(self, name: str) -> str:
        directory = self._model_dir(name)
        if not self._has_meta(directory):
            raise errors.registered_model_not_found(name)
        return directory

    def _key_path(self, base: str, key: str, what: str) -> str:
        """The file of ``key`` below ``base``; refuses symbolic links and escapes."""
        parts = key_parts(key, what)
        directory = base
        for i, part in enumerate(parts):
            directory = os.path.join(directory, part)
            try:
                st = os.lstat(directory)
            except FileNotFoundError:
                break
            if stat.S_ISLNK(st.st_mode):
                raise _invalid(f"Refusing to use {what} {key!r}: {directory!r} is a symbolic link.")
            last = i == len(parts) - 1
            if (last and stat.S_ISDIR(st.st_mode)) or (not last and not stat.S_ISDIR(st.st_mode)):
                raise _invalid(
                    f"Cannot set {what} {key!r}: the file store keeps keys as paths and another "
                    "key is in the way (a key cannot be both a value and a folder of keys)."
                )
        path = os.path.join(base, *parts)
        check_contained(self._root_real, os.path.dirname(path))
        return path

    def _version_dirs(self, model_dir: str) -> list[tuple[int, str]]:
        """``(number, folder)`` of every ``version-<n>`` folder, deleted versions included."""
        out: list[tuple[int, str]] = []
        try:
            it = os.scandir(model_dir)
        except (FileNotFoundError, NotADirectoryError):
            return out
        with it:
            for entry in it:
                name = entry.name
                if name.startswith(VERSION_PREFIX) and entry.is_dir(follow_symlinks=False):
                    try:
                        out.append((int(name[len(VERSION_PREFIX) :]), entry.path))
                    except ValueError:
                        continue
        out.sort()
        return out

    def _raw_aliases(self, model_dir: str) -> dict[str, str]:
        return self._read_values(os.path.join(model_dir, ALIASES))[0]

    def _read_version(self, name: str, number: int, directory: str) -> ModelVersion | None:
        """A version from its folder (None without meta.yaml); aliases are filled later."""
        try:
            meta = self._read_meta(os.path.join(directory, META))
        except (FileNotFoundError, NotADirectoryError):
            return None
        tags = self._read_values(os.path.join(directory, TAGS))[0]
        return ModelVersion(
            name=name,
            version=str(number),
            creation_timestamp=_opt_int(meta.get("creation_timestamp")),
            last_updated_timestamp=_opt_int(meta.get("last_updated_timestamp")),
            description=_opt_str(meta.get("description")),
            user_id=_opt_str(meta.get("user_id")),
            current_stage=str(meta.get("current_stage") or Stage.NONE),
            source=_opt_str(meta.get("source")),
            run_id=_opt_str(meta.get("run_id")) or None,
            status=str(meta.get("status") or ModelVersionStatus.READY),
            status_message=_opt_str(meta.get("status_message")),
            tags=tags,
            run_link=_opt_str(meta.get("run_link")),
            model_id=_opt_str(meta.get("model_id")),
            deployment_job_state=meta.get("deployment_job_state"),
            storage_location=_opt_str(meta.get("storage_location")),
        )

    def _versions(self, name: str, model_dir: str) -> list[ModelVersion]:
        """Every version of a model (deleted ones too), with their aliases."""
        versions = []
        for number, directory in self._version_dirs(model_dir):
            version = self._read_version(name, number, directory)
            if version is not None:
                versions.append(version)
        aliases = self._live_aliases(model_dir, versions)
        by_version: dict[str, list[str]] = {}
        for alias, target in aliases.items():
            by_version.setdefault(target, []).append(alias)
        for version in versions:
            version.aliases = sorted(by_version.get(version.version, []))
        return versions

    def _live_aliases(self, model_dir: str, versions: Sequence[ModelVersion]) -> dict[str, str]:
        """The model's aliases that point at a version that exists and is not deleted."""
        live = {v.version for v in versions if v.current_stage != Stage.DELETED_INTERNAL}
        out = {}
        for alias, target in sorted(self._raw_aliases(model_dir).items()):
            target = target.strip()
            if target in live:
                out[alias] = target
        return out

    def _load_model(self, name: str, model_dir: str) -> RegisteredModel | None:
        try:
            meta = self._read_meta(os.path.join(model_dir, META))
        except (FileNotFoundError, NotADirectoryError):
            return None
        versions = self._versions(name, model_dir)
        return RegisteredModel(
            name=name,
            creation_timestamp=_opt_int(meta.get("creation_timestamp")),
            last_updated_timestamp=_opt_int(meta.get("last_updated_timestamp")),
            description=_opt_str(meta.get("description")),
            latest_versions=_latest_per_stage(versions, Stage.ALL),
            tags=self._read_values(os.path.join(model_dir, TAGS))[0],
            aliases=self._live_aliases(model_dir, versions),
            deployment_job_id=_opt_str(meta.get("deployment_job_id")),
            deployment_job_state=meta.get("deployment_job_state"),
        )

    def _model_folders(self) -> Iterator[tuple[str, str]]:
        """``(name, folder)`` of every registered model folder."""
        try:
            it = os.scandir(self.models)
        except (FileNotFoundError, NotADirectoryError):
            return
        with it:
            for entry in it:
                if entry.name.startswith(RESERVED_PREFIX) or not entry.is_dir(
                    follow_symlinks=False
                ):
                    continue
                yield entry.name, entry.path

    def _require_version(self, name: str, version: str) -> tuple[str, str, ModelVersion]:
        model_dir = self._require_model(name)
        number = _version_number(version)
        directory = os.path.join(model_dir, f"{VERSION_PREFIX}{number}")
        found = None if os.path.islink(directory) else self._read_version(name, number, directory)
        if found is None or found.current_stage == Stage.DELETED_INTERNAL:
            raise errors.model_version_not_found(name, version)
        return model_dir, directory, found

    # -- writing helpers -------------------------------------------------------------------
    def _model_meta(self, model_dir: str, **changes: Any) -> bytes:
        """The model's meta.yaml with ``changes``; its name and aliases always current."""
        meta = dict(self._read_meta(os.path.join(model_dir, META)))
        meta.pop("tags", None)
        meta.pop("latest_versions", None)
        meta["name"] = os.path.basename(model_dir)
        meta.update(changes)
        return dump_meta(meta)

    def _version_meta(self, directory: str, name: str, **changes: Any) -> bytes:
        meta = dict(self._read_meta(os.path.join(directory, META)))
        for key in ("tags", "aliases", "metrics", "params"):
            meta.pop(key, None)
        meta["name"] = name
        meta.update(changes)
        return dump_meta(meta)

    def _alias_map(
        self, model_dir: str, *, without: str | None = None, **add: str
    ) -> dict[str, str]:
        versions = [
            v
            for v in (
                self._read_version(os.path.basename(model_dir), n, d)
                for n, d in self._version_dirs(model_dir)
            )
            if v is not None
        ]
        aliases = self._live_aliases(model_dir, versions)
        if without is not None:
            aliases = {a: v for a, v in aliases.items() if v != without}
        aliases.update(add)
        return dict(sorted(aliases.items()))

    def _write_tags(self, base: str, tags: Sequence[Any], what: str) -> None:
        planned: set[tuple[str, ...]] = set()
        for tag in tags:
            parts = key_parts(tag.key, what)
            for other in planned:
                n = min(len(other), len(parts))
                if other[:n] == parts[:n] and other != parts:
                    raise _invalid(
                        f"Cannot set {what} {tag.key!r}: {what} {'/'.join(other)!r} is in the "
                        "way (the file store keeps keys as paths)."
                    )
            planned.add(parts)
        for tag in tags:
            path = self._key_path(base, tag.key, what)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, tag.value.encode("utf-8"), tmp_dir=self.models)

    # -- registered models -----------------------------------------------------------------
    @writes
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model (RESOURCE_ALREADY_EXISTS if the name is taken)."""
        tags = list(tags or ())
        with self._writing():
            model_dir = self._model_dir(name)
            if self._has_meta(model_dir):
                raise errors.registered_model_exists(name)
            if os.path.lexists(model_dir):  # left by a creation that was interrupted
                shutil.rmtree(model_dir, ignore_errors=True)
            check_contained(self._root_real, self.models)
            os.mkdir(model_dir)
            now = now_ms()
            try:
                self._write_tags(os.path.join(model_dir, TAGS), tags, "registered model tag")
                meta = {
                    "aliases": {},
                    "creation_timestamp": now,
                    "deployment_job_id": deployment_job_id,
                    "deployment_job_state": None,
                    "description": description,
                    "last_updated_timestamp": now,
                    "name": name,
                    "workspace": "default",
                }
                write_atomic(os.path.join(model_dir, META), dump_meta(meta), sync=False)
            except BaseException:
                shutil.rmtree(model_dir, ignore_errors=True)
                raise
        return RegisteredModel(
            name=name,
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description,
            tags={t.key: t.value for t in tags},
            deployment_job_id=deployment_job_id,
        )

    @writes
    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """Set a model's description (None clears it)."""
        with self._writing():
            model_dir = self._require_model(name)
            meta = self._model_meta(
                model_dir, description=description, last_updated_timestamp=now_ms()
            )
            write_atomic(os.path.join(model_dir, META), meta, sync=self._sync_meta)
        return self.get_registered_model(name)

    @writes
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model: one folder rename; versions, tags and aliases follow."""
        with self._writing() as lock_fd:
            model_dir = self._require_model(name)
            if new_name == name:
                return self.get_registered_model(name)
            new_dir = self._model_dir(new_name)
            if self._has_meta(new_dir):
                raise errors.registered_model_exists(new_name)
            if os.path.lexists(new_dir):
                shutil.rmtree(new_dir, ignore_errors=True)
            os.rename(model_dir, new_dir)
            # The folder's name is the model's name; now make the meta.yaml files agree.
            now = now_ms()
            txn = self._txn()
            txn.replace(
                os.path.join(new_dir, META), self._model_meta(new_dir, last_updated_timestamp=now)
            )
            for _, directory in self._version_dirs(new_dir):
                if self._has_meta(directory):
                    txn.replace(
                        os.path.join(directory, META),
                        self._version_meta(directory, new_name, last_updated_timestamp=now),
                    )
            txn.apply(lock_fd)
        return self.get_registered_model(new_name)

    @writes
    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases (gone at once, then removed)."""
        with self._writing():
            model_dir = self._require_model(name)
            doomed = os.path.join(self.models, f"{RESERVED_PREFIX}deleted-{uuid.uuid4().hex}")
            os.rename(model_dir, doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model with its tags, aliases and latest version per stage."""
        with self._reading():
            model = self._load_model(name, self._require_model(name))
        if model is None:
            raise errors.registered_model_not_found(name)
        return model

    def search_registered_models(
        self, request: RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        """Return the page ``request`` asks for (prompts left out unless it asks for them)."""
        with self._reading():
            models = [
                model
                for name, directory in self._model_folders()
                if (model := self._load_model(name, directory)) is not None
            ]
        return search.search_registered_models_in_memory(models, request)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Return the newest version per stage (all four stages when ``stages`` is empty)."""
        with self._reading():
            model_dir = self._require_model(name)
            return _latest_per_stage(self._versions(name, model_dir), stages or Stage.ALL)

    @writes
    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        """Set (or overwrite) a model tag."""
        with self._writing() as lock_fd:
            model_dir = self._require_model(name)
            txn = self._txn()
            path = self._key_path(os.path.join(model_dir, TAGS), tag.key, "registered model tag")
            txn.replace(path, tag.value.encode("utf-8"))
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, last_updated_timestamp=now_ms()),
            )
            txn.apply(lock_fd)

    @writes
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a model tag (no error when absent, as MLflow)."""
        with self._writing() as lock_fd:
            model_dir = self._require_model(name)
            base = os.path.join(model_dir, TAGS)
            path = self._key_path(base, key, "registered model tag")
            if not os.path.isfile(path):
                return
            txn = self._txn()
            txn.remove(path)
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, last_updated_timestamp=now_ms()),
            )
            txn.apply(lock_fd)
            remove_empty_parents(path, base)

    # -- model versions --------------------------------------------------------------------
    @writes
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Create the next version (assembled aside, then renamed into place in one step)."""
        from trackyard.uri import version_storage_location

        storage_location = version_storage_location(self, source)
        tags = list(tags or ())
        with self._writing():
            model_dir = self._require_model(name)
            existing = self._version_dirs(model_dir)
            number = (existing[-1][0] if existing else 0) + 1
            now = now_ms()
            staging = os.path.join(model_dir, f"{RESERVED_PREFIX}new-{uuid.uuid4().hex}")
            os.mkdir(staging)
            try:
                self._write_tags(os.path.join(staging, TAGS), tags, "model version tag")
                meta = {
                    "creation_timestamp": now,
                    "current_stage": Stage.NONE,
                    "deployment_job_state": None,
                    "description": description,
                    "last_updated_timestamp": now,
                    "model_id": model_id,
                    "name": name,
                    "run_id": run_id,
                    "run_link": run_link,
                    "source": source,
                    "status": ModelVersionStatus.READY,
                    "status_message": None,
                    "storage_location": storage_location,
                    "user_id": None,
                    "version": number,
                    "workspace": "default",
                }
                write_atomic(os.path.join(staging, META), dump_meta(meta), sync=self._sync_meta)
                os.rename(staging, os.path.join(model_dir, f"{VERSION_PREFIX}{number}"))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            write_atomic(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, last_updated_timestamp=now),
                tmp_dir=self.models,
                sync=self._sync_meta,
            )
        return ModelVersion(
            name=name,
            version=str(number),
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description,
            current_stage=Stage.NONE,
            source=source,
            run_id=run_id,
            status=ModelVersionStatus.READY,
            tags={t.key: t.value for t in tags},
            run_link=run_link,
            model_id=model_id,
            storage_location=storage_location,
        )

    @writes
    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """Set a version's description."""
        with self._writing():
            _, directory, _ = self._require_version(name, version)
            write_atomic(
                os.path.join(directory, META),
                self._version_meta(
                    directory, name, description=description, last_updated_timestamp=now_ms()
                ),
                tmp_dir=self.models,
                sync=self._sync_meta,
            )
        return self.get_model_version(name, version)

    @writes
    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """Move a version to a stage, optionally archiving the others in that stage."""
        with self._writing() as lock_fd:
            model_dir, directory, found = self._require_version(name, version)
            now = now_ms()
            txn = self._txn()
            if archive_existing_versions:
                for other in self._versions(name, model_dir):
                    if other.version != found.version and other.current_stage == stage:
                        other_dir = os.path.join(model_dir, f"{VERSION_PREFIX}{other.version}")
                        txn.replace(
                            os.path.join(other_dir, META),
                            self._version_meta(
                                other_dir,
                                name,
                                current_stage=Stage.ARCHIVED,
                                last_updated_timestamp=now,
                            ),
                        )
            txn.replace(
                os.path.join(directory, META),
                self._version_meta(
                    directory, name, current_stage=stage, last_updated_timestamp=now
                ),
            )
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, last_updated_timestamp=now),
            )
            txn.apply(lock_fd)
        return self.get_model_version(name, version)

    @writes
    def delete_model_version(self, name: str, version: str) -> None:
        """Soft-delete a version as MLflow's file store does; its aliases go."""
        with self._writing() as lock_fd:
            model_dir, directory, found = self._require_version(name, version)
            now = now_ms()
            txn = self._txn()
            txn.replace(
                os.path.join(directory, META),
                self._version_meta(
                    directory,
                    name,
                    current_stage=Stage.DELETED_INTERNAL,
                    last_updated_timestamp=now,
                ),
            )
            aliases_dir = os.path.join(model_dir, ALIASES)
            for alias, target in self._raw_aliases(model_dir).items():
                if target.strip() == found.version:
                    txn.remove(self._key_path(aliases_dir, alias, "alias"))
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(
                    model_dir,
                    aliases=self._alias_map(model_dir, without=found.version),
                    last_updated_timestamp=now,
                ),
            )
            txn.apply(lock_fd)

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Return a version with its tags and aliases (deleted versions do not exist)."""
        with self._reading():
            model_dir, _, found = self._require_version(name, version)
            aliases = self._live_aliases(model_dir, self._versions(name, model_dir))
        found.aliases = sorted(a for a, v in aliases.items() if v == found.version)
        return found

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Return the version's storage location, else its source."""
        with self._reading():
            _, _, found = self._require_version(name, version)
        return str(found.storage_location or found.source or "")

    def search_model_versions(self, request: ModelVersionSearch) -> PagedList[ModelVersion]:
        """Return the page ``request`` asks for (deleted versions never; prompts when asked)."""
        versions: list[ModelVersion] = []
        with self._reading():
            for name, directory in self._model_folders():
                if self._has_meta(directory):
                    versions.extend(self._versions(name, directory))
        return search.search_model_versions_in_memory(versions, request)

    @writes
    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        """Set (or overwrite) a version tag."""
        with self._writing() as lock_fd:
            model_dir, directory, _ = self._require_version(name, version)
            txn = self._txn()
            path = self._key_path(os.path.join(directory, TAGS), tag.key, "model version tag")
            txn.replace(path, tag.value.encode("utf-8"))
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, last_updated_timestamp=now_ms()),
            )
            txn.apply(lock_fd)

    @writes
    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Delete a version tag (no error when absent, as MLflow)."""
        with self._writing() as lock_fd:
            model_dir, directory, _ = self._require_version(name, version)
            base = os.path.join(directory, TAGS)
            path = self._key_path(base, key, "model version tag")
            if not os.path.isfile(path):
                return
            txn = self._txn()
            txn.remove(path)
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, last_updated_timestamp=now_ms()),
            )
            txn.apply(lock_fd)
            remove_empty_parents(path, base)

    # -- aliases ---------------------------------------------------------------------------
    @writes
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point an alias at a version, moving it if it pointed elsewhere."""
        _check_name(alias, "alias")
        with self._writing() as lock_fd:
            model_dir, _, found = self._require_version(name, version)
            txn = self._txn()
            path = self._key_path(os.path.join(model_dir, ALIASES), alias, "alias")
            txn.replace(path, found.version.encode("utf-8"))
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(
                    model_dir,
                    aliases=self._alias_map(model_dir, **{alias: found.version}),
                    last_updated_timestamp=now_ms(),
                ),
            )
            txn.apply(lock_fd)

    @writes
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (no error when absent, as MLflow)."""
        _check_name(alias, "alias")
        with self._writing() as lock_fd:
            model_dir = self._require_model(name)
            path = self._key_path(os.path.join(model_dir, ALIASES), alias, "alias")
            if not os.path.isfile(path):
                return
            aliases = self._alias_map(model_dir)
            aliases.pop(alias, None)
            txn = self._txn()
            txn.remove(path)
            txn.replace(
                os.path.join(model_dir, META),
                self._model_meta(model_dir, aliases=aliases, last_updated_timestamp=now_ms()),
            )
            txn.apply(lock_fd)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at (INVALID_PARAMETER_VALUE if none, as MLflow)."""
        with self._reading():
            model_dir = self._require_model(name)
            try:
                aliases_dir = os.path.join(model_dir, ALIASES)
                path = self._key_path(aliases_dir, _check_name(alias, "alias"), "alias")
                target = read_bytes(path).decode("utf-8").strip()
                return self.get_model_version(name, target)
            except (FileNotFoundError, NotADirectoryError, TrackyardError):
                raise errors.alias_not_found(name, alias) from None


def _latest_per_stage(
    versions: Sequence[ModelVersion], stages: Sequence[str]
) -> list[ModelVersion]:
    """The newest version in each of ``stages`` (in that order), deleted versions excluded."""
    newest: dict[str, ModelVersion] = {}
    for version in versions:
        stage = version.current_stage
        if stage == Stage.DELETED_INTERNAL or stage not in stages:
            continue
        best = newest.get(stage)
        if best is None or int(version.version) > int(best.version):
            newest[stage] = version
    return [newest[s] for s in stages if s in newest]
