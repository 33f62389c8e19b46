"""Generated requests against a running Braid (hypothesis), well-formed or not: every one gets either its answer
or a Binance error (``{"code","msg"}``, 4xx) that changed nothing, and never a 5xx.

- new orders (valid values mixed with near misses and junk), on SQLite and on the real PostgreSQL: a refusal
  moves no balance and opens no order;
- queries and cancels (order, openOrders, allOrders, myTrades, account);
- the broker's endpoints and the listen-key endpoints;
- WebSocket messages on /ws and /ws-api/v3: each is answered and the connection keeps working.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import aiohttp
import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.binance.auth import signature
from wallets.ledger import check_sheet

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _choice(*values: object) -> st.SearchStrategy:
    return st.sampled_from(values)


_numbers = st.one_of(
    _choice("0.001", "0.01", "0.5", "1", "2.000", "99.50", "100", "100.20", "150"),  # valid-looking
    _choice("0", "-1", "0.0001", "0.0015", "1e2", "1E-3", "NaN", "Infinity", "1,5", " 1", "0x10", "", "１"),
    st.decimals(min_value=D("-10"), max_value=D("2000"), places=4, allow_nan=False).map(str),
    st.text(max_size=6),
)
_requests = st.fixed_dictionaries(
    {},
    optional={
        "symbol": _choice("BTCUSDT", "btcusdt", "ETHUSDT", "", "BTC/USDT", "BTCUSDT\x00"),
        "side": _choice("BUY", "SELL", "buy", "HOLD", ""),
        "type": _choice("LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "TAKE_PROFIT_LIMIT", "limit", "ICEBERG", ""),
        "timeInForce": _choice("GTC", "IOC", "FOK", "GTX", ""),
        "quantity": _numbers,
        "quoteOrderQty": _numbers,
        "price": _numbers,
        "newClientOrderId": st.one_of(st.text(max_size=40), st.from_regex(r"[A-Za-z0-9_-]{1,36}", fullmatch=True)),
        "newOrderRespType": _choice("ACK", "RESULT", "FULL", "NONE"),
        "recvWindow": _choice("5000", "60000", "60001", "0", "-1", "abc", "5000.5"),
    },
)

# well-formed orders (limit inside and outside the spread, market by quantity and by quote amount) ...
_valid = st.one_of(
    st.fixed_dictionaries(
        {
            "symbol": st.just("BTCUSDT"),
            "side": _choice("BUY", "SELL"),
            "type": st.just("LIMIT"),
            "timeInForce": _choice("GTC", "IOC", "FOK"),
            "quantity": _choice("0.01", "0.5", "2"),
            "price": _choice("95.00", "99.40", "99.80", "100.00", "101.50"),
        }
    ),
    st.fixed_dictionaries(
        {
            "symbol": st.just("BTCUSDT"),
            "side": _choice("BUY", "SELL"),
            "type": st.just("MARKET"),
            "quantity": _choice("0.01", "0.3", "1"),
        }
    ),
    st.fixed_dictionaries(
        {
            "symbol": st.just("BTCUSDT"),
            "side": _choice("BUY", "SELL"),
            "type": st.just("MARKET"),
            "quoteOrderQty": _choice("5", "50.5", "120"),
        }
    ),
)
# ... as they are, with some fields replaced by near misses and junk, or junk alone
_orders = st.one_of(_valid, st.builds(lambda good, bad: {**good, **bad}, _valid, _requests), _requests)


def _state(server, acct: int) -> tuple:
    return (
        server.balance(acct, "BTC"),
        server.balance(acct, "USDT"),
        sorted(o.order_id for o in server.ctx.service.live.values() if o.account_id == acct),
    )


@pytest.mark.parametrize("store", ["server", "pg_server"])  # SQLite and the real PostgreSQL
def test_any_order_request_is_answered_or_refused_without_effect(store, request):
    server = request.getfixturevalue(store)
    acct, key, secret = server.account("fuzz", {"USDT": "1000", "BTC": "3"})
    url = f"{server.url}/api/v3/order"
    counts = {"answered": 0, "refused": 0}

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(params=_orders)
    def one(params: dict[str, str]) -> None:
        from urllib.parse import urlencode

        body = urlencode({**params, "timestamp": server.ctx.auth.clock_ms()})
        before = _state(server, acct)
        r = requests.post(
            url, data=f"{body}&signature={signature(secret, body)}", headers={"X-MBX-APIKEY": key, **FORM}
        )
        assert r.status_code < 500, (params, r.text)
        answer = r.json()
        if r.status_code == 200:
            counts["answered"] += 1
            assert answer["symbol"] == "BTCUSDT" and answer["orderId"] > 0
            if "executedQty" in answer:  # RESULT and FULL: the state adds up
                assert answer["status"] in ("NEW", "PARTIALLY_FILLED", "FILLED", "EXPIRED", "CANCELED")
                assert D(answer["executedQty"]) <= D(answer["origQty"])
                if "fills" in answer:
                    assert sum((D(f["qty"]) for f in answer["fills"]), D(0)) == D(answer["executedQty"])
        else:
            counts["refused"] += 1
            assert set(answer) == {"code", "msg"} and answer["code"] < 0 and answer["msg"], answer
            assert _state(server, acct) == before, (params, answer)
        free_btc, locked_btc = server.balance(acct, "BTC")
        free_usdt, locked_usdt = server.balance(acct, "USDT")
        assert min(free_btc, locked_btc, free_usdt, locked_usdt) >= 0

    one()
    assert counts["answered"] >= 30 and counts["refused"] >= 30, counts  # both paths were exercised
    # whatever was accepted, the stored ledger still balances
    sheet = server.wallets.store.read_sync(lambda conn: check_sheet(conn, server.wallets.accounts))
    assert sheet.ok, sheet.problems


_ints = st.one_of(st.integers(min_value=-2, max_value=50).map(str), _choice("", "1.5", "x", "99999999999999999999999"))
_queries = st.tuples(
    _choice(
        ("GET", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("GET", "/api/v3/openOrders"),
        ("DELETE", "/api/v3/openOrders"),
        ("GET", "/api/v3/allOrders"),
        ("GET", "/api/v3/myTrades"),
        ("GET", "/api/v3/account"),
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "symbol": _choice("BTCUSDT", "btcusdt", "ETHUSDT", ""),
            "orderId": _ints,
            "origClientOrderId": st.text(max_size=8),
            "fromId": _ints,
            "startTime": _ints,
            "endTime": _ints,
            "limit": _ints,
            "omitZeroBalances": _choice("true", "no"),
        },
    ),
)


def test_any_query_or_cancel_is_answered_or_refused_without_effect(server):
    acct, key, secret = server.account("fuzz", {"USDT": "1000", "BTC": "3"})
    for price in ("95.00", "96.00"):  # two resting orders a cancel may hit
        body = (
            f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price={price}"
            f"&timestamp={server.ctx.auth.clock_ms()}"
        )
        assert (
            requests.post(
                f"{server.url}/api/v3/order",
                data=f"{body}&signature={signature(secret, body)}",
                headers={"X-MBX-APIKEY": key, **FORM},
            ).status_code
            == 200
        )

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(call=_queries)
    def one(call: tuple[tuple[str, str], dict[str, str]]) -> None:
        from urllib.parse import urlencode

        (method, path), params = call
        query = urlencode({**params, "timestamp": server.ctx.auth.clock_ms()})
        before = _state(server, acct)
        r = requests.request(
            method, f"{server.url}{path}?{query}&signature={signature(secret, query)}", headers={"X-MBX-APIKEY": key}
        )
        assert r.status_code < 500, (call, r.text)
        if r.status_code != 200:
            answer = r.json()
            assert set(answer) == {"code", "msg"} and answer["code"] < 0, answer
            assert _state(server, acct) == before, (call, answer)
        elif method == "GET":
            assert _state(server, acct) == before  # reading changes nothing

    one()


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_stream_requests = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"method": _choice("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "X")},
        optional={"id": _json, "params": _json},
    ),
    st.fixed_dictionaries(
        {
            "method": _choice("SUBSCRIBE", "UNSUBSCRIBE"),
            "id": st.integers(0, 9),
            "params": st.lists(
                _choice(
                    "btcusdt@depth",
                    "btcusdt@depth5",
                    "btcusdt@depth20@100ms",
                    "btcusdt@depth0",
                    "btcusdt@depthX",
                    "btcusdt@trade",
                    "nope@trade",
                    "btcusdt",
                    "@",
                    "",
                ),
                max_size=3,
            ),
        }
    ),
)
_api_requests = st.one_of(
    _json,
    st.fixed_dictionaries(
        {
            "method": _choice(
                "ping", "time", "userDataStream.subscribe.signature", "userDataStream.unsubscribe", "order.place"
            )
        },
        optional={"id": _json, "params": _json},
    ),
)


async def test_websockets_answer_any_message_and_stay_open(server):
    """A stream connection and a WebSocket API connection each get arbitrary JSON (and non-JSON) messages; each
    message gets an answer and the connection keeps working (it answers the next valid request)."""

    _, key, _ = server.account("ws")
    # a real key with a forged signature and odd timestamps: checked, refused, the connection stays
    signed = st.fixed_dictionaries(
        {
            "method": st.just("userDataStream.subscribe.signature"),
            "id": st.integers(0, 9),
            "params": st.fixed_dictionaries(
                {"apiKey": st.just(key)},
                optional={
                    "timestamp": st.one_of(_json, st.just(server.ctx.auth.clock_ms())),
                    "recvWindow": _json,
                    "signature": st.one_of(st.text(max_size=64), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
                },
            ),
        }
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        streams=st.lists(
            st.one_of(_stream_requests.map(lambda v: orjson.dumps(v).decode()), st.text(max_size=8)), max_size=4
        ),
        api=st.lists(
            st.one_of(_api_requests, signed).map(lambda v: orjson.dumps(v).decode()) | st.text(max_size=8), max_size=4
        ),
    )
    def check(streams: list[str], api: list[str]) -> None:
        asyncio.run(_exchange(server, streams, api))

    await asyncio.to_thread(check)


async def _exchange(server, streams: list[str], api: list[str]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{server.url}/ws") as ws:
            for text in streams:
                await ws.send_str(text)
                answer = await _next_answer(ws)
                assert "result" in answer or "error" in answer, (text, answer)
            await ws.send_str('{"method": "LIST_SUBSCRIPTIONS", "id": 99}')
            assert (await _next_answer(ws))["id"] == 99
        async with http.ws_connect(f"{server.url}/ws-api/v3") as ws:
            for text in api:
                await ws.send_str(text)
                answer = await ws.receive_json(timeout=5)
                assert "status" in answer and ("result" in answer or "error" in answer), (text, answer)
            await ws.send_str('{"method": "ping", "id": 7}')
            assert await ws.receive_json(timeout=5) == {"id": 7, "status": 200, "result": {}}


async def _next_answer(ws) -> dict:
    """The next reply to a request, skipping market-data events pushed by a subscription."""
    while True:
        msg = await ws.receive_json(timeout=5)
        if isinstance(msg, dict) and ("result" in msg or "error" in msg):
            return msg


_broker_calls = st.tuples(
    _choice(
        ("POST", "/sapi/v1/broker/subAccount"),
        ("POST", "/sapi/v1/broker/subAccountApi"),
        ("DELETE", "/sapi/v1/broker/subAccountApi"),
        ("POST", "/sapi/v1/broker/subAccountApi/commission"),
        ("POST", "/api/v3/userDataStream"),
        ("PUT", "/api/v3/userDataStream"),
        ("DELETE", "/api/v3/userDataStream"),
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "tag": st.text(max_size=140),
            "email": st.text(max_size=10),
            "subAccountId": _ints,
            "canTrade": _choice("true", "false", "maybe"),
            "ipAddress": _choice("127.0.0.1", "10.0.0.1,::1", "x", ""),
            "subAccountApiKey": st.text(max_size=70),
            "makerCommission": _numbers,
            "takerCommission": _numbers,
            "listenKey": st.text(max_size=70),
        },
    ),
)


def test_broker_and_listen_key_calls_are_answered_or_refused(server):
    """The broker's endpoints and the listen-key endpoints, with generated parameters: an answer or a Binance
    error, never a 5xx; a refused call leaves the sub-accounts, keys and markup as they were."""
    from tests.gateway.test_broker_and_orders import broker_key

    bkey, bsecret = broker_key(server)
    accounts, tenant = server.wallets.accounts, server.tenant.tenant_id

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(call=_broker_calls)
    def one(call: tuple[tuple[str, str], dict[str, str]]) -> None:
        from urllib.parse import urlencode

        (method, path), params = call
        before = (len(accounts.accounts_of(tenant)), accounts.tenant(tenant).markup_rate)
        if path.startswith("/sapi/"):
            body = urlencode({**params, "timestamp": server.ctx.auth.clock_ms()})
            r = requests.request(
                method,
                f"{server.url}{path}",
                data=f"{body}&signature={signature(bsecret, body)}",
                headers={"X-MBX-APIKEY": bkey, **FORM},
            )
        else:
            r = requests.request(method, f"{server.url}{path}", params=params, headers={"X-MBX-APIKEY": bkey})
        assert r.status_code < 500, (call, r.text)
        if r.status_code != 200:
            answer = r.json()
            assert set(answer) == {"code", "msg"} and answer["code"] < 0, answer
            assert (len(accounts.accounts_of(tenant)), accounts.tenant(tenant).markup_rate) == before, (call, answer)

    one()
