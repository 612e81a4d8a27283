"""Conformance tests every artifact repository must pass: :class:`ArtifactRepositorySuite`.

A backend's test module subclasses the suite and overrides one fixture,
``artifact_repo_factory``. It returns a callable ``make(subpath="")`` that builds a repository
rooted at ``<base>/<subpath>``, where ``<base>`` is a fresh, empty location unique to the test
(two calls with the same ``subpath`` in one test address the same root)::

    import pytest

    from trackyard.testing.artifacts import ArtifactRepositorySuite
    from my_plugin import MyArtifactRepository


    class TestMyRepository(ArtifactRepositorySuite):
        @pytest.fixture
        def artifact_repo_factory(self, tmp_path):
            def make(subpath: str = "") -> MyArtifactRepository:
                return MyArtifactRepository(str(tmp_path / "artifacts" / subpath))

            return make

The suite only uses the public contract of :class:`trackyard.stores.ArtifactRepository`, so it
runs unchanged against local, in-memory and remote backends. Deleting is optional: the tests
of ``delete_artifacts`` run when the repository declares ``Capabilities(delete_artifacts=True)``;
otherwise the kit checks that it raises FEATURE_DISABLED and deletes nothing.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from trackyard.entities import FileInfo
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._backend import BackendCheck
from trackyard.testing._client import require_capability
from trackyard.testing._hostile import EDGE_ARTIFACT_PATHS, LIMIT_ARTIFACT_PATHS

if TYPE_CHECKING:
    from trackyard.stores import ArtifactRepository

__all__ = ["BAD_ARTIFACT_PATHS", "ArtifactRepositorySuite"]

RepoFactory = Callable[..., "ArtifactRepository"]

BAD_ARTIFACT_PATHS: tuple[str, ...] = (
    "../x",
    "x/../../y",
    "/abs",
    "/abs/x",
    "a\\b",
    "..\\x",
    "%2e%2e/x",
    "a/%2E%2E/%2e%2e/x",
    "%2Fetc/passwd",
    "%252e%252e/x",
    "C:\\x",
    "C:/x",
    "a\x00b",
    "a/b#c",
    *EDGE_ARTIFACT_PATHS,
)
"""Artifact paths every repository must refuse with INVALID_PARAMETER_VALUE (before any I/O:
the last ones are longer or deeper than a filesystem holds)."""


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def _local_tree(root: str | Path) -> dict[str, bytes]:
    """Every file under ``root`` as ``{"posix/relative/path": content}``."""
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as fh:
                out[rel] = fh.read()
    return out


def _remote_tree(repo: ArtifactRepository, path: str | None = None) -> dict[str, int | None]:
    """Every file under ``path`` in ``repo`` as ``{path: size}``, by recursive listing."""
    out: dict[str, int | None] = {}
    for info in repo.list_artifacts(path):
        if info.is_dir:
            out.update(_remote_tree(repo, info.path))
        else:
            out[info.path] = info.file_size
    return out


def _expect_code(excinfo: pytest.ExceptionInfo[TrackyardError], code: str) -> None:
    assert excinfo.value.error_code == code, (
        f"expected error_code {code}, got {excinfo.value.error_code}: {excinfo.value}"
    )


class ArtifactRepositorySuite(BackendCheck):
    """Mixin test class: the behaviour every :class:`ArtifactRepository` must have.

    Override the ``artifact_repo_factory`` fixture (see the module docstring). Tests use the
    ``artifact_repo`` fixture (a repository at the unique base), local scratch directories
    from ``tmp_path_factory``, and nothing else.
    """

    backend_kind = "artifact"

    def _backend_under_test(self, request: pytest.FixtureRequest) -> tuple[object, str | None]:
        repo = request.getfixturevalue("artifact_repo")
        return repo, repo.artifact_uri

    # -- fixtures -------------------------------------------------------------------------------
    @pytest.fixture
    def artifact_repo_factory(self) -> RepoFactory:
        """Override me: return ``make(subpath: str = "") -> ArtifactRepository``."""
        pytest.fail(
            f"{type(self).__name__} subclasses ArtifactRepositorySuite but does not override "
            "the 'artifact_repo_factory' fixture; define it to return a callable "
            "make(subpath: str = '') -> ArtifactRepository rooted at a fresh, unique location.",
            pytrace=False,
        )

    @pytest.fixture
    def artifact_repo(self, artifact_repo_factory: RepoFactory) -> ArtifactRepository:
        """A repository at the test's unique, empty base location."""
        return artifact_repo_factory()

    @pytest.fixture
    def src_dir(self, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """An empty local directory for files to log."""
        return tmp_path_factory.mktemp("artifact-src")

    @pytest.fixture
    def dst_dir(self, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """An empty local directory to download into."""
        return tmp_path_factory.mktemp("artifact-dst")

    @pytest.fixture
    def sample_tree(self, src_dir: Path) -> Path:
        """A local directory tree: files at the top and three levels deep."""
        tree = src_dir / "tree"
        _write(tree / "top.txt", "top")
        _write(tree / "a" / "one.txt", "one")
        _write(tree / "a" / "b" / "two.bin", bytes(range(256)))
        _write(tree / "a" / "b" / "c" / "three.txt", "three")
        _write(tree / "z" / "last.txt", "")
        return tree

    @staticmethod
    def _fetch(repo: ArtifactRepository, path: str, tmp: Path) -> bytes:
        local = repo.download_artifacts(path, str(tmp))
        return Path(local).read_bytes()

    @staticmethod
    def _delete_or_skip(repo: ArtifactRepository, path: str | None = None) -> None:
        require_capability(repo, "delete_artifacts")
        repo.delete_artifacts(path)

    # -- listing ----------------------------------------------------------------------------------
    def test_empty_repository_lists_nothing(self, artifact_repo: ArtifactRepository) -> None:
        assert artifact_repo.list_artifacts() == []
        assert artifact_repo.list_artifacts("") == []
        assert artifact_repo.list_artifacts("absent") == []

    def test_list_direct_children_sorted(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        for name in ("b.txt", "a.txt", "c.txt"):
            artifact_repo.log_artifact(str(_write(src_dir / name, name * 2)))
        artifact_repo.log_artifact(str(_write(src_dir / "deep.txt", "d")), "m/n")
        artifact_repo.log_artifact(str(_write(src_dir / "k.txt", "kk")), "k")
        assert artifact_repo.list_artifacts() == [
            FileInfo("a.txt", False, 10),
            FileInfo("b.txt", False, 10),
            FileInfo("c.txt", False, 10),
            FileInfo("k", True, None),
            FileInfo("m", True, None),
        ]
        assert artifact_repo.list_artifacts("m") == [FileInfo("m/n", True, None)]
        assert artifact_repo.list_artifacts("m/n") == [FileInfo("m/n/deep.txt", False, 1)]

    def test_list_file_info_types(self, artifact_repo: ArtifactRepository, src_dir: Path) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "abc")), "d")
        (d,) = artifact_repo.list_artifacts()
        (f,) = artifact_repo.list_artifacts("d")
        assert isinstance(d, FileInfo) and isinstance(f, FileInfo)
        assert (d.path, d.is_dir, d.file_size) == ("d", True, None)
        assert (f.path, f.is_dir, f.file_size) == ("d/f.txt", False, 3)
        assert type(f.file_size) is int and type(f.is_dir) is bool and type(d.is_dir) is bool

    def test_list_a_file_returns_empty(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")), "d")
        assert artifact_repo.list_artifacts("d/f.txt") == []

    def test_list_absent_returns_empty(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")), "d")
        assert artifact_repo.list_artifacts("nope") == []
        assert artifact_repo.list_artifacts("d/nope") == []
        assert artifact_repo.list_artifacts("nope/deeper/still") == []

    def test_list_path_forms_are_equivalent(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")), "d/e")
        expected = [FileInfo("d/e", True, None)]
        assert artifact_repo.list_artifacts("d") == expected
        assert artifact_repo.list_artifacts("d/") == expected
        assert artifact_repo.list_artifacts("./d") == expected

    # -- logging ----------------------------------------------------------------------------------
    def test_log_artifact_into_root(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "a.txt", "hello")))
        assert artifact_repo.list_artifacts() == [FileInfo("a.txt", False, 5)]
        assert self._fetch(artifact_repo, "a.txt", dst_dir) == b"hello"

    @pytest.mark.parametrize("root_form", [None, "", ".", "./"])
    def test_log_artifact_root_forms(
        self, artifact_repo: ArtifactRepository, src_dir: Path, root_form: str | None
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "a.txt", "x")), root_form)
        assert artifact_repo.list_artifacts() == [FileInfo("a.txt", False, 1)]

    def test_log_artifact_into_nested_path(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "a.txt", "nested")), "x/y/z")
        assert artifact_repo.list_artifacts() == [FileInfo("x", True, None)]
        assert artifact_repo.list_artifacts("x") == [FileInfo("x/y", True, None)]
        assert artifact_repo.list_artifacts("x/y") == [FileInfo("x/y/z", True, None)]
        assert artifact_repo.list_artifacts("x/y/z") == [FileInfo("x/y/z/a.txt", False, 6)]
        assert self._fetch(artifact_repo, "x/y/z/a.txt", dst_dir) == b"nested"

    def test_log_artifact_path_is_normalised(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "a.txt", "x")), "x//y/./")
        assert _remote_tree(artifact_repo) == {"x/y/a.txt": 1}

    def test_log_artifact_missing_local_file_writes_nothing(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        with pytest.raises((TrackyardError, OSError)):
            artifact_repo.log_artifact(str(src_dir / "missing.txt"), "d")
        assert artifact_repo.list_artifacts() == []

    def test_log_artifacts_tree_into_root(
        self, artifact_repo: ArtifactRepository, sample_tree: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifacts(str(sample_tree))
        expected = _local_tree(sample_tree)
        assert _remote_tree(artifact_repo) == {k: len(v) for k, v in expected.items()}
        out = artifact_repo.download_artifacts("", str(dst_dir))
        assert _local_tree(out) == expected

    def test_log_artifacts_tree_into_nested_path(
        self, artifact_repo: ArtifactRepository, sample_tree: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifacts(str(sample_tree), "model/files")
        expected = _local_tree(sample_tree)
        assert artifact_repo.list_artifacts() == [FileInfo("model", True, None)]
        assert _remote_tree(artifact_repo, "model/files") == {
            f"model/files/{k}": len(v) for k, v in expected.items()
        }
        out = artifact_repo.download_artifacts("model/files", str(dst_dir))
        assert _local_tree(out) == expected

    def test_log_artifacts_merges_with_existing(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        _write(src_dir / "first" / "a.txt", "a")
        _write(src_dir / "second" / "b.txt", "bb")
        artifact_repo.log_artifacts(str(src_dir / "first"), "d")
        artifact_repo.log_artifacts(str(src_dir / "second"), "d")
        assert _remote_tree(artifact_repo) == {"d/a.txt": 1, "d/b.txt": 2}

    def test_write_bytes(self, artifact_repo: ArtifactRepository, dst_dir: Path) -> None:
        payload = bytes(range(256)) * 3
        artifact_repo.write_bytes(payload, "blob.bin")
        artifact_repo.write_bytes(b"", "nested/dir/empty.bin")
        artifact_repo.write_bytes(b'{"a": 1}', "nested/meta.json")
        assert _remote_tree(artifact_repo) == {
            "blob.bin": len(payload),
            "nested/dir/empty.bin": 0,
            "nested/meta.json": 8,
        }
        assert self._fetch(artifact_repo, "blob.bin", dst_dir) == payload
        assert self._fetch(artifact_repo, "nested/meta.json", dst_dir) == b'{"a": 1}'
        assert self._fetch(artifact_repo, "nested/dir/empty.bin", dst_dir) == b""

    def test_write_bytes_refuses_empty_path(self, artifact_repo: ArtifactRepository) -> None:
        with pytest.raises(TrackyardError) as excinfo:
            artifact_repo.write_bytes(b"x", "")
        _expect_code(excinfo, ErrorCode.INVALID_PARAMETER_VALUE)
        assert artifact_repo.list_artifacts() == []

    def test_overwrite_with_log_artifact(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "v1" / "f.txt", "first version")), "d")
        artifact_repo.log_artifact(str(_write(src_dir / "v2" / "f.txt", "second")), "d")
        assert artifact_repo.list_artifacts("d") == [FileInfo("d/f.txt", False, 6)]
        assert self._fetch(artifact_repo, "d/f.txt", dst_dir) == b"second"

    def test_overwrite_with_write_bytes(
        self, artifact_repo: ArtifactRepository, dst_dir: Path
    ) -> None:
        artifact_repo.write_bytes(b"a much longer first version", "f.txt")
        artifact_repo.write_bytes(b"short", "f.txt")
        assert artifact_repo.list_artifacts() == [FileInfo("f.txt", False, 5)]
        assert self._fetch(artifact_repo, "f.txt", dst_dir) == b"short"

    def test_names_with_spaces_and_unicode(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        name = "my file ü 日本 ✓.txt"
        artifact_repo.log_artifact(str(_write(src_dir / name, "uni")), "sub dir/ünï códe")
        artifact_repo.write_bytes(b"sp", "with space/and more.bin")
        assert artifact_repo.list_artifacts("sub dir/ünï códe") == [
            FileInfo(f"sub dir/ünï códe/{name}", False, 3)
        ]
        assert artifact_repo.list_artifacts() == [
            FileInfo("sub dir", True, None),
            FileInfo("with space", True, None),
        ]
        assert self._fetch(artifact_repo, f"sub dir/ünï códe/{name}", dst_dir) == b"uni"
        out = artifact_repo.download_artifacts("with space", str(dst_dir))
        assert _local_tree(out) == {"and more.bin": b"sp"}

    def test_percent_in_names_is_literal(
        self, artifact_repo: ArtifactRepository, dst_dir: Path
    ) -> None:
        artifact_repo.write_bytes(b"pct", "100%/a%20b.txt")
        assert _remote_tree(artifact_repo) == {"100%/a%20b.txt": 3}
        assert self._fetch(artifact_repo, "100%/a%20b.txt", dst_dir) == b"pct"

    def test_large_file_round_trip(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        payload = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
        artifact_repo.log_artifact(str(_write(src_dir / "big.bin", payload)), "big")
        assert artifact_repo.list_artifacts("big") == [FileInfo("big/big.bin", False, len(payload))]
        assert self._fetch(artifact_repo, "big/big.bin", dst_dir) == payload

    # -- reading in place -------------------------------------------------------------------------
    @staticmethod
    def _read_open(repo: ArtifactRepository, path: str, chunk: int = 1 << 20) -> bytes:
        parts = []
        with repo.open_artifact(path) as fh:
            while block := fh.read(chunk):
                parts.append(block)
        return b"".join(parts)

    def test_open_artifact_reads_a_file_in_chunks(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        payload = random.Random(11).randbytes(2 * 1024 * 1024 + 5)
        artifact_repo.log_artifact(str(_write(src_dir / "big.bin", payload)), "d/e")
        artifact_repo.write_bytes(b"", "empty.txt")
        assert self._read_open(artifact_repo, "d/e/big.bin", chunk=65536) == payload
        assert self._read_open(artifact_repo, "./d//e/big.bin") == payload
        assert self._read_open(artifact_repo, "empty.txt") == b""

    def test_open_artifact_refuses_directories_and_absent_files(
        self, artifact_repo: ArtifactRepository
    ) -> None:
        artifact_repo.write_bytes(b"x", "d/f.txt")
        for path, code in (
            ("d", ErrorCode.INVALID_PARAMETER_VALUE),
            ("", ErrorCode.INVALID_PARAMETER_VALUE),
            ("nope.txt", ErrorCode.RESOURCE_DOES_NOT_EXIST),
            ("d/nope.txt", ErrorCode.RESOURCE_DOES_NOT_EXIST),
        ):
            with pytest.raises(TrackyardError) as excinfo:
                self._read_open(artifact_repo, path)
            _expect_code(excinfo, code)

    # -- downloading ------------------------------------------------------------------------------
    def test_download_file_into_dst(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "b.txt", "bee")), "dir/sub")
        local = artifact_repo.download_artifacts("dir/sub/b.txt", str(dst_dir))
        assert os.path.realpath(local) == os.path.realpath(dst_dir / "dir" / "sub" / "b.txt")
        assert Path(local).read_bytes() == b"bee"
        assert _local_tree(dst_dir) == {"dir/sub/b.txt": b"bee"}

    def test_download_dir_into_dst(
        self, artifact_repo: ArtifactRepository, sample_tree: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifacts(str(sample_tree), "t")
        local = artifact_repo.download_artifacts("t/a", str(dst_dir))
        assert os.path.realpath(local) == os.path.realpath(dst_dir / "t" / "a")
        assert _local_tree(local) == {
            "one.txt": b"one",
            "b/two.bin": bytes(range(256)),
            "b/c/three.txt": b"three",
        }
        assert set(_local_tree(dst_dir)) == {"t/a/one.txt", "t/a/b/two.bin", "t/a/b/c/three.txt"}

    def test_download_everything(
        self, artifact_repo: ArtifactRepository, sample_tree: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifacts(str(sample_tree))
        local = artifact_repo.download_artifacts("", str(dst_dir))
        assert os.path.realpath(local) == os.path.realpath(dst_dir)
        assert _local_tree(dst_dir) == _local_tree(sample_tree)

    def test_download_into_temp_dir(
        self, artifact_repo: ArtifactRepository, sample_tree: Path
    ) -> None:
        artifact_repo.log_artifacts(str(sample_tree), "t")
        local_file = artifact_repo.download_artifacts("t/top.txt")
        assert Path(local_file).read_bytes() == b"top"
        local_dir = artifact_repo.download_artifacts("t/a/b")
        assert os.path.isdir(local_dir)
        assert _local_tree(local_dir) == {"two.bin": bytes(range(256)), "c/three.txt": b"three"}

    def test_download_absent_raises(
        self, artifact_repo: ArtifactRepository, src_dir: Path, dst_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")), "d")
        for absent in ("nope.txt", "d/nope.txt", "nope/deeper.txt"):
            with pytest.raises(TrackyardError) as excinfo:
                artifact_repo.download_artifacts(absent, str(dst_dir))
            _expect_code(excinfo, ErrorCode.RESOURCE_DOES_NOT_EXIST)
        assert _local_tree(dst_dir) == {}

    def test_download_into_missing_dst_raises(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")))
        missing = src_dir / "no" / "such" / "dir"
        with pytest.raises(TrackyardError) as excinfo:
            artifact_repo.download_artifacts("f.txt", str(missing))
        _expect_code(excinfo, ErrorCode.RESOURCE_DOES_NOT_EXIST)
        assert not missing.exists()

    def test_download_into_a_file_dst_raises(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")))
        not_a_dir = _write(src_dir / "plain.txt", "keep")
        with pytest.raises(TrackyardError) as excinfo:
            artifact_repo.download_artifacts("f.txt", str(not_a_dir))
        _expect_code(excinfo, ErrorCode.INVALID_PARAMETER_VALUE)
        assert not_a_dir.read_bytes() == b"keep"

    # -- refused paths ----------------------------------------------------------------------------
    @pytest.mark.parametrize("bad", BAD_ARTIFACT_PATHS)
    @pytest.mark.parametrize(
        "operation",
        [
            "log_artifact",
            "log_artifacts",
            "write_bytes",
            "list_artifacts",
            "download_artifacts",
            "open_artifact",
            "delete_artifacts",
        ],
    )
    def test_bad_paths_are_refused(
        self,
        artifact_repo: ArtifactRepository,
        src_dir: Path,
        dst_dir: Path,
        operation: str,
        bad: str,
    ) -> None:
        source = _write(src_dir / "f.txt", "payload")
        _write(src_dir / "tree" / "g.txt", "payload")
        calls: dict[str, Callable[[], object]] = {
            "log_artifact": lambda: artifact_repo.log_artifact(str(source), bad),
            "log_artifacts": lambda: artifact_repo.log_artifacts(str(src_dir / "tree"), bad),
            "write_bytes": lambda: artifact_repo.write_bytes(b"payload", bad),
            "list_artifacts": lambda: artifact_repo.list_artifacts(bad),
            "download_artifacts": lambda: artifact_repo.download_artifacts(bad, str(dst_dir)),
            "open_artifact": lambda: self._read_open(artifact_repo, bad),
            "delete_artifacts": lambda: artifact_repo.delete_artifacts(bad),
        }
        if operation == "delete_artifacts":
            require_capability(artifact_repo, "delete_artifacts")
        with pytest.raises(TrackyardError) as excinfo:
            calls[operation]()
        _expect_code(excinfo, ErrorCode.INVALID_PARAMETER_VALUE)
        assert artifact_repo.list_artifacts() == []
        assert _local_tree(dst_dir) == {}

    def test_paths_at_the_limits_round_trip(
        self, artifact_repo: ArtifactRepository, dst_dir: Path
    ) -> None:
        for path in LIMIT_ARTIFACT_PATHS:
            artifact_repo.write_bytes(b"edge", path)
            assert self._fetch(artifact_repo, path, dst_dir) == b"edge"
        assert len(_remote_tree(artifact_repo)) == len(LIMIT_ARTIFACT_PATHS)

    # -- symbolic links (local roots) -------------------------------------------------------------
    @staticmethod
    def _local_root_or_skip(repo: ArtifactRepository) -> Path:
        """The folder of a repository on the local filesystem (skips for other storage)."""
        import urllib.parse
        import urllib.request

        uri = repo.artifact_uri
        parts = urllib.parse.urlsplit(uri)
        if len(parts.scheme) <= 1:
            return Path(uri)
        if parts.scheme == "file":
            return Path(urllib.request.url2pathname(parts.path))
        pytest.skip(f"{uri!r} is not on the local filesystem: no symbolic links to follow")

    def test_links_leaving_the_root_are_not_followed(
        self, artifact_repo: ArtifactRepository, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        artifact_repo.write_bytes(b"inside", "dir/inside.txt")
        root = self._local_root_or_skip(artifact_repo)
        outside = tmp_path_factory.mktemp("outside")
        _write(outside / "secret.txt", "SECRET")
        os.symlink(outside, root / "dir" / "escape")
        os.symlink(outside / "secret.txt", root / "secret-link.txt")
        dst = tmp_path_factory.mktemp("dl")
        assert _remote_tree(artifact_repo) == {"dir/inside.txt": 6}
        artifact_repo.download_artifacts("", str(dst))
        assert _local_tree(dst) == {"dir/inside.txt": b"inside"}
        for path in ("dir/escape/secret.txt", "secret-link.txt", "dir/escape"):
            with pytest.raises(TrackyardError) as excinfo:
                artifact_repo.download_artifacts(path, str(dst))
            assert excinfo.value.error_code in (
                ErrorCode.INVALID_PARAMETER_VALUE,
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        for path in ("dir/escape/secret.txt", "secret-link.txt"):
            with pytest.raises(TrackyardError) as excinfo:
                self._read_open(artifact_repo, path)
            assert excinfo.value.error_code in (
                ErrorCode.INVALID_PARAMETER_VALUE,
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        assert b"SECRET" not in b"".join(_local_tree(dst).values())

    def test_link_cycles_are_not_followed(
        self, artifact_repo: ArtifactRepository, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        artifact_repo.write_bytes(b"a", "a/file.txt")
        artifact_repo.write_bytes(b"b", "b/file.txt")
        root = self._local_root_or_skip(artifact_repo)
        os.symlink(root, root / "a" / "to-root")  # a link to the root itself
        os.symlink(root / "a", root / "a" / "self")  # a link to its own folder
        os.symlink(root / "b", root / "a" / "to-b")  # a -> b -> a: a cycle of two links
        os.symlink(root / "a", root / "b" / "to-a")
        tree = _remote_tree(artifact_repo)
        assert len(tree) < 10, tree
        assert {"a/file.txt", "b/file.txt"} <= set(tree)
        dst = tmp_path_factory.mktemp("dl")
        artifact_repo.download_artifacts("", str(dst))
        downloaded = _local_tree(dst)
        assert {"a/file.txt", "b/file.txt"} <= set(downloaded)
        assert len(downloaded) < 10

    # -- deleting ---------------------------------------------------------------------------------
    def test_delete_without_the_capability_is_refused(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        if artifact_repo.capabilities.delete_artifacts:
            pytest.skip(f"{type(artifact_repo).__name__} declares 'delete_artifacts'")
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")))
        for path in ("f.txt", None):
            with pytest.raises(TrackyardError) as excinfo:
                artifact_repo.delete_artifacts(path)
            _expect_code(excinfo, ErrorCode.FEATURE_DISABLED)
        assert artifact_repo.list_artifacts() == [FileInfo("f.txt", False, 1)]

    def test_delete_file(self, artifact_repo: ArtifactRepository, sample_tree: Path) -> None:
        artifact_repo.log_artifacts(str(sample_tree))
        self._delete_or_skip(artifact_repo, "a/one.txt")
        tree = _remote_tree(artifact_repo)
        assert "a/one.txt" not in tree
        assert "a/b/two.bin" in tree and "top.txt" in tree

    def test_delete_directory(self, artifact_repo: ArtifactRepository, sample_tree: Path) -> None:
        artifact_repo.log_artifacts(str(sample_tree))
        self._delete_or_skip(artifact_repo, "a")
        assert _remote_tree(artifact_repo) == {"top.txt": 3, "z/last.txt": 0}
        assert artifact_repo.list_artifacts("a") == []

    def test_delete_everything(self, artifact_repo: ArtifactRepository, sample_tree: Path) -> None:
        artifact_repo.log_artifacts(str(sample_tree))
        self._delete_or_skip(artifact_repo)
        assert artifact_repo.list_artifacts() == []
        artifact_repo.write_bytes(b"again", "after.txt")  # still usable
        assert artifact_repo.list_artifacts() == [FileInfo("after.txt", False, 5)]

    def test_delete_absent_is_a_no_op(
        self, artifact_repo: ArtifactRepository, src_dir: Path
    ) -> None:
        artifact_repo.log_artifact(str(_write(src_dir / "f.txt", "x")))
        self._delete_or_skip(artifact_repo, "nope")
        self._delete_or_skip(artifact_repo, "nope/deeper")
        assert artifact_repo.list_artifacts() == [FileInfo("f.txt", False, 1)]

    # -- roots ------------------------------------------------------------------------------------
    def test_sibling_roots_are_isolated(
        self, artifact_repo_factory: RepoFactory, src_dir: Path
    ) -> None:
        run1 = artifact_repo_factory("run1")
        run10 = artifact_repo_factory("run10")
        run1.write_bytes(b"1", "m/one.txt")
        run10.write_bytes(b"10", "m/ten.txt")
        assert _remote_tree(run1) == {"m/one.txt": 1}
        assert _remote_tree(run10) == {"m/ten.txt": 2}
        if run1.capabilities.delete_artifacts:
            run1.delete_artifacts()
            assert run1.list_artifacts() == []
        assert _remote_tree(run10) == {"m/ten.txt": 2}

    def test_nested_root_is_created_on_write(
        self, artifact_repo_factory: RepoFactory, dst_dir: Path
    ) -> None:
        repo = artifact_repo_factory("exp/0123abc/artifacts")
        assert repo.list_artifacts() == []
        repo.write_bytes(b"deep", "f.txt")
        assert repo.list_artifacts() == [FileInfo("f.txt", False, 4)]
        assert self._fetch(repo, "f.txt", dst_dir) == b"deep"
        parent = artifact_repo_factory("exp/0123abc")
        assert parent.list_artifacts() == [FileInfo("artifacts", True, None)]

    def test_two_instances_share_a_root(self, artifact_repo_factory: RepoFactory) -> None:
        writer = artifact_repo_factory("shared")
        reader = artifact_repo_factory("shared")
        writer.write_bytes(b"seen", "f.txt")
        assert reader.list_artifacts() == [FileInfo("f.txt", False, 4)]

    def test_repository_keeps_its_uri(self, artifact_repo: ArtifactRepository) -> None:
        assert isinstance(artifact_repo.artifact_uri, str) and artifact_repo.artifact_uri
