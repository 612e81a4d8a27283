"""The artifact proxy: MLflow's ``/api/2.0/mlflow-artifacts`` routes over any artifact URI.

::

    from fastapi import FastAPI
    from trackyard_rest.server.artifacts import make_artifact_router

    app = FastAPI()
    app.include_router(make_artifact_router("s3://bucket/mlartifacts"))
    app.include_router(make_artifact_router(
        "s3://bucket/mlartifacts", prefix="/ajax-api/2.0/mlflow-artifacts"))

Routes, relative to ``prefix`` (as ``mlflow server --serve-artifacts`` has them):

* ``GET artifacts?path=<dir>``: list a directory, ``{"files": [{path, is_dir, file_size}]}``
  with base names as paths (``{}`` when empty);
* ``GET artifacts/<path>``: download one file, streamed in chunks;
* ``PUT artifacts/<path>``: upload the raw request body as one file (a body over 1 MiB is
  streamed to a temporary file and then handed to the repository: never held whole in
  memory);
* ``DELETE artifacts/<path>``: delete a file or directory;
* ``POST mpu/{create,complete,abort}/<path>`` and ``GET presigned/<path>``: MLflow's
  multipart-transfer routes. No trackyard repository hands out presigned part URLs, so they
  answer MLflow's NOT_IMPLEMENTED errors, on which MLflow's client falls back to ``PUT``.

Every path is checked by :func:`checked_path` before any I/O, and the repository then
refuses symbolic links that leave a local destination. Errors are MLflow's JSON
``{"error_code", "message"}`` with its HTTP statuses; unexpected failures are logged and
answered with a generic INTERNAL_ERROR (no stack trace reaches the client).
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import posixpath
import re
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response, StreamingResponse

from trackyard.backends import get_artifact_repository
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import ArtifactRepository
from trackyard.validation import validate_artifact_path

__all__ = [
    "CHUNK_SIZE",
    "MULTIPART_DOWNLOAD_UNSUPPORTED",
    "MULTIPART_UPLOAD_UNSUPPORTED",
    "checked_path",
    "make_artifact_router",
    "stream_file",
]

_logger = logging.getLogger("trackyard.server.artifacts")

#: Bytes per read when streaming a download, and per write when spooling an upload.
CHUNK_SIZE = 1024 * 1024

#: MLflow's messages for a destination without multipart transfers; its client matches the
#: upload one (as a prefix) to fall back to a plain ``PUT``.
MULTIPART_UPLOAD_UNSUPPORTED = (
    "Multipart upload is not supported for the current artifact repository"
)
MULTIPART_DOWNLOAD_UNSUPPORTED = (
    "Multipart download is not supported for the current artifact repository"
)

# Characters no served artifact path may hold in any decoded form: path parameters (';'),
# query and fragment delimiters smuggled in encoded ('?', '#'), backslashes, control
# characters (NUL, CR/LF that would split headers) and U+FFFD, which is what an invalid
# percent-encoded UTF-8 sequence (an "overlong" '%c0%ae' dot, say) decodes to.
_UNSAFE_CHARS = re.compile(r"[;?#\\\x00-\x1f\x7f\ufffd]")
# A path still changing after this many rounds of percent-decoding is refused outright.
_MAX_DECODE_ROUNDS = 8

# Extensions served as text/plain, as MLflow's server does (so the UI can show them).
_TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "ipynb",
    ]
)
_TEXT_NAMES = frozenset({"MLmodel", "MLproject"})


class _RawPathConvertor(Convertor[str]):
    """Starlette's ``path`` convertor, but matching line breaks too: a request path with an
    encoded CR/LF reaches :func:`checked_path` (and its 400) instead of missing the route."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


_CONVERTOR = "trackyard_artifact_path"
register_url_convertor(_CONVERTOR, _RawPathConvertor())
_PATH = f"{{artifact_path:{_CONVERTOR}}}"


def checked_path(path: str | None, *, allow_empty: bool = True) -> str:
    """Check an artifact path that arrived in a request; return its canonical form.

    On top of :func:`trackyard.validation.validate_artifact_path` (``..`` segments, absolute
    POSIX and Windows paths, backslashes, NUL bytes and ``#``, in every decoded form, and
    paths too long or too deep), this refuses what only matters on the wire: ``;`` path
    parameters, ``?`` and ``#`` smuggled in percent-encoded, control characters, invalid
    percent-encoded UTF-8 and paths still percent-encoded after eight rounds of decoding.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE, before any I/O.
    """
    text = path or ""
    form = text
    for _ in range(_MAX_DECODE_ROUNDS):
        if _UNSAFE_CHARS.search(form):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid artifact path: {_shown(text)}. Path parameters (';'), '?', '#', "
                "backslashes, control characters and invalid percent-encodings are not "
                "allowed."
            )
        decoded = urllib.parse.unquote(form, errors="replace")
        if decoded == form:
            break
        form = decoded
    else:
        raise TrackyardError.invalid_parameter_value(
            f"Invalid artifact path: {_shown(text)}. It is percent-encoded too many times."
        )
    return validate_artifact_path(text, allow_empty=allow_empty)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def make_artifact_router(
    artifacts_destination: str, *, prefix: str = "/api/2.0/mlflow-artifacts"
) -> APIRouter:
    """Build the artifact proxy's routes under ``prefix`` over ``artifacts_destination``.

    Args:
        artifacts_destination: any trackyard artifact URI (a local path, ``file://``,
            ``s3://``, ``gs://``, ``memory://``, ...); the repository is made once, here.
        prefix: where the routes live; include a second router with
            ``"/ajax-api/2.0/mlflow-artifacts"`` for MLflow's UI mirror.

    Raises:
        TrackyardError: when no plugin serves the destination's scheme, or it is malformed.
    """
    repo = get_artifact_repository(artifacts_destination)
    router = APIRouter(prefix=prefix.rstrip("/"))
    _add_file_routes(router, repo)
    _add_multipart_routes(router)
    return router


# -- routes ----------------------------------------------------------------------------------------
def _add_file_routes(router: APIRouter, repo: ArtifactRepository) -> None:
    @router.get("/artifacts", name="mlflow_artifacts_list")
    async def list_artifacts(request: Request) -> Response:
        async def run() -> Response:
            rel = checked_path(request.query_params.get("path"))
            infos = await run_in_threadpool(repo.list_artifacts, rel or None)
            files = []
            for info in infos:
                entry: dict[str, Any] = {"path": posixpath.basename(info.path)}
                entry["is_dir"] = bool(info.is_dir)
                if not info.is_dir and info.file_size is not None:
                    entry["file_size"] = int(info.file_size)
                files.append(entry)
            return _json({"files": files} if files else {})

        return await _answer(run)

    @router.get(f"/artifacts/{_PATH}", name="mlflow_artifacts_download")
    async def download_artifact(artifact_path: str) -> Response:
        async def run() -> Response:
            rel = checked_path(artifact_path, allow_empty=False)
            return await stream_file(repo, rel)

        return await _answer(run)

    @router.put(f"/artifacts/{_PATH}", name="mlflow_artifacts_upload")
    async def upload_artifact(artifact_path: str, request: Request) -> Response:
        async def run() -> Response:
            rel = checked_path(artifact_path, allow_empty=False)
            if artifact_path.endswith("/"):
                raise TrackyardError.invalid_parameter_value(
                    f"Invalid artifact path {_shown(artifact_path)}: an upload names a file, "
                    "not a directory (it cannot end with '/')."
                )
            await _receive_file(repo, rel, request)
            return _json({})

        return await _answer(run)

    @router.delete(f"/artifacts/{_PATH}", name="mlflow_artifacts_delete")
    async def delete_artifact(artifact_path: str) -> Response:
        async def run() -> Response:
            rel = checked_path(artifact_path, allow_empty=False)
            await run_in_threadpool(repo.delete_artifacts, rel)
            return _json({})

        return await _answer(run)


def _add_multipart_routes(router: APIRouter) -> None:
    async def endpoint(request: Request) -> Response:
        """``mpu/{create,complete,abort}``: the request is checked as MLflow checks it (the
        path, then the body's required ``path``: the client's local file name), then
        refused as unsupported."""

        async def run() -> Response:
            checked_path(request.path_params.get("artifact_path"))
            body = await _json_body(request)
            if not isinstance(body.get("path"), str) or not body["path"]:
                raise TrackyardError.invalid_parameter_value(
                    "Missing value for required parameter 'path'. See the API docs for more "
                    "information about request parameters."
                )
            raise TrackyardError(MULTIPART_UPLOAD_UNSUPPORTED, ErrorCode.NOT_IMPLEMENTED)

        return await _answer(run)

    for action in ("create", "complete", "abort"):
        name = f"mlflow_artifacts_mpu_{action}"
        router.add_api_route(f"/mpu/{action}", endpoint, methods=["POST"], name=name)
        router.add_api_route(f"/mpu/{action}/{_PATH}", endpoint, methods=["POST"], name=name)

    @router.get(f"/presigned/{_PATH}", name="mlflow_artifacts_presigned")
    async def presigned(artifact_path: str) -> Response:
        async def run() -> Response:
            checked_path(artifact_path, allow_empty=False)
            raise TrackyardError(MULTIPART_DOWNLOAD_UNSUPPORTED, ErrorCode.NOT_IMPLEMENTED)

        return await _answer(run)


# -- transfers -------------------------------------------------------------------------------------
async def stream_file(repo: ArtifactRepository, rel: str) -> Response:
    """Open ``rel`` (errors surface here, as JSON) and stream it chunk by chunk."""
    stack = contextlib.ExitStack()
    fh: BinaryIO = await run_in_threadpool(stack.enter_context, repo.open_artifact(rel))
    try:
        size = await run_in_threadpool(_size_of, fh)
    except BaseException:
        await run_in_threadpool(stack.close)
        raise

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while block := await run_in_threadpool(fh.read, CHUNK_SIZE):
                yield block
        finally:
            # closed here, not in a thread: a cancelled stream (the client went away) could
            # not await one, and closing a file opened for reading does not block
            stack.close()

    name = posixpath.basename(rel)
    headers = {
        "Content-Disposition": _content_disposition(name),
        "X-Content-Type-Options": "nosniff",
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(chunks(), media_type=_mime_type(name), headers=headers)


def _size_of(fh: BinaryIO) -> int | None:
    """The size of an open file when it is known up front (a local file, most remote ones)."""
    with contextlib.suppress(OSError, AttributeError, ValueError, TypeError):
        return os.fstat(fh.fileno()).st_size
    size = getattr(fh, "size", None)
    return size if isinstance(size, int) else None


async def _receive_file(repo: ArtifactRepository, rel: str, request: Request) -> None:
    """Store the request body as ``rel``: a body of up to :data:`CHUNK_SIZE` is written
    from memory; a larger one is spooled to a temporary file as it arrives, then logged."""
    stream = request.stream()
    pending = bytearray()
    async for block in stream:
        pending += block
        if len(pending) >= CHUNK_SIZE:
            break
    else:
        await run_in_threadpool(repo.write_bytes, bytes(pending), rel)
        return
    head, name = posixpath.split(rel)
    with tempfile.TemporaryDirectory(prefix="trackyard-upload-") as tmp:
        local = os.path.join(tmp, name)
        with open(local, "wb") as fh:
            async for block in stream:
                pending += block
                if len(pending) >= CHUNK_SIZE:
                    await run_in_threadpool(fh.write, bytes(pending))
                    pending.clear()
            if pending:
                await run_in_threadpool(fh.write, bytes(pending))
        await run_in_threadpool(repo.log_artifact, local, head or None)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise TrackyardError.invalid_parameter_value(
            "Malformed request body: expected a JSON object."
        )
    return body


# -- responses -------------------------------------------------------------------------------------
def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status_code=status, media_type="application/json")


async def _answer(run: Callable[[], Awaitable[Response]]) -> Response:
    """Run a handler body; errors become MLflow's JSON (no traceback leaves the server)."""
    try:
        return await run()
    except TrackyardError as exc:
        body = {"error_code": exc.error_code, "message": exc.message}
        return _json(body, exc.get_http_status_code())
    except Exception:
        _logger.exception("artifact proxy: unexpected error")
        body = {
            "error_code": ErrorCode.INTERNAL_ERROR,
            "message": "The artifact proxy failed unexpectedly; see the server log.",
        }
        return _json(body, 500)


def _mime_type(name: str) -> str:
    extension = name.rpartition(".")[2] if "." in name else name
    if extension in _TEXT_EXTENSIONS or name in _TEXT_NAMES:
        return "text/plain"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 one (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quoted}"
