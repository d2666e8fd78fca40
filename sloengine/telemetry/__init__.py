"""The telemetry toolkit beside the client, shared by the sidecar and the instrumentation.

- `sloengine.telemetry.red`: the one RED recorder (one bucketing, one 5xx rule) feeding
  the Prometheus exposition and the engine client (`sloengine.client`).
- `sloengine.telemetry.tracecontext`: W3C Trace Context, pure: traceparent (Level 1 and
  Level 2's random flag) and Level 2 tracestate parsing and truncation.
- `sloengine.telemetry.spans`: the span sink (a bounded queue exported over OTLP off the
  hot path) and the one reading of the OTel environment that picks the span exporter;
  it needs the OpenTelemetry SDK, which only the `sidecar` and `instrumentation` extras
  install.

Nothing is imported here, so each module costs only its own imports (`tracecontext` is
stdlib only).
"""
