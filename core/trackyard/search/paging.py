"""Page tokens and the ``max_results`` rules shared by every search.

A page token is MLflow's: the standard base64 encoding of the JSON object ``{"offset": N}``
written with Python's default JSON separators, so ``encode_page_token(1)`` is
``"eyJvZmZzZXQiOiAxfQ=="``. ``N`` is an offset into the *fully ordered* result of a search
(see :func:`trackyard.search.parse_order_by`). Tokens are opaque to users; a token that was
not made by :func:`encode_page_token` is rejected with ``INVALID_PARAMETER_VALUE``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from numbers import Integral
from types import MappingProxyType

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.ast import SearchKind

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "MAX_PAGE_TOKEN_OFFSET",
    "MAX_RESULTS_CAP",
    "decode_page_token",
    "encode_page_token",
    "validate_max_results",
]

#: ``max_results`` used when the caller passes None, per search kind.
DEFAULT_MAX_RESULTS: Mapping[SearchKind, int] = MappingProxyType(
    {
        SearchKind.RUNS: 1000,
        SearchKind.EXPERIMENTS: 1000,
        SearchKind.REGISTERED_MODELS: 100,
        SearchKind.PROMPTS: 1000,
        SearchKind.MODEL_VERSIONS: 10000,
        SearchKind.LOGGED_MODELS: 100,
        SearchKind.TRACES: 100,
    }
)

#: The largest ``max_results`` accepted, per search kind.
MAX_RESULTS_CAP: Mapping[SearchKind, int] = MappingProxyType(
    {
        SearchKind.RUNS: 50000,
        SearchKind.EXPERIMENTS: 50000,
        SearchKind.REGISTERED_MODELS: 1000,
        SearchKind.PROMPTS: 1000,
        SearchKind.MODEL_VERSIONS: 200000,
        # MLflow sets no cap on logged-model searches; this one only bounds memory.
        SearchKind.LOGGED_MODELS: 1_000_000,
        SearchKind.TRACES: 50000,
    }
)

#: The largest offset a page token may carry; anything above is treated as tampering.
MAX_PAGE_TOKEN_OFFSET = 10**12

# A genuine token is 36 characters; anything much longer is not worth decoding.
_MAX_TOKEN_LENGTH = 128


def encode_page_token(offset: int) -> str:
    """Return the page token for ``offset``.

    Args:
        offset: how many items of the ordered result come before the next page.

    Returns:
        base64 of ``{"offset": offset}`` as MLflow writes it.

    Raises:
        ValueError: ``offset`` is not an int in ``0..MAX_PAGE_TOKEN_OFFSET`` (a programming
            error, not a user error).
    """
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ValueError(f"A page token offset must be an int, got {offset!r}")
    if not 0 <= offset <= MAX_PAGE_TOKEN_OFFSET:
        raise ValueError(f"A page token offset must be in 0..{MAX_PAGE_TOKEN_OFFSET}, got {offset}")
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("ascii")


def decode_page_token(token: str | None) -> int:
    """Return the offset carried by ``token``.

    Args:
        token: a token from :func:`encode_page_token` (or from MLflow), or None / ``""`` for
            the first page.

    Returns:
        The offset; 0 for None or ``""``.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` "Invalid page token" when the token is not
            base64, not JSON, not an object with exactly an integer ``offset`` key, or carries
            a negative, boolean or absurdly large offset.
    """
    if token is None or token == "":
        return 0
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
        raise _invalid_token(token)
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeError, binascii.Error, ValueError, RecursionError):
        raise _invalid_token(token) from None
    if not isinstance(payload, dict) or set(payload) != {"offset"}:
        raise _invalid_token(token)
    offset = payload["offset"]
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise _invalid_token(token)
    if not 0 <= offset <= MAX_PAGE_TOKEN_OFFSET:
        raise _invalid_token(token)
    return offset


def _invalid_token(token: object) -> TrackyardError:
    shown = repr(token) if len(repr(token)) <= 80 else repr(token)[:77] + "..."
    return TrackyardError(
        f"Invalid page token {shown}: it was not issued by a previous search",
        ErrorCode.INVALID_PARAMETER_VALUE,
    )


def validate_max_results(max_results: int | None, kind: SearchKind = SearchKind.RUNS) -> int:
    """Check ``max_results`` for a search of ``kind`` and apply the default.

    Defaults and caps (default / cap): runs 1000 / 50000, experiments 1000 / 50000,
    registered models 100 / 1000, model versions 10000 / 200000, prompts 1000 / 1000,
    logged models 100 / 1,000,000.

    Args:
        max_results: what the caller asked for, or None for the kind's default.
        kind: which search.

    Returns:
        The number of results a page may hold.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` when ``max_results`` is not an integer
            (booleans included), is below 1, or is above the kind's cap.
    """
    kind = SearchKind(kind)
    if max_results is None:
        return DEFAULT_MAX_RESULTS[kind]
    if isinstance(max_results, bool) or not isinstance(max_results, Integral):
        raise _invalid_max_results(repr(max_results), "It must be an integer")
    value = int(max_results)
    if value < 1:
        raise _invalid_max_results(str(value), "It must be at least 1")
    cap = MAX_RESULTS_CAP[kind]
    if value > cap:
        raise _invalid_max_results(str(value), f"It must be at most {cap}")
    return value


def _invalid_max_results(shown: str, rule: str) -> TrackyardError:
    return TrackyardError(
        f"Invalid value {shown} for parameter 'max_results' supplied. {rule}",
        ErrorCode.INVALID_PARAMETER_VALUE,
    )
