"""Demo services for the sprint's key paths, each instrumented with `instrumentation`.

    gateway   GET /search, POST /ingest, GET /docs/{id}  -> docs-api, ingest over httpx
    docs-api  GET /search, GET /docs/{id}                 -> SQLite (seeded fixtures)
    ingest    POST /ingest                                -> SQLite

Run one with `python -m examples.services.<gateway|docs_api|ingest> --port 0`; it prints
`listening on http://HOST:PORT` once bound. `POST /admin/faults` (or the `DEMO_*`
environment variables) injects an error ratio and added latency, to stage a bad canary.
"""
