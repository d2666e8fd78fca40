"""Keyed pseudonymisation of user ids: logs and spans carry an HMAC, never the raw id."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets

__all__ = ["USER_ID_KEY_ENV", "UserIdHasher"]

USER_ID_KEY_ENV = "SLOENGINE_USER_ID_KEY"

_logger = logging.getLogger("instrumentation")


class UserIdHasher:
    """HMAC-SHA256 of a user id, truncated to 128 bits (32 hex chars).

    The key comes from the argument, else from `SLOENGINE_USER_ID_KEY`. Without either, a
    random per-process key is used (ids stay unlinkable across processes) and a warning is
    logged once, because two replicas would then hash the same user differently.
    """

    __slots__ = ("_cache", "_key")

    _CACHE_MAX = 4096

    def __init__(self, key: str | bytes | None = None) -> None:
        if key is None:
            key = os.environ.get(USER_ID_KEY_ENV) or None
        if key is None:
            _logger.warning(
                "%s is not set: user ids are hashed with a random per-process key",
                USER_ID_KEY_ENV,
            )
            key = secrets.token_bytes(32)
        self._key = key.encode() if isinstance(key, str) else key
        self._cache: dict[str, str] = {}

    def __call__(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:32]
        if len(self._cache) >= self._CACHE_MAX:
            self._cache.clear()  # bounded: a scan of many users cannot grow memory
        self._cache[user_id] = digest
        return digest
