"""Sidecar configuration from flags and `SIDECAR_*` environment variables (flags win).

Every flag `--some-name` can also be set as `SIDECAR_SOME_NAME`. Bad values raise
`ConfigError` with one line naming the flag; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from sidecar.proxy import ProxySettings
from sidecar.routes import parse_route_templates
from sloengine.client.podlabels import parse_variant_map
from sloengine.conventions import VARIANT_STABLE, VARIANTS
from sloengine.errors import SpecError
from sloengine.settings import fields
from sloengine.settings.fields import At

__all__ = ["ConfigError", "SidecarConfig", "parse_config"]

Address = tuple[str, int]
T = TypeVar("T")


class ConfigError(ValueError):
    """A flag or environment variable has a bad value; the message names it."""


@dataclass(frozen=True, slots=True)
class SidecarConfig:
    listen: Address
    upstream: Address
    admin_listen: Address
    egress_listen: Address | None
    service: str
    variant: str
    routes: tuple[str, ...]
    engine: str | None
    engine_token: str | None
    producer_id: str
    flush_interval_s: float
    max_pending_batches: int
    drain_timeout_s: float
    proxy: ProxySettings
    revision: str = ""  # the deployed revision, a `revision` label on every series sent
    # The pod's labels (downward API file), re-read on change: variant and revision.
    pod_labels_file: Path | None = None
    variant_label: str = "variant"
    variant_map: tuple[tuple[str, str], ...] = ()
    revision_label: str = ""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def _address(flag: str, text: str) -> Address:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{flag}: expected HOST:PORT (port 0 picks a free one), got {text!r}")
    return host, int(port)


def _upstream(text: str) -> Address:
    parts = urlsplit(text)
    if parts.scheme != "http":
        raise ConfigError(f"--upstream: only http:// upstreams are supported, got {text!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"--upstream: no path, query or fragment allowed, got {text!r}")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ConfigError(f"--upstream: {exc}") from None
    if not parts.hostname:
        raise ConfigError(f"--upstream: no host in {text!r}")
    return parts.hostname, port


def _flag(read: Callable[..., T], value: Any, flag: str, *args: Any) -> T:
    """A value checked by the shared readers (`sloengine.settings.fields`), the flag named."""
    try:
        return read(value, At("", flag), *args)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None


def _positive(flag: str, value: float) -> float:
    return _flag(fields.positive, value, flag)


def _build_parser(env: Mapping[str, str]) -> _Parser:
    p = _Parser(prog="sloengine-sidecar", description="Metric guard reverse proxy.")

    def opt(flag: str, default: str | None, help_text: str, type_: type = str) -> None:
        env_name = "SIDECAR_" + flag[2:].upper().replace("-", "_")
        value = env.get(env_name, default)
        p.add_argument(flag, default=value, type=type_, help=f"{help_text} (env {env_name})")

    opt("--listen", "0.0.0.0:8080", "ingress HOST:PORT")
    opt("--upstream", None, "the service, http://HOST:PORT")
    opt("--egress-listen", None, "HOST:PORT the service sends outbound calls to")
    opt("--admin-listen", "127.0.0.1:9901", "HOST:PORT for /metrics, /healthz, /readyz")
    opt("--service", None, "service label")
    opt("--variant", VARIANT_STABLE, "variant label: " + ", ".join(VARIANTS))
    opt("--revision", "", "deployed revision label, e.g. the pod template hash")
    opt("--routes", "", "comma list of route templates, e.g. /docs/{id},/search")
    opt("--engine", None, "engine gRPC address HOST:PORT (optional)")
    opt("--engine-token", None, "bearer token for the engine")
    opt("--producer-id", None, "producer id for the engine (default sidecar-SERVICE-VARIANT)")
    opt("--flush-interval", "1.0", "seconds between metric batches to the engine", float)
    opt("--max-pending-batches", "256", "unacked batches kept for the engine", int)
    opt("--header-timeout", "10", "seconds to receive request headers", float)
    opt("--idle-timeout", "60", "seconds a keep-alive client connection may idle", float)
    opt("--body-timeout", "60", "seconds between request body reads", float)
    opt("--connect-timeout", "5", "seconds to connect to an upstream", float)
    opt("--upstream-timeout", "60", "seconds between upstream reads", float)
    opt("--upstream-idle-timeout", "4", "seconds a pooled upstream connection may idle", float)
    opt("--max-header-bytes", "32768", "request line + headers limit (431 beyond)", int)
    opt("--drain-timeout", "20", "seconds to finish in-flight requests on SIGTERM", float)
    opt("--pod-labels-file", None, "downward API file of the pod's labels, re-read on change")
    opt("--variant-label", "variant", "pod label holding the variant")
    opt("--variant-map", "", "label value to variant, e.g. gateway-primary=primary,gateway=canary")
    opt("--revision-label", "", "pod label holding the revision, e.g. rollouts-pod-template-hash")
    return p


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> SidecarConfig:
    """Parse flags over environment variables; raise ConfigError on bad input."""
    try:
        ns = _build_parser(env).parse_args(list(argv))
    except ValueError as exc:  # argparse type conversion
        raise ConfigError(str(exc)) from None
    if not ns.upstream:
        raise ConfigError("--upstream is required (or SIDECAR_UPSTREAM)")
    if not ns.service:
        raise ConfigError("--service is required (or SIDECAR_SERVICE)")
    _flag(fields.choice, ns.variant, "--variant", VARIANTS)
    if ns.revision:
        _flag(fields.revision, ns.revision, "--revision")
    try:
        routes = parse_route_templates(ns.routes)
    except ValueError as exc:
        raise ConfigError(f"--routes: {exc}") from None
    if ns.max_header_bytes < 1024:
        raise ConfigError(f"--max-header-bytes: must be >= 1024, got {ns.max_header_bytes}")
    if ns.max_pending_batches < 1:
        raise ConfigError("--max-pending-batches: must be >= 1")
    proxy = ProxySettings(
        header_timeout_s=_positive("--header-timeout", ns.header_timeout),
        idle_timeout_s=_positive("--idle-timeout", ns.idle_timeout),
        body_timeout_s=_positive("--body-timeout", ns.body_timeout),
        connect_timeout_s=_positive("--connect-timeout", ns.connect_timeout),
        upstream_timeout_s=_positive("--upstream-timeout", ns.upstream_timeout),
        upstream_idle_timeout_s=_positive("--upstream-idle-timeout", ns.upstream_idle_timeout),
        max_header_bytes=ns.max_header_bytes,
    )
    try:
        variant_map = parse_variant_map(ns.variant_map)
    except ValueError as exc:
        raise ConfigError(f"--variant-map: {exc}") from None
    bad = sorted(v for v in variant_map.values() if v not in VARIANTS)
    if bad:
        raise ConfigError(
            f"--variant-map: variants must be one of {', '.join(VARIANTS)}, got {bad[0]!r}"
        )
    return SidecarConfig(
        listen=_address("--listen", ns.listen),
        upstream=_upstream(ns.upstream),
        admin_listen=_address("--admin-listen", ns.admin_listen),
        egress_listen=_address("--egress-listen", ns.egress_listen) if ns.egress_listen else None,
        service=ns.service,
        variant=ns.variant,
        routes=routes,
        engine=ns.engine or None,
        engine_token=ns.engine_token or None,
        producer_id=ns.producer_id or f"sidecar-{ns.service}-{ns.variant}",
        flush_interval_s=_positive("--flush-interval", ns.flush_interval),
        max_pending_batches=ns.max_pending_batches,
        drain_timeout_s=_positive("--drain-timeout", ns.drain_timeout),
        proxy=proxy,
        revision=ns.revision,
        pod_labels_file=Path(ns.pod_labels_file) if ns.pod_labels_file else None,
        variant_label=ns.variant_label or "variant",
        variant_map=tuple(sorted(variant_map.items())),
        revision_label=ns.revision_label or "",
    )
