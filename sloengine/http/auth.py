"""Bearer-token check for the engine's mutating HTTP endpoints."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sloengine.app import EngineState

__all__ = ["require_token"]


def require_token(state: EngineState, request: web.Request) -> None:
    """Raise 401 without a bearer token, 403 with a wrong one; return when it matches.

    An engine started without a token (no --token-file) accepts every request, like the
    gRPC side. Use at the top of a handler: `require_token(state, request)`.
    """
    expected = state.http_token
    if expected is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise web.HTTPUnauthorized(
            text="missing bearer token (Authorization: Bearer <token>)\n",
            headers={"WWW-Authenticate": 'Bearer realm="sloengine"'},
        )
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise web.HTTPForbidden(text="invalid bearer token\n")
