"""The operators' API: sessions, and the broker's treasury (inventory, plans, approvals, transfers).

Operators are not API-key holders: they log in with their operator account (password, TOTP code, from an
address on their allow-list) at ``POST /braid/v1/operator/session`` and send the token they get as
``Authorization: Bearer <token>``. Each action is then checked against the operator's current role from
the address they act from (:meth:`compliance.operators.Operators.authorize`, the one check) and written to
the audit log, exactly as the same action at the command line (``braid treasury ...``). Answers are JSON;
refusals are Binance-shaped ``{"code","msg"}`` errors from the one table.

- ``POST /braid/v1/operator/session``  username, password, totpCode -> {token, expiresAt, operator}
- ``DELETE /braid/v1/operator/session``, ``GET /braid/v1/operator/me``
- ``GET /braid/v1/treasury/inventory``, ``POST /braid/v1/treasury/plan``, ``GET /braid/v1/treasury/transfers``
- ``POST /braid/v1/treasury/transfers/{id}/approve`` | ``/reject`` | ``/execute``
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from compliance.operators import APPROVE_WITHDRAWAL, READ_ACCOUNTS, Operator, OperatorError
from connectors.errors import VenueError
from connectors.trading import decimal_text
from gateway.api.context import CTX
from gateway.api.errors import ApiError, json_response
from gateway.api.params import Params, read_params
from gateway.binance_errors import RequestError
from gateway.treasury_access import transfer_json
from treasury import Treasury
from wallets import WalletError

OperatorHandler = Callable[[web.Request, Operator, Params], Awaitable[web.StreamResponse]]
_LOGIN_WEIGHT = 10  # the IP's request weight per login: guessing costs what Binance's heaviest calls cost


def _backoffice(request: web.Request) -> Any:
    bo = request.app[CTX].backoffice
    if bo is None:
        raise ApiError.of(RequestError.OPERATOR_SESSION_REQUIRED, reason="operator logins are off on this server")
    return bo


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError.of(RequestError.OPERATOR_SESSION_REQUIRED, reason="send Authorization: Bearer <token>")
    return token.strip()


def operator_endpoint(permission: str | None) -> Callable[[OperatorHandler], Callable[..., Any]]:
    """A handler for a logged-in operator whose role carries ``permission`` (None: any operator)."""

    def wrap(handler: OperatorHandler) -> Callable[..., Any]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            ctx = request.app[CTX]
            ip = request.remote or "?"
            ctx.limiter.charge(ip, 1)
            bo = _backoffice(request)
            token = _token(request)
            params = await read_params(request)
            try:
                op = await asyncio.to_thread(bo.sessions.operator, token, ip)
                if permission is not None:
                    op = await asyncio.to_thread(bo.operators.authorize, op, permission, ip)
            except OperatorError as exc:
                raise ApiError.of(RequestError.OPERATOR_SESSION_REQUIRED, reason=exc) from None
            return await handler(request, op, params)

        return run

    return wrap


def _me(op: Operator) -> dict[str, object]:
    return {**op.as_dict(), "permissions": sorted(op.permissions)}


async def open_session(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    ip = request.remote or "?"
    ctx.limiter.charge(ip, _LOGIN_WEIGHT)
    bo = _backoffice(request)
    p = await read_params(request)
    name, password, code = p.required("username"), p.required("password"), p.required("totpCode")
    try:
        token, op, expires = await asyncio.to_thread(bo.sessions.open, name, password, code, ip)
    except OperatorError as exc:
        raise ApiError.of(RequestError.OPERATOR_SESSION_REQUIRED, reason=exc) from None
    return json_response({"token": token, "expiresAt": expires, "operator": _me(op)})


async def close_session(request: web.Request) -> web.Response:
    bo = _backoffice(request)
    try:
        await asyncio.to_thread(bo.sessions.close, _token(request), request.remote or "?")
    except OperatorError as exc:
        raise ApiError.of(RequestError.OPERATOR_SESSION_REQUIRED, reason=exc) from None
    return json_response({})


@operator_endpoint(None)
async def me(request: web.Request, op: Operator, p: Params) -> web.Response:
    return json_response(_me(op))


# ----- the treasury -----
async def _with_treasury(request: web.Request, act: Callable[[Treasury], Awaitable[Any]]) -> Any:
    opener = request.app[CTX].treasury
    if opener is None:
        raise ApiError.of(RequestError.TREASURY_OFF)
    try:
        async with opener(request.remote or "?") as tr:
            return await act(tr)
    except (WalletError, VenueError) as exc:  # TreasuryError is a WalletError: refused, nothing moved
        raise ApiError.of(RequestError.OPERATOR_ACTION_REFUSED, reason=exc) from None


@operator_endpoint(READ_ACCOUNTS)
async def inventory(request: web.Request, op: Operator, p: Params) -> web.Response:
    async def act(tr: Treasury) -> dict[str, object]:
        inv = await tr.inventory()
        return {
            "holdings": [
                {
                    "place": h.place,
                    "kind": h.kind,
                    "asset": h.asset,
                    "free": decimal_text(h.free),
                    "locked": decimal_text(h.locked),
                }
                for h in inv.holdings
            ],
            "totals": {asset: decimal_text(inv.total(asset)) for asset in inv.assets()},
            "unavailable": list(inv.unavailable),
        }

    return json_response(await _with_treasury(request, act))


@operator_endpoint(None)  # the treasury checks the role for proposing (withdrawals.request)
async def plan(request: web.Request, op: Operator, p: Params) -> web.Response:
    async def act(tr: Treasury) -> list[dict[str, Any]]:
        return [transfer_json(t) for t in await tr.plan(op.username)]

    return json_response(await _with_treasury(request, act))


@operator_endpoint(READ_ACCOUNTS)
async def transfers(request: web.Request, op: Operator, p: Params) -> web.Response:
    states = [s for s in (p.get("state") or "").split(",") if s] or None

    async def act(tr: Treasury) -> list[dict[str, Any]]:
        return [transfer_json(t) for t in tr.list_transfers(states=states)]

    return json_response(await _with_treasury(request, act))


def _transfer_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ApiError.of(RequestError.ILLEGAL_CHARS, name="id")
    return int(text)


@operator_endpoint(None)  # the treasury checks withdrawals.approve and that the proposer is not the approver
async def approve(request: web.Request, op: Operator, p: Params) -> web.Response:
    tid = _transfer_id(request)
    return json_response(await _with_treasury(request, lambda tr: _sync(tr.approve, tid, op.username)))


@operator_endpoint(None)
async def reject(request: web.Request, op: Operator, p: Params) -> web.Response:
    tid = _transfer_id(request)
    return json_response(await _with_treasury(request, lambda tr: _sync(tr.reject, tid, op.username)))


@operator_endpoint(APPROVE_WITHDRAWAL)  # sending an approved transfer: someone who may approve one
async def execute(request: web.Request, op: Operator, p: Params) -> web.Response:
    tid = _transfer_id(request)
    bo = _backoffice(request)
    ip = request.remote or "?"

    async def act(tr: Treasury) -> dict[str, Any]:
        t = await tr.execute(tid)
        details = {"state": t.state}
        await asyncio.to_thread(bo.audit.record, op.username, ip, "treasury.execute", f"transfer:{tid}", details)
        return transfer_json(t)

    return json_response(await _with_treasury(request, act))


async def _sync(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    return transfer_json(await asyncio.to_thread(fn, *args))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/braid/v1/operator/session", open_session)
    app.router.add_delete("/braid/v1/operator/session", close_session)
    app.router.add_get("/braid/v1/operator/me", me)
    app.router.add_get("/braid/v1/treasury/inventory", inventory)
    app.router.add_post("/braid/v1/treasury/plan", plan)
    app.router.add_get("/braid/v1/treasury/transfers", transfers)
    app.router.add_post("/braid/v1/treasury/transfers/{id}/approve", approve)
    app.router.add_post("/braid/v1/treasury/transfers/{id}/reject", reject)
    app.router.add_post("/braid/v1/treasury/transfers/{id}/execute", execute)
