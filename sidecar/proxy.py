"""The HTTP/1.1 proxy: client connections, exchanges, and the two listener kinds.

An *ingress* listener forwards every request to one upstream (the service) and records a
server span and RED metrics; an *egress* listener forwards the service's outbound calls to
the host named by the absolute URL or the Host header and records a client span.

Bodies stream in both directions (Content-Length passed through, chunked re-framed), with
flow control both ways: a slow reader pauses the other side's reads. Writes made while
parsing one read are joined into one `transport.write` per read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import httptools

from sidecar._http import HOP_BY_HOP, KNOWN_METHODS, connection_tokens, parse_authority
from sidecar._http import simple_response as _answer
from sidecar.routes import RouteMatcher
from sidecar.tracecontext import Hop, IdGenerator, continue_trace
from sidecar.upstream import ConnectionPool, Key, UpstreamConnection

__all__ = ["EGRESS", "INGRESS", "Exchange", "ExchangeObserver", "ProxyListener", "ProxySettings"]

INGRESS = "ingress"
EGRESS = "egress"

_NONE, _LENGTH, _CHUNKED, _CLOSE = 0, 1, 2, 3
_PAUSE_PIPELINE, _PAUSE_UPSTREAM, _PAUSE_PENDING = 1, 2, 4
_MAX_PENDING = 256 * 1024
# Headers the proxy sets itself on the way to the upstream.
_REPLACED = frozenset(
    {b"traceparent", b"tracestate", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
_IDLE, _HEADERS, _BODY, _WAIT = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Limits and timeouts (seconds) shared by the listeners."""

    header_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 60.0
    upstream_idle_timeout_s: float = 4.0
    max_header_bytes: int = 32 * 1024
    max_idle_per_host: int = 256


class ExchangeObserver(Protocol):
    """Told about every finished exchange (metrics, spans) and rejected request."""

    def exchange_done(self, ex: Exchange) -> None: ...

    def request_rejected(self, kind: str, status: int) -> None: ...


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
        "upstream",
    )

    def __init__(self, conn: ClientConnection, method: str, route: str, start: float) -> None:
        self.conn = conn
        self.method = method
        self.route = route
        self.start = start
        self.start_ns = 0
        self.end = 0.0
        self.head = b""
        self.hop: Hop | None = None
        self.key: Key = ("", 0)
        self.keep_alive = True
        self.req_framing = _NONE
        self.request_complete = False
        self.retried = False
        self.finished = False
        self.status = 0
        self.upstream: UpstreamConnection | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._resp_framing = _NONE
        self._upstream_framing = _NONE

    # --- request side (called by the client connection) -----------------------------------
    def send(self, data: bytes) -> None:
        up = self.upstream
        if up is not None:
            up.write(data)
        elif not self.finished:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size > _MAX_PENDING:
                self.conn.pause_reading_for(_PAUSE_PENDING)

    def attach_upstream(self, up: UpstreamConnection) -> None:
        if self.finished:
            up.pool.release(up)
            return
        self.upstream = up
        up.attach(self)
        up.write(self.head)
        if self._pending:
            up.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_size = 0
            self.conn.resume_reading_for(_PAUSE_PENDING)

    # --- response side (called by the upstream connection) --------------------------------
    def interim_response(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        if self.conn.http_minor >= 1:
            self.conn.write(_status_line(status, reason) + _filter(headers, set()) + b"\r\n")

    def response_head(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], upstream_keep: bool
    ) -> None:
        self.status = status
        length = None
        chunked = False
        drop: set[bytes] = set()
        for name, value in headers:
            lname = name.lower()
            if lname == b"content-length":
                length = value
            elif lname == b"transfer-encoding":
                chunked = chunked or b"chunked" in value.lower()
            elif lname == b"connection":
                drop |= connection_tokens(value)
        no_body = self.method == "HEAD" or status in (204, 304)
        if no_body:
            self._resp_framing = self._upstream_framing = _NONE
        elif chunked:
            self._upstream_framing = _CHUNKED
            self._resp_framing = _CHUNKED if self.conn.http_minor >= 1 else _CLOSE
        elif length is not None:
            self._resp_framing = self._upstream_framing = _LENGTH
        else:
            self._upstream_framing = _CLOSE
            self._resp_framing = _CHUNKED if self.conn.http_minor >= 1 else _CLOSE
        if self._resp_framing == _CLOSE or self.conn.listener.draining:
            self.keep_alive = False
        out = [_status_line(status, reason), _filter(headers, drop, keep_length=True)]
        if self._resp_framing == _CHUNKED:
            out.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            out.append(b"connection: close\r\n\r\n")
        elif self.conn.http_minor == 0:
            out.append(b"connection: keep-alive\r\n\r\n")
        else:
            out.append(b"\r\n")
        self.conn.write(b"".join(out))
        if self.method == "HEAD" and self.upstream is not None:
            # llhttp cannot be told a response answers HEAD: finish here, fresh parser after.
            self.upstream.reset_parser = True
            self.response_done(upstream_keep)

    def response_body(self, body: bytes) -> None:
        if self._resp_framing == _CHUNKED:
            self.conn.write(b"%x\r\n" % len(body))
            self.conn.write(body)
            self.conn.write(b"\r\n")
        else:
            self.conn.write(body)

    def response_done(self, upstream_keep: bool | None = None) -> None:
        if self.finished:
            return
        if self._resp_framing == _CHUNKED:
            self.conn.write(b"0\r\n\r\n")
        up, self.upstream = self.upstream, None
        if up is not None:
            keep = up.parser.should_keep_alive() if upstream_keep is None else upstream_keep
            if keep and self.request_complete and self._upstream_framing != _CLOSE:
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
            # new one if nothing of the request body has been consumed.
            if up.reused and not self.retried and self.req_framing == _NONE:
                self.retried = True
                up.pool.acquire(self.key, self, fresh=True)
                return
            reason = "reset" if exc is not None else "closed"
            self.upstream_failed(502, f"upstream {reason} the connection before answering")
        elif self._upstream_framing == _CLOSE:
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
            self.conn.write(_answer(status, message, close=not self.keep_alive))
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


def _status_line(status: int, reason: bytes) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, reason or b"-")


def _filter(
    headers: list[tuple[bytes, bytes]], drop: set[bytes], *, keep_length: bool = True
) -> bytes:
    out = bytearray()
    for name, value in headers:
        lname = name.lower()
        if lname in HOP_BY_HOP or lname in drop or (not keep_length and lname == b"content-length"):
            continue
        out += name + b": " + value + b"\r\n"
    return bytes(out)


class ClientConnection(asyncio.Protocol):
    """One downstream connection (a client on ingress, the service on egress)."""

    def __init__(self, listener: ProxyListener) -> None:
        self.listener = listener
        self.loop = listener.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = b""
        self.http_minor = 1
        self.mode = _IDLE
        self.last_activity = 0.0
        self.message_start = 0.0
        self.message_start_perf = 0.0
        self.exchanges: deque[Exchange] = deque()
        self.parsing: Exchange | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._in_trailers = False
        self._out: list[bytes] = []
        self._paused = 0
        self._closed = False
        self._broken = False

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b""
        self.last_activity = self.loop.time()
        self.listener.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return  # the parser is in an error state; we are closing
        self.last_activity = self.loop.time()
        try:
            self.parser.feed_data(data)
        except _Rejected as exc:
            self._reject(exc.status, exc.message)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Rejected):
                self._reject(cause.status, cause.message)
            else:
                raise
        except httptools.HttpParserUpgrade:
            self._reject(501, "protocol upgrades and CONNECT are not supported")
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed request: {exc}")
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.listener.connections.discard(self)
        while self.exchanges:
            self.exchanges[0].client_gone()

    def pause_writing(self) -> None:
        if self.exchanges and (up := self.exchanges[0].upstream) and up.transport:
            up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.exchanges and (up := self.exchanges[0].upstream) and up.transport:
            up.transport.resume_reading()

    # --- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._in_trailers = False
        self.message_start = self.loop.time()  # uvloop's clock: ms resolution, fine for timeouts
        self.message_start_perf = time.perf_counter()
        if not self.exchanges:
            self.mode = _HEADERS

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self.listener.settings.max_header_bytes:
            raise _Rejected(431, "request header fields too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_trailers:
            return  # trailers are dropped: the upstream request is re-framed
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.listener.settings.max_header_bytes:
            raise _Rejected(431, "request header fields too large")
        self._headers.append((name, value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        self._in_trailers = True
        parser = self.parser
        if parser.should_upgrade():
            raise _Rejected(501, "protocol upgrades and CONNECT are not supported")
        self.http_minor = 0 if parser.get_http_version() == "1.0" else 1
        ex = self.listener.new_exchange(self, parser.get_method(), self._url, self._headers)
        ex.keep_alive = parser.should_keep_alive() and not self.listener.draining
        self.parsing = ex
        self.exchanges.append(ex)
        if len(self.exchanges) == 1:
            self.mode = _BODY
            self.listener.pool.acquire(ex.key, ex)
        else:
            self.pause_reading_for(_PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is None:
            return
        if ex.req_framing == _CHUNKED:
            ex.send(b"%x\r\n" % len(body) + body + b"\r\n")
        else:
            ex.send(body)

    def on_message_complete(self) -> None:
        ex, self.parsing = self.parsing, None
        if ex is None:
            return
        if ex.req_framing == _CHUNKED:
            ex.send(b"0\r\n\r\n")
        ex.request_complete = True
        if ex is (self.exchanges[0] if self.exchanges else None):
            self.mode = _WAIT
            if ex.upstream is not None:
                ex.upstream.last_activity = self.loop.time()

    # --- used by exchanges ------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._out.append(data)

    def flush(self) -> None:
        out = self._out
        if out and self.transport is not None and not self._closed:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    def abort(self) -> None:
        self.flush()
        if self.transport is not None and not self._closed:
            self._closed = True
            self.transport.abort()

    def pause_reading_for(self, reason: int) -> None:
        if not self._paused and self.transport is not None:
            self.transport.pause_reading()
        self._paused |= reason

    def resume_reading_for(self, reason: int) -> None:
        was = self._paused
        self._paused &= ~reason
        if was and not self._paused and self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def exchange_finished(self, ex: Exchange) -> None:
        if self.exchanges and self.exchanges[0] is ex:
            self.exchanges.popleft()
        elif ex in self.exchanges:
            self.exchanges.remove(ex)
        if self.parsing is ex:
            self.parsing = None
        self.listener.observer.exchange_done(ex)
        if self._closed:
            return
        if not ex.keep_alive or not ex.request_complete:
            self.flush()
            self._closed = True
            if self.transport is not None:
                self.transport.close()
            return
        if self.exchanges:
            nxt = self.exchanges[0]
            self.mode = _WAIT if nxt.request_complete else _BODY
            self.listener.pool.acquire(nxt.key, nxt)
        else:
            self.mode = _IDLE
            self.last_activity = self.loop.time()
            self.resume_reading_for(_PAUSE_PIPELINE)

    # --- timeouts and rejects ----------------------------------------------------------------
    def check_timeouts(self, now: float) -> None:
        settings = self.listener.settings
        if self.mode == _IDLE:
            if now - self.last_activity > settings.idle_timeout_s:
                self.close()
        elif self.mode == _HEADERS:
            if now - self.message_start > settings.header_timeout_s:
                self._reject(408, "request headers not received in time")
        elif (
            self.mode == _BODY
            and self.exchanges
            and not self._paused
            and now - self.last_activity > settings.body_timeout_s
        ):
            self.exchanges[0].upstream_failed(408, "request body not received in time")

    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self._closed = True
            self.transport.close()

    def _reject(self, status: int, message: str) -> None:
        self._broken = True
        self.listener.observer.request_rejected(self.listener.kind, status)
        if self.transport is not None:
            self.transport.pause_reading()
        ex = self.parsing
        if ex is not None:  # bad request body: fail this exchange, then close
            ex.keep_alive = False
            ex.request_complete = False
            ex.upstream_failed(status, message)
            return
        if self.exchanges:  # a bad pipelined request: close once the ones before are done
            self.exchanges[-1].keep_alive = False
            return
        self.write(_answer(status, message, close=True))
        self.flush()
        self.close()


class ProxyListener:
    """One listening socket's behaviour: where requests go and how they are traced."""

    def __init__(
        self,
        kind: str,
        loop: asyncio.AbstractEventLoop,
        pool: ConnectionPool,
        settings: ProxySettings,
        observer: ExchangeObserver,
        ids: IdGenerator,
        *,
        upstream: Key | None = None,
        routes: RouteMatcher | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.kind = kind
        self.loop = loop
        self.pool = pool
        self.settings = settings
        self.observer = observer
        self.ids = ids
        self.upstream = upstream
        self.routes = routes
        self.clock_ns = clock_ns
        self.host_header = b""
        if upstream is not None:
            name = f"[{upstream[0]}]" if ":" in upstream[0] else upstream[0]
            self.host_header = f"{name}:{upstream[1]}".encode()
        self.connections: set[ClientConnection] = set()
        self.draining = False
        self.server: asyncio.Server | None = None

    def protocol(self) -> ClientConnection:
        return ClientConnection(self)

    def new_exchange(
        self,
        conn: ClientConnection,
        method_b: bytes,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> Exchange:
        method = method_b.decode("ascii", "replace")
        start = conn.message_start_perf
        traceparents: list[str] = []
        tracestates: list[str] = []
        drop = set(HOP_BY_HOP) | _REPLACED
        host = b""
        xff = b""
        req_framing = _NONE
        for name, value in headers:
            lname = name.lower()
            if lname == b"connection":
                drop |= connection_tokens(value)
            elif lname == b"traceparent":
                traceparents.append(value.decode("latin-1"))
            elif lname == b"tracestate":
                tracestates.append(value.decode("latin-1"))
            elif lname == b"host":
                host = value
            elif lname == b"x-forwarded-for":
                xff = xff + b", " + value if xff else value
            elif lname == b"transfer-encoding":
                req_framing = _CHUNKED
            elif lname == b"content-length" and req_framing == _NONE and value != b"0":
                req_framing = _LENGTH
        target = url
        if self.kind == INGRESS:
            assert self.upstream is not None and self.routes is not None
            key = self.upstream
            route = self.routes.match(url.decode("latin-1"))
        else:
            route = ""
            authority = host
            if url.startswith(b"http://"):
                rest = url[7:]
                cut = min(
                    (i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest)
                )
                authority, target = rest[:cut], rest[cut:] or b"/"
                if target.startswith(b"?"):
                    target = b"/" + target
                drop.add(b"host")
            elif url.startswith(b"https://"):
                raise _Rejected(
                    501, "egress: https must be sent as CONNECT, which is not supported"
                )
            parsed = parse_authority(authority) if authority else None
            if parsed is None:
                raise _Rejected(400, "egress: no target host (absolute URL or Host header)")
            key = parsed
            host = authority
        ex = Exchange(conn, method if method in KNOWN_METHODS else "_OTHER", route, start)
        ex.start_ns = self.clock_ns()
        ex.key = key
        ex.req_framing = req_framing
        hop = continue_trace(traceparents, tracestates, self.ids)
        ex.hop = hop
        out = bytearray(method_b + b" " + target + b" HTTP/1.1\r\n")
        for name, value in headers:
            if name.lower() not in drop:
                out += name + b": " + value + b"\r\n"
        if self.kind == EGRESS and b"host" in drop:
            out += b"host: " + host + b"\r\n"
        elif not host:  # an HTTP/1.0 client may omit Host; HTTP/1.1 upstreams need one
            out += b"host: " + self.host_header + b"\r\n"
        out += b"traceparent: " + hop.traceparent.encode() + b"\r\n"
        if hop.tracestate:
            out += b"tracestate: " + hop.tracestate.encode("latin-1") + b"\r\n"
        if self.kind == INGRESS:
            out += b"x-forwarded-for: " + (xff + b", " + conn.peer if xff else conn.peer) + b"\r\n"
            out += b"x-forwarded-proto: http\r\n"
            if host:
                out += b"x-forwarded-host: " + host + b"\r\n"
        if req_framing == _CHUNKED:
            out += b"transfer-encoding: chunked\r\n"
        out += b"\r\n"
        ex.head = bytes(out)
        return ex

    def sweep(self, now: float) -> None:
        for conn in list(self.connections):
            conn.check_timeouts(now)

    def start_draining(self) -> None:
        """Answer with `connection: close` from now on and close idle connections."""
        self.draining = True
        for conn in list(self.connections):
            if not conn.exchanges:
                conn.close()

    @property
    def busy(self) -> bool:
        return any(conn.exchanges for conn in self.connections)
