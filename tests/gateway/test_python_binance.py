"""python-binance ``Client`` and ``AsyncClient`` against a running Braid over HTTP (API_URL set on a subclass
before construction, as client-compat.md §2 says)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from binance import AsyncClient, Client
from binance.exceptions import BinanceAPIException


def sync_client(server, key: str, secret: str) -> Client:
    class Braid(Client):
        API_URL = f"{server.url}/api"

    return Braid(key, secret)


def test_client_full_flow(server):
    acct, key, secret = server.account("pb-alice")
    c = sync_client(server, key, secret)  # construction pings /api/v3/ping
    assert c.get_server_time()["serverTime"] > 0
    info = c.get_symbol_info("BTCUSDT")
    kinds = {f["filterType"]: f for f in info["filters"]}
    assert kinds["PRICE_FILTER"]["tickSize"] == "0.01000000" and kinds["LOT_SIZE"]["stepSize"] == "0.00100000"
    assert {"NOTIONAL", "MIN_NOTIONAL", "MARKET_LOT_SIZE"} <= set(kinds)
    book = c.get_order_book(symbol="BTCUSDT", limit=5)
    assert book["bids"][0] == ["99.50000000", "2.00000000"] and book["lastUpdateId"] > 0

    rest = c.order_limit_buy(symbol="BTCUSDT", quantity="0.5", price="99.10")
    assert rest["status"] == "NEW" and rest["fills"] == []
    got = c.get_order(symbol="BTCUSDT", orderId=rest["orderId"])
    assert got["status"] == "NEW" and got["origQty"] == "0.50000000"
    assert [o["orderId"] for o in c.get_open_orders(symbol="BTCUSDT")] == [rest["orderId"]]

    mkt = c.order_market_buy(symbol="BTCUSDT", quantity="1")
    assert mkt["status"] == "FILLED" and mkt["executedQty"] == "1.00000000"
    assert mkt["fills"][0]["price"] == "100.00000000" and mkt["fills"][0]["commissionAsset"] == "BTC"

    quote = c.order_market_buy(symbol="BTCUSDT", quoteOrderQty="200")
    assert quote["status"] == "FILLED" and D(quote["cummulativeQuoteQty"]) <= 200

    canceled = c.cancel_order(symbol="BTCUSDT", orderId=rest["orderId"])  # DELETE with a form body
    assert canceled["status"] == "CANCELED"
    assert c.get_open_orders(symbol="BTCUSDT") == []
    assert c.get_asset_balance("USDT")["locked"] == "0.00000000"
    trades = c.get_my_trades(symbol="BTCUSDT")
    assert {t["orderId"] for t in trades} == {mkt["orderId"], quote["orderId"]}
    assert c.get_account()["canTrade"] is True

    with pytest.raises(BinanceAPIException) as e:
        c.order_limit_buy(symbol="BTCUSDT", quantity="0.5", price="99.001")
    assert (e.value.code, e.value.message) == (-1013, "Filter failure: PRICE_FILTER")
    with pytest.raises(BinanceAPIException) as e:
        c.get_order(symbol="BTCUSDT", orderId=999999)
    assert e.value.code == -2013
    with pytest.raises(BinanceAPIException) as e:
        c.order_limit_buy(symbol="BTCUSDT", quantity="5000", price="99")
    assert e.value.code == -1013 and "LOT_SIZE" in e.value.message
    with pytest.raises(BinanceAPIException) as e:
        c.order_limit_buy(symbol="NOPE", quantity="1", price="99")
    assert e.value.code == -1121
    assert (
        c.create_test_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="99")
        == {}
    )


def test_client_insufficient_and_permissions(server):
    acct, key, secret = server.account("pb-bob", {"USDT": "10"})
    c = sync_client(server, key, secret)
    with pytest.raises(BinanceAPIException) as e:
        c.order_limit_buy(symbol="BTCUSDT", quantity="1", price="99")
    assert (e.value.code, e.value.message) == (-2010, "Account has insufficient balance for requested action.")
    assert server.balance(acct, "USDT") == (D("10"), D("0"))

    _, ro_key, ro_secret = server.account("pb-readonly", trade=False)
    ro = sync_client(server, ro_key, ro_secret)
    assert ro.get_account()["balances"]
    with pytest.raises(BinanceAPIException) as e:
        ro.order_limit_buy(symbol="BTCUSDT", quantity="0.1", price="99")
    assert e.value.code == -2015 and e.value.status_code == 401

    _, ip_key, ip_secret = server.account("pb-elsewhere", ips=("10.1.2.3",))
    with pytest.raises(BinanceAPIException) as e:
        sync_client(server, ip_key, ip_secret).get_account()
    assert e.value.code == -2015


async def test_async_client_full_flow(server):
    acct, key, secret = server.account("pb-carol")

    class Braid(AsyncClient):
        API_URL = f"{server.url}/api"

    c = await Braid.create(key, secret)  # ping and time
    try:
        book = await c.get_order_book(symbol="BTCUSDT")
        assert book["asks"][0] == ["100.00000000", "5.00000000"]
        o = await c.order_limit_sell(symbol="BTCUSDT", quantity="0.3", price="104")
        assert o["status"] == "NEW"
        assert (await c.get_order(symbol="BTCUSDT", orderId=o["orderId"]))["status"] == "NEW"
        m = await c.order_market_sell(symbol="BTCUSDT", quantity="0.2")
        assert m["status"] == "FILLED" and m["fills"][0]["price"] == "99.50000000"
        assert len(await c.get_open_orders(symbol="BTCUSDT")) == 1
        assert (await c.cancel_order(symbol="BTCUSDT", orderId=o["orderId"]))["status"] == "CANCELED"
        bal = await c.get_asset_balance("BTC")
        assert D(bal["free"]) == D("9.8") and D(bal["locked"]) == 0
        assert len(await c.get_my_trades(symbol="BTCUSDT")) == 1
        with pytest.raises(BinanceAPIException) as e:
            await c.cancel_order(symbol="BTCUSDT", orderId=o["orderId"])
        assert e.value.code == -2011
    finally:
        await c.close_connection()
