"""Webhook secrets at rest: Fernet tokens under ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``.

MLflow's SQL store keeps ``webhooks.secret`` as a Fernet token (AES-128-CBC + HMAC,
``cryptography``'s ``Fernet``) made with the key in ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``;
stores that write secrets through :func:`encrypt_secret` therefore share secrets with an
MLflow server given the same key. Without the variable, MLflow uses a key made up for the
process, so secrets cannot be read back by another process; trackyard does the same (and logs
a warning once), and a secret that cannot be decrypted makes delivery to that webhook fail
rather than go out unsigned.

``cryptography`` is imported on first use (``pip install "trackyard[webhooks]"``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["KEY_ENV", "SecretUnreadableError", "decrypt_secret", "encrypt_secret"]

KEY_ENV = "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"
_logger = logging.getLogger("trackyard.webhooks")
_lock = threading.Lock()
_process_key: bytes | None = None
_ciphers: dict[bytes, Any] = {}


class SecretUnreadableError(TrackyardError):
    """A stored secret could not be decrypted (another key wrote it)."""


def _cipher() -> Any:
    global _process_key
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:  # pragma: no cover - cryptography ships with the test extra
        raise TrackyardError(
            'Webhook secrets need the cryptography package: pip install "trackyard[webhooks]"',
            ErrorCode.FEATURE_DISABLED,
        ) from exc
    configured = os.environ.get(KEY_ENV)
    with _lock:
        if configured:
            key = configured.encode()
        else:
            if _process_key is None:
                _process_key = Fernet.generate_key()
                _logger.warning(
                    "%s is not set: webhook secrets are encrypted with a key made up for this "
                    "process and cannot be read by another one.",
                    KEY_ENV,
                )
            key = _process_key
        cipher = _ciphers.get(key)
        if cipher is None:
            try:
                cipher = _ciphers[key] = Fernet(key)
            except (ValueError, TypeError) as exc:
                raise TrackyardError(
                    f"{KEY_ENV} is not a Fernet key (32 url-safe base64-encoded bytes).",
                    ErrorCode.INVALID_PARAMETER_VALUE,
                ) from exc
        return cipher


def encrypt_secret(secret: str | None) -> str | None:
    """The Fernet token (text) stored for ``secret``; None stays None."""
    if secret is None:
        return None
    token: bytes = _cipher().encrypt(secret.encode("utf-8"))
    return token.decode("ascii")


def decrypt_secret(token: str | None) -> str | None:
    """The secret a stored token holds; None stays None.

    Raises:
        SecretUnreadableError: the token was made with another key (the message never
            contains the token or the secret).
    """
    if token is None:
        return None
    from cryptography.fernet import InvalidToken

    try:
        plain: bytes = _cipher().decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError, UnicodeError):
        raise SecretUnreadableError(
            f"A webhook secret cannot be decrypted with the key in effect: set {KEY_ENV} to "
            "the key that stored it.",
            ErrorCode.INVALID_STATE,
        ) from None
    return plain.decode("utf-8")
