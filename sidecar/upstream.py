"""Connections to upstreams: an HTTP/1.1 response parser per connection and a keep-alive pool.

One exchange at a time per connection (no pipelining upstream). Idle connections are kept
per (host, port), most recently used first, and closed after `idle_timeout_s`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from sidecar import _http
from sidecar._http import PLAIN_CONNECTION_VALUES as _PLAIN_CONNECTION
from sidecar._http import RESPONSE_CLASS_CACHE as _RESPONSE_CLASSES  # hot path: skip a call
from sidecar._http import response_header_class
from sidecar.exchange import PAUSE_UPSTREAM

if TYPE_CHECKING:
    from sidecar.exchange import Exchange

__all__ = ["ConnectionPool", "UpstreamConnection"]

Key = tuple[str, int]


class UpstreamConnection(asyncio.Protocol):
    """One TCP connection to an upstream, carrying one exchange at a time."""

    __slots__ = (
        "_chunked",
        "_drop",
        "_has_length",
        "_interim",
        "_lines",
        "_reason",
        "_traceresponse",
        "closed",
        "ex",
        "idle_since",
        "key",
        "last_activity",
        "loop",
        "parser",
        "paused",
        "pool",
        "reset_parser",
        "reused",
        "transport",
    )

    def __init__(self, pool: ConnectionPool, key: Key) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.ex: Exchange | None = None
        self.closed = False
        self.reused = False
        self.reset_parser = False
        self.last_activity = 0.0
        self.idle_since = self.loop.time()
        self._lines: list[bytes] = []
        self._reason = b""
        self._interim = False
        self._has_length = False
        self._chunked = False
        self._drop: set[bytes] | None = None
        self._traceresponse = False
        self.paused = False

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.pool.open.add(self)

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None:  # an idle connection must not talk: drop it
            self.close()
            return
        self.last_activity = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.ex is not None:
                self.ex.upstream_failed(502, "invalid response from upstream")
            self.close()
        ex.conn.flush()
        if self.reset_parser:
            self.reset_parser = False
            self.parser = httptools.HttpResponseParser(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        ex, self.ex = self.ex, None
        if ex is not None:
            ex.upstream_lost(self, exc)

    def pause_writing(self) -> None:
        if self.ex is not None:
            self.ex.conn.pause_reading_for(PAUSE_UPSTREAM)

    def resume_writing(self) -> None:
        if self.ex is not None:
            self.ex.conn.resume_reading_for(PAUSE_UPSTREAM)

    # --- httptools callbacks ----------------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        code = _RESPONSE_CLASSES.get(name)
        if code is None:
            code = response_header_class(name)
        if not code:
            self._lines += (name, b": ", value, b"\r\n")
        elif code == _http.H_CONTENT_LENGTH:
            self._lines += (name, b": ", value, b"\r\n")
            self._has_length = True
        elif code == _http.H_TRACERESPONSE:
            self._lines += (name, b": ", value, b"\r\n")
            self._traceresponse = True
        elif code == _http.H_TRANSFER_ENCODING:
            self._chunked = self._chunked or b"chunked" in value.lower()
        elif code == _http.H_CONNECTION and value not in _PLAIN_CONNECTION:
            # (plain keep-alive / close falls through: nothing more to drop)
            listed = _http.listed_in_connection(value)
            if listed:
                self._drop = (self._drop or set()) | listed
        # other hop-by-hop headers are not copied

    def on_headers_complete(self) -> None:
        lines, reason, drop = self._lines, self._reason or b"-", self._drop
        has_length, chunked, traceresponse = self._has_length, self._chunked, self._traceresponse
        self._lines, self._reason, self._drop = [], b"", None
        self._has_length = self._chunked = self._traceresponse = False
        ex = self.ex
        if ex is None:
            return
        if drop:
            lines = _http.without_headers(lines, drop)
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True
            ex.interim_response(status, reason, lines)
            return
        ex.response_head(status, reason, lines, has_length, chunked, traceresponse)
        if ex.method == "HEAD":
            # llhttp cannot be told a response answers HEAD: finish here, fresh parser after.
            self.reset_parser = True
            ex.response_done(self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if self.ex is not None:
            self.ex.response_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.ex is not None:
            self.ex.response_done(self.parser.should_keep_alive())

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed and self.paused:
            self.paused = False
            self.transport.resume_reading()

    # --- used by the exchange ---------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        self.ex = None
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()
        self.pool.forget(self)


class ConnectionPool:
    """Keep-alive connections per upstream (host, port)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        connect_timeout_s: float,
        idle_timeout_s: float,
        max_idle_per_key: int,
    ) -> None:
        self.loop = loop
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.max_idle_per_key = max_idle_per_key
        self.open: set[UpstreamConnection] = set()
        self._idle: dict[Key, deque[UpstreamConnection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def acquire(self, key: Key, ex: Exchange, *, fresh: bool = False) -> None:
        """Attach `ex` to an idle connection now, or to a new one once connected."""
        idle = self._idle.get(key)
        while idle and not fresh:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                ex.attach_upstream(conn)
                return
        task = self.loop.create_task(self._connect(key, ex))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, key: Key, ex: Exchange) -> None:
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: UpstreamConnection(self, key), *key),
                self.connect_timeout_s,
            )
        except TimeoutError:
            ex.upstream_failed(504, f"upstream {key[0]}:{key[1]} connect timed out")
            return
        except OSError as exc:
            ex.upstream_failed(
                502, f"upstream {key[0]}:{key[1]} unreachable: {exc.strerror or exc}"
            )
            return
        if ex.finished:
            self.release(conn)
        else:
            ex.attach_upstream(conn)

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange finished cleanly; keep it if there is room."""
        conn.ex = None
        if conn.closed:
            return
        idle = self._idle.get(conn.key)
        if idle is None:  # not setdefault: that would build a deque on every release
            idle = self._idle[conn.key] = deque()
        if len(idle) >= self.max_idle_per_key:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        if conn.paused:
            conn.resume_reading()  # so that we notice the upstream closing it
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        self.open.discard(conn)
        idle = self._idle.get(conn.key)
        if idle is not None and conn in idle:
            idle.remove(conn)

    def sweep(self, now: float, upstream_timeout_s: float) -> None:
        """Close idle connections past their time and time out silent upstreams."""
        for conn in list(self.open):
            ex = conn.ex
            if ex is None:
                if now - conn.idle_since > self.idle_timeout_s:
                    conn.close()
            elif (
                ex.request_complete
                and not conn.paused  # a slow client paused us: not the upstream's fault
                and now - conn.last_activity > upstream_timeout_s
            ):
                ex.upstream_failed(504, "upstream timed out")
                conn.close()

    def close_all(self) -> None:
        for conn in list(self.open):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
