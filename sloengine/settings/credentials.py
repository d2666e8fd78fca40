"""Scoped credentials: separate bearer tokens for ingest, read and admin calls.

    engine:
      token_file: /etc/sloengine/token       # fallback for the ingest and admin scopes
      tokens:
        ingest: /etc/sloengine/ingest-token  # Push, OTLP, remote_write
        read: /etc/sloengine/read-token      # verdicts, SLO status, UI API, Flagger gates
        admin: /etc/sloengine/admin-token    # rollbacks, overrides, Alertmanager receiver

Every scope is optional; a scope with no token is open. `token_file` is the one shared token
of older configs and backs every scope that has no file of its own. The read scope is left
open on a private network by giving scoped ingest/admin tokens and no read token (nor
`token_file`). Two HTTP reads that were always open (the Argo verdict, the UI API) stay
open under a shared `token_file` alone: they need the read token only when `tokens.read` is
set (or `canary.verdict_requires_token`). The admin token is accepted for every scope. Tokens are compared in constant time and never appear in a repr,
a log line or an error message (errors name the file, never its content).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sloengine.errors import SpecError

__all__ = ["Credentials", "Scope", "load_token"]


class Scope(StrEnum):
    """What a call may do; each scope has its own optional token."""

    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


def load_token(path: Path, where: str) -> bytes:
    """The token in `path` (whitespace stripped); SpecError naming the file, never the token."""
    try:
        token = path.read_bytes().strip()
    except OSError as exc:
        raise SpecError(str(path), where, f"cannot read: {exc.strerror}") from None
    if not token:
        raise SpecError(str(path), where, "the token file is empty")
    return token


@dataclass(frozen=True)
class Credentials:
    """The expected token per scope (None: the scope is open)."""

    ingest: bytes | None = field(default=None, repr=False)
    read: bytes | None = field(default=None, repr=False)
    admin: bytes | None = field(default=None, repr=False)
    # True when the read token is its own file (not the shared token_file fallback).
    read_is_scoped: bool = False

    def __repr__(self) -> str:
        guarded = [s.value for s in Scope if self.expected(s) is not None]
        return f"Credentials(guarded={guarded})"

    @classmethod
    def shared(cls, token: str | None) -> Credentials:
        """One token for every scope (the older single-token setup); None: all open."""
        value = token.encode() if token else None
        return cls(ingest=value, read=value, admin=value)

    def expected(self, scope: Scope) -> bytes | None:
        return {Scope.INGEST: self.ingest, Scope.READ: self.read, Scope.ADMIN: self.admin}[scope]

    def is_open(self, scope: Scope) -> bool:
        """True when calls of this scope need no token."""
        return self.expected(scope) is None

    def accepts(self, scope: Scope, token: bytes | str | None, *, admin_ok: bool = True) -> bool:
        """True when the scope is open or `token` is its token (or the admin token).

        Every configured candidate is compared, each in constant time, so the answer's timing
        does not tell which scope a guessed token belongs to. `admin_ok=False` refuses the
        admin token (for places where a token is visible to others, like Flagger metadata).
        """
        if self.is_open(scope):
            return True
        if token is None:
            return False
        # aiohttp decodes header bytes that are not UTF-8 as surrogates: take the bytes back
        # (an encode error here was a 500 for `Authorization: Bearer \x80`).
        given = token.encode("utf-8", "surrogateescape") if isinstance(token, str) else token
        candidates = [self.expected(scope)]
        if admin_ok and scope is not Scope.ADMIN:
            candidates.append(self.admin)
        matched = False
        for expected in candidates:
            if expected is not None and hmac.compare_digest(given, expected):
                matched = True
        return matched
