"""The HTTP layer under the API: Binance-shaped refusals for what aiohttp refuses itself, and bounded headers.

aiohttp answers a request it cannot parse (an over-long request line or header, bytes that are not HTTP, a
URL that is not UTF-8) with a plain-text 400 before any handler or middleware runs. Here those answers are
``{"code","msg"}`` JSON like every other refusal, with the HTTP status saying what was wrong (414 for the
request line, 431 for headers). A client that sends the start of a request and then trickles the rest (or
nothing) is disconnected once ``header_timeout_s`` has passed without a complete request head: without it,
a few thousand such connections hold the server's descriptors for an hour (aiohttp's keep-alive timeout).

Use :class:`ApiRunner` in place of ``web.AppRunner``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.api import errors

log = structlog.get_logger(__name__)
DEFAULT_HEADER_TIMEOUT_S = 10.0


def refusal_of(status: int, exc: BaseException | None) -> errors.ApiError:
    """The Binance-shaped answer for a request aiohttp's parser refused (``status``, ``exc``)."""
    if isinstance(exc, http_exceptions.LineTooLong):
        line = exc.args[0] if exc.args else b""
        if bytes(line).startswith((b"/", b"http:", b"https:")):  # the parser quotes the request target
            return errors.http_too_large("the request line is too long", 414)
        return errors.http_too_large("a header is too long", 431)
    if isinstance(exc, http_exceptions.BadHttpMessage) and "too many headers" in str(exc).lower():
        return errors.http_too_large("too many headers", 431)
    if isinstance(exc, http_exceptions.InvalidURLError | UnicodeDecodeError):
        return errors.malformed_http("the URL has bytes that are not allowed (it must be ASCII, UTF-8 percent-encoded)")
    if status == 413:
        return errors.http_too_large("the body is too large")
    if status >= 500:
        return errors.unknown_error()
    return errors.malformed_http("it is not valid HTTP/1.1", status if 400 <= status < 500 else 400)


class ApiRequestHandler(RequestHandler):
    """aiohttp's connection handler with JSON refusals and a deadline for each request head."""

    def __init__(self, *args: Any, header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._head_deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a request head is complete
            self._disarm()
        elif (
            data
            and self._head_deadline is None
            and self._header_timeout_s > 0
            and not self._upgraded
            and not self._messages
            and self._current_request is None
        ):  # the first bytes of a new request head: it must be complete in time
            self._head_deadline = self._loop.call_later(self._header_timeout_s, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self._messages or self._current_request is not None or self._upgraded:
            return  # the head arrived meanwhile: a handler owns the connection now
        transport = self.transport
        if transport is not None:
            peer = transport.get_extra_info("peername")
            log.info("http_head_timeout", peer=str(peer), timeout_s=self._header_timeout_s)
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            log.info("http_refused", status=status, error=type(exc).__name__ if exc else None)
        if request.writer.output_size > 0:  # an answer was already on its way: nothing to add
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        err = refusal_of(status, exc)
        resp = web.Response(
            body=orjson.dumps({"code": err.code, "msg": err.msg}), status=err.status, content_type="application/json"
        )
        resp.force_close()
        return resp


class _ApiServer(web.Server):
    """``web.Server`` making :class:`ApiRequestHandler` connections."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S

    def __call__(self) -> RequestHandler:
        return ApiRequestHandler(self, loop=self._loop, header_timeout_s=self.header_timeout_s, **self._kwargs)


class ApiRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer parse errors as Binance does and time out slow heads."""

    def __init__(
        self, app: web.Application, *, header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ApiServer  # web.Server has no slots: only __call__ changes
        server.header_timeout_s = self.header_timeout_s  # type: ignore[attr-defined]
        return server
