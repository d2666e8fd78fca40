"""Trace linkage: the pure ratios, the span-file reader and the OTLP/HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from instrumentation import JsonLinesSpanExporter, build_tracer_provider
from sloengine.cli import main as sloengine_main
from sloengine.errors import SpecError
from sloengine.traces import OtlpReceiver, SpanRecord, linkage_report, read_span_file
from tests.instrumentation.conftest import client_for

T1, T2 = "1" * 32, "2" * 32


def _span(trace: str, span: str, parent: str | None, name: str, kind: str, service: str,
          db: bool = False, route: str | None = None) -> SpanRecord:  # fmt: skip
    return SpanRecord(trace, span.rjust(16, "0"), parent.rjust(16, "0") if parent else None,
                      name, kind, service, "sqlite" if db else None, route)  # fmt: skip


def _full_trace(trace: str) -> list[SpanRecord]:
    return [
        _span(
            trace, "a", "f", "GET /search", "SERVER", "gateway", route="/search"
        ),  # remote caller
        _span(trace, "b", "a", "GET", "CLIENT", "gateway"),
        _span(trace, "c", "b", "GET /search", "SERVER", "docs-api", route="/search"),
        _span(trace, "d", "c", "SELECT docs", "CLIENT", "docs-api", db=True),
    ]


def test_complete_traces_give_full_linkage_and_coverage() -> None:
    report = linkage_report(_full_trace(T1) + _full_trace(T2))
    assert (report.requests, report.covered_requests) == (2, 2)
    assert report.parent_ratio == 1.0 and report.coverage_ratio == 1.0
    assert report.with_parent == 6  # the entry spans' outside callers are not broken links


def test_missing_parent_is_an_orphan_and_breaks_coverage() -> None:
    spans = [s for s in _full_trace(T1) if s.name != "GET"]  # the client span was lost
    report = linkage_report(spans)
    assert report.orphans_by_name == {"GET /search": 1}
    assert report.parent_present == 1 and report.with_parent == 2
    assert report.coverage_ratio == 0.0
    assert report.uncovered_by_name == {"GET /search": 1}


def test_db_span_in_the_gateway_itself_does_not_count_as_coverage() -> None:
    spans = [
        _span(T1, "a", None, "GET /search", "SERVER", "gateway", route="/search"),
        _span(T1, "b", "a", "SELECT cache", "CLIENT", "gateway", db=True),
    ]
    assert linkage_report(spans).coverage_ratio == 0.0


def test_routes_filter_leaves_out_requests_that_never_go_downstream() -> None:
    admin = _span(T2, "e", None, "POST /admin/faults", "SERVER", "gateway", route="/admin/faults")
    report = linkage_report([*_full_trace(T1), admin], routes=["/search"])
    assert (report.requests, report.coverage_ratio) == (1, 1.0)
    assert linkage_report([*_full_trace(T1), admin]).coverage_ratio == 0.5


def test_span_exported_twice_counts_once() -> None:
    report = linkage_report(_full_trace(T1) * 2)
    assert report.spans == 4 and report.requests == 1


def test_malformed_span_file_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps({"trace_id": "XYZ", "span_id": "1" * 16}) + "\n")
    with pytest.raises(SpecError) as err:
        read_span_file(path)
    assert str(err.value) == f"{path}: line 1.trace_id: must be 32 lowercase hex digits"
    assert sloengine_main(["traces", "linkage", str(path)]) == 2


def test_torn_last_line_of_a_killed_writer_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    good = {"trace_id": T1, "span_id": "1" * 16, "name": "x", "kind": "SERVER", "service": "g"}
    path.write_text(json.dumps(good) + "\n" + '{"trace_id": "11')
    assert len(read_span_file(path)) == 1


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/x/{n}")
    async def x(n: int) -> dict[str, int]:
        return {"n": n}

    return app


async def test_json_lines_exporter_round_trips_through_the_cli(
    instrumented: Callable[..., FastAPI], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    path = tmp_path / "spans.jsonl"
    provider = build_tracer_provider(service="gateway", variant="stable", version=None,
                                     environment=None, env={})  # fmt: skip
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    app = instrumented(_app(), service="gateway", tracer_provider=provider)
    async with client_for(app) as client:
        await client.get("/x/1", headers={"x-user-id": "raw-user-7"})
    provider.shutdown()
    (record,) = read_span_file(path)
    assert (record.name, record.kind, record.route) == ("GET /x/{n}", "SERVER", "/x/{n}")
    assert "raw-user-7" not in path.read_text()
    assert sloengine_main(["traces", "linkage", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["requests"] == 1 and payload["coverage_ratio"] == 0.0


async def test_otlp_receiver_collects_spans_exported_by_the_standard_env(
    instrumented: Callable[..., FastAPI],
) -> None:
    receiver = OtlpReceiver("127.0.0.1", 0)
    receiver.start()
    try:
        provider = build_tracer_provider(
            service="gateway", variant="canary", version="1.2.3", environment="test",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}"},
        )  # fmt: skip
        app = instrumented(_app(), service="gateway", tracer_provider=provider)
        async with client_for(app) as client:
            for n in range(3):
                await client.get(f"/x/{n}")
        assert provider.force_flush(timeout_millis=10_000)
    finally:
        spans = receiver.stop()
    provider.shutdown()
    assert [(s.name, s.service, s.kind, s.route) for s in spans] == [
        ("GET /x/{n}", "gateway", "SERVER", "/x/{n}")
    ] * 3


def test_otlp_receiver_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        OtlpReceiver("0.0.0.0", 0)


def test_no_exporter_without_configuration() -> None:
    provider = build_tracer_provider(service="s", variant="stable", version=None,
                                     environment=None, env={})  # fmt: skip
    assert provider._active_span_processor._span_processors == ()
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        build_tracer_provider(service="s", variant="stable", version=None, environment=None,
                              env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
                                   "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})  # fmt: skip
    with pytest.raises(ValueError, match="sample_ratio"):
        build_tracer_provider(service="s", variant="stable", version=None, environment=None,
                              sample_ratio=2.0, env={})  # fmt: skip
