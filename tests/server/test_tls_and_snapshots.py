"""Optional TLS on gRPC, the periodic snapshot, and the client's token and TLS options."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from sloengine.client import EngineClient
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import TLSConfig
from tests.server.conftest import T0, EngineFactory, batch, block, push_all, status, window
from tests.support.wait import until


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TLSConfig:
    """A self-signed certificate for 127.0.0.1 (and localhost)."""
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return TLSConfig(cert, key)


async def test_tls_engine_serves_tls_clients_only(
    start_engine: EngineFactory, certificate: TLSConfig
) -> None:
    engine = await start_engine(tls=certificate)
    address = f"127.0.0.1:{engine.grpc_port}"
    creds = grpc.ssl_channel_credentials(root_certificates=certificate.cert.read_bytes())
    async with grpc.aio.secure_channel(address, creds) as ch:
        resp = await pb_grpc.SLOServiceStub(ch).ListSLOs(pb.ListSLOsRequest(), timeout=10)
        assert len(resp.slos) == 3
    async with grpc.aio.insecure_channel(address) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await pb_grpc.SLOServiceStub(plain).ListSLOs(pb.ListSLOsRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    client = EngineClient(
        address, "tls-client", credentials=creds, flush_interval_s=0.02, clock=lambda: T0 - 30
    )
    await client.start()
    client.record("checkout", "stable", "/pay", "GET", 200, 0.01)
    await client.aclose(timeout_s=5)
    assert client.stats["acked_batches"] == 1


async def test_client_sends_its_token(start_engine: EngineFactory, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0k3n")
    engine = await start_engine(token_file=token)
    good = EngineClient(
        f"127.0.0.1:{engine.grpc_port}", "with-token", token="t0k3n", flush_interval_s=0.02,
        clock=lambda: T0 - 30,
    )  # fmt: skip
    bad = EngineClient(
        f"127.0.0.1:{engine.grpc_port}", "no-token", flush_interval_s=0.02, backoff_max_s=0.05
    )
    for client in (good, bad):
        await client.start()
        client.record("checkout", "stable", "/pay", "GET", 200, 0.01)
    # The refusal comes when the bad client's first batch reaches the engine: wait for it (a
    # fixed sleep races it on a loaded machine), then close.
    await until(lambda: bad.stats["stream_errors"] >= 1, "the tokenless stream refused")
    await until(lambda: good.stats["acked_batches"] >= 1, "the token's batch acknowledged")
    await good.aclose()
    await bad.aclose(timeout_s=0.1)
    assert good.stats["acked_batches"] == 1
    assert bad.stats["acked_batches"] == 0 and bad.stats["stream_errors"] >= 1


async def test_snapshots_are_written_every_interval(
    start_engine: EngineFactory, tmp_path: Path
) -> None:
    data = tmp_path / "snap"
    engine = await start_engine(data_dir=data, snapshot_interval_seconds=0.1)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as ch:
        await push_all(ch, batch(1, block(requests=(9,), errors=(0,))))
        await until(lambda: list(data.glob("snapshot-*.npz")), "a snapshot written")
        assert window(await status(ch), 300).requests == 9
