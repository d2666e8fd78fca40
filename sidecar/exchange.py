"""One request and its response through the proxy: framing, failures, retry, completion.

The client connection feeds the request side (`send`), the upstream connection feeds the
response side (`response_head` / `response_body` / `response_done`), and failures on
either side end the exchange with a clear answer (502/504/408) or, once the response has
started, by cutting the client connection.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sidecar._http import simple_response, without_headers
from sloengine.telemetry.tracecontext import Hop

_TRACERESPONSE = b"traceresponse"

if TYPE_CHECKING:
    from sidecar.proxy import ClientConnection
    from sidecar.upstream import Key, UpstreamConnection

__all__ = ["CHUNKED", "CLOSE", "LENGTH", "NONE", "Exchange"]

# Body framing of a message.
NONE, LENGTH, CHUNKED, CLOSE = 0, 1, 2, 3
PAUSE_PIPELINE, PAUSE_UPSTREAM, PAUSE_PENDING = 1, 2, 4
_MAX_PENDING = 256 * 1024
_TERMINATOR = b"0\r\n\r\n"

# Status lines by (status, reason): formatting bytes with % costs more than a dict lookup,
# and an upstream answers with a handful of distinct ones. Bounded against odd upstreams.
_STATUS_LINES: dict[tuple[int, bytes], bytes] = {}
_STATUS_LINES_MAX = 512


def _status_line(status: int, reason: bytes) -> bytes:
    line = b"HTTP/1.1 %d %b\r\n" % (status, reason)
    if len(_STATUS_LINES) < _STATUS_LINES_MAX:
        _STATUS_LINES[status, reason] = line
    return line


class Exchange:
    """One request and its response through the proxy."""

    __slots__ = (
        "_pending",
        "_pending_size",
        "_resp_framing",
        "_upstream_framing",
        "conn",
        "end",
        "finished",
        "head",
        "hop",
        "keep_alive",
        "key",
        "method",
        "req_framing",
        "request_complete",
        "retried",
        "route",
        "start",
        "start_ns",
        "status",
        "traceparent",
        "upstream",
    )

    def __init__(
        self,
        conn: ClientConnection,
        method: str,
        route: str,
        key: Key,
        head: bytes,
        hop: Hop,
        traceparent: bytes,
        req_framing: int,
        start: float,
        start_ns: int,
    ) -> None:
        self.conn = conn
        self.method = method
        self.route = route
        self.key = key
        self.head = head
        self.hop = hop
        self.traceparent = traceparent
        self.req_framing = req_framing
        self.start = start
        self.start_ns = start_ns
        self.end = 0.0
        self.keep_alive = True
        self.request_complete = False
        self.retried = False
        self.finished = False
        self.status = 0
        self.upstream: UpstreamConnection | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._resp_framing = NONE
        self._upstream_framing = NONE

    # --- request side (called by the client connection) -----------------------------------
    def send(self, data: bytes) -> None:
        up = self.upstream
        if up is not None:
            up.write(data)
        elif not self.finished:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size > _MAX_PENDING:
                self.conn.pause_reading_for(PAUSE_PENDING)

    def attach_upstream(self, up: UpstreamConnection) -> None:
        if self.finished:
            up.pool.release(up)
            return
        self.upstream = up
        up.ex = self
        up.last_activity = up.loop.time()
        if self._pending:
            up.write(self.head + b"".join(self._pending))
            self._pending.clear()
            self._pending_size = 0
            self.conn.resume_reading_for(PAUSE_PENDING)
        elif up.transport is not None and not up.closed:
            up.transport.write(self.head)

    # --- response side (called by the upstream connection) --------------------------------
    def interim_response(self, status: int, reason: bytes, lines: list[bytes]) -> None:
        if self.conn.http_minor >= 1:
            self.conn.write(b"".join([b"HTTP/1.1 %d %s\r\n" % (status, reason), *lines, b"\r\n"]))

    def response_head(
        self,
        status: int,
        reason: bytes,
        lines: list[bytes],
        has_length: bool,
        chunked: bool,
        traceresponse: bool = False,
    ) -> None:
        """`lines` are the end-to-end headers as (name, ": ", value, CRLF) groups
        (`traceresponse`: one of them is a traceresponse); the head is queued on the client
        connection."""
        self.status = status
        conn = self.conn
        if self.method == "HEAD" or status == 204 or status == 304:
            framing = upstream_framing = NONE
        elif chunked:
            upstream_framing = CHUNKED
            framing = CHUNKED if conn.http_minor else CLOSE
        elif has_length:
            framing = upstream_framing = LENGTH
        else:
            upstream_framing = CLOSE
            framing = CHUNKED if conn.http_minor else CLOSE
        self._resp_framing = framing
        self._upstream_framing = upstream_framing
        if framing == CLOSE or conn.listener.draining:
            self.keep_alive = False
        if conn.ingress:
            # W3C Trace Context Level 2: tell the caller which span answered it. That is this
            # hop's server span, not the upstream's, so an upstream traceresponse is replaced.
            if traceresponse:
                lines = without_headers(lines, {_TRACERESPONSE})
            lines += (_TRACERESPONSE, b": ", self.traceparent, b"\r\n")
        if framing == CHUNKED:
            lines.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            lines.append(b"connection: close\r\n\r\n")
        elif conn.http_minor == 0:
            lines.append(b"connection: keep-alive\r\n\r\n")
        else:
            lines.append(b"\r\n")
        line = _STATUS_LINES.get((status, reason))
        if line is None:
            line = _status_line(status, reason)
        # Queued as pieces: flush() joins them with the body (if it came in the same read)
        # into the one transport.write of this read.
        out = conn.out
        out.append(line)
        out += lines

    def response_body(self, body: bytes) -> None:
        if self._resp_framing == CHUNKED:
            self.conn.out += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            self.conn.out.append(body)

    def response_done(self, upstream_keep: bool) -> None:
        if self.finished:
            return
        if self._resp_framing == CHUNKED:
            self.conn.write(_TERMINATOR)
        up, self.upstream = self.upstream, None
        if up is not None:
            if upstream_keep and self.request_complete and self._upstream_framing != CLOSE:
                up.pool.release(up)
            else:
                up.close()
        self._finish()

    def upstream_lost(self, up: UpstreamConnection, exc: Exception | None) -> None:
        self.upstream = None
        if self.finished:
            return
        if self.status == 0:
            # A pooled connection the upstream closed just as we reused it: retry once on a
            # new one if no request body has been consumed.
            if up.reused and not self.retried and self.req_framing == NONE:
                self.retried = True
                up.pool.acquire(self.key, self, fresh=True)
                return
            reason = "reset" if exc is not None else "closed"
            self.upstream_failed(502, f"upstream {reason} the connection before answering")
        elif self._upstream_framing == CLOSE:
            self.response_done(False)  # close-delimited body: the close is its end
        else:
            self.status = 502  # cut short: a failure for the SLO, whatever the status line
            self.conn.abort()
            self._finish()

    def upstream_failed(self, status: int, message: str) -> None:
        if self.finished:
            return
        up, self.upstream = self.upstream, None
        if up is not None:
            up.close()
        if self.status == 0:
            self.status = status
            self.keep_alive = self.keep_alive and self.request_complete
            self.conn.write(simple_response(status, message, close=not self.keep_alive))
            self.conn.flush()
        else:
            self.status = status
            self.conn.abort()
        self._finish()

    def client_gone(self) -> None:
        if self.finished:
            return
        up, self.upstream = self.upstream, None
        if up is not None:
            up.close()
        if self.status == 0:
            self.status = 499  # as nginx logs it: the client closed the request
        self._finish()

    def _finish(self) -> None:
        self.finished = True
        self.end = time.perf_counter()
        self.conn.exchange_finished(self)
