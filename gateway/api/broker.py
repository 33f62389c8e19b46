"""Broker endpoints in the style of Binance's broker API: sub-accounts, their API keys, the broker's markup.

The broker signs with its own (broker-account) key. What is stored and how (encrypted secrets, permissions,
IP allowlists) is the account store's business (wallets); this module only speaks the wire format:

- ``POST /sapi/v1/broker/subAccount`` → ``{"subaccountId","email"}``
- ``POST /sapi/v1/broker/subAccountApi`` (subAccountId, canTrade, ipRestrict; ``totpCode`` when the sub-account
  has two-factor authentication on) → ``{"subaccountId","apiKey","secretKey","canTrade"}``
- ``DELETE /sapi/v1/broker/subAccountApi`` (subAccountId, subAccountApiKey) → ``{}``
- ``POST /sapi/v1/broker/subAccountApi/commission`` (makerCommission/takerCommission markup) → the rates
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from aiohttp import web

from compliance import SecondFactorError
from gateway.api import errors
from gateway.api.auth import Security
from gateway.api.context import CTX, audit, endpoint, key_of, params_of
from gateway.api.errors import ApiError, json_response
from gateway.binance_errors import BAD_PRECISION, RequestError
from wallets import WalletError, Wallets

RATE_DECIMALS = 18  # what the ledger stores of a rate


def _broker(request: web.Request) -> tuple[Wallets, int]:
    """The wallets and the tenant of a caller whose key belongs to the tenant's own (broker) account."""
    w = request.app[CTX].service.wallets
    key = key_of(request)
    try:
        acc = w.accounts.account(int(key.account))
    except WalletError:
        acc = None
    if acc is None or acc.kind != "broker":
        raise ApiError.of(RequestError.UNAUTHORIZED)
    return w, int(key.tenant)


def _sub(w: Wallets, tenant: int, sub: int) -> None:
    try:
        acc = w.accounts.account(sub, tenant_id=tenant)
    except WalletError:
        raise ApiError.of(RequestError.ILLEGAL_CHARS, name="subAccountId") from None
    if acc.kind != "client":
        raise ApiError.of(RequestError.ILLEGAL_CHARS, name="subAccountId")


@endpoint(weight=1, security=Security.TRADE)
async def create_sub_account(request: web.Request) -> web.Response:
    """Create a sub-account (an end user) of the calling broker."""
    w, tenant = _broker(request)
    p = params_of(request)
    tag = p.get("tag") or p.get("email") or f"sub-{w.store.next_id('account')}"
    try:
        acc = await w.accounts.create_account(tenant, tag)
    except WalletError as exc:
        raise ApiError.of(RequestError.ILLEGAL_BECAUSE, name="tag", reason=exc) from None
    return json_response({"subaccountId": str(acc.account_id), "email": acc.name, "tag": tag})


@endpoint(weight=1, security=Security.TRADE)
async def create_api_key(request: web.Request) -> web.Response:
    """Create an API key of a sub-account (the secret is shown once)."""
    w, tenant = _broker(request)
    p = params_of(request)
    sub = p.integer("subAccountId", required=True)
    assert sub is not None
    _sub(w, tenant, sub)
    can_trade = p.boolean("canTrade", True)
    ips = tuple(x for x in (p.get("ipAddress") or "").split(",") if x)
    bo = request.app[CTX].backoffice
    if bo is not None:
        try:
            await asyncio.to_thread(bo.factors.require_second_factor, sub, p.get("totpCode"))
        except SecondFactorError as exc:
            await audit(request, "apikey.create_refused", f"account:{sub}", {"reason": str(exc)})
            raise ApiError.of(RequestError.UNAUTHORIZED_BECAUSE, reason=exc) from None
    try:
        key, secret = await w.keys.create_key(tenant, sub, can_read=True, can_trade=can_trade, ip_allowlist=ips)
    except WalletError as exc:
        raise ApiError.of(RequestError.ILLEGAL_BECAUSE, name="ipAddress", reason=exc) from None
    await audit(
        request,
        "apikey.create",
        f"account:{sub}",
        {"apiKey": key.api_key, "canTrade": can_trade, "ipAllowlist": list(key.ip_allowlist)},
    )
    return json_response(
        {
            "subaccountId": str(sub),
            "apiKey": key.api_key,
            "secretKey": secret,
            "canTrade": can_trade,
            "marginTrade": False,
            "futuresTrade": False,
            "ipRestrict": bool(ips),
        }
    )


@endpoint(weight=1, security=Security.TRADE)
async def delete_api_key(request: web.Request) -> web.Response:
    """Delete an API key of a sub-account."""
    w, tenant = _broker(request)
    p = params_of(request)
    sub = p.integer("subAccountId", required=True)
    api_key = p.required("subAccountApiKey")
    try:
        await w.keys.delete_key(tenant, sub, api_key)  # type: ignore[arg-type]
    except WalletError:
        raise errors.rejected_key() from None
    await audit(request, "apikey.delete", f"account:{sub}", {"apiKey": api_key})
    return json_response({})


@endpoint(weight=1, security=Security.TRADE)
async def set_commission(request: web.Request) -> web.Response:
    """Set the broker's commission markup on its sub-accounts' fills (a fraction of what they receive)."""
    w, tenant = _broker(request)
    p = params_of(request)
    name = "makerCommission" if p.get("makerCommission") is not None else "takerCommission"
    rate = p.decimal(name)
    if rate is None or rate < 0 or rate > Decimal("0.01"):
        raise ApiError.of(RequestError.ILLEGAL_RANGE, name=name, legal="0..0.01")
    if -int(rate.as_tuple().exponent) > RATE_DECIMALS:
        raise ApiError.of(BAD_PRECISION, name)
    before = w.accounts.tenant(tenant).markup_rate
    await w.accounts.set_markup(tenant, rate)
    await audit(request, "markup.set", f"tenant:{tenant}", {"from": str(before), "to": str(rate)})
    out = {"makerCommission": str(rate), "takerCommission": str(rate)}
    sub = p.get("subAccountId")
    return json_response({"subAccountId": sub, **out} if sub else out)  # the markup is the broker's, on every sub


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/sapi/v1/broker/subAccount", create_sub_account)
    r.add_post("/sapi/v1/broker/subAccountApi", create_api_key)
    r.add_delete("/sapi/v1/broker/subAccountApi", delete_api_key)
    r.add_post("/sapi/v1/broker/subAccountApi/commission", set_commission)
