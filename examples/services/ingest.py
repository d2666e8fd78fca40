"""ingest: stores submitted documents in SQLite.  `POST /ingest` with `{"title", "body"}`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from examples.services import fixtures
from examples.services._runtime import ServiceOptions, build_app, parse_options, serve

__all__ = ["Document", "create_app", "main"]


class Document(BaseModel):
    """A document to ingest."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=100_000)


def create_app(options: ServiceOptions | None = None, **instrument_kwargs: Any) -> FastAPI:
    """The instrumented ingest app; `instrument_kwargs` go to `instrument()` (tests)."""
    options = options or ServiceOptions(service_name="ingest")
    app, faults = build_app(
        options, data_version=fixtures.data_version(options.fixture_seed), **instrument_kwargs
    )
    db = fixtures.open_ingest_db(options.db_path)
    app.state.db = db

    @app.post("/ingest", status_code=201)
    async def ingest(doc: Document) -> dict[str, Any]:
        with db:
            cursor = db.execute(
                "INSERT INTO events (title, body) VALUES (?, ?)", (doc.title, doc.body)
            )
        await faults.apply()
        return {"id": cursor.lastrowid}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    options, _ = parse_options("ingest", argv)
    serve(create_app(options), options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
