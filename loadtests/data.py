"""Fixed, seeded test data so two runs send the same requests in the same proportions."""

from __future__ import annotations

import random

SEED = 20261127
SEARCH_TERMS = (
    "latency",
    "budget",
    "canary",
    "rollback",
    "burn",
    "error",
    "trace",
    "slo",
    "gateway",
    "ingest",
    "docs",
    "alert",
)
DOC_ID_RANGE = range(1, 101)  # the demo services seed documents 1..100


def rng(user_index: int) -> random.Random:
    """A per-user RNG: deterministic for a given user, different across users."""
    return random.Random(SEED + user_index)


def ingest_payload(r: random.Random) -> dict[str, object]:
    return {
        "title": f"load-{r.randrange(1_000_000)}",
        "body": " ".join(r.choice(SEARCH_TERMS) for _ in range(12)),
    }
