"""Bearer-token check on gRPC metadata, as a server interceptor.

Health and reflection stay open so that load balancers, Kubernetes probes and grpcurl's
`list` work without the secret; every sloengine.v1 method needs `authorization: Bearer T`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

__all__ = ["BearerTokenInterceptor"]

_OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _token_problem(metadata: Any, expected: bytes) -> str | None:
    """None when the metadata carries the expected token, else the reason to refuse."""
    values = [v for k, v in (metadata or ()) if k == "authorization"]
    if not values:
        return "missing bearer token (metadata authorization: Bearer <token>)"
    value = values[0]
    given = value.encode() if isinstance(value, str) else bytes(value)
    scheme, _, token = given.partition(b" ")
    if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), expected):
        return "invalid bearer token"
    return None


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuse calls without the configured bearer token with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method or ""
        if method.startswith(_OPEN_PREFIXES):
            return await continuation(handler_call_details)
        problem = _token_problem(handler_call_details.invocation_metadata, self._expected)
        handler = await continuation(handler_call_details)
        if problem is None or handler is None:
            return handler
        return _refusing_handler(handler, problem)


def _refusing_handler(handler: grpc.RpcMethodHandler, problem: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming shape as `handler` that aborts UNAUTHENTICATED."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
