"""W3C Trace Context: `traceparent` and `tracestate`, parsed, validated and continued.

Level 1 (https://www.w3.org/TR/trace-context/) for traceparent, plus Level 2's
random-trace-id flag, and Level 2's tracestate (https://www.w3.org/TR/trace-context-2/).
Pure functions, no I/O, stdlib only: the sidecar's proxy hands in the header values it
received and gets back what to send on the next hop; the instrumentation's propagator
(`instrumentation._tracestate`) parses and truncates tracestate with the same functions, so
both follow one grammar and one truncation.

Rules implemented (section names of the Level 1 spec):
- traceparent version `00` is exactly 55 characters, lowercase hex, `-` separated; version
  `ff` is invalid; a higher version is parsed by its first four fields and may be longer
  than 55 characters only if the next character is `-` (Versioning of traceparent).
- An all-zero trace-id or parent-id is invalid; so are uppercase or non-hex digits.
- More than one traceparent header is invalid (the header is not a list).
- Flags other than `sampled` (0x01) and Level 2's `random` (0x02) are zeroed on output.
- A valid traceparent is continued with the same trace-id and flags and a NEW parent-id;
  an invalid or missing one restarts the trace (new random trace-id with the random flag)
  and the tracestate is then dropped (it belongs to the trace being replaced).
- tracestate (Level 2, section "tracestate Header Field Values"): several tracestate
  headers are one list (RFC 9110 5.3); spaces and tabs around list-members are ignored;
  empty and whitespace-only members are allowed and skipped; at most 32 (non-empty)
  list-members. key = `( lcalpha / DIGIT ) 0*255 keychar` with keychar = lcalpha / DIGIT /
  `_ - * / @`: Level 2 folds the Level 1 multi-tenant form (`tenant@system`, 241 + 14) into
  one rule, so `@` may appear anywhere after the first character and only the total (256)
  is limited (the official suite, w3c/trace-context test/test.py, asserts the same since
  #584: `t*242@v`, `t@v*15`, `foo@`, `foo@@bar` are inherited, `@foo` is not). value =
  1-256 printable characters without `,` or `=`, not ending in a space; leading spaces are
  part of it. A bad member or more than 32 members makes the whole list invalid (the suite
  asserts the other members are gone too).
- A duplicated key is not fatal: the first (left-most) member with that key is kept and
  the later ones dropped, the other members untouched. The spec calls the left-most entry
  the most recent one ("Combined Header Value") and lets vendors discard duplicates
  ("Mutating the tracestate Field"); the suite's `test_tracestate_duplicated_keys` asks
  that the list be inherited with one of the values.
- Truncation beyond 512 characters removes whole entries (Level 1 and 2, "tracestate
  Limits": "the vendor MUST truncate whole entries. Entries larger than 128 characters long
  SHOULD be removed first. Then entries SHOULD be removed starting from the end"): entries
  longer than 128 characters first, from the end, only as many as needed, then entries
  from the end.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "FLAG_RANDOM",
    "FLAG_SAMPLED",
    "TRACESTATE_MAX_LENGTH",
    "TRACESTATE_MAX_MEMBERS",
    "Hop",
    "IdGenerator",
    "TraceParent",
    "continue_trace",
    "format_tracestate",
    "parse_traceparent",
    "parse_tracestate",
    "truncate_tracestate",
]

FLAG_SAMPLED = 0x01
FLAG_RANDOM = 0x02
_KNOWN_FLAGS = FLAG_SAMPLED | FLAG_RANDOM

TRACESTATE_MAX_MEMBERS = 32
TRACESTATE_MAX_LENGTH = 512
_TRACESTATE_LONG_ENTRY = 128

_V00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# A future version: the four known fields, then the end or a `-` and anything.
_FUTURE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?", re.S)
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16
_FLAGS_HEX = [f"{flags:02x}" for flags in range(_KNOWN_FLAGS + 1)]  # no format per request
_OWS = " \t"

# key = ( lcalpha / DIGIT ) 0*255 ( keychar ); keychar = lcalpha / DIGIT / "_" / "-" / "*"
# / "/" / "@"  (Level 2; `tenant@system` keys are the common case of it)
_KEY = re.compile(r"[a-z0-9][a-z0-9_\-*/@]{0,255}")
# value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A valid traceparent: ids as lowercase hex, flags as an int."""

    version: int
    trace_id: str
    parent_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & FLAG_SAMPLED)

    def header(self) -> str:
        """The version-00 header value for this context (unknown flags zeroed)."""
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags & _KNOWN_FLAGS:02x}"


def parse_traceparent(value: str) -> TraceParent | None:
    """Parse one traceparent header value; None if it is invalid by the spec."""
    value = value.strip(_OWS)
    m = _V00.fullmatch(value)
    if m is None:
        m = _FUTURE.fullmatch(value)
        if m is None or m.group(1) in ("00", "ff"):
            return None
        version, trace_id, parent_id, flags = m.group(1, 2, 3, 4)
    else:
        version = "00"
        trace_id, parent_id, flags = m.group(1, 2, 3)
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return TraceParent(int(version, 16), trace_id, parent_id, int(flags, 16))


def parse_tracestate(values: Sequence[str]) -> tuple[tuple[str, str], ...] | None:
    """Parse the tracestate header(s) into (key, value) pairs in order; None if invalid.

    Several header values form one list. Empty list-members are skipped. A bad key or value
    or more than 32 members makes the whole list invalid; of a duplicated key only the
    first (left-most, most recent) member is kept.
    """
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    count = 0
    for header in values:
        for raw in header.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            count += 1
            if count > TRACESTATE_MAX_MEMBERS:
                return None
            key, sep, val = member.partition("=")
            if not sep or _KEY.fullmatch(key) is None or _VALUE.fullmatch(val) is None:
                return None
            if key not in seen:
                seen.add(key)
                members.append((key, val))
    return tuple(members)


def _length(members: Sequence[tuple[str, str]]) -> int:
    if not members:
        return 0
    return sum(len(k) + 1 + len(v) for k, v in members) + len(members) - 1


def truncate_tracestate(
    members: Sequence[tuple[str, str]], max_length: int = TRACESTATE_MAX_LENGTH
) -> tuple[tuple[str, str], ...]:
    """Drop whole entries until the serialised list fits in `max_length` characters.

    Entries longer than 128 characters go first (from the end), then entries from the end.
    """
    kept = list(members)
    total = _length(kept)
    i = len(kept) - 1
    while total > max_length and i >= 0:
        key, val = kept[i]
        if len(key) + 1 + len(val) > _TRACESTATE_LONG_ENTRY:
            del kept[i]
            total = _length(kept)
        i -= 1
    while total > max_length:
        kept.pop()
        total = _length(kept)
    return tuple(kept)


def format_tracestate(members: Sequence[tuple[str, str]]) -> str:
    """Serialise members as one header value, truncated to 512 characters by the rules."""
    return ",".join(f"{k}={v}" for k, v in truncate_tracestate(members))


class IdGenerator:
    """Random trace-ids and span-ids as lowercase hex; seed it for reproducible tests.

    Trace-ids are fully random (Level 2 asks for at least the right-most 7 bytes), so every
    trace this generator starts carries the `random` flag.
    """

    __slots__ = ("_bits",)

    def __init__(self, rng: random.Random | None = None) -> None:
        self._bits = (rng or random.Random()).getrandbits

    # `int.to_bytes(...).hex()` is lowercase and zero-padded like `f"{n:032x}"` and about
    # three times faster: this runs for every request.
    def trace_id(self) -> str:
        while True:
            n = self._bits(128)
            if n:
                return n.to_bytes(16, "big").hex()

    def span_id(self) -> str:
        while True:
            n = self._bits(64)
            if n:
                return n.to_bytes(8, "big").hex()

    def trace_and_span_id(self) -> tuple[str, str]:
        """A new trace-id and span-id from one 192-bit draw (one call and one conversion on
        the hot path of every request that starts a trace)."""
        while True:
            ids = self._bits(192).to_bytes(24, "big").hex()
            trace_id, span_id = ids[:32], ids[32:]
            if trace_id != _ZERO_TRACE and span_id != _ZERO_PARENT:
                return trace_id, span_id


class Hop(NamedTuple):
    """What one proxy hop does with a trace: its span and the headers for the next hop.

    `parent_span_id` is the caller's span (None when the trace was restarted), `span_id` is
    this hop's span and the parent-id sent onward; `tracestate` is None when not propagated.
    Immutable; a NamedTuple rather than a frozen dataclass because one is built per request
    and its construction is several times cheaper.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    flags: int
    tracestate: str | None
    restarted: bool

    @property
    def traceparent(self) -> str:
        return "-".join(("00", self.trace_id, self.span_id, _FLAGS_HEX[self.flags & _KNOWN_FLAGS]))


def continue_trace(
    traceparents: Sequence[str],
    tracestates: Sequence[str],
    ids: IdGenerator,
    *,
    restart_flags: int = FLAG_SAMPLED | FLAG_RANDOM,
) -> Hop:
    """Continue the incoming trace with a new span, or restart it if the input is invalid.

    `traceparents`/`tracestates` are every value of those headers on the request, in order.
    A restarted trace gets a new random trace-id and `restart_flags` (which always include
    the random flag) and no tracestate.
    """
    parent = parse_traceparent(traceparents[0]) if len(traceparents) == 1 else None
    if parent is None:
        trace_id, span_id = ids.trace_and_span_id()
        return Hop(trace_id, span_id, None, restart_flags | FLAG_RANDOM, None, True)
    state: str | None = None
    if tracestates:
        members = parse_tracestate(tracestates)
        if members:
            state = format_tracestate(members) or None
    return Hop(
        parent.trace_id,
        ids.span_id(),
        parent.parent_id,
        parent.flags & _KNOWN_FLAGS,
        state,
        False,
    )
