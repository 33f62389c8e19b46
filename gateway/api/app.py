"""Build the aiohttp application of the Binance-compatible API: the route modules on one application.

The handlers' shared context and the endpoint wrapper live in ``gateway.api.context``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.api import broker, capital, errors, kyc, market, openapi, operator, orders, tax, userstream, ws
from gateway.api.context import CTX, ApiContext

__all__ = ["build_app"]


def build_app(ctx: ApiContext, app: web.Application | None = None) -> web.Application:
    """The API's routes on ``app`` (a new application if None), with the error middleware."""
    app = app if app is not None else web.Application(middlewares=[errors.error_middleware])
    if errors.error_middleware not in app.middlewares:
        app.middlewares.append(errors.error_middleware)
    app[CTX] = ctx
    market.add_routes(app)
    orders.add_routes(app)
    userstream.add_routes(app)
    ws.add_routes(app)
    broker.add_routes(app)
    tax.add_routes(app)
    kyc.add_routes(app)
    operator.add_routes(app)
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
        if ctx.backoffice is not None:
            ctx.backoffice.close()

    tasks: list[asyncio.Task[None]] = []
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
