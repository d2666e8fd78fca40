"""instrumentation: one call gives a FastAPI service traces, RED metrics, health and logs."""
