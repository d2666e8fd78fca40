"""The running engine: its services, and the app that wires store, gRPC, HTTP, canary, UI.

    app = EngineApp(config)
    await app.start()        # recover the store, then serve gRPC and HTTP
    print(app.grpc_port, app.http_port)
    await app.stop(grace_s=5)  # refuse new calls, finish running ones, snapshot, close

`build_state` builds the engine's services once from the config (`sloengine.engine`: clock,
readiness, store handle, ingest limits, status; the verdicts' window source, push or pull);
`EngineApp.start` hands each transport the services it needs. The canary and the UI are
part of the engine, wired explicitly; `plugins=()` leaves them out (tests of the core engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry

from sloengine import conventions
from sloengine.engine import (
    Clock,
    IngestLimits,
    Readiness,
    StatusService,
    StoreHandle,
    StoreWindows,
    WindowSource,
)
from sloengine.errors import SpecError
from sloengine.http import EngineMetrics, create_http_app
from sloengine.model import SLO, BurnRatePolicy, Catalog
from sloengine.settings.config import EngineConfig, parse_listen
from sloengine.settings.credentials import Credentials, Scope
from sloengine.specs.policy import catalog_policies

if TYPE_CHECKING:
    import grpc

    from sloengine.canary import CanaryCore, CanaryVerdict
    from sloengine.engine.evaluate import SLOStatusResult
    from sloengine.engine.pull import PromPuller
    from sloengine.grpc import EngineGrpcServer
    from sloengine.maths.timeslices import SliceLedger
    from sloengine.pipelines import PipelineReceiver
    from sloengine.store import DurableStore, SeriesStore

__all__ = [
    "EngineApp",
    "EngineConfig",
    "EngineState",
    "build_state",
    "load_specs",
    "register_canary",
]

log = logging.getLogger(__name__)

CANARY_PLUGIN = "sloengine.canary"
UI_PLUGIN = "sloengine.ui"
# The optional parts of a running engine; tests of the core engine pass plugins=().
PLUGINS = (CANARY_PLUGIN, UI_PLUGIN)


@dataclass(eq=False)
class EngineState:
    """The services of one engine, built once by `build_state`. Mutable on purpose:
    readiness, the open store and the latest verdicts change while the engine runs."""

    config: EngineConfig
    registry: CollectorRegistry
    metrics: EngineMetrics
    status: StatusService
    clock_service: Clock
    readiness: Readiness
    stored: StoreHandle
    limits: IngestLimits
    # Where canary verdicts read their windows: the embedded store, or in pull mode
    # (`pipelines: {verdict_source: prometheus}`) the query API. Chosen once, here.
    verdict_windows: WindowSource
    # Per-scope tokens (ingest, read, admin); the transports check them.
    credentials: Credentials = field(default_factory=Credentials)
    # Latest canary verdicts, keyed (service, canary, baseline); written by sloengine.canary.
    verdicts: dict[tuple[str, str, str], CanaryVerdict] = field(default_factory=dict)

    # --- read-through conveniences (tests and scripts poke a running engine here) ---------
    @property
    def catalog(self) -> Catalog:
        return self.status.catalog

    @property
    def policies(self) -> dict[str, BurnRatePolicy]:
        return self.status.policies

    @property
    def puller(self) -> PromPuller | None:
        return self.status.puller

    @property
    def data_dir(self) -> Path | None:
        return self.config.data_dir

    @property
    def clock(self) -> Callable[[], float]:
        return self.clock_service.source

    @clock.setter
    def clock(self, source: Callable[[], float]) -> None:
        self.clock_service.source = source

    @property
    def ready(self) -> bool:
        return self.readiness.ready

    @ready.setter
    def ready(self, ready: bool) -> None:
        self.readiness.ready = ready

    @property
    def durable(self) -> DurableStore | None:
        return self.stored.durable

    @durable.setter
    def durable(self, durable: DurableStore | None) -> None:
        self.stored.durable = durable

    @property
    def store(self) -> SeriesStore:
        """The in-memory view of the durable store (read it, never write it directly)."""
        return self.stored.store

    @property
    def max_sample_age_seconds(self) -> float:
        """Samples older than this are rejected: no SLO needs them (or the store cannot
        keep them)."""
        return self.limits.max_sample_age_seconds

    @max_sample_age_seconds.setter
    def max_sample_age_seconds(self, seconds: float) -> None:
        self.limits.max_sample_age_seconds = seconds

    @property
    def sli_problems(self) -> dict[str, str]:
        return self.status.sli_problems

    @property
    def slice_ledgers(self) -> dict[str, SliceLedger]:
        return self.status.slice_ledgers

    def now(self) -> float:
        """Current time in unix seconds, from the injectable clock."""
        return self.clock_service.now()

    def policy_for(self, slo: SLO) -> BurnRatePolicy:
        return self.status.policy_for(slo)

    async def evaluate(self, slo: SLO, at_unix_s: float | None = None) -> SLOStatusResult:
        return await self.status.evaluate(slo, at_unix_s)


def load_specs(paths: tuple[Path, ...], default_policy: str | None = None) -> Catalog:
    """The catalog from spec files; empty when there are none. `default_policy`: for SLOs
    naming none (None: the policy matching each SLO's period)."""
    if not paths:
        return Catalog(slos=())
    from sloengine.specs import load_catalog

    return load_catalog(list(paths), default_policy=default_policy)


def build_state(
    config: EngineConfig,
    *,
    clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
    catalog: Catalog | None = None,
) -> EngineState:
    """Load specs, policies and the tokens; resolve every SLO's policy (SpecError for an
    unknown one); choose push or pull. No I/O beyond files."""
    catalog = load_specs(config.specs, config.policy) if catalog is None else catalog
    policies = catalog_policies(catalog)
    if config.policy is not None and config.policy not in policies:
        raise SpecError(
            "", "policy", f"unknown policy {config.policy!r}; known: {', '.join(sorted(policies))}"
        )
    registry = CollectorRegistry() if registry is None else registry
    clock_service = Clock(clock)
    stored = StoreHandle()
    puller = None
    if config.prometheus_url:
        from sloengine.engine.pull import PromPuller

        puller = PromPuller(config.prometheus_url)
    status = StatusService(
        catalog,
        policies,
        store=stored,
        clock=clock_service,
        default_policy=config.policy,
        puller=puller,
    )
    from sloengine.pipelines import verdict_window_source

    pulled = verdict_window_source(config)
    return EngineState(
        config=config,
        registry=registry,
        metrics=EngineMetrics(registry),
        status=status,
        clock_service=clock_service,
        readiness=Readiness(),
        stored=stored,
        limits=IngestLimits(max_future_skew_seconds=config.max_future_skew_seconds),
        verdict_windows=pulled if pulled is not None else StoreWindows(stored),
        credentials=config.credentials(),
    )


class EngineApp:
    """Owns the lifecycle: recover the store, serve gRPC + HTTP, snapshot, shut down."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
        catalog: Catalog | None = None,
        plugins: Sequence[str] = PLUGINS,
    ) -> None:
        unknown = sorted(set(plugins) - set(PLUGINS))
        if unknown:
            raise ValueError(f"plugins: unknown {unknown}; known: {list(PLUGINS)}")
        self.config = config
        self.plugins = tuple(plugins)
        self.state = build_state(config, clock=clock, registry=registry, catalog=catalog)
        self.grpc: EngineGrpcServer | None = None
        self.http_app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._snapshotter: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.pipelines: PipelineReceiver | None = None  # remote_write / OTLP receivers
        self._stopped = False
        self.grpc_port = 0
        self.http_port = 0
        self.grpc_host, _ = parse_listen(config.grpc_listen, "grpc_listen")
        self.http_host, _ = parse_listen(config.http_listen, "http_listen")

    async def start(self) -> None:
        """Recover the store, build both servers, wire the canary and the UI, serve."""
        from sloengine import pipelines
        from sloengine.grpc import ENGINE_SERVICES, create_grpc_server
        from sloengine.ingest import IngestService
        from sloengine.store import DurableStore

        state = self.state
        if self.config.data_dir is None:
            raise SpecError("", "data_dir", "required (--data-dir)")
        durable = DurableStore(
            self.config.data_dir,
            max_series=self.config.max_series,
            fsync_observer=state.metrics.wal_fsync_latency.observe,
            repair=self.config.repair_wal,
        )
        started = time.perf_counter()
        # On the loop's thread (the WAL writer belongs to this loop); nothing else runs yet.
        report = durable.open()
        log.info("store recovered in %.2fs: %s", time.perf_counter() - started, report)
        if report.truncated is not None:
            state.metrics.wal_truncations.inc()
        if report.repaired is not None:
            state.metrics.wal_repairs.inc()
            state.metrics.wal_repair_lost_records.inc(report.lost_records)
        state.stored.durable = durable
        state.readiness.add_check(state.stored.problem)
        from sloengine.store.slice_ledger_files import load_ledgers

        status = state.status
        status.slice_ledgers.update(load_ledgers(self.config.data_dir, status.catalog.slos))
        state.limits.max_sample_age_seconds = min(
            status.longest_window_seconds(), durable.store.retention_seconds
        )
        state.metrics.track_series(lambda: state.stored.store.series_count())

        with_canary = CANARY_PLUGIN in self.plugins
        extra = (conventions.GRPC_CANARY_SERVICE,) if with_canary else ()
        extra = (*extra, pipelines.OTLP_METRICS_SERVICE)
        ingest = IngestService(
            durable,
            now=state.clock_service.now,
            max_sample_age_seconds=lambda: state.limits.max_sample_age_seconds,
            max_future_seconds=self.config.max_future_skew_seconds,
        )
        self.grpc, self.grpc_port = create_grpc_server(
            self.config.grpc_listen,
            config=self.config,
            credentials=state.credentials,
            ingest=ingest,
            metrics=state.metrics,
            status=status,
            extra_service_names=extra,
        )
        self.http_app = create_http_app(state.readiness, state.registry)
        self.pipelines = await pipelines.start(
            self.config,
            self.http_app,
            self.grpc.server,
            store=state.stored,
            clock=state.clock_service,
            limits=state.limits,
            readiness=state.readiness,
            credentials=state.credentials,
            status=status,
            registry=state.registry,
        )
        self._wire_canary_and_ui(self.grpc, self.http_app)

        self._runner = web.AppRunner(self.http_app, access_log=None)
        await self._runner.setup()
        host, port = parse_listen(self.config.http_listen, "http_listen")
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise SpecError(
                "", "http_listen", f"cannot listen on {self.config.http_listen}: {exc.strerror}"
            ) from None
        self.http_port = int(self._runner.addresses[0][1])
        await self.grpc.start((*ENGINE_SERVICES, *extra))
        if self.config.snapshot_interval_seconds > 0:
            self._snapshotter = asyncio.create_task(self._snapshot_loop())
        self._watchdog = asyncio.create_task(self._store_watchdog())
        state.readiness.ready = True
        state.metrics.ready.set(1)

    def _wire_canary_and_ui(self, grpc_server: EngineGrpcServer, http_app: web.Application) -> None:
        """The canary (CanaryService, the HTTP side door, hooks, audit), then the UI over it."""
        from sloengine.canary import audit_path, open_canary

        state = self.state
        core = None
        if CANARY_PLUGIN in self.plugins:
            core = open_canary(
                self.config,
                catalog=state.status.catalog,
                windows=state.verdict_windows,
                now=state.clock_service.now,
                registry=state.registry,
                latest=state.verdicts,
            )
            register_canary(core, grpc_server.server, http_app, state.credentials)
        if UI_PLUGIN in self.plugins:
            from sloengine import ui

            audit: Path | None
            if core is not None and core.audit is not None:
                audit = Path(core.audit.path)
            else:
                audit = audit_path(dict(self.config.raw or {}), self.config.data_dir)
            ui.register(
                http_app,
                status=state.status,
                store=state.stored,
                credentials=state.credentials,
                canary=core,
                audit_path=audit,
            )

    async def stop(self, grace_s: float = 5.0) -> None:
        """Not ready, refuse new calls, finish running ones within `grace_s`, snapshot, close."""
        if self._stopped:
            return
        self._stopped = True
        state = self.state
        state.readiness.ready = False
        state.metrics.ready.set(0)
        for task in (self._snapshotter, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.grpc is not None:
            await self.grpc.stop(grace_s)
        if self._runner is not None:
            await self._runner.cleanup()
        if state.status.puller is not None:
            await state.status.puller.aclose()
        await state.verdict_windows.aclose()
        if self.pipelines is not None:
            await self.pipelines.aclose()
        if state.stored.durable is not None:
            durable, state.stored.durable = state.stored.durable, None
            await durable.aclose(snapshot=True)
            self._save_slices()

    async def _store_watchdog(self, interval_s: float = 1.0) -> None:
        """While the store is failed (disk full...), rebuild it from disk once space is free.

        Readiness reports the failure meanwhile; nothing is acknowledged until recovered.
        """
        metrics = self.state.metrics
        while True:
            await asyncio.sleep(interval_s)
            durable = self.state.stored.durable
            if durable is None:
                continue
            failed = durable.failure is not None
            metrics.store_failed.set(1 if failed else 0)
            if failed and await durable.recover():
                metrics.store_recoveries.inc()
                metrics.store_failed.set(0)

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.snapshot_interval_seconds)
            durable = self.state.stored.durable
            if durable is not None and durable.failure is None:
                try:
                    await durable.snapshot_async()  # the file is written off the event loop
                except OSError as exc:
                    log.error("snapshot failed; the WAL still holds every batch: %s", exc)
                self._save_slices()

    def _save_slices(self) -> None:
        """The Timeslices ledgers beside the snapshot (sloengine/store/slice_ledger_files.py)."""
        ledgers = self.state.status.slice_ledgers
        if self.config.data_dir is None or not ledgers:
            return
        from sloengine.store.slice_ledger_files import save_ledgers

        try:
            save_ledgers(self.config.data_dir, ledgers)
        except OSError as exc:
            log.error("saving the time slices failed: %s", exc)


def register_canary(
    core: CanaryCore,
    grpc_server: grpc.aio.Server,
    http_app: web.Application,
    credentials: Credentials,
) -> None:
    """Serve the canary service: CanaryService on `grpc_server`, the side door on `http_app`
    (tokens checked against `credentials`)."""
    from sloengine.grpc import add_canary_service
    from sloengine.http.auth import require_token
    from sloengine.http.canary import add_canary_routes

    add_canary_service(grpc_server, core)

    def check_token(request: web.Request, scope: Scope) -> None:
        require_token(credentials, request, scope)

    add_canary_routes(http_app, core, check_token, credentials)

    async def close(_app: web.Application) -> None:
        await core.aclose()  # running rollback hooks finish (bounded by their timeouts)

    http_app.on_cleanup.append(close)
