"""sidecar: the metric guard reverse proxy (W3C trace context, RED metrics, engine stream)."""
