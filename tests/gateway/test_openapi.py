"""The published OpenAPI document describes what the server really answers: every REST answer a client gets
from a running Braid (market data, each order response type, cancels, account, listen keys, broker endpoints,
errors) validates against the schema /openapi.json gives for that path and method."""

from __future__ import annotations

import re
import time

import jsonschema
import pytest
import requests

from tests.gateway.test_broker_and_orders import broker_key, call


def _checker(spec: dict):
    """check(method, path, body, status=200): validate ``body`` against the spec's answer for it."""

    def check(method: str, path: str, body: object, status: str = "200") -> object:
        responses = spec["paths"][path][method.lower()]["responses"]
        answer = responses.get(status) or responses["4XX"]
        if "$ref" in answer:
            answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = answer["content"]["application/json"]["schema"]
        # the components travel with the schema so its "#/components/..." references resolve
        jsonschema.validate(body, {**schema, "components": spec["components"]})
        return body

    return check


def test_the_document_is_well_formed(server):
    spec = requests.get(f"{server.url}/openapi.json").json()
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
            if path.startswith("/api/v3/") or path.startswith("/sapi/"):
                assert "content" in op["responses"]["200"], f"{method} {path} has no answer schema"
    assert "101" in spec["paths"]["/ws/{path}"]["get"]["responses"]
    page = requests.get(f"{server.url}/docs").text  # the docs page names each answer
    assert "<td>/api/v3/openOrders</td><td>USER_DATA</td><td>6</td><td>[Order]</td>" in page
    assert "<td>TickerPrice | [TickerPrice]</td>" in page
    # the checker can fail: a wrong body is refused
    check = _checker(spec)
    with pytest.raises(jsonschema.ValidationError):
        check("GET", "/api/v3/time", {"serverTime": "soon"})
    with pytest.raises(jsonschema.ValidationError):
        check("GET", "/api/v3/depth", {"lastUpdateId": 1, "bids": [[99.0, "1"]], "asks": []})


def test_real_answers_match_the_document(server):
    spec = requests.get(f"{server.url}/openapi.json").json()
    check = _checker(spec)
    base = server.url
    _, key, secret = server.account("alice")
    _, key2, secret2 = server.account("bob")

    def get(path: str, **params: object) -> object:
        r = requests.get(f"{base}{path}", params=params)
        assert r.status_code == 200, r.text
        return check("GET", path, r.json())

    def signed(method: str, path: str, params: str, k: str = key, s: str = secret) -> object:
        r = call(server, method, path, k, s, params)
        assert r.status_code == 200, r.text
        return check(method, path, r.json())

    get("/api/v3/ping")
    get("/api/v3/time")
    info = get("/api/v3/exchangeInfo")
    assert [x["symbol"] for x in info["symbols"]] == ["BTCUSDT"]
    book = get("/api/v3/depth", symbol="BTCUSDT", limit=5)
    assert book["bids"][0] == ["99.50000000", "2.00000000"]

    # orders: every response type, a resting one, an internal match and one routed out to a venue
    ack = signed(
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.5&price=99.80&newOrderRespType=ACK",
    )
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = signed(
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.2&price=99.80&newOrderRespType=RESULT",
        key2,
        secret2,
    )
    assert result["status"] == "FILLED" and "fills" not in result
    full = signed("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&newOrderRespType=FULL")
    assert full["status"] == "FILLED" and full["fills"]
    assert signed("POST", "/api/v3/order/test", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1") == {}

    trades = get("/api/v3/trades", symbol="BTCUSDT")
    assert len(trades) == 1 + len(full["fills"])
    assert get("/api/v3/historicalTrades", symbol="BTCUSDT", fromId=trades[1]["id"]) == trades[1:]
    get("/api/v3/aggTrades", symbol="BTCUSDT")
    assert get("/api/v3/klines", symbol="BTCUSDT", interval="1m")
    get("/api/v3/uiKlines", symbol="BTCUSDT", interval="1m")
    for path in ("/api/v3/ticker/24hr", "/api/v3/ticker/price", "/api/v3/ticker/bookTicker"):
        assert isinstance(get(path, symbol="BTCUSDT"), dict) and isinstance(get(path), list)
    get("/api/v3/ticker", symbol="BTCUSDT")
    get("/api/v3/avgPrice", symbol="BTCUSDT")

    oid = ack["orderId"]
    assert signed("GET", "/api/v3/order", f"symbol=BTCUSDT&orderId={oid}")["status"] == "PARTIALLY_FILLED"
    assert [o["orderId"] for o in signed("GET", "/api/v3/openOrders", "symbol=BTCUSDT")] == [oid]
    assert len(signed("GET", "/api/v3/allOrders", "symbol=BTCUSDT")) == 2
    assert len(signed("GET", "/api/v3/myTrades", "symbol=BTCUSDT")) == 1 + len(full["fills"])
    assert {b["asset"] for b in signed("GET", "/api/v3/account", "")["balances"]} >= {"BTC", "USDT"}
    year = time.gmtime(server.ctx.auth.clock_ms() / 1000).tm_year
    assert signed("GET", "/sapi/v1/braid/taxReport", f"year={year}&method=HIFO")["year"] == year
    assert signed("DELETE", "/api/v3/order", f"symbol=BTCUSDT&orderId={oid}")["status"] == "CANCELED"
    signed("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.5&price=90")
    assert [o["status"] for o in signed("DELETE", "/api/v3/openOrders", "symbol=BTCUSDT")] == ["CANCELED"]

    # listen keys (API key only, no signature)
    hdr = {"X-MBX-APIKEY": key}
    r = requests.post(f"{base}/api/v3/userDataStream", headers=hdr)
    listen = check("POST", "/api/v3/userDataStream", r.json())["listenKey"]
    for method in ("PUT", "DELETE"):
        r = requests.request(method, f"{base}/api/v3/userDataStream", params={"listenKey": listen}, headers=hdr)
        assert r.status_code == 200 and check(method, "/api/v3/userDataStream", r.json()) == {}

    # the broker's endpoints
    bkey, bsecret = broker_key(server)
    sub = signed("POST", "/sapi/v1/broker/subAccount", "tag=carol", bkey, bsecret)["subaccountId"]
    made = signed("POST", "/sapi/v1/broker/subAccountApi", f"subAccountId={sub}&canTrade=true", bkey, bsecret)
    signed(
        "POST", "/sapi/v1/broker/subAccountApi/commission", f"subAccountId={sub}&makerCommission=0.0005", bkey, bsecret
    )
    signed("POST", "/sapi/v1/broker/subAccountApi/commission", "takerCommission=0.0005", bkey, bsecret)
    signed(
        "DELETE",
        "/sapi/v1/broker/subAccountApi",
        f"subAccountId={sub}&subAccountApiKey={made['apiKey']}",
        bkey,
        bsecret,
    )

    # errors answer in the documented shape too
    r = requests.get(f"{base}/api/v3/depth", params={"symbol": "NOPE"})
    assert r.status_code == 400 and check("GET", "/api/v3/depth", r.json(), "4XX") == {
        "code": -1121,
        "msg": "Invalid symbol.",
    }
    r = call(server, "POST", "/api/v3/order", key, secret, "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=99")
    assert r.status_code == 400 and check("POST", "/api/v3/order", r.json(), "4XX")["code"] == -1102
    r = requests.patch(f"{base}/api/v3/order")
    assert r.status_code == 405 and r.json()["code"] == -1 and r.headers["Allow"] == "DELETE, GET, HEAD, POST"
    for path in ("/ws/btcusdt@depth", "/stream", "/ws-api/v3"):  # plain HTTP on a WebSocket endpoint
        r = requests.get(f"{base}{path}")
        doc = "/ws/{path}" if path.startswith("/ws/") else path
        assert r.status_code == 400 and check("GET", doc, r.json(), "4XX")["code"] == -1
