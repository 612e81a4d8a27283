"""How files move: a bounded worker pool, retries with backoff, chunked transfers, progress.

Settings come from the environment (:meth:`TransferSettings.from_env`):

``TRACKYARD_ARTIFACT_MAX_WORKERS``
    files transferred at once (default 8; sftp and ftp always use 1).
``TRACKYARD_ARTIFACT_CHUNK_SIZE``
    part size of multipart (S3) and resumable (GCS) transfers, in bytes or with a ``KiB``,
    ``MiB`` or ``GiB`` suffix (default 8 MiB). Files above it are sent one at a time, in
    parts, four parts at once, so memory stays bounded whatever the file size.
``TRACKYARD_ARTIFACT_RETRIES``
    how often a transfer that failed with a transient error (connection reset, timeout,
    throttling, 5xx) is tried again, waiting 0.5 s, 1 s, 2 s ... (default 3).
``TRACKYARD_ARTIFACT_PROGRESS``
    ``auto`` (default): a progress bar on stderr when it is a terminal and a transfer takes
    more than two seconds; ``always``/``1``: a bar on stderr from the start, terminal or
    not; ``never``/``0``: no bar.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from fsspec.callbacks import Callback

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.errors import invalid_parameter as _invalid

__all__ = [
    "ByteCounter",
    "Progress",
    "TransferSettings",
    "is_transient",
    "parse_size",
    "run_parallel",
    "storage_errors",
    "with_retries",
]

T = TypeVar("T")

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

# Protocols whose clients are not safe to share between threads.
_SERIAL_PROTOCOLS = frozenset({"sftp", "ssh", "ftp"})

# Exception class names (any module) that mean "try again": connection trouble, timeouts,
# throttling. Matched by name so no cloud SDK has to be imported to check.
_TRANSIENT_NAMES = frozenset(
    {
        "ClientConnectionError",
        "ClientConnectorError",
        "ClientOSError",
        "ClientPayloadError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "EndpointConnectionError",
        "IncompleteRead",
        "IncompleteReadError",
        "ProtocolError",
        "ReadTimeoutError",
        "RemoteDisconnected",
        "ResponseStreamingError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
    }
)
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EAGAIN,
    }
)
_TRANSIENT_TEXT = re.compile(
    r"(SlowDown|Throttl|RequestTimeout|InternalError|ServiceUnavailable|"
    r"\b5\d\d\b|timed out|Connection reset|temporarily)",
    re.I,
)


def parse_size(text: str, variable: str) -> int:
    """Parse ``"8MiB"``, ``"65536"`` or ``"2g"`` into bytes (INVALID_PARAMETER_VALUE if bad)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise TrackyardError.invalid_parameter_value(
            f"{variable}={text!r} is not a size (e.g. 8388608, 8MiB, 1GiB)."
        )
    unit = (match.group(2) or "").lower()[:1]
    value = int(match.group(1)) * _UNITS[unit]
    if value <= 0:
        raise TrackyardError.invalid_parameter_value(f"{variable} must be positive.")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise TrackyardError.invalid_parameter_value(
            f"{name}={text!r} must be an integer >= {minimum}."
        )
    return value


@dataclass(frozen=True)
class TransferSettings:
    """How an artifact repository moves files (see the module docstring for the variables).

    Attributes:
        max_workers: files transferred at once.
        chunk_size: part size of multipart/resumable transfers; files above it go one at a
            time, in parts.
        part_concurrency: parts of one large file in flight at once.
        retries: extra attempts after a transient error.
        backoff: the first wait between attempts, in seconds (doubled each time, jittered).
        progress: ``"auto"``, ``"always"`` or ``"never"``.
    """

    max_workers: int = 8
    chunk_size: int = 8 * 1024 * 1024
    part_concurrency: int = 4
    retries: int = 3
    backoff: float = 0.5
    progress: str = "auto"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TransferSettings:
        """Read the ``TRACKYARD_ARTIFACT_*`` variables (INVALID_PARAMETER_VALUE if malformed)."""
        env = os.environ if environ is None else environ
        chunk_text = env.get("TRACKYARD_ARTIFACT_CHUNK_SIZE", "").strip()
        chunk = (
            parse_size(chunk_text, "TRACKYARD_ARTIFACT_CHUNK_SIZE")
            if chunk_text
            else cls.chunk_size
        )
        if chunk < 5 * 1024 * 1024:
            raise TrackyardError.invalid_parameter_value(
                "TRACKYARD_ARTIFACT_CHUNK_SIZE must be at least 5 MiB (the smallest S3 part)."
            )
        chunk -= chunk % (256 * 1024)  # GCS resumable chunks are multiples of 256 KiB
        progress = env.get("TRACKYARD_ARTIFACT_PROGRESS", "auto").strip().lower() or "auto"
        progress = {"1": "always", "true": "always", "on": "always", "yes": "always"}.get(
            progress, progress
        )
        progress = {"0": "never", "false": "never", "off": "never", "no": "never"}.get(
            progress, progress
        )
        if progress not in ("auto", "always", "never"):
            raise TrackyardError.invalid_parameter_value(
                "TRACKYARD_ARTIFACT_PROGRESS must be auto, always (1) or never (0)."
            )
        return cls(
            max_workers=_positive_int(env, "TRACKYARD_ARTIFACT_MAX_WORKERS", cls.max_workers, 1),
            chunk_size=chunk,
            retries=_positive_int(env, "TRACKYARD_ARTIFACT_RETRIES", cls.retries, 0),
            progress=progress,
        )

    def workers_for(self, protocol: str) -> int:
        """Workers for ``protocol``: 1 for clients that cannot be shared between threads."""
        return 1 if protocol in _SERIAL_PROTOCOLS else self.max_workers

    def put_kwargs(self, protocol: str) -> dict[str, Any]:
        """Keyword arguments for ``fs.put_file`` that bound memory on known protocols."""
        if protocol in ("s3", "s3a"):
            return {"chunksize": self.chunk_size, "max_concurrency": self.part_concurrency}
        if protocol in ("gs", "gcs"):
            return {"chunksize": self.chunk_size}
        return {}

    def get_kwargs(self, protocol: str) -> dict[str, Any]:
        """Keyword arguments for ``fs.get_file`` that bound memory on known protocols."""
        if protocol in ("s3", "s3a"):
            return {"chunksize": self.chunk_size, "max_concurrency": self.part_concurrency}
        if protocol in ("gs", "gcs"):
            return {"concurrency": self.part_concurrency, "chunk_size": self.chunk_size}
        return {}


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` looks like a passing network or service problem worth retrying."""
    if isinstance(exc, TrackyardError):
        return False
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    for cls in type(exc).__mro__:
        if cls.__name__ in _TRANSIENT_NAMES:
            return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    if isinstance(exc, OSError) and exc.errno is None and _TRANSIENT_TEXT.search(str(exc)):
        return True  # s3fs wraps service errors (SlowDown, 503) as OSError without errno
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def with_retries(
    fn: Callable[[], T],
    settings: TransferSettings,
    *,
    describe: str = "transfer",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; after a transient error wait and try again, up to ``settings.retries`` times.

    The wait doubles from ``settings.backoff`` (with up to 25 % jitter) and is capped at 8 s.
    The last error is raised as it is.
    """
    import logging

    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if attempt >= settings.retries or not is_transient(exc):
                raise
            delay = min(8.0, settings.backoff * (2**attempt)) * (1 + random.random() / 4)
            attempt += 1
            logging.getLogger("trackyard.artifacts.fsspec").info(
                "%s failed (%s: %s); attempt %d of %d in %.1fs",
                describe,
                type(exc).__name__,
                exc,
                attempt + 1,
                settings.retries + 1,
                delay,
            )
            sleep(delay)


def run_parallel(
    tasks: Sequence[Callable[[], T]],
    workers: int,
    *,
    sequential: Iterable[Callable[[], object]] = (),
) -> list[T]:
    """Run ``tasks`` on at most ``workers`` threads, and ``sequential`` ones on the caller's;
    return the results of ``tasks``, in their order.

    The first failure cancels the tasks not started yet and is raised after the running ones
    end, so nothing is left running in the background.
    """
    big = list(sequential)
    if workers <= 1 or len(tasks) <= 1:
        results = [task() for task in tasks]
        for task in big:
            task()
        return results
    with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        futures: list[Future[T]] = [pool.submit(task) for task in tasks]
        try:
            for task in big:  # large files go one at a time while small ones stream past
                task()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in done if not f.cancelled() and f.exception()), None)
        if failed is not None:
            for future in pending:
                future.cancel()
            wait(pending)
            exc = failed.exception()
            assert exc is not None
            raise exc
        return [future.result() for future in futures]


class Progress:
    """A byte counter that shows a progress bar on stderr when the settings say so.

    Use as a context manager; :meth:`update` is thread-safe. With tqdm installed its bar is
    used; otherwise a one-line bar is drawn. In ``auto`` mode nothing appears for transfers
    that end within :attr:`delay` seconds or when stderr is not a terminal.
    """

    delay: float = 2.0

    def __init__(
        self,
        total: int,
        description: str,
        settings: TransferSettings,
        stream: IO[str] | None = None,
    ) -> None:
        self.total = total
        self.description = description
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._bar: Any = None
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        mode = settings.progress
        self.enabled = mode == "always" or (mode == "auto" and _is_terminal(self._stream))
        self._delay = 0.0 if mode == "always" else self.delay

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, nbytes: int) -> None:
        """Count ``nbytes`` more as transferred."""
        if nbytes <= 0:
            return
        with self._lock:
            self.done += nbytes
            if self.enabled:
                self._draw(final=False)

    def close(self) -> None:
        """Finish the bar (if one was shown)."""
        with self._lock:
            if self._bar is not None:
                self._bar.n = self.done
                self._bar.close()
                self._bar = None
            elif self._drawn:
                self._draw(final=True)
                self._stream.write("\n")
                self._stream.flush()

    def _draw(self, *, final: bool) -> None:
        now = time.monotonic()
        if not final and now - self._started < self._delay:
            return
        if self._bar is None and not self._drawn:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(
                    total=self.total,
                    desc=self.description,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=self._stream,
                    initial=self.done,
                    leave=True,
                )
                return
        if self._bar is not None:
            self._bar.update(self.done - self._bar.n)
            return
        if not final and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        self._drawn = True
        share = self.done / self.total if self.total else 1.0
        width = 30
        filled = int(width * min(1.0, share))
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(
            f"\r{self.description}: [{bar}] {share:6.1%} {_human(self.done)}/{_human(self.total)}"
        )
        self._stream.flush()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@contextlib.contextmanager
def storage_errors(artifact_path: str, where: str) -> Iterator[None]:
    """Turn filesystem errors into :class:`TrackyardError` (``where`` is the masked root)."""
    try:
        yield
    except FileNotFoundError as exc:
        raise TrackyardError(
            f"Artifact {artifact_path!r} does not exist under {where!r}.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        ) from exc
    except PermissionError as exc:
        raise TrackyardError(
            f"Permission denied for artifact {artifact_path!r} under {where!r}: {exc}",
            ErrorCode.PERMISSION_DENIED,
        ) from exc
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
        raise _invalid(
            f"Cannot write artifact {artifact_path!r} under {where!r}: "
            "a file and a directory would have the same path."
        ) from exc


class ByteCounter(Callback):  # type: ignore[misc]
    """An fsspec callback that forwards byte counts of one file to a :class:`Progress`."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.reported = 0

    def call(self, *args: Any, **kwargs: Any) -> None:
        value = int(self.value or 0)
        if value > self.reported:
            self.progress.update(value - self.reported)
            self.reported = value

    def finish(self, size: int) -> None:
        """Count the rest of the file (implementations that report nothing end here)."""
        if size > self.reported:
            self.progress.update(size - self.reported)
            self.reported = size
