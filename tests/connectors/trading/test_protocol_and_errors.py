"""The shared order-entry protocol pieces: client order ids, error mapping tables, adapter conformance."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest

from connectors.binance import trading as binance
from connectors.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderStateUnknown,
    RateLimited,
    Rejected,
    VenueUnavailable,
)
from connectors.htx import trading as htx
from connectors.kraken import trading as kraken
from connectors.trading import ChildOrder, TradingVenue, VenueOrder, client_order_id_for
from domain import OrderStatus

from .conftest import instrument

D = Decimal
BINANCE_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def test_client_order_id_is_deterministic_and_fits_every_venue() -> None:
    a = client_order_id_for("parent-42", 3, "kraken")
    assert a == client_order_id_for("parent-42", 3, "kraken")
    assert (
        len(
            {
                a,
                client_order_id_for("parent-42", 4, "kraken"),
                client_order_id_for("parent-42", 3, "htx"),
                client_order_id_for("parent-4", 23, "kraken"),
            }
        )
        == 4
    )
    for venue in ("binance", "kraken", "htx"):
        cid = client_order_id_for("x" * 200, 99, venue)
        assert BINANCE_ID.match(cid)  # Binance newClientOrderId
        assert str(uuid.UUID(cid)) == cid  # Kraken cl_ord_id: a UUID
        assert len(cid) <= 64  # HTX client-order-id
    with pytest.raises(ValueError):
        client_order_id_for("p", -1, "htx")


def test_child_order_validates() -> None:
    with pytest.raises(ValueError):
        ChildOrder("binance", "BTC/USDT", "buy", D(1), D(1), "IOC", "c")
    with pytest.raises(ValueError):
        ChildOrder("binance", "BTC/USDT", "BUY", D(1), D(1), "GTD", "c")
    with pytest.raises(TypeError):
        ChildOrder("binance", "BTC/USDT", "BUY", 1.0, D(1), "IOC", "c")  # type: ignore[arg-type]


def test_venue_order_remaining_and_average() -> None:
    o = VenueOrder(
        "htx",
        "BTC/USDT",
        "c",
        "1",
        "BUY",
        D("10"),
        D("3"),
        OrderStatus.PARTIALLY_FILLED,
        D("2"),
        D("19"),
        D("0"),
        "BTC",
    )
    assert o.remaining == D("1") and o.avg_price == D("9.5")
    assert OrderStatus.PARTIALLY_FILLED.is_open and OrderStatus.EXPIRED.is_final


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (503, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, OrderStateUnknown),
        (502, None, OrderStateUnknown),
        (429, {"code": -1003, "msg": "Too many requests"}, RateLimited),
        (418, {"code": -1003, "msg": "banned"}, RateLimited),
        (400, {"code": -1022, "msg": "Signature for this request is not valid."}, AuthenticationFailed),
        (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, AuthenticationFailed),
        (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}, AuthenticationFailed),
        (400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}, InsufficientFunds),
        (400, {"code": -2010, "msg": "Duplicate order sent."}, InvalidOrder),
        (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}, InvalidOrder),
        (400, {"code": -2013, "msg": "Order does not exist."}, OrderNotFound),
        (400, {"code": -2011, "msg": "Unknown order sent."}, OrderNotFound),
        (400, {"code": -9999, "msg": "something new"}, Rejected),
    ],
)
def test_binance_error_table(status: int, body: object, kind: type) -> None:
    err = binance.venue_error(status, {"Retry-After": "30"}, body)
    assert type(err) is kind
    if isinstance(err, RateLimited):
        assert err.retry_after_s == 30.0
    assert binance.venue_error(200, {}, {"symbol": "BTCUSDT"}) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("EAPI:Invalid key", AuthenticationFailed),
        ("EAPI:Invalid signature", AuthenticationFailed),
        ("EAPI:Invalid nonce", AuthenticationFailed),
        ("EAPI:Rate limit exceeded", RateLimited),
        ("EOrder:Rate limit exceeded", RateLimited),
        ("EService:Unavailable", OrderStateUnknown),
        ("EService:Deadline elapsed", OrderStateUnknown),
        ("EOrder:Insufficient funds", InsufficientFunds),
        ("EOrder:Unknown order", OrderNotFound),
        ("EOrder:Order minimum not met", InvalidOrder),
        ("EGeneral:Invalid arguments:volume", InvalidOrder),
        ("EFunding:Something", Rejected),
    ],
)
def test_kraken_error_table(text: str, kind: type) -> None:
    assert type(kraken.venue_error(200, {}, {"error": [text]})) is kind
    assert kraken.venue_error(200, {}, {"error": [], "result": {}}) is None
    assert type(kraken.venue_error(520, {}, None)) is OrderStateUnknown


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("api-signature-not-valid", AuthenticationFailed),
        ("gateway-internal-error", OrderStateUnknown),
        ("base-request-exceed-frequency-limit", RateLimited),
        ("account-frozen-balance-insufficient-error", InsufficientFunds),
        ("base-record-invalid", OrderNotFound),
        ("order-orderprice-precision-error", InvalidOrder),
        ("base-symbol-error", InvalidOrder),
        ("system-maintenance", VenueUnavailable),
        ("something-else", Rejected),
    ],
)
def test_htx_error_table(code: str, kind: type) -> None:
    body = {"status": "error", "err-code": code, "err-msg": "m", "data": None}
    assert type(htx.venue_error(200, {}, body)) is kind
    assert htx.venue_error(200, {}, {"status": "ok", "data": "1"}) is None


def test_kraken_assets_and_pairs() -> None:
    assert kraken.canonical_asset("XXBT") == "BTC" and kraken.canonical_asset("ZUSD") == "USD"
    assert kraken.canonical_asset("USDT") == "USDT" and kraken.canonical_asset("ZEUS") == "ZEUS"
    assert kraken.altname(instrument("kraken", "XBT/USDT", "0.1", "0.00000001")) == "XBTUSDT"


@pytest.mark.parametrize(
    ("cls", "venue", "secret"),
    [
        (binance.BinanceTrading, "binance", "s"),
        (kraken.KrakenTrading, "kraken", "c2VjcmV0"),
        (htx.HtxTrading, "htx", "s"),
    ],
)
async def test_adapters_meet_the_protocol_and_never_point_at_the_venue(cls: type, venue: str, secret: str) -> None:
    adapter: TradingVenue = cls("k", secret, [instrument(venue, "X", "1", "1")], base_url="http://127.0.0.1:9")
    try:
        assert adapter.venue == venue
        for name in ("place", "query", "cancel", "open_orders", "balances", "close"):
            assert callable(getattr(adapter, name))
        urls = adapter._ex.urls  # type: ignore[attr-defined]
        everywhere = str(urls["api"]) + str(urls.get("hostnames", "")) + str(getattr(adapter._ex, "hostname", ""))  # type: ignore[attr-defined]
        for host in ("binance.com", "kraken.com", "huobi.pro", "hbdm", "htx.com"):
            assert host not in everywhere
    finally:
        await adapter.close()


def test_book_liquidity_reads_and_optionally_consumes_a_truth_book() -> None:
    from connectors.simulators.market import SimBook
    from connectors.simulators.order_entry.matching import BookLiquidity

    truth = SimBook(bids={D("99"): D("1")}, asks={D("100"): D("1"), D("101"): D("2")})
    peek = BookLiquidity({"BTCUSDT": truth})
    assert peek.take("BTCUSDT", "BUY", D("2"), D("101")) == [(D("100"), D("1")), (D("101"), D("1"))]
    assert truth.asks == {D("100"): D("1"), D("101"): D("2")}
    assert peek.take("BTCUSDT", "BUY", D("5"), D("101"), all_or_none=True) == []
    eat = BookLiquidity({"BTCUSDT": truth}, consume=True)
    assert eat.take("BTCUSDT", "SELL", D("0.4"), D("98")) == [(D("99"), D("0.4"))]
    assert eat.take("BTCUSDT", "BUY", D("1.5"), D("101")) == [(D("100"), D("1")), (D("101"), D("0.5"))]
    assert truth.bids == {D("99"): D("0.6")} and truth.asks == {D("101"): D("1.5")}
    assert eat.take("ETHUSDT", "BUY", D("1"), D("1")) == []
