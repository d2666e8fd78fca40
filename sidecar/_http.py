"""HTTP/1.1 details the proxy needs: hop-by-hop headers, canned answers, authority parsing."""

from __future__ import annotations

import re
from http import HTTPStatus

__all__ = [
    "HOP_BY_HOP",
    "KNOWN_METHODS",
    "METHOD_LABELS",
    "PLAIN_CONNECTION_VALUES",
    "REQUEST_HEADERS",
    "RESPONSE_HEADERS",
    "connection_tokens",
    "is_valid_host",
    "listed_in_connection",
    "parse_authority",
    "request_header_class",
    "response_header_class",
    "simple_response",
    "without_headers",
]

# RFC 9110 section 7.6.1 plus the legacy proxy ones; names listed in Connection are added
# per message.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

# The `method` label keeps these and folds anything else into `_OTHER` (as OTel does), so
# a client cannot invent label values.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def connection_tokens(value: bytes) -> set[bytes]:
    """Header names listed in a Connection header value (lowercased)."""
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


def simple_response(status: int, message: str, *, close: bool) -> bytes:
    """A small text/plain answer the proxy itself gives (400, 408, 431, 502, 504, ...)."""
    body = (message + "\n").encode()
    reason = HTTPStatus(status).phrase.encode()
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: %s\r\n\r\n%s"
        % (
            status,
            reason,
            len(body),
            connection,
            body,
        )
    )


def parse_authority(authority: bytes, default_port: int = 80) -> tuple[str, int] | None:
    """`host[:port]` or `[v6]:port` -> (host, port); None if malformed."""
    text = authority.decode("ascii", "replace").strip()
    if not text or "@" in text:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        host, _, port_text = text.partition(":")
    if not host:
        return None
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


# RFC 9110 section 7.2: Host = uri-host [ ":" port ]; uri-host is an IP-literal in brackets
# or a reg-name (unreserved, pct-encoded, sub-delims); empty is allowed (RFC 9112 3.2).
_HOST_VALUE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?")


_VALID_HOSTS: set[bytes] = set()  # a proxy sees few distinct hosts: skip the regex for them


def is_valid_host(value: bytes) -> bool:
    """Whether a Host field value (stripped) is `host[:port]` as RFC 9110 allows."""
    if value in _VALID_HOSTS:
        return True
    if _HOST_VALUE.fullmatch(value) is None:
        return False
    if len(_VALID_HOSTS) < _CLASS_CACHE_MAX:
        _VALID_HOSTS.add(value)
    return True


# Headers the proxy handles itself, classified once per header in the parser callbacks so
# that every other header is copied through in a single pass.
H_DROP, H_CONNECTION, H_TRANSFER_ENCODING, H_CONTENT_LENGTH = 1, 2, 3, 4
H_TRACEPARENT, H_TRACESTATE, H_HOST, H_X_FORWARDED_FOR, H_X_FORWARDED = 5, 6, 7, 8, 9
H_TRACERESPONSE = 10

RESPONSE_HEADERS: dict[bytes, int] = {
    **dict.fromkeys(HOP_BY_HOP, H_DROP),
    b"connection": H_CONNECTION,
    b"transfer-encoding": H_TRANSFER_ENCODING,
    b"content-length": H_CONTENT_LENGTH,
}
REQUEST_HEADERS: dict[bytes, int] = {
    **RESPONSE_HEADERS,
    b"traceparent": H_TRACEPARENT,
    b"tracestate": H_TRACESTATE,
    b"host": H_HOST,
    b"x-forwarded-for": H_X_FORWARDED_FOR,
    b"x-forwarded-proto": H_X_FORWARDED,
    b"x-forwarded-host": H_X_FORWARDED,
}
# Responses only: an ingress hop replaces the upstream's traceresponse with its own.
RESPONSE_HEADERS[b"traceresponse"] = H_TRACERESPONSE
_CONNECTION_OPTIONS = frozenset({b"keep-alive", b"close"})


_CLASS_CACHE_MAX = 4096
REQUEST_CLASS_CACHE: dict[bytes, int] = {}
RESPONSE_CLASS_CACHE: dict[bytes, int] = {}


def request_header_class(name: bytes) -> int:
    """REQUEST_HEADERS code for a raw header name (0: copy through); cached by raw name."""
    code = REQUEST_CLASS_CACHE.get(name)
    if code is None:
        code = REQUEST_HEADERS.get(name.lower(), 0)
        if len(REQUEST_CLASS_CACHE) < _CLASS_CACHE_MAX:
            REQUEST_CLASS_CACHE[name] = code
    return code


def response_header_class(name: bytes) -> int:
    """RESPONSE_HEADERS code for a raw header name (0: copy through); cached by raw name."""
    code = RESPONSE_CLASS_CACHE.get(name)
    if code is None:
        code = RESPONSE_HEADERS.get(name.lower(), 0)
        if len(RESPONSE_CLASS_CACHE) < _CLASS_CACHE_MAX:
            RESPONSE_CLASS_CACHE[name] = code
    return code


METHOD_LABELS: dict[bytes, str] = {m.encode(): m for m in KNOWN_METHODS}


# Connection values that name no header to drop, as clients and servers spell them: the
# callbacks test membership before calling listed_in_connection (one call per message saved).
PLAIN_CONNECTION_VALUES = frozenset({b"keep-alive", b"Keep-Alive", b"close", b"Close"})


def listed_in_connection(value: bytes) -> set[bytes]:
    """Header names a Connection header asks to drop, beyond its usual options."""
    if value.strip().lower() in _CONNECTION_OPTIONS:  # the common case, without a set
        return set()
    return connection_tokens(value) - _CONNECTION_OPTIONS


def without_headers(lines: list[bytes], names: set[bytes]) -> list[bytes]:
    """`lines` holds (name, b": ", value, b"\\r\\n") groups; drop those named in `names`.

    Groups rather than whole lines: extending a list by a 4-tuple in the parser callback is
    cheaper than formatting a line, and the head is joined once anyway.
    """
    kept: list[bytes] = []
    for i in range(0, len(lines), 4):
        if lines[i].lower() not in names:
            kept += lines[i : i + 4]
    return kept
