"""What every API handler shares: the context (services, auth, limits, market data) and the endpoint wrapper.

Every REST endpoint goes through :func:`endpoint`: rate-limit weight for the caller's IP first (so a
flood is cheap to refuse), then the endpoint's security (none, API key, or signed with a permission),
then the handler. Every answer carries ``X-MBX-USED-WEIGHT-1M``; order answers also carry the account's
order counts. The route modules import this module; ``gateway.api.app`` imports them (one way).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from compliance import BackOffice
from compliance.providers import KycWebhooks
from gateway.api import errors
from gateway.api.auth import ApiKey, Authenticator, Security
from gateway.api.marketdata import MarketPublisher
from gateway.api.params import Params, params_now, read_params
from gateway.api.ratelimit import RateLimiter
from gateway.binance_errors import RequestError
from gateway.orders_service import Caller, OrdersService
from treasury import Treasury


@dataclass
class ApiContext:
    """Everything the handlers share."""

    service: OrdersService
    auth: Authenticator
    limiter: RateLimiter
    publisher: MarketPublisher
    listen_keys: Any = None  # created on first use (gateway.api.userstream.ListenKeys)
    custody: Any = None  # gateway.api.capital.Custody when deposits and withdrawals are enabled
    backoffice: BackOffice | None = None  # audit log and second factors (None: not audited, no 2FA)
    kyc: KycWebhooks | None = None  # provider webhooks (gateway.api.kyc); None: not configured
    # opens the treasury for an operator acting from an address (gateway.treasury_access); None: not configured
    treasury: Callable[[str], AbstractAsyncContextManager[Treasury]] | None = None
    read_timeout_s: float = 10.0  # a request body must arrive within it (settings.api_read_timeout_s)
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


def endpoint(
    weight: int = 1, security: Security = Security.NONE, *, order: bool = False
) -> Callable[[Handler], Handler]:
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
                try:
                    params = await asyncio.wait_for(read_params(request), ctx.read_timeout_s)
                except TimeoutError:
                    raise errors.ApiError.of(RequestError.READ_TIMEOUT) from None
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
    return request[PARAMS]


def key_of(request: web.Request) -> ApiKey:
    return request[KEY]


async def audit(request: web.Request, action: str, target: str, details: dict[str, Any]) -> None:
    """Record a security action of the calling key in the audit log (actor ``api:<key>``, the caller's IP)."""
    bo = request.app[CTX].backoffice
    if bo is not None:
        await bo.audit.arecord(f"api:{key_of(request).key}", request.remote or "?", action, target, details)
