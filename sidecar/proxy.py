"""The HTTP/1.1 proxy front: client connections and the two listener kinds.

An *ingress* listener forwards every request to one upstream (the service) and records a
server span and RED metrics; an *egress* listener forwards the service's outbound calls to
the host named by the absolute URL or the Host header and records a client span.

Headers are classified once, in the parser callbacks: the ones the proxy owns (hop-by-hop,
framing, trace context, forwarding) are taken aside and every other one is copied through.
Bodies stream both ways (Content-Length passed through, chunked re-framed) with flow
control: a slow reader pauses the other side. Writes made while parsing one read are
joined into one `transport.write`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import httptools

from sidecar import _http
from sidecar._http import METHOD_LABELS, parse_authority, request_header_class
from sidecar._http import PLAIN_CONNECTION_VALUES as _PLAIN_CONNECTION
from sidecar._http import REQUEST_CLASS_CACHE as _REQUEST_CLASSES  # hot path: skip a call
from sidecar._http import simple_response as _answer
from sidecar.exchange import CHUNKED, LENGTH, NONE, PAUSE_PIPELINE, Exchange
from sidecar.routes import RouteMatcher
from sidecar.upstream import ConnectionPool, Key
from sloengine.telemetry.tracecontext import IdGenerator, continue_trace

__all__ = [
    "EGRESS",
    "INGRESS",
    "ClientConnection",
    "ExchangeObserver",
    "ProxyListener",
    "ProxySettings",
]

INGRESS = "ingress"
EGRESS = "egress"

_IDLE, _HEADERS, _BODY, _WAIT = 0, 1, 2, 3
_perf_counter = time.perf_counter


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
        self.ingress = listener.kind == INGRESS
        self._max_header_bytes = listener.settings.max_header_bytes
        self.out: list[bytes] = []  # response bytes to send, joined by flush()
        self._paused = 0
        self._closed = False
        self._broken = False
        self._reset_message()

    def _reset_message(self) -> None:
        # The request head being parsed, classified header by header (on_message_begin
        # repeats these assignments inline: keep the two in step).
        self.url = b""
        self.lines: list[bytes] = []
        self.traceparents: list[str] = []
        self.tracestates: list[str] = []
        self.host = b""
        self.host_seen = False
        self.xff = b""
        self.framing = NONE
        self.drop: set[bytes] | None = None
        self.has_connection = False  # a Connection header was seen
        self._header_bytes = 0
        self._in_trailers = False

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
            if not isinstance(cause, _Rejected):
                raise
            self._reject(cause.status, cause.message)
        except httptools.HttpParserUpgrade:
            self._reject(501, "protocol upgrades and CONNECT are not supported")
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed request: {exc}")
        if self.out:
            self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.listener.connections.discard(self)
        while self.exchanges:
            self.exchanges[0].client_gone()

    def pause_writing(self) -> None:
        if self.exchanges and (up := self.exchanges[0].upstream) is not None:
            up.pause_reading()

    def resume_writing(self) -> None:
        if self.exchanges and (up := self.exchanges[0].upstream) is not None:
            up.resume_reading()

    # --- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        # _reset_message() inlined: this runs once per request.
        self.url = b""
        self.lines = []
        self.traceparents = []
        self.tracestates = []
        self.host = self.xff = b""
        self.host_seen = False
        self.framing = NONE
        self.drop = None
        self.has_connection = False
        self._header_bytes = 0
        self._in_trailers = False
        self.message_start = self.loop.time()  # uvloop's clock: ms resolution, fine for timeouts
        self.message_start_perf = _perf_counter()
        if not self.exchanges:
            self.mode = _HEADERS

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._header_bytes += len(url)
        if self._header_bytes > self._max_header_bytes:
            raise _Rejected(431, "request header fields too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_trailers:
            return  # trailers are dropped: the upstream request is re-framed
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self._max_header_bytes:
            raise _Rejected(431, "request header fields too large")
        code = _REQUEST_CLASSES.get(name)
        if code is None:
            code = request_header_class(name)
        if not code:
            self.lines += (name, b": ", value, b"\r\n")
        elif code == _http.H_CONTENT_LENGTH:
            self.lines += (name, b": ", value, b"\r\n")
            if self.framing == NONE and value.strip() != b"0":
                self.framing = LENGTH
        elif code == _http.H_HOST:
            # RFC 9112 section 3.2: more than one Host, or an invalid one, is a 400. Two
            # Hosts would let the service and the proxy (route, span) disagree on the target.
            if self.host_seen:
                raise _Rejected(400, "more than one Host header (RFC 9112 section 3.2)")
            self.host_seen = True
            self.host = value.strip()
            if not _http.is_valid_host(self.host):
                raise _Rejected(400, "invalid Host header value (RFC 9110 section 7.2)")
        elif code == _http.H_TRACEPARENT:
            self.traceparents.append(value.decode("latin-1"))
        elif code == _http.H_TRACESTATE:
            self.tracestates.append(value.decode("latin-1"))
        elif code == _http.H_TRANSFER_ENCODING:
            # The body is re-chunked upstream and Transfer-Encoding (hop-by-hop) dropped, so a
            # coding other than chunked would be lost: RFC 9112 section 6.1 says 501.
            if value.strip().lower() != b"chunked":
                raise _Rejected(501, "transfer codings other than chunked are not supported")
            self.framing = CHUNKED
        elif code == _http.H_CONNECTION:
            self.has_connection = True
            if value not in _PLAIN_CONNECTION:  # plain keep-alive / close: nothing to drop
                listed = _http.listed_in_connection(value)
                if listed:
                    self.drop = (self.drop or set()) | listed
        elif code == _http.H_X_FORWARDED_FOR:
            if self.ingress:
                self.xff = self.xff + b", " + value.strip() if self.xff else value.strip()
            else:
                self.lines += (name, b": ", value, b"\r\n")
        elif code == _http.H_X_FORWARDED and not self.ingress:
            self.lines += (name, b": ", value, b"\r\n")
        # H_DROP, and X-Forwarded-Proto/-Host on ingress (the proxy sets them): not copied

    def on_headers_complete(self) -> None:
        self._in_trailers = True
        parser = self.parser
        if parser.should_upgrade():
            raise _Rejected(501, "protocol upgrades and CONNECT are not supported")
        keep_alive = parser.should_keep_alive()
        if keep_alive and not self.has_connection:
            # Kept alive without asking: HTTP/1.1. This skips get_http_version(), which
            # formats a string (ten times the cost of the other parser queries).
            self.http_minor = 1
        else:
            self.http_minor = 0 if parser.get_http_version() == "1.0" else 1
        if not self.host_seen and self.http_minor == 1:
            raise _Rejected(400, "HTTP/1.1 request without a Host header (RFC 9112 section 3.2)")
        listener = self.listener
        ex = listener.new_exchange(self, parser.get_method())
        ex.keep_alive = keep_alive and not listener.draining
        self.parsing = ex
        exchanges = self.exchanges
        exchanges.append(ex)
        if len(exchanges) == 1:
            self.mode = _BODY
            listener.pool.acquire(ex.key, ex)
        else:
            self.pause_reading_for(PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is None:
            return
        if ex.req_framing == CHUNKED:
            ex.send(b"%x\r\n%b\r\n" % (len(body), body))
        else:
            ex.send(body)

    def on_message_complete(self) -> None:
        ex, self.parsing = self.parsing, None
        if ex is None:
            return
        if ex.req_framing == CHUNKED:
            ex.send(b"0\r\n\r\n")
        ex.request_complete = True
        if self.exchanges and ex is self.exchanges[0]:
            self.mode = _WAIT
            if ex.upstream is not None:
                ex.upstream.last_activity = self.loop.time()

    # --- used by exchanges ------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.out.append(data)

    def flush(self) -> None:
        out = self.out
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
        exchanges = self.exchanges
        if exchanges and exchanges[0] is ex:
            exchanges.popleft()
        elif ex in exchanges:
            exchanges.remove(ex)
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
        if exchanges:
            nxt = exchanges[0]
            self.mode = _WAIT if nxt.request_complete else _BODY
            self.listener.pool.acquire(nxt.key, nxt)
        else:
            self.mode = _IDLE
            self.last_activity = self.loop.time()
            if self._paused:
                self.resume_reading_for(PAUSE_PIPELINE)

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
        self.connections: set[ClientConnection] = set()
        self.draining = False
        self.server: asyncio.AbstractServer | None = None
        self.host_header = b""
        if upstream is not None:
            name = f"[{upstream[0]}]" if ":" in upstream[0] else upstream[0]
            self.host_header = f"{name}:{upstream[1]}".encode()

    def protocol(self) -> ClientConnection:
        return ClientConnection(self)

    def new_exchange(self, conn: ClientConnection, method_b: bytes) -> Exchange:
        """Build the exchange and the upstream request head from the parsed request."""
        url = conn.url
        target = url
        host = conn.host
        ingress = conn.ingress
        if ingress:
            assert self.upstream is not None and self.routes is not None
            key = self.upstream
            route = self.routes.match(url)
        else:
            key, target, host = _egress_target(url, host)
            route = ""
        lines = conn.lines
        if conn.drop:
            lines = _http.without_headers(lines, conn.drop)
        hop = continue_trace(conn.traceparents, conn.tracestates, self.ids)
        traceparent = hop.traceparent.encode()  # also the ingress answer's traceresponse
        # The head is built as one flat list and joined once: the forwarded request line,
        # the copied headers, then the ones the proxy sets.
        head = [method_b, b" ", target, b" HTTP/1.1\r\n"]
        head += lines
        head += (b"host: ", host or self.host_header, b"\r\ntraceparent: ", traceparent)
        if hop.tracestate:
            head += (b"\r\ntracestate: ", hop.tracestate.encode("latin-1"))
        if ingress:
            xff = conn.xff
            head += (
                b"\r\nx-forwarded-for: ",
                xff + b", " + conn.peer if xff else conn.peer,
                b"\r\nx-forwarded-proto: http",
            )
            if host:
                head += (b"\r\nx-forwarded-host: ", host)
        framing = conn.framing
        head.append(
            b"\r\ntransfer-encoding: chunked\r\n\r\n" if framing == CHUNKED else b"\r\n\r\n"
        )
        return Exchange(
            conn,
            METHOD_LABELS.get(method_b, "_OTHER"),
            route,
            key,
            b"".join(head),
            hop,
            traceparent,
            framing,
            conn.message_start_perf,
            self.clock_ns(),
        )

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


def _egress_target(url: bytes, host: bytes) -> tuple[Key, bytes, bytes]:
    """(upstream key, origin-form target, Host value) for an egress request."""
    target = url
    authority = host
    if url.startswith(b"http://"):
        rest = url[7:]
        cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
        authority, target = rest[:cut], rest[cut:] or b"/"
        if target.startswith(b"?"):
            target = b"/" + target
    elif url.startswith(b"https://"):
        raise _Rejected(501, "egress: https must be sent as CONNECT, which is not supported")
    key = parse_authority(authority) if authority else None
    if key is None:
        raise _Rejected(400, "egress: no target host (absolute URL or Host header)")
    return key, target, authority
