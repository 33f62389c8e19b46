"""A venue's order entry timing out or answering garbage in the middle of a route.

The router sends signed children through the real Binance and Kraken adapters to the fake venue servers, which
accept the order and then lose the answer (held past the client's timeout) or cut it off mid-JSON, and can
break the follow-up queries too. A child whose outcome is unknown is reconciled by querying the venue; it is
never sent a second time (neither to the same venue nor re-routed elsewhere), and the parent's fills are
exactly the venues' fills. A child that stays unknown is reported in doubt and its quantity is sent nowhere.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from config.instruments import Instrument
from config.settings import Settings
from connectors.binance.trading import BinanceTrading
from connectors.book import VenueBook
from connectors.kraken.trading import KrakenTrading
from connectors.simulators.order_entry import FakeBinance, FakeKraken, MatchingEngine, SimMarket, StaticBook
from connectors.simulators.order_entry.matching import fee_in_quote
from router import ConsolidatedMarket, ParentOrder, SmartOrderRouter

SYMBOL = "BTC/USDT"
BN_KEY, BN_SECRET = "b" * 64, "s" * 64
KR_KEY, KR_SECRET = (
    "kraken-key",
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
)
BN = Instrument(SYMBOL, "BTC", "USDT", "binance", "BTCUSDT", D("0.01"), D("0.00001"), min_notional=D("5"))
KR = Instrument(SYMBOL, "BTC", "USDT", "kraken", "XBT/USDT", D("0.1"), D("0.00000001"))
BN_ASKS = [(D("30000"), D("0.5")), (D("30010"), D("1"))]
KR_ASKS = [(D("30000.5"), D("0.3")), (D("30020"), D("2"))]
BN_ORDER, KR_ORDER = "/api/v3/order", "/0/private/AddOrder"
KR_QUERIES = ("/0/private/OpenOrders", "/0/private/ClosedOrders")


def mirrored(venue: str, asks: list[tuple[D, D]]) -> VenueBook:
    book = VenueBook(venue, SYMBOL, "X")
    book.levels.load([], [[str(p), str(q)] for p, q in asks])
    book.synced, book.last_update_ns = True, 1
    return book


@pytest.fixture
async def rig():
    bn_engine = MatchingEngine(
        [SimMarket("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), min_notional=D("5"))],
        StaticBook(asks={"BTCUSDT": list(BN_ASKS)}),
        {"USDT": D("1000000")},
    )
    kr_engine = MatchingEngine(
        [SimMarket("XBTUSDT", "XXBT", "USDT", D("0.1"), D("0.00000001"))],
        StaticBook(asks={"XBTUSDT": list(KR_ASKS)}),
        {"USDT": D("1000000")},
        taker_fee=D("0.0026"),
        fee_asset=fee_in_quote,
    )
    async with FakeBinance(bn_engine, {BN_KEY: BN_SECRET}) as bn, FakeKraken(kr_engine, {KR_KEY: KR_SECRET}) as kr:
        venues = {
            "binance": BinanceTrading(BN_KEY, BN_SECRET, [BN], base_url=bn.url, timeout_s=0.3, rate_limit_ms=1),
            "kraken": KrakenTrading(KR_KEY, KR_SECRET, [KR], base_url=kr.url, timeout_s=0.3, rate_limit_ms=1),
        }
        market = ConsolidatedMarket()
        market.book(SYMBOL).attach(mirrored("binance", BN_ASKS), fee=D("0.001"), priority=0)
        market.book(SYMBOL).attach(mirrored("kraken", KR_ASKS), fee=D("0.0026"), priority=1)
        router = SmartOrderRouter(
            market, venues, {("binance", SYMBOL): BN, ("kraken", SYMBOL): KR}, settings=Settings()
        )
        yield router, bn, kr
        for v in venues.values():
            await v.close()


def placements(venue: FakeBinance | FakeKraken, path: str) -> int:
    return sum(1 for m, p in venue.requests if m == "POST" and p == path)


def venue_fills(venue: FakeBinance | FakeKraken) -> dict[str, D]:
    """Filled quantity per client order id, as the venue's own engine has it."""
    return {o.client_id: o.filled for o in venue.engine.orders.values() if o.filled}


def parent_fills(report) -> dict[str, D]:  # type: ignore[no-untyped-def]
    out: dict[str, D] = {}
    for f in report.fills:
        out[f.ref] = out.get(f.ref, D(0)) + f.qty
    return out


@pytest.mark.parametrize(
    ("bn_fault", "kr_fault"), [("timeout", "garbage"), ("garbage", "http_5xx"), ("venue_unknown", "timeout")]
)
async def test_children_lost_mid_route_are_reconciled_never_resent(rig, bn_fault, kr_fault):
    router, bn, kr = rig
    bn.fail_next_order(bn_fault, delay_s=0.6)
    kr.fail_next_order(kr_fault, delay_s=0.6)
    # 0.8 BTC: binance's 0.5 @ 30000 and kraken's 0.3 @ 30000.5 in the first round, both answers lost
    report = await router.execute(ParentOrder("p-1", SYMBOL, "BUY", D("0.8"), "LIMIT", D("30001"), "IOC"))
    assert report.in_doubt_qty == 0
    assert placements(bn, BN_ORDER) == 1 and placements(kr, KR_ORDER) == 1  # each child sent once, never again
    fills = parent_fills(report)
    assert fills == {**venue_fills(bn), **venue_fills(kr)}  # the parent's state is the venues' state
    assert sum(fills.values()) == report.filled == D("0.8") and report.status == "FILLED"


async def test_reconciliation_survives_broken_queries(rig):
    router, bn, kr = rig
    bn.fail_next_order("garbage")
    bn.fail_next_request(BN_ORDER, "garbage")  # the first query is cut off too
    bn.fail_next_request(BN_ORDER, "http_5xx")  # the second one fails
    report = await router.execute(ParentOrder("p-2", SYMBOL, "BUY", D("0.5"), "LIMIT", D("30000"), "IOC"))
    assert report.in_doubt_qty == 0 and report.filled == D("0.5")
    assert placements(bn, BN_ORDER) == 1 and placements(kr, KR_ORDER) == 0
    assert parent_fills(report) == venue_fills(bn)


async def test_a_child_that_stays_unknown_is_in_doubt_and_its_quantity_goes_nowhere(rig):
    router, bn, kr = rig
    bn.fail_next_order("timeout", delay_s=0.6)
    for _ in range(10):  # every reconciliation query fails
        bn.fail_next_request(BN_ORDER, "http_5xx")
    report = await router.execute(ParentOrder("p-3", SYMBOL, "BUY", D("0.5"), "LIMIT", D("30001"), "IOC"))
    assert report.in_doubt_qty == D("0.5")
    assert report.filled == 0 and report.status != "FILLED"
    # kraken could have filled 0.3 of it at 30000.5, but the quantity might already be bought on binance
    assert placements(bn, BN_ORDER) == 1 and placements(kr, KR_ORDER) == 0
    assert venue_fills(bn) == {next(iter(venue_fills(bn))): D("0.5")}  # it did fill there: hence never re-sent
