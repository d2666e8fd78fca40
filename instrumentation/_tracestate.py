"""Bring an incoming `tracestate` within W3C Trace Context limits instead of dropping it.

The OTel propagator discards a tracestate wholesale past 32 list-members or 512 characters.
The spec asks for truncation instead (Trace Context Level 1, section 3.3.1.5): remove the
members longer than 128 characters first, then members from the end (the oldest
vendors' entries), until both limits hold.
"""

from __future__ import annotations

__all__ = ["MAX_MEMBERS", "MAX_TRACESTATE_CHARS", "truncate_tracestate"]

MAX_MEMBERS = 32
MAX_TRACESTATE_CHARS = 512
_LONG_MEMBER_CHARS = 128


def truncate_tracestate(header: str) -> str:
    """`header` (list-members joined by ","), cut to at most 32 members and 512 characters."""
    members = [m.strip(" \t") for m in header.split(",")]
    members = [m for m in members if m]
    if len(members) <= MAX_MEMBERS and len(",".join(members)) <= MAX_TRACESTATE_CHARS:
        return ",".join(members)
    if len(",".join(members)) > MAX_TRACESTATE_CHARS:
        members = [m for m in members if len(m) <= _LONG_MEMBER_CHARS]
    del members[MAX_MEMBERS:]
    while members and len(",".join(members)) > MAX_TRACESTATE_CHARS:
        members.pop()
    return ",".join(members)
