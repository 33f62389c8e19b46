"""Every authenticated REST route, taken from the application's route table (a new route is covered without
touching this file), refused the Binance way when the caller is not entitled, with nothing changed:

- no API key: ``-2014`` (401);
- a SIGNED route with a signature by another secret, or with the right one over other parameters: ``-1022``;
- a key of another tenant's account signing correctly, but the route needs a permission its key lacks
  (read for USER_DATA and the listen-key routes, trade for TRADE): ``-2015`` (401);
- a key whose IP allowlist excludes the caller: ``-2015`` (401).

After all of it, the victim's balances and orders are exactly what they were. The WebSocket API's
``userDataStream.subscribe.signature`` gets the same refusals and subscribes nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
import requests

from config.settings import Settings
from connectors.binance.auth import signature
from domain.signing import hmac_sha256_hex
from gateway.api.auth import Security
from gateway.api.ws import USERS
from gateway.orders_service import Caller, NewOrderRequest
from tests.gateway.conftest import Server

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
KEYED = (Security.USER_STREAM, Security.MARKET_DATA)
SIGNED = (Security.TRADE, Security.USER_DATA)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = Settings(api_orders_limit_10s=10_000, api_weight_limit_1m=1_000_000)
    s = Server(str(tmp_path_factory.mktemp("attack")), settings=settings).start()
    try:
        yield s
    finally:
        s.stop()


def authenticated_routes(srv: Server) -> list[tuple[str, str, Security]]:
    """(method, path, security) of every route whose handler requires a key, from the running app."""
    out = []
    for route in srv.runner.app.router.routes():
        security = getattr(route.handler, "security", Security.NONE)
        path = route.resource.canonical if route.resource is not None else ""
        if security != Security.NONE and route.method != "HEAD":
            out.append((route.method, path, security))
    return sorted(out, key=lambda r: (r[1], r[0]))


def _key(srv: Server, account: int, read: bool, trade: bool, ips: tuple[str, ...] = ()) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        k, secret = await srv.wallets.keys.create_key(
            srv.tenant.tenant_id, account, can_read=read, can_trade=trade, ip_allowlist=ips
        )
        return k.api_key, secret

    return srv.call(make())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def victim(srv: Server) -> dict[str, Any]:
    """An account with a resting order (the state an attack must not change)."""
    account, key, secret = srv.account("victim@example.com")
    order = NewOrderRequest("BTCUSDT", "BUY", "LIMIT", "GTC", quantity=D("0.5"), price=D("90.00"))
    placed = srv.call(srv.ctx.service.place(Caller(srv.tenant.tenant_id, account), order)).order
    return {"account": account, "key": key, "secret": secret, "order_id": placed.order_id}


def _state(srv: Server, account: int) -> tuple[Any, ...]:
    orders = srv.call(srv.wallets.orders.open_orders(account, None))
    return (srv.wallets.ledger.balances(account), [(o.order_id, o.status, o.executed_qty) for o in orders])


def _send(
    srv: Server, method: str, path: str, params: str, key: str | None, secret: str | None, *, tamper: bool = False
) -> requests.Response:
    body = f"{params}&timestamp={srv.ctx.auth.clock_ms()}" if params else f"timestamp={srv.ctx.auth.clock_ms()}"
    if secret is not None:
        sig = signature(secret, body)
        if tamper:  # the signature of the text, sent with other parameters
            body = body.replace("symbol=BTCUSDT", "symbol=ETHUSDT")
        body = f"{body}&signature={sig}"
    headers = {**FORM, **({"X-MBX-APIKEY": key} if key else {})}
    return requests.request(method, f"{srv.url}{path}", data=body.encode(), headers=headers, timeout=10)


def _params(victim: dict[str, Any]) -> str:
    # what the routes take (each ignores the rest): a victim's order, a sub-account, a listen key...
    return (
        f"symbol=BTCUSDT&orderId={victim['order_id']}&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=100"
        f"&subAccountId={victim['account']}&listenKey=x&coin=BTC&network=BTC&address=x&amount=1&year=2026"
    )


def _expect(r: requests.Response, code: int, status: int) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.status_code} {r.text[:80]}"
    if r.status_code != status or body.get("code") != code:
        return f"{r.status_code} {body}"
    return None


def test_the_route_table_has_the_authenticated_routes(srv: Server) -> None:
    routes = authenticated_routes(srv)
    assert ("POST", "/api/v3/order", Security.TRADE) in routes
    assert ("GET", "/api/v3/account", Security.USER_DATA) in routes
    assert len(routes) >= 15


def test_every_authenticated_route_refuses_the_unentitled(srv: Server, victim: dict[str, Any]) -> None:
    before = _state(srv, victim["account"])
    outsider_tenant = srv.call(srv.wallets.accounts.create_tenant("outsider"))
    outsider = srv.call(srv.wallets.accounts.create_account(outsider_tenant.tenant_id, "mallory@example.com"))

    async def outsider_key(read: bool, trade: bool) -> tuple[str, str]:
        k, secret = await srv.wallets.keys.create_key(
            outsider_tenant.tenant_id, outsider.account_id, can_read=read, can_trade=trade, ip_allowlist=()
        )
        return k.api_key, secret

    no_read = srv.call(outsider_key(False, True))
    no_trade = srv.call(outsider_key(True, False))
    elsewhere = _key(srv, victim["account"], True, True, ips=("203.0.113.7",))  # the victim's key, wrong IP
    params = _params(victim)
    wrong: list[str] = []
    for method, path, security in authenticated_routes(srv):
        cases: list[tuple[str, requests.Response, int, int]] = [
            ("no key", _send(srv, method, path, params, None, None), -2014, 401),
            ("wrong IP", _send(srv, method, path, params, elsewhere[0], elsewhere[1]), -2015, 401),
        ]
        if security in SIGNED:
            cases.append(
                ("other secret", _send(srv, method, path, params, victim["key"], no_read[1]), -1022, 400),
            )
            cases.append(
                ("tampered", _send(srv, method, path, params, victim["key"], victim["secret"], tamper=True), -1022, 400)
            )
        lacking = no_read if security in (Security.USER_DATA, *KEYED) else no_trade
        cases.append(("permission", _send(srv, method, path, params, lacking[0], lacking[1]), -2015, 401))
        for what, r, code, status in cases:
            problem = _expect(r, code, status)
            if problem:
                wrong.append(f"{method} {path} [{what}]: expected {status}/{code}, got {problem}")
    assert not wrong, "\n".join(wrong)
    assert _state(srv, victim["account"]) == before
    assert srv.wallets.ledger.balances(outsider.account_id) == {}


async def test_the_websocket_api_refuses_the_unentitled(srv: Server, victim: dict[str, Any]) -> None:
    """``userDataStream.subscribe.signature`` on ``/ws-api/v3``: the same refusals as REST, and no subscription."""
    no_read = _key(srv, victim["account"], read=False, trade=True)
    elsewhere = _key(srv, victim["account"], True, True, ips=("203.0.113.7",))

    def request(key: str, secret: str, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"apiKey": key, "timestamp": srv.ctx.auth.clock_ms(), **extra}
        sig = hmac_sha256_hex(secret, urlencode(sorted((k, str(v)) for k, v in params.items())))
        return {"id": 1, "method": "userDataStream.subscribe.signature", "params": {**params, "signature": sig}}

    cases = [
        ("unknown key", request("no-such-key", "x"), -2015),
        ("other secret", request(victim["key"], no_read[1]), -1022),
        ("no read permission", request(*no_read), -2015),
        ("wrong IP", request(*elsewhere), -2015),
        ("stale", request(victim["key"], victim["secret"], recvWindow=1, timestamp=1), -1021),
    ]
    wrong = []
    async with aiohttp.ClientSession() as http:
        for what, req, code in cases:
            async with http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws-api/v3") as ws:
                await ws.send_str(orjson.dumps(req).decode())
                reply = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if reply.get("error", {}).get("code") != code:
                    wrong.append(f"{what}: expected {code}, got {reply}")
    assert not wrong, "\n".join(wrong)
    assert not srv.runner.app[USERS].get(victim["account"])  # nobody receives the victim's events
