"""`python -m sidecar` / `sloengine-sidecar`: run the metric guard proxy until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

import uvloop

from sidecar.app import Sidecar
from sidecar.config import ConfigError, SidecarConfig, parse_config

__all__ = ["main"]


def _fmt(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _run(config: SidecarConfig) -> None:
    sidecar = Sidecar(config)
    await sidecar.start()
    parts = [
        f"{name}={_fmt(sidecar.addresses[key])}"
        for name, key in (("ingress", "ingress"), ("egress", "egress"), ("admin", "admin"))
        if key in sidecar.addresses
    ]
    print("sidecar: listening " + " ".join(parts), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("sidecar: draining", flush=True)
    await sidecar.drain()
    print("sidecar: stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags/env, run the sidecar; exit code 2 with one line on bad configuration."""
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"sloengine-sidecar: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING, format="sidecar: %(levelname)s %(name)s: %(message)s"
    )
    try:
        uvloop.run(_run(config))
    except ConfigError as exc:  # found at start, e.g. an unsupported OTLP protocol
        print(f"sloengine-sidecar: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the listen port is taken
        print(f"sloengine-sidecar: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
