"""Trace linkage: collect a run's spans (JSON-lines files or OTLP/HTTP) and measure how
well they link up: parents present, and requests covering gateway -> service -> DB."""

from sloengine.traces.linkage import LinkageReport, SpanRecord, linkage_report
from sloengine.traces.otlp import OtlpReceiver, spans_from_otlp
from sloengine.traces.spanfile import read_span_file, write_span_file

__all__ = [
    "LinkageReport",
    "OtlpReceiver",
    "SpanRecord",
    "linkage_report",
    "read_span_file",
    "spans_from_otlp",
    "write_span_file",
]
