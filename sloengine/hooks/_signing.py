"""Webhook signatures with replay protection, for the engine (sender) and for receivers.

Every delivery carries three headers (the scheme of Stripe's and the Standard Webhooks
signatures, with our names):

    X-Sloengine-Delivery:     a random id, unique per delivery, the same on every retry of it
    X-Sloengine-Timestamp:    unix seconds when this attempt was sent
    X-Sloengine-Signature-V2: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery>." + body)>

A receiver recomputes the signature (constant-time compare), rejects a timestamp further
than a tolerance from its clock (an old capture cannot be replayed after that), and
remembers the delivery ids it acted on for at least the tolerance (a capture replayed
within it is recognised, and so is the engine's own retry of a delivery whose answer was
lost: answer 2xx, act once). `verify_delivery` and `SeenDeliveries` do exactly that.

`X-Sloengine-Signature: sha256=<hex HMAC-SHA256(secret, body)>` (the body alone) is still
sent for receivers written before; it has no replay protection of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import OrderedDict
from collections.abc import Mapping

from sloengine.errors import SignatureError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_V2_HEADER",
    "TIMESTAMP_HEADER",
    "SeenDeliveries",
    "SignatureError",
    "new_delivery_id",
    "sign",
    "sign_delivery",
    "verify_delivery",
]

SIGNATURE_HEADER = "X-Sloengine-Signature"
SIGNATURE_V2_HEADER = "X-Sloengine-Signature-V2"
DELIVERY_HEADER = "X-Sloengine-Delivery"
TIMESTAMP_HEADER = "X-Sloengine-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300.0
_MAX_DELIVERY_ID_CHARS = 128


def sign(body: bytes, secret: bytes) -> str:
    """The legacy signature header value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def new_delivery_id() -> str:
    """A fresh delivery id (128 random bits, hex)."""
    return secrets.token_hex(16)


def sign_delivery(body: bytes, secret: bytes, *, timestamp: int, delivery_id: str) -> str:
    """The V2 signature header value: the timestamp and delivery id are signed with the body."""
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


def delivery_headers(
    body: bytes, secret: bytes | None, *, timestamp: int, delivery_id: str
) -> dict[str, str]:
    """The headers of one attempt: delivery id and timestamp, and both signatures if a secret
    is set."""
    headers = {DELIVERY_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp)}
    if secret is not None:
        headers[SIGNATURE_V2_HEADER] = sign_delivery(
            body, secret, timestamp=timestamp, delivery_id=delivery_id
        )
        headers[SIGNATURE_HEADER] = sign(body, secret)
    return headers


class SeenDeliveries:
    """Delivery ids a receiver acted on, forgotten once older than the tolerance (their
    timestamps are refused by then anyway); bounded in count as well."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._seen

    def add(self, delivery_id: str, now: float, tolerance_seconds: float) -> None:
        self._seen[delivery_id] = now
        self._seen.move_to_end(delivery_id)
        while self._seen:
            oldest_id, at = next(iter(self._seen.items()))
            if now - at <= 2 * tolerance_seconds and len(self._seen) <= self._max:
                break
            del self._seen[oldest_id]


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; HTTP header names are not
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def verify_delivery(
    headers: Mapping[str, str],
    body: bytes,
    secret: bytes,
    *,
    now: float,
    seen: SeenDeliveries | None = None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> tuple[str, bool]:
    """Check one received delivery: (delivery id, whether it was seen before).

    Raises SignatureError for a missing or wrong signature or a timestamp outside the
    tolerance. A delivery seen before is valid but must not be acted on again (a replay,
    or the engine retrying after a lost answer): answer 2xx and do nothing. Pass the same
    `seen` to every call; the id is recorded in it.
    """
    delivery_id = _header(headers, DELIVERY_HEADER)
    if len(delivery_id) > _MAX_DELIVERY_ID_CHARS:
        raise SignatureError(f"{DELIVERY_HEADER} is too long")
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be integer unix seconds") from None
    expected = sign_delivery(body, secret, timestamp=timestamp, delivery_id=delivery_id)
    if not hmac.compare_digest(_header(headers, SIGNATURE_V2_HEADER).encode(), expected.encode()):
        raise SignatureError("signature does not match (wrong secret, or altered)")
    if not math.isfinite(now) or abs(now - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"timestamp {timestamp} is more than {tolerance_seconds:g}s from now: too old to trust"
        )
    if seen is None:
        return delivery_id, False
    repeated = delivery_id in seen
    seen.add(delivery_id, now, tolerance_seconds)
    return delivery_id, repeated
