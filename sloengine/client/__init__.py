"""The engine client, the public facade for sidecars and services (`from sloengine.client import
EngineClient`): streams RED metric batches to the engine over gRPC.

    client = EngineClient("127.0.0.1:50051", producer_id="sidecar-gateway-canary")
    await client.start()
    client.record("gateway", "canary", "/search", "GET", 200, 0.042)  # sync, O(1), never raises
    await client.aclose(timeout_s=5)

Inside: `_engine_client` (the client and its collector), `_push_split` (a flush too large for
one message becomes several), and `podlabels` (the pod's service/variant/revision labels,
which the sidecar and the instrumentation read).
"""

from sloengine.client._engine_client import (
    EngineClient,
    EngineClientCollector,
    ThreadedEngineClient,
)

__all__ = ["EngineClient", "EngineClientCollector", "ThreadedEngineClient"]
