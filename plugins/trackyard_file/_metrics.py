"""Metric files and the per-run latest-metrics summary.

A metric file ``metrics/<key>`` holds one line per point, as MLflow writes them::

    <timestamp_ms> <value> <step>                              (3 fields)
    <timestamp_ms> <value> <step> <dataset_name> <dataset_digest>  (5 fields)
    <timestamp_ms> <value>                                     (2 fields: legacy, step 0)

Values are Python ``repr`` floats (``nan``, ``inf``, ``-inf`` included). Readers here accept
all three forms, read the step of 5-field lines (MLflow reads it as 0), skip blank or
malformed lines with a warning instead of failing, and ignore a last line without its newline:
it is the remains of a write that a killed process did not finish, and writers cut it off
before they append.

The latest value of a metric is the point with the greatest ``(step, timestamp, value)``,
NaN counting as 0, the first of equal points winning (MLflow's rule, as the SQL store
applies it). :class:`Entry` caches it together with the size, inode and mtime of the file
it was computed from, so a reader can tell whether a cached or persisted entry is still
current and, when a file only grew, parse just the new lines.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple

from trackyard_file._fs import O_BINARY, O_CLOEXEC, O_NOFOLLOW, pread

if TYPE_CHECKING:
    from trackyard.entities import Metric

__all__ = [
    "SUMMARY_FORMAT",
    "Entry",
    "Point",
    "batch_top",
    "better",
    "dumps_summary",
    "format_lines",
    "history",
    "loads_summary",
    "parse_lines",
    "rank",
    "scan_file",
]

_logger = logging.getLogger("trackyard.file")
_STEP = operator.attrgetter("step")
_TIMESTAMP = operator.attrgetter("timestamp")
_VALUE = operator.attrgetter("value")
_FOURTH = operator.itemgetter(3)

#: Version of the persisted summary format; a file with another version is ignored.
SUMMARY_FORMAT = 1


class Point(NamedTuple):
    """One metric point as stored in a line."""

    timestamp: int
    value: float
    step: int
    dataset_name: str | None = None
    dataset_digest: str | None = None


class Entry(NamedTuple):
    """The latest point of one metric file and the state of the file it was computed from.

    Attributes:
        consumed: bytes of the file covered (always at the end of a complete line).
        size, ino, mtime_ns: the file's ``stat`` when the entry was made.
        timestamp, value, step: the latest point; ``timestamp`` is None if the file had none.
    """

    consumed: int
    size: int
    ino: int
    mtime_ns: int
    timestamp: int | None
    value: float
    step: int

    def matches(self, st: os.stat_result) -> bool:
        """Whether the file is unchanged since the entry was made."""
        return st.st_size == self.size and st.st_ino == self.ino and st.st_mtime_ns == self.mtime_ns


def rank(step: int, timestamp: int, value: float) -> tuple[int, int, float]:
    """The ordering key of the latest-value rule (NaN counts as 0)."""
    return (step, timestamp, 0.0 if value != value else value)


def batch_top(points: Sequence[Metric]) -> tuple[int, int, float]:
    """The :func:`rank` of the highest-ranked of ``points`` (not empty); of equal ranks, the
    first point's. Its value is the point's own (a NaN point ranks as 0 but keeps its NaN).
    """
    values = list(map(_VALUE, points))
    if any(map(math.isnan, values)):
        top = points[0]
        best = rank(top.step, top.timestamp, top.value)
        for m in points:
            r = rank(m.step, m.timestamp, m.value)
            if r > best:
                best, top = r, m
        return top.step, top.timestamp, top.value
    return max(zip(map(_STEP, points), map(_TIMESTAMP, points), values, strict=True))


def better(step: int, timestamp: int, value: float, than: Entry | None) -> bool:
    """Whether a point replaces ``than``'s latest point (strictly greater rank)."""
    if than is None or than.timestamp is None:
        return True
    return rank(step, timestamp, value) > rank(than.step, than.timestamp, than.value)


def _parse(line: str) -> Point:
    parts = line.split()
    n = len(parts)
    if n != 3 and n != 5 and n != 2:
        raise ValueError(f"{n} fields")
    raw_ts = parts[0]
    try:
        ts = int(raw_ts)
    except ValueError:
        ts = int(float(raw_ts))
    value = float(parts[1])
    if n == 2:
        return Point(ts, value, 0)
    raw_step = parts[2]
    try:
        step = int(raw_step)
    except ValueError:
        step = int(float(raw_step))
    if n == 3:
        return Point(ts, value, step)
    return Point(ts, value, step, parts[3], parts[4])


def parse_lines(text: str, where: str = "") -> list[Point]:
    """Parse complete lines (``text`` must end at a line end, or its tail is dropped).

    Blank and malformed lines are skipped; malformed ones are logged as warnings.
    """
    lines = text.split("\n")
    lines.pop()  # "" after the final newline, or an unterminated partial line
    out: list[Point] = []
    append = out.append
    for line in lines:
        try:
            parts = line.split()
            if len(parts) == 3:  # the common case, inline
                append(Point(int(parts[0]), float(parts[1]), int(parts[2])))
            elif parts:
                append(_parse(line))
        except ValueError as exc:
            _logger.warning("Skipping malformed metric line %r in %s (%s)", line, where, exc)
    return out


def history(text: str, where: str = "") -> list[tuple[Any, ...]]:
    """A metric file's points as ``(timestamp, step, value[, dataset_name, dataset_digest])``.

    Points without a dataset may come as 3-tuples.

    Ordered by (timestamp, step, value), NaN sorting as 0; identical points (same timestamp,
    step and value) appear once, as identical rows do in the SQL store. An unterminated last
    line is ignored, as in :func:`parse_lines`.
    """
    text = text[: text.rfind("\n") + 1]
    if "n" not in text.replace("inf", ""):  # no NaN, no dataset names: the common case
        tokens = text.split()
        if len(tokens) == 3 * text.count("\n"):  # every line has three fields
            try:
                rows = list(
                    zip(
                        map(int, tokens[0::3]),
                        map(int, tokens[2::3]),
                        map(float, tokens[1::3]),
                        strict=True,
                    )
                )
            except ValueError:
                pass
            else:
                # A file written by one writer is usually in order already: strictly
                # increasing rows are sorted and distinct as they stand.
                if all(map(operator.lt, rows, islice(rows, 1, None))):
                    return rows
                return sorted(set(rows))
    seen: set[tuple[int, int, object]] = set()
    out: list[tuple[Any, ...]] = []
    for p in parse_lines(text, where):
        v = p.value
        ident = (p.timestamp, p.step, v if v == v else "nan")
        if ident not in seen:
            seen.add(ident)
            out.append((p.timestamp, p.step, v, p.dataset_name, p.dataset_digest))
    out.sort(key=lambda r: (r[0], r[1], 0.0 if r[2] != r[2] else r[2]))
    return out


def format_lines(points: Iterable[tuple[int, float, int, str | None, str | None]]) -> bytes:
    """Format points as metric lines (5 fields when a dataset name and digest are given).

    A dataset name or digest that is empty or contains whitespace cannot be stored in the
    space-separated line format; such points are written with 3 fields.
    """
    points = points if isinstance(points, list) else list(points)
    if not any(map(_FOURTH, points)):  # no dataset names: the common case, 3 fields
        return "".join([f"{ts} {value!r} {step}\n" for ts, value, step, _, _ in points]).encode(
            "utf-8"
        )
    out: list[str] = []
    append = out.append
    for ts, value, step, dataset_name, dataset_digest in points:
        if (
            dataset_name
            and dataset_digest
            and len(dataset_name.split()) == 1
            and len(dataset_digest.split()) == 1
            and dataset_name == dataset_name.strip()
            and dataset_digest == dataset_digest.strip()
        ):
            append(f"{ts} {value!r} {step} {dataset_name} {dataset_digest}\n")
        else:
            append(f"{ts} {value!r} {step}\n")
    return "".join(out).encode("utf-8")


def _latest_of(points: Iterable[Point], start: Entry | None) -> tuple[int | None, float, int]:
    if start is not None and start.timestamp is not None:
        best_rank: tuple[int, int, float] | None = rank(start.step, start.timestamp, start.value)
        best: tuple[int | None, float, int] = (start.timestamp, start.value, start.step)
    else:
        best_rank = None
        best = (None, 0.0, 0)
    for p in points:
        v = p.value
        r = (p.step, p.timestamp, 0.0 if v != v else v)
        if best_rank is None or r > best_rank:
            best_rank = r
            best = (p.timestamp, v, p.step)
    return best


def _read_from(path: str, offset: int) -> tuple[bytes, os.stat_result]:
    fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_BINARY)
    try:
        st = os.fstat(fd)
        if offset:
            os.lseek(fd, offset, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 22)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def _ends_line_at(path: str, offset: int) -> bool:
    """Whether the byte before ``offset`` is a newline (so ``offset`` starts a line)."""
    fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_BINARY)
    try:
        return pread(fd, 1, offset - 1) == b"\n"
    finally:
        os.close(fd)


def scan_file(path: str, st: os.stat_result, known: Entry | None) -> Entry:
    """Return the current :class:`Entry` of a metric file, reusing ``known`` when possible.

    - ``known`` matches the file (size, inode, mtime): it is returned as it is;
    - the file only grew (same inode, size at least ``known.consumed``, a line ends there):
      only the new bytes are parsed and merged into ``known``;
    - otherwise the whole file is parsed.

    Args:
        path: the metric file.
        st: its ``stat`` (not following symbolic links).
        known: a previous entry for the file, or None.
    """
    if known is not None and known.matches(st):
        return known
    start: Entry | None = None
    offset = 0
    if (
        known is not None
        and known.ino == st.st_ino
        and 0 < known.consumed <= st.st_size
        and _ends_line_at(path, known.consumed)
    ):
        start, offset = known, known.consumed
    data, st = _read_from(path, offset)
    end = data.rfind(b"\n") + 1
    points = parse_lines(data[:end].decode("utf-8", "replace") + "\n", path) if end else []
    ts, value, step = _latest_of(points, start)
    return Entry(offset + end, offset + len(data), st.st_ino, st.st_mtime_ns, ts, value, step)


_HEADER = b"trackyard-metrics "


def dumps_summary(entries: Mapping[str, Entry]) -> bytes:
    """Serialize a run's entries (``{key: Entry}``) as the persisted summary.

    The file is a header line ``trackyard-metrics <crc32> <length>`` and a JSON body, so a
    reader can tell a complete file from one being overwritten in place.
    """
    payload = {
        "format": SUMMARY_FORMAT,
        "metrics": {k: list(e) for k, e in entries.items()},
    }
    body = json.dumps(payload, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return b"%s%08x %d\n%s" % (_HEADER, zlib.crc32(body), len(body), body)


def loads_summary(data: bytes) -> dict[str, Entry]:
    """Parse a persisted summary; anything unexpected gives an empty dict (rebuilt later)."""
    try:
        header, _, body = data.partition(b"\n")
        if not header.startswith(_HEADER):
            return {}
        crc, length = header[len(_HEADER) :].split()
        if int(length) != len(body) or int(crc, 16) != zlib.crc32(body):
            return {}
        payload = json.loads(body)
        if payload.get("format") != SUMMARY_FORMAT:
            return {}
        out = {}
        for key, raw in payload["metrics"].items():
            consumed, size, ino, mtime_ns, ts, value, step = raw
            out[key] = Entry(
                int(consumed),
                int(size),
                int(ino),
                int(mtime_ns),
                None if ts is None else int(ts),
                float(value),
                int(step),
            )
        return out
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
