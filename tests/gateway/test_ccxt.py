"""ccxt ``binance`` (sync and async) against a running Braid over HTTP: every unified call a broker's
client makes, and the error cases arriving as the right ccxt exceptions."""

from __future__ import annotations

from decimal import Decimal as D

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from tests.gateway.conftest import ccxt_client


def test_ccxt_sync_full_flow(server):
    full_flow(server)


def test_ccxt_sync_full_flow_postgresql(pg_server):
    full_flow(pg_server)


def full_flow(server) -> None:
    acct, key, secret = server.account("alice")
    ex = ccxt_client(ccxt, server, key, secret)
    markets = ex.load_markets()
    m = markets["BTC/USDT"]
    assert m["spot"] and m["active"] and m["precision"]["price"] == 0.01 and m["precision"]["amount"] == 0.001
    assert m["limits"]["cost"]["min"] == 1.0

    ob = ex.fetch_order_book("BTC/USDT", 5)
    assert ob["bids"][0] == [99.5, 2.0] and ob["asks"][0] == [100.0, 5.0] and ob["nonce"] > 0

    t = ex.fetch_ticker("BTC/USDT")
    assert t["bid"] == 99.5 and t["ask"] == 100.0

    # a limit buy below the market rests; its quote is locked
    resting = ex.create_order("BTC/USDT", "limit", "buy", 0.5, 99.1)
    assert resting["status"] == "open" and resting["filled"] == 0
    assert server.balance(acct, "USDT") == (D("100000") - D("49.55"), D("49.55"))
    assert ex.fetch_order(resting["id"], "BTC/USDT")["status"] == "open"
    assert [o["id"] for o in ex.fetch_open_orders("BTC/USDT")] == [resting["id"]]
    assert [o["id"] for o in ex.fetch_open_orders()] == [resting["id"]]

    # a crossing limit buy fills at the venues' asks (binance 100.00 first)
    taker = ex.create_order("BTC/USDT", "limit", "buy", 1, 100.1)
    assert taker["status"] == "closed" and taker["filled"] == 1.0 and taker["average"] == 100.0
    assert taker["trades"] and taker["fee"]["currency"] == "BTC"

    # a market sell fills against the bids (kraken 99.50 first)
    sold = ex.create_order("BTC/USDT", "market", "sell", 0.5)
    assert sold["status"] == "closed" and sold["filled"] == 0.5 and sold["average"] == 99.5

    canceled = ex.cancel_order(resting["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert ex.fetch_open_orders("BTC/USDT") == []
    assert ex.fetch_order(resting["id"], "BTC/USDT")["status"] == "canceled"

    bal = ex.fetch_balance()
    assert bal["BTC"]["total"] == pytest.approx(10 + 1 - 0.001 - 0.5)
    assert bal["USDT"]["used"] == 0
    assert bal["USDT"]["total"] == pytest.approx(100000 - 100 + 0.5 * 99.5 * 0.999)

    trades = ex.fetch_my_trades("BTC/USDT")
    assert [(t["side"], t["amount"], t["price"]) for t in trades] == [("buy", 1.0, 100.0), ("sell", 0.5, 99.5)]
    assert all(t["order"] in (taker["id"], sold["id"]) for t in trades)


def test_ccxt_sync_errors(server):
    acct, key, secret = server.account("bob", {"USDT": "50"})
    ex = ccxt_client(ccxt, server, key, secret)
    ex.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USDT", "limit", "buy", 1, 99)
    assert server.balance(acct, "USDT") == (D("50"), D("0"))
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # above maxQty (ccxt itself rounds to the tick and step)
        ex.create_order("BTC/USDT", "limit", "buy", 2000, 1)
    # below the notional minimum: Binance's own text, which ccxt maps (by code -1013) to BadRequest
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.001, 99)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("424242", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order("424242", "BTC/USDT")
    assert server.balance(acct, "USDT") == (D("50"), D("0"))

    bad = ccxt_client(ccxt, server, key, "0" * 64)
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()
    unknown = ccxt_client(ccxt, server, "nobody" * 8, secret)
    with pytest.raises(ccxt.AuthenticationError):
        unknown.fetch_balance()


def test_ccxt_rate_limits(tmp_path):
    from config.settings import Settings
    from tests.gateway.conftest import Server

    s = Server(str(tmp_path), Settings(api_orders_limit_10s=2, api_weight_limit_1m=200, api_ban_after=2)).start()
    try:
        acct, key, secret = s.account("carol")
        ex = ccxt_client(ccxt, s, key, secret)
        ex.load_markets()
        for _ in range(2):
            ex.create_order("BTC/USDT", "limit", "buy", 0.02, 90)
        # Binance answers an order-count breach with 429 / -1015; ccxt checks the HTTP status first
        with pytest.raises(ccxt.DDoSProtection) as info:
            ex.create_order("BTC/USDT", "limit", "buy", 0.02, 90)
        assert "-1015" in str(info.value)
        assert len(ex.fetch_open_orders("BTC/USDT")) == 2  # the refused one changed nothing
        # request weight: 429 with Retry-After, then 418 for a client that keeps going
        statuses = []
        for _ in range(120):  # fixed one-minute windows: enough calls to cross the limit even across a boundary
            try:
                ex.fetch_order_book("BTC/USDT", 100)
            except ccxt.DDoSProtection as exc:
                statuses.append("418" if " 418 " in str(exc) else "429" if " 429 " in str(exc) else str(exc))
                if statuses[-1] == "418":
                    break
        assert statuses[:2] == ["429", "429"] and statuses[-1] == "418", statuses
    finally:
        s.stop()


def test_ccxt_rate_limit_codes_map_to_rate_limit_exceeded():
    """The -1003/-1015 codes map to RateLimitExceeded (a DDoSProtection): what ccxt raises when no HTTP-status
    rule fires first (e.g. a proxy turning 429 into 400)."""
    ex = ccxt.binance()
    for code, msg in ((-1003, "Too much request weight used"), (-1015, "Too many new orders")):
        with pytest.raises(ccxt.RateLimitExceeded):
            ex.handle_errors(
                400,
                "",
                "http://127.0.0.1/api/v3/order",
                "POST",
                {},
                f'{{"code":{code},"msg":"{msg}"}}',
                {"code": code, "msg": msg},
                {},
                {},
            )


async def test_ccxt_async_full_flow(server):
    acct, key, secret = server.account("dave")
    ex = ccxt_client(ccxt_async, server, key, secret)
    try:
        await ex.load_markets()
        ob = await ex.fetch_order_book("BTC/USDT")
        assert ob["asks"][0] == [100.0, 5.0]
        assert (await ex.fetch_ticker("BTC/USDT"))["ask"] == 100.0
        limit = await ex.create_order("BTC/USDT", "limit", "sell", 0.2, 105)
        assert limit["status"] == "open"
        market = await ex.create_order("BTC/USDT", "market", "buy", 0.3)
        assert market["status"] == "closed" and market["filled"] == 0.3
        assert (await ex.fetch_order(limit["id"], "BTC/USDT"))["status"] == "open"
        assert len(await ex.fetch_open_orders("BTC/USDT")) == 1
        assert (await ex.cancel_order(limit["id"], "BTC/USDT"))["status"] == "canceled"
        bal = await ex.fetch_balance()
        assert bal["BTC"]["used"] == 0 and bal["BTC"]["total"] == pytest.approx(10 + 0.3 * 0.999)
        assert len(await ex.fetch_my_trades("BTC/USDT")) == 1
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order("BTC/USDT", "limit", "sell", 100, 105)
        with pytest.raises(ccxt.OrderNotFound):
            await ex.cancel_order(limit["id"], "BTC/USDT")
    finally:
        await ex.close()


def test_internal_match_between_clients(server):
    """Two clients' orders meet in the internal book: the maker's fill is booked too (no venue involved)."""
    a, ka, sa = server.account("maker")
    b, kb, sb = server.account("taker")
    maker = ccxt_client(ccxt, server, ka, sa)
    taker = ccxt_client(ccxt, server, kb, sb)
    maker.load_markets()
    taker.load_markets()
    rest = maker.create_order("BTC/USDT", "limit", "sell", 0.4, 99.9)  # inside the venues' spread
    assert rest["status"] == "open"
    assert taker.fetch_order_book("BTC/USDT")["asks"][0] == [99.9, 0.4]  # Braid's own liquidity is in the depth
    hit = taker.create_order("BTC/USDT", "limit", "buy", 0.4, 99.9)
    assert hit["status"] == "closed" and hit["average"] == 99.9
    assert maker.fetch_order(rest["id"], "BTC/USDT")["status"] == "closed"
    assert taker.fetch_order_book("BTC/USDT")["asks"][0] == [100.0, 5.0]
    mt = maker.fetch_my_trades("BTC/USDT")
    assert len(mt) == 1 and mt[0]["takerOrMaker"] == "maker" and mt[0]["side"] == "sell"
    assert server.balance(a, "BTC") == (D("9.6"), D("0"))
