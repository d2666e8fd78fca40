"""The real engine, started from the shipped deploy/kubernetes config, on loopback.

The ConfigMap's engine.yaml is used as is, except what only makes sense in a cluster:
listen addresses (port 0 on 127.0.0.1), the data dir and the token files (tmp paths).
A pinned clock lets a whole analysis run in simulated minutes; traffic goes in through
the gRPC Push with the ingest token, as a sidecar sends it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import load_config
from tests.canary.traffic import block

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
T0 = 1_800_000_000.0


def load_manifests(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def engine_yaml_from_configmap() -> dict[str, Any]:
    (configmap,) = load_manifests(DEPLOY / "engine" / "configmap.yaml")
    doc: dict[str, Any] = yaml.safe_load(configmap["data"]["engine.yaml"])
    return doc


@dataclass
class Traffic:
    """Requests per second and error ratio of one variant."""

    rps: float
    error_ratio: float
    median_latency_s: float = 0.2


@dataclass
class RunningEngine:
    app: EngineApp
    now: list[float]
    tokens: dict[str, str]
    channel: grpc.aio.Channel
    sequence: int = 0
    seeds: dict[str, int] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.app.http_port}"

    async def push_minute(self, service: str, variants: dict[str, Traffic]) -> None:
        """One minute of traffic ending now, for each variant (Push with the ingest token)."""
        blocks = []
        for variant, traffic in variants.items():
            if traffic.rps <= 0:
                continue
            seed = self.seeds.setdefault(variant, len(self.seeds) + 1)
            self.seeds[variant] = seed + 1000
            blocks.append(
                block(
                    service, variant, end_s=self.now[0], seconds=60, rps=traffic.rps,
                    error_ratio=traffic.error_ratio, median_latency_s=traffic.median_latency_s,
                    seed=seed,
                )
            )  # fmt: skip
        if not blocks:
            return
        self.sequence += 1
        request = pb.PushRequest(producer_id="sim", sequence=self.sequence, blocks=blocks)
        token = self.tokens.get("ingest")
        call = pb_grpc.IngestServiceStub(self.channel).Push(
            metadata=(("authorization", f"Bearer {token}"),) if token else None
        )
        await call.write(request)
        await call.done_writing()
        acks = [ack async for ack in call]
        assert [a.status for a in acks] == [pb.PushAck.ACCEPTED]


async def start_engine(
    tmp_path: Path,
    *,
    extra: dict[str, Any] | None = None,
    scopes: tuple[str, ...] | None = None,
    tokens: dict[str, str] | None = None,
) -> RunningEngine:
    """The shipped engine.yaml; `extra` adds sections (hooks...), `scopes` keeps only
    those token files (None: all three), `tokens` reuses tokens (for a restart)."""
    doc = engine_yaml_from_configmap()
    doc.update(extra or {})
    keep = tuple(doc["engine"]["tokens"]) if scopes is None else scopes
    doc["engine"]["tokens"] = {k: v for k, v in doc["engine"]["tokens"].items() if k in keep}
    if not doc["engine"]["tokens"]:
        del doc["engine"]["tokens"]
    tokens = tokens or {scope: secrets.token_hex(16) for scope in keep}
    token_dir = tmp_path / "tokens"
    token_dir.mkdir(exist_ok=True)
    for scope in keep:
        (token_dir / scope).write_text(tokens[scope] + "\n")
        doc["engine"]["tokens"][scope] = str(token_dir / scope)
    doc["engine"].update(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=str(tmp_path / "data"),
        specs=[],
        snapshot_interval="1h",
    )
    doc["audit"]["path"] = str(tmp_path / "data" / "audit.jsonl")
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(doc))
    now = [T0]
    app = EngineApp(load_config(path), clock=lambda: now[0], registry=CollectorRegistry())
    await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    return RunningEngine(app, now, tokens, channel)
