"""Defects found by attacking the API (issue #16), each pinned: refusals are Binance-shaped 4xx that change
nothing, never a 5xx; numbers are read with Binance's grammar; the WebSocket API checks key permissions.

One server for the module (the checks only read, or refuse before anything changes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
import pytest
import requests

from config.settings import Settings
from connectors.binance.auth import signature
from gateway.api.ratelimit import Limits, RateLimiter
from tests.gateway.conftest import Server
from wallets import Wallets

Trader = tuple[int, str, str]
READ_TIMEOUT_S = 1.0  # the module's server: a request's headers, then its body, must arrive within it
SELL_150 = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=150"
BUY_50_1 = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=50&quantity=1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: Any) -> Iterator[Server]:
    settings = Settings(api_orders_limit_10s=10_000, api_read_timeout_s=READ_TIMEOUT_S)
    s = Server(str(tmp_path_factory.mktemp("hardening")), settings=settings).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def trader(srv: Server) -> Trader:
    return srv.account("hard-trader")


def sign(secret: str, query: str) -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def signed_get(srv: Server, key: str, secret: str, path: str, query: str) -> requests.Response:
    q = f"{query}&timestamp={int(time.time() * 1000)}" if query else f"timestamp={int(time.time() * 1000)}"
    return requests.get(f"{srv.url}{path}?{q}&signature={sign(secret, q)}", headers={"X-MBX-APIKEY": key}, timeout=5)


def signed_post(srv: Server, key: str, secret: str, path: str, body: str) -> requests.Response:
    b = f"{body}&timestamp={int(time.time() * 1000)}"
    return requests.post(
        f"{srv.url}{path}",
        data=f"{b}&signature={sign(secret, b)}",
        headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )


def assert_binance_4xx(r: requests.Response, code: int | None = None) -> dict[str, Any]:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "msg"} and isinstance(body["code"], int) and body["code"] < 0, body
    if code is not None:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


# ----- 2. the WebSocket API checks the key's read permission -----
async def test_ws_api_user_stream_needs_the_read_permission(srv: Server) -> None:
    acc, _, _ = srv.account("ws-noread")
    no_read, secret = srv.call(srv.wallets.keys.create_key(srv.tenant.tenant_id, acc, can_read=False, can_trade=True))
    params = {"apiKey": no_read.api_key, "timestamp": int(time.time() * 1000)}
    sig = sign(secret, urlencode(sorted((k, str(v)) for k, v in params.items())))
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws-api/v3") as ws:
            await ws.send_str(
                orjson.dumps(
                    {"id": 7, "method": "userDataStream.subscribe.signature", "params": {**params, "signature": sig}}
                ).decode()
            )
            reply = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
    assert reply["id"] == 7 and reply["status"] == 401
    assert reply["error"] == {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
    # REST refuses the same key the same way
    assert_binance_4xx(signed_get(srv, no_read.api_key, secret, "/api/v3/account", ""), -2015)


# ----- 4. input that used to answer 500 -----
@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v3/order", "symbol=BTCUSDT&orderId=99999999999999999999"),
        ("/api/v3/order", "symbol=BTCUSDT&orderId=-9999999999999999999"),
        ("/api/v3/allOrders", "symbol=BTCUSDT&orderId=18446744073709551615"),
        ("/api/v3/allOrders", "symbol=BTCUSDT&startTime=99999999999999999999"),
        ("/api/v3/myTrades", "symbol=BTCUSDT&fromId=-9999999999999999999"),
        ("/api/v3/myTrades", "symbol=BTCUSDT&startTime=-" + "9" * 19),
        ("/api/v3/allOrders", "symbol=BTCUSDT&orderId=-" + "1" * 5000),
    ],
)
def test_out_of_range_integers_are_refused_not_500(srv: Server, trader: Trader, path: str, query: str) -> None:
    _, key, secret = trader
    assert_binance_4xx(signed_get(srv, key, secret, path, query), -1100)


def test_market_quote_amount_with_many_decimals_is_refused_not_500(srv: Server, trader: Trader) -> None:
    acc, key, secret = trader
    before = srv.balance(acc, "USDT")
    for q in ("5." + "1" * 19, "5." + "0" * 19 + "1", "5.123456789"):
        r = signed_post(srv, key, secret, "/api/v3/order", f"symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty={q}")
        body = assert_binance_4xx(r, -1111)  # more decimals than exchangeInfo's quoteAssetPrecision (8)
        assert body["msg"] == "Parameter 'quoteOrderQty' has too much precision."
    assert srv.balance(acc, "USDT") == before


def test_broker_commission_with_tiny_values_is_refused_not_500(srv: Server) -> None:
    k, secret = srv.call(
        srv.wallets.keys.create_key(srv.tenant.tenant_id, srv.tenant.broker_account_id, can_read=True, can_trade=True)
    )
    before = srv.wallets.accounts.tenant(srv.tenant.tenant_id).markup_rate
    path = "/sapi/v1/broker/subAccountApi/commission"
    assert_binance_4xx(signed_post(srv, k.api_key, secret, path, "makerCommission=1e-30"), -1100)
    for rate in ("0.00000000000000000001", "0.0000000000000000001"):
        body = assert_binance_4xx(signed_post(srv, k.api_key, secret, path, f"makerCommission={rate}"), -1111)
        assert body["msg"] == "Parameter 'makerCommission' has too much precision."
    assert srv.wallets.accounts.tenant(srv.tenant.tenant_id).markup_rate == before


# ----- 5. numbers as strictly as Binance, duplicates refused -----
@pytest.mark.parametrize(
    "qty", ["١", "1_0", " 1", "+1", "1e0", "1E0", "0x1", ".5", "5.", "-1", "１", "1.0.0", "NaN", "Infinity"]
)
def test_numbers_outside_binance_grammar_are_refused(srv: Server, trader: Trader, qty: str) -> None:
    acc, key, secret = trader
    before = srv.balance(acc, "BTC"), srv.balance(acc, "USDT")
    r = signed_post(
        srv,
        key,
        secret,
        "/api/v3/order",
        f"symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=150&quantity={quote(qty, safe='')}",
    )
    assert_binance_4xx(r, -1100)
    assert (srv.balance(acc, "BTC"), srv.balance(acc, "USDT")) == before


@pytest.mark.parametrize("value", ["١", "1_0", " 5", "+5", "5e0", "٥"])
def test_integers_outside_binance_grammar_are_refused(srv: Server, trader: Trader, value: str) -> None:
    _, key, secret = trader
    assert_binance_4xx(
        signed_get(srv, key, secret, "/api/v3/allOrders", f"symbol=BTCUSDT&limit={quote(value, safe='')}"), -1100
    )


def test_timestamp_in_other_scripts_digits_is_refused(srv: Server, trader: Trader) -> None:
    _, key, secret = trader
    ts = str(int(time.time() * 1000)).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    q = f"timestamp={quote(ts)}"
    r = requests.get(
        f"{srv.url}/api/v3/account?{q}&signature={sign(secret, q)}", headers={"X-MBX-APIKEY": key}, timeout=5
    )
    assert_binance_4xx(r)


def test_a_parameter_sent_twice_is_refused(srv: Server, trader: Trader) -> None:
    acc, key, secret = trader
    before = srv.balance(acc, "BTC")
    r = signed_post(
        srv,
        key,
        secret,
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=150&quantity=0.01&quantity=2",
    )
    body = assert_binance_4xx(r, -1101)
    assert body["msg"] == "Duplicate values for a parameter detected."
    assert srv.balance(acc, "BTC") == before
    # the query string and the body may both name a parameter: the query's wins (Binance), not a duplicate
    q = f"symbol=BTCUSDT&timestamp={int(time.time() * 1000)}"
    r = requests.get(
        f"{srv.url}/api/v3/openOrders?{q}&signature={signature(secret, q, 'symbol=ETHUSDT')}",
        data="symbol=ETHUSDT",
        headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert r.status_code == 200, r.text


def test_well_formed_numbers_still_work(srv: Server, trader: Trader) -> None:
    acc, key, secret = trader
    r = signed_post(
        srv,
        key,
        secret,
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&price=150.00&quantity=0.010",
    )
    assert r.status_code == 200, r.text
    assert D(r.json()["origQty"]) == D("0.01")
    assert signed_get(srv, key, secret, "/api/v3/allOrders", "symbol=BTCUSDT&limit=5&orderId=0").status_code == 200


# ----- 3. balances changed by another process are seen -----
class Elsewhere:
    """Another process's wallets on the server's database (what ``braid accounts fund`` opens), on its own loop."""

    def __init__(self, srv: Server) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.wallets = self.call(self._open(srv))

    @staticmethod
    async def _open(srv: Server) -> Wallets:
        w = Wallets.open(srv.db_url, master_key=os.urandom(32), schema=srv.schema)
        await w.start()
        return w

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def credit(self, account: int, asset: str, amount: str) -> None:
        self.call(self.wallets.ledger.credit(account, asset, D(amount), "admin-fund"))

    def close(self) -> None:
        self.call(self.wallets.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def elsewhere(srv: Server) -> Iterator[Elsewhere]:
    e = Elsewhere(srv)
    try:
        yield e
    finally:
        e.close()


def account_balances(srv: Server, key: str, secret: str) -> dict[str, tuple[D, D]]:
    r = signed_get(srv, key, secret, "/api/v3/account", "")
    assert r.status_code == 200, r.text
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in r.json()["balances"]}


def test_account_shows_balances_funded_by_another_process(srv: Server, elsewhere: Elsewhere) -> None:
    acc, key, secret = srv.account("hard-funded", {})
    assert account_balances(srv, key, secret) == {}
    elsewhere.credit(acc, "USDT", "250")
    assert account_balances(srv, key, secret) == {"USDT": (D(250), D(0))}
    elsewhere.credit(acc, "USDT", "50")  # a balance this process has cached changes too
    elsewhere.credit(acc, "BTC", "3")
    assert account_balances(srv, key, secret) == {"USDT": (D(300), D(0)), "BTC": (D(3), D(0))}


async def test_user_stream_balances_include_changes_by_another_process(srv: Server, elsewhere: Elsewhere) -> None:
    acc, key, secret = srv.account("hard-stream", {"USDT": "1000", "BTC": "1"})
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{srv.url}/api/v3/userDataStream", headers={"X-MBX-APIKEY": key}) as r:
            lk = (await r.json())["listenKey"]
        async with http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws/{lk}") as ws:
            await asyncio.get_running_loop().run_in_executor(None, elsewhere.credit, acc, "BTC", "2")
            r2 = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: signed_post(
                    srv,
                    key,
                    secret,
                    "/api/v3/order",
                    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=50&quantity=1",
                ),
            )
            assert r2.status_code == 200, r2.text
            while True:
                event = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if event["e"] == "outboundAccountPosition":
                    break
    shown = {b["a"]: (D(b["f"]), D(b["l"])) for b in event["B"]}
    assert shown == {"BTC": (D(3), D(0)), "USDT": (D(950), D(50))}


# ----- 6. bounded resources -----
def raw_exchange(srv: Server, *parts: bytes, pause_s: float = 0.0, timeout_s: float = 5.0) -> tuple[bytes, float]:
    """Send ``parts`` on one connection (``pause_s`` apart), then read until the server closes it: (what it
    answered, seconds from the first byte to the close)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout_s) as s:
        start = time.monotonic()
        try:
            for p in parts:
                s.sendall(p)
                time.sleep(pause_s)
        except OSError:  # closed by the server while we were still sending
            pass
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return out, time.monotonic() - start


def json_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, orjson.loads(body)


def test_a_header_trickle_is_disconnected_after_the_read_timeout(srv: Server) -> None:
    # one header byte every 0.2 s: the head would take minutes; the server drops it after READ_TIMEOUT_S
    trickle = [b"GET /api/v3/time HTTP/1.1\r\n"] + [bytes([c]) for c in b"X-Slow: " + b"a" * 200]
    answer, took = raw_exchange(srv, *trickle, pause_s=0.2, timeout_s=10)
    assert answer == b"" and took < READ_TIMEOUT_S + 3
    # a connection that sends nothing at all goes the same way
    answer, took = raw_exchange(srv, timeout_s=10)
    assert answer == b"" and took < READ_TIMEOUT_S + 3


def test_a_body_trickle_is_answered_408(srv: Server, trader: Trader) -> None:
    _, key, _ = trader
    head = (
        f"POST /api/v3/order HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: {key}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    answer, _ = raw_exchange(srv, head, *[b"a"] * 20, pause_s=0.2, timeout_s=10)
    assert json_body(answer) == (408, {"code": -1104, "msg": "Request not received in time."})


def test_websocket_connections_per_ip_are_capped(srv: Server) -> None:
    normal = srv.ctx.limiter
    srv.ctx.limiter = RateLimiter(Limits(weight_1m=100_000, ws_connections_5m=3))
    try:

        async def connect_all() -> list[int]:
            statuses = []
            async with aiohttp.ClientSession() as http:
                for path in ("/ws", "/ws-api/v3", "/stream?streams=btcusdt@trade", "/ws", "/ws-api/v3"):
                    try:
                        async with http.ws_connect(f"ws://127.0.0.1:{srv.port}{path}") as ws:
                            statuses.append(101)
                            await ws.close()
                    except aiohttp.WSServerHandshakeError as exc:
                        statuses.append(exc.status)
            return statuses

        assert asyncio.run(connect_all()) == [101, 101, 101, 429, 429]
        r = requests.get(
            f"{srv.url}/ws",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
            timeout=5,
        )
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json() == {
            "code": -1003,
            "msg": "Too many new WebSocket connections; current limit is 3 connections per 5 MINUTE.",
        }
    finally:
        srv.ctx.limiter = normal


async def test_ws_api_messages_are_capped_at_64_kib(srv: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{srv.port}/ws-api/v3") as ws:
            await ws.send_str(orjson.dumps({"id": 1, "method": "ping", "params": {"pad": "x" * 60_000}}).decode())
            assert orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)["status"] == 200
            await ws.send_str(orjson.dumps({"id": 2, "method": "ping", "params": {"pad": "x" * 70_000}}).decode())
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert ws.close_code == 1009  # message too big


# ----- 7. Binance-shaped errors where aiohttp wrote plain text -----
@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (
            b"GET /api/v3/time?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            (431, {"code": -1104, "msg": "Request URL or headers too large."}),
        ),
        (
            b"GET /api/v3/time HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
            (431, {"code": -1104, "msg": "Request URL or headers too large."}),
        ),
        (
            b"GET /api/v3/time?a=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
            (400, {"code": -1104, "msg": "Malformed HTTP request."}),
        ),
        (b"GET /api/v3/\xff HTTP/1.1\r\nHost: x\r\n\r\n", (400, {"code": -1104, "msg": "Malformed HTTP request."})),
        (b"NOT HTTP AT ALL\r\n\r\n", (400, {"code": -1104, "msg": "Malformed HTTP request."})),
    ],
    ids=["long-url", "long-header", "non-utf8-query", "non-utf8-path", "garbage"],
)
def test_unparseable_requests_get_binance_errors(srv: Server, request_bytes: bytes, expected: tuple[int, Any]) -> None:
    answer, _ = raw_exchange(srv, request_bytes)
    assert json_body(answer) == expected


def test_an_oversized_chunked_body_gets_a_binance_error(srv: Server, trader: Trader) -> None:
    acc, key, _ = trader
    before = srv.balance(acc, "USDT")
    chunk = b"a" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(200)) + b"0\r\n\r\n"
    head = (
        f"POST /api/v3/order HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: {key}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer, _ = raw_exchange(srv, head + body)
    assert json_body(answer) == (400, {"code": -1104, "msg": "Request body too large."})
    assert srv.balance(acc, "USDT") == before


def test_a_kept_alive_connection_outlives_the_read_timeout_between_requests(srv: Server) -> None:
    def answer(s: socket.socket) -> int:
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        while len(body) < length:
            body += s.recv(65536)
        return int(head.split(b" ", 2)[1])

    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        # head and body apart (the body lands before the handler starts): nothing is left armed after the answer
        s.sendall(b"POST /api/v3/userDataStream HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n")
        time.sleep(0.05)
        s.sendall(b"a=1")
        assert answer(s) == 401  # no key: refused, but answered
        time.sleep(READ_TIMEOUT_S + 0.5)  # idle between requests is not a slow request
        s.sendall(b"GET /api/v3/time HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(s) == 200
