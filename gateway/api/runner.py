"""The HTTP server under the API: aiohttp's, with Binance-shaped answers where aiohttp writes its own, and a
deadline for reading a request.

- A request aiohttp cannot parse (URL or header line too long, too many headers, bytes that are not allowed
  in a URL) gets ``{"code","msg"}`` from the one table, not aiohttp's plain text.
- A request's line and headers must arrive within ``read_timeout_s`` of its first byte (of the connection,
  for the first one): a client trickling them byte by byte is disconnected instead of holding a connection
  for the hour aiohttp's keep-alive allows. The body has the same deadline (``gateway.api.context``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.api.errors import ApiError, error_response
from gateway.binance_errors import RequestError

log = structlog.get_logger(__name__)

DEFAULT_READ_TIMEOUT_S = 10.0


def _error_for(status: int, exc: BaseException | None) -> RequestError:
    if isinstance(exc, LineTooLong) or status == 431:
        return RequestError.HEADERS_TOO_LARGE
    if status == 413:
        return RequestError.BODY_TOO_LARGE
    if status >= 500:
        return RequestError.UNKNOWN
    return RequestError.MALFORMED_REQUEST


class ApiRequestHandler(RequestHandler):
    """aiohttp's connection handler with the read deadline and Binance-shaped parse errors."""

    def __init__(self, manager: web.Server, *, read_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._read_timeout_s = read_timeout_s
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing is dropped as one that sends too slowly

    def data_received(self, data: bytes) -> None:
        if self._read_deadline is None and not self._request_in_progress and not self._upgraded:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a whole request line and headers arrived (or a parse error)
            self._disarm()

    async def _handle_request(
        self,
        request: BaseRequest,
        start_time: float | None,
        request_handler: Callable[[BaseRequest], Awaitable[web.StreamResponse]],
    ) -> tuple[web.StreamResponse, bool]:
        # the head is in: body bytes that came before the handler started armed nothing that should still run
        # (a body's own deadline is the handler's, gateway.api.context)
        self._disarm()
        return await super()._handle_request(request, start_time, request_handler)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = asyncio.get_running_loop().call_later(self._read_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        log.info("http_read_timeout", peer=str(self.peername), timeout_s=self._read_timeout_s)
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer has begun: aiohttp's own handling (it closes)
            return super().handle_error(request, status, exc, message)
        log.info("http_request_refused", status=status, error=str(exc or message or "")[:200])
        resp = error_response(ApiError.of(_error_for(status, exc)))
        resp.force_close()
        return resp


class _ApiServer(web.Server):
    """aiohttp's server making :class:`ApiRequestHandler` connections."""

    def __init__(self, base: web.Server, read_timeout_s: float) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.read_timeout_s = read_timeout_s

    def __call__(self) -> RequestHandler:
        return ApiRequestHandler(self, loop=self._loop, read_timeout_s=self.read_timeout_s, **self._kwargs)


class ApiRunner(web.AppRunner):
    """``web.AppRunner`` for the API: serve it with ``web.TCPSite(ApiRunner(app), ...)`` as usual."""

    def __init__(self, app: web.Application, *, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.read_timeout_s = read_timeout_s

    async def _make_server(self) -> web.Server:
        return _ApiServer(await super()._make_server(), self.read_timeout_s)
