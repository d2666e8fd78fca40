"""A server interceptor for the gRPC edge: bad requests are INVALID_ARGUMENT, never UNKNOWN.

Two things would otherwise reach a client as UNKNOWN with a Python exception's text:
- bytes that are not the method's request message (grpc runs the deserializer before any
  servicer code, and reports its DecodeError as UNKNOWN);
- a `RequestError` from the validation in `sloengine.settings.inputs` that a servicer let escape.
This interceptor wraps every method that has a request deserializer: an undecodable
message becomes INVALID_ARGUMENT "request: not a valid <type>", a RequestError becomes
INVALID_ARGUMENT "field: reason". Push has no deserializer (it reads raw bytes and rejects
bad batches in its acks), so its hot path is not wrapped.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from sloengine.errors import RequestError

__all__ = ["RequestErrorInterceptor"]

_INVALID = grpc.StatusCode.INVALID_ARGUMENT


class _Undecodable:
    """Stands for a request message that did not parse; the behaviour aborts on it."""

    def __init__(self, message: str) -> None:
        self.message = message


def _lenient(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", "") or "request message"

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as exc:  # DecodeError, or whatever a deserializer raises on garbage
            reason = str(exc).rsplit(":", 1)[-1].strip() or type(exc).__name__
            return _Undecodable(f"request: not a valid {name} ({reason})")

    return decode


async def _check(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    if isinstance(request, _Undecodable):
        await context.abort(_INVALID, request.message)


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    async for request in requests:
        await _check(request, context)
        yield request


def _unary_response(behavior: Callable[..., Any], streaming_request: bool) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if streaming_request:
            request = _checked_stream(request, context)
        else:
            await _check(request, context)
        try:
            result = behavior(request, context)
            # A synchronous behaviour (e.g. a servicer's default "not implemented") too.
            return await result if inspect.isawaitable(result) else result
        except RequestError as exc:
            await context.abort(_INVALID, str(exc))

    return call


def _stream_response(behavior: Callable[..., AsyncIterator[Any]], streaming_request: bool) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        if streaming_request:
            request = _checked_stream(request, context)
        else:
            await _check(request, context)
        try:
            async for item in behavior(request, context):
                yield item
        except RequestError as exc:
            await context.abort(_INVALID, str(exc))

    return call


class RequestErrorInterceptor(grpc.aio.ServerInterceptor):
    """Undecodable requests and RequestErrors become INVALID_ARGUMENT, for every method with
    a request deserializer."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        behavior = (
            handler.unary_unary
            or handler.unary_stream
            or handler.stream_unary
            or handler.stream_stream
        )
        if inspect.isasyncgenfunction(behavior):
            wrapped = _stream_response(behavior, handler.request_streaming)
        elif inspect.iscoroutinefunction(behavior) or not handler.response_streaming:
            # Coroutines (incl. streams written with context.write) and plain functions.
            wrapped = _unary_response(behavior, handler.request_streaming)
        else:
            return handler  # a synchronous response generator: none in the engine
        make = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
        return make(
            wrapped,
            request_deserializer=_lenient(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


_FACTORIES: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
