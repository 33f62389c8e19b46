"""Defects found by attacking the API (issue 16), each pinned: before the fixes these answers were a 5xx, plain
text, a number Binance would refuse, stale balances, or events for a key that may not read them.

One server for the module (a short head timeout, a small WebSocket connection limit), requests signed over the
exact bytes sent, so a refusal comes from the parameter rule under test and not from the signature.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
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
from gateway.api.ratelimit import RateLimiter
from gateway.api.stack import limits_from
from gateway.api.ws import USERS
from gateway.orders_service import Caller, NewOrderRequest
from tests.gateway.conftest import Server

LIMIT = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
WS_LIMIT = 8


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = Settings(api_orders_limit_10s=10_000, api_header_timeout_s=0.5)
    s = Server(str(tmp_path_factory.mktemp("hardening")), settings=settings).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def alice(srv: Server) -> tuple[int, str, str]:
    return srv.account("alice@example.com")


def signed(srv: Server, method: str, path: str, key: str, secret: str, params: str) -> requests.Response:
    """``params`` (already URL-encoded, sent byte for byte in the body) signed with a fresh timestamp."""
    body = f"{params}&timestamp={srv.ctx.auth.clock_ms()}" if params else f"timestamp={srv.ctx.auth.clock_ms()}"
    body = f"{body}&signature={signature(secret, body)}"
    return requests.request(method, f"{srv.url}{path}", data=body.encode(), headers={"X-MBX-APIKEY": key, **FORM})


def refused(r: requests.Response, code: int, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    return body


def raw_http(srv: Server, data: bytes, timeout: float = 5) -> bytes:
    """Send ``data`` on a fresh connection; the server's first answer (up to its Content-Length, or its close)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
            head, sep, body = out.partition(b"\r\n\r\n")
            length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
            if sep and length and len(body) >= length[0]:
                break
        return out


def json_of(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head, answer[:300]
    return status, orjson.loads(body)


# ----- 2: the WebSocket API checks the key's permission as REST does -----
async def test_ws_api_refuses_a_key_without_read_permission(srv: Server) -> None:
    account, _, _ = srv.account("trade-only@example.com")

    async def trade_only_key() -> tuple[str, str]:
        k, secret = await srv.wallets.keys.create_key(
            srv.tenant.tenant_id, account, can_read=False, can_trade=True, ip_allowlist=()
        )
        return k.api_key, secret

    key, secret = srv.call(trade_only_key())
    params = {"apiKey": key, "timestamp": srv.ctx.auth.clock_ms()}
    sig = hmac_sha256_hex(secret, urlencode(sorted((k, str(v)) for k, v in params.items())))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{srv.url}/api/v3/userDataStream", headers={"X-MBX-APIKEY": key}) as r:
            assert r.status == 401 and (await r.json())["code"] == -2015  # REST refuses it
        ws = await http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws-api/v3")
        req = {"id": 1, "method": "userDataStream.subscribe.signature", "params": {**params, "signature": sig}}
        await ws.send_str(orjson.dumps(req).decode())
        reply = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        await ws.close()
    assert reply["status"] == 401 and reply["error"]["code"] == -2015
    assert not srv.runner.app[USERS].get(account)  # no events for it


# ----- 3: balances another process changed are shown -----
def _fund_from_another_process(srv: Server, account: int, asset: str, amount: str) -> None:
    """The database changed by another writer while the server runs (``braid accounts fund``, a second front):
    the balance row written on a connection of its own, which shares nothing with the server's process state.
    (The CLI itself would take seconds to start; what the server must notice is the committed row.)"""
    with sqlite3.connect(srv.db_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "INSERT INTO braid_balances (account_id, asset, free, locked) VALUES (?, ?, ?, '0')",
            (account, asset, amount),
        )


async def test_account_and_user_stream_show_another_process_credit(srv: Server) -> None:
    account, key, secret = srv.account("funded-elsewhere@example.com", {"USDT": "1000"})
    _fund_from_another_process(srv, account, "ETH", "3")
    r = signed(srv, "GET", "/api/v3/account", key, secret, "")
    assert {b["asset"]: b["free"] for b in r.json()["balances"]}.get("ETH") == "3.00000000"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{srv.url}/api/v3/userDataStream", headers={"X-MBX-APIKEY": key}) as resp:
            lk = (await resp.json())["listenKey"]
        async with http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws/{lk}") as ws:
            order = NewOrderRequest("BTCUSDT", "BUY", "LIMIT", "GTC", quantity=D("0.02"), price=D("90.00"))
            srv.call(srv.ctx.service.place(Caller(srv.tenant.tenant_id, account), order))
            positions = []
            while not positions:
                msg = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if msg.get("e") == "outboundAccountPosition":
                    positions.append(msg)
    assert {b["a"]: b["f"] for b in positions[0]["B"]}.get("ETH") == "3.00000000"


# ----- 4 and 5: numbers are parsed exactly as Binance parses them; nothing is a 5xx -----
@pytest.mark.parametrize(
    ("path", "method", "params", "code"),
    [
        ("/api/v3/order", "GET", "symbol=BTCUSDT&orderId=99999999999999999999", -1100),  # above int64
        ("/api/v3/order", "GET", "symbol=BTCUSDT&orderId=-1", -1100),
        ("/api/v3/allOrders", "GET", "symbol=BTCUSDT&startTime=-" + "9" * 5000, -1100),
        ("/api/v3/allOrders", "GET", "symbol=BTCUSDT&startTime=-99999999999999999999", -1100),
        ("/api/v3/myTrades", "GET", "symbol=BTCUSDT&fromId=12345678901234567890", -1100),
        ("/api/v3/order", "GET", "symbol=BTCUSDT&orderId=%D9%A1", -1100),  # an Arabic-Indic one
        ("/api/v3/order", "POST", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=10.0000000000000000001", -1111),
        ("/api/v3/order", "POST", LIMIT + "quantity=%D9%A1&price=90", -1100),
        ("/api/v3/order", "POST", LIMIT + "quantity=1_0&price=90", -1100),
        ("/api/v3/order", "POST", LIMIT + "quantity=%201&price=90", -1100),
        ("/api/v3/order", "POST", LIMIT + "quantity=%2B1&price=90", -1100),
        ("/api/v3/order", "POST", LIMIT + "quantity=1e0&price=90", -1100),
        (
            "/api/v3/order",
            "POST",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=90&price=80",
            -1101,
        ),
        ("/api/v3/order", "POST", LIMIT + "quantity=-" + "1" * 5000, -1100),
    ],
)
def test_bad_numbers_are_refused_as_binance_does(
    srv: Server, alice: tuple[int, str, str], path: str, method: str, params: str, code: int
) -> None:
    account, key, secret = alice
    before = srv.wallets.ledger.balances(account)
    refused(signed(srv, method, path, key, secret, params), code)
    assert srv.wallets.ledger.balances(account) == before  # nothing reserved or changed


def test_broker_commission_out_of_range_or_precision_is_a_400(srv: Server) -> None:
    async def broker_key() -> tuple[str, str]:
        k, secret = await srv.wallets.keys.create_key(
            srv.tenant.tenant_id, srv.tenant.broker_account_id, can_read=True, can_trade=True
        )
        return k.api_key, secret

    key, secret = srv.call(broker_key())
    path = "/sapi/v1/broker/subAccountApi/commission"
    refused(signed(srv, "POST", path, key, secret, "makerCommission=1e-30"), -1100)
    refused(signed(srv, "POST", path, key, secret, "makerCommission=0.00000000000000000001"), -1111)
    assert srv.wallets.accounts.tenant(srv.tenant.tenant_id).markup_rate == 0


def test_query_wins_over_body_but_a_name_twice_in_one_is_refused(srv: Server) -> None:
    r = requests.get(f"{srv.url}/api/v3/depth?symbol=BTCUSDT&limit=5&limit=10")
    refused(r, -1101)
    assert requests.get(f"{srv.url}/api/v3/depth?symbol=BTCUSDT&limit=5").status_code == 200


# ----- 6: bounded connections -----
def test_a_trickled_request_head_is_cut_off(srv: Server) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /api/v3/time HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        start = time.monotonic()
        assert s.recv(100) == b""  # the server closed it
        assert time.monotonic() - start < 3
    # a whole request on a kept-alive connection is not cut off while idle between requests
    with requests.Session() as http:
        assert http.get(f"{srv.url}/api/v3/time").status_code == 200
        time.sleep(0.7)  # longer than the head timeout, idle: allowed (the keep-alive timeout governs)
        assert http.get(f"{srv.url}/api/v3/time").status_code == 200


async def test_ws_api_messages_are_capped_like_streams(srv: Server) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws-api/v3") as ws:
        await ws.send_str(orjson.dumps({"id": 1, "method": "ping", "params": {"x": "a" * 70_000}}).decode())
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert ws.close_code == 1009  # message too big


async def test_new_websocket_connections_per_ip_are_limited(srv: Server) -> None:
    # a limiter of its own for this test, so the module's other WebSocket tests keep their budget in any order
    assert limits_from(Settings(api_ws_connections_per_5m=WS_LIMIT)).ws_connections_5m == WS_LIMIT  # the knob
    assert limits_from(Settings()).ws_connections_5m == 300  # Binance's figure by default
    shared = srv.ctx.limiter
    srv.ctx.limiter = RateLimiter(limits_from(Settings(api_ws_connections_per_5m=WS_LIMIT)))
    try:
        await _connect_until_refused(srv)
    finally:
        srv.ctx.limiter = shared


async def _connect_until_refused(srv: Server) -> None:
    async with aiohttp.ClientSession() as http:
        opened = []
        refusal = None
        for _ in range(WS_LIMIT + 1):
            try:
                opened.append(await http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws"))
            except aiohttp.WSServerHandshakeError as exc:
                refusal = exc
                break
        assert refusal is not None and refusal.status == 429
        async with http.get(f"ws://127.0.0.1:{srv.port}/ws".replace("ws:", "http:"), headers=_upgrade()) as r:
            assert r.status == 429 and (await r.json())["code"] == -1003
        for ws in opened:
            await ws.close()


def _upgrade() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }


# ----- 7: the HTTP layer's own refusals are Binance-shaped -----
def test_over_long_url_and_header_get_json(srv: Server) -> None:
    status, body = json_of(raw_http(srv, b"GET /api/v3/time?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 414 and body["code"] == -1104
    status, body = json_of(
        raw_http(srv, b"GET /api/v3/time HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    )
    assert status == 431 and body["code"] == -1104


def test_non_utf8_url_and_garbage_get_json(srv: Server) -> None:
    status, body = json_of(raw_http(srv, b"GET /api/v3/ticker/price?symbol=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert 400 <= status < 500 and isinstance(body["code"], int) and body["msg"]
    status, body = json_of(raw_http(srv, b"\x16\x03\x01garbage\r\n\r\n"))
    assert status == 400 and body["code"] == -1000


def test_oversized_chunked_body_gets_json(srv: Server, alice: tuple[int, str, str]) -> None:
    _, key, _ = alice
    chunk = b"a=" + b"b" * 32_766
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    head = (
        b"POST /api/v3/order HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: " + key.encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    status, answer = json_of(raw_http(srv, head + body))
    assert status == 400 and answer["code"] == -1104


def test_the_server_still_answers(srv: Server) -> None:
    assert requests.get(f"{srv.url}/api/v3/ping").status_code == 200
