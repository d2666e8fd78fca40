"""Deterministic seeded SQLite fixtures for the demo services.

The same seed gives byte-identical rows, so test expectations and demo runs repeat.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

__all__ = ["DOC_COUNT", "data_version", "open_docs_db", "open_ingest_db"]

DOC_COUNT = 200
SCHEMA_VERSION = 1
_WORDS = [
    "latency",
    "budget",
    "canary",
    "rollout",
    "error",
    "ratio",
    "burn",
    "rate",
    "window",
    "alert",
    "page",
    "ticket",
    "replica",
    "shard",
    "index",
    "query",
    "cache",
    "trace",
    "span",
    "metric",
    "histogram",
    "bucket",
    "quantile",
    "service",
    "gateway",
]


def data_version(seed: int) -> str:
    """The `data_version` the services log: schema version and fixture seed."""
    return f"fixtures-v{SCHEMA_VERSION}-seed{seed}"


def _db_file(path: str | None, name: str) -> str:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return path
    return str(Path(tempfile.mkdtemp(prefix=f"demo-{name}-")) / f"{name}.sqlite")


def open_docs_db(path: str | None, seed: int) -> sqlite3.Connection:
    """docs(id, title, body), DOC_COUNT rows drawn from a seeded RNG (recreated each start)."""
    conn = sqlite3.connect(_db_file(path, "docs"), check_same_thread=False)
    conn.execute("DROP TABLE IF EXISTS docs")
    conn.execute(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)"
    )
    rng = random.Random(seed)
    rows = [
        (
            i,
            " ".join(rng.choices(_WORDS, k=3)),
            " ".join(rng.choices(_WORDS, k=30)),
        )
        for i in range(1, DOC_COUNT + 1)
    ]
    conn.executemany("INSERT INTO docs (id, title, body) VALUES (?, ?, ?)", rows)
    conn.commit()
    return conn


def open_ingest_db(path: str | None) -> sqlite3.Connection:
    """events(id, title, body, received_unix_s): what POST /ingest stores."""
    conn = sqlite3.connect(_db_file(path, "ingest"), check_same_thread=False)
    conn.execute("DROP TABLE IF EXISTS events")
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,"
        " body TEXT NOT NULL)"
    )
    conn.commit()
    return conn
