"""gateway: the sprint's key paths, served by calling docs-api and ingest over HTTP.

    GET  /search?q=   -> docs-api GET /search
    GET  /docs/{id}   -> docs-api GET /docs/{id}
    POST /ingest      -> ingest   POST /ingest

Downstream base URLs: `--docs-url`/`DOCS_API_URL`, `--ingest-url`/`INGEST_URL`. A
downstream 5xx becomes 502, an unreachable downstream 503, a 4xx is passed on.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Query, Request, Response

from examples.services import fixtures
from examples.services._runtime import ServiceOptions, build_app, parse_options, serve
from instrumentation import current_request_id

__all__ = ["create_app", "main"]

# Headers a gateway forwards: ids and flags, never cookies or credentials.
_FORWARDED = ("x-request-id", "x-user-id", "x-feature-flags")


def create_app(
    options: ServiceOptions | None = None,
    *,
    docs_url: str = "http://127.0.0.1:8001",
    ingest_url: str = "http://127.0.0.1:8002",
    docs_transport: httpx.AsyncBaseTransport | None = None,
    ingest_transport: httpx.AsyncBaseTransport | None = None,
    timeout_s: float = 5.0,
    **instrument_kwargs: Any,
) -> FastAPI:
    """The instrumented gateway; transports let tests wire the downstream apps in-process."""
    options = options or ServiceOptions(service_name="gateway")
    docs = httpx.AsyncClient(base_url=docs_url, transport=docs_transport, timeout=timeout_s)
    ingest = httpx.AsyncClient(base_url=ingest_url, transport=ingest_transport, timeout=timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await docs.aclose()
        await ingest.aclose()

    app, faults = build_app(
        options,
        data_version=fixtures.data_version(options.fixture_seed),
        lifespan=lifespan,
        **instrument_kwargs,
    )

    async def call(
        client: httpx.AsyncClient,
        request: Request,
        method: str,
        path: str,
        *,
        content_type: str | None = None,
        **kwargs: Any,
    ) -> Response:
        headers = {h: v for h in _FORWARDED if (v := request.headers.get(h)) is not None}
        request_id = current_request_id()
        if request_id:
            headers["x-request-id"] = request_id  # one id across the services' logs
        if content_type:
            headers["content-type"] = content_type
        try:
            upstream = await client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise HTTPException(status_code=503, detail=f"downstream unavailable: {exc}") from None
        await faults.apply()
        if upstream.status_code >= 500:
            raise HTTPException(
                status_code=502, detail=f"downstream answered {upstream.status_code}"
            )
        return Response(
            content=upstream.content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type", "application/json"),
        )

    @app.get("/search")
    async def search(
        request: Request, q: str = Query(min_length=1, max_length=100), limit: int = 10
    ) -> Response:
        return await call(docs, request, "GET", "/search", params={"q": q, "limit": limit})

    @app.get("/docs/{id}")
    async def get_doc(request: Request, id: int) -> Response:
        return await call(docs, request, "GET", f"/docs/{id}")

    @app.post("/ingest")
    async def ingest_doc(request: Request) -> Response:
        body = await request.body()
        return await call(
            ingest, request, "POST", "/ingest", content=body, content_type="application/json"
        )

    return app


def main(argv: Sequence[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument(
        "--docs-url", default=os.environ.get("DOCS_API_URL", "http://127.0.0.1:8001")
    )
    extra.add_argument(
        "--ingest-url", default=os.environ.get("INGEST_URL", "http://127.0.0.1:8002")
    )
    options, args = parse_options("gateway", argv, extra)
    serve(create_app(options, docs_url=args.docs_url, ingest_url=args.ingest_url), options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
