"""The HMAC key a grouper hashes store keys with: given, from the environment, or random."""

from __future__ import annotations

import logging
import os
import secrets

from convtrack.grouping._store import MemoryStore

SECRET_ENV = "CONVTRACK_GROUPING_SECRET"
_logger = logging.getLogger("convtrack")


def secret_key(store: object, secret: object) -> bytes:
    """The HMAC key: `secret`, else $CONVTRACK_GROUPING_SECRET, else random (unshared stores)."""
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if secret is None:
        if getattr(store, "shared", False) is True:
            raise ValueError(
                f"{type(store).__name__} is shared between processes, so every process must "
                f"hash with the same grouping secret; pass ConversationGrouper(store, "
                f"secret=...) or set the environment variable {SECRET_ENV} in each process "
                f"(for example to the output of: python -c 'import secrets; "
                f"print(secrets.token_hex(32))')"
            )
        if not isinstance(store, MemoryStore):
            _logger.info(
                "convtrack: ConversationGrouper over %s without a secret: its keys are "
                "random per process, so other processes will not match them",
                type(store).__name__,
            )
        return secrets.token_bytes(32)
    if isinstance(secret, str):
        return secret.encode("utf-8")
    if isinstance(secret, (bytes, bytearray)):
        return bytes(secret)
    raise TypeError(f"secret must be bytes, str or None, got {type(secret).__name__}")
