"""Build the aiohttp application of the Binance-compatible API.

Every REST endpoint goes through :func:`endpoint`: rate-limit weight for the caller's IP first (so a
flood is cheap to refuse), then the endpoint's security (none, API key, or signed with a permission),
then the handler. Every answer carries ``X-MBX-USED-WEIGHT-1M``; order answers also carry the account's
order counts.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from gateway.api import errors
from gateway.api.auth import ApiKey, Authenticator, Security
from gateway.api.marketdata import MarketPublisher
from gateway.api.params import Params, params_now, read_params
from gateway.api.ratelimit import RateLimiter
from gateway.orders_service import Caller, OrdersService

log = structlog.get_logger(__name__)


@dataclass
class ApiContext:
    """Everything the handlers share."""

    service: OrdersService
    auth: Authenticator
    limiter: RateLimiter
    publisher: MarketPublisher
    listen_keys: Any = None  # created on first use (gateway.api.userstream.ListenKeys)
    custody: Any = None  # gateway.api.capital.Custody when deposits and withdrawals are enabled
    _callers: dict[tuple[str, str], Caller] = field(default_factory=dict, repr=False)  # one per account, reused

    def caller(self, key: ApiKey) -> Caller:
        ids = (key.tenant, key.account)
        c = self._callers.get(ids)
        if c is None:
            c = self._callers[ids] = Caller(int(key.tenant), int(key.account))
        return c


CTX = web.AppKey("braid_api", ApiContext)
KEY = web.RequestKey("braid_api_key", ApiKey)
PARAMS = web.RequestKey("braid_params", Params)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(weight: int = 1, security: Security = Security.NONE, *, order: bool = False) -> Callable[[Handler], Handler]:
    """Wrap a handler with the weight charge, the security check and the Binance headers."""

    # decided once here rather than on every request
    signed_perm = {Security.TRADE: "trade", Security.USER_DATA: "read"}.get(security)
    key_only = security in (Security.USER_STREAM, Security.MARKET_DATA)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            ctx = request.app[CTX]
            ip = request.remote or "?"
            used = ctx.limiter.charge(ip, weight)
            params = params_now(request)
            if params is None:  # a body still arriving: the only case worth a coroutine
                params = await read_params(request)
            request[PARAMS] = params
            if signed_perm is not None:
                request[KEY] = ctx.auth.signed(request.headers, ip, params, signed_perm)
            elif key_only:
                request[KEY] = ctx.auth.api_key(request.headers, ip)
            headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
            if order:
                key: ApiKey = request[KEY]
                c10, c1d = ctx.limiter.count_order(key.account)
                headers["X-MBX-ORDER-COUNT-10S"] = str(c10)
                headers["X-MBX-ORDER-COUNT-1D"] = str(c1d)
            try:
                resp = await handler(request)
            except errors.ApiError as err:
                err.headers = {**headers, **err.headers}
                raise
            resp.headers.update(headers)
            return resp

        run.weight = weight  # type: ignore[attr-defined]
        run.security = security  # type: ignore[attr-defined]
        return run

    return wrap


def params_of(request: web.Request) -> Params:
    return request[PARAMS]  # type: ignore[no-any-return]


def key_of(request: web.Request) -> ApiKey:
    return request[KEY]  # type: ignore[no-any-return]


def build_app(ctx: ApiContext, app: web.Application | None = None) -> web.Application:
    """The API's routes on ``app`` (a new application if None), with the error middleware."""
    from gateway.api import broker, capital, market, openapi, orders, userstream, ws

    app = app if app is not None else web.Application(middlewares=[errors.error_middleware])
    if errors.error_middleware not in app.middlewares:
        app.middlewares.append(errors.error_middleware)  # type: ignore[arg-type]
    app[CTX] = ctx
    market.add_routes(app)
    orders.add_routes(app)
    userstream.add_routes(app)
    ws.add_routes(app)
    broker.add_routes(app)
    capital.add_routes(app)
    openapi.add_routes(app)

    async def on_startup(app: web.Application) -> None:
        ctx.publisher.start()
        tasks.append(asyncio.get_running_loop().create_task(ws.expire_listen_keys(app)))

    async def on_cleanup(app: web.Application) -> None:
        for t in tasks:
            t.cancel()
        await ctx.publisher.stop()
        await ws.close_all(app)

    tasks: list[asyncio.Task[None]] = []
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
