"""The HTTP server span's semantic-convention attributes, from the ASGI scope (pure).

Per the stable HTTP server conventions: `url.path`, `url.scheme`, `server.address` and
`server.port` (from the Host header the client sent, the scope's local address otherwise),
`network.protocol.version`, `user_agent.original`; and on a 5xx response `error.type` is
the status code as a string when no exception names the error better.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instrumentation import _semconv as sc

__all__ = ["error_type", "request_attributes", "split_host"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_NOT_IN_HOST = frozenset(", \t/@\\?#")


def split_host(host: str) -> tuple[str, int | None] | None:
    """`example.com:8080` -> ("example.com", 8080); `[::1]` -> ("::1", None); junk -> None."""
    host = host.strip()
    if not host or any(ch in host for ch in _NOT_IN_HOST):
        return None  # e.g. two Host headers joined with ",": trust neither
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[1:end], host[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = host.partition(":")
        if ":" in port_text:  # a bare IPv6 address is not a valid Host header
            return None
    if not name:
        return None
    if not port_text:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def request_attributes(
    scope: Mapping[str, Any], host_header: str | None, user_agent: str | None
) -> dict[str, str | int]:
    """The request-side attributes of the server span (only those known)."""
    scheme = str(scope.get("scheme") or "http")
    attributes: dict[str, str | int] = {sc.URL_SCHEME: scheme}
    path = scope.get("path")
    if isinstance(path, str) and path:
        attributes[sc.URL_PATH] = path
    address = split_host(host_header) if host_header else None
    if address is None:
        server = scope.get("server")
        if server and server[0] is not None:
            address = (str(server[0]), server[1] if len(server) > 1 else None)
    if address is not None:
        name, port = address
        attributes[sc.SERVER_ADDRESS] = name
        port = port if port is not None else _DEFAULT_PORTS.get(scheme)
        if isinstance(port, int):
            attributes[sc.SERVER_PORT] = port
    version = scope.get("http_version")
    if isinstance(version, str) and version:
        attributes[sc.NETWORK_PROTOCOL_VERSION] = version
    if user_agent:
        attributes[sc.USER_AGENT_ORIGINAL] = user_agent
    return attributes


def error_type(status: int, exception: BaseException | None) -> str | None:
    """`error.type`: the exception's class, else the status code of a 5xx, else None."""
    if exception is not None:
        return type(exception).__qualname__
    if status >= 500:
        return str(status)
    return None
