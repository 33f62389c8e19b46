"""Access rules on every authenticated route, generated from the route table (a new route is covered by itself).

Each case sends a request a real client could send with the wrong credentials and checks the exact Binance
refusal; at the end, balances, orders and the ledger are what they were before:

- no key, a malformed key, an unknown key                    -> 401 -2014 / -2015
- a key whose IP allow-list excludes the caller                -> 401 -2015
- a read-only key on a TRADE route                             -> 401 -2015
- signed routes: no signature, a wrong one, a stale or future timestamp, the same signed request twice
                                                               -> -1102 / -1022 / -1021 / -1022
- another account's order (same tenant and another tenant)     -> -2013 / -2011, nothing of it shown
- broker routes with a client's key                            -> 401 -1002
- the WebSocket API's user stream with each bad credential     -> the same codes
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import requests
from aiohttp import web
from sqlalchemy import func, select

from config.settings import Settings
from connectors.binance.auth import signature
from gateway.api.auth import Security
from tests.gateway.conftest import Server
from wallets import models

SIGNED = (Security.TRADE, Security.USER_DATA)
KEY_ONLY = (Security.USER_STREAM, Security.MARKET_DATA)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    limits = Settings(api_orders_limit_10s=1_000_000, api_weight_limit_1m=1_000_000)
    s = Server(str(tmp_path_factory.mktemp("access")), settings=limits).start()
    try:
        yield s
    finally:
        s.stop()


def routes(app: web.Application) -> list[tuple[str, str, Security]]:
    """(method, path, security) of every route that needs a key, from the mounted app."""
    out = []
    for route in app.router.routes():
        security = getattr(route.handler, "security", Security.NONE)
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if security is not Security.NONE and path and route.method != "HEAD":
            out.append((route.method, path, security))
    return sorted(out, key=lambda r: (r[1], r[0]))


def send(srv: Server, method: str, path: str, params: dict[str, Any], key: str | None) -> requests.Response:
    headers = {"X-MBX-APIKEY": key} if key is not None else {}
    return requests.request(method, f"{srv.url}{path}?{urlencode(params)}", headers=headers, timeout=10)


def signed(secret: str, params: dict[str, Any], ts: int | None = None) -> dict[str, Any]:
    p = {**params, "timestamp": ts if ts is not None else int(time.time() * 1000)}
    return {**p, "signature": signature(secret, urlencode(p))}


def state(srv: Server) -> tuple[Any, ...]:
    """Everything a refused request must leave alone: balances, orders and trades, the ledger's check."""

    async def read() -> tuple[Any, ...]:
        sheet = await srv.wallets.ledger.balance_sheet()
        orders = await srv.wallets.store.read(
            lambda c: c.execute(select(func.count()).select_from(models.orders)).scalar()
        )
        trades = await srv.wallets.store.read(
            lambda c: c.execute(select(func.count()).select_from(models.trades)).scalar()
        )
        return sheet.ok, orders, trades

    balances = {(a, asset): srv.balance(a, asset) for a in srv.accounts_seen for asset in ("BTC", "USDT")}
    return (*srv.call(read()), balances)


@pytest.fixture(scope="module")
def people(srv: Server) -> dict[str, tuple[int, str, str]]:
    """alice and bob (one tenant), carol (another tenant), keys with fewer rights, and an order of bob's."""
    alice = srv.account("alice")
    bob = srv.account("bob")

    async def other_tenant() -> tuple[int, str, str]:
        t = await srv.wallets.accounts.create_tenant("globex")
        acc = await srv.wallets.accounts.create_account(t.tenant_id, "carol")
        await srv.wallets.ledger.credit(acc.account_id, "USDT", D("1000"), "test funding")
        key, secret = await srv.wallets.keys.create_key(t.tenant_id, acc.account_id, can_read=True, can_trade=True)
        return acc.account_id, key.api_key, secret

    async def limited(can_read: bool, can_trade: bool, ips: tuple[str, ...] = ()) -> tuple[int, str, str]:
        key, secret = await srv.wallets.keys.create_key(
            srv.tenant.tenant_id, alice[0], can_read=can_read, can_trade=can_trade, ip_allowlist=ips
        )
        return alice[0], key.api_key, secret

    carol = srv.call(other_tenant())
    read_only = srv.call(limited(True, False))
    elsewhere = srv.call(limited(True, True, ("10.9.8.7",)))
    srv.accounts_seen = [alice[0], bob[0], carol[0]]  # type: ignore[attr-defined]
    r = send(
        srv,
        "POST",
        "/api/v3/order",
        signed(
            bob[2],
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.1",
                "price": "90",
            },
        ),
        bob[1],
    )
    assert r.status_code == 200, r.text
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "read_only": read_only,
        "elsewhere": elsewhere,
        "bob_order": (r.json()["orderId"], r.json()["clientOrderId"], "", ""),  # type: ignore[dict-item]
    }


def refused(r: requests.Response, status: int, code: int) -> str | None:
    """None when ``r`` is the Binance refusal (status, code) with a message; else what was wrong."""
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.status_code} {r.text[:80]!r}"
    if r.status_code != status or body.get("code") != code or not body.get("msg"):
        return f"{r.status_code} {body}"
    return None


def test_every_authenticated_route_refuses_bad_credentials_and_changes_nothing(
    srv: Server, people: dict[str, tuple[int, str, str]]
) -> None:
    table = routes(srv.runner.app)
    assert len([r for r in table if r[2] in SIGNED]) >= 15, "the route table has the signed routes"
    _, key, secret = people["alice"]
    _, ro_key, ro_secret = people["read_only"]
    _, far_key, far_secret = people["elsewhere"]
    before = state(srv)
    problems: list[str] = []
    checked = 0
    for method, path, security in table:
        if "{" in path:
            continue  # parametrised paths (listen keys) are covered by the user-stream tests
        cases: list[tuple[str, requests.Response, int, int]] = [
            ("no key", send(srv, method, path, signed(secret, {}) if security in SIGNED else {}, None), 401, -2014),
            ("malformed key", send(srv, method, path, {}, "é" * 10), 401, -2014),
            ("unknown key", send(srv, method, path, {}, "A" * 64), 401, -2015),
            ("IP not allowed", send(srv, method, path, signed(far_secret, {}), far_key), 401, -2015),
        ]
        if security is Security.TRADE:
            cases.append(("read-only key", send(srv, method, path, signed(ro_secret, {}), ro_key), 401, -2015))
        if security in SIGNED:
            now = int(time.time() * 1000)
            bad_sig = {**signed(secret, {}), "signature": "0" * 64}
            cases += [
                ("no signature", send(srv, method, path, {"timestamp": now}, key), 400, -1102),
                ("wrong signature", send(srv, method, path, bad_sig, key), 400, -1022),
                ("signed by another secret", send(srv, method, path, signed(ro_secret, {}), key), 400, -1022),
                ("stale timestamp", send(srv, method, path, signed(secret, {}, now - 120_000), key), 400, -1021),
                ("future timestamp", send(srv, method, path, signed(secret, {}, now + 60_000), key), 400, -1021),
            ]
        checked += len(cases)
        for what, r, status, code in cases:
            wrong = refused(r, status, code)
            if wrong:
                problems.append(f"{method} {path} [{what}]: expected {status} {code}, got {wrong}")
    assert problems == []
    assert checked >= 8 * len(table) // 2, checked  # every route got its cases (most routes are signed)
    assert state(srv) == before


def test_a_signed_request_is_taken_once(srv: Server, people: dict[str, tuple[int, str, str]]) -> None:
    _, key, secret = people["alice"]
    for method, path, security in routes(srv.runner.app):
        if security is not Security.USER_DATA or method != "GET" or "{" in path:
            continue
        params = signed(secret, {})
        first = send(srv, method, path, params, key)
        again = send(srv, method, path, params, key)
        if first.status_code == 200:
            assert refused(again, 400, -1022) is None, (path, again.text)
            assert again.json()["msg"] == "Signature for this request was already used."


def test_another_accounts_order_is_invisible_and_untouchable(
    srv: Server, people: dict[str, tuple[int, str, str]]
) -> None:
    order_id, client_id, _, _ = people["bob_order"]
    before = state(srv)
    for who in ("alice", "carol"):  # same tenant, then another tenant
        _, key, secret = people[who]
        by_id = {"symbol": "BTCUSDT", "orderId": order_id}
        by_client_id = {"symbol": "BTCUSDT", "origClientOrderId": client_id}
        for params in (by_id, by_client_id):
            assert refused(send(srv, "GET", "/api/v3/order", signed(secret, params), key), 400, -2013) is None
            assert refused(send(srv, "DELETE", "/api/v3/order", signed(secret, params), key), 400, -2011) is None
        for path in ("/api/v3/openOrders", "/api/v3/allOrders", "/api/v3/myTrades"):
            r = send(srv, "GET", path, signed(secret, {"symbol": "BTCUSDT"}), key)
            assert r.status_code == 200 and order_id not in {o.get("orderId") for o in r.json()}, (who, path)
        r = send(srv, "DELETE", "/api/v3/openOrders", signed(secret, {"symbol": "BTCUSDT"}), key)
        assert order_id not in {o.get("orderId") for o in (r.json() if r.status_code == 200 else [])}
    assert state(srv) == before
    _, key, secret = people["bob"]
    mine = send(srv, "GET", "/api/v3/order", signed(secret, {"symbol": "BTCUSDT", "orderId": order_id}), key)
    assert mine.json()["status"] == "NEW"  # still working: nobody else could cancel it


def test_broker_routes_refuse_a_clients_key(srv: Server, people: dict[str, tuple[int, str, str]]) -> None:
    _, key, secret = people["alice"]
    before = state(srv)
    broker = [(m, p) for m, p, s in routes(srv.runner.app) if p.startswith("/sapi/v1/broker/")]
    assert broker, "the broker routes are mounted"
    for method, path in broker:
        params = {"subAccountId": people["bob"][0], "subAccountApiKey": people["bob"][1], "makerCommission": "0.001"}
        r = send(srv, method, path, signed(secret, params), key)
        assert refused(r, 401, -1002) is None, (method, path, r.text)
    assert state(srv) == before


async def _ws_subscribe(srv: Server, key: str, secret: str, **over: Any) -> dict[str, Any]:
    params = {"apiKey": key, "timestamp": int(time.time() * 1000)}
    params.update(over)
    if "signature" not in params:
        params["signature"] = signature(secret, urlencode(sorted(params.items())))
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws-api/v3") as ws:
        await ws.send_json({"id": 1, "method": "userDataStream.subscribe.signature", "params": params})
        return await asyncio.wait_for(ws.receive_json(), 5)


def test_websocket_user_stream_refuses_bad_credentials(srv: Server, people: dict[str, tuple[int, str, str]]) -> None:
    _, key, secret = people["alice"]
    _, far_key, far_secret = people["elsewhere"]

    def code(**kw: Any) -> int:
        answer = asyncio.run(_ws_subscribe(srv, **kw))
        assert "error" in answer and answer["error"]["msg"], answer
        return int(answer["error"]["code"])

    assert code(key="A" * 64, secret=secret) == -2015
    assert code(key=far_key, secret=far_secret) == -2015
    assert code(key=key, secret=secret, signature="0" * 64) == -1022
    assert code(key=key, secret=secret, timestamp=int(time.time() * 1000) - 120_000) == -1021
    assert asyncio.run(_ws_subscribe(srv, key, secret))["status"] == 200  # the same request, rightly signed
