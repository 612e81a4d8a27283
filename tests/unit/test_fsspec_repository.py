"""Tests specific to the fsspec artifact plugin (the shared contract is in tests/conformance)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import trackyard
import trackyard_fsspec
from trackyard.entities import FileInfo
from trackyard.errors import ErrorCode, PluginLoadError, TrackyardError, UnknownSchemeError
from trackyard_fsspec import hooks
from trackyard_fsspec.repository import FsspecArtifactRepository, storage_options_from_env

pytest_plugins = ["pytester"]

INVALID = ErrorCode.INVALID_PARAMETER_VALUE

# fsspec's protocol -> class table behind its read-only ``fsspec.registry`` view; tests patch
# entries with monkeypatch so they are restored afterwards.
FSSPEC_CLASSES: dict[str, type] = importlib.import_module("fsspec.registry")._registry


def _code(excinfo: pytest.ExceptionInfo[TrackyardError]) -> str:
    return excinfo.value.error_code


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath, name)
            out[full.relative_to(root).as_posix()] = full.read_bytes()
    return out


def _subprocess_env() -> dict[str, str]:
    roots = {
        str(Path(next(iter(trackyard.__path__))).parent),
        str(Path(next(iter(trackyard_fsspec.__path__))).parent),
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*roots, env.get("PYTHONPATH", "")])
    return env


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        env=_subprocess_env(),
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


# -- fake fsspec implementations (no network, no optional packages) -------------------------------
class CountingFS(MemoryFileSystem):
    """A memory filesystem under its own protocol that counts how often it is built."""

    protocol: str | tuple[str, ...] = "trackyardfake"
    built: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        CountingFS.built.append(dict(kwargs))
        super().__init__(*args, **kwargs)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("trackyardfake://"):
            path = path[len("trackyardfake://") :]
        return super()._strip_protocol(path)


class FakeS3(CountingFS):
    """Stands in for s3fs: strips ``s3://``/``s3a://`` to ``bucket/key`` like s3fs does."""

    protocol = ("s3", "s3a")

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        for prefix in ("s3://", "s3a://"):
            if isinstance(path, str) and path.startswith(prefix):
                return path[len(prefix) :].rstrip("/")
        return path


@pytest.fixture
def counting_fs(monkeypatch: pytest.MonkeyPatch) -> type[CountingFS]:
    monkeypatch.setitem(FSSPEC_CLASSES, "trackyardfake", CountingFS)
    monkeypatch.setattr(CountingFS, "built", [])
    return CountingFS


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> type[FakeS3]:
    monkeypatch.setitem(FSSPEC_CLASSES, "s3", FakeS3)
    monkeypatch.setitem(FSSPEC_CLASSES, "s3a", FakeS3)
    monkeypatch.setattr(CountingFS, "built", [])
    for name in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "MLFLOW_S3_IGNORE_TLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", raising=False)
    return FakeS3


@pytest.fixture
def memory_bucket() -> Iterator[str]:
    bucket = f"trackyard-unit-{uuid.uuid4().hex}"
    yield bucket
    with contextlib.suppress(FileNotFoundError):
        fsspec.filesystem("memory").rm(f"/{bucket}", recursive=True)


# -- roots ----------------------------------------------------------------------------------------
def test_bare_absolute_path(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    assert (repo.protocol, repo.root, repo.is_local) == ("file", str(tmp_path / "root"), True)
    repo.write_bytes(b"x", "a.txt")
    assert (tmp_path / "root" / "a.txt").read_bytes() == b"x"


def test_bare_relative_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = FsspecArtifactRepository("rel/artifacts")
    assert repo.root == str(tmp_path / "rel" / "artifacts")
    monkeypatch.chdir("/")  # a later chdir does not move the root
    repo.write_bytes(b"x", "a.txt")
    assert (tmp_path / "rel" / "artifacts" / "a.txt").exists()


@pytest.mark.parametrize(
    "form",
    ["file://{path}", "file:{path}", "file://localhost{path}", "local://{path}"],
)
def test_file_uri_forms(tmp_path: Path, form: str) -> None:
    root = tmp_path / "root"
    repo = FsspecArtifactRepository(form.format(path=root.as_posix()))
    assert repo.root == str(root)
    repo.write_bytes(b"x", "d/a.txt")
    assert (root / "d" / "a.txt").read_bytes() == b"x"


def test_file_uri_is_percent_decoded(tmp_path: Path) -> None:
    root = tmp_path / "with space ü"
    repo = FsspecArtifactRepository(root.as_uri())
    assert "%" in root.as_uri()
    assert repo.root == str(root)


@pytest.mark.parametrize(
    "uri",
    [
        "file://otherhost/tmp/x",
        "file:///tmp/x?query=1",
        "file:///tmp/x#frag",
        "simplecache::memory://bucket/x",
        "memory+extra://bucket/x",
        "nosuchprotocol://bucket/x",
    ],
)
def test_unsupported_roots_are_refused(uri: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        FsspecArtifactRepository(uri)
    assert _code(excinfo) == INVALID


def test_local_path_with_double_colon_is_a_path(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "a::b"))
    repo.write_bytes(b"x", "f")
    assert (tmp_path / "a::b" / "f").exists()


def test_memory_root(memory_bucket: str) -> None:
    repo = FsspecArtifactRepository(f"memory://{memory_bucket}/prefix/")
    assert (repo.protocol, repo.root, repo.is_local) == (
        "memory",
        f"/{memory_bucket}/prefix",
        False,
    )
    repo.write_bytes(b"mem", "d/a.txt")
    assert fsspec.filesystem("memory").cat_file(f"/{memory_bucket}/prefix/d/a.txt") == b"mem"


def test_scheme_case_is_ignored(memory_bucket: str) -> None:
    repo = FsspecArtifactRepository(f"MEMORY://{memory_bucket}/p")
    assert repo.root == f"/{memory_bucket}/p"


# -- construction is cheap; filesystem made lazily -----------------------------------------------
def test_filesystem_is_made_on_first_use(counting_fs: type[CountingFS]) -> None:
    repo = FsspecArtifactRepository(
        "trackyardfake://bucket/p", storage_options={"skip_instance_cache": True, "opt": 1}
    )
    assert counting_fs.built == []
    assert repo.root == "/bucket/p"
    assert repo.list_artifacts() == []
    assert counting_fs.built == [{"opt": 1}]  # fsspec consumes skip_instance_cache
    repo.list_artifacts()
    assert len(counting_fs.built) == 1


def test_filesystem_is_remade_after_fork(
    counting_fs: type[CountingFS], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FsspecArtifactRepository(
        "trackyardfake://bucket/p", storage_options={"skip_instance_cache": True}
    )
    parent_fs = repo.fs
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    child_fs = repo.fs
    assert child_fs is not parent_fs
    assert len(counting_fs.built) == 2


def test_s3_root_and_env_endpoint(fake_s3: type[FakeS3], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws.invalid:9000")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    repo = FsspecArtifactRepository("s3://bucket/exp/1/artifacts")
    assert repo.root == "bucket/exp/1/artifacts"
    assert repo.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}
    assert fake_s3.built == []  # nothing built, nothing contacted
    explicit = FsspecArtifactRepository(
        "s3a://bucket/x", storage_options={"endpoint_url": "http://explicit:1"}
    )
    assert explicit.storage_options["endpoint_url"] == "http://explicit:1"
    assert explicit.root == "bucket/x"


def test_storage_options_from_env_s3() -> None:
    assert storage_options_from_env("s3", {}) == {}
    assert storage_options_from_env("s3", {"AWS_ENDPOINT_URL": "http://a"}) == {
        "endpoint_url": "http://a"
    }
    both = {"AWS_ENDPOINT_URL": "http://a", "MLFLOW_S3_ENDPOINT_URL": "http://m"}
    assert storage_options_from_env("s3a", both) == {"endpoint_url": "http://m"}
    env = {"MLFLOW_S3_IGNORE_TLS": "true", "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path"}
    assert storage_options_from_env("s3", env) == {
        "client_kwargs": {"verify": False},
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    }
    assert storage_options_from_env("s3", {"MLFLOW_S3_IGNORE_TLS": "false"}) == {}


def test_storage_options_from_env_gcs() -> None:
    assert storage_options_from_env("gs", {}) == {}
    assert storage_options_from_env("gs", {"STORAGE_EMULATOR_HOST": "localhost:4443"}) == {
        "endpoint_url": "http://localhost:4443",
        "token": "anon",
    }
    assert storage_options_from_env("gcs", {"STORAGE_EMULATOR_HOST": "https://h:1"}) == {
        "endpoint_url": "https://h:1",
        "token": "anon",
    }
    assert storage_options_from_env("memory", {"STORAGE_EMULATOR_HOST": "h"}) == {}


# -- missing optional dependencies ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "module", "hint"),
    [
        ("s3://bucket/x", "s3fs", 'pip install "trackyard[s3]"'),
        ("s3a://bucket/x", "s3fs", 'pip install "trackyard[s3]"'),
        ("gs://bucket/x", "gcsfs", 'pip install "trackyard[gcs]"'),
        ("gcs://bucket/x", "gcsfs", 'pip install "trackyard[gcs]"'),
        ("abfss://container@account.dfs.core.windows.net/x", "adlfs", "pip install adlfs"),
        ("hf://datasets/org/name", "huggingface_hub", "pip install huggingface_hub"),
    ],
)
def test_missing_dependency_gives_install_hint(
    monkeypatch: pytest.MonkeyPatch, uri: str, module: str, hint: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it raises ImportError
    for protocol in ("s3", "s3a", "gs", "gcs", "abfs", "abfss", "hf"):
        monkeypatch.delitem(FSSPEC_CLASSES, protocol, raising=False)
    with pytest.raises(PluginLoadError) as excinfo:
        FsspecArtifactRepository(uri)
    assert hint in str(excinfo.value)
    assert excinfo.value.plugin == "trackyard_fsspec"
    assert isinstance(excinfo.value, ImportError)
    assert isinstance(excinfo.value.__cause__, ImportError)


# -- accepts_scheme (the fallback) ----------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["s3", "S3", "gs", "webdav", "oci", "sftp", "abfss", "file"])
def test_accepts_schemes_fsspec_knows(scheme: str) -> None:
    assert FsspecArtifactRepository.accepts_scheme(scheme)


@pytest.mark.parametrize(
    "scheme", ["nosuch", "http", "https", "simplecache", "zip", "runs", "mlflow-artifacts"]
)
def test_refuses_other_schemes(scheme: str) -> None:
    assert not FsspecArtifactRepository.accepts_scheme(scheme)


def test_accepts_runtime_registered_protocol(counting_fs: type[CountingFS]) -> None:
    assert FsspecArtifactRepository.accepts_scheme("trackyardfake")


def test_accepts_scheme_imports_no_implementation() -> None:
    modules = _modules_after(
        "from trackyard_fsspec.repository import FsspecArtifactRepository as R\n"
        "assert R.accepts_scheme('s3') and R.accepts_scheme('gs') and R.accepts_scheme('webdav')"
    )
    assert not {"s3fs", "gcsfs", "webdav4", "adlfs"} & modules


# -- hooks ----------------------------------------------------------------------------------------
def test_hook_specs() -> None:
    specs = hooks.trackyard_artifact_repositories()
    assert all(spec.target == hooks.TARGET for spec in specs)
    claimed = [scheme for spec in specs for scheme in spec.schemes]
    assert len(claimed) == len(set(claimed))
    expected = {"file", "memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}
    expected |= {"hdfs", "webhdfs", "sftp", "ftp", "hf"}
    assert set(claimed) == expected
    hints = {scheme: spec.install_hint for spec in specs for scheme in spec.schemes}
    assert hints["s3"] == hints["s3a"] == 'pip install "trackyard[s3]"'
    assert hints["gs"] == hints["gcs"] == 'pip install "trackyard[gcs]"'
    assert hints["abfss"] == "pip install adlfs"
    assert all(hints.values())
    fallbacks = [spec for spec in specs if spec.fallback]
    assert len(fallbacks) == 1 and fallbacks[0].schemes == ()


def test_hook_target_resolves() -> None:
    module, _, attr = hooks.TARGET.partition(":")
    assert getattr(importlib.import_module(module), attr) is FsspecArtifactRepository


def test_hook_module_is_light() -> None:
    modules = _modules_after(
        "import trackyard_fsspec.hooks as h\nh.trackyard_artifact_repositories()"
    )
    assert "fsspec" not in modules
    assert "trackyard_fsspec.repository" not in modules


def test_plugin_manager_resolution() -> None:
    from trackyard.plugins.manager import PluginManager

    pm = PluginManager(load_entry_points=False)
    pm.register(hooks, "trackyard_fsspec")
    for uri in ("/tmp/x", "relative/dir", "file:///tmp/x", "memory://b/p", "s3://b/p"):
        assert pm.resolve("artifact", uri) is FsspecArtifactRepository
    assert pm.resolve("artifact", "webdav://host/x") is FsspecArtifactRepository  # fallback
    with pytest.raises(UnknownSchemeError):
        pm.resolve("artifact", "nosuchscheme://x")


# -- local safety: symlinks inside the root -------------------------------------------------------
@pytest.fixture
def escape(tmp_path: Path) -> tuple[FsspecArtifactRepository, Path, Path]:
    """A local repository whose root holds ``link`` -> an outside dir and ``flink`` -> a file."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    _write(outside / "secret.txt", "secret")
    _write(root / "inside.txt", "in")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "flink").symlink_to(outside / "secret.txt")
    return FsspecArtifactRepository(str(root)), root, outside


def _assert_outside_untouched(outside: Path) -> None:
    assert _files(outside) == {"secret.txt": b"secret"}


@pytest.mark.parametrize("artifact_path", ["link", "link/sub", "link/."])
def test_symlink_escape_refused_for_log_artifact(
    escape: tuple[FsspecArtifactRepository, Path, Path], tmp_path: Path, artifact_path: str
) -> None:
    repo, _root, outside = escape
    src = _write(tmp_path / "src" / "f.txt", "payload")
    with pytest.raises(TrackyardError) as excinfo:
        repo.log_artifact(str(src), artifact_path)
    assert _code(excinfo) == INVALID
    _assert_outside_untouched(outside)


def test_symlink_escape_refused_for_log_artifacts_before_any_write(
    escape: tuple[FsspecArtifactRepository, Path, Path], tmp_path: Path
) -> None:
    repo, root, outside = escape
    tree = tmp_path / "tree"
    _write(tree / "aaa-first.txt", "1")
    _write(tree / "link" / "x.txt", "2")  # lands in root/link -> outside
    with pytest.raises(TrackyardError) as excinfo:
        repo.log_artifacts(str(tree))
    assert _code(excinfo) == INVALID
    assert not (root / "aaa-first.txt").exists()
    _assert_outside_untouched(outside)
    with pytest.raises(TrackyardError):
        repo.log_artifacts(str(tree), "link")
    _assert_outside_untouched(outside)


@pytest.mark.parametrize("artifact_file", ["link/new.txt", "link/secret.txt", "flink"])
def test_symlink_escape_refused_for_write_bytes(
    escape: tuple[FsspecArtifactRepository, Path, Path], artifact_file: str
) -> None:
    repo, _root, outside = escape
    with pytest.raises(TrackyardError) as excinfo:
        repo.write_bytes(b"overwritten", artifact_file)
    assert _code(excinfo) == INVALID
    _assert_outside_untouched(outside)


def test_symlink_escape_refused_for_list(
    escape: tuple[FsspecArtifactRepository, Path, Path],
) -> None:
    repo, _root, _outside = escape
    with pytest.raises(TrackyardError) as excinfo:
        repo.list_artifacts("link")
    assert _code(excinfo) == INVALID
    # links that leave the root are not part of the repository's listing
    assert repo.list_artifacts() == [FileInfo("inside.txt", False, 2)]


@pytest.mark.parametrize("artifact_path", ["link", "link/secret.txt", "flink"])
def test_symlink_escape_refused_for_download(
    escape: tuple[FsspecArtifactRepository, Path, Path], tmp_path: Path, artifact_path: str
) -> None:
    repo, _root, _outside = escape
    dst = tmp_path / "dst"
    dst.mkdir()
    with pytest.raises(TrackyardError) as excinfo:
        repo.download_artifacts(artifact_path, str(dst))
    assert _code(excinfo) == INVALID
    with pytest.raises(TrackyardError) as excinfo:
        repo._download_file(artifact_path, str(dst / "direct"))
    assert _code(excinfo) == INVALID
    assert _files(dst) == {}


def test_download_everything_skips_escaping_links(
    escape: tuple[FsspecArtifactRepository, Path, Path], tmp_path: Path
) -> None:
    repo, _root, _outside = escape
    dst = tmp_path / "dst"
    dst.mkdir()
    repo.download_artifacts("", str(dst))
    assert _files(dst) == {"inside.txt": b"in"}


def test_symlink_escape_refused_for_delete(
    escape: tuple[FsspecArtifactRepository, Path, Path],
) -> None:
    repo, root, outside = escape
    with pytest.raises(TrackyardError) as excinfo:
        repo.delete_artifacts("link/secret.txt")
    assert _code(excinfo) == INVALID
    _assert_outside_untouched(outside)
    repo.delete_artifacts("link")  # removes the link itself, not its target
    assert not os.path.lexists(root / "link")
    repo.delete_artifacts()
    assert list(root.iterdir()) == []
    _assert_outside_untouched(outside)


def test_symlinks_within_the_root_work(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root / "real" / "f.txt", "data")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    repo = FsspecArtifactRepository(str(root))
    assert repo.list_artifacts("alias") == [FileInfo("alias/f.txt", False, 4)]
    dst = tmp_path / "dst"
    dst.mkdir()
    assert Path(repo.download_artifacts("alias/f.txt", str(dst))).read_bytes() == b"data"


def test_root_that_is_a_symlink_works(tmp_path: Path) -> None:
    real = tmp_path / "real-root"
    real.mkdir()
    (tmp_path / "root-link").symlink_to(real, target_is_directory=True)
    repo = FsspecArtifactRepository(str(tmp_path / "root-link"))
    repo.write_bytes(b"x", "d/f.txt")
    assert (real / "d" / "f.txt").read_bytes() == b"x"
    assert repo.list_artifacts("d") == [FileInfo("d/f.txt", False, 1)]


# -- download safety: a hostile listing or destination cannot escape dst ---------------------------
class HostileFS(MemoryFileSystem):
    """A remote store that lists whatever ``names`` says, as a compromised server might."""

    protocol: str | tuple[str, ...] = "trackyardhostile"
    names: list[str] = []

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("trackyardhostile://"):
            path = path[len("trackyardhostile://") :]
        return path.rstrip("/") if isinstance(path, str) else path

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return {"name": self._strip_protocol(path), "type": "directory", "size": 0}

    def find(self, path: str, *args: Any, **kwargs: Any) -> Any:
        return {n: {"name": n, "type": "file", "size": 4} for n in self.names}

    def get_file(self, rpath: str, lpath: str, **kwargs: Any) -> None:
        with open(lpath, "wb") as fh:
            fh.write(b"evil")


@pytest.mark.parametrize(
    "name",
    [
        "bucket/root/../evil.txt",
        "bucket/root/ok/../../evil.txt",
        "bucket/root/..",
        "bucket/root//evil.txt",
        "bucket/root/a\\..\\..\\evil.txt",
        "bucket/other/evil.txt",
        "/etc/evil.txt",
        "bucket/root/C:/evil.txt",
    ],
)
def test_hostile_listing_is_refused_before_any_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setitem(FSSPEC_CLASSES, "trackyardhostile", HostileFS)
    monkeypatch.setattr(HostileFS, "names", ["bucket/root/aaa-harmless.txt", name])
    repo = FsspecArtifactRepository("trackyardhostile://bucket/root")
    dst = tmp_path / "box" / "dst"
    dst.mkdir(parents=True)
    for path in ("", "sub"):
        with pytest.raises(TrackyardError) as excinfo:
            repo.download_artifacts(path, str(dst))
        assert _code(excinfo) == INVALID
        assert "listing" in str(excinfo.value)
    assert _files(tmp_path / "box") == {}
    assert list(dst.iterdir()) == []


def test_symlink_in_dst_cannot_redirect_download(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    repo.write_bytes(b"payload", "d/f.txt")
    dst = tmp_path / "dst"
    dst.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (dst / "d").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(TrackyardError) as excinfo:
        repo.download_artifacts("d/f.txt", str(dst))
    assert _code(excinfo) == INVALID
    with pytest.raises(TrackyardError):
        repo.download_artifacts("", str(dst))
    assert list(elsewhere.iterdir()) == []


# -- local writes are atomic ---------------------------------------------------------------------
def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    _write(tmp_path / "src" / "a.txt", "a")
    _write(tmp_path / "src" / "sub" / "b.txt", "b")
    repo.log_artifact(str(tmp_path / "src" / "a.txt"), "x")
    repo.log_artifacts(str(tmp_path / "src"), "y")
    repo.write_bytes(b"c", "z/c.txt")
    repo.write_bytes(b"cc", "z/c.txt")
    assert sorted(_files(tmp_path / "root")) == [
        "x/a.txt",
        "y/a.txt",
        "y/sub/b.txt",
        "z/c.txt",
    ]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    repo.write_bytes(b"old", "f.txt")
    src = _write(tmp_path / "src" / "f.txt", "new content")
    # A real failure halfway through the copy: the file size limit (in a child process).
    script = f"""
import resource, signal, sys
from trackyard_fsspec.repository import FsspecArtifactRepository
repo = FsspecArtifactRepository({str(tmp_path / "root")!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (6, resource.RLIM_INFINITY))
try:
    repo.log_artifact({str(src)!r})
except OSError as exc:
    print("failed", exc.errno)
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        check=True,
    )
    assert out.stdout.split() == ["failed", "27"], out.stderr  # EFBIG
    assert _files(tmp_path / "root") == {"f.txt": b"old"}


def test_temporary_names_are_not_listed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root / f".trackyard-{uuid.uuid4().hex}.part", "half")
    _write(root / ".hidden", "h")
    repo = FsspecArtifactRepository(str(root))
    assert repo.list_artifacts() == [FileInfo(".hidden", False, 1)]


def test_file_and_directory_collisions_are_refused(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    repo.write_bytes(b"x", "d/f.txt")
    with pytest.raises(TrackyardError) as excinfo:
        repo.write_bytes(b"y", "d")  # d is a directory
    assert _code(excinfo) == INVALID
    with pytest.raises(TrackyardError) as excinfo:
        repo.write_bytes(b"y", "d/f.txt/g.txt")  # d/f.txt is a file
    assert _code(excinfo) == INVALID
    assert _files(tmp_path / "root") == {"d/f.txt": b"x"}


# -- odd inputs -----------------------------------------------------------------------------------
def test_unaddressable_names_are_not_listed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root / "ok.txt", "ok")
    _write(root / "hash#name.txt", "h")
    _write(root / "back\\slash.txt", "b")
    _write(root / "%2e%2e", "p")
    repo = FsspecArtifactRepository(str(root))
    assert repo.list_artifacts() == [FileInfo("ok.txt", False, 2)]
    dst = tmp_path / "dst"
    dst.mkdir()
    repo.download_artifacts("", str(dst))
    assert _files(dst) == {"ok.txt": b"ok"}


def test_log_artifact_refuses_unaddressable_file_name(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    src = _write(tmp_path / "src" / "a#b.txt", "x")
    with pytest.raises(TrackyardError) as excinfo:
        repo.log_artifact(str(src))
    assert _code(excinfo) == INVALID
    assert not (tmp_path / "root").exists()


def test_log_artifact_requires_a_file(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    for bad in (tmp_path / "missing.txt", tmp_path):
        with pytest.raises(TrackyardError) as excinfo:
            repo.log_artifact(str(bad))
        assert _code(excinfo) == INVALID
    with pytest.raises(TrackyardError) as excinfo:
        repo.log_artifacts(str(tmp_path / "missing-dir"))
    assert _code(excinfo) == INVALID


def test_log_artifact_accepts_pathlike(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(tmp_path / "root")  # type: ignore[arg-type]
    repo.log_artifact(_write(tmp_path / "src" / "p.txt", "p"), "d")  # type: ignore[arg-type]
    assert repo.list_artifacts("d") == [FileInfo("d/p.txt", False, 1)]


def test_delete_everything_keeps_the_local_root(tmp_path: Path) -> None:
    repo = FsspecArtifactRepository(str(tmp_path / "root"))
    repo.write_bytes(b"x", "d/f.txt")
    repo.delete_artifacts()
    assert (tmp_path / "root").is_dir() and list((tmp_path / "root").iterdir()) == []
    FsspecArtifactRepository(str(tmp_path / "never-made")).delete_artifacts()


def test_delete_everything_in_memory_spares_siblings(memory_bucket: str) -> None:
    repo = FsspecArtifactRepository(f"memory://{memory_bucket}/run1")
    sibling = FsspecArtifactRepository(f"memory://{memory_bucket}/run1-other")
    repo.write_bytes(b"1", "a/b.txt")
    sibling.write_bytes(b"2", "c.txt")
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert sibling.list_artifacts() == [FileInfo("c.txt", False, 1)]


# -- the conformance kit itself -------------------------------------------------------------------
def test_suite_fails_fast_without_factory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_missing_factory="""
        from trackyard.testing.artifacts import ArtifactRepositorySuite

        class TestForgot(ArtifactRepositorySuite):
            pass
        """
    )
    result = pytester.runpytest("-k", "test_empty_repository_lists_nothing", "-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*does not override*'artifact_repo_factory' fixture*"])
