"""Ingest from the pipelines users already run: Prometheus remote_write and OTLP metrics.

    receiver = await pipelines.start(config, http_app, store=..., ...)  # store open
    ...
    await receiver.aclose()                             # before the store closes

Both protocols go through one `PipelineReceiver`: cumulative counters become increments
(`_cumulative`), histogram buckets are joined into engine rows (`_convert`), and a journal
makes the conversion state exactly as durable as the store's data (`_receiver`). See
docs/pipelines.md.

Config (YAML `pipelines:` section of the engine config):

    pipelines:
      initial: keep            # keep | drop: does a new series' first value count?
      verdict_source: store    # or prometheus: canary verdicts read prometheus_url
      otlp:                    # resource attributes naming the variant and the revision
        variant_attribute: sloengine.variant
        revision_attribute: service.version
      mapping:                 # names of the senders' RED metrics and labels
        histogram_metric: http_request_duration_seconds
        counter_metric: http_requests_total
        requests_from: histogram       # or counter (no latency then)
        labels: {service: job, route: handler, status: code}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sloengine.pipelines._convert import EngineRow, RedConverter, SourcePoint
from sloengine.pipelines._cumulative import STALE_NAN_BITS, is_stale_marker
from sloengine.pipelines._http import (
    OTLP_METRICS_PATH,
    OTLP_METRICS_SERVICE,
    PROTOCOL_OTLP,
    PROTOCOL_REMOTE_WRITE,
    REMOTE_WRITE_PATH,
    add_routes,
    otlp_grpc_handler,
)
from sloengine.pipelines._mapping import RedMapping
from sloengine.pipelines._otlp import OtlpMapping, otlp_decoder
from sloengine.pipelines._pull_windows import PromWindowSource
from sloengine.pipelines._receiver import IngestResult, PayloadError, PipelineReceiver
from sloengine.pipelines._remote_write import decode_write_request
from sloengine.settings import fields as f
from sloengine.settings.fields import At

if TYPE_CHECKING:
    import grpc
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from sloengine.engine import Clock, IngestLimits, Readiness, StatusService, StoreHandle
    from sloengine.settings.config import EngineConfig
    from sloengine.settings.credentials import Credentials

__all__ = [
    "OTLP_METRICS_PATH",
    "OTLP_METRICS_SERVICE",
    "REMOTE_WRITE_PATH",
    "STALE_NAN_BITS",
    "EngineRow",
    "IngestResult",
    "PayloadError",
    "PipelineReceiver",
    "PromWindowSource",
    "RedConverter",
    "RedMapping",
    "SourcePoint",
    "decode_write_request",
    "is_stale_marker",
    "receiver_options",
    "start",
    "verdict_window_source",
]


def receiver_options(config: Any, file: str = "") -> dict[str, Any]:
    """PipelineReceiver keyword arguments from the YAML `pipelines:` section."""
    if config is None:
        return {}
    at = At(file, "pipelines")
    config = f.mapping(config, at)
    f.check_known(config, ("initial", "mapping", "otlp", "verdict_source"), at)
    initial = f.read(config, "initial", f.choice, at, ("keep", "drop")) or "keep"
    return {
        "keep_initial": initial == "keep",
        "mapping": RedMapping.from_config(config.get("mapping"), file),
        "otlp": OtlpMapping.from_config(config.get("otlp"), file),
    }


def verdict_window_source(config: Any) -> PromWindowSource | None:
    """The pull-mode window source when `pipelines.verdict_source: prometheus` (None: the
    embedded store). It reads `prometheus_url` with the same RED mapping as the receivers."""
    raw = config.raw if isinstance(config.raw, Mapping) else {}
    section = raw.get("pipelines")
    if not isinstance(section, Mapping) or "verdict_source" not in section:
        return None
    file = str(config.path or "")
    source = section["verdict_source"]
    if source == "store":
        return None
    at = At(file, "pipelines.verdict_source")
    f.choice(source, at, ("store", "prometheus"))
    if not config.prometheus_url:
        raise at.error("prometheus needs prometheus_url")
    mapping = receiver_options(section, file).get("mapping", RedMapping())
    return PromWindowSource(config.prometheus_url, mapping=mapping)


async def start(
    config: EngineConfig,
    http_app: web.Application,
    grpc_server: grpc.aio.Server | None = None,
    *,
    store: StoreHandle,
    clock: Clock,
    limits: IngestLimits,
    readiness: Readiness,
    credentials: Credentials,
    status: StatusService,
    registry: CollectorRegistry | None = None,
) -> PipelineReceiver:
    """Open the receiver (replaying its journal into the store) and add its endpoints.

    Its batches go to `store` within `limits`; it reports SLOs the senders' buckets cannot
    serve to `status`, and a journal failure to `readiness`."""
    file = str(config.path or "")
    if config.data_dir is None:
        raise At(file, "data_dir").error("required (--data-dir)")
    options = receiver_options(config.raw.get("pipelines"), file)
    mapping = options.get("mapping", RedMapping())
    otlp = options.pop("otlp", OtlpMapping())
    decoders = {
        PROTOCOL_REMOTE_WRITE: ("remote_write", decode_write_request),
        PROTOCOL_OTLP: ("otlp", otlp_decoder(mapping, otlp)),
    }
    receiver = PipelineReceiver(
        config.data_dir,
        decoders,
        store=store,
        clock=clock,
        limits=limits,
        catalog=status.catalog,
        sli_problems=status.sli_problems,
        registry=registry,
        repair_wal=config.repair_wal,
        **options,
    )
    await receiver.open()
    readiness.add_check(receiver.readiness_problem)
    add_routes(credentials, readiness, http_app, receiver)
    if grpc_server is not None:
        grpc_server.add_generic_rpc_handlers((otlp_grpc_handler(readiness, receiver),))
    return receiver
