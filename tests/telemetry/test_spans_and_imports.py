"""The span exporter both packages pick from the OTel environment, and the toolkit's
import weight."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)

from sidecar.__main__ import main as sidecar_main
from sloengine.telemetry.spans import otlp_exporter_from_env

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    "env",
    [
        {},
        {**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"},
        {**ENDPOINT, "OTEL_TRACES_EXPORTER": " NONE "},
        {**ENDPOINT, "OTEL_SDK_DISABLED": "true"},
    ],
)
def test_no_exporter_unless_an_endpoint_asks_for_one(env: dict[str, str]) -> None:
    assert otlp_exporter_from_env(env) is None


def test_the_protocol_picks_the_exporter() -> None:
    assert isinstance(otlp_exporter_from_env(ENDPOINT), HttpExporter)  # the spec's default
    grpc_env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}  # fmt: skip
    assert isinstance(otlp_exporter_from_env(grpc_env), GrpcExporter)


def test_an_unsupported_protocol_is_named() -> None:
    with pytest.raises(ValueError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL.*'http/json'"):
        otlp_exporter_from_env({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_the_sidecar_refuses_an_unsupported_protocol_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    code = sidecar_main(["--upstream", "http://127.0.0.1:9", "--service", "gw",
                         "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sloengine-sidecar: error: OTEL_EXPORTER_OTLP_PROTOCOL")
    assert "Traceback" not in err


def test_trace_context_is_stdlib_only() -> None:
    # The sidecar's proxy and the instrumentation's propagator share it; it pulls no stack.
    heavy = ["aiohttp", "grpc", "prometheus_client", "opentelemetry", "sidecar"]
    code = (
        "import sys, json, sloengine.telemetry.tracecontext\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
