"""docs-api: reads documents from SQLite.  `GET /docs/{id}`, `GET /search?q=&limit=`."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Query

from examples.services import fixtures
from examples.services._runtime import ServiceOptions, build_app, parse_options, serve

__all__ = ["create_app", "main"]


def create_app(options: ServiceOptions | None = None, **instrument_kwargs: Any) -> FastAPI:
    """The instrumented docs-api app; `instrument_kwargs` go to `instrument()` (tests)."""
    options = options or ServiceOptions(service_name="docs-api")
    app, faults = build_app(
        options, data_version=fixtures.data_version(options.fixture_seed), **instrument_kwargs
    )
    # Opened after instrument(), so the connection is a traced one.
    db = fixtures.open_docs_db(options.db_path, options.fixture_seed)
    db.row_factory = sqlite3.Row
    app.state.db = db

    @app.get("/docs/{id}")
    async def get_doc(id: int) -> dict[str, Any]:
        row = db.execute("SELECT id, title, body FROM docs WHERE id = ?", (id,)).fetchone()
        await faults.apply()
        if row is None:
            raise HTTPException(status_code=404, detail=f"doc {id} not found")
        return dict(row)

    @app.get("/search")
    async def search(
        q: str = Query(min_length=1, max_length=100), limit: int = Query(10, ge=1, le=50)
    ) -> dict[str, Any]:
        pattern = f"%{q}%"
        rows = db.execute(
            "SELECT id, title FROM docs WHERE title LIKE ? OR body LIKE ? ORDER BY id LIMIT ?",
            (pattern, pattern, limit),
        ).fetchall()
        await faults.apply()
        return {"query": q, "hits": [dict(r) for r in rows]}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    options, _ = parse_options("docs-api", argv)
    serve(create_app(options), options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
