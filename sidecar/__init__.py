"""sidecar: the metric guard reverse proxy (W3C trace context, RED metrics, engine stream).

Run it with `sloengine-sidecar` / `python -m sidecar` (see docs/sidecar.md). In Python:

    config = parse_config(["--upstream", "http://127.0.0.1:8000", "--service", "gw"], {})
    sidecar = Sidecar(config)
    await sidecar.start()          # sidecar.addresses: {"ingress": (host, port), ...}
    await sidecar.drain()

The facade is imported lazily, so importing a submodule does not load the proxy stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sidecar.app import Sidecar
    from sidecar.config import ConfigError, SidecarConfig, parse_config

__all__ = ["ConfigError", "Sidecar", "SidecarConfig", "parse_config"]

_LAZY = {
    "Sidecar": "sidecar.app",
    "ConfigError": "sidecar.config",
    "SidecarConfig": "sidecar.config",
    "parse_config": "sidecar.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sidecar' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
