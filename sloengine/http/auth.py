"""Scoped bearer-token checks for the engine's HTTP endpoints (see sloengine.settings.credentials)."""

from __future__ import annotations

from aiohttp import web

from sloengine.settings.credentials import Credentials, Scope

__all__ = ["Scope", "bearer_token", "refuse", "require_token"]


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer T` header, or None without one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def refuse(scope: Scope, given: bool, hint: str = "") -> web.HTTPException:
    """401 (no token) or 403 (wrong token) naming the scope, never the token."""
    if not given:
        return web.HTTPUnauthorized(
            text=f"missing bearer token for the {scope} scope (Authorization: Bearer <token>)"
            f"{hint}\n",
            headers={"WWW-Authenticate": f'Bearer realm="sloengine", scope="{scope}"'},
        )
    return web.HTTPForbidden(text=f"invalid bearer token for the {scope} scope{hint}\n")


def require_token(
    credentials: Credentials, request: web.Request, scope: Scope = Scope.ADMIN
) -> None:
    """Raise 401 without a bearer token, 403 with a wrong one; return when it fits `scope`.

    A scope with no configured token accepts every request, like the gRPC side; the admin
    token fits every scope. Use at the top of a handler: `require_token(credentials,
    request)` for mutations (admin), `require_token(credentials, request, Scope.READ)` for
    reads.
    """
    if credentials.is_open(scope):
        return
    token = bearer_token(request)
    if token is None or not credentials.accepts(scope, token):
        raise refuse(scope, token is not None)
