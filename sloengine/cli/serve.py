"""`sloengine serve`: run the engine until SIGTERM/SIGINT, then shut down gracefully.

Prints one line once both servers listen, so scripts and tests can use port 0:

    sloengine: serving grpc=127.0.0.1:41234 http=127.0.0.1:41235
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from sloengine.errors import SpecError
from sloengine.settings.config import ROLES, EngineConfig, TLSConfig, load_config, parse_listen

DEFAULT_GRACE_SECONDS = 10.0


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the engine (gRPC ingest + SLO API, HTTP health/metrics)",
        description="Run the SLO engine. Flags override the config file's engine: section.",
    )
    p.add_argument(
        "--config", type=Path, help="YAML config file (engine: section, plugins' sections)"
    )
    p.add_argument(
        "--grpc-listen", metavar="HOST:PORT", help="gRPC address (port 0: any free port)"
    )
    p.add_argument(
        "--http-listen", metavar="HOST:PORT", help="HTTP address (port 0: any free port)"
    )
    p.add_argument("--data-dir", type=Path, help="write-ahead log and snapshots")
    p.add_argument(
        "--specs", nargs="+", type=Path, metavar="PATH", help="SLO spec files or directories"
    )
    p.add_argument("--policy", help="default burn-rate policy name")
    p.add_argument("--prometheus-url", help="Prometheus-compatible API for PromQL SLIs (pull mode)")
    p.add_argument("--max-series", type=int, help="series limit (beyond: RESOURCE_EXHAUSTED)")
    p.add_argument("--max-message-bytes", type=int, help="largest accepted gRPC message")
    p.add_argument(
        "--token-file", type=Path, help="shared bearer token for every scope without its own file"
    )
    for scope, what in (
        ("ingest", "ingest calls (Push, OTLP, remote_write)"),
        ("read", "reads: verdicts, SLO status, UI API, Flagger gates"),
        ("admin", "rollbacks, overrides, the Alertmanager receiver"),
    ):
        p.add_argument(f"--{scope}-token-file", type=Path, help=f"bearer token for {what}")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key)")
    p.add_argument("--tls-key", type=Path, help="PEM private key (with --tls-cert)")
    p.add_argument(
        "--snapshot-interval", type=float, metavar="SECONDS", help="seconds between snapshots"
    )
    p.add_argument(
        "--repair-wal",
        action="store_true",
        default=None,
        help="start despite WAL damage: move the damaged bytes to DATA_DIR/quarantine/ and "
        "report the records lost (without it the engine refuses to start on such damage)",
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        help="leader (default: runs rollback hooks, writes the audit log) or replica (answers"
        " the same verdicts, acts on nothing); see docs/scaling.md",
    )
    p.add_argument(
        "--grace", type=float, default=DEFAULT_GRACE_SECONDS, help="shutdown grace, seconds"
    )
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    """The config file (if any) with every given flag applied over it; SpecError when wrong."""
    config = load_config(args.config) if args.config else EngineConfig()
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SpecError("", "--tls-cert/--tls-key", "give both or neither")
    for flag, value in (
        ("--max-series", args.max_series),
        ("--max-message-bytes", args.max_message_bytes),
    ):
        if value is not None and value <= 0:
            raise SpecError("", flag, "must be a positive integer")
    for flag, text in (("--grpc-listen", args.grpc_listen), ("--http-listen", args.http_listen)):
        if text is not None:
            parse_listen(text, flag)
    config = config.with_overrides(
        grpc_listen=args.grpc_listen,
        http_listen=args.http_listen,
        data_dir=args.data_dir,
        specs=tuple(args.specs) if args.specs else None,
        policy=args.policy,
        prometheus_url=args.prometheus_url,
        max_series=args.max_series,
        max_message_bytes=args.max_message_bytes,
        token_file=args.token_file,
        ingest_token_file=args.ingest_token_file,
        read_token_file=args.read_token_file,
        admin_token_file=args.admin_token_file,
        tls=TLSConfig(args.tls_cert, args.tls_key) if args.tls_cert else None,
        snapshot_interval_seconds=args.snapshot_interval,
        repair_wal=getattr(args, "repair_wal", None),
        role=getattr(args, "role", None),
    )
    if config.data_dir is None:
        raise SpecError("", "--data-dir", "required (or engine.data_dir in --config)")
    return config


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = config_from_args(args)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio works too
        runner = asyncio.run
    return int(runner(_serve(config, args.grace)))


async def _serve(config: EngineConfig, grace_s: float) -> int:
    from sloengine.app import EngineApp

    app = EngineApp(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
    except BaseException:
        await app.stop(0)
        raise
    print(
        f"sloengine: serving grpc={app.grpc_host}:{app.grpc_port} "
        f"http={app.http_host}:{app.http_port}",
        flush=True,
    )
    await stop.wait()
    logging.getLogger("sloengine").info("shutting down (grace %.1fs)", grace_s)
    await app.stop(grace_s)
    return 0
