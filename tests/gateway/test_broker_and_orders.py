"""Broker endpoints (sub-accounts, their keys, the markup) and order-flow details: LIMIT_MAKER, quoteOrderQty,
response types, order/test, duplicate client ids, the kill switch."""

from __future__ import annotations

from decimal import Decimal as D

import ccxt
import pytest
import requests

from connectors.binance.auth import signature
from router.killswitch import Scope
from tests.gateway.conftest import ccxt_client

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def call(server, method: str, path: str, key: str, secret: str, params: str) -> requests.Response:
    body = f"{params}&timestamp={server.ctx.auth.clock_ms()}" if params else f"timestamp={server.ctx.auth.clock_ms()}"
    signed = f"{body}&signature={signature(secret, body)}"
    url = f"{server.url}{path}"
    hdr = {"X-MBX-APIKEY": key}
    if method in ("GET",):
        return requests.get(f"{url}?{signed}", headers=hdr)
    return requests.request(method, url, data=signed, headers={**hdr, **FORM})


def broker_key(server) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        w = server.wallets
        key, secret = await w.keys.create_key(
            server.tenant.tenant_id, server.tenant.broker_account_id, can_read=True, can_trade=True
        )
        return key.api_key, secret

    return server.call(make())


def test_broker_creates_sub_account_key_and_markup(server):
    bkey, bsecret = broker_key(server)
    r = call(server, "POST", "/sapi/v1/broker/subAccount", bkey, bsecret, "tag=alice")
    sub = int(r.json()["subaccountId"])
    r = call(server, "POST", "/sapi/v1/broker/subAccountApi", bkey, bsecret, f"subAccountId={sub}&canTrade=true")
    creds = r.json()
    assert creds["canTrade"] is True and len(creds["secretKey"]) >= 32
    assert (
        call(
            server,
            "POST",
            "/sapi/v1/broker/subAccountApi/commission",
            bkey,
            bsecret,
            f"subAccountId={sub}&makerCommission=0.0005&takerCommission=0.0005",
        ).status_code
        == 200
    )
    server.call(server.wallets.ledger.credit(sub, "USDT", D("1000"), "deposit"))
    ex = ccxt_client(ccxt, server, creds["apiKey"], creds["secretKey"])
    ex.load_markets()
    o = ex.create_order("BTC/USDT", "market", "buy", 1)
    assert o["filled"] == 1 and o["fee"]["cost"] == pytest.approx(0.0015)  # Braid 0.1% + broker 0.05%
    broker_btc = server.wallets.ledger.balance(server.tenant.broker_account_id, "BTC").free
    assert broker_btc == D("0.0005")
    # a sub-account key cannot use the broker endpoints; a deleted key stops working
    r = call(server, "POST", "/sapi/v1/broker/subAccount", creds["apiKey"], creds["secretKey"], "tag=mallory")
    assert r.status_code == 401 and r.json()["code"] == -1002
    assert (
        call(
            server,
            "DELETE",
            "/sapi/v1/broker/subAccountApi",
            bkey,
            bsecret,
            f"subAccountId={sub}&subAccountApiKey={creds['apiKey']}",
        ).status_code
        == 200
    )
    # ccxt turns -2015 into DDoSProtection once the key has made a successful private call (client-compat §3)
    with pytest.raises((ccxt.AuthenticationError, ccxt.DDoSProtection), match="-2015"):
        ex.fetch_balance()


def test_order_details(server):
    acct, key, secret = server.account("details")
    # LIMIT_MAKER that would take is refused with Binance's text
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.1&price=100.00",
    )
    assert r.json() == {"code": -2010, "msg": "Order would immediately match and take."}
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.1&price=99.00",
    )
    assert "orderId" in r.json() and "status" not in r.json(), r.json()  # ACK by default for LIMIT_MAKER
    # quoteOrderQty market buy spends at most the quote amount
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=300&newOrderRespType=RESULT",
    )
    body = r.json()
    assert body["status"] == "FILLED" and D(body["cummulativeQuoteQty"]) <= 300 and "fills" not in body
    # ACK
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price=120&newOrderRespType=ACK&newClientOrderId=mine-1",
    )
    assert set(r.json()) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    # duplicate client order id among open orders
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.1&price=121&newClientOrderId=mine-1",
    )
    assert r.json() == {"code": -2010, "msg": "Duplicate order sent."}
    # query and cancel by client order id
    r = call(server, "GET", "/api/v3/order", key, secret, "symbol=BTCUSDT&origClientOrderId=mine-1")
    assert r.json()["price"] == "120.00000000"
    r = call(server, "DELETE", "/api/v3/order", key, secret, "symbol=BTCUSDT&origClientOrderId=mine-1")
    assert r.json()["status"] == "CANCELED" and r.json()["origClientOrderId"] == "mine-1"
    # IOC that cannot fill expires; missing params and bad enums
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.1&price=90",
    )
    assert r.json()["status"] == "EXPIRED"
    r = call(server, "POST", "/api/v3/order", key, secret, "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=90")
    assert r.json()["code"] == -1102 and "timeInForce" in r.json()["msg"]
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=UP&type=LIMIT&timeInForce=GTC&quantity=0.1&price=90",
    )
    assert r.json()["code"] == -1117
    r = call(server, "POST", "/api/v3/order/test", key, secret, "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1")
    assert r.json() == {}
    # the collar: a buy far above the market
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=150",
    )
    assert r.json() == {"code": -1013, "msg": "Filter failure: PERCENT_PRICE_BY_SIDE"}
    # the kill switch
    server.call(server.ctx.service.router.killswitch.halt(Scope.symbol("BTC/USDT"), "test", "operator"))
    r = call(
        server,
        "POST",
        "/api/v3/order",
        key,
        secret,
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=99",
    )
    assert r.json()["code"] == -2010 and "halted" in r.json()["msg"]
    free, locked = server.balance(acct, "USDT")
    assert locked == D("0.1") * D("99")  # only the LIMIT_MAKER still rests
