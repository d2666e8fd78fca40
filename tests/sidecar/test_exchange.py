"""Pure pieces of the exchange: status lines sent to the client."""

from __future__ import annotations

from sidecar import exchange


def test_status_lines_keep_the_upstream_reason_and_the_cache_is_bounded() -> None:
    assert exchange._status_line(200, b"OK") == b"HTTP/1.1 200 OK\r\n"
    assert exchange._status_line(200, b"Fine") == b"HTTP/1.1 200 Fine\r\n"
    for i in range(2 * exchange._STATUS_LINES_MAX):
        assert exchange._status_line(299, b"r%d" % i) == b"HTTP/1.1 299 r%d\r\n" % i
    assert len(exchange._STATUS_LINES) <= exchange._STATUS_LINES_MAX
