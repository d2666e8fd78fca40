"""Request bodies at the HTTP edge: JSON and forms parsed within bounds, or a RequestError.

The size of a body is bounded by aiohttp (`client_max_size`, 413 beyond it); this module
bounds what is inside: UTF-8 only, nesting at most MAX_JSON_DEPTH deep (the stdlib
parser recurses, so 100k brackets would exhaust the stack), numbers that fit a double or a
64-bit integer, no NaN / Infinity (not JSON). A failure names the field and what is wrong.

`edge_errors` is the aiohttp middleware that answers any RequestError with a 400
`{"error": "field: reason"}`, so a handler may simply let the validation raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import web

from sloengine.errors import RequestError

__all__ = [
    "MAX_JSON_DEPTH",
    "edge_errors",
    "json_body",
    "json_object",
    "parse_json",
    "request_params",
]

MAX_JSON_DEPTH = 32
# 20 digits hold any 64-bit integer; a longer one is a mistake or an attack.
_MAX_INT_DIGITS = 20
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside JSON strings (vectorised: bodies can be 1 MiB)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep: skip the scan
    skeleton = _JSON_STRING.sub('""', text).encode("utf-8")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.isin(codes, _OPEN).astype(np.int32) - np.isin(codes, _CLOSE).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def _finite_float(raw: str) -> float:
    value = float(raw)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {raw[:40]} is out of range")
    return value


def _bounded_int(raw: str) -> int:
    if len(raw.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(raw)} digits is out of range")
    return int(raw)


def _no_constants(raw: str) -> Any:
    raise ValueError(f"{raw} is not JSON")


def parse_json(raw: bytes, field: str = "body") -> Any:
    """Parse a JSON document within the bounds above; RequestError naming `field` if not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            field, f"must be UTF-8 JSON (invalid byte at offset {exc.start})"
        ) from None
    text = text.removeprefix("\ufeff")
    if _nesting_depth(text) > MAX_JSON_DEPTH:
        raise RequestError(field, f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            parse_constant=_no_constants,
        )
    except RecursionError:  # unreachable after the depth check; kept as a last guard
        raise RequestError(field, "JSON is nested too deeply") from None
    except ValueError as exc:
        raise RequestError(field, f"invalid JSON: {exc}") from None


async def json_body(request: web.Request, field: str = "body") -> Any:
    """The request's JSON body (any JSON value)."""
    return parse_json(await request.read(), field)


async def json_object(request: web.Request, field: str = "body") -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = await json_body(request, field)
    if not isinstance(body, dict):
        raise RequestError(field, "must be a JSON object")
    return body


async def request_params(request: web.Request) -> dict[str, Any]:
    """Query parameters, overlaid by a POST body: a JSON object or a form (urlencoded or
    multipart). Values are not yet typed: read them with `sloengine.settings.inputs`."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json" or request.content_type.endswith("+json"):
        params.update(await json_object(request))
        return params
    try:
        form = await request.post()
    except (ValueError, LookupError, AssertionError) as exc:
        # aiohttp's form parsers raise these for bad encodings, charsets and boundaries.
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise RequestError("body", f"not a valid {request.content_type} form: {reason}") from None
    params.update(form)
    return params


@web.middleware
async def edge_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A RequestError raised by any handler is a 400 naming the field, never a 500."""
    try:
        return await handler(request)
    except RequestError as exc:
        return web.json_response({"error": str(exc)}, status=400)
