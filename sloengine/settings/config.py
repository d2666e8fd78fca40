"""The engine's configuration: a YAML file's `engine:` section, overridden by CLI flags.

    engine:
      grpc_listen: 127.0.0.1:50051
      http_listen: 127.0.0.1:8080
      data_dir: /var/lib/sloengine
      specs: [examples/slos]
      policy: sre-workbook-30d          # default burn-rate policy (default: by SLO period)
      prometheus_url: http://127.0.0.1:9090
      max_series: 100000
      max_message_bytes: 4194304
      max_future_skew: 5m               # samples further in the future are rejected
      tls: {cert: server.crt, key: server.key}
      token_file: /etc/sloengine/token  # shared token: backs every scope without its own
      tokens: {ingest: ingest-token, read: read-token, admin: admin-token}  # see credentials.py
      snapshot_interval: 5m
      role: leader                      # or replica (--role): answers verdicts, acts on nothing
    canary: {...}                       # other parts' sections, read from EngineConfig.raw

Every error is a SpecError naming the config file and the field path, read with the
shared readers of `sloengine.settings.fields` like every other config section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sloengine.errors import SpecError
from sloengine.settings import fields as f
from sloengine.settings.credentials import Credentials, Scope, load_token
from sloengine.settings.fields import At

__all__ = ["EngineConfig", "TLSConfig", "load_config", "parse_listen"]

DEFAULT_GRPC_LISTEN = "127.0.0.1:50051"
DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_SERIES = 100_000


@dataclass(frozen=True)
class TLSConfig:
    """Server certificate chain and private key, both PEM files."""

    cert: Path
    key: Path


ROLE_LEADER = "leader"
ROLE_REPLICA = "replica"
ROLES = (ROLE_LEADER, ROLE_REPLICA)


@dataclass(frozen=True)
class EngineConfig:
    """Everything `sloengine serve` needs; `raw` keeps the whole YAML for other sections."""

    grpc_listen: str = DEFAULT_GRPC_LISTEN
    http_listen: str = DEFAULT_HTTP_LISTEN
    data_dir: Path | None = None
    specs: tuple[Path, ...] = ()
    policy: str | None = None  # default burn-rate policy; None: the one matching each period
    prometheus_url: str | None = None
    max_series: int = DEFAULT_MAX_SERIES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_future_skew_seconds: float = 300.0
    tls: TLSConfig | None = None
    token_file: Path | None = None
    # Per-scope token files (sloengine.settings.credentials); `token_file` backs the ones unset.
    ingest_token_file: Path | None = None
    read_token_file: Path | None = None
    admin_token_file: Path | None = None
    snapshot_interval_seconds: float = 300.0
    # Stateless replicas (docs/scaling.md): only the leader runs rollback hooks and writes the
    # audit log; a replica answers the same verdicts and says it did not act.
    role: str = ROLE_LEADER
    # Start despite WAL damage before the torn tail, quarantining it (CLI only: a one-off).
    repair_wal: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    path: Path | None = None  # the config file, so other sections' errors can name it

    def with_overrides(self, **overrides: Any) -> EngineConfig:
        """A copy with every override that is not None applied (CLI flags over the file)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def read_token(self) -> str | None:
        """The bearer token from `token_file` (whitespace stripped), or None when unset."""
        if self.token_file is None:
            return None
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise SpecError(
                str(self.token_file), "token_file", f"cannot read: {exc.strerror}"
            ) from None
        if not token:
            raise SpecError(str(self.token_file), "token_file", "the token file is empty")
        return token

    def credentials(self) -> Credentials:
        """The token of every scope, read from its file; a scope without one is open."""
        shared = load_token(self.token_file, "token_file") if self.token_file else None

        def scoped(path: Path | None, scope: Scope, fallback: bytes | None) -> bytes | None:
            return load_token(path, f"tokens.{scope.value}") if path else fallback

        return Credentials(
            read_is_scoped=self.read_token_file is not None,
            ingest=scoped(self.ingest_token_file, Scope.INGEST, shared),
            read=scoped(self.read_token_file, Scope.READ, shared),
            admin=scoped(self.admin_token_file, Scope.ADMIN, shared),
        )


def parse_listen(text: str, where: str = "listen") -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) into (host, port); port 0 lets the OS choose."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SpecError("", where, f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def load_config(path: str | Path) -> EngineConfig:
    """Read a YAML config file; its `engine:` section fills EngineConfig, the rest is `raw`."""
    file = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SpecError(file, "", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise SpecError(file, "", f"{where}invalid YAML") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise SpecError(file, "", "expected a mapping at the top level")
    section = f.mapping(doc.get("engine"), At(file, "engine"))
    return _parse_engine_section(section, file, Path(path).parent, doc)


_KNOWN_KEYS = (
    "grpc_listen", "http_listen", "data_dir", "specs", "policy", "prometheus_url", "max_series",
    "max_message_bytes", "max_future_skew", "tls", "token_file", "tokens", "snapshot_interval",
    "role",
)  # fmt: skip


def _listen(value: Any, at: At) -> str:
    text = f.string(value, at)
    try:
        parse_listen(text)
    except SpecError:
        raise at.error(f"expected HOST:PORT, got {text!r}") from None
    return text


def _parse_engine_section(
    section: Mapping[str, Any], file: str, base: Path, raw: Mapping[str, Any]
) -> EngineConfig:
    at = At(file, "engine")
    f.check_known(section, _KNOWN_KEYS, at)

    specs_raw = section.get("specs", [])
    if isinstance(specs_raw, str):
        specs_raw = [specs_raw]
    if not isinstance(specs_raw, list):
        raise at.key("specs").error("must be a list of paths")
    specs = tuple(f.path(s, at.key("specs").index(i), base) for i, s in enumerate(specs_raw))

    tls: TLSConfig | None = None
    if (tls_raw := section.get("tls")) is not None:
        if not isinstance(tls_raw, dict):
            raise at.key("tls").error("expected a mapping with cert and key")
        cert = f.read(tls_raw, "cert", f.path, at.key("tls"), base)
        private_key = f.read(tls_raw, "key", f.path, at.key("tls"), base)
        if cert is None or private_key is None:
            raise at.key("tls").error("needs both cert and key")
        tls = TLSConfig(cert, private_key)

    tokens_raw = section.get("tokens") or {}
    if not isinstance(tokens_raw, dict):
        raise at.key("tokens").error("expected a mapping of scope to token file")
    for key in tokens_raw:
        if key not in (scopes := [s.value for s in Scope]):
            raise at.key("tokens").key(key).error(f"unknown scope; known: {', '.join(scopes)}")

    def token_path(scope: Scope) -> Path | None:
        return f.read(tokens_raw, scope.value, f.path, at.key("tokens"), base)

    return EngineConfig(raw=dict(raw), path=Path(file)).with_overrides(
        grpc_listen=f.read(section, "grpc_listen", _listen, at),
        http_listen=f.read(section, "http_listen", _listen, at),
        data_dir=f.read(section, "data_dir", f.path, at, base),
        specs=specs or None,
        policy=f.read(section, "policy", f.string, at),
        prometheus_url=f.read(section, "prometheus_url", f.string, at),
        max_series=f.read(section, "max_series", f.positive_int, at),
        max_message_bytes=f.read(section, "max_message_bytes", f.positive_int, at),
        max_future_skew_seconds=f.read(section, "max_future_skew", f.duration, at),
        tls=tls,
        token_file=f.read(section, "token_file", f.path, at, base),
        ingest_token_file=token_path(Scope.INGEST),
        read_token_file=token_path(Scope.READ),
        admin_token_file=token_path(Scope.ADMIN),
        snapshot_interval_seconds=f.read(section, "snapshot_interval", f.duration, at),
        role=f.read(section, "role", f.choice, at, ROLES),
    )
