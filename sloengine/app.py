"""The running engine: shared state, and the app that wires store, gRPC, HTTP and plugins.

    app = EngineApp(config)
    await app.start()        # recover the store, then serve gRPC and HTTP
    print(app.grpc_port, app.http_port)
    await app.stop(grace_s=5)  # refuse new calls, finish running ones, snapshot, close

After both servers are built (and before they start), `register_canary` serves the canary
service on both (`sloengine.canary`, `sloengine.grpc`, `sloengine.http.canary`), then
`sloengine.ui.register(state, http_app)` runs if that module exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from sloengine import conventions
from sloengine.config import EngineConfig, parse_listen
from sloengine.credentials import Credentials, Scope
from sloengine.errors import SloEngineError, SpecError, UnknownSLOError, UnsupportedSLOError
from sloengine.http import EngineMetrics, create_http_app
from sloengine.model import SLO, BurnRatePolicy, Catalog, NativeSLI
from sloengine.policy import DEFAULT_POLICY, builtin_policy, builtin_policy_names

if TYPE_CHECKING:
    import grpc

    from sloengine.canary import CanaryCore
    from sloengine.evaluate import SLOStatusResult
    from sloengine.grpc import EngineGrpcServer
    from sloengine.pipelines import PipelineReceiver
    from sloengine.pull import PromPuller
    from sloengine.store import DurableStore, SeriesStore
    from sloengine.timeslices import SliceLedger

__all__ = [
    "EngineApp",
    "EngineConfig",
    "EngineState",
    "build_state",
    "load_specs",
    "register_canary",
]

log = logging.getLogger(__name__)

_DAY_S = 86400.0
CANARY_PLUGIN = "sloengine.canary"
UI_PLUGIN = "sloengine.ui"
# Tests of the core engine pass plugins=() to run it alone.
PLUGINS = (CANARY_PLUGIN, UI_PLUGIN)


@dataclass(eq=False)
class EngineState:
    """What every part of a running engine shares. Mutable on purpose: `ready`, `verdicts`
    and the durable store change while the engine runs; everything else is set at start."""

    config: EngineConfig
    catalog: Catalog
    policies: dict[str, BurnRatePolicy]
    registry: CollectorRegistry
    metrics: EngineMetrics
    http_token: str | None = None
    # Per-scope tokens (ingest, read, admin); the transports check them.
    credentials: Credentials = field(default_factory=Credentials)
    clock: Callable[[], float] = time.time
    durable: DurableStore | None = None
    puller: PromPuller | None = None
    ready: bool = False
    # Samples older than this are rejected: no SLO needs them (or the store cannot keep them).
    max_sample_age_seconds: float = 30 * _DAY_S
    # Latest canary verdicts, keyed (service, canary, baseline); written by sloengine.canary.
    verdicts: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    # SLO id -> why it cannot be evaluated from the data received (e.g. a latency threshold
    # off the senders' bucket bounds; written by sloengine.pipelines).
    sli_problems: dict[str, str] = field(default_factory=dict)
    # Pull mode for verdicts (`pipelines: {verdict_source: prometheus}`): the canary judge
    # reads window counts from the query API instead of the embedded store.
    window_source: Any = None
    # Per Timeslices SLO id: its slices (sloengine.timeslices), in memory.
    slice_ledgers: dict[str, SliceLedger] = field(default_factory=dict)
    # Other parts whose failure makes ingest fail (e.g. the pipelines journal): /readyz
    # answers 503 with the first problem one of these returns.
    readiness_checks: list[Callable[[], str | None]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path | None:
        return self.config.data_dir

    @property
    def store(self) -> SeriesStore:
        """The in-memory view of the durable store (read it, never write it directly)."""
        if self.durable is None:
            raise SloEngineError("the store is not open yet")
        return self.durable.store

    def now(self) -> float:
        """Current time in unix seconds, from the injectable clock."""
        return self.clock()

    def longest_window_seconds(self) -> float:
        """The longest period or window any SLO needs (30 days for an empty catalog)."""
        return float(
            max(
                (
                    max(s.period_seconds, self.policy_for(s).period_seconds)
                    for s in self.catalog.slos
                ),
                default=30 * _DAY_S,
            )
        )

    def slice_ledger(self, slo: SLO) -> SliceLedger | None:
        """The slices of a Timeslices SLO, kept across evaluations (None: not one)."""
        if slo.budgeting_method == "Occurrences":
            return None
        ledger = self.slice_ledgers.get(slo.id)
        if ledger is None:
            from sloengine.evaluate import new_slice_ledger

            ledger = self.slice_ledgers[slo.id] = new_slice_ledger(slo)
        return ledger

    def policy_for(self, slo: SLO) -> BurnRatePolicy:
        """The SLO's own policy if it names one, else the engine's default policy."""
        name = slo.policy or self.config.policy or DEFAULT_POLICY
        try:
            return self.policies[name]
        except KeyError:
            raise SpecError(slo.source.file, "policy", f"unknown policy {name!r}") from None

    def find_slos(self, service: str, name: str | None = None) -> list[SLO]:
        """The service's SLOs (or the one named); UnknownSLOError naming what is missing."""
        slos = [s for s in self.catalog.slos if s.service == service]
        if not slos:
            raise UnknownSLOError(f"unknown service {service!r}: no SLO in the catalog")
        if name is not None:
            slos = [s for s in slos if s.name == name]
            if not slos:
                raise UnknownSLOError(f"unknown SLO {name!r} for service {service!r}")
        return slos

    async def evaluate(self, slo: SLO, at_unix_s: float | None = None) -> SLOStatusResult:
        """Burn rates and budget of one SLO at a time (default now), push or pull."""
        at = self.now() if at_unix_s is None else at_unix_s
        policy = self.policy_for(slo)
        if (problem := self.sli_problems.get(slo.id)) is not None:
            raise SloEngineError(problem)
        if isinstance(slo.sli, NativeSLI):
            from sloengine.evaluate import evaluate_slo

            return evaluate_slo(slo, policy, self.store, at, self.slice_ledger(slo))
        if slo.budgeting_method != "Occurrences":
            raise UnsupportedSLOError(
                f"SLO {slo.id}: {slo.budgeting_method} over a PromQL SLI is computed by the "
                "generated Prometheus rules, not by the engine"
            )
        if self.puller is None:
            raise SloEngineError(
                f"SLO {slo.id} has a PromQL SLI; start the engine with --prometheus-url"
            )
        return await self.puller.evaluate(slo, policy, at)


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
    """Load specs, policies and the token; validate every SLO's policy. No I/O beyond files."""
    catalog = load_specs(config.specs, config.policy) if catalog is None else catalog
    policies = {name: builtin_policy(name) for name in builtin_policy_names()}
    policies.update({p.name: p for p in catalog.policies})
    if config.policy is not None and config.policy not in policies:
        raise SpecError(
            "", "policy", f"unknown policy {config.policy!r}; known: {', '.join(sorted(policies))}"
        )
    registry = CollectorRegistry() if registry is None else registry
    state = EngineState(
        config=config,
        catalog=catalog,
        policies=policies,
        registry=registry,
        metrics=EngineMetrics(registry),
        http_token=config.read_token(),
        credentials=config.credentials(),
        clock=clock,
    )
    for slo in catalog.slos:
        state.policy_for(slo)
    if config.prometheus_url:
        from sloengine.pull import PromPuller

        state.puller = PromPuller(config.prometheus_url)
    from sloengine.pipelines import verdict_window_source

    state.window_source = verdict_window_source(config)
    return state


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
        """Recover the store, build both servers, run plugins, start serving."""
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
        state.durable = durable
        from sloengine.slice_ledger_files import load_ledgers

        state.slice_ledgers.update(load_ledgers(self.config.data_dir, state.catalog.slos))
        state.max_sample_age_seconds = min(
            state.longest_window_seconds(), durable.store.retention_seconds
        )
        state.metrics.track_series(lambda: state.store.series_count())

        canary = CANARY_PLUGIN in self.plugins
        extra = (conventions.GRPC_CANARY_SERVICE,) if canary else ()
        from sloengine import pipelines

        extra = (*extra, pipelines.OTLP_METRICS_SERVICE)
        ingest = IngestService(
            durable,
            now=state.now,
            max_sample_age_seconds=lambda: state.max_sample_age_seconds,
            max_future_seconds=self.config.max_future_skew_seconds,
        )
        self.grpc, self.grpc_port = create_grpc_server(
            state, self.config.grpc_listen, ingest=ingest, extra_service_names=extra
        )
        self.http_app = create_http_app(state)
        self.pipelines = await pipelines.start(state, self.http_app, self.grpc.server)
        if canary:
            register_canary(state, self.grpc.server, self.http_app)
        if UI_PLUGIN in self.plugins and (ui := _plugin(UI_PLUGIN)) is not None:
            ui.register(state, self.http_app)

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
        state.ready = True
        state.metrics.ready.set(1)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Not ready, refuse new calls, finish running ones within `grace_s`, snapshot, close."""
        if self._stopped:
            return
        self._stopped = True
        state = self.state
        state.ready = False
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
        if state.puller is not None:
            await state.puller.aclose()
        if state.window_source is not None:
            await state.window_source.aclose()
        if self.pipelines is not None:
            await self.pipelines.aclose()
        if state.durable is not None:
            durable, state.durable = state.durable, None
            await durable.aclose(snapshot=True)
            self._save_slices()

    async def _store_watchdog(self, interval_s: float = 1.0) -> None:
        """While the store is failed (disk full...), rebuild it from disk once space is free.

        Readiness reports the failure meanwhile; nothing is acknowledged until recovered.
        """
        metrics = self.state.metrics
        while True:
            await asyncio.sleep(interval_s)
            durable = self.state.durable
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
            durable = self.state.durable
            if durable is not None and durable.failure is None:
                try:
                    await durable.snapshot_async()  # the file is written off the event loop
                except OSError as exc:
                    log.error("snapshot failed; the WAL still holds every batch: %s", exc)
                self._save_slices()

    def _save_slices(self) -> None:
        """The Timeslices ledgers beside the snapshot (sloengine/slice_ledger_files.py)."""
        if self.config.data_dir is None or not self.state.slice_ledgers:
            return
        from sloengine.slice_ledger_files import save_ledgers

        try:
            save_ledgers(self.config.data_dir, self.state.slice_ledgers)
        except OSError as exc:
            log.error("saving the time slices failed: %s", exc)


def register_canary(
    state: Any, grpc_server: grpc.aio.Server, http_app: web.Application
) -> CanaryCore:
    """Serve the canary service: CanaryService on `grpc_server`, the side door on `http_app`."""
    from sloengine.canary import open_canary
    from sloengine.credentials import credentials_of
    from sloengine.grpc import add_canary_service
    from sloengine.http.auth import require_token
    from sloengine.http.canary import add_canary_routes

    core = open_canary(state)
    add_canary_service(grpc_server, core)

    def check_token(request: web.Request, scope: Scope) -> None:
        require_token(state, request, scope)

    add_canary_routes(http_app, core, check_token, credentials_of(state))

    async def close(_app: web.Application) -> None:
        await core.aclose()  # running rollback hooks finish (bounded by their timeouts)

    http_app.on_cleanup.append(close)
    return core


def _plugin(module: str) -> Any:
    """The plugin module, or None when it does not exist (its import errors propagate)."""
    try:
        plugin = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    if not callable(getattr(plugin, "register", None)):
        # A package that does not (yet) offer register() is not a plugin.
        log.warning("%s has no register(); not loaded as a plugin", module)
        return None
    return plugin
