"""The sidecar process: listeners, admin endpoints, engine stream, span export, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping

from aiohttp import web
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sidecar.config import ConfigError, SidecarConfig
from sidecar.proxy import EGRESS, INGRESS, ProxyListener
from sidecar.routes import RouteMatcher
from sidecar.telemetry import Telemetry, red_collector
from sidecar.upstream import ConnectionPool
from sloengine.client import EngineClient, EngineClientCollector
from sloengine.client.podlabels import PodLabels
from sloengine.conventions import (
    HTTP_HEALTHZ_PATH,
    HTTP_METRICS_PATH,
    HTTP_READYZ_PATH,
    LABEL_REVISION,
    VARIANTS,
)
from sloengine.telemetry.red import RedRecorder
from sloengine.telemetry.spans import SpanSink, otlp_exporter_from_env
from sloengine.telemetry.tracecontext import IdGenerator

__all__ = ["Sidecar"]

log = logging.getLogger(__name__)

_SWEEP_MIN_S, _SWEEP_MAX_S = 0.05, 1.0
_SCOPE = InstrumentationScope("sidecar", "0.1.0")


class Sidecar:
    """One sidecar: `await start()`, read `addresses`, `await drain()` / `await stop()`."""

    def __init__(
        self,
        config: SidecarConfig,
        *,
        env: Mapping[str, str] | None = None,
        span_exporter: SpanExporter | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self._env = dict(os.environ if env is None else env)
        self._span_exporter = span_exporter
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.listeners: dict[str, ProxyListener] = {}
        self.addresses: dict[str, tuple[str, int]] = {}
        self.engine: EngineClient | None = None
        self.spans: SpanSink | None = None
        self.telemetry: Telemetry | None = None
        self._admin: web.AppRunner | None = None
        self._admin_server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._pool: ConnectionPool | None = None
        self._ready = False

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        try:
            exporter = self._span_exporter or otlp_exporter_from_env(self._env)
        except ValueError as exc:  # an unsupported OTEL_EXPORTER_OTLP_PROTOCOL
            raise ConfigError(str(exc)) from None
        if exporter is not None:
            resource = Resource.create({SERVICE_NAME: cfg.service, "service.variant": cfg.variant})
            self.spans = SpanSink.from_env(exporter, resource, self._env, scope=_SCOPE)
            self.spans.start()
        if cfg.engine:
            self.engine = EngineClient(
                cfg.engine,
                cfg.producer_id,
                token=cfg.engine_token,
                flush_interval_s=cfg.flush_interval_s,
                max_pending_batches=cfg.max_pending_batches,
                extra_labels={LABEL_REVISION: cfg.revision} if cfg.revision else None,
            )
            await self.engine.start()
            self.registry.register(EngineClientCollector(self.engine, prefix="sidecar_engine"))
        self.pod_labels = PodLabels(
            cfg.pod_labels_file,
            default_variant=cfg.variant,
            default_revision=cfg.revision,
            variant_label=cfg.variant_label,
            variant_map=dict(cfg.variant_map),
            revision_label=cfg.revision_label,
            allowed_variants=VARIANTS,
        )
        identity = self.pod_labels.current()
        red = red_collector()
        recorder = red.recorder(cfg.service, identity.variant, identity.revision, self.engine)
        telemetry = Telemetry(recorder, spans=self.spans, in_flight=self._in_flight)
        self.telemetry = telemetry
        self.registry.register(red)
        self.registry.register(telemetry)
        settings = cfg.proxy
        self._pool = ConnectionPool(
            loop,
            connect_timeout_s=settings.connect_timeout_s,
            idle_timeout_s=settings.upstream_idle_timeout_s,
            max_idle_per_key=settings.max_idle_per_host,
        )
        ids = IdGenerator()
        ingress = ProxyListener(
            INGRESS,
            loop,
            self._pool,
            settings,
            telemetry,
            ids,
            upstream=cfg.upstream,
            routes=RouteMatcher(cfg.routes),
        )
        await self._serve(loop, ingress, cfg.listen)
        if cfg.egress_listen is not None:
            egress = ProxyListener(EGRESS, loop, self._pool, settings, telemetry, ids)
            await self._serve(loop, egress, cfg.egress_listen)
        await self._start_admin()
        self._sweeper = loop.create_task(self._sweep_loop())
        self._ready = True

    async def _serve(
        self, loop: asyncio.AbstractEventLoop, listener: ProxyListener, address: tuple[str, int]
    ) -> None:
        server = await loop.create_server(
            listener.protocol, address[0], address[1], reuse_address=True, backlog=2048
        )
        listener.server = server
        self.listeners[listener.kind] = listener
        self.addresses[listener.kind] = _bound(server.sockets[0])

    @property
    def red(self) -> RedRecorder:
        """The RED recorder of the pod's current variant and revision (after `start`)."""
        assert self.telemetry is not None, "Sidecar.red before start()"
        return self.telemetry.red

    async def _start_admin(self) -> None:
        app = web.Application()
        app.router.add_get(HTTP_METRICS_PATH, self._metrics)
        app.router.add_get(HTTP_HEALTHZ_PATH, self._healthz)
        app.router.add_get(HTTP_READYZ_PATH, self._readyz)
        self._admin = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._admin.setup()
        handler = self._admin.server
        assert handler is not None
        host, port = self.config.admin_listen
        loop = asyncio.get_running_loop()
        self._admin_server = await loop.create_server(handler, host, port, reuse_address=True)
        self.addresses["admin"] = _bound(self._admin_server.sockets[0])

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self._ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready (starting or draining)\n")

    def _in_flight(self) -> int:
        ingress = self.listeners.get(INGRESS)
        if ingress is None:
            return 0
        return sum(len(c.exchanges) for c in ingress.connections)

    async def _sweep_loop(self) -> None:
        s = self.config.proxy
        tick = min(s.header_timeout_s, s.idle_timeout_s, s.body_timeout_s, s.upstream_timeout_s)
        tick = max(_SWEEP_MIN_S, min(_SWEEP_MAX_S, tick / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            try:
                # A relabelled pod (promotion) reports its new variant/revision from now on.
                identity = self.pod_labels.current()
                if self.telemetry is not None:
                    self.telemetry.red = self.red.with_identity(identity.variant, identity.revision)
                for listener in self.listeners.values():
                    listener.sweep(now)
                if self._pool is not None:
                    self._pool.sweep(now, s.upstream_timeout_s)
            except Exception:  # a bug here must not stop timeouts for good
                log.exception("timeout sweep failed")

    async def drain(self) -> None:
        """Stop accepting, finish in-flight requests (bounded), flush metrics and spans."""
        self._ready = False
        for listener in self.listeners.values():
            if listener.server is not None:
                listener.server.close()
            listener.start_draining()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.drain_timeout_s
        while any(lst.busy for lst in self.listeners.values()) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await self.stop()

    async def stop(self) -> None:
        """Close everything now (in-flight requests are cut)."""
        self._ready = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for listener in self.listeners.values():
            if listener.server is not None:
                listener.server.close()
            for conn in list(listener.connections):
                conn.abort()
        if self._pool is not None:
            self._pool.close_all()
        if self._admin_server is not None:
            self._admin_server.close()
        if self._admin is not None:
            await self._admin.cleanup()
        if self.engine is not None:
            await self.engine.aclose(timeout_s=min(5.0, self.config.drain_timeout_s))
        if self.spans is not None:
            await asyncio.to_thread(self.spans.shutdown, 5.0)


def _bound(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)
