"""What the three demo services share: options, instrumentation, fault knobs, serving."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from examples.services.faults import FaultConfig, Faults, admin_router
from instrumentation import configure_json_logging, instrument
from sloengine import conventions as c

__all__ = ["ServiceOptions", "build_app", "parse_options", "serve"]


@dataclass(frozen=True)
class ServiceOptions:
    """One service's identity, fault knobs and data location."""

    service_name: str
    variant: str = c.VARIANT_STABLE
    version: str = "1.0.0"
    environment: str = "demo"
    host: str = "127.0.0.1"
    port: int = 0
    error_ratio: float = 0.0
    added_latency_s: float = 0.0
    fault_seed: int = 0
    admin_token: str | None = None
    db_path: str | None = None
    fixture_seed: int = 42


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}: not a number: {raw!r}") from None


def parse_options(
    service_name: str, argv: Sequence[str] | None, extra: argparse.ArgumentParser | None = None
) -> tuple[ServiceOptions, argparse.Namespace]:
    """Flags (with environment defaults) common to every demo service."""
    parser = argparse.ArgumentParser(
        prog=f"python -m examples.services.{service_name.replace('-', '_')}",
        parents=[extra] if extra else [],
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: let the OS choose")
    parser.add_argument("--service-name", default=service_name)
    parser.add_argument(
        "--variant",
        default=os.environ.get("SLOENGINE_VARIANT", c.VARIANT_STABLE),
        choices=c.VARIANTS,
    )
    parser.add_argument("--version", dest="service_version", default="1.0.0")
    parser.add_argument("--environment", default="demo")
    parser.add_argument("--error-ratio", type=float, default=_env_float("DEMO_ERROR_RATIO", 0.0))
    parser.add_argument(
        "--added-latency-s", type=float, default=_env_float("DEMO_ADDED_LATENCY_S", 0.0)
    )
    parser.add_argument("--fault-seed", type=int, default=int(_env_float("DEMO_FAULT_SEED", 0)))
    parser.add_argument("--db", default=None, help="SQLite file (default: a fresh temp file)")
    parser.add_argument("--fixture-seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        FaultConfig(args.error_ratio, args.added_latency_s)
    except ValueError as exc:
        parser.error(str(exc))
    options = ServiceOptions(
        service_name=args.service_name,
        variant=args.variant,
        version=args.service_version,
        environment=args.environment,
        host=args.host,
        port=args.port,
        error_ratio=args.error_ratio,
        added_latency_s=args.added_latency_s,
        fault_seed=args.fault_seed,
        admin_token=os.environ.get("DEMO_ADMIN_TOKEN") or None,
        db_path=args.db,
        fixture_seed=args.fixture_seed,
    )
    return options, args


def build_app(
    options: ServiceOptions, *, data_version: str, lifespan: Any = None, **instrument_kwargs: Any
) -> tuple[FastAPI, Faults]:
    """A FastAPI app with the fault admin routes, instrumented, and its `Faults`, which
    every key-path handler applies after doing its work (see `Faults.apply`)."""
    app = FastAPI(title=options.service_name, lifespan=lifespan)
    faults = Faults(FaultConfig(options.error_ratio, options.added_latency_s), options.fault_seed)
    app.include_router(admin_router(faults, options.admin_token))
    app.state.faults = faults
    instrument(
        app,
        service=options.service_name,
        variant=options.variant,
        version=options.version,
        environment=options.environment,
        data_version=data_version,
        **instrument_kwargs,
    )
    return app, faults


def serve(app: FastAPI, options: ServiceOptions) -> None:
    """Bind (port 0 allowed), print `listening on http://HOST:PORT`, serve until signalled."""
    import uvicorn

    configure_json_logging()
    # httpx logs every URL at INFO, query strings (search terms) included: keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(1024)
    port = sock.getsockname()[1]
    host = f"[{options.host}]" if family == socket.AF_INET6 else options.host
    print(f"listening on http://{host}:{port}", flush=True)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    sys.stdout.flush()
