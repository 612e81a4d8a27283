"""Password hashing with the standard library: scrypt, a per-user salt, constant-time checks.

A stored hash reads ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key in URL-safe base64), so
the cost parameters travel with each hash and can be raised later without breaking old ones.
The default, N=2**14, r=8, p=5 (16 MiB per hash), is one of OWASP's recommended scrypt
settings. ``TRACKYARD_AUTH_SCRYPT_COST`` (log2 of N, 12 to 20, read when a hash is made)
raises it, or lowers it for throwaway test servers; existing hashes keep their own cost.

Checking a password costs one scrypt run on purpose. :class:`VerifiedCache` lets a server
process skip it for a credential it already checked *against the same stored hash*: a changed
password (new salt, new hash) or a deleted user is seen on the next request, by every worker,
because the stored hash is always read from the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "VerifiedCache",
    "check_password",
    "hash_password",
    "scrypt_n",
    "verify",
]

#: MLflow's basic-auth app refuses passwords shorter than this.
MIN_PASSWORD_LENGTH = 12
_DEFAULT_COST, _MIN_COST, _MAX_COST = 14, 12, 20
_R, _P = 8, 5
_KEY_BYTES = 32
_MAXMEM = 256 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )


def check_password(password: str) -> None:
    """Raise ValueError when ``password`` is not acceptable (empty or too short)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")


def scrypt_n() -> int:
    """N for new hashes: ``2**TRACKYARD_AUTH_SCRYPT_COST`` (default ``2**14``)."""
    raw = os.environ.get("TRACKYARD_AUTH_SCRYPT_COST", "").strip()
    if not raw:
        return 1 << _DEFAULT_COST
    try:
        cost = int(raw)
    except ValueError:
        cost = -1
    if not _MIN_COST <= cost <= _MAX_COST:
        raise ValueError(
            f"TRACKYARD_AUTH_SCRYPT_COST must be an integer from {_MIN_COST} to {_MAX_COST}, "
            f"got {raw!r}"
        )
    return 1 << cost


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(16)
    n = scrypt_n()
    key = _derive(password, salt, n, _R, _P)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        got = _derive(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_dummy: list[str] = []


def verify_unknown(password: str) -> bool:
    """Spend one check's time on a user that does not exist; always False.

    The check runs against the hash of a random password, so that a wrong user name takes
    as long to refuse as a wrong password.
    """
    if not _dummy:
        _dummy.append(hash_password(secrets.token_urlsafe(24)))
    verify(password, _dummy[0])
    return False


class VerifiedCache:
    """Credentials this process has checked, keyed by a keyed digest (never the password).

    The digest covers the user name, the password and the stored hash it matched, so an entry
    only helps while that exact hash is still the stored one.
    """

    def __init__(self, size: int = 4096) -> None:
        self._key = secrets.token_bytes(32)
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, username: str, password: str, stored: str) -> bytes:
        text = "\x00".join((username, password, stored)).encode("utf-8")
        return hmac.new(self._key, text, hashlib.sha256).digest()

    def check(self, username: str, password: str, stored: str) -> bool:
        """Whether the password matches ``stored``: from the cache, else by scrypt."""
        digest = self._digest(username, password, stored)
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return True
        if not verify(password, stored):
            return False
        with self._lock:
            self._seen[digest] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return True
