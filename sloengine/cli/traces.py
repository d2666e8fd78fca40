"""`sloengine traces linkage`: how well a run's spans link up (goal: 100%).

    sloengine traces linkage spans.jsonl [more.jsonl | dir/ ...]
    sloengine traces linkage --otlp-listen 127.0.0.1:4318 --duration 60 [--save spans.jsonl]

Prints the share of spans whose parent is present and the share of requests (entry
service server spans) whose trace covers entry -> service -> DB. `--fail-under PCT`
exits 1 when either ratio is below it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sloengine.traces import LinkageReport, SpanRecord


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("traces", help="trace tools: span linkage of a run")
    sub = parser.add_subparsers(dest="traces_command", metavar="ACTION", required=True)
    p = sub.add_parser("linkage", help="share of linked spans and of fully covered requests")
    p.add_argument("span_files", nargs="*", type=Path, help="JSON-lines span files or dirs")
    p.add_argument("--otlp-listen", metavar="HOST:PORT", help="receive OTLP/HTTP spans here")
    p.add_argument("--duration", type=float, default=30.0, help="seconds to listen (OTLP)")
    p.add_argument("--save", type=Path, help="also write the received spans as JSON lines")
    p.add_argument("--entry-service", default="gateway", help="service whose requests count")
    p.add_argument(
        "--routes",
        help="comma-separated route templates whose requests count (default: all)",
    )
    p.add_argument("--fail-under", type=float, metavar="PCT", help="exit 1 below this percent")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_linkage)


def _percent(part: int, whole: int, ratio: float) -> str:
    return f"{part}/{whole} ({ratio * 100:.1f}%)"


def render(report: LinkageReport) -> str:
    """The human-readable report."""
    lines = [
        f"spans: {report.spans} in {report.traces} traces",
        "parent present: "
        + _percent(report.parent_present, report.with_parent, report.parent_ratio)
        + " of spans that have a parent",
        f"requests ({report.entry_service} server spans entering the collection): "
        f"{report.requests}",
        f"covering {report.entry_service} -> service -> DB: "
        + _percent(report.covered_requests, report.requests, report.coverage_ratio),
    ]
    for name, count in list(report.orphans_by_name.items())[:10]:
        lines.append(f"  orphan span: {name} x{count}")
    for name, count in list(report.uncovered_by_name.items())[:10]:
        lines.append(f"  uncovered request: {name} x{count}")
    return "\n".join(lines)


def _collect_otlp(listen: str, duration_s: float) -> list[SpanRecord]:
    from sloengine.traces import OtlpReceiver

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"sloengine traces: --otlp-listen: expected HOST:PORT, got {listen!r}")
    if duration_s <= 0:
        raise SystemExit("sloengine traces: --duration: must be > 0")
    try:
        receiver = OtlpReceiver(host.strip("[]"), int(port))
    except (ValueError, OSError) as exc:
        raise SystemExit(f"sloengine traces: {exc}") from None
    receiver.start()
    print(f"receiving OTLP/HTTP on http://{listen}/v1/traces for {duration_s:g}s", flush=True)
    try:
        time.sleep(duration_s)
    finally:
        spans = receiver.stop()
    return spans


def _linkage(args: argparse.Namespace) -> int:
    # Imported here: the OTLP receiver needs opentelemetry-proto (the `server` extra), and
    # building the `sloengine` parser must work with the core install alone.
    from sloengine.traces import linkage_report, read_span_file, write_span_file

    if not args.span_files and not args.otlp_listen:
        print("sloengine traces linkage: give span files or --otlp-listen", file=sys.stderr)
        return 2
    spans: list[SpanRecord] = []
    for path in args.span_files:
        if not path.exists():
            print(f"sloengine traces linkage: {path}: no such file", file=sys.stderr)
            return 2
        spans.extend(read_span_file(path))
    if args.otlp_listen:
        received = _collect_otlp(args.otlp_listen, args.duration)
        if args.save:
            write_span_file(args.save, received)
        spans.extend(received)
    routes = [r.strip() for r in args.routes.split(",") if r.strip()] if args.routes else None
    report = linkage_report(spans, entry_service=args.entry_service, routes=routes)
    if args.json:
        payload = {
            "spans": report.spans,
            "traces": report.traces,
            "parent_ratio": report.parent_ratio,
            "coverage_ratio": report.coverage_ratio,
            "requests": report.requests,
            "covered_requests": report.covered_requests,
            "with_parent": report.with_parent,
            "parent_present": report.parent_present,
            "orphans_by_name": report.orphans_by_name,
            "uncovered_by_name": report.uncovered_by_name,
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render(report))
    if args.fail_under is not None:
        floor = args.fail_under / 100
        if report.parent_ratio < floor or report.coverage_ratio < floor:
            return 1
    return 0
